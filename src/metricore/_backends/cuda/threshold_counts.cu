// threshold_counts: TP/FP/TN/FN at T thresholds for L binary labels (Keras semantics; the
// contract is metricore/_backends/protocol.py). Launch sequence (see cuda/__init__.py):
//   score_bins (score_bins.cuh): validate, and count each element into its label's bucket
//   [reduce_partials_*: float weights only]
//   commit_threshold: the two label histograms -> the four counts, added to out (4, T, M)
//                     only if the batch and the metric's error record are clean.
#include "score_bins.cuh"

namespace metricore_cuda {

// One thread per output column m: TP[t] / FP[t] are suffix sums of the positive / negative
// buckets b > t, FN[t] / TN[t] prefix sums of buckets b <= t. Each count is its own sum (no
// total - prefix differences, which would cancel for float weights) in a fixed order. The
// pass is O(T) per column, serial: fine for the few hundred thresholds of threshold metrics
// (large T belongs to score_histogram, whose commit is elementwise).
// `clear` zeroes the histogram after reading it (a count scratch); the call's only commit,
// so it always releases the batch key (common.cuh).
template <class Acc, class Out>
__global__ void commit_threshold(u64* __restrict__ batch_key, unsigned int* __restrict__ done,
                                 i64* __restrict__ record, Acc* __restrict__ hist, i64 T,
                                 i64 M, Out* __restrict__ out, int clear) {
  record_error(batch_key, record);
  const bool ok = may_commit(batch_key, record);
  const i64 B = T + 1, plane = T * M;
  for (i64 m = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x; m < M;
       m += static_cast<i64>(gridDim.x) * blockDim.x) {
    Acc* neg = hist + m;
    Acc* pos = hist + B * M + m;
    if (ok) {
      Acc fn = Acc(0), tn = Acc(0);
      for (i64 t = 0; t < T; ++t) {
        fn += pos[t * M];
        tn += neg[t * M];
        out[3 * plane + t * M + m] += static_cast<Out>(fn);
        out[2 * plane + t * M + m] += static_cast<Out>(tn);
      }
      Acc tp = Acc(0), fp = Acc(0);
      for (i64 t = T - 1; t >= 0; --t) {
        tp += pos[(t + 1) * M];
        fp += neg[(t + 1) * M];
        out[t * M + m] += static_cast<Out>(tp);
        out[plane + t * M + m] += static_cast<Out>(fp);
      }
    }
    if (clear)
      for (i64 b = 0; b < B; ++b) neg[b * M] = pos[b * M] = Acc(0);
  }
  release_key(batch_key, done);
}

}  // namespace metricore_cuda

#if !defined(__CUDACC_RTC__)
// nvcc --ptx (CI, no GPU) compiles only what is instantiated; at run time NVRTC instantiates
// exactly the name expressions a call needs. These cover every label, score and weight type
// and every accumulation mode once (extern: no unused-variable warning).
using namespace metricore_cuda;
extern void* const metricore_ptx_check[] = {
    (void*)&score_bins<bool, float, NoWeight, false, true>,
    (void*)&score_bins<signed char, double, NoWeight, false, false>,
    (void*)&score_bins<unsigned char, float, float, true, true>,
    (void*)&score_bins<int, double, double, true, false>,
    (void*)&score_bins<long long, float, double, true, true>,
    (void*)&score_bins<float, float, NoWeight, false, true>,
    (void*)&score_bins<double, double, float, true, false>,
    (void*)&commit_threshold<u64, long long>,
    (void*)&commit_threshold<double, double>,
    (void*)&reduce_partials_seq<double>,
    (void*)&reduce_partials_tree<double>,
};
#endif
