// score_histogram: per-bucket weight of positive and negative elements (and optionally of
// weight * score), the one pass of every threshold curve. See metricore/_backends/protocol.py
// for the contract.
//
// The counted elements are one or more "runs": each counted column of (N, L), or, when M == 1
// and the strides allow it, all counted elements as one flattened run. The runs are read in
// chunks of up to kChunk rows, in stages that vectorize (detail/score_stages.inc, compiled
// for the baseline vector unit and, on x86-64 GCC, also for AVX2 and AVX-512, chosen at run
// time):
//   1. the score's bucket code: bucket_grid_code when the thresholds are (nearly) evenly
//      spaced (a few vector operations, no table lookup; set up in O(T) for big batches), else
//      bucket_index_near per element (O(1) setup, for small batches or uneven thresholds);
//   2. the label's offset (binary labels, or one-vs-rest class ids), validating it;
//   3. the weight as float64, validating it.
// Then a scalar loop scatter-adds each element straight into `out` (and `score_sums`),
// settling the rare ambiguous grid codes with one threshold comparison.
//
// All or nothing:
//   * small batches (fewer elements than out's size) are scattered straight into `out`: no
//     T-sized local histogram to zero and add, so their cost does not grow with T.
//     Unweighted counts are validated chunk by chunk as they are scattered, and if a chunk
//     turns out bad the chunks before it are subtracted again (integer counts: exact); with
//     weights or score sums (float adds do not undo exactly) a pre-pass validates the whole
//     batch first;
//   * big batches are validated chunk by chunk as they are scattered (a separate pre-pass
//     would read the whole batch from memory twice). Unweighted counts go to a local
//     histogram (a small one of uint32 counts in kCopies copies, so that runs of elements in
//     one bucket do not wait on each other's add; a big one of uint8 counts, logging their
//     carries, see kNarrowAbove), added to `out` at the end (and dropped if a chunk turns
//     out bad); weights go straight to `out`, and score sums to `score_sums`, copied first
//     (O(T), no more than the batch) and restored if a chunk turns out bad.
// Either way a bad batch is then rescanned in the protocol's order to report its first error.
//
// Big batches with many buckets (T = 65,536: a 1 MiB int64 histogram) are bound by the cache
// more than by arithmetic: nearly every element's scatter misses L1, and the histogram's lines
// crowd the streamed input out of L2, so that the hardware prefetcher loses its lead and each
// chunk waits on memory. Hence the uint8 local counts (an eighth of the footprint) and a
// software prefetch of the rows ahead while the current chunk is coded and scattered.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <memory>
#include <vector>

#include "metricore/elementwise.hpp"
#include "metricore/errors.hpp"
#include "metricore/strided.hpp"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__AVX2__) && \
    !defined(MC_NO_AVX2_DISPATCH)
#define MC_SCORE_ISA_DISPATCH 1
#else
#define MC_SCORE_ISA_DISPATCH 0
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define MC_PREFETCH_FN __attribute__((noipa))
#else
#define MC_PREFETCH_FN
#endif

namespace metricore {
namespace score_detail {

namespace isa_base {
#include "metricore/detail/score_stages.inc"
}  // namespace isa_base

#if MC_SCORE_ISA_DISPATCH
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace isa_avx2 {
#include "metricore/detail/score_stages.inc"
}  // namespace isa_avx2
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512vl,avx512bw,avx512dq")
namespace isa_avx512 {
#include "metricore/detail/score_stages.inc"
}  // namespace isa_avx512
#pragma GCC pop_options
#endif

// The widest stage set the CPU runs: 0 baseline, 1 AVX2, 2 AVX-512. set_isa_level lowers it
// (tests run every level) and returns the previous one.
inline int max_isa_level() {
#if MC_SCORE_ISA_DISPATCH
  static const int level = [] {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("fma"))
      return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
  }();
  return level;
#else
  return 0;
#endif
}

inline int& isa_level_ref() {
  static int level = max_isa_level();
  return level;
}

inline int set_isa_level(int level) {
  const int previous = isa_level_ref();
  isa_level_ref() = std::max(0, std::min(level, max_isa_level()));
  return previous;
}

#if MC_SCORE_ISA_DISPATCH
#define MC_SCORE_STAGE(fn, ...)                                      \
  (isa == 2   ? ::metricore::score_detail::isa_avx512::fn(__VA_ARGS__) \
   : isa == 1 ? ::metricore::score_detail::isa_avx2::fn(__VA_ARGS__)   \
              : ::metricore::score_detail::isa_base::fn(__VA_ARGS__))
#else
#define MC_SCORE_STAGE(fn, ...) ::metricore::score_detail::isa_base::fn(__VA_ARGS__)
#endif

constexpr int64_t kChunk = 512;
constexpr int64_t kCacheLine = 64;
// Big batches prefetch the next chunk's rows when their histograms exceed about an L1 (below
// that the hardware prefetcher keeps up, and the hints only cost).
constexpr int64_t kPrefetchAbove = 32 * 1024;  // bytes
// Local count histograms of up to kCopiesBelow bytes are kept in kCopies copies, element i
// adding to copy i % kCopies: consecutive elements in one bucket (the scores of a confident
// model: most near 0 or 1) then do not wait on each other's add through memory.
constexpr int64_t kCopies = 4;
constexpr int64_t kCopiesBelow = 32 * 1024;  // bytes
// Local count histograms of more than kNarrowAbove bytes as uint32 (more than about an L1)
// are uint8 counts instead, a count that wraps to 0 logging a carry of 256 (count_one): a
// quarter of the footprint, for a scatter bound by its cache misses (65,536 thresholds:
// 128 KiB instead of 512 KiB).
constexpr int64_t kNarrowAbove = 32 * 1024;  // bytes
// Small batches into big histograms (straight into out, validated as they are scattered)
// prefetch the rows this many chunks ahead: measured best of 1, 2, 4 and 8 (65,536
// thresholds, batch 65,536).
constexpr int64_t kDirectAhead = 2;

// Prefetches rows [r0, r1) (clipped to the view) x columns [c0, c1) of `a` into every cache
// level, if their bytes are dense: they span at most about twice what the block holds (a
// column of a wide matrix is not dense, its lines hold mostly other columns; any strides, also
// 0 or negative). A hint only: never faults. Not inlined: GCC finds a function that only
// prefetches free of side effects and drops the calls to it (ipa-pure-const), unless noipa.
template <class T>
MC_PREFETCH_FN void prefetch_block(const Strided2<T>& a, int64_t r0, int64_t r1, int64_t c0,
                                   int64_t c1) {
#if defined(__GNUC__)
  r1 = std::min(r1, a.rows);
  if (r1 <= r0 || c1 <= c0) return;
  const int64_t item = sizeof(T);
  const int64_t first = r0 * a.row_stride + c0 * a.col_stride;
  const int64_t rows_span = (r1 - 1 - r0) * a.row_stride;
  const int64_t cols_span = (c1 - 1 - c0) * a.col_stride;
  const int64_t lo = first + std::min<int64_t>(rows_span, 0) + std::min<int64_t>(cols_span, 0);
  const int64_t hi =
      first + std::max<int64_t>(rows_span, 0) + std::max<int64_t>(cols_span, 0) + item;
  if (hi - lo > 2 * (r1 - r0) * (c1 - c0) * item + kCacheLine) return;
  // Integer addresses: the first line may start before the array.
  const uintptr_t base = reinterpret_cast<uintptr_t>(a.base);
  for (uintptr_t line = (base + lo) & ~uintptr_t(kCacheLine - 1); line < base + hi;
       line += kCacheLine)
    __builtin_prefetch(reinterpret_cast<const void*>(line));
#else
  (void)a, (void)r0, (void)r1, (void)c0, (void)c1;
#endif
}

// The grid for bucket_grid_code if the thresholds suit it (O(T)); false otherwise.
inline bool make_grid(const double* thr, int64_t T, int isa, BucketGrid& grid) {
  if (T >= (int64_t(1) << 28)) return false;
  (void)isa;
  const double inf = std::numeric_limits<double>::infinity();
  grid = BucketGrid{};
  grid.num_thresholds = T;
  grid.near_scale = bucket_guess_scale(thr, T);
  grid.first = T >= 1 ? thr[0] : inf;
  grid.last = T >= 2 ? thr[T - 1] : inf;
  const int64_t interior = T >= 2 ? T - 2 : 0;
  grid.top = static_cast<double>(interior) + 0.5;
  if (interior == 0) return true;  // every score has g = 0.5: no interior threshold
  grid.lo = thr[1];
  grid.scale = interior == 1 ? 1.0 : bucket_guess_scale(thr + 1, interior);
  if (!(grid.scale > 0.0)) return false;
  const double dev =
      MC_SCORE_STAGE(grid_deviation, thr + 1, static_cast<int32_t>(interior), grid);
  if (!(dev >= 0.0)) return false;
  // Slack for the rounding of g +- margin and for FMA contraction differences between the
  // stages and this setup: a few ulps of the interior count, far below 2^-44 of it.
  grid.margin = dev + std::ldexp(static_cast<double>(interior + 2), -44);
  return grid.margin < 0.25;
}

// The cell table of bucket_index_cells (O(T) setup, for large batches on uneven thresholds).
struct CellTable {
  std::vector<double> padded;
  std::vector<int32_t> first;  // empty for an identity grid
  double lo = 0.0, scale = 0.0, top = 0.0;
  bool identity = false;  // T cells and threshold k in cell k: bucket = c + (thr[c] < s)

  CellTable(const double* thr, int64_t T) : padded(thr, thr + T) {
    padded.push_back(INFINITY);
    lo = T > 0 ? thr[0] : 0.0;
    const double hi = T > 0 ? thr[T - 1] : 0.0;
    const bool finite_span = (hi > lo) && (hi - lo < INFINITY);
    if (finite_span) {  // an identity grid (evenly spaced, or nearly: a union of grids)
      scale = static_cast<double>(T - 1) / (hi - lo);
      top = static_cast<double>(T - 1);
      identity = true;
      for (int64_t k = 0; k < T && identity; ++k) identity = bucket_cell(thr[k], lo, scale, top) == k;
      if (identity) return;
    }
    const int64_t cells = finite_span ? 2 * T : 1;  // one cell: a linear scan
    scale = finite_span ? static_cast<double>(cells) / (hi - lo) : 0.0;
    top = static_cast<double>(cells - 1);
    first.resize(static_cast<size_t>(cells));
    int64_t t = 0;
    for (int64_t c = 0; c < cells; ++c) {
      while (t < T && bucket_cell(thr[t], lo, scale, top) < c) ++t;
      first[static_cast<size_t>(c)] = static_cast<int32_t>(t);
    }
  }
};

// Exact bucket codes through the cell table (bucket_index_cells), scalar: measured faster
// than gathers here.
template <class PV>
uint32_t table_codes(PV p, int64_t i0, int64_t n, const CellTable& cells, int32_t* codes) {
  const double* padded = cells.padded.data();
  const int32_t* first = cells.first.data();
  const double lo = cells.lo, scale = cells.scale, top = cells.top;
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto s = p[i0 + i];
    bad |= static_cast<uint32_t>(is_nan(s));
    codes[i] = static_cast<int32_t>(
        bucket_index_cells(padded, first, lo, scale, top, static_cast<double>(s)));
  }
  return bad;
}

// Bucket codes without the grid or the cell table: one scalar search per element.
template <class PV>
uint32_t near_codes(PV p, int64_t i0, int64_t n, const double* thr, int64_t T, double scale,
                    int32_t* codes) {
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto s = p[i0 + i];
    bad |= static_cast<uint32_t>(is_nan(s));
    codes[i] = static_cast<int32_t>(bucket_index_near(thr, T, scale, static_cast<double>(s)));
  }
  return bad;
}

// The carries of uint8 counts (the local histograms of big batches over many buckets): the
// address of each count that wrapped to 0, i.e. that owes 256 more, in an array with room
// for one per 256 elements of the batch.
struct CarryLog {
  uint8_t** next = nullptr;
};

// c += 1; a uint8 count that wraps to 0 logs its carry (one branch on the add's own flags,
// rarely taken); wider counts do not wrap (the caller keeps them wide enough).
template <class Acc>
inline void count_one(Acc& c, CarryLog* log) {
  if constexpr (std::is_same_v<Acc, uint8_t>) {
    if (!MC_LIKELY(++c != 0)) *log->next++ = &c;
  } else {
    (void)log;
    c += 1;
  }
}

// The scatter: out[code * M] += weight (and sums[bucket * M] += weight * score), for codes
// from a validated chunk. `out`/`sums` already point at the run's column m. Grouped: element
// i goes to the histograms of its group, which start group_base[i] doubles into `sums` and
// twice that into `out` (out holds two histograms per group, sums one). copy_size: 0, or
// the size of one copy of out's histograms when out holds kCopies copies (local unweighted
// counts), element i adding to copy i % kCopies (sums: one copy). log: where uint8 counts
// log their carries (count_one).
template <bool Weighted, bool Grid, bool Sums, bool Grouped, class PV, class Acc>
void scatter(const int32_t* codes, const double* wbuf, const int64_t* group_base, PV p,
             int64_t i0, int64_t n, const BucketGrid& grid, const double* thr, int32_t B,
             int64_t M, Acc* out, double* sums, int64_t copy_size, CarryLog* log) {
  auto code = [&](int64_t i) {
    int32_t v = codes[i];
    if constexpr (Grid) {
      if (!MC_LIKELY(v >= 0))
        v = bucket_grid_resolve(grid, thr, B, v, static_cast<double>(p[i0 + i]));
    }
    return v;
  };
  if constexpr (!Weighted && !Sums && !Grouped) {
    if (M == 1 && copy_size != 0) {  // copies: unrolled, constant offsets
      static_assert(kCopies == 4, "the unrolled loop below adds to 4 copies");
      Acc* const o0 = out;
      Acc* const o1 = out + copy_size;
      Acc* const o2 = out + 2 * copy_size;
      Acc* const o3 = out + 3 * copy_size;
      int64_t i = 0;
      for (; i + 4 <= n; i += 4) {
        int32_t v0 = codes[i], v1 = codes[i + 1], v2 = codes[i + 2], v3 = codes[i + 3];
        if constexpr (Grid) {
          if (!MC_LIKELY((v0 | v1 | v2 | v3) >= 0))
            v0 = code(i), v1 = code(i + 1), v2 = code(i + 2), v3 = code(i + 3);
        }
        o0[v0] += 1, o1[v1] += 1, o2[v2] += 1, o3[v3] += 1;
      }
      for (; i < n; ++i) out[(i % kCopies) * copy_size + code(i)] += 1;
      return;
    }
  }
  if (M == 1 && !Sums) {  // the hot path: no stride multiply (and copy_size == 0)
    for (int64_t i = 0; i < n; ++i) {
      const int32_t v = code(i);
      Acc* o = Grouped ? out + 2 * group_base[i] : out;
      if constexpr (Weighted) {
        o[v] += wbuf[i];
      } else {
        count_one(o[v], log);
      }
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = code(i);
    const int64_t base = Grouped ? group_base[i] : 0;
    const int64_t copy = (i % kCopies) * copy_size;
    if constexpr (Weighted) {
      out[2 * base + copy + int64_t(v) * M] += wbuf[i];
    } else {
      count_one(out[2 * base + copy + int64_t(v) * M], log);
    }
    if constexpr (Sums) {
      const int32_t b = v >= B ? v - B : v;
      const double wv = Weighted ? wbuf[i] : 1.0;
      sums[base + int64_t(b) * M] += wv * static_cast<double>(p[i0 + i]);
    }
  }
}

// A run of counted elements: one counted column of (N, L), or all of them flattened into one.
template <class LT, class ST, class WT>
struct Run {
  Strided1<LT> t;
  Strided1<ST> p;
  Strided1<WT> w;
  int32_t cls;  // the column (class ids: its class)
  int64_t m;    // its column of out
};

// The weight type of a Run (double, unused, when unweighted).
template <class WP>
using RunWeight =
    typename std::conditional_t<WP::weighted, WP, ArrayWeight<double>>::value_type;

// One run per counted column j in [j0, j1).
template <class LT, class ST, class WP>
std::vector<Run<LT, ST, RunWeight<WP>>> column_runs(const Strided2<LT>& yt, bool class_ids,
                                                    const Strided2<ST>& yp, const WP& w,
                                                    int64_t j0, int64_t j1, int64_t M) {
  std::vector<Run<LT, ST, RunWeight<WP>>> runs;
  for (int64_t j = j0; j < j1; ++j) {
    Run<LT, ST, RunWeight<WP>> r{class_ids ? yt.col(0) : yt.col(j), yp.col(j), {},
                                 static_cast<int32_t>(j), M == 1 ? 0 : j};
    if constexpr (WP::weighted) r.w = w.w.col(j);
    runs.push_back(r);
  }
  return runs;
}

// Rows per chunk for `columns` runs: a chunk's rows of every run stay cache-resident across
// the runs.
inline int64_t rows_per_chunk(int64_t columns) {
  return columns <= 1 ? kChunk : std::clamp<int64_t>(32768 / columns, 16, kChunk);
}

// How one batch's scores become bucket codes: the grid when it pays for its O(T) setup and
// suits the thresholds, else the cell table for uneven thresholds on a batch big enough to
// pay for it, else bucket_index_near per element. Every method gives bucket_index's bucket
// (the grid's ambiguous codes once resolved at the scatter).
struct BucketCoder {
  const double* thr;
  int64_t T;
  int isa = isa_level_ref();
  BucketGrid grid;
  bool use_grid;
  double scale;
  std::unique_ptr<CellTable> cells;

  // known: make_grid's result for these thresholds, computed once by the caller (the
  // bindings keep it for read-only threshold arrays): then the grid costs no setup and is
  // used at any batch size.
  BucketCoder(const double* thresholds, int64_t num_thresholds, int64_t elements,
              const BucketGrid* known = nullptr)
      : thr(thresholds), T(num_thresholds) {
    if (known) {
      use_grid = true;
      grid = *known;
    } else {
      use_grid = elements * 16 >= T && make_grid(thr, T, isa, grid);
    }
    scale = bucket_guess_scale(thr, T);
    if (!use_grid && T > 2 && T < (int64_t(1) << 30) && elements * 4 >= T)
      cells = std::make_unique<CellTable>(thr, T);
    if (!use_grid) {  // bucket_grid_resolve's exact fallback needs these two
      grid.num_thresholds = T;
      grid.near_scale = scale;
    }
  }

  // Whether the scatter passes codes through bucket_grid_resolve.
  bool resolves() const { return use_grid || cells; }

  // out[i] = the code of score i0 + i; nonzero if one is NaN.
  template <class PV>
  uint32_t codes(PV p, int64_t i0, int64_t n, int32_t* out) const {
    if (use_grid) return MC_SCORE_STAGE(grid_codes, p, i0, n, grid, out);
    if (cells && cells->identity)
      return MC_SCORE_STAGE(identity_codes, p, i0, n, cells->padded.data(), cells->lo,
                            cells->scale, cells->top, out);
    if (cells) return table_codes(p, i0, n, *cells, out);
    return near_codes(p, i0, n, thr, T, scale, out);
  }
};

// Validates and codes run r's elements [i0, i0 + n) into codes (histogram offset + bucket)
// and wbuf (weights); nonzero if one is bad. C: the class count of class ids; B: buckets per
// histogram.
template <bool Weighted, class R>
uint32_t stage(const BucketCoder& coder, const R& r, bool class_ids, int32_t C, int32_t B,
               int64_t i0, int64_t n, int32_t* codes, double* wbuf) {
  const int isa = coder.isa;
  (void)isa;
  uint32_t bad = with_contiguity(
      [&](auto pv) -> uint32_t { return coder.codes(pv, i0, n, codes); }, r.p);
  bad |= with_contiguity(
      [&](auto tv) -> uint32_t {
        if (class_ids) return MC_SCORE_STAGE(class_offsets, tv, i0, n, C, r.cls, B, codes);
        return MC_SCORE_STAGE(binary_offsets, tv, i0, n, B, codes);
      },
      r.t);
  if constexpr (Weighted)
    bad |= with_contiguity(
        [&](auto wv) -> uint32_t { return MC_SCORE_STAGE(load_weights, wv, i0, n, wbuf); },
        r.w);
  (void)wbuf;
  return bad;
}

// Validates run r's elements [i0, i0 + n) without coding them (the pre-pass); nonzero if one
// is bad.
template <bool Weighted, class R>
uint32_t check(int isa, const R& r, bool class_ids, int32_t C, int64_t i0, int64_t n) {
  (void)isa;
  uint32_t bad = with_contiguity(
      [&](auto pv) -> uint32_t { return MC_SCORE_STAGE(check_scores, pv, i0, n); }, r.p);
  bad |= with_contiguity(
      [&](auto tv) -> uint32_t {
        if (class_ids) return MC_SCORE_STAGE(check_classes, tv, i0, n, C);
        return MC_SCORE_STAGE(check_binary, tv, i0, n);
      },
      r.t);
  if constexpr (Weighted)
    bad |= with_contiguity(
        [&](auto wv) -> uint32_t { return MC_SCORE_STAGE(check_weights, wv, i0, n); }, r.w);
  return bad;
}

// Scatters a chunk of run r staged by `stage` into out (2, T + 1, M) and sums (T + 1, M) or
// null; group_base: null, or the elements' group offsets (see scatter).
template <bool Weighted, class R, class Acc>
void scatter_chunk(const BucketCoder& coder, const R& r, const int32_t* codes,
                   const double* wbuf, const int64_t* group_base, int64_t i0, int64_t n,
                   int32_t B, int64_t M, Acc* out, double* sums, int64_t copy_size = 0,
                   CarryLog* log = nullptr) {
  Acc* o = out + r.m;
  double* s = sums ? sums + r.m : nullptr;
  const BucketGrid& g = coder.grid;
  const double* thr = coder.thr;
  with_contiguity(
      [&](auto pv) {
        with_flag(coder.resolves(), [&](auto resolve) {
          with_flag(s != nullptr, [&](auto with_sums) {
            with_flag(group_base != nullptr, [&](auto grouped) {
              scatter<Weighted, decltype(resolve)::value, decltype(with_sums)::value,
                      decltype(grouped)::value>(codes, wbuf, group_base, pv, i0, n, g, thr, B,
                                                M, o, s, copy_size, log);
            });
          });
        });
      },
      r.p);
}

// Takes back what scatter_chunk added for a chunk of run r staged by `stage` (unweighted
// counts, no sums: integer adds, so this is exact): the undo of a small batch whose later
// chunk turned out bad.
template <class R, class Acc>
void unscatter_chunk(const BucketCoder& coder, const R& r, const int32_t* codes, int64_t i0,
                     int64_t n, int32_t B, int64_t M, Acc* out) {
  Acc* o = out + r.m;
  with_contiguity(
      [&](auto pv) {
        for (int64_t i = 0; i < n; ++i) {
          const int32_t v = bucket_grid_resolve(coder.grid, coder.thr, B, codes[i],
                                                static_cast<double>(pv[i0 + i]));
          o[int64_t(v) * M] -= 1;
        }
      },
      r.p);
}

// The first bad element of row i among the counted columns [j0, j1), in the protocol's order
// (y_true, then per column y_pred and the weight); code OK if none.
template <class LT, class ST, class WP>
Error row_error(const Strided2<LT>& yt, bool class_ids, const Strided2<ST>& yp, const WP& w,
                int64_t i, int64_t j0, int64_t j1) {
  if (class_ids && class_id(yt(i, 0), static_cast<int32_t>(yp.cols)) < 0)
    return {TRUE_CLASS, i, 0};
  for (int64_t j = j0; j < j1; ++j) {
    if (!class_ids && !is_binary_label(yt(i, j))) return {BINARY_LABEL, i, j};
    if (is_nan(yp(i, j))) return {NAN_SCORE, i, j};
    if (!w.valid(i, j)) return {BAD_WEIGHT, i, j};
  }
  return {};
}

}  // namespace score_detail

// Adds the batch into out (2, T + 1, M) and, if sums is not null, into sums (T + 1, M); all
// or nothing.
//   yt: (N, L) binary labels, or (N, 1) class ids when class_ids (one-vs-rest over L columns);
//   yp: (N, L) scores; w: UnitWeight or ArrayWeight over (N, L); thr: (T,) increasing;
//   only_column (the protocol's class_id): -1 = every column, else that column only (then
//   M == 1); M == L or 1 (pooled).
template <class LT, class ST, class WP>
Error score_histogram(const Strided2<LT>& yt, bool class_ids, const Strided2<ST>& yp,
                      const WP& w, const double* thr, int64_t T, int64_t only_column,
                      typename WP::acc_type* out, int64_t M, double* sums,
                      const BucketGrid* known_grid = nullptr) {
  using namespace score_detail;
  using Acc = typename WP::acc_type;
  constexpr bool Weighted = WP::weighted;
  const int64_t N = yp.rows, L = yp.cols;
  if (N == 0 || L == 0) return {};
  const int64_t j0 = only_column >= 0 ? only_column : 0;
  const int64_t j1 = only_column >= 0 ? only_column + 1 : L;
  const int32_t B = static_cast<int32_t>(T + 1);  // buckets per histogram
  const int32_t C = static_cast<int32_t>(L);      // classes, for class ids

  // The first bad element, in the protocol's order.
  auto first_error = [&]() -> Error {
    for (int64_t i = 0; i < N; ++i) {
      const Error e = row_error(yt, class_ids, yp, w, i, j0, j1);
      if (e.code != OK) return e;
    }
    return {};
  };

  // The runs: one flattened run, or one per counted column.
  using RunT = Run<LT, ST, RunWeight<WP>>;
  std::vector<RunT> runs;
  int64_t run_length = N;
  bool flat = !class_ids && M == 1 && j1 - j0 > 1 && yt.flattens() && yp.flattens();
  if constexpr (Weighted) flat = flat && w.w.flattens();
  if (flat) {
    RunT r{yt.flat(), yp.flat(), {}, 0, 0};
    if constexpr (Weighted) r.w = w.w.flat();
    runs.push_back(r);
    run_length = N * L;
  } else {
    runs = column_runs(yt, class_ids, yp, w, j0, j1, M);
  }
  const int64_t chunk = rows_per_chunk(static_cast<int64_t>(runs.size()));
  const BucketCoder coder(thr, T, N * (j1 - j0), known_grid);
  int32_t codes[kChunk];
  double wbuf[Weighted ? kChunk : 1];

  // The rows of y_true, y_pred and the weights that the runs' elements [i0, i1) lie in.
  auto prefetch_rows = [&](int64_t i0, int64_t i1) {
    if (flat) i0 /= L, i1 = (i1 + L - 1) / L;  // flat index -> row (row-major, columns j0..j1)
    prefetch_block(yp, i0, i1, j0, j1);
    prefetch_block(yt, i0, i1, class_ids ? 0 : j0, class_ids ? 1 : j1);
    if constexpr (Weighted) prefetch_block(w.w, i0, i1, j0, j1);
  };

  const int64_t out_size = 2 * int64_t(B) * M, sums_size = sums ? int64_t(B) * M : 0;
  const bool backup = N * (j1 - j0) >= out_size + sums_size;
  if (!backup) {
    // Unweighted counts without sums are validated as they are scattered, and a bad chunk's
    // predecessors subtracted again (exact for integers); the rows kDirectAhead chunks ahead
    // are prefetched when out is big, so that reading the batch from memory overlaps the
    // scatter's cache misses (a pre-pass read it all first, and the scatter then ran alone).
    // Weights and sums (float adds do not undo exactly) get a pre-pass that validates
    // everything before out is touched.
    const bool validate_first = Weighted || sums;
    if (validate_first) {
      for (const RunT& r : runs) {
        for (int64_t i0 = 0; i0 < run_length; i0 += kChunk) {
          const int64_t n = std::min(kChunk, run_length - i0);
          if (check<Weighted>(coder.isa, r, class_ids, C, i0, n)) return first_error();
        }
      }
    }
    const bool prefetch = !validate_first && out_size * int64_t(sizeof(Acc)) > kPrefetchAbove;
    for (int64_t i0 = 0; i0 < run_length; i0 += chunk) {
      const int64_t n = std::min(chunk, run_length - i0);
      if (prefetch) {
        const int64_t ahead = i0 + kDirectAhead * chunk;
        prefetch_rows(ahead, std::min(ahead + chunk, run_length));
      }
      for (size_t ri = 0; ri < runs.size(); ++ri) {
        const RunT& r = runs[ri];
        if (stage<Weighted>(coder, r, class_ids, C, B, i0, n, codes, wbuf)) {
          // Only without the pre-pass (unweighted, no sums): take back what the earlier
          // chunks (and this chunk's earlier runs) added.
          if constexpr (!Weighted) {
            for (int64_t u0 = 0; u0 <= i0; u0 += chunk) {
              const int64_t un = std::min(chunk, run_length - u0);
              for (size_t rj = 0; rj < (u0 < i0 ? runs.size() : ri); ++rj) {
                stage<Weighted>(coder, runs[rj], class_ids, C, B, u0, un, codes, wbuf);
                unscatter_chunk(coder, runs[rj], codes, u0, un, B, M, out);
              }
            }
          }
          return first_error();
        }
        scatter_chunk<Weighted>(coder, r, codes, wbuf, nullptr, i0, n, B, M, out, sums);
      }
    }
    return {};
  }
  // Fewer than 2^32 elements: no uint32 count can overflow.
  const bool local = !Weighted && N * (j1 - j0) <= int64_t(UINT32_MAX);
  const int64_t count_bytes = local ? sizeof(uint32_t) : sizeof(Acc);
  const bool prefetch = out_size * count_bytes + sums_size * 8 > kPrefetchAbove;
  // Small local histograms in kCopies copies (see kCopies); big ones in uint8 counts (see
  // kNarrowAbove).
  const int64_t copies =
      local && kCopies * out_size * int64_t(sizeof(uint32_t)) <= kCopiesBelow ? kCopies : 1;
  const bool narrow = local && out_size * int64_t(sizeof(uint32_t)) > kNarrowAbove;
  std::vector<uint32_t> counts;
  std::vector<uint8_t> narrow_counts;
  std::vector<uint8_t*> carries;
  CarryLog log;
  std::vector<Acc> out_copy;
  if (narrow) {
    narrow_counts.assign(static_cast<size_t>(out_size), 0);
    carries.resize(static_cast<size_t>(N * (j1 - j0) / 256 + 1));
    log.next = carries.data();
  } else if (local) {
    counts.assign(static_cast<size_t>(copies * out_size), 0);
  } else {
    out_copy.assign(out, out + out_size);
  }
  std::vector<double> sums_copy(sums, sums + sums_size);
  for (int64_t i0 = 0; i0 < run_length; i0 += chunk) {
    const int64_t n = std::min(chunk, run_length - i0);
    if (prefetch) prefetch_rows(i0 + chunk, std::min(i0 + 2 * chunk, run_length));
    for (const RunT& r : runs) {
      if (stage<Weighted>(coder, r, class_ids, C, B, i0, n, codes, wbuf)) {
        std::copy(out_copy.begin(), out_copy.end(), out);
        std::copy(sums_copy.begin(), sums_copy.end(), sums);
        return first_error();
      }
      if constexpr (!Weighted) {
        if (narrow) {
          scatter_chunk<Weighted>(coder, r, codes, wbuf, nullptr, i0, n, B, M,
                                  narrow_counts.data(), sums, 0, &log);
          continue;
        }
      }
      if (local)
        scatter_chunk<Weighted>(coder, r, codes, wbuf, nullptr, i0, n, B, M, counts.data(), sums,
                                copies > 1 ? out_size : 0);
      else
        scatter_chunk<Weighted>(coder, r, codes, wbuf, nullptr, i0, n, B, M, out, sums);
    }
  }
  if (narrow) {
    for (int64_t k = 0; k < out_size; ++k) out[k] += narrow_counts[static_cast<size_t>(k)];
    for (uint8_t** c = carries.data(); c != log.next; ++c) out[*c - narrow_counts.data()] += 256;
  } else if (local) {
    for (int64_t c = 0; c < copies; ++c)
      for (int64_t k = 0; k < out_size; ++k)
        out[k] += counts[static_cast<size_t>(c * out_size + k)];
  }
  return {};
}

}  // namespace metricore
