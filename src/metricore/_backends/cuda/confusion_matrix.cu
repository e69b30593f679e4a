// confusion_matrix: a C x C matrix of (weighted) counts, rows = true class, columns =
// predicted class; the contract is metricore/_backends/protocol.py. Launch sequence (see
// cuda/__init__.py):
//   confusion_bins: validate each row and add it to bin true * C + pred of a scratch
//                   histogram (shared-memory counters for small C, else global atomics;
//                   float weights: warp-private histograms, WarpHist in common.cuh)
//   [reduce_partials_*: float weights only]
//   commit_add: scratch into out (C, C) if the batch and the error record are clean.
#include "common.cuh"

namespace metricore_cuda {

// One thread per row (grid-stride, warp-uniform). Within a row the checks follow the CPU
// order: y_true (phase 0), y_pred's NaN scores or class id (phase 1), the weight (phase 2).
// Rows whose y_true equals ignore_label are skipped and not validated further.
template <class LT, class PT, class WT, bool FloatHist, bool SharedHist>
__global__ void confusion_bins(const LT* __restrict__ yt, i64 yt_s0,
                               const PT* __restrict__ yp, i64 yp_s0, i64 yp_s1, int pred_scores,
                               const WT* __restrict__ w, i64 w_s0, i64 N, i64 C, int has_ignore,
                               i64 ignore_label, u64* __restrict__ batch_key,
                               void* __restrict__ scratch, i64 bins) {
  extern __shared__ __align__(16) char smem[];
  HistSlots<FloatHist, SharedHist> slots(scratch, bins, smem);
  const View2<PT> p{yp, yp_s0, yp_s1};
  const Weights<WT> wv{{w, w_s0, 0}};
  const int32_t C32 = static_cast<int32_t>(C);
  FirstError err;
  // One row: validate it and find its bin (pure but for err; see score_bins.cuh).
  auto classify = [&](i64 i, bool& ok, i64& bin, double& weight) {
    ok = false;
    bin = 0;
    weight = 0.0;
    if (i >= N) return;
    const LT v = yt[i * yt_s0];
    const bool skip = has_ignore && metricore::label_equals(v, ignore_label);
    const int32_t tid = metricore::class_id(v, C32);
    ok = !skip;
    err.note(ok && tid < 0, i, 0, 0, metricore::TRUE_CLASS);
    ok = ok && tid >= 0;
    int32_t pid = 0;
    if (!skip) {
      if (pred_scores) {
        bool nan = false;
        const RowView<PT> row{p, i};
        pid = C > 0 ? static_cast<int32_t>(metricore::first_argmax(row, C, nan)) : 0;
        if (nan) {  // rare: find the first NaN column for the report
          i64 j = 0;
          while (!metricore::is_nan(p(i, j))) ++j;
          err.note(true, i, 1, j, metricore::NAN_SCORE);
          ok = false;
        }
      } else {
        pid = metricore::class_id(p(i, 0), C32);
        err.note(pid < 0, i, 1, 0, metricore::PRED_CLASS);
        ok = ok && pid >= 0;
      }
      const bool bad_w = !wv.valid(i, 0);
      err.note(bad_w, i, 2, 0, metricore::BAD_WEIGHT);
      ok = ok && !bad_w;
    }
    bin = static_cast<i64>(tid) * C + pid;
    weight = wv.value(i, 0);
  };
  // Warp-uniform trip count over whole blocks of kUnroll * blockDim rows (see score_bins).
  const i64 step = static_cast<i64>(blockDim.x) * kUnroll;
  for (i64 i0 = blockIdx.x * step; i0 < N; i0 += static_cast<i64>(gridDim.x) * step) {
    bool ok[kUnroll];
    i64 bin[kUnroll];
    double weight[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      classify(i0 + u * static_cast<i64>(blockDim.x) + threadIdx.x, ok[u], bin[u], weight[u]);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) slots.add(ok[u], bin[u], weight[u]);
  }
  slots.finish();
  err.publish(batch_key);
}

}  // namespace metricore_cuda

#if !defined(__CUDACC_RTC__)
// See threshold_counts.cu: what nvcc --ptx checks without a GPU.
using namespace metricore_cuda;
extern void* const metricore_ptx_check[] = {
    (void*)&confusion_bins<bool, signed char, NoWeight, false, true>,
    (void*)&confusion_bins<unsigned char, int, NoWeight, false, false>,
    (void*)&confusion_bins<long long, float, float, true, true>,
    (void*)&confusion_bins<float, double, double, true, false>,
    (void*)&confusion_bins<double, long long, NoWeight, false, true>,
    (void*)&commit_add<u64, long long>,
    (void*)&commit_add<double, double>,
    (void*)&reduce_partials_seq<double>,
    (void*)&reduce_partials_tree<double>,
};
#endif
