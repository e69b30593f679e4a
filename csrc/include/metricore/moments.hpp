// moments and column_moments: weighted float64 sums of per-row error terms (Mean, MAE, MSE,
// accuracy-like means, cosine similarity ...) and the per-column sums behind R^2.
// See metricore/_backends/protocol.py for the contract.
//
// The batch goes in chunks of rows, in two stages: (1) the chunk's y_true, y_pred and weights
// are converted to float64 into small contiguous buffers (one loop per input dtype; the weight
// loop also checks finiteness), (2) a kernel templated on the moment kind sums the chunk in
// vector lanes. Stage (2) does not depend on the input dtypes, so the kinds are not
// multiplied by the dtype combinations, and both stages vectorize. Chunk sums go into a
// CascadeSum (see summation.hpp); `out` is written once, after the last chunk. The common
// case (one column, contiguous, one float dtype) skips the staging: flat_sums.
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "metricore/elementwise.hpp"
#include "metricore/errors.hpp"
#include "metricore/strided.hpp"
#include "metricore/summation.hpp"

namespace metricore {
namespace moments_detail {

constexpr int64_t kChunkElems = 512;  // elements per input per chunk, one summation block

// Rows [r0, r0 + nr) of v as float64, row-major into out. With CheckFinite, returns nonzero
// if a value is not finite.
template <bool CheckFinite, class T>
uint32_t load_rows(const Strided2<T>& v, int64_t r0, int64_t nr, double* out) {
  const Strided2<T> rows{v.base + r0 * v.row_stride, nr, v.cols, v.row_stride, v.col_stride};
  uint32_t bad = 0;
  if (rows.flattens()) {
    const int64_t n = nr * v.cols;
    with_contiguity(
        [&](auto src) {
          for (int64_t e = 0; e < n; ++e) {
            const T x = src[e];
            if constexpr (CheckFinite) bad |= static_cast<uint32_t>(!is_finite_weight(x));
            out[e] = static_cast<double>(x);
          }
        },
        rows.flat());
  } else {
    for (int64_t i = 0; i < nr; ++i) {
      for (int64_t j = 0; j < v.cols; ++j) {
        const T x = rows(i, j);
        if constexpr (CheckFinite) bad |= static_cast<uint32_t>(!is_finite_weight(x));
        out[i * v.cols + j] = static_cast<double>(x);
      }
    }
  }
  return bad;
}

enum WeightMode : int { kNoWeight = 0, kRowWeight = 1, kElementWeight = 2 };

// A row's (weighted) term and (mean) weight, or their sums over rows.
struct TermSums {
  double value;
  double weight;
};

// One row's (weighted term, weight) from its D values as float64 (w: the row's one weight,
// or its D weights under kElementWeight; unweighted rows weigh 1).
template <MomentKind K, int Mode>
inline TermSums row_sums(const double* t, const double* p, const double* w, int64_t D,
                          double param) {
  double term = 0.0;
  if constexpr (K == MomentKind::COSINE) {
    double dot = 0.0, tt = 0.0, pp = 0.0;
    for (int64_t j = 0; j < D; ++j) {
      dot += t[j] * p[j];
      tt += t[j] * t[j];
      pp += p[j] * p[j];
    }
    term = cosine_row_term(dot, tt, pp);
  } else if constexpr (Mode == kElementWeight) {
    double swf = 0.0, sw = 0.0;
    for (int64_t j = 0; j < D; ++j) {
      swf += w[j] * moment_term<K>(t[j], p[j], param);
      sw += w[j];
    }
    return {swf / static_cast<double>(D), sw / static_cast<double>(D)};
  } else {
    double s = 0.0;
    for (int64_t j = 0; j < D; ++j) s += moment_term<K>(t[j], p[j], param);
    term = s / static_cast<double>(D);
  }
  if constexpr (Mode == kNoWeight) {
    return {term, 1.0};
  } else {
    return {w[0] * term, w[0]};
  }
}

// Sums of one chunk of R rows x D columns held as float64 buffers (w: R or R x D values).
template <MomentKind K, int Mode>
TermSums chunk_sums(const double* t, const double* p, const double* w, int64_t R, int64_t D,
                     double param) {
  if constexpr (K != MomentKind::COSINE) {
    if (D == 1) {  // one value per row: a flat vectorized loop
      double value = 0.0, weight = 0.0;
      if constexpr (Mode == kNoWeight) {
#pragma omp simd reduction(+ : value)
        for (int64_t i = 0; i < R; ++i) value += moment_term<K>(t[i], p[i], param);
        weight = static_cast<double>(R);
      } else {
#pragma omp simd reduction(+ : value, weight)
        for (int64_t i = 0; i < R; ++i) {
          value += w[i] * moment_term<K>(t[i], p[i], param);
          weight += w[i];
        }
      }
      return {value, weight};
    }
  }
  const int64_t wd = Mode == kElementWeight ? D : 1;  // weights per row
  double a[kLanes] = {}, b[kLanes] = {};
  for (int64_t r = 0; r < R; ++r) {
    const TermSums row = row_sums<K, Mode>(t + r * D, p + r * D, w + r * wd, D, param);
    a[r % kLanes] += row.value;
    b[r % kLanes] += row.weight;
  }
  return {lanes_total(a), Mode == kNoWeight ? static_cast<double>(R) : lanes_total(b)};
}

template <MomentKind K>
using KindTag = std::integral_constant<MomentKind, K>;

// Calls make(KindTag<K>{}) for the kind K == kind: the factory of a per-kind function pointer;
// nullptr for an unknown kind (the bindings reject those).
template <class Make>
auto kind_fn(MomentKind kind, Make&& make) {
  using Fn = decltype(make(KindTag<MomentKind::VALUE>{}));
  switch (kind) {
    case MomentKind::VALUE: return make(KindTag<MomentKind::VALUE>{});
    case MomentKind::ABSOLUTE: return make(KindTag<MomentKind::ABSOLUTE>{});
    case MomentKind::SQUARED: return make(KindTag<MomentKind::SQUARED>{});
    case MomentKind::ABSOLUTE_PERCENTAGE: return make(KindTag<MomentKind::ABSOLUTE_PERCENTAGE>{});
    case MomentKind::SQUARED_LOG: return make(KindTag<MomentKind::SQUARED_LOG>{});
    case MomentKind::LOG_COSH: return make(KindTag<MomentKind::LOG_COSH>{});
    case MomentKind::EQUAL: return make(KindTag<MomentKind::EQUAL>{});
    case MomentKind::BINARY_MATCH: return make(KindTag<MomentKind::BINARY_MATCH>{});
    case MomentKind::COSINE: return make(KindTag<MomentKind::COSINE>{});
  }
  return Fn(nullptr);
}

using ChunkFn = TermSums (*)(const double*, const double*, const double*, int64_t, int64_t,
                              double);

// COSINE has no element weights (the bindings refuse them): nullptr there.
template <int Mode>
ChunkFn chunk_fn(MomentKind kind) {
  return kind_fn(kind, [](auto k) -> ChunkFn {
    constexpr MomentKind K = decltype(k)::value;
    if constexpr (K == MomentKind::COSINE && Mode == kElementWeight) return nullptr;
    else return &chunk_sums<K, Mode>;
  });
}

// The fast path: one value per row (D == 1), y_true, y_pred and the weights contiguous and of
// one float type S. One fused loop per kind, no staging buffers; the block sums are
// `omp simd` reductions (vector lanes, see summation.hpp).
// A non-finite weight makes the block's weight sum non-finite: the block is then rescanned
// (the sum can also overflow with finite weights; then the rescan finds nothing and the block
// counts as it is). Returns the first bad row, or -1.
template <MomentKind K, class S, bool Weighted>
int64_t flat_sums(const S* __restrict t, const S* __restrict p, const S* __restrict w, int64_t n,
                  double param, CascadeSum& value, CascadeSum& weight) {
  constexpr int64_t kBlock = 512;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t b1 = std::min(n, b0 + kBlock);
    double block_value = 0.0, block_weight = 0.0;
    if constexpr (Weighted) {
#pragma omp simd reduction(+ : block_value, block_weight)
      for (int64_t i = b0; i < b1; ++i) {
        const double x = static_cast<double>(w[i]);
        block_value +=
            x * moment_term<K>(static_cast<double>(t[i]), static_cast<double>(p[i]), param);
        block_weight += x;
      }
    } else {
#pragma omp simd reduction(+ : block_value)
      for (int64_t i = b0; i < b1; ++i)
        block_value += moment_term<K>(static_cast<double>(t[i]), static_cast<double>(p[i]), param);
      block_weight = static_cast<double>(b1 - b0);
    }
    if (Weighted && !is_finite_weight(block_weight)) {
      for (int64_t r = b0; r < b1; ++r)
        if (!is_finite_weight(w[r])) return r;
    }
    value.add(block_value);
    weight.add(block_weight);
  }
  return -1;
}

template <class S, bool Weighted>
using FlatFn = int64_t (*)(const S*, const S*, const S*, int64_t, double, CascadeSum&,
                           CascadeSum&);

// COSINE is a whole-row term, never flat: nullptr there.
template <class S, bool Weighted>
FlatFn<S, Weighted> flat_fn(MomentKind kind) {
  return kind_fn(kind, [](auto k) -> FlatFn<S, Weighted> {
    constexpr MomentKind K = decltype(k)::value;
    if constexpr (K == MomentKind::COSINE) return nullptr;
    else return &flat_sums<K, S, Weighted>;
  });
}

// The first non-finite weight of rows [r0, r0 + nr).
template <class WP>
Error first_bad_weight(const WP& w, int64_t r0, int64_t nr) {
  if constexpr (WP::weighted) {
    for (int64_t i = r0; i < r0 + nr; ++i)
      for (int64_t j = 0; j < w.w.cols; ++j)
        if (!w.valid(i, j)) return {BAD_WEIGHT, i, j};
  }
  return {};
}

}  // namespace moments_detail

inline bool valid_moment_kind(int64_t kind) { return kind >= 0 && kind < kNumMomentKinds; }

// Adds the batch into out (2,) float64; all or nothing.
//   yt, yp: (N, D); w: UnitWeight or ArrayWeight over (N, W), W in {1, D} (COSINE: W == 1).
// Only the weights are validated (BAD_WEIGHT): NaN in y_true/y_pred propagates, as in Keras.
template <class TT, class PT, class WP>
Error moments(MomentKind kind, double param, const Strided2<TT>& yt, const Strided2<PT>& yp,
              const WP& w, double* out) {
  using namespace moments_detail;
  const int64_t N = yp.rows, D = yp.cols;
  if (N == 0) return {};
  if (D == 0) return {};  // the bindings refuse D == 0; nothing to average
  int64_t W = 0;
  if constexpr (WP::weighted) W = w.w.cols;
  const int mode = W == 0 ? kNoWeight : (W == 1 ? kRowWeight : kElementWeight);
  const ChunkFn fn = mode == kNoWeight     ? chunk_fn<kNoWeight>(kind)
                     : mode == kRowWeight  ? chunk_fn<kRowWeight>(kind)
                                           : chunk_fn<kElementWeight>(kind);
  if (fn == nullptr) return {};  // unreachable: the bindings check kind and W

  // Fast path: D == 1, contiguous, one float type throughout.
  if constexpr (std::is_same_v<TT, PT> && std::is_floating_point_v<PT>) {
    constexpr bool same_weight = [] {
      if constexpr (WP::weighted) return std::is_same_v<typename WP::value_type, PT>;
      return true;
    }();
    if constexpr (same_weight) {
      bool contiguous = D == 1 && kind != MomentKind::COSINE && yt.col(0).is_contiguous() &&
                        yp.col(0).is_contiguous();
      const PT* wptr = nullptr;
      if constexpr (WP::weighted) {
        contiguous = contiguous && w.w.col(0).is_contiguous();
        wptr = w.w.col(0).data();
      }
      if (contiguous) {
        CascadeSum value, weight;
        const auto flat = flat_fn<PT, WP::weighted>(kind);
        const int64_t bad =
            flat(yt.col(0).data(), yp.col(0).data(), wptr, N, param, value, weight);
        if (bad >= 0) return {BAD_WEIGHT, bad, 0};
        out[0] += value.value();
        out[1] += weight.value();
        return {};
      }
    }
  }

  const int64_t R = std::max<int64_t>(1, kChunkElems / D);  // rows per chunk
  std::vector<double> tb(static_cast<size_t>(R * D)), pb(static_cast<size_t>(R * D));
  std::vector<double> wb(static_cast<size_t>(R * std::max<int64_t>(W, 1)));
  const bool reads_true = kind != MomentKind::VALUE;
  CascadeSum value, weight;
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int64_t nr = std::min(R, N - r0);
    if constexpr (WP::weighted) {
      if (load_rows<true>(w.w, r0, nr, wb.data())) return first_bad_weight(w, r0, nr);
    }
    if (reads_true) load_rows<false>(yt, r0, nr, tb.data());
    load_rows<false>(yp, r0, nr, pb.data());
    const TermSums s = fn(tb.data(), pb.data(), wb.data(), nr, D, param);
    value.add(s.value);
    weight.add(s.weight);
  }
  out[0] += value.value();
  out[1] += weight.value();
  return {};
}

// Adds the batch into out (4, D) float64: sum w, sum w (t - shift), sum w (t - shift)^2,
// sum w (t - p)^2 per column; all or nothing. w: UnitWeight or ArrayWeight over (N, 1).
template <class TT, class PT, class WP>
Error column_moments(const Strided2<TT>& yt, const Strided2<PT>& yp, const WP& w,
                     const double* shift, double* out) {
  using namespace moments_detail;
  const int64_t N = yp.rows, D = yp.cols;
  if (N == 0) return {};
  if (D == 0) return first_bad_weight(w, 0, N);  // nothing to sum; weights still validated
  // Rows per chunk: one chunk is one summation block per column.
  const int64_t R = std::max<int64_t>(kChunkElems / D, 1);
  std::vector<double> tb(static_cast<size_t>(R * D)), pb(static_cast<size_t>(R * D));
  std::vector<double> wb(static_cast<size_t>(R));
  std::vector<double> s1(static_cast<size_t>(D)), s2(static_cast<size_t>(D)),
      s3(static_cast<size_t>(D));
  std::vector<CascadeSum> c1(static_cast<size_t>(D)), c2(static_cast<size_t>(D)),
      c3(static_cast<size_t>(D));
  CascadeSum c0;
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int64_t nr = std::min(R, N - r0);
    if constexpr (WP::weighted) {
      if (load_rows<true>(w.w, r0, nr, wb.data())) return first_bad_weight(w, r0, nr);
    }
    load_rows<false>(yt, r0, nr, tb.data());
    load_rows<false>(yp, r0, nr, pb.data());
    const double* t = tb.data();
    const double* p = pb.data();
    const double* wv = wb.data();
    auto weight_of = [&](int64_t r) {
      if constexpr (WP::weighted) return wv[r]; else return 1.0;
    };
    if (D == 1) {
      double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
      const double sh = shift[0];
#pragma omp simd reduction(+ : a0, a1, a2, a3)
      for (int64_t r = 0; r < nr; ++r) {
        const double x = weight_of(r), d = t[r] - sh, e = t[r] - p[r];
        a0 += x;
        a1 += x * d;
        a2 += x * d * d;
        a3 += x * e * e;
      }
      c0.add(a0);
      c1[0].add(a1);
      c2[0].add(a2);
      c3[0].add(a3);
      continue;
    }
    std::fill(s1.begin(), s1.end(), 0.0);
    std::fill(s2.begin(), s2.end(), 0.0);
    std::fill(s3.begin(), s3.end(), 0.0);
    double a0[kLanes] = {};
    for (int64_t r = 0; r < nr; ++r) {
      const double x = weight_of(r);
      const double* tr = t + r * D;
      const double* pr = p + r * D;
      a0[r % kLanes] += x;
      for (int64_t j = 0; j < D; ++j) {  // independent columns: vectorizes across j
        const double d = tr[j] - shift[j], e = tr[j] - pr[j];
        s1[j] += x * d;
        s2[j] += x * d * d;
        s3[j] += x * e * e;
      }
    }
    c0.add(lanes_total(a0));
    for (int64_t j = 0; j < D; ++j) {
      c1[j].add(s1[j]);
      c2[j].add(s2[j]);
      c3[j].add(s3[j]);
    }
  }
  const double total_weight = WP::weighted ? c0.value() : static_cast<double>(N);
  for (int64_t j = 0; j < D; ++j) {
    out[0 * D + j] += total_weight;
    out[1 * D + j] += c1[j].value();
    out[2 * D + j] += c2[j].value();
    out[3 * D + j] += c3[j].value();
  }
  return {};
}

}  // namespace metricore
