// Python binding of confusion_matrix (see metricore/confusion_matrix.hpp).
#include <pybind11/stl.h>

#include "bind_args.hpp"
#include "metricore/confusion_matrix.hpp"

namespace metricore::bind {
namespace {

py::tuple confusion_matrix_py(const py::array& y_true, const py::array& y_pred,
                              const py::object& sample_weight,
                              std::optional<int64_t> ignore_label, py::array out) {
  const auto a = confusion_matrix_args("confusion_matrix", y_true, y_pred, sample_weight, out, -1);
  if (a.N == 0) return result({});
  return run_kernel(a.scores ? a.N * a.C : a.N, [&] {
    return visit_confusion_matrix(a, [&](auto scores, auto yt, auto yp, const auto& wp, auto* dst) {
      return confusion_matrix<decltype(scores)::value>(yt, yp, wp, ignore_label.has_value(),
                                                       ignore_label.value_or(0),
                                                       static_cast<int32_t>(a.C), dst);
    });
  });
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
