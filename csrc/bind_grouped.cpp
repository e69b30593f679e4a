// Python bindings of the grouped twins (see metricore/grouped.hpp): each checks its arguments
// as its ungrouped family does (bind_args.hpp), with the leading group axis of `out`, plus
// `groups`.
#include <pybind11/stl.h>

#include "bind_args.hpp"
#include "metricore/grouped.hpp"

namespace metricore::bind {
namespace {

// G, the size of out's leading axis (the family's check of out follows).
int64_t group_count(const char* fn, const py::array& out) {
  if (out.ndim() < 1) fail(fn, "out must have a leading group axis, got a 0-D array");
  const int64_t G = out.shape(0);
  if (G > INT32_MAX) fail(fn, "out must have at most 2^31 - 1 groups");
  return G;
}

// groups: (N,) int32 or int64, any stride.
GroupIds group_input(const char* fn, const py::array& groups, int64_t N, int64_t G) {
  const auto dt = storage_dtype(groups);
  if (!dt || (*dt != Dtype::Int32 && *dt != Dtype::Int64))
    fail_type(fn, "groups must have a native-order dtype among int32, int64, got " +
                      dtype_str(groups));
  if (groups.ndim() != 1 || groups.shape(0) != N)
    fail(fn, "groups must have shape " + shape_string(&N, &N + 1) + ", got " +
                 shape_string(groups.shape(), groups.shape() + groups.ndim()));
  GroupIds g;
  g.data = static_cast<const char*>(groups.data());
  g.size = N;
  g.stride = groups.strides(0);
  g.wide = *dt == Dtype::Int64;
  g.count = static_cast<int32_t>(G);
  return g;
}

py::tuple score_histogram_grouped_py(const py::array& groups, const py::array& y_true,
                                     const py::array& y_pred, const py::object& sample_weight,
                                     const py::array& thresholds, int64_t class_id,
                                     py::array out, const py::object& score_sums) {
  const char* fn = "score_histogram_grouped";
  const int64_t G = group_count(fn, out);
  const auto a = score_histogram_args(fn, y_true, y_pred, sample_weight, thresholds, class_id,
                                      out, score_sums, G);
  const GroupIds g = group_input(fn, groups, a.N, G);
  if (a.N == 0) return result({});
  return run_kernel(a.N * a.L, [&] {
    return visit_score_histogram(a, [&](auto yt, auto yp, const auto& wp, auto* dst) {
      return score_histogram_grouped(g, yt, a.class_ids, yp, wp, a.thr, a.T, class_id, dst,
                                     a.M, a.sums);
    });
  });
}

py::tuple confusion_matrix_grouped_py(const py::array& groups, const py::array& y_true,
                                      const py::array& y_pred, const py::object& sample_weight,
                                      std::optional<int64_t> ignore_label, py::array out) {
  const char* fn = "confusion_matrix_grouped";
  const int64_t G = group_count(fn, out);
  const auto a = confusion_matrix_args(fn, y_true, y_pred, sample_weight, out, G);
  const GroupIds g = group_input(fn, groups, a.N, G);
  if (a.N == 0) return result({});
  return run_kernel(a.scores ? a.N * a.C : a.N, [&] {
    return visit_confusion_matrix(a, [&](auto scores, auto yt, auto yp, const auto& wp, auto* dst) {
      return confusion_matrix_grouped<decltype(scores)::value>(
          g, yt, yp, wp, ignore_label.has_value(), ignore_label.value_or(0),
          static_cast<int32_t>(a.C), dst);
    });
  });
}

py::tuple topk_matches_grouped_py(const py::array& groups, const py::array& y_true,
                                  const py::array& y_pred, const py::object& sample_weight,
                                  int64_t k, py::array out) {
  const char* fn = "topk_matches_grouped";
  const int64_t G = group_count(fn, out);
  const auto a = topk_matches_args(fn, y_true, y_pred, sample_weight, k, out, G);
  const GroupIds g = group_input(fn, groups, a.N, G);
  if (a.N == 0) return result({});
  return run_kernel(a.N * a.C, [&] {
    return visit_topk_matches(a, [&](auto rows, auto yt, auto yp, const auto& wp, auto* dst) {
      return topk_matches_grouped<decltype(rows)::value>(g, yt, yp, wp, k, dst);
    });
  });
}

py::tuple moments_grouped_py(const py::array& groups, int64_t kind, double param,
                             const py::array& y_true, const py::array& y_pred,
                             const py::object& sample_weight, py::array out) {
  const char* fn = "moments_grouped";
  const int64_t G = group_count(fn, out);
  const auto a = moments_args(fn, kind, y_true, y_pred, sample_weight, out, G);
  const GroupIds g = group_input(fn, groups, a.N, G);
  if (a.N == 0) return result({});
  return run_kernel(a.N * a.D, [&] {
    return visit_moments(a, [&](auto yt, auto yp, const auto& wp) {
      return moments_grouped(g, a.kind, param, yt, yp, wp, a.out);
    });
  });
}

py::tuple column_moments_grouped_py(const py::array& groups, const py::array& y_true,
                                    const py::array& y_pred, const py::object& sample_weight,
                                    const py::array& shift, py::array out) {
  const char* fn = "column_moments_grouped";
  const int64_t G = group_count(fn, out);
  const auto a = column_moments_args(fn, y_true, y_pred, sample_weight, shift, out, G);
  const GroupIds g = group_input(fn, groups, a.N, G);
  if (a.N == 0) return result({});
  return run_kernel(a.N * a.D, [&] {
    return visit_moments(a, [&](auto yt, auto yp, const auto& wp) {
      return column_moments_grouped(g, yt, yp, wp, a.shift, a.out);
    });
  });
}

}  // namespace

void register_grouped(py::module_& m) {
  m.def("score_histogram_grouped", &score_histogram_grouped_py,
        "score_histogram_grouped(groups, y_true, y_pred, sample_weight, thresholds, class_id,"
        " out, score_sums) -> (code, row, col)\n\n"
        "score_histogram per group: row i adds into out[groups[i]] of out (G, 2, T + 1, M) and\n"
        "score_sums (G, T + 1, M) or None; all or nothing.\n"
        "See metricore._backends.protocol.GroupedBackend.",
        py::arg("groups").noconvert(), py::arg("y_true").noconvert(),
        py::arg("y_pred").noconvert(), py::arg("sample_weight"),
        py::arg("thresholds").noconvert(), py::arg("class_id"), py::arg("out").noconvert(),
        py::arg("score_sums"));
  m.def("confusion_matrix_grouped", &confusion_matrix_grouped_py,
        "confusion_matrix_grouped(groups, y_true, y_pred, sample_weight, ignore_label, out)"
        " -> (code, row, col)\n\n"
        "confusion_matrix per group: row i adds into out[groups[i]] of out (G, C, C); all or\n"
        "nothing.\n"
        "See metricore._backends.protocol.GroupedBackend.",
        py::arg("groups").noconvert(), py::arg("y_true").noconvert(),
        py::arg("y_pred").noconvert(), py::arg("sample_weight"), py::arg("ignore_label"),
        py::arg("out").noconvert());
  m.def("topk_matches_grouped", &topk_matches_grouped_py,
        "topk_matches_grouped(groups, y_true, y_pred, sample_weight, k, out)"
        " -> (code, row, col)\n\n"
        "topk_matches per group: row i adds into out[groups[i]] of out (G, 2); all or nothing.\n"
        "See metricore._backends.protocol.GroupedBackend.",
        py::arg("groups").noconvert(), py::arg("y_true").noconvert(),
        py::arg("y_pred").noconvert(), py::arg("sample_weight"), py::arg("k"),
        py::arg("out").noconvert());
  m.def("moments_grouped", &moments_grouped_py,
        "moments_grouped(groups, kind, param, y_true, y_pred, sample_weight, out)"
        " -> (code, row, col)\n\n"
        "moments per group: row i adds into out[groups[i]] of out (G, 2) float64; all or\n"
        "nothing.\n"
        "See metricore._backends.protocol.GroupedBackend.",
        py::arg("groups").noconvert(), py::arg("kind"), py::arg("param"),
        py::arg("y_true").noconvert(), py::arg("y_pred").noconvert(), py::arg("sample_weight"),
        py::arg("out").noconvert());
  m.def("column_moments_grouped", &column_moments_grouped_py,
        "column_moments_grouped(groups, y_true, y_pred, sample_weight, shift, out)"
        " -> (code, row, col)\n\n"
        "column_moments per group: row i adds into out[groups[i]] of out (G, 4, D) float64,\n"
        "one shift for every group; all or nothing.\n"
        "See metricore._backends.protocol.GroupedBackend.",
        py::arg("groups").noconvert(), py::arg("y_true").noconvert(),
        py::arg("y_pred").noconvert(), py::arg("sample_weight"), py::arg("shift").noconvert(),
        py::arg("out").noconvert());
}

}  // namespace metricore::bind
