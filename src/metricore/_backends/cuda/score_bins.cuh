// The validate+accumulate pass shared by threshold_counts.cu and score_histogram.cu: each
// counted element (i, j) adds its weight to bin
//     label * (B * M) + bucket * M + m         (B = T + 1 buckets, m = j, or 0 when pooled)
// where bucket = bucket_index(thresholds, score) from elementwise.hpp (the very function the
// C++ backend uses), and, with score sums, weight * score to bin 2 * B * M + bucket * M + m.
// threshold_counts then turns the two label histograms into TP/FP/TN/FN by prefix and
// suffix sums at commit; score_histogram commits them as they are.
#pragma once
#include "common.cuh"

namespace metricore_cuda {

// Element (i, j) of the visited columns [v0, v1) lies at flat index e = i * (v1 - v0) +
// (j - v0); consecutive threads read consecutive elements of a row-major batch (coalesced).
// Visited columns are the counted ones [c0, c1), or every column when top_k ranks them.
//
//   true_ids     y_true is (N,) class ids (column j's label: id == j), checked once per row
//                at its first visited column and reported at column 0 (TRUE_CLASS);
//                else (N, L) binary labels (BINARY_LABEL at counted columns).
//   top_k        0, or keep only the k largest scores of each row (ties to the lower
//                column), the others scored -inf; every ranked score is checked for NaN.
//   score_sums   nonzero: also accumulate weight * score (needs FloatHist).
template <class LT, class ST, class WT, bool FloatHist, bool SharedHist>
__global__ void score_bins(const LT* __restrict__ yt, i64 yt_s0, i64 yt_s1, int true_ids,
                           const ST* __restrict__ yp, i64 yp_s0, i64 yp_s1,
                           const WT* __restrict__ w, i64 w_s0, i64 w_s1,
                           const double* __restrict__ thresholds, i64 T, i64 N, i64 L, i64 c0,
                           i64 c1, i64 top_k, i64 M, int score_sums, u64* __restrict__ batch_key,
                           void* __restrict__ scratch, i64 bins) {
  extern __shared__ __align__(16) char smem[];
  HistSlots<FloatHist, SharedHist> slots(scratch, bins, smem);
  const View2<LT> t{yt, yt_s0, yt_s1};
  const View2<ST> p{yp, yp_s0, yp_s1};
  const Weights<WT> wv{{w, w_s0, w_s1}};
  const i64 v0 = top_k > 0 ? 0 : c0, v1 = top_k > 0 ? L : c1, width = v1 - v0;
  const i64 total = N * width, B = T + 1, label_stride = B * M;
  FirstError err;
  // One element: validate it, and find its bin. Pure but for err (a register), so the loads
  // of the kUnroll elements of an iteration are all in flight before the first add.
  auto classify = [&](i64 e, bool& counted, i64& bin, double& weight, double& score) {
    counted = false;
    bin = 0;
    weight = score = 0.0;
    if (e >= total) return;
    const i64 i = width == 1 ? e : e / width;
    const i64 j = v0 + (width == 1 ? 0 : e - i * width);
    const bool in_range = j >= c0 && j < c1;
    counted = in_range;
    bool truth;
    if (true_ids) {
      const LT v = t(i, 0);
      const int32_t id = metricore::class_id_value(v);
      const bool bad = metricore::class_id_error(v, id, static_cast<int32_t>(L)) != 0;
      err.note(bad && j == v0, i, 0, 0, metricore::TRUE_CLASS);
      counted = counted && !bad;
      truth = id == j;
    } else {
      const LT v = t(i, j);
      const bool bad = counted && !metricore::is_binary_label(v);
      err.note(bad, i, 0, j, metricore::BINARY_LABEL);
      counted = counted && !bad;
      truth = v == LT(1);
    }
    const ST s = p(i, j);
    const bool nan = metricore::is_nan(s);
    err.note(nan && (in_range || top_k > 0), i, 0, j, metricore::NAN_SCORE);
    const bool bad_w = in_range && !wv.valid(i, j);
    err.note(bad_w, i, 0, j, metricore::BAD_WEIGHT);
    counted = counted && !nan && !bad_w;
    score = static_cast<double>(s);
    if (counted && top_k > 0) {
      // Rank among the row's L scores: strictly greater ones, and equal ones to the left.
      // A score outside the top k counts as -inf (predicted negative at every threshold),
      // as Keras and the CPU backends do; it is not dropped.
      i64 rank = 0;
      for (i64 q = 0; q < L; ++q) {
        const ST o = p(i, q);
        rank += (o > s) | ((o == s) & (q < j));
      }
      if (rank >= top_k) score = -__longlong_as_double(0x7ff0000000000000ll);
    }
    const i64 b = metricore::bucket_index(thresholds, T, score);
    bin = (truth ? label_stride : 0) + b * M + (M == 1 ? 0 : j);
    weight = wv.value(i, j);
  };
  // Warp-uniform trip count (the slots need every lane): the loop runs over whole blocks of
  // kUnroll * blockDim elements; element e0 + u * blockDim + thread (coalesced for each u).
  const i64 step = static_cast<i64>(blockDim.x) * kUnroll;
  for (i64 e0 = blockIdx.x * step; e0 < total; e0 += static_cast<i64>(gridDim.x) * step) {
    bool counted[kUnroll];
    i64 bin[kUnroll];
    double weight[kUnroll], score[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      classify(e0 + u * static_cast<i64>(blockDim.x) + threadIdx.x, counted[u], bin[u],
               weight[u], score[u]);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      slots.add(counted[u], bin[u], weight[u]);
      if (FloatHist && score_sums) {
        // The same element's weight * score, both labels together, in the third plane.
        const i64 sum_bin = 2 * label_stride +
                            (bin[u] >= label_stride ? bin[u] - label_stride : bin[u]);
        slots.add(counted[u], sum_bin, weight[u] * score[u]);
      }
    }
  }
  slots.finish();
  err.publish(batch_key);
}

}  // namespace metricore_cuda
