// moments and column_moments: weighted float64 sums of per-row error terms (Mean*, the
// regression errors, cosine similarity) and the per-column shifted sums of R^2; the contract
// is metricore/_backends/protocol.py. Per-element terms come from elementwise.hpp, the very
// functions of the C++ backend. Launch sequence (see cuda/__init__.py):
//   moments_rows / column_moments_cols: validate and sum in registers, one partial per thread
//   reduce_partials_tree: the partials in a fixed order -> delta
//   commit_add: delta into out if the batch and the error record are clean.
#include "common.cuh"

namespace metricore_cuda {

// One thread per row. W: weights per row (D: one per element, 1: one per row, 0: none; the
// weight type is then NoWeight). Bad weights are reported at their own element (W == D) or
// at column 0 (W == 1). partials: (threads, 2) = (sum of weighted row terms, sum of weights).
template <class TT, class ST, class WT>
__global__ void moments_rows(i64 kind, double param, const TT* __restrict__ yt, i64 yt_s0,
                             i64 yt_s1, const ST* __restrict__ yp, i64 yp_s0, i64 yp_s1,
                             const WT* __restrict__ w, i64 w_s0, i64 w_s1, i64 W, i64 N, i64 D,
                             u64* __restrict__ batch_key, double* __restrict__ partials) {
  const View2<TT> t{yt, yt_s0, yt_s1};
  const View2<ST> p{yp, yp_s0, yp_s1};
  const Weights<WT> wv{{w, w_s0, w_s1}};
  const auto mk = static_cast<metricore::MomentKind>(kind);
  const i64 thread = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x;
  double value = 0.0, weight = 0.0;
  FirstError err;
  for (i64 i = thread; i < N; i += static_cast<i64>(gridDim.x) * blockDim.x) {
    bool ok = true;
    double row_value, row_weight;
    if (mk == metricore::MomentKind::COSINE) {
      double dot = 0.0, tt = 0.0, pp = 0.0;
      for (i64 j = 0; j < D; ++j) {
        const double a = static_cast<double>(t(i, j)), b = static_cast<double>(p(i, j));
        dot += a * b;
        tt += a * a;
        pp += b * b;
      }
      row_value = metricore::cosine_row_term(dot, tt, pp);
      row_weight = 1.0;
    } else if (W > 1) {  // one weight per element: mean of w * f and of w
      double swf = 0.0, sw = 0.0;
      for (i64 j = 0; j < D; ++j) {
        const bool bad = !wv.valid(i, j);
        err.note(bad, i, 0, j, metricore::BAD_WEIGHT);
        ok = ok && !bad;
        const double wij = wv.value(i, j);
        swf += wij * metricore::moment_term(mk, static_cast<double>(t(i, j)),
                                            static_cast<double>(p(i, j)), param);
        sw += wij;
      }
      value += ok ? swf / static_cast<double>(D) : 0.0;
      weight += ok ? sw / static_cast<double>(D) : 0.0;
      continue;
    } else {
      double s = 0.0;
      for (i64 j = 0; j < D; ++j)
        s += metricore::moment_term(mk, static_cast<double>(t(i, j)),
                                    static_cast<double>(p(i, j)), param);
      row_value = s / static_cast<double>(D);
      row_weight = 1.0;
    }
    if (Weights<WT>::weighted) {  // W == 1: the row's one weight scales its term
      const bool bad = !wv.valid(i, 0);
      err.note(bad, i, 0, 0, metricore::BAD_WEIGHT);
      ok = !bad;
      row_weight = wv.value(i, 0);
      row_value *= row_weight;
    }
    value += ok ? row_value : 0.0;
    weight += ok ? row_weight : 0.0;
  }
  partials[2 * thread] = value;
  partials[2 * thread + 1] = weight;
  err.publish(batch_key);
}

// Thread g of D * R owns column j = g % D (consecutive threads: consecutive columns, so a
// row-major batch is read coalesced) and rows r, r + R, ... with r = g / D. partials:
// (R, 4, D) = (sum w, sum w d, sum w d^2, sum w (t - p)^2) with d = t - shift[j].
template <class TT, class ST, class WT>
__global__ void column_moments_cols(const TT* __restrict__ yt, i64 yt_s0, i64 yt_s1,
                                    const ST* __restrict__ yp, i64 yp_s0, i64 yp_s1,
                                    const WT* __restrict__ w, i64 w_s0,
                                    const double* __restrict__ shift, i64 N, i64 D, i64 R,
                                    u64* __restrict__ batch_key,
                                    double* __restrict__ partials) {
  const View2<TT> t{yt, yt_s0, yt_s1};
  const View2<ST> p{yp, yp_s0, yp_s1};
  const Weights<WT> wv{{w, w_s0, 0}};
  FirstError err;
  for (i64 g = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x; g < D * R;
       g += static_cast<i64>(gridDim.x) * blockDim.x) {
    const i64 j = g % D, r = g / D;
    const double c = shift[j];
    double sw = 0.0, swd = 0.0, swdd = 0.0, swe = 0.0;
    for (i64 i = r; i < N; i += R) {
      const bool bad = !wv.valid(i, 0);
      err.note(bad, i, 0, 0, metricore::BAD_WEIGHT);  // every column reports it: one key
      const double wi = wv.value(i, 0);
      const double tv = static_cast<double>(t(i, j)), d = tv - c;
      const double e = tv - static_cast<double>(p(i, j));
      sw += wi;
      swd += wi * d;
      swdd += wi * d * d;
      swe += wi * e * e;
    }
    double* mine = partials + r * 4 * D + j;
    mine[0] = sw;
    mine[D] = swd;
    mine[2 * D] = swdd;
    mine[3 * D] = swe;
  }
  err.publish(batch_key);
}

// A batch with rows but no columns adds nothing, yet its weights are still checked (the CPU
// backends' contract): this validates them, and commit_add (n = 0) records the error.
template <class WT>
__global__ void check_row_weights(const WT* __restrict__ w, i64 w_s0, i64 N,
                                  u64* __restrict__ batch_key) {
  const Weights<WT> wv{{w, w_s0, 0}};
  FirstError err;
  for (i64 i = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x; i < N;
       i += static_cast<i64>(gridDim.x) * blockDim.x)
    err.note(!wv.valid(i, 0), i, 0, 0, metricore::BAD_WEIGHT);
  err.publish(batch_key);
}

}  // namespace metricore_cuda

#if !defined(__CUDACC_RTC__)
// See threshold_counts.cu: what nvcc --ptx checks without a GPU.
using namespace metricore_cuda;
extern void* const metricore_ptx_check[] = {
    (void*)&moments_rows<bool, float, NoWeight>,
    (void*)&moments_rows<signed char, double, float>,
    (void*)&moments_rows<unsigned char, float, double>,
    (void*)&moments_rows<int, double, NoWeight>,
    (void*)&moments_rows<long long, float, double>,
    (void*)&moments_rows<float, float, float>,
    (void*)&moments_rows<double, double, NoWeight>,
    (void*)&column_moments_cols<float, float, NoWeight>,
    (void*)&column_moments_cols<double, double, double>,
    (void*)&column_moments_cols<long long, float, float>,
    (void*)&commit_add<double, double>,
    (void*)&reduce_partials_tree<double>,
    (void*)&check_row_weights<float>,
    (void*)&check_row_weights<double>,
};
#endif
