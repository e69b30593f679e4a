// confusion_matrix: a C x C matrix of (weighted) counts, rows = true class, columns =
// predicted class. See metricore/_backends/protocol.py for the contract.
//
// The batch is read in chunks of kChunk samples, in stages that each vectorize or at least
// stay branch-free: the true ids, the predicted ids (class ids, or each score row's first
// argmax), the weights; each stage ORs a "bad" flag. A chunk with a bad element is rescanned
// in the protocol's order to report the first one. Good chunks go to one of two sinks:
//   * Local: a zeroed local histogram (several interleaved copies for small C, so that runs
//     of equal bins do not serialize on store-to-load forwarding), added to `out` at the end;
//   * TwoPass, when C*C is large next to N (C = 10^4, N = 1000): each sample's flat bin goes
//     to a scratch array in pass 1, and pass 2 scatter-adds into `out` only if pass 1 found
//     no bad element.
// Either way `out` is untouched unless the whole batch is valid, and every index is in range
// whatever the inputs: invalid ids are clamped to 0 before use, ignored samples go to a trash
// row (Local) or are skipped (TwoPass).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "metricore/elementwise.hpp"
#include "metricore/errors.hpp"
#include "metricore/strided.hpp"

namespace metricore {
namespace confusion_detail {

constexpr int64_t kChunk = 1024;

// Class ids of y_true[i0, i0 + n): ignored samples get C (the trash row), invalid ones 0.
// Returns nonzero if a sample that is not ignored holds an invalid id.
template <class V>
uint32_t true_ids(V labels, int64_t i0, int64_t n, int64_t C, bool has_ignore, int64_t ignore,
                  int32_t* ids) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto v = labels[i0 + i];
    const int64_t id = class_id(v, C);
    const bool skip = has_ignore & label_equals(v, ignore);
    bad |= static_cast<uint32_t>((id < 0) & !skip);
    ids[i] = static_cast<int32_t>(skip ? C : (id < 0 ? 0 : id));
  }
  return bad;
}

// Predicted class ids of y_pred[i0, i0 + n) (invalid ones: 0); nonzero if a sample that is
// not ignored (tids[i] != C) holds an invalid id.
template <class V>
uint32_t pred_ids(V labels, int64_t i0, int64_t n, int64_t C, const int32_t* tids,
                  int32_t* ids) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = class_id(labels[i0 + i], C);
    bad |= static_cast<uint32_t>((id < 0) & (tids[i] != C));
    ids[i] = static_cast<int32_t>(id < 0 ? 0 : id);
  }
  return bad;
}

// First maximum of a row of C >= 1 scores; sets nan if the row holds NaN.
template <class Row>
MC_HD inline int64_t first_argmax(Row row, int64_t C, bool& nan) {
  auto best = row[0];
  int64_t idx = 0;
  bool has_nan = is_nan(best);
  for (int64_t j = 1; j < C; ++j) {
    const auto v = row[j];
    has_nan |= is_nan(v);
    const bool greater = v > best;
    best = greater ? v : best;
    idx = greater ? j : idx;
  }
  nan = has_nan;
  return idx;
}

// Predicted ids as the first argmax of each score row of y_pred (C >= 1 columns).
template <class S>
uint32_t pred_argmax(const Strided2<S>& scores, int64_t i0, int64_t n, int64_t C,
                     const int32_t* tids, int32_t* ids) {
  uint32_t bad = 0;
  const bool contiguous = scores.row(0).is_contiguous();
  for (int64_t i = 0; i < n; ++i) {
    bool nan;
    const int64_t idx = contiguous ? first_argmax(Contig1<S>{scores.row(i0 + i).data()}, C, nan)
                                   : first_argmax(scores.row(i0 + i), C, nan);
    bad |= static_cast<uint32_t>(nan & (tids[i] != C));
    ids[i] = static_cast<int32_t>(idx);
  }
  return bad;
}

// Weights of [i0, i0 + n) as float64; nonzero if a sample that is not ignored has a
// non-finite weight.
template <class V>
uint32_t load_weights(V w, int64_t i0, int64_t n, int64_t C, const int32_t* tids, double* out) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto v = w[i0 + i];
    bad |= static_cast<uint32_t>(!is_finite_weight(v) & (tids[i] != C));
    out[i] = static_cast<double>(v);
  }
  return bad;
}

}  // namespace confusion_detail

// Adds the batch into out (C, C), all or nothing.
//   yt: (N,) class ids; yp: (N, 1) class ids (PredScores = false) or (N, C) scores;
//   w: UnitWeight or ArrayWeight over (N, 1); ignore_label: skipped when has_ignore.
template <bool PredScores, class TT, class PT, class WP>
Error confusion_matrix(const Strided1<TT>& yt, const Strided2<PT>& yp, const WP& w,
                       bool has_ignore, int64_t ignore_label, int64_t C,
                       typename WP::acc_type* out) {
  using namespace confusion_detail;
  using Acc = typename WP::acc_type;
  const int64_t N = yt.size;
  if (N == 0) return {};

  // The first bad sample from i0 on, in the protocol's order (y_true, y_pred, weight).
  auto first_error = [&](int64_t i0) -> Error {
    for (int64_t i = i0; i < N; ++i) {
      const TT v = yt[i];
      if (has_ignore && label_equals(v, ignore_label)) continue;
      if (class_id(v, C) < 0) return {TRUE_CLASS, i, 0};
      if constexpr (PredScores) {
        for (int64_t j = 0; j < C; ++j)
          if (is_nan(yp(i, j))) return {NAN_SCORE, i, j};
      } else {
        if (class_id(yp(i, 0), C) < 0) return {PRED_CLASS, i, 0};
      }
      if (!w.valid(i, 0)) return {BAD_WEIGHT, i, 0};
    }
    return {};
  };
  if (C == 0) return first_error(0);  // every sample not ignored is out of range

  const Strided1<TT> yt_view = yt;
  const auto yp_ids = yp.col(0);
  // Validates and labels chunk [i0, i0 + n): tids/pids/wbuf. Returns nonzero if bad.
  auto stage = [&](int64_t i0, int64_t n, int32_t* tids, int32_t* pids, double* wbuf) {
    uint32_t bad = with_contiguity(
        [&](auto v) { return true_ids(v, i0, n, C, has_ignore, ignore_label, tids); }, yt_view);
    if constexpr (PredScores) {
      bad |= pred_argmax(yp, i0, n, C, tids, pids);
    } else {
      bad |= with_contiguity([&](auto v) { return pred_ids(v, i0, n, C, tids, pids); }, yp_ids);
    }
    if constexpr (WP::weighted) {
      bad |= with_contiguity([&](auto v) { return load_weights(v, i0, n, C, tids, wbuf); },
                             w.w.col(0));
    }
    (void)wbuf;
    return bad;
  };

  int32_t tids[kChunk], pids[kChunk];
  double wbuf[WP::weighted ? kChunk : 1];
  const int64_t cells = C * C;
  // Interleaved copies break store-to-load chains when few bins take most samples.
  const int64_t copies = C <= 64 ? 4 : 1;
  const int64_t stride = (C + 1) * C;  // one copy: C rows + the trash row
  const bool local = copies * stride <= std::max<int64_t>(N / 2, 64);

  if (local) {
    std::vector<Acc> hist(static_cast<size_t>(copies * stride), Acc(0));
    Acc* h = hist.data();
    for (int64_t i0 = 0; i0 < N; i0 += kChunk) {
      const int64_t n = std::min(kChunk, N - i0);
      if (stage(i0, n, tids, pids, wbuf)) return first_error(i0);
      if (copies == 4) {
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {
          for (int64_t c = 0; c < 4; ++c) {
            const int64_t bin = c * stride + int64_t(tids[i + c]) * C + pids[i + c];
            if constexpr (WP::weighted) h[bin] += wbuf[i + c]; else h[bin] += 1;
          }
        }
        for (; i < n; ++i) {
          const int64_t bin = int64_t(tids[i]) * C + pids[i];
          if constexpr (WP::weighted) h[bin] += wbuf[i]; else h[bin] += 1;
        }
      } else {
        for (int64_t i = 0; i < n; ++i) {
          const int64_t bin = int64_t(tids[i]) * C + pids[i];
          if constexpr (WP::weighted) h[bin] += wbuf[i]; else h[bin] += 1;
        }
      }
    }
    for (int64_t c = 0; c < copies; ++c) {
      const Acc* hc = h + c * stride;
      for (int64_t k = 0; k < cells; ++k) out[k] += hc[k];
    }
    return {};
  }

  // TwoPass: pass 1 validates and stores each sample's bin (-1: ignored), pass 2 adds.
  std::vector<int64_t> bins(static_cast<size_t>(N));
  for (int64_t i0 = 0; i0 < N; i0 += kChunk) {
    const int64_t n = std::min(kChunk, N - i0);
    if (stage(i0, n, tids, pids, wbuf)) return first_error(i0);
    int64_t* b = bins.data() + i0;
    for (int64_t i = 0; i < n; ++i)
      b[i] = tids[i] == C ? int64_t(-1) : int64_t(tids[i]) * C + pids[i];
  }
  for (int64_t i = 0; i < N; ++i) {
    const int64_t bin = bins[static_cast<size_t>(i)];
    if (bin >= 0) out[bin] += w(i, 0);
  }
  return {};
}

}  // namespace metricore
