// Python bindings of moments and column_moments (see metricore/moments.hpp).
#include "bind_common.hpp"
#include "metricore/moments.hpp"

namespace metricore::bind {
namespace {

py::tuple moments_py(int64_t kind, double param, const py::array& y_true,
                     const py::array& y_pred, const py::object& sample_weight, py::array out) {
  const char* fn = "moments";
  if (!valid_moment_kind(kind)) fail(fn, "unknown moment kind " + std::to_string(kind));
  const auto mk = static_cast<MomentKind>(kind);
  const ArrayRef p = input(fn, "y_pred", y_pred, Role::Float, 2, 2);
  const int64_t N = p.shape[0], D = p.shape[1];
  if (D == 0) fail(fn, "y_pred must have at least one column");
  const ArrayRef t = input(fn, "y_true", y_true, Role::Label, 2, 2);
  require_shape(fn, "y_true", t, {N, D});
  const auto w = weight_input(fn, sample_weight, 2, 2);
  if (w) {
    require_shape(fn, "sample_weight", *w, {N, -1});
    if (w->shape[1] != 1 && w->shape[1] != D)
      fail(fn, "sample_weight must have shape (N, 1) or (N, D) = " +
                   shape_string(t.shape, t.shape + 2) + ", got " +
                   shape_string(w->shape, w->shape + 2));
    if (mk == MomentKind::COSINE && w->shape[1] != 1)
      fail(fn, "COSINE takes one weight per row: sample_weight must have shape (N, 1)");
  }
  void* dst = output(fn, out, Dtype::Float64, {2});

  if (N == 0) return result({});
  Error err;
  {
    // Safe without the GIL: raw pointers into arrays the caller keeps alive, no Python objects.
    MaybeReleaseGil gil(N * D);
    err = visit_label(t.dtype, [&](auto tt) {
      using TT = typename decltype(tt)::type;
      return visit_float(p.dtype, [&](auto pt) {
        using PT = typename decltype(pt)::type;
        return visit_weight(w ? &*w : nullptr, [&](const auto& wp) {
          return moments(mk, param, t.mat<TT>(), p.mat<PT>(), wp, static_cast<double*>(dst));
        });
      });
    });
  }
  return result(err);
}

py::tuple column_moments_py(const py::array& y_true, const py::array& y_pred,
                            const py::object& sample_weight, const py::array& shift,
                            py::array out) {
  const char* fn = "column_moments";
  const ArrayRef p = input(fn, "y_pred", y_pred, Role::Float, 2, 2);
  const int64_t N = p.shape[0], D = p.shape[1];
  const ArrayRef t = input(fn, "y_true", y_true, Role::Label, 2, 2);
  require_shape(fn, "y_true", t, {N, D});
  const auto w = weight_input(fn, sample_weight, 1, 1);
  if (w) require_shape(fn, "sample_weight", *w, {N});
  const ArrayRef s = input(fn, "shift", shift, Role::Float, 1, 1);
  require_shape(fn, "shift", s, {D});
  if (s.dtype != Dtype::Float64) fail_type(fn, "shift must be float64, got " + dtype_str(shift));
  if ((D > 1 && s.strides[0] != 8) || reinterpret_cast<uintptr_t>(s.data) % 8 != 0)
    fail(fn, "shift must be contiguous and aligned");
  void* dst = output(fn, out, Dtype::Float64, {4, D});

  if (N == 0) return result({});
  Error err;
  {
    // Safe without the GIL: raw pointers into arrays the caller keeps alive, no Python objects.
    MaybeReleaseGil gil(N * D);
    err = visit_label(t.dtype, [&](auto tt) {
      using TT = typename decltype(tt)::type;
      return visit_float(p.dtype, [&](auto pt) {
        using PT = typename decltype(pt)::type;
        return visit_weight(w ? &*w : nullptr, [&](const auto& wp) {
          return column_moments(t.mat<TT>(), p.mat<PT>(), wp,
                                reinterpret_cast<const double*>(s.data),
                                static_cast<double*>(dst));
        });
      });
    });
  }
  return result(err);
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
