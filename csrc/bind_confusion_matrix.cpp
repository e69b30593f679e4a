// Python binding of confusion_matrix (see metricore/confusion_matrix.hpp).
#include <pybind11/stl.h>

#include "bind_common.hpp"
#include "metricore/confusion_matrix.hpp"

namespace metricore::bind {
namespace {

py::tuple confusion_matrix_py(const py::array& y_true, const py::array& y_pred,
                              const py::object& sample_weight,
                              std::optional<int64_t> ignore_label, py::array out) {
  const char* fn = "confusion_matrix";
  const ArrayRef t = input(fn, "y_true", y_true, Role::Label, 1, 1);
  const int64_t N = t.shape[0];
  if (out.ndim() != 2 || out.shape(0) != out.shape(1))
    fail(fn, "out must be a square (C, C) matrix");
  const int64_t C = out.shape(0);
  if (C > INT32_MAX) fail(fn, "out must have at most 2^31 - 1 classes");
  const bool scores = y_pred.ndim() == 2;
  const ArrayRef p = input(fn, "y_pred", y_pred, scores ? Role::Float : Role::Label, 1, 2);
  if (scores) {
    require_shape(fn, "y_pred", p, {N, C});
  } else {
    require_shape(fn, "y_pred", p, {N});
  }
  const auto w = weight_input(fn, sample_weight, 1, 1);
  if (w) require_shape(fn, "sample_weight", *w, {N});
  void* dst = output(fn, out, w ? Dtype::Float64 : Dtype::Int64, {C, C});

  if (N == 0) return result({});
  Error err;
  {
    // Safe without the GIL: raw pointers into arrays the caller keeps alive, no Python objects.
    MaybeReleaseGil gil(scores ? N * C : N);
    err = visit_label(t.dtype, [&](auto tt) {
      using TT = typename decltype(tt)::type;
      auto run = [&](auto pt, auto is_scores) {
        using PT = typename decltype(pt)::type;
        return visit_weight(w ? &*w : nullptr, [&](const auto& wp) {
          using Acc = typename std::decay_t<decltype(wp)>::acc_type;
          return confusion_matrix<decltype(is_scores)::value>(
              t.vec<TT>(), p.mat<PT>(), wp, ignore_label.has_value(), ignore_label.value_or(0),
              static_cast<int32_t>(C), static_cast<Acc*>(dst));
        });
      };
      if (scores) return visit_float(p.dtype, [&](auto pt) { return run(pt, std::true_type{}); });
      return visit_label(p.dtype, [&](auto pt) { return run(pt, std::false_type{}); });
    });
  }
  return result(err);
}

}  // namespace

void register_confusion_matrix(py::module_& m) {
  m.def("confusion_matrix", &confusion_matrix_py,
        "confusion_matrix(y_true, y_pred, sample_weight, ignore_label, out) -> (code, row, col)\n\n"
        "Adds the batch's (C, C) confusion matrix (rows = true class) into out, all or nothing.\n"
        "See metricore._backends.protocol.Backend.confusion_matrix.",
        py::arg("y_true").noconvert(), py::arg("y_pred").noconvert(), py::arg("sample_weight"),
        py::arg("ignore_label"), py::arg("out").noconvert());
}

}  // namespace metricore::bind
