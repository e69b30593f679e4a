// metricore._core: the C++ kernels. One register_<family>(m) per kernel family; the algorithms
// live in include/metricore/<family>.hpp, free of Python.
#include <pybind11/pybind11.h>

#include "metricore/elementwise.hpp"
#include "metricore/errors.hpp"

namespace py = pybind11;

namespace metricore::bind {
void register_threshold_counts(py::module_& m);
void register_confusion_matrix(py::module_& m);
void register_topk_matches(py::module_& m);
void register_moments(py::module_& m);
void register_score_histogram(py::module_& m);
void register_binary_clf_curve(py::module_& m);
void register_grouped(py::module_& m);
}  // namespace metricore::bind

PYBIND11_MODULE(_core, m) {
  using namespace metricore;
  m.doc() = "metricore's C++ kernels; see metricore._backends.protocol for the contract.";

  // Mirrors of errors.hpp / elementwise.hpp, so a test can check they match protocol.py.
  py::dict error_codes;
  error_codes["OK"] = int64_t(OK);
  error_codes["BINARY_LABEL"] = int64_t(BINARY_LABEL);
  error_codes["TRUE_CLASS"] = int64_t(TRUE_CLASS);
  error_codes["PRED_CLASS"] = int64_t(PRED_CLASS);
  error_codes["NAN_SCORE"] = int64_t(NAN_SCORE);
  error_codes["BAD_WEIGHT"] = int64_t(BAD_WEIGHT);
  error_codes["GROUP"] = int64_t(GROUP);
  m.attr("ERROR_CODES") = error_codes;

  py::dict moment_kinds;
  moment_kinds["VALUE"] = int64_t(MomentKind::VALUE);
  moment_kinds["ABSOLUTE"] = int64_t(MomentKind::ABSOLUTE);
  moment_kinds["SQUARED"] = int64_t(MomentKind::SQUARED);
  moment_kinds["ABSOLUTE_PERCENTAGE"] = int64_t(MomentKind::ABSOLUTE_PERCENTAGE);
  moment_kinds["SQUARED_LOG"] = int64_t(MomentKind::SQUARED_LOG);
  moment_kinds["LOG_COSH"] = int64_t(MomentKind::LOG_COSH);
  moment_kinds["EQUAL"] = int64_t(MomentKind::EQUAL);
  moment_kinds["BINARY_MATCH"] = int64_t(MomentKind::BINARY_MATCH);
  moment_kinds["COSINE"] = int64_t(MomentKind::COSINE);
  m.attr("MOMENT_KINDS") = moment_kinds;

  bind::register_threshold_counts(m);
  bind::register_confusion_matrix(m);
  bind::register_topk_matches(m);
  bind::register_moments(m);
  bind::register_score_histogram(m);
  bind::register_binary_clf_curve(m);
  bind::register_grouped(m);
}
