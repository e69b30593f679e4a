// Python binding of score_histogram (see metricore/score_histogram.hpp).
#include "bind_args.hpp"
#include "metricore/score_histogram.hpp"

namespace metricore::bind {
namespace {

py::tuple score_histogram_py(const py::array& y_true, const py::array& y_pred,
                             const py::object& sample_weight, const py::array& thresholds,
                             int64_t class_id, py::array out, const py::object& score_sums) {
  const auto a = score_histogram_args("score_histogram", y_true, y_pred, sample_weight,
                                      thresholds, class_id, out, score_sums, -1);
  if (a.N == 0) return result({});
  return run_kernel(a.N * a.L, [&] {
    return visit_score_histogram(a, [&](auto yt, auto yp, const auto& wp, auto* dst) {
      return score_histogram(yt, a.class_ids, yp, wp, a.thr, a.T, class_id, dst, a.M, a.sums);
    });
  });
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
