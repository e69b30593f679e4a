// Device-side evaluation of the per-element arithmetic shared with the C++ backend
// (csrc/include/metricore/elementwise.hpp). The CUDA backend's family kernels call the very
// same functions; these two kernels let a GPU test compare device and host results bit for
// bit on the same inputs. Compiled at first use by cupy.RawModule; CI checks it compiles
// (nvcc --ptx) on machines without a GPU.
#include "metricore/elementwise.hpp"

extern "C" __global__ void bucket_indices(const double* __restrict__ thresholds,
                                          long long num_thresholds,
                                          const double* __restrict__ scores, long long n,
                                          long long* __restrict__ out) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    out[i] = metricore::bucket_index(thresholds, num_thresholds, scores[i]);
  }
}

extern "C" __global__ void moment_terms(long long kind, double param,
                                        const double* __restrict__ y_true,
                                        const double* __restrict__ y_pred, long long n,
                                        double* __restrict__ out) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    out[i] = metricore::moment_term(static_cast<metricore::MomentKind>(kind), y_true[i],
                                    y_pred[i], param);
  }
}

extern "C" __global__ void class_ids(const double* __restrict__ values, long long n,
                                     long long num_classes, long long* __restrict__ out) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    out[i] = metricore::class_id(values[i], num_classes);
  }
}
