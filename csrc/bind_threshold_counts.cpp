// Python binding of threshold_counts (see metricore/threshold_counts.hpp).
#include "bind_common.hpp"
#include "metricore/threshold_counts.hpp"

namespace metricore::bind {
namespace {

py::tuple threshold_counts_py(const py::array& y_true, const py::array& y_pred,
                              const py::object& sample_weight, const py::array& thresholds,
                              int64_t top_k, int64_t class_id, py::array out) {
  const char* fn = "threshold_counts";
  const ArrayRef t = input(fn, "y_true", y_true, Role::Label, 2, 2);
  const ArrayRef p = input(fn, "y_pred", y_pred, Role::Float, 2, 2);
  const int64_t N = t.shape[0], L = t.shape[1];
  require_shape(fn, "y_pred", p, {N, L});
  const auto w = weight_input(fn, sample_weight, 2, 2);
  if (w) require_shape(fn, "sample_weight", *w, {N, L});

  const ArrayRef thr = input(fn, "thresholds", thresholds, Role::Float, 1, 1);
  const int64_t T = thr.shape[0];
  if (thr.dtype != Dtype::Float64)
    fail_type(fn, "thresholds must be float64, got " + dtype_str(thresholds));
  if ((T > 1 && thr.strides[0] != 8) || reinterpret_cast<uintptr_t>(thr.data) % 8 != 0)
    fail(fn, "thresholds must be contiguous and aligned");
  if (top_k < 0) fail(fn, "top_k must be >= 0, got " + std::to_string(top_k));
  if (class_id < -1 || class_id >= L)
    fail(fn, "class_id must be -1 or in [0, " + std::to_string(L) + "), got " +
                 std::to_string(class_id));
  const int64_t M = out.ndim() == 3 ? out.shape(2) : -1;
  if (M != 1 && M != L)
    fail(fn, "out must have shape (4, T, M) with M = 1 or M = L = " + std::to_string(L));
  if (class_id >= 0 && M != 1) fail(fn, "out must have M = 1 when class_id >= 0");
  void* dst = output(fn, out, w ? Dtype::Float64 : Dtype::Int64, {4, T, M});
  const double* thr_ptr = reinterpret_cast<const double*>(thr.data);

  if (N == 0) return result({});
  Error err;
  {
    // Safe without the GIL: raw pointers into arrays the caller keeps alive, no Python objects.
    MaybeReleaseGil gil(N * L);
    err = visit_label(t.dtype, [&](auto lt) {
      using LT = typename decltype(lt)::type;
      return visit_float(p.dtype, [&](auto st) {
        using ST = typename decltype(st)::type;
        return visit_weight(w ? &*w : nullptr, [&](const auto& wp) {
          using Acc = typename std::decay_t<decltype(wp)>::acc_type;
          return threshold_counts(t.mat<LT>(), p.mat<ST>(), wp, thr_ptr, T, top_k, class_id,
                                  static_cast<Acc*>(dst), M);
        });
      });
    });
  }
  return result(err);
}

}  // namespace

void register_threshold_counts(py::module_& m) {
  m.def("threshold_counts", &threshold_counts_py,
        "threshold_counts(y_true, y_pred, sample_weight, thresholds, top_k, class_id, out)"
        " -> (code, row, col)\n\n"
        "Adds TP/FP/TN/FN at each threshold into out (4, T, M), all or nothing.\n"
        "See metricore._backends.protocol.Backend.threshold_counts.",
        py::arg("y_true").noconvert(), py::arg("y_pred").noconvert(), py::arg("sample_weight"),
        py::arg("thresholds").noconvert(), py::arg("top_k"), py::arg("class_id"),
        py::arg("out").noconvert());
}

}  // namespace metricore::bind
