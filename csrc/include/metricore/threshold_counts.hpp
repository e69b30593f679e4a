// threshold_counts: TP/FP/TN/FN at T thresholds for L binary labels, in one pass (Keras'
// update_confusion_matrix_variables). See metricore/_backends/protocol.py for the contract.
//
// Each counted element adds its weight to one bucket of a histogram: bucket b = the number of
// thresholds strictly below the score (bucket_index), in the positive histogram if y_true is 1
// else the negative one. At the end TP[t] = sum of positive buckets b > t, FN[t] = sum of
// positive buckets b <= t, and FP/TN likewise from the negative histogram; each of the four is
// its own prefix/suffix sum (never TN = total - FP, which cancels for float weights).
//
// The histograms are a local delta: `out` is touched only after the whole batch validated.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <vector>

#include "metricore/elementwise.hpp"
#include "metricore/errors.hpp"
#include "metricore/strided.hpp"
#include "metricore/summation.hpp"

namespace metricore {
namespace threshold_detail {

// Elements per validation block: a block holding a bad element stops the pass, and the
// element is then found by first_error.
constexpr int64_t kBlock = 4096;

// The first bad element of rows [r0, rows), in the protocol's order: row-major, and within an
// element y_true (counted columns), y_pred (counted columns, or every column top_k ranks),
// then the weight (counted columns). Called only once a block is known to hold one.
template <class LT, class ST, class WP>
Error first_error(const Strided2<LT>& yt, const Strided2<ST>& yp, const WP& w, int64_t r0,
                  int64_t j0, int64_t j1, bool ranked) {
  for (int64_t i = r0; i < yt.rows; ++i) {
    for (int64_t j = 0; j < yt.cols; ++j) {
      const bool counted = j >= j0 && j < j1;
      if (counted && !is_binary_label(yt(i, j))) return {BINARY_LABEL, i, j};
      if ((counted || ranked) && is_nan(yp(i, j))) return {NAN_SCORE, i, j};
      if (counted && !w.valid(i, j)) return {BAD_WEIGHT, i, j};
    }
  }
  return {};
}

// The largest float32 not above x: for a float32 p, p > x (compared in float64) iff
// p > float_floor(x) (compared in float32), which lets the binary loop stay in float32.
inline float float_floor(double x) {
  float f = static_cast<float>(x);
  if (static_cast<double>(f) > x) f = std::nextafter(f, -INFINITY);
  return f;
}

// One threshold, no weights, elements [i0, i1): TP, predicted-positive and true counts in
// counters of type Ctr, branch-free, so that it vectorizes. With uint8_t counters (blocks of
// at most 255 elements) the compare masks stay bytes next to the int8/bool labels: four times
// fewer vector operations than with 32-bit counters.
template <class Ctr, class TV, class PV, class S>
inline uint32_t binary_block(TV t, PV p, int64_t i0, int64_t i1, S thr, int64_t* counts) {
  using LT = decltype(t[0]);
  Ctr tp = 0, npos = 0, ntrue = 0, bad = 0;
  for (int64_t i = i0; i < i1; ++i) {
    const LT lv = t[i];
    const S sv = p[i];
    const Ctr predicted = sv > thr;
    const Ctr truth = lv == LT(1);
    tp += predicted & truth;
    npos += predicted;
    ntrue += truth;
    bad |= static_cast<Ctr>(!is_binary_label(lv)) | static_cast<Ctr>(is_nan(sv));
  }
  counts[0] += tp;
  counts[1] += npos;
  counts[2] += ntrue;
  return bad;
}

// One threshold, no weights: exact int64 counts. The bad flag is checked once at the end
// (the counts are local until then); returns 0 (rescan from the start) or -1.
template <class TV, class PV, class S>
int64_t binary_counts(TV t, PV p, int64_t n, S thr, int64_t* neg, int64_t* pos) {
  constexpr int64_t kByteBlock = 240;  // < 256, and a multiple of every vector width
  int64_t counts[3] = {0, 0, 0};  // TP, predicted positive, true
  uint32_t bad = 0;
  int64_t b0 = 0;
  for (; b0 + kByteBlock <= n; b0 += kByteBlock)
    bad |= binary_block<uint8_t>(t, p, b0, b0 + kByteBlock, thr, counts);
  bad |= binary_block<uint32_t>(t, p, b0, n, thr, counts);
  if (bad) return 0;
  const int64_t tp = counts[0], npos = counts[1], ntrue = counts[2];
  // Integer counts: the differences are exact.
  pos[1] += tp;                     // TP
  pos[0] += ntrue - tp;             // FN
  neg[1] += npos - tp;              // FP
  neg[0] += n - ntrue - npos + tp;  // TN
  return -1;
}

// One threshold, weights: a 4-bin histogram (truth x predicted) in 4 interleaved copies, so
// consecutive elements do not wait on each other's store; each bin is its own sum (no
// differences of sums).
template <class TV, class PV, class WV, class S>
int64_t binary_sums(TV t, PV p, WV w, int64_t n, S thr, double* neg, double* pos) {
  using LT = decltype(t[0]);
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t b1 = std::min(n, b0 + kBlock);
    double h[4][4] = {};  // [copy][2 * truth + predicted]
    uint32_t bad = 0;
    for (int64_t i = b0; i < b1; ++i) {
      const LT lv = t[i];
      const S sv = p[i];
      const auto wv = w[i];
      bad |= static_cast<uint32_t>(!is_binary_label(lv)) | static_cast<uint32_t>(is_nan(sv)) |
             static_cast<uint32_t>(!is_finite_weight(wv));
      h[i & 3][2 * (lv == LT(1)) + (sv > thr)] += static_cast<double>(wv);
    }
    if (bad) return b0;
    for (int q = 0; q < 4; ++q) {
      const double sum = (h[0][q] + h[1][q]) + (h[2][q] + h[3][q]);
      (q >= 2 ? pos : neg)[q & 1] += sum;  // q = 2 * truth + predicted
    }
  }
  return -1;
}

// thresholds between -inf and +inf sentinels, for bucket_index_guess.
inline std::vector<double> padded_thresholds(const double* thr, int64_t T) {
  std::vector<double> padded(static_cast<size_t>(T + 2));
  padded[0] = -INFINITY;
  std::copy(thr, thr + T, padded.begin() + 1);
  padded[static_cast<size_t>(T + 1)] = INFINITY;
  return padded;
}

// Any number of thresholds: bucket_index_guess per element, into 4 interleaved histogram
// copies (a run of equal buckets does not serialize on one counter).
template <class TV, class PV, class WV, class Acc>
int64_t bucket_sums(TV t, PV p, WV w, int64_t n, const double* thr, int64_t T, Acc* neg) {
  using LT = decltype(t[0]);
  const int64_t B = T + 1;  // neg[0..B) then pos[0..B)
  const double scale = bucket_guess_scale(thr, T);
  const std::vector<double> padded = padded_thresholds(thr, T);
  std::vector<Acc> copies(static_cast<size_t>(4 * 2 * B), Acc(0));
  Acc* h = copies.data();
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t b1 = std::min(n, b0 + kBlock);
    uint32_t bad = 0;
    for (int64_t i = b0; i < b1; ++i) {
      const LT lv = t[i];
      const auto sv = p[i];
      const auto wv = w[i];
      bad |= static_cast<uint32_t>(!is_binary_label(lv)) | static_cast<uint32_t>(is_nan(sv)) |
             static_cast<uint32_t>(!is_finite_weight(wv));
      const int64_t b = T == 1 ? static_cast<int64_t>(sv > thr[0])
                               : bucket_index_guess(padded.data(), T, scale,
                                                    static_cast<double>(sv));
      // (B & -truth), not (truth ? B : 0): GCC makes the latter a branch, 50% mispredicted.
      h[(i & 3) * 2 * B + (B & -static_cast<int64_t>(lv == LT(1))) + b] += static_cast<Acc>(wv);
    }
    if (bad) return b0;  // the local histograms are discarded: nothing to undo
  }
  for (int64_t k = 0; k < 2 * B; ++k)
    neg[k] += (h[k] + h[2 * B + k]) + (h[4 * B + k] + h[6 * B + k]);
  return -1;
}

// Unit weights for bucket_sums.
struct Ones {
  MC_HD int64_t operator[](int64_t) const { return 1; }
};

// One counted column (or a flattened array) as a 1-D problem into a (neg, pos) histogram
// pair, contiguous or strided. Returns -1, or an element at or before the first bad one
// (the start of its block, or 0).
template <class LT, class ST>
int64_t column_unweighted(const Strided1<LT>& t, const Strided1<ST>& p, int64_t n,
                          const double* thr, int64_t T, int64_t* neg) {
  return with_contiguity(
      [&](auto tv, auto pv) -> int64_t {
        if (T == 1) {
          if constexpr (std::is_same_v<ST, float>) {
            return binary_counts(tv, pv, n, float_floor(thr[0]), neg, neg + 2);
          } else {
            return binary_counts(tv, pv, n, thr[0], neg, neg + 2);
          }
        }
        return bucket_sums(tv, pv, Ones{}, n, thr, T, neg);
      },
      t, p);
}

template <class LT, class ST, class W>
int64_t column_weighted(const Strided1<LT>& t, const Strided1<ST>& p, const Strided1<W>& w,
                        int64_t n, const double* thr, int64_t T, double* neg) {
  return with_contiguity(
      [&](auto tv, auto pv, auto wv) -> int64_t {
        if (T == 1) {
          if constexpr (std::is_same_v<ST, float>) {
            return binary_sums(tv, pv, wv, n, float_floor(thr[0]), neg, neg + 2);
          } else {
            return binary_sums(tv, pv, wv, n, thr[0], neg, neg + 2);
          }
        }
        return bucket_sums(tv, pv, wv, n, thr, T, neg);
      },
      t, p, w);
}

// kept[j] = 1 for the k largest scores of a row, ties going to the lower column (exactly k
// kept, like ops.top_k), else 0. O(L) on average: nth_element finds the k-th largest value v,
// then every score > v is kept plus the first (k - #{> v}) scores equal to v. `row` holds
// the row's scores (no NaN), `work` has room for L of them.
template <class ST>
void top_k_mask(const ST* row, int64_t L, int64_t k, ST* work, uint8_t* kept) {
  if (k >= L) {
    std::fill(kept, kept + L, uint8_t(1));
    return;
  }
  std::fill(kept, kept + L, uint8_t(0));
  if (k == 1) {
    int64_t best = 0;
    for (int64_t j = 1; j < L; ++j) best = row[j] > row[best] ? j : best;
    kept[best] = 1;
    return;
  }
  std::copy(row, row + L, work);
  std::nth_element(work, work + (k - 1), work + L, std::greater<ST>());
  const ST v = work[k - 1];
  int64_t above = 0;
  for (int64_t j = 0; j < L; ++j) above += row[j] > v;
  int64_t ties = k - above;  // how many scores equal to v are kept, first ones first
  for (int64_t j = 0; j < L; ++j) {
    const bool tie = row[j] == v && ties > 0;
    ties -= tie;
    kept[j] = static_cast<uint8_t>((row[j] > v) | tie);
  }
}

}  // namespace threshold_detail

// Adds the batch's confusion counts into out (4, T, M), rows TP, FP, TN, FN; all or nothing.
//   yt, yp: (N, L); w: UnitWeight or ArrayWeight over (N, L); thr: (T,) sorted;
//   top_k: 0 = off; class_id: -1 = every column, else that column only (then M == 1);
//   M == L (per label) or 1 (pooled).
template <class LT, class ST, class WP>
Error threshold_counts(const Strided2<LT>& yt, const Strided2<ST>& yp, const WP& w,
                       const double* thr, int64_t T, int64_t top_k, int64_t class_id,
                       typename WP::acc_type* out, int64_t M) {
  using namespace threshold_detail;
  using Acc = typename WP::acc_type;
  const int64_t N = yt.rows, L = yt.cols;
  if (N == 0 || L == 0) return {};
  const int64_t j0 = class_id >= 0 ? class_id : 0;
  const int64_t j1 = class_id >= 0 ? class_id + 1 : L;
  const int64_t B = T + 1;  // buckets per histogram
  std::vector<Acc> hist(static_cast<size_t>(M * 2 * B), Acc(0));  // [m][neg, pos][bucket]

  // A single counted column, or a pooled array whose elements flatten to one strided run:
  // a 1-D problem.
  bool one_d = false;
  Strided1<LT> t1;
  Strided1<ST> p1;
  if (top_k == 0 && j1 - j0 == 1) {
    one_d = true;
    t1 = yt.col(j0);
    p1 = yp.col(j0);
  } else if (top_k == 0 && M == 1 && yt.flattens() && yp.flattens()) {
    if constexpr (WP::weighted) {
      one_d = w.w.flattens();
    } else {
      one_d = true;
    }
    t1 = yt.flat();
    p1 = yp.flat();
  }
  if (one_d) {
    const int64_t n = t1.size;
    int64_t bad;
    if constexpr (WP::weighted) {
      const auto wv = j1 - j0 == 1 ? w.w.col(j0) : w.w.flat();
      bad = column_weighted(t1, p1, wv, n, thr, T, hist.data());
    } else {
      bad = column_unweighted(t1, p1, n, thr, T, hist.data());
    }
    if (bad >= 0) return first_error(yt, yp, w, j1 - j0 == 1 ? bad : bad / L, j0, j1, false);
  } else {
    // General rows: top_k, per-label histograms, or strides that do not flatten.
    std::vector<ST> row(top_k > 0 ? L : 0), work(top_k > 0 ? L : 0);
    std::vector<uint8_t> kept(static_cast<size_t>(L), uint8_t(1));  // all kept without top_k
    const double scale = bucket_guess_scale(thr, T);
    const std::vector<double> padded = padded_thresholds(thr, T);
    for (int64_t i = 0; i < N; ++i) {
      if (top_k > 0) {
        bool nan = false;
        for (int64_t j = 0; j < L; ++j) {
          row[j] = yp(i, j);
          nan |= is_nan(row[j]);
        }
        if (nan) return first_error(yt, yp, w, i, j0, j1, true);
        top_k_mask(row.data(), L, top_k, work.data(), kept.data());
      }
      for (int64_t j = j0; j < j1; ++j) {
        const LT lv = yt(i, j);
        const ST sv = yp(i, j);
        if (!is_binary_label(lv) || is_nan(sv) || !w.valid(i, j))
          return first_error(yt, yp, w, i, j0, j1, top_k > 0);
        // A column top_k drops is a negative prediction everywhere: bucket 0.
        const int64_t b = (T == 1 ? static_cast<int64_t>(sv > thr[0])
                                  : bucket_index_guess(padded.data(), T, scale,
                                                       static_cast<double>(sv))) &
                          -static_cast<int64_t>(kept[j]);
        hist[((M == 1 ? 0 : j) * 2 + (lv == LT(1))) * B + b] += w(i, j);
      }
    }
  }

  // Commit: out[q][t][m] += the four prefix/suffix sums.
  const int64_t TM = T * M;
  for (int64_t m = 0; m < M; ++m) {
    const Acc* neg = hist.data() + m * 2 * B;
    const Acc* pos = neg + B;
    Acc tp = 0, fp = 0, tn = 0, fn = 0;
    for (int64_t t = T - 1; t >= 0; --t) {  // predicted positive at t: buckets b > t
      tp += pos[t + 1];
      fp += neg[t + 1];
      out[0 * TM + t * M + m] += tp;
      out[1 * TM + t * M + m] += fp;
    }
    for (int64_t t = 0; t < T; ++t) {  // predicted negative at t: buckets b <= t
      tn += neg[t];
      fn += pos[t];
      out[2 * TM + t * M + m] += tn;
      out[3 * TM + t * M + m] += fn;
    }
  }
  return {};
}

}  // namespace metricore
