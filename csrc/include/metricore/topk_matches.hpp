// topk_matches: counts the rows whose true class is predicted (the accuracy family).
// See metricore/_backends/protocol.py for the contract.
//
//   k == 0: match iff the first argmax of the score row is the true class t, i.e. every
//           score before t is < s_t and every score after it is <= s_t;
//   k >= 1: match iff fewer than k scores of the row are > s_t (tf.math.in_top_k: ties in).
// Both are one branch-free pass over the row that also detects NaN. The batch goes in chunks:
// true ids, then row matches, then weights, each ORing a "bad" flag; a bad chunk is rescanned
// in the protocol's order; sums of good chunks are local until the whole batch is valid.
#pragma once
#include <algorithm>
#include <cstdint>

#include "metricore/elementwise.hpp"
#include "metricore/errors.hpp"
#include "metricore/simd.hpp"
#include "metricore/strided.hpp"
#include "metricore/summation.hpp"

namespace metricore {
namespace topk_detail {

constexpr int64_t kChunk = 512;

// Whether the row's first maximum is at t (row[t] == s); sets nan if the row holds NaN.
template <class Row, class S>
MC_HD inline uint32_t match_argmax(Row row, int64_t C, int64_t t, S s, uint32_t& nan) {
  uint32_t beaten = 0, has_nan = 0;
  for (int64_t j = 0; j < C; ++j) {
    const S v = row[j];
    beaten |= static_cast<uint32_t>((v > s) | ((j < t) & (v == s)));
    has_nan |= static_cast<uint32_t>(is_nan(v));
  }
  nan = has_nan;
  return beaten == 0;
}

// Whether fewer than k scores of the row are > s; sets nan if the row holds NaN.
template <class Row, class S>
MC_HD inline uint32_t match_top_k(Row row, int64_t C, int64_t k, S s, uint32_t& nan) {
  int64_t above = 0;
  uint32_t has_nan = 0;
  for (int64_t j = 0; j < C; ++j) {
    const S v = row[j];
    above += v > s;
    has_nan |= static_cast<uint32_t>(is_nan(v));
  }
  nan = has_nan;
  return above < k;
}

#if MC_VECTORS
// Vectorized rows (unit column stride, C >= the vector width). The last vector of a row may
// overlap the one before (loaded at C - W), which is harmless for ORs of lane bits and masked
// out for counts.
template <class S>
using Mask = typename simd::Vec<S>::mask;

// Any C >= W at run time, k == 0 (index masks) or k >= 1 (lane counts).
template <class S>
inline uint32_t match_vector(const S* row, int32_t C, int32_t t, int64_t k, Mask<S>& nan) {
  using V = simd::Vec<S>;
  constexpr int W = V::lanes;
  const auto s = simd::splat(row[t]);
  if (k == 0) {
    const Mask<S> tv = Mask<S>{} + t;
    Mask<S> idx = V::iota(), beaten = {};
    int32_t j = 0;
    for (; j + W <= C; j += W) {
      const auto v = simd::load(row + j);
      beaten |= (v > s) | ((idx < tv) & (v == s));
      nan |= v != v;
      idx += W;
    }
    if (j < C) {
      const auto v = simd::load(row + C - W);
      idx = V::iota() + (C - W);
      beaten |= (v > s) | ((idx < tv) & (v == s));
      nan |= v != v;
    }
    return simd::bits(beaten) == 0;
  }
  Mask<S> above = {};
  int32_t j = 0;
  for (; j + W <= C; j += W) {
    const auto v = simd::load(row + j);
    above -= v > s;  // true lanes are -1
    nan |= v != v;
  }
  if (j < C) {
    const auto v = simd::load(row + C - W);
    const Mask<S> fresh = (V::iota() + (C - W)) >= (Mask<S>{} + j);  // not counted yet
    above -= (v > s) & fresh;
    nan |= v != v;
  }
  int64_t count = 0;
  for (int l = 0; l < W; ++l) count += above[l];
  return count < k;
}

#endif  // MC_VECTORS

// match[i] for rows [i0, i0 + n) given their (valid) true ids; nonzero if a row holds NaN.
template <class S>
uint32_t row_matches(const Strided2<S>& scores, int64_t i0, int64_t n, int64_t k,
                     const int32_t* tids, uint8_t* match) {
  const int32_t C = static_cast<int32_t>(scores.cols);
#if MC_VECTORS
  if (scores.col_stride == static_cast<int64_t>(sizeof(S)) && C >= simd::Vec<S>::lanes) {
    const char* base = scores.base + i0 * scores.row_stride;
    uint32_t nan = 0;
    if (k == 0 && simd::argmax_rows_fixed<S>(base, scores.row_stride, n, C, tids, match, nan))
      return nan;
    Mask<S> row_nan = {};  // a local: a reference might alias the rows
    for (int64_t i = 0; i < n; ++i) {
      const S* row = reinterpret_cast<const S*>(base + i * scores.row_stride);
      match[i] = static_cast<uint8_t>(match_vector(row, C, tids[i], k, row_nan));
    }
    return simd::bits(row_nan) != 0;
  }
#endif
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto row = scores.row(i0 + i);
    const S s = row[tids[i]];
    uint32_t nan;
    match[i] = static_cast<uint8_t>(k == 0 ? match_argmax(row, C, tids[i], s, nan)
                                           : match_top_k(row, C, k, s, nan));
    bad |= nan;
  }
  return bad;
}

// True ids from class ids; nonzero if one is invalid (the ids are then garbage, and the
// chunk is rescanned, never used).
template <class V>
uint32_t ids_from_labels(V labels, int64_t i0, int64_t n, int32_t C, int32_t* ids) {
  using T = decltype(labels[0]);
  decltype(class_id_error(T{}, 0, 0)) bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T v = labels[i0 + i];
    const int32_t id = class_id_value(v);
    bad |= class_id_error(v, id, C);
    ids[i] = id;
  }
  return bad != 0;
}

// True ids from one-hot-like rows (first argmax); a row holding NaN sets the flag.
template <class T>
uint32_t ids_from_rows(const Strided2<T>& rows, int64_t i0, int64_t n, int32_t* ids) {
#if MC_VECTORS
  if constexpr (IsFloat<T>::value) {
    uint32_t nan = 0;
    if (rows.col_stride == static_cast<int64_t>(sizeof(T)) &&
        simd::argmax_ids_fixed<T>(rows.base + i0 * rows.row_stride, rows.row_stride, n,
                                  static_cast<int32_t>(rows.cols), ids, nan))
      return nan;
  }
#endif
  uint32_t bad = 0;
  const bool contiguous = rows.row(0).is_contiguous();
  for (int64_t i = 0; i < n; ++i) {
    bool nan;
    const int64_t idx = contiguous
                            ? first_argmax(Contig1<T>{rows.row(i0 + i).data()}, rows.cols, nan)
                            : first_argmax(rows.row(i0 + i), rows.cols, nan);
    bad |= static_cast<uint32_t>(nan);
    ids[i] = static_cast<int32_t>(idx);
  }
  return bad;
}

// True ids of rows [i0, i0 + n) (class ids, or the first argmax of one-hot-like rows); nonzero
// if one is invalid.
template <bool TrueRows, class TT>
uint32_t true_ids(const Strided2<TT>& yt, int32_t C, int64_t i0, int64_t n, int32_t* ids) {
  if constexpr (TrueRows) {
    return ids_from_rows(yt, i0, n, ids);
  } else {
    return with_contiguity([&](auto v) { return ids_from_labels(v, i0, n, C, ids); },
                           yt.col(0));
  }
}

// The first bad element of row i in the protocol's order (y_true, y_pred, weight); code OK if
// none.
template <bool TrueRows, class TT, class ST, class WP>
Error row_error(const Strided2<TT>& yt, const Strided2<ST>& yp, const WP& w, int64_t i) {
  const int32_t C = static_cast<int32_t>(yp.cols);
  if constexpr (TrueRows) {
    for (int64_t j = 0; j < yt.cols; ++j)
      if (is_nan(yt(i, j))) return {TRUE_CLASS, i, j};
    if (C == 0) return {TRUE_CLASS, i, 0};
  } else {
    if (class_id(yt(i, 0), C) < 0) return {TRUE_CLASS, i, 0};
  }
  for (int64_t j = 0; j < C; ++j)
    if (is_nan(yp(i, j))) return {NAN_SCORE, i, j};
  if (!w.valid(i, 0)) return {BAD_WEIGHT, i, 0};
  return {};
}

}  // namespace topk_detail

// Adds the batch into out (2,): out[0] += sum w * match, out[1] += sum w; all or nothing.
//   yt: (N, 1) class ids (TrueRows = false) or (N, C) rows; yp: (N, C) scores;
//   w: UnitWeight or ArrayWeight over (N, 1); k: 0 = argmax, >= 1 = in top k.
template <bool TrueRows, class TT, class ST, class WP>
Error topk_matches(const Strided2<TT>& yt, const Strided2<ST>& yp, const WP& w, int64_t k,
                   typename WP::acc_type* out) {
  using namespace topk_detail;
  const int64_t N = yp.rows;
  const int32_t C = static_cast<int32_t>(yp.cols);  // the bindings check it fits
  if (N == 0) return {};

  // The first bad row from i0 on.
  auto first_error = [&](int64_t i0) -> Error {
    for (int64_t i = i0; i < N; ++i) {
      const Error e = row_error<TrueRows>(yt, yp, w, i);
      if (e.code != OK) return e;
    }
    return {};
  };
  if (C == 0) return first_error(0);  // no class id is in range

  int32_t tids[kChunk];
  uint8_t match[kChunk];
  int64_t hits = 0;
  CascadeSum hit_sum, weight_sum;
  for (int64_t i0 = 0; i0 < N; i0 += kChunk) {
    const int64_t n = std::min(kChunk, N - i0);
    uint32_t bad = true_ids<TrueRows>(yt, C, i0, n, tids);
    if (!bad) bad = row_matches(yp, i0, n, k, tids, match);  // needs valid ids: it indexes rows
    if constexpr (WP::weighted) {
      double hits_w = 0.0, weight = 0.0;
      uint32_t bad_weight = 0;
      with_contiguity(
          [&](auto wv) {
#pragma omp simd reduction(+ : hits_w, weight) reduction(| : bad_weight)
            for (int64_t i = 0; i < n; ++i) {
              const auto x = wv[i0 + i];
              bad_weight |= static_cast<uint32_t>(!is_finite_weight(x));
              hits_w += static_cast<double>(x) * match[i];  // a product: never a branch
              weight += static_cast<double>(x);
            }
          },
          w.w.col(0));
      if (bad | bad_weight) return first_error(i0);
      hit_sum.add(hits_w);
      weight_sum.add(weight);
    } else {
      if (bad) return first_error(i0);
      uint32_t chunk_hits = 0;
      for (int64_t i = 0; i < n; ++i) chunk_hits += match[i];
      hits += chunk_hits;
    }
  }
  if constexpr (WP::weighted) {
    out[0] += hit_sum.value();
    out[1] += weight_sum.value();
  } else {
    out[0] += hits;
    out[1] += N;
  }
  return {};
}

}  // namespace metricore
