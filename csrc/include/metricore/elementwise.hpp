// Per-element arithmetic shared by every kernel: the C++ kernels here, and the CUDA kernels,
// which include this very header. Hence: no containers, no exceptions, no Python, no
// standard library beyond the C math functions (global ::log1p etc., device built-ins under
// CUDA) and the fixed-width integer types; every function is MC_HD (host and device).
// NVRTC has no standard headers: there the includer provides int32_t/int64_t/uint32_t/
// uint64_t first (e.g. from libcu++'s <cuda/std/cstdint> or a preamble).
#pragma once
#if !defined(__CUDACC_RTC__)
#include <math.h>
#include <stdint.h>
#endif

#if defined(__CUDACC__)
#define MC_HD __host__ __device__
#else
#define MC_HD
#endif

#if defined(__GNUC__) || defined(__CUDACC__)
#define MC_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define MC_LIKELY(x) (x)
#endif

namespace metricore {

// std::is_floating_point_v without <type_traits> (see the top of the file).
template <class T>
struct IsFloat {
  static constexpr bool value = false;
};
template <>
struct IsFloat<float> {
  static constexpr bool value = true;
};
template <>
struct IsFloat<double> {
  static constexpr bool value = true;
};

template <bool Cond, class A, class B>
struct Select {
  using type = A;
};
template <class A, class B>
struct Select<false, A, B> {
  using type = B;
};

// Mirrors metricore._backends.protocol.MomentKind (a test checks the two agree).
enum class MomentKind : int64_t {
  VALUE = 0,                // p
  ABSOLUTE = 1,             // |t - p|
  SQUARED = 2,              // (t - p)^2
  ABSOLUTE_PERCENTAGE = 3,  // 100 |t - p| / max(|t|, eps)
  SQUARED_LOG = 4,          // (log(max(p, eps) + 1) - log(max(t, eps) + 1))^2
  LOG_COSH = 5,             // x = p - t: x + softplus(-2x) - log(2)
  EQUAL = 6,                // 1 if t == p else 0
  BINARY_MATCH = 7,         // 1 if float(p > param) == t else 0
  COSINE = 8,               // whole-row term, see cosine_row_term
};
constexpr int64_t kNumMomentKinds = 9;

constexpr double kEpsilon = 1e-7;       // Keras' backend epsilon
constexpr double kCosineFloor = 1e-12;  // Keras' l2_normalize floor on the squared norm
constexpr double kLog2 = 0.693147180559945309417232121458176568;

// ------------------------------------------------------------------ thresholds
// The bucket of a score among T sorted thresholds: the number of thresholds strictly below
// it, so the score is predicted positive (score > thresholds[t]) exactly at t < bucket.
// Branch-free binary search; whatever the inputs (NaN, unsorted thresholds) the result lies
// in [0, T], so it can index a histogram of T + 1 buckets without a bounds check.
MC_HD inline int64_t bucket_index(const double* thresholds, int64_t num_thresholds, double score) {
  if (num_thresholds <= 0) return 0;
  const double* base = thresholds;
  int64_t n = num_thresholds;
  while (n > 1) {
    const int64_t half = n / 2;
    base = (base[half] < score) ? base + half : base;
    n -= half;
  }
  return (base - thresholds) + (*base < score ? 1 : 0);
}

// bucket_index with a first guess interpolated between the lowest and the highest threshold:
// O(1) when the thresholds are (nearly) evenly spaced, as Keras' AUC thresholds are. The guess
// b is verified against its neighbours and a wrong one falls back to the binary search, so the
// result is always bucket_index's. `padded` holds the T thresholds between two sentinels,
// padded[0] = -inf and padded[T + 1] = +inf, so that b is right iff
// padded[b] < score <= padded[b + 1]; scale comes from bucket_guess_scale.
MC_HD inline int64_t bucket_index_guess(const double* padded, int64_t num_thresholds,
                                        double scale, double score) {
  if (num_thresholds <= 0) return 0;
  double g = (score - padded[1]) * scale + 1.0;  // about the number of thresholds below score
  g = g > 0.0 ? g : 0.0;  // NaN goes to 0: the cast below is always defined
  g = g < static_cast<double>(num_thresholds) ? g : static_cast<double>(num_thresholds);
  const int64_t b = static_cast<int64_t>(g);
  if (MC_LIKELY((padded[b] < score) & !(padded[b + 1] < score))) return b;
  return bucket_index(padded + 1, num_thresholds, score);
}

// The scale for bucket_index_guess.
MC_HD inline double bucket_guess_scale(const double* thresholds, int64_t num_thresholds) {
  if (num_thresholds < 2) return 0.0;
  const double scale = static_cast<double>(num_thresholds - 1) /
                       (thresholds[num_thresholds - 1] - thresholds[0]);
  return (scale - scale == 0.0) ? scale : 0.0;  // finite, else a constant guess
}

// bucket_index with bucket_index_guess's interpolated first guess, on the T thresholds
// themselves (no padded copy: O(1) setup, for small batches); scale from bucket_guess_scale.
MC_HD inline int64_t bucket_index_near(const double* thresholds, int64_t num_thresholds,
                                       double scale, double score) {
  if (num_thresholds <= 0) return 0;
  double g = (score - thresholds[0]) * scale + 1.0;
  g = g > 0.0 ? g : 0.0;
  g = g < static_cast<double>(num_thresholds) ? g : static_cast<double>(num_thresholds);
  const int64_t b = static_cast<int64_t>(g);
  const int64_t below = b > 0 ? b - 1 : 0, above = b < num_thresholds ? b : num_thresholds - 1;
  const bool lo_ok = (b == 0) | (thresholds[below] < score);
  const bool hi_ok = (b == num_thresholds) | !(thresholds[above] < score);
  if (MC_LIKELY(lo_ok & hi_ok)) return b;
  return bucket_index(thresholds, num_thresholds, score);
}

// bucket_index through a table over 2T uniform cells spanning [thresholds[0],
// thresholds[T-1]] (the Numba backend's method, for thresholds that are not an even grid,
// e.g. the union of several metrics' grids in a collection): bucket_cell is monotone in the
// score, so thresholds of an earlier cell lie below the score and those of a later one above
// it; first[c] is the first threshold whose cell is >= c, and only the thresholds sharing the
// score's cell are compared (about one). `padded` holds the T thresholds then +inf.
MC_HD inline int64_t bucket_cell(double v, double lo, double scale, double top) {
  double c = (v - lo) * scale;
  c = c < top ? c : top;
  c = c >= 0.0 ? c : 0.0;  // also maps NaN to 0
  return static_cast<int64_t>(c);
}

template <class Index>
MC_HD inline int64_t bucket_index_cells(const double* padded, const Index* first, double lo,
                                        double scale, double top, double score) {
  int64_t b = first[bucket_cell(score, lo, scale, top)];
  b += static_cast<int64_t>(padded[b] < score);  // the usual single step, branch-free
  while (padded[b] < score) ++b;
  return b;
}

// A vectorizable bucket_index for sorted thresholds that are (nearly) evenly spaced between
// the first and the last one (Keras' AUC grid: i / (T - 1), with -eps and 1 + eps at the
// ends), without table lookups on the common path. The first and the last threshold are
// compared exactly; the T - 2 "interior" ones are located by g(s) = (s - lo) * scale + 1,
// which puts interior threshold j (thresholds[j + 1]) near j + 1. `margin` bounds how far any
// interior threshold's computed g lies from its integer, plus rounding slack (set up once per
// batch, O(T): bucket_grid_deviation). As the computed g is monotone in s, a score whose g is
// farther than `margin` from every integer has floor(g) interior thresholds below it (g
// clamped to [0.5, T - 2 + 0.5]); one within `margin` of an integer is "ambiguous", and
// bucket_grid_resolve finds its bucket exactly (rare: scores within about 1e-9 of a
// threshold on an even grid). Requires margin < 0.25 and T < 2^28.
struct BucketGrid {
  double lo = 0.0;          // the first interior threshold
  double scale = 0.0;       // interior count - 1 over their span (1 with one interior threshold)
  double top = 0.5;         // interior count + 0.5
  double margin = 0.0;
  double first = 0.0;       // thresholds[0] (+inf if none: never below a score)
  double last = 0.0;        // thresholds[T - 1] when T >= 2 (else +inf)
  double near_scale = 0.0;  // bucket_guess_scale of all T, for bucket_grid_resolve
  int64_t num_thresholds = 0;
};

MC_HD inline double bucket_grid_position(const BucketGrid& grid, double score) {
  return (score - grid.lo) * grid.scale + 1.0;
}

// The bucket (number of thresholds strictly below the score), with the sign bit set when it
// is ambiguous (then only bucket_grid_resolve knows it). NaN gets some code in range.
MC_HD inline int32_t bucket_grid_code(const BucketGrid& grid, double score) {
  double g = bucket_grid_position(grid, score);
  g = g > 0.5 ? g : 0.5;  // NaN -> 0.5
  g = g < grid.top ? g : grid.top;
  // The ends are added as doubles (cheaper in vector lanes than as int32 compare masks); the
  // rounding this may add is covered by margin's slack. g - margin >= 0.25: casts floor.
  const double ends = (grid.first < score ? 1.0 : 0.0) + (grid.last < score ? 1.0 : 0.0);
  const int32_t b1 = static_cast<int32_t>((g - grid.margin) + ends);
  const int32_t b2 = static_cast<int32_t>((g + grid.margin) + ends);
  return static_cast<int32_t>(static_cast<uint32_t>(b1) | (static_cast<uint32_t>(b1 != b2) << 31));
}

// The bucket of a code from bucket_grid_code, to which a histogram offset (0, or `stride` >
// T, e.g. from label_offset) may have been added: the bucket plus that offset.
MC_HD inline int32_t bucket_grid_resolve(const BucketGrid& grid, const double* thresholds,
                                         int32_t stride, int32_t code, double score) {
  if (code >= 0) return code;
  const int32_t c = code & 0x7fffffff;  // bucket + offset, the bucket <= T < stride
  const int32_t offset = c >= stride ? stride : 0;
  return offset + static_cast<int32_t>(bucket_index_near(thresholds, grid.num_thresholds,
                                                         grid.near_scale, score));
}

// |computed g of interior threshold j - (j + 1)|: its distance from where the grid expects it.
// (j is an int32: its conversion to double vectorizes without AVX-512.)
MC_HD inline double bucket_grid_deviation(const BucketGrid& grid, double threshold, int32_t j) {
  return ::fabs(bucket_grid_position(grid, threshold) - (static_cast<double>(j) + 1.0));
}

// --------------------------------------------------------------- label checks
// y_true of a binary problem must be 0 or 1 (NaN is neither).
template <class T>
MC_HD inline bool is_binary_label(T v) {
  return (v == T(0)) | (v == T(1));
}

// Where a counted element's histogram starts: `stride` (the positive histogram) if the label
// is 1, else 0. Branch-free (GCC turns `truth ? stride : 0` into a 50%-mispredicted branch).
template <class T>
MC_HD inline int32_t label_offset(T v, int32_t stride) {
  return stride & -static_cast<int32_t>(v == T(1));
}

// The same for one-vs-rest class ids: column `cls` is positive iff the id (class_id_value)
// equals it.
MC_HD inline int32_t class_offset(int32_t id, int32_t cls, int32_t stride) {
  return stride & -static_cast<int32_t>(id == cls);
}

// Class ids, in two branch-free halves so that loops over them vectorize with plain SSE2:
//   class_id_value(v)          v as an int32; floats are clamped into int32 range first (NaN
//                              goes to 0), so the conversion is always defined;
//   class_id_error(v, id, C)   nonzero iff v is not an integral value in [0, C), given
//                              id = class_id_value(v); as wide as T, so that an accumulator
//                              of it stays in T's vector lanes.
// class_id(v, C) puts them together: the id, or -1. num_classes must lie in [0, INT32_MAX].
template <class T>
MC_HD inline int32_t class_id_value(T v) {
  if constexpr (IsFloat<T>::value) {
    constexpr T kTop = sizeof(T) == 4 ? T(2147483520.0) : T(2147483647.0);  // <= INT32_MAX
    T c = v > T(0) ? v : T(0);
    c = c < kTop ? c : kTop;
    return static_cast<int32_t>(c);
  } else {
    return static_cast<int32_t>(v);  // int64: the low bits; class_id_error judges v itself
  }
}

template <class T>
MC_HD inline auto class_id_error(T v, int32_t id, int32_t num_classes) {
  if constexpr (IsFloat<T>::value) {
    using Word = typename Select<sizeof(T) == 8, uint64_t, uint32_t>::type;
    return static_cast<Word>(static_cast<T>(id) != v) | static_cast<Word>(id >= num_classes);
  } else if constexpr (sizeof(T) == 8) {
    // v in [0, C) iff neither v nor C - 1 - v is negative: one OR, one sign bit.
    const uint64_t u = static_cast<uint64_t>(v);
    return (u | (static_cast<uint64_t>(num_classes) - 1u - u)) >> 63;
  } else {
    (void)v;
    return static_cast<uint32_t>(static_cast<uint32_t>(id) >= static_cast<uint32_t>(num_classes));
  }
}

template <class T>
MC_HD inline int32_t class_id(T v, int32_t num_classes) {
  const int32_t id = class_id_value(v);
  return class_id_error(v, id, num_classes) ? -1 : id;
}

// y_true == ignore_label, compared as values (an int8 label never equals 300).
template <class T>
MC_HD inline bool label_equals(T v, int64_t label) {
  if constexpr (IsFloat<T>::value) {
    return static_cast<double>(v) == static_cast<double>(label);
  } else {
    return static_cast<int64_t>(v) == label;
  }
}

// ------------------------------------------------------------ score / weight
template <class T>
MC_HD inline bool is_nan(T v) {
  return v != v;
}

// Finite iff w - w == 0 (inf - inf and NaN - NaN are NaN); vectorizes, needs no libm.
template <class T>
MC_HD inline bool is_finite_weight(T w) {
  return (w - w) == T(0);
}

// The first maximum of a row of C >= 1 values (any indexable row view); sets nan if the row
// holds NaN (the index is then meaningless, but in [0, C)).
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

// --------------------------------------------------------------- moment terms
// max that propagates a NaN in `a` like Keras' ops.maximum (std::fmax would drop it).
MC_HD inline double nan_max(double a, double b) { return a < b ? b : a; }

// softplus(z) = log(1 + exp(z)), written so that exp never overflows.
MC_HD inline double softplus(double z) {
  return ::log1p(::exp(-::fabs(z))) + (z > 0.0 ? z : 0.0);
}

// The row kinds' per-element term f(t, p) (COSINE has none: see cosine_row_term).
template <MomentKind K>
MC_HD inline double moment_term(double t, double p, double param) {
  if constexpr (K == MomentKind::VALUE) {
    return p;
  } else if constexpr (K == MomentKind::ABSOLUTE) {
    return ::fabs(t - p);
  } else if constexpr (K == MomentKind::SQUARED) {
    const double d = t - p;
    return d * d;
  } else if constexpr (K == MomentKind::ABSOLUTE_PERCENTAGE) {
    return 100.0 * (::fabs(t - p) / nan_max(::fabs(t), kEpsilon));
  } else if constexpr (K == MomentKind::SQUARED_LOG) {
    const double d = ::log(nan_max(p, kEpsilon) + 1.0) - ::log(nan_max(t, kEpsilon) + 1.0);
    return d * d;
  } else if constexpr (K == MomentKind::LOG_COSH) {
    const double x = p - t;
    return x + softplus(-2.0 * x) - kLog2;
  } else if constexpr (K == MomentKind::EQUAL) {
    return t == p ? 1.0 : 0.0;
  } else if constexpr (K == MomentKind::BINARY_MATCH) {
    return (p > param ? 1.0 : 0.0) == t ? 1.0 : 0.0;
  } else {
    static_assert(K != MomentKind::COSINE, "COSINE is a whole-row term: use cosine_row_term");
    return 0.0;
  }
}

// The same, chosen at run time (for callers that cannot template on the kind).
MC_HD inline double moment_term(MomentKind kind, double t, double p, double param) {
  switch (kind) {
    case MomentKind::VALUE: return moment_term<MomentKind::VALUE>(t, p, param);
    case MomentKind::ABSOLUTE: return moment_term<MomentKind::ABSOLUTE>(t, p, param);
    case MomentKind::SQUARED: return moment_term<MomentKind::SQUARED>(t, p, param);
    case MomentKind::ABSOLUTE_PERCENTAGE:
      return moment_term<MomentKind::ABSOLUTE_PERCENTAGE>(t, p, param);
    case MomentKind::SQUARED_LOG: return moment_term<MomentKind::SQUARED_LOG>(t, p, param);
    case MomentKind::LOG_COSH: return moment_term<MomentKind::LOG_COSH>(t, p, param);
    case MomentKind::EQUAL: return moment_term<MomentKind::EQUAL>(t, p, param);
    case MomentKind::BINARY_MATCH: return moment_term<MomentKind::BINARY_MATCH>(t, p, param);
    default: return 0.0;  // COSINE and unknown kinds have no per-element term
  }
}

// COSINE's row term from the row's sums sum t p, sum t^2, sum p^2 (Keras normalizes each
// vector by sqrt(max(sum x^2, 1e-12)) and takes the dot product).
MC_HD inline double cosine_row_term(double dot, double tt, double pp) {
  return dot / (::sqrt(nan_max(tt, kCosineFloor)) * ::sqrt(nan_max(pp, kCosineFloor)));
}

}  // namespace metricore
