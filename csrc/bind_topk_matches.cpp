// Python binding of topk_matches (see metricore/topk_matches.hpp).
#include "bind_args.hpp"
#include "metricore/topk_matches.hpp"

namespace metricore::bind {
namespace {

py::tuple topk_matches_py(const py::array& y_true, const py::array& y_pred,
                          const py::object& sample_weight, int64_t k, py::array out) {
  const auto a = topk_matches_args("topk_matches", y_true, y_pred, sample_weight, k, out, -1);
  if (a.N == 0) return result({});
  return run_kernel(a.N * a.C, [&] {
    return visit_topk_matches(a, [&](auto rows, auto yt, auto yp, const auto& wp, auto* dst) {
      return topk_matches<decltype(rows)::value>(yt, yp, wp, k, dst);
    });
  });
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
