// Error codes every kernel returns; mirrored by metricore._backends.protocol.ErrorCode
// (tests/test_backends.py checks the two agree).
#pragma once
// NVRTC (the CUDA backend's run-time compiler) has no standard headers: its includer
// provides the fixed-width types (see _backends/cuda/common.cuh).
#if !defined(__CUDACC_RTC__)
#include <cstdint>
#endif

namespace metricore {

enum ErrorCode : int64_t {
  OK = 0,
  BINARY_LABEL = 1,  // y_true holds a value other than 0 or 1
  TRUE_CLASS = 2,    // y_true class id not an integer in [0, num_classes)
  PRED_CLASS = 3,    // y_pred class id not an integer in [0, num_classes)
  NAN_SCORE = 4,     // y_pred holds NaN
  BAD_WEIGHT = 5,    // sample_weight holds NaN or +-inf
  GROUP = 6,         // a group id outside [0, G)
};

struct Error {
  int64_t code = OK;
  int64_t row = 0;
  int64_t col = 0;
};

}  // namespace metricore
