// Python binding of binary_clf_curve (see metricore/binary_clf_curve.hpp).
#include "bind_common.hpp"
#include "metricore/binary_clf_curve.hpp"

namespace metricore::bind {
namespace {

py::tuple binary_clf_curve_py(const py::array& y_score, const py::array& y_true,
                              const py::object& sample_weight) {
  const char* fn = "binary_clf_curve";
  const ArrayRef s = input(fn, "y_score", y_score, Role::Float, 1, 1);
  const int64_t n = s.shape[0];
  const ArrayRef t = input(fn, "y_true", y_true, Role::Label, 1, 1);
  if (t.dtype != Dtype::UInt8)
    fail_type(fn, "y_true must be uint8 or bool, got " + dtype_str(y_true));
  require_shape(fn, "y_true", t, {n});
  const auto w = weight_input(fn, sample_weight, 1, 1);
  if (w) {
    if (w->dtype != Dtype::Float64)
      fail_type(fn, "sample_weight must be float64 or None, got " +
                        dtype_str(py::reinterpret_borrow<py::array>(sample_weight)));
    require_shape(fn, "sample_weight", *w, {n});
  }
  const Strided1<uint8_t> yv = t.vec<uint8_t>();
  int64_t num_pos;
  {
    MaybeReleaseGil gil(n);
    num_pos = count_binary(yv);
  }
  if (num_pos < 0) {
    const int64_t i = -1 - num_pos;
    fail(fn, "y_true must hold only 0 and 1, got " + std::to_string(int(yv[i])) + " at index " +
                 std::to_string(i));
  }

  py::array_t<double> thr(n);
  py::array tps = w ? py::array(py::array_t<double>(n)) : py::array(py::array_t<int64_t>(n));
  py::array fps = w ? py::array(py::array_t<double>(n)) : py::array(py::array_t<int64_t>(n));
  double* thr_ptr = thr.mutable_data();
  void* tps_ptr = tps.mutable_data();
  void* fps_ptr = fps.mutable_data();
  int64_t k;
  {
    MaybeReleaseGil gil(n);
    const Strided1<double> wv = w ? w->vec<double>() : Strided1<double>{};
    k = visit_float(s.dtype, [&](auto st) -> int64_t {
      using S = typename decltype(st)::type;
      if (w)
        return binary_clf_curve(s.vec<S>(), yv, &wv, num_pos, thr_ptr,
                                static_cast<double*>(tps_ptr), static_cast<double*>(fps_ptr));
      return binary_clf_curve(s.vec<S>(), yv, nullptr, num_pos, thr_ptr,
                              static_cast<int64_t*>(tps_ptr), static_cast<int64_t*>(fps_ptr));
    });
  }
  if (k < n) {
    // Shrink in place (realloc): nothing else references the new arrays.
    const std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(k)};
    thr.resize(shape, false);
    tps.resize(shape, false);
    fps.resize(shape, false);
  }
  return py::make_tuple(thr, tps, fps);
}

}  // namespace

void register_binary_clf_curve(py::module_& m) {
  m.def("binary_clf_curve", &binary_clf_curve_py,
        "binary_clf_curve(y_score, y_true, sample_weight) -> (thresholds, tps, fps)\n\n"
        "The distinct scores in decreasing order and the cumulative positive / negative\n"
        "weight at each (scikit-learn's _binary_clf_curve), from radix sorts.\n"
        "See metricore._backends.protocol.Backend.binary_clf_curve.",
        py::arg("y_score").noconvert(), py::arg("y_true").noconvert(),
        py::arg("sample_weight"));
}

}  // namespace metricore::bind
