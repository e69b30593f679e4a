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
// Either way `out` is untouched unless the whole batch is valid, and no index goes out of
// range whatever the inputs: the ids of a chunk are used only once the chunk validated,
// ignored samples go to a trash row (Local) or are skipped (TwoPass).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "metricore/elementwise.hpp"
#include "metricore/errors.hpp"
#include "metricore/simd.hpp"
#include "metricore/strided.hpp"

namespace metricore {
namespace confusion_detail {

constexpr int64_t kChunk = 1024;

// Class ids of y_true[i0, i0 + n) into tids: ignored samples get C (the trash row).
// Returns nonzero if a sample that is not ignored holds an invalid id (its tid is then
// garbage: a bad chunk is never scattered).
template <bool HasIgnore, class V>
uint32_t true_ids(V labels, int64_t i0, int64_t n, int32_t C, int64_t ignore, int32_t* tids) {
  using T = decltype(labels[0]);
  decltype(class_id_error(T{}, 0, 0)) bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T v = labels[i0 + i];
    const int32_t id = class_id_value(v);
    if constexpr (HasIgnore) {
      const bool skip = label_equals(v, ignore);
      bad |= skip ? 0 : class_id_error(v, id, C);
      tids[i] = skip ? C : id;
    } else {
      bad |= class_id_error(v, id, C);
      tids[i] = id;
    }
  }
  return bad != 0;
}

// True and predicted class ids in one loop (y_pred holds class ids). As true_ids; an invalid
// predicted id of an ignored sample is no error.
template <bool HasIgnore, class TV, class PV>
uint32_t true_pred_ids(TV labels, PV preds, int64_t i0, int64_t n, int32_t C, int64_t ignore,
                       int32_t* tids, int32_t* pids) {
  using T = decltype(labels[0]);
  using P = decltype(preds[0]);
  decltype(class_id_error(T{}, 0, 0)) bad_true = 0;
  decltype(class_id_error(P{}, 0, 0)) bad_pred = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T v = labels[i0 + i];
    const P u = preds[i0 + i];
    const int32_t tid = class_id_value(v);
    const int32_t pid = class_id_value(u);
    if constexpr (HasIgnore) {
      const bool skip = label_equals(v, ignore);
      bad_true |= skip ? 0 : class_id_error(v, tid, C);
      bad_pred |= skip ? 0 : class_id_error(u, pid, C);
      tids[i] = skip ? C : tid;
      pids[i] = skip ? 0 : pid;
    } else {
      bad_true |= class_id_error(v, tid, C);
      bad_pred |= class_id_error(u, pid, C);
      tids[i] = tid;
      pids[i] = pid;
    }
  }
  return (bad_true | bad_pred) != 0;
}

// Predicted ids as the first argmax of each score row of y_pred (C >= 1 columns).
template <class S>
uint32_t pred_argmax(const Strided2<S>& scores, int64_t i0, int64_t n, int32_t C,
                     const int32_t* tids, int32_t* ids) {
#if MC_VECTORS
  if (scores.col_stride == static_cast<int64_t>(sizeof(S))) {
    uint32_t nan = 0;
    if (simd::argmax_ids_fixed<S>(scores.base + i0 * scores.row_stride, scores.row_stride, n, C,
                                  ids, nan) &&
        !nan)
      return 0;
    // Other C, or a NaN somewhere: the loop below decides whether its row is ignored.
  }
#endif
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
uint32_t load_weights(V w, int64_t i0, int64_t n, int32_t C, const int32_t* tids, double* out) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto v = w[i0 + i];
    bad |= static_cast<uint32_t>(!is_finite_weight(v) & (tids[i] != C));
    out[i] = static_cast<double>(v);
  }
  return bad;
}

// Validates chunk [i0, i0 + n) into tids (C: ignored), pids and wbuf (weights); nonzero if
// it holds a bad sample (the ids are then garbage).
template <bool PredScores, class TT, class PT, class WP>
uint32_t stage(const Strided1<TT>& yt, const Strided2<PT>& yp, const WP& w, bool has_ignore,
               int64_t ignore_label, int32_t C, int64_t i0, int64_t n, int32_t* tids,
               int32_t* pids, double* wbuf) {
  uint32_t bad;
  if constexpr (PredScores) {
    bad = with_contiguity(
        [&](auto v) {
          return has_ignore ? true_ids<true>(v, i0, n, C, ignore_label, tids)
                            : true_ids<false>(v, i0, n, C, ignore_label, tids);
        },
        yt);
    // A bad true id would index nothing here, but it makes the chunk bad anyway.
    if (!bad) bad = pred_argmax(yp, i0, n, C, tids, pids);
  } else {
    bad = with_contiguity(
        [&](auto tv, auto pv) {
          return has_ignore ? true_pred_ids<true>(tv, pv, i0, n, C, ignore_label, tids, pids)
                            : true_pred_ids<false>(tv, pv, i0, n, C, ignore_label, tids, pids);
        },
        yt, yp.col(0));
  }
  if constexpr (WP::weighted) {
    if (!bad)
      bad = with_contiguity([&](auto v) { return load_weights(v, i0, n, C, tids, wbuf); },
                            w.w.col(0));
  }
  (void)wbuf;
  return bad;
}

// The first bad element of sample i in the protocol's order (y_true, y_pred, weight); code OK
// if none or if the sample is ignored.
template <bool PredScores, class TT, class PT, class WP>
Error sample_error(const Strided1<TT>& yt, const Strided2<PT>& yp, const WP& w,
                   bool has_ignore, int64_t ignore_label, int32_t C, int64_t i) {
  const TT v = yt[i];
  if (has_ignore && label_equals(v, ignore_label)) return {};
  if (class_id(v, C) < 0) return {TRUE_CLASS, i, 0};
  if constexpr (PredScores) {
    for (int64_t j = 0; j < C; ++j)
      if (is_nan(yp(i, j))) return {NAN_SCORE, i, j};
  } else {
    if (class_id(yp(i, 0), C) < 0) return {PRED_CLASS, i, 0};
  }
  if (!w.valid(i, 0)) return {BAD_WEIGHT, i, 0};
  return {};
}

}  // namespace confusion_detail

// Adds the batch into out (C, C), all or nothing.
//   yt: (N,) class ids; yp: (N, 1) class ids (PredScores = false) or (N, C) scores;
//   w: UnitWeight or ArrayWeight over (N, 1); ignore_label: skipped when has_ignore.
template <bool PredScores, class TT, class PT, class WP>
Error confusion_matrix(const Strided1<TT>& yt, const Strided2<PT>& yp, const WP& w,
                       bool has_ignore, int64_t ignore_label, int32_t C,
                       typename WP::acc_type* out) {
  using namespace confusion_detail;
  using Acc = typename WP::acc_type;
  const int64_t N = yt.size;
  if (N == 0) return {};

  // The first bad sample from i0 on.
  auto first_error = [&](int64_t i0) -> Error {
    for (int64_t i = i0; i < N; ++i) {
      const Error e = sample_error<PredScores>(yt, yp, w, has_ignore, ignore_label, C, i);
      if (e.code != OK) return e;
    }
    return {};
  };
  if (C == 0) return first_error(0);  // every sample not ignored is out of range

  auto stage_chunk = [&](int64_t i0, int64_t n, int32_t* tids, int32_t* pids, double* wbuf) {
    return confusion_detail::stage<PredScores>(yt, yp, w, has_ignore, ignore_label, C, i0, n,
                                               tids, pids, wbuf);
  };

  int32_t tids[kChunk], pids[kChunk];
  double wbuf[WP::weighted ? kChunk : 1];
  const int64_t cells = int64_t(C) * C;
  // Interleaved copies break store-to-load chains when few bins take most samples.
  const int64_t copies = C <= 64 ? 4 : 1;
  const int64_t stride = cells + C;  // one copy: C rows + the trash row
  const bool local = copies * stride <= std::max<int64_t>(N / 2, 64);

  if (local) {
    std::vector<Acc> hist(static_cast<size_t>(copies * stride), Acc(0));
    Acc* h = hist.data();
    for (int64_t i0 = 0; i0 < N; i0 += kChunk) {
      const int64_t n = std::min(kChunk, N - i0);
      if (stage_chunk(i0, n, tids, pids, wbuf)) return first_error(i0);
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
  auto two_pass = [&](auto bin_tag) -> Error {
    using Bin = decltype(bin_tag);
    std::vector<Bin> bins(static_cast<size_t>(N));
    for (int64_t i0 = 0; i0 < N; i0 += kChunk) {
      const int64_t n = std::min(kChunk, N - i0);
      if (stage_chunk(i0, n, tids, pids, wbuf)) return first_error(i0);
      Bin* b = bins.data() + i0;
      for (int64_t i = 0; i < n; ++i)
        b[i] = tids[i] == C ? Bin(-1) : Bin(tids[i]) * C + pids[i];  // -1: ignored
    }
    for (int64_t i = 0; i < N; ++i) {
      const Bin bin = bins[static_cast<size_t>(i)];
      if (bin >= 0) out[bin] += w(i, 0);
    }
    return {};
  };
  if (cells < INT32_MAX) return two_pass(int32_t{});
  return two_pass(int64_t{});
}

}  // namespace metricore
