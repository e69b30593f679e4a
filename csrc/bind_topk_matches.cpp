// Python binding of topk_matches (see metricore/topk_matches.hpp).
#include "bind_common.hpp"
#include "metricore/topk_matches.hpp"

namespace metricore::bind {
namespace {

py::tuple topk_matches_py(const py::array& y_true, const py::array& y_pred,
                          const py::object& sample_weight, int64_t k, py::array out) {
  const char* fn = "topk_matches";
  const ArrayRef p = input(fn, "y_pred", y_pred, Role::Float, 2, 2);
  const int64_t N = p.shape[0], C = p.shape[1];
  if (C > INT32_MAX) fail(fn, "y_pred must have at most 2^31 - 1 columns");
  const ArrayRef t = input(fn, "y_true", y_true, Role::Label, 1, 2);
  const bool rows = t.ndim == 2;
  if (rows) {
    require_shape(fn, "y_true", t, {N, C});
  } else {
    require_shape(fn, "y_true", t, {N});
  }
  const auto w = weight_input(fn, sample_weight, 1, 1);
  if (w) require_shape(fn, "sample_weight", *w, {N});
  if (k < 0) fail(fn, "k must be >= 0, got " + std::to_string(k));
  void* dst = output(fn, out, w ? Dtype::Float64 : Dtype::Int64, {2});

  if (N == 0) return result({});
  Error err;
  {
    // Safe without the GIL: raw pointers into arrays the caller keeps alive, no Python objects.
    MaybeReleaseGil gil(N * C);
    err = visit_label(t.dtype, [&](auto tt) {
      using TT = typename decltype(tt)::type;
      return visit_float(p.dtype, [&](auto st) {
        using ST = typename decltype(st)::type;
        return visit_weight(w ? &*w : nullptr, [&](const auto& wp) {
          using Acc = typename std::decay_t<decltype(wp)>::acc_type;
          if (rows)
            return topk_matches<true>(t.mat<TT>(), p.mat<ST>(), wp, k, static_cast<Acc*>(dst));
          return topk_matches<false>(t.mat<TT>(), p.mat<ST>(), wp, k, static_cast<Acc*>(dst));
        });
      });
    });
  }
  return result(err);
}

}  // namespace

void register_topk_matches(py::module_& m) {
  m.def("topk_matches", &topk_matches_py,
        "topk_matches(y_true, y_pred, sample_weight, k, out) -> (code, row, col)\n\n"
        "out[0] += sum w * match, out[1] += sum w (match: the true class is the first argmax\n"
        "when k == 0, else among the k largest scores, ties in); all or nothing.\n"
        "See metricore._backends.protocol.Backend.topk_matches.",
        py::arg("y_true").noconvert(), py::arg("y_pred").noconvert(), py::arg("sample_weight"),
        py::arg("k"), py::arg("out").noconvert());
}

}  // namespace metricore::bind
