// Python binding of score_histogram (see metricore/score_histogram.hpp).
#include "bind_common.hpp"
#include "metricore/score_histogram.hpp"

namespace metricore::bind {
namespace {

py::tuple score_histogram_py(const py::array& y_true, const py::array& y_pred,
                             const py::object& sample_weight, const py::array& thresholds,
                             int64_t class_id, py::array out, const py::object& score_sums) {
  const char* fn = "score_histogram";
  const ArrayRef p = input(fn, "y_pred", y_pred, Role::Float, 2, 2);
  const int64_t N = p.shape[0], L = p.shape[1];
  const ArrayRef t = input(fn, "y_true", y_true, Role::Label, 1, 2);
  const bool class_ids = t.ndim == 1;
  if (class_ids) {
    require_shape(fn, "y_true", t, {N});
    if (L > INT32_MAX) fail(fn, "too many classes for class-id y_true: " + std::to_string(L));
  } else {
    require_shape(fn, "y_true", t, {N, L});
  }
  const auto w = weight_input(fn, sample_weight, 2, 2);
  if (w) require_shape(fn, "sample_weight", *w, {N, L});

  const ArrayRef thr = input(fn, "thresholds", thresholds, Role::Float, 1, 1);
  const int64_t T = thr.shape[0];
  if (thr.dtype != Dtype::Float64)
    fail_type(fn, "thresholds must be float64, got " + dtype_str(thresholds));
  if ((T > 1 && thr.strides[0] != 8) || reinterpret_cast<uintptr_t>(thr.data) % 8 != 0)
    fail(fn, "thresholds must be contiguous and aligned");
  if (T >= (int64_t(1) << 29)) fail(fn, "too many thresholds: " + std::to_string(T));
  if (class_id < -1 || class_id >= L)
    fail(fn, "class_id must be -1 or in [0, " + std::to_string(L) + "), got " +
                 std::to_string(class_id));
  const int64_t M = out.ndim() == 3 ? out.shape(2) : -1;
  if (M != 1 && M != L)
    fail(fn, "out must have shape (2, T + 1, M) with M = 1 or M = L = " + std::to_string(L));
  if (class_id >= 0 && M != 1) fail(fn, "out must have M = 1 when class_id >= 0");
  void* dst = output(fn, out, w ? Dtype::Float64 : Dtype::Int64, {2, T + 1, M});
  double* sums = nullptr;
  if (!score_sums.is_none()) {
    if (!py::isinstance<py::array>(score_sums))
      fail_type(fn, "score_sums must be a NumPy array or None, got " +
                        py::str(py::type::of(score_sums)).cast<std::string>());
    auto s = py::reinterpret_borrow<py::array>(score_sums);
    sums = static_cast<double*>(output(fn, s, Dtype::Float64, {T + 1, M}, "score_sums"));
  }
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
          return score_histogram(t.mat<LT>(), class_ids, p.mat<ST>(), wp, thr_ptr, T, class_id,
                                 static_cast<Acc*>(dst), M, sums);
        });
      });
    });
  }
  return result(err);
}

}  // namespace

void register_score_histogram(py::module_& m) {
  m.def("score_histogram", &score_histogram_py,
        "score_histogram(y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums)"
        " -> (code, row, col)\n\n"
        "Adds per-bucket negative/positive weights into out (2, T + 1, M) and weight * score\n"
        "sums into score_sums (T + 1, M) or None, all or nothing.\n"
        "See metricore._backends.protocol.Backend.score_histogram.",
        py::arg("y_true").noconvert(), py::arg("y_pred").noconvert(), py::arg("sample_weight"),
        py::arg("thresholds").noconvert(), py::arg("class_id"), py::arg("out").noconvert(),
        py::arg("score_sums"));
  // Testing hooks: the vector stages run at the widest ISA level the CPU has (0 baseline,
  // 1 AVX2, 2 AVX-512); tests lower it to cover every level.
  m.def("_score_histogram_max_isa", &score_detail::max_isa_level);
  m.def("_set_score_histogram_isa", &score_detail::set_isa_level, py::arg("level"),
        "Sets the ISA level of score_histogram's stages (clamped); returns the previous one.");
}

}  // namespace metricore::bind
