// Grouped (sliced) twins of the accumulating families: row i adds exactly what the ungrouped
// kernel would add, into the slice of `out` of its group groups[i]. See GroupedBackend in
// metricore/_backends/protocol.py for the contract.
//
// All or nothing, at a cost that does not grow with G (tens of thousands of groups, a few rows
// each): neither a local copy of `out` nor per-group partial sums, so each kernel runs in two
// passes over the batch:
//   1. validation, chunk by chunk, with the ungrouped kernels' stages plus the group ids; a
//      bad chunk is rescanned row by row in the protocol's order (the group id first in its
//      row) and the first error is returned before `out` is touched;
//   2. accumulation, row by row, into out + (group id) * (the size of one group's slice).
// Each row's bucket, class ids or term is computed once. score_histogram and the moments only
// check in pass 1 (cheap vector loops; only the weights of the moments can be bad) and
// compute in pass 2. confusion_matrix and topk_matches must read whole score rows to
// validate them (NaN), as much work as their argmax or match test, so pass 1 computes the
// result and keeps it for pass 2 (one flat bin or one match flag per row: O(N) memory).
// Float sums are plain float64 additions in row order: blocked summation per group would need
// O(G) partials.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "metricore/confusion_matrix.hpp"
#include "metricore/elementwise.hpp"
#include "metricore/errors.hpp"
#include "metricore/moments.hpp"
#include "metricore/score_histogram.hpp"
#include "metricore/strided.hpp"
#include "metricore/topk_matches.hpp"

namespace metricore {

// The rows' group ids: (N,) int32 or int64 at any stride, valid in [0, count). A run-time
// dtype rather than a template parameter, which would double every kernel's instantiations:
// the kernels read the ids a chunk at a time, through group_bases.
struct GroupIds {
  const char* data = nullptr;
  int64_t size = 0;
  int64_t stride = 0;  // bytes
  bool wide = false;   // int64 (else int32)
  int32_t count = 0;   // G

  template <class T>
  Strided1<T> view() const {
    return {data, size, stride};
  }
  // Whether row i's id lies in [0, G).
  bool valid(int64_t i) const {
    const int32_t id = wide ? class_id(view<int64_t>()[i], count)
                            : class_id(view<int32_t>()[i], count);
    return id >= 0;
  }
};

namespace grouped_detail {

// base[i] = (group id of row i0 + i) * slice, the offset of its group's slice of `out` (a
// group id is range-checked like a class id); nonzero if an id is outside [0, G) (its base is
// then garbage).
template <class V>
uint32_t group_bases(V ids, int64_t i0, int64_t n, int32_t G, int64_t slice,
                     int64_t* __restrict base) {
  using T = decltype(ids[0]);
  decltype(class_id_error(T{}, 0, 0)) bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T v = ids[i0 + i];
    const int32_t id = class_id_value(v);
    bad |= class_id_error(v, id, G);
    base[i] = int64_t(id) * slice;
  }
  return bad != 0;
}

inline uint32_t group_bases(const GroupIds& g, int64_t i0, int64_t n, int64_t slice,
                            int64_t* base) {
  auto run = [&](auto ids) { return group_bases(ids, i0, n, g.count, slice, base); };
  if (g.wide) return with_contiguity(run, g.view<int64_t>());
  return with_contiguity(run, g.view<int32_t>());
}

// The first bad row from i0 on: its group id, then row_error(i) (the family's checks of row
// i, code OK if none).
template <class RowError>
Error first_error(const GroupIds& g, int64_t i0, int64_t N, RowError&& row_error) {
  for (int64_t i = i0; i < N; ++i) {
    if (!g.valid(i)) return {GROUP, i, 0};
    const Error e = row_error(i);
    if (e.code != OK) return e;
  }
  return {};
}

// Nonzero if a weight of rows [r0, r0 + nr) is not finite; scratch takes nr * W doubles.
template <class WP>
uint32_t weights_bad(const WP& w, int64_t r0, int64_t nr, double* scratch) {
  if constexpr (WP::weighted) {
    return moments_detail::load_rows<true>(w.w, r0, nr, scratch);
  } else {
    (void)w, (void)r0, (void)nr, (void)scratch;
    return 0;
  }
}

// rows[r] = row r's (weighted term, weight) of R rows x D columns held as float64 buffers.
template <MomentKind K, int Mode>
void row_terms(const double* t, const double* p, const double* w, int64_t R, int64_t D,
               double param, moments_detail::TermSums* rows) {
  using moments_detail::row_sums;
  if (D == 1) {  // the common case, with D a constant: no inner loops
    for (int64_t r = 0; r < R; ++r) rows[r] = row_sums<K, Mode>(t + r, p + r, w + r, 1, param);
    return;
  }
  const int64_t wd = Mode == moments_detail::kElementWeight ? D : 1;  // weights per row
  for (int64_t r = 0; r < R; ++r)
    rows[r] = row_sums<K, Mode>(t + r * D, p + r * D, w + r * wd, D, param);
}

using RowTermsFn = void (*)(const double*, const double*, const double*, int64_t, int64_t,
                            double, moments_detail::TermSums*);

// COSINE has no element weights (the bindings refuse them): nullptr there.
template <int Mode>
RowTermsFn row_terms_fn(MomentKind kind) {
  return moments_detail::kind_fn(kind, [](auto k) -> RowTermsFn {
    constexpr MomentKind K = decltype(k)::value;
    if constexpr (K == MomentKind::COSINE && Mode == moments_detail::kElementWeight)
      return nullptr;
    else return &row_terms<K, Mode>;
  });
}

}  // namespace grouped_detail

// score_histogram per group: out (G, 2, T + 1, M), sums null or (G, T + 1, M); the other
// arguments as score_histogram's.
template <class LT, class ST, class WP>
Error score_histogram_grouped(const GroupIds& groups, const Strided2<LT>& yt, bool class_ids,
                              const Strided2<ST>& yp, const WP& w, const double* thr,
                              int64_t T, int64_t only_column, typename WP::acc_type* out,
                              int64_t M, double* sums) {
  using namespace score_detail;
  using grouped_detail::group_bases;
  constexpr bool Weighted = WP::weighted;
  const int64_t N = yp.rows, L = yp.cols;
  const int64_t j0 = only_column >= 0 ? only_column : 0;
  const int64_t j1 = only_column >= 0 ? only_column + 1 : L;
  const int32_t B = static_cast<int32_t>(T + 1);  // buckets per histogram
  const int32_t C = static_cast<int32_t>(L);      // classes, for class ids
  // Per counted column, never flattened: a chunk of a run must be a chunk of rows.
  const auto runs = column_runs(yt, class_ids, yp, w, j0, j1, M);
  const int64_t chunk = rows_per_chunk(j1 - j0);
  const BucketCoder coder(thr, T, N * (j1 - j0));
  const int64_t slice = int64_t(B) * M;  // a group's slice of sums; of out: twice that
  int64_t base[kChunk];
  int32_t codes[kChunk];
  double wbuf[Weighted ? kChunk : 1];

  for (int64_t i0 = 0; i0 < N; i0 += chunk) {
    const int64_t n = std::min(chunk, N - i0);
    uint32_t bad = group_bases(groups, i0, n, slice, base);
    for (const auto& r : runs) bad |= check<Weighted>(coder.isa, r, class_ids, C, i0, n);
    // Without columns only the group ids are checked, as the ungrouped kernel checks nothing.
    if (bad)
      return grouped_detail::first_error(groups, i0, N, [&](int64_t i) {
        return L == 0 ? Error{} : row_error(yt, class_ids, yp, w, i, j0, j1);
      });
  }
  for (int64_t i0 = 0; i0 < N; i0 += chunk) {
    const int64_t n = std::min(chunk, N - i0);
    group_bases(groups, i0, n, slice, base);
    for (const auto& r : runs) {
      stage<Weighted>(coder, r, class_ids, C, B, i0, n, codes, wbuf);  // cannot fail now
      scatter_chunk<Weighted>(coder, r, codes, wbuf, base, i0, n, B, M, out, sums);
    }
  }
  return {};
}

// confusion_matrix per group: out (G, C, C); the other arguments as confusion_matrix's.
template <bool PredScores, class TT, class PT, class WP>
Error confusion_matrix_grouped(const GroupIds& groups, const Strided1<TT>& yt,
                               const Strided2<PT>& yp, const WP& w, bool has_ignore,
                               int64_t ignore_label, int32_t C,
                               typename WP::acc_type* out) {
  using namespace confusion_detail;
  const int64_t N = yt.size;
  auto first_error = [&](int64_t i0) {
    return grouped_detail::first_error(groups, i0, N, [&](int64_t i) {
      return sample_error<PredScores>(yt, yp, w, has_ignore, ignore_label, C, i);
    });
  };
  if (C == 0) return first_error(0);  // every sample not ignored is out of range

  std::vector<int64_t> bins(static_cast<size_t>(N));  // a row's cell of out; -1: ignored
  int32_t tids[kChunk], pids[kChunk];
  int64_t base[kChunk];
  double wbuf[WP::weighted ? kChunk : 1];
  for (int64_t i0 = 0; i0 < N; i0 += kChunk) {
    const int64_t n = std::min(kChunk, N - i0);
    const uint32_t bad =
        grouped_detail::group_bases(groups, i0, n, int64_t(C) * C, base) |
        stage<PredScores>(yt, yp, w, has_ignore, ignore_label, C, i0, n, tids, pids, wbuf);
    if (bad) return first_error(i0);
    int64_t* b = bins.data() + i0;
    for (int64_t i = 0; i < n; ++i)
      b[i] = tids[i] == C ? -1 : base[i] + int64_t(tids[i]) * C + pids[i];
  }
  for (int64_t i = 0; i < N; ++i) {
    const int64_t bin = bins[static_cast<size_t>(i)];
    if (bin >= 0) out[bin] += w(i, 0);
  }
  return {};
}

// topk_matches per group: out (G, 2); the other arguments as topk_matches'.
template <bool TrueRows, class TT, class ST, class WP>
Error topk_matches_grouped(const GroupIds& groups, const Strided2<TT>& yt,
                           const Strided2<ST>& yp, const WP& w, int64_t k,
                           typename WP::acc_type* out) {
  using namespace topk_detail;
  using grouped_detail::group_bases;
  const int64_t N = yp.rows;
  const int32_t C = static_cast<int32_t>(yp.cols);
  auto first_error = [&](int64_t i0) {
    return grouped_detail::first_error(groups, i0, N, [&](int64_t i) {
      return row_error<TrueRows>(yt, yp, w, i);
    });
  };
  if (C == 0) return first_error(0);  // no class id is in range

  std::vector<uint8_t> match(static_cast<size_t>(N));
  int32_t tids[kChunk];
  int64_t base[kChunk];
  double wbuf[WP::weighted ? kChunk : 1];
  for (int64_t i0 = 0; i0 < N; i0 += kChunk) {
    const int64_t n = std::min(kChunk, N - i0);
    uint32_t bad = true_ids<TrueRows>(yt, C, i0, n, tids);
    if (!bad) bad = row_matches(yp, i0, n, k, tids, match.data() + i0);  // indexes rows by id
    bad |= group_bases(groups, i0, n, 2, base) | grouped_detail::weights_bad(w, i0, n, wbuf);
    if (bad) return first_error(i0);
  }
  for (int64_t i0 = 0; i0 < N; i0 += kChunk) {
    const int64_t n = std::min(kChunk, N - i0);
    group_bases(groups, i0, n, 2, base);
    for (int64_t i = 0; i < n; ++i) {
      auto* o = out + base[i];
      const auto x = w(i0 + i, 0);
      o[0] += x * match[static_cast<size_t>(i0 + i)];  // a product: never a branch
      o[1] += x;
    }
  }
  return {};
}

// moments per group: out (G, 2) float64; the other arguments as moments'.
template <class TT, class PT, class WP>
Error moments_grouped(const GroupIds& groups, MomentKind kind, double param,
                      const Strided2<TT>& yt, const Strided2<PT>& yp, const WP& w,
                      double* out) {
  using namespace moments_detail;
  using grouped_detail::group_bases;
  const int64_t N = yp.rows, D = yp.cols;  // D >= 1: the bindings refuse D == 0
  int64_t W = 0;
  if constexpr (WP::weighted) W = w.w.cols;
  const int mode = W == 0 ? kNoWeight : (W == 1 ? kRowWeight : kElementWeight);
  const grouped_detail::RowTermsFn fn =
      mode == kNoWeight    ? grouped_detail::row_terms_fn<kNoWeight>(kind)
      : mode == kRowWeight ? grouped_detail::row_terms_fn<kRowWeight>(kind)
                           : grouped_detail::row_terms_fn<kElementWeight>(kind);
  if (fn == nullptr) return {};  // unreachable: the bindings check kind and W

  const int64_t R = std::max<int64_t>(1, kChunkElems / D);  // rows per chunk
  std::vector<double> tb(static_cast<size_t>(R * D)), pb(static_cast<size_t>(R * D));
  std::vector<double> wb(static_cast<size_t>(R * std::max<int64_t>(W, 1)));
  std::vector<TermSums> rows(static_cast<size_t>(R));
  std::vector<int64_t> base(static_cast<size_t>(R));
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int64_t nr = std::min(R, N - r0);
    if (group_bases(groups, r0, nr, 2, base.data()) |
        grouped_detail::weights_bad(w, r0, nr, wb.data()))
      return grouped_detail::first_error(groups, r0, N,
                                         [&](int64_t i) { return first_bad_weight(w, i, 1); });
  }
  const bool reads_true = kind != MomentKind::VALUE;
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int64_t nr = std::min(R, N - r0);
    group_bases(groups, r0, nr, 2, base.data());
    if constexpr (WP::weighted) load_rows<false>(w.w, r0, nr, wb.data());
    if (reads_true) load_rows<false>(yt, r0, nr, tb.data());
    load_rows<false>(yp, r0, nr, pb.data());
    fn(tb.data(), pb.data(), wb.data(), nr, D, param, rows.data());
    for (int64_t r = 0; r < nr; ++r) {
      double* o = out + base[static_cast<size_t>(r)];
      o[0] += rows[static_cast<size_t>(r)].value;
      o[1] += rows[static_cast<size_t>(r)].weight;
    }
  }
  return {};
}

// column_moments per group: out (G, 4, D) float64, one shift (D,) for every group; the other
// arguments as column_moments'.
template <class TT, class PT, class WP>
Error column_moments_grouped(const GroupIds& groups, const Strided2<TT>& yt,
                             const Strided2<PT>& yp, const WP& w, const double* shift,
                             double* out) {
  using namespace moments_detail;
  using grouped_detail::group_bases;
  const int64_t N = yp.rows, D = yp.cols;
  const int64_t R = std::max<int64_t>(kChunkElems / std::max<int64_t>(D, 1), 1);
  std::vector<double> tb(static_cast<size_t>(R * D)), pb(static_cast<size_t>(R * D));
  std::vector<double> wb(static_cast<size_t>(R));
  std::vector<int64_t> base(static_cast<size_t>(R));
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int64_t nr = std::min(R, N - r0);
    if (group_bases(groups, r0, nr, 4 * D, base.data()) |
        grouped_detail::weights_bad(w, r0, nr, wb.data()))
      return grouped_detail::first_error(groups, r0, N,
                                         [&](int64_t i) { return first_bad_weight(w, i, 1); });
  }
  for (int64_t r0 = 0; r0 < N; r0 += R) {
    const int64_t nr = std::min(R, N - r0);
    group_bases(groups, r0, nr, 4 * D, base.data());
    if constexpr (WP::weighted) load_rows<false>(w.w, r0, nr, wb.data());
    load_rows<false>(yt, r0, nr, tb.data());
    load_rows<false>(yp, r0, nr, pb.data());
    for (int64_t r = 0; r < nr; ++r) {
      double* o = out + base[static_cast<size_t>(r)];
      const double x = WP::weighted ? wb[static_cast<size_t>(r)] : 1.0;
      const double* t = tb.data() + r * D;
      const double* p = pb.data() + r * D;
      for (int64_t j = 0; j < D; ++j) {  // out[g, 0..3, j]
        const double d = t[j] - shift[j], e = t[j] - p[j];
        o[j] += x;
        o[D + j] += x * d;
        o[2 * D + j] += x * d * d;
        o[3 * D + j] += x * e * e;
      }
    }
  }
  return {};
}

}  // namespace metricore
