// topk_matches: weighted count of rows whose true class is predicted (accuracy family); the
// contract is metricore/_backends/protocol.py. Launch sequence (see cuda/__init__.py):
//   topk_rows: one thread per row, validating it and summing (w * match, w) in registers,
//              then writing its two sums to partials[thread] (every thread, even idle ones)
//   reduce_partials_tree: the per-thread sums in a fixed order -> delta (2,)
//   commit_add: delta into out (2,) if the batch and the error record are clean.
// Float partials serve the unweighted (int64) state too: they then hold whole numbers below
// 2^53, summed exactly.
#include "common.cuh"

namespace metricore_cuda {

// true_rows: y_true is (N, C) rows whose first maximum is the true class (a NaN in the row
// is TRUE_CLASS at its column); else (N,) class ids. k == 0: match iff the first argmax of
// y_pred's row is the true class; k >= 1: iff fewer than k scores beat the true class's.
template <class TT, class ST, class WT>
__global__ void topk_rows(const TT* __restrict__ yt, i64 yt_s0, i64 yt_s1, int true_rows,
                          const ST* __restrict__ yp, i64 yp_s0, i64 yp_s1,
                          const WT* __restrict__ w, i64 w_s0, i64 N, i64 C, i64 k,
                          u64* __restrict__ batch_key, double* __restrict__ partials) {
  const View2<TT> t{yt, yt_s0, yt_s1};
  const View2<ST> p{yp, yp_s0, yp_s1};
  const Weights<WT> wv{{w, w_s0, 0}};
  const i64 thread = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x;
  double matched = 0.0, total = 0.0;
  FirstError err;
  for (i64 i = thread; i < N; i += static_cast<i64>(gridDim.x) * blockDim.x) {
    bool ok = true;
    i64 tid = 0;
    if (true_rows) {
      bool nan = false;
      tid = C > 0 ? metricore::first_argmax(RowView<TT>{t, i}, C, nan) : 0;
      if (nan) {
        i64 j = 0;
        while (!metricore::is_nan(t(i, j))) ++j;
        err.note(true, i, 0, j, metricore::TRUE_CLASS);
      }
      err.note(C == 0, i, 0, 0, metricore::TRUE_CLASS);
      ok = !nan && C > 0;
    } else {
      tid = metricore::class_id(t(i, 0), static_cast<int32_t>(C));
      err.note(tid < 0, i, 0, 0, metricore::TRUE_CLASS);
      ok = tid >= 0;
    }
    bool nan = false;
    const i64 best = C > 0 ? metricore::first_argmax(RowView<ST>{p, i}, C, nan) : 0;
    if (nan) {
      i64 j = 0;
      while (!metricore::is_nan(p(i, j))) ++j;
      err.note(true, i, 1, j, metricore::NAN_SCORE);
    }
    const bool bad_w = !wv.valid(i, 0);
    err.note(bad_w, i, 2, 0, metricore::BAD_WEIGHT);
    if (ok && !nan && !bad_w) {
      bool match;
      if (k == 0) {
        match = best == tid;
      } else {
        const ST mine = p(i, tid);
        i64 above = 0;
        for (i64 j = 0; j < C; ++j) above += p(i, j) > mine;
        match = above < k;
      }
      const double wi = wv.value(i, 0);
      matched += match ? wi : 0.0;
      total += wi;
    }
  }
  partials[2 * thread] = matched;
  partials[2 * thread + 1] = total;
  err.publish(batch_key);
}

}  // namespace metricore_cuda

#if !defined(__CUDACC_RTC__)
// See threshold_counts.cu: what nvcc --ptx checks without a GPU.
using namespace metricore_cuda;
extern void* const metricore_ptx_check[] = {
    (void*)&topk_rows<bool, float, NoWeight>,
    (void*)&topk_rows<signed char, double, float>,
    (void*)&topk_rows<unsigned char, float, double>,
    (void*)&topk_rows<int, double, NoWeight>,
    (void*)&topk_rows<long long, float, NoWeight>,
    (void*)&topk_rows<float, float, double>,
    (void*)&topk_rows<double, double, NoWeight>,
    (void*)&commit_add<double, long long>,
    (void*)&commit_add<double, double>,
    (void*)&reduce_partials_tree<double>,
};
#endif
