// Python bindings of moments and column_moments (see metricore/moments.hpp).
#include "bind_args.hpp"
#include "metricore/moments.hpp"

namespace metricore::bind {
namespace {

py::tuple moments_py(int64_t kind, double param, const py::array& y_true,
                     const py::array& y_pred, const py::object& sample_weight, py::array out) {
  const auto a = moments_args("moments", kind, y_true, y_pred, sample_weight, out, -1);
  if (a.N == 0) return result({});
  return run_kernel(a.N * a.D, [&] {
    return visit_moments(a, [&](auto yt, auto yp, const auto& wp) {
      return moments(a.kind, param, yt, yp, wp, a.out);
    });
  });
}

py::tuple column_moments_py(const py::array& y_true, const py::array& y_pred,
                            const py::object& sample_weight, const py::array& shift,
                            py::array out) {
  const auto a =
      column_moments_args("column_moments", y_true, y_pred, sample_weight, shift, out, -1);
  if (a.N == 0) return result({});
  return run_kernel(a.N * a.D, [&] {
    return visit_moments(a, [&](auto yt, auto yp, const auto& wp) {
      return column_moments(yt, yp, wp, a.shift, a.out);
    });
  });
}

}  // namespace

void register_moments(py::module_& m) {
  m.def("moments", &moments_py,
        "moments(kind, param, y_true, y_pred, sample_weight, out) -> (code, row, col)\n\n"
        "out[0] += weighted sum of the per-row term of `kind` (a MomentKind), out[1] += sum of\n"
        "weights; float64, blocked summation, all or nothing.\n"
        "See metricore._backends.protocol.Backend.moments.",
        py::arg("kind"), py::arg("param"), py::arg("y_true").noconvert(),
        py::arg("y_pred").noconvert(), py::arg("sample_weight"), py::arg("out").noconvert());
  m.def("column_moments", &column_moments_py,
        "column_moments(y_true, y_pred, sample_weight, shift, out) -> (code, row, col)\n\n"
        "Per-column sums for R^2 into out (4, D): sum w, sum w (t - shift), sum w (t - shift)^2,\n"
        "sum w (t - p)^2; all or nothing.\n"
        "See metricore._backends.protocol.Backend.column_moments.",
        py::arg("y_true").noconvert(), py::arg("y_pred").noconvert(), py::arg("sample_weight"),
        py::arg("shift").noconvert(), py::arg("out").noconvert());
}

}  // namespace metricore::bind
