// Vectors through GCC/Clang vector extensions, for the few row-wise loops that the
// auto-vectorizer cannot handle (short score rows, e.g. 10 classes: the work runs along the
// row and ends in a horizontal reduction). The extensions compile to the target's baseline
// vector unit (SSE2 on x86-64, NEON on AArch64), so the build stays portable; on x86-64 GCC
// the fixed-length row loops are also compiled for AVX2 and picked at run time. MC_VECTORS is
// 0 on other compilers (and under nvcc) and the callers fall back to scalar loops. Host only.
#pragma once
#include <cstdint>
#include <cstring>

#include "metricore/elementwise.hpp"

#if defined(__GNUC__) && !defined(__CUDACC__)
#define MC_VECTORS 1
#else
#define MC_VECTORS 0
#endif

namespace metricore {
namespace simd {

#if MC_VECTORS
template <class S>
struct Vec;

template <>
struct Vec<float> {
  typedef float type __attribute__((vector_size(16)));
  typedef int32_t mask __attribute__((vector_size(16)));
  static constexpr int lanes = 4;
  static mask iota() { return mask{0, 1, 2, 3}; }
};

template <>
struct Vec<double> {
  typedef double type __attribute__((vector_size(16)));
  typedef int64_t mask __attribute__((vector_size(16)));
  static constexpr int lanes = 2;
  static mask iota() { return mask{0, 1}; }
};

template <class S>
inline typename Vec<S>::type load(const S* p) {  // unaligned
  typename Vec<S>::type v;
  memcpy(&v, p, sizeof(v));
  return v;
}

template <class S>
inline typename Vec<S>::type splat(S x) {
  return typename Vec<S>::type{} + x;
}

// Bit i set iff lane i of the comparison mask is set.
inline uint32_t bits(Vec<float>::mask m) {
#if defined(__SSE2__)
  return static_cast<uint32_t>(__builtin_ia32_movmskps(reinterpret_cast<Vec<float>::type>(m)));
#else
  return (m[0] & 1u) | (m[1] & 2u) | (m[2] & 4u) | (m[3] & 8u);
#endif
}

inline uint32_t bits(Vec<double>::mask m) {
#if defined(__SSE2__)
  return static_cast<uint32_t>(__builtin_ia32_movmskpd(reinterpret_cast<Vec<double>::type>(m)));
#else
  return static_cast<uint32_t>((m[0] & 1) | (m[1] & 2));
#endif
}

// The fixed-C row loops of detail/argmax_rows.inc, compiled for the baseline vectors and,
// where the compiler allows, for AVX2 (chosen at run time: the build stays portable): a
// 10-class float row is then two vectors instead of three.
namespace vec16 {
constexpr int kBytes = 16;
#include "metricore/detail/argmax_rows.inc"
}  // namespace vec16

// (Define MC_NO_AVX2_DISPATCH to build the baseline vectors only, e.g. to test them.)
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__AVX2__) && \
    !defined(MC_NO_AVX2_DISPATCH)
#define MC_AVX2_DISPATCH 1
#pragma GCC push_options
#pragma GCC target("avx2")
#define MC_AVX2_REGION 1
namespace vec32 {
constexpr int kBytes = 32;
#include "metricore/detail/argmax_rows.inc"
}  // namespace vec32
#undef MC_AVX2_REGION
#pragma GCC pop_options

inline bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#else
#define MC_AVX2_DISPATCH 0
#endif

// match[i] = (first argmax of row i == tids[i]) for rows of C in [W, 16] scores (unit column
// stride), on the widest vectors the CPU has; false (nothing done) for other C.
template <class S>
bool argmax_rows_fixed(const char* base, int64_t row_stride, int64_t n, int32_t cols,
                       const int32_t* tids, uint8_t* match, uint32_t& nan) {
#if MC_AVX2_DISPATCH
  if (cpu_has_avx2() && vec32::argmax_rows_fixed<S>(base, row_stride, n, cols, tids, match, nan))
    return true;
#endif
  return vec16::argmax_rows_fixed<S>(base, row_stride, n, cols, tids, match, nan);
}

// ids[i] = first argmax of row i, likewise.
template <class S>
bool argmax_ids_fixed(const char* base, int64_t row_stride, int64_t n, int32_t cols,
                      int32_t* ids, uint32_t& nan) {
#if MC_AVX2_DISPATCH
  if (cpu_has_avx2() && vec32::argmax_ids_fixed<S>(base, row_stride, n, cols, ids, nan))
    return true;
#endif
  return vec16::argmax_ids_fixed<S>(base, row_stride, n, cols, ids, nan);
}
#endif  // MC_VECTORS

}  // namespace simd
}  // namespace metricore
