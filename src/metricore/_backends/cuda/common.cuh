// Shared device code of the CUDA family kernels (*.cu in this directory): strided views,
// the device error record, deterministic accumulation, partial reduction and the commit step.
//
// Conventions every kernel follows (metricore/_backends/cuda/__init__.py packs the arguments):
//  * Arrays are passed as (pointer, stride, ...) with strides in ELEMENTS, not bytes (the
//    Python side divides CuPy's byte strides by the item size and refuses a stride or a
//    pointer that is not a whole number of items). Any stride is legal: 0 (a broadcast
//    weight) and negative ones too, so strided inputs are read in place, never copied.
//  * Grid-stride loops everywhere: the grid is sized from the work and the SM count only, so
//    a given (shape, device) always gets the same grid, and with it the same summation order.
//  * No kernel synchronizes with the host. An update is: fill the scratch (key = kNoError,
//    accumulators = 0) -> a validate+accumulate kernel into scratch -> (float sums) a reduce
//    of per-warp / per-thread partials in a fixed order -> a commit kernel that adds the
//    scratch into the state only if the batch's error key is clear AND the metric's error
//    record is clear. So `out` is all-or-nothing exactly like the CPU contract, without the
//    host ever looking at the error; the record is read at result() / check().
//  * Determinism: integer counts use integer atomics (order-free); float sums never use float
//    atomics. They go to warp-private histograms (lanes hitting one bin are summed in lane
//    order by the lowest lane, see WarpHist) or per-thread registers, and those partials are
//    reduced in a fixed order, so results are bit-identical run after run on one device.
#pragma once

// NVRTC (cupy.RawModule) has no standard headers; elementwise.hpp expects the fixed-width
// integer types from its includer there. These match the LP64 (Linux) / LLP64 (Windows)
// definitions, so a header that defines them too redeclares the same types (legal C++).
#if defined(__CUDACC_RTC__) && !defined(METRICORE_HAVE_STDINT)
#define METRICORE_HAVE_STDINT
typedef signed char int8_t;
typedef unsigned char uint8_t;
typedef int int32_t;
typedef unsigned int uint32_t;
#if defined(_WIN32) || defined(_WIN64)
typedef long long int64_t;
typedef unsigned long long uint64_t;
#else
typedef long int64_t;
typedef unsigned long uint64_t;
#endif
#endif

#include "metricore/elementwise.hpp"
#include "metricore/errors.hpp"

namespace metricore_cuda {

using metricore::ErrorCode;

typedef long long i64;
typedef unsigned long long u64;

constexpr int kWarp = 32;
// Tuning switches, for benchmarks/sweep_gpu.py (METRICORE_NVRTC_OPTIONS sets them, e.g.
// "-DMC_UNROLL=4"). The defaults are the fastest variant of its run on an H200 (2026-11-26):
// every switch off. Four elements per thread slowed the 10- and 1000-class confusion
// matrices by 28% and 20%, lane counters slowed binary counts by 24%, and warp aggregation
// slowed 200 thresholds by 55% and the 10-class matrix by 2.7x (match_any is not free).
//   MC_UNROLL       elements per thread per loop iteration (their loads in flight together)
//   MC_AGG_SHARED   warp-aggregate shared-memory count atomics (__match_any_sync)
//   MC_AGG_GLOBAL   the same for global-memory count atomics
//   MC_REG_COUNTS   at most 32 count bins: lane b of each warp counts bin b in a register
//                   (one ballot per bin per 32 elements), no atomics until the block ends
#ifndef MC_UNROLL
#define MC_UNROLL 1
#endif
#ifndef MC_AGG_SHARED
#define MC_AGG_SHARED 0
#endif
#ifndef MC_AGG_GLOBAL
#define MC_AGG_GLOBAL 0
#endif
#ifndef MC_REG_COUNTS
#define MC_REG_COUNTS 0
#endif
constexpr int kUnroll = MC_UNROLL;
constexpr u64 kNoError = ~0ull;

// ---------------------------------------------------------------- error record
// The first bad element wins deterministically: every bad element proposes a packed key and
// the smallest survives an atomicMin. The packing orders keys like the CPU backends' scan:
// by row, then by phase within the row (0: y_true, 1: y_pred, 2: sample_weight; families
// that check element by element use phase 0 throughout), then by column, then by code (at
// one element y_true's code < y_pred's < the weight's, the protocol's order).
// Bits: row 36 | phase 2 | col 22 | code 4. The Python side refuses N >= 2^36 or more than
// 2^22 columns before launching.
constexpr int kRowBits = 36, kPhaseBits = 2, kColBits = 22, kCodeBits = 4;

__device__ __forceinline__ u64 error_key(i64 row, int phase, i64 col, int code) {
  return (static_cast<u64>(row) << (kPhaseBits + kColBits + kCodeBits)) |
         (static_cast<u64>(phase) << (kColBits + kCodeBits)) |
         (static_cast<u64>(col) << kCodeBits) | static_cast<u64>(code);
}

// A thread's earliest error so far; published once per thread (errors are rare, so one
// atomic per erring thread costs nothing on the valid path).
struct FirstError {
  u64 key = kNoError;
  __device__ __forceinline__ void note(bool bad, i64 row, int phase, i64 col, int code) {
    if (bad) {
      const u64 k = error_key(row, phase, col, code);
      key = k < key ? k : key;
    }
  }
  __device__ __forceinline__ void publish(u64* batch_key) const {
    if (key != kNoError) atomicMin(batch_key, key);
  }
};

// ---------------------------------------------------------------- strided views
template <class T>
struct View2 {
  const T* p;
  i64 s0, s1;  // element strides
  __device__ __forceinline__ T operator()(i64 i, i64 j) const { return p[i * s0 + j * s1]; }
};

// One row of a View2, indexable like the host's row views (first_argmax takes it).
template <class T>
struct RowView {
  View2<T> v;
  i64 i;
  __device__ __forceinline__ T operator[](i64 j) const { return v(i, j); }
};

// The weight type of an unweighted call: kernels are instantiated with it, so the unit
// weight costs no load and no check.
struct NoWeight {};

template <class W>
struct Weights {
  static constexpr bool weighted = true;
  View2<W> v;
  __device__ __forceinline__ double value(i64 i, i64 j) const {
    return static_cast<double>(v(i, j));
  }
  __device__ __forceinline__ bool valid(i64 i, i64 j) const {
    return metricore::is_finite_weight(v(i, j));
  }
};

template <>
struct Weights<NoWeight> {
  static constexpr bool weighted = false;
  View2<NoWeight> v;
  __device__ __forceinline__ double value(i64, i64) const { return 1.0; }
  __device__ __forceinline__ bool valid(i64, i64) const { return true; }
};

// ---------------------------------------------------------------- accumulation
// Integer counts: atomics are exact and order-free. In shared memory (block-privatized,
// 32-bit: the Python side keeps every block's share of the batch under 2^31 elements) when
// the bins fit, flushed once per block; else straight into the global 64-bit scratch.
// Every lane of the warp calls add() together (the callers' loops are warp-uniform): lanes
// that hit the same bin are counted by the lowest of them, so a warp makes one atomic per
// distinct bin, not per element (few bins, or clustered scores, would otherwise serialize
// on one address).
__device__ __forceinline__ unsigned bin_peers(bool active, i64 bin, bool& leader) {
  const unsigned peers = __match_any_sync(0xffffffffu, active ? bin : -1ll);
  leader = active && (threadIdx.x & (kWarp - 1)) == static_cast<unsigned>(__ffs(peers) - 1);
  return peers;
}

struct SharedCounts {
  unsigned int* bins;
  __device__ __forceinline__ void add(bool active, i64 bin) {
#if MC_AGG_SHARED
    bool leader;
    const unsigned peers = bin_peers(active, bin, leader);
    if (leader) atomicAdd(bins + bin, static_cast<unsigned>(__popc(peers)));
#else
    if (active) atomicAdd(bins + bin, 1u);
#endif
  }
};

struct GlobalCounts {
  u64* bins;
  __device__ __forceinline__ void add(bool active, i64 bin) {
#if MC_AGG_GLOBAL
    bool leader;
    const unsigned peers = bin_peers(active, bin, leader);
    if (leader) atomicAdd(bins + bin, static_cast<u64>(__popc(peers)));
#else
    if (active) atomicAdd(bins + bin, 1ull);
#endif
  }
};

// At most 32 bins: lane b of the warp holds the warp's count of bin b (every lane calls
// add() together). Counts per lane stay below 2^32: a block sees fewer than 2^31 elements.
struct LaneCounts {
  unsigned int mine = 0u;
  __device__ __forceinline__ void add(bool active, i64 bin, i64 bins) {
    const unsigned lane = threadIdx.x & (kWarp - 1);
    for (i64 b = 0; b < bins; ++b) {
      const unsigned c = __popc(__ballot_sync(0xffffffffu, active && bin == b));
      if (lane == static_cast<unsigned>(b)) mine += c;
    }
  }
  // Into the block's shared counters (before flush_counts' barrier).
  __device__ __forceinline__ void flush(unsigned int* shared, i64 bins) const {
    const unsigned lane = threadIdx.x & (kWarp - 1);
    if (lane < bins && mine != 0u) atomicAdd(shared + lane, mine);
  }
};

// Float sums into one warp's private histogram (shared or global memory: generic pointers).
// Every lane of the warp calls add() together (the callers' loops are warp-uniform). Lanes
// that hit the same bin are found with __match_any_sync and summed IN LANE ORDER by the
// lowest of them, who alone writes the bin: no two writers, no float atomics, so the
// summation order is a function of the data layout only.
struct WarpHist {
  double* hist;   // this warp's histogram
  double* stage;  // this warp's 32 staging slots (shared memory)
  __device__ __forceinline__ void add(bool active, i64 bin, double value) {
    const unsigned lane = threadIdx.x & (kWarp - 1);
    stage[lane] = value;
    __syncwarp();
    const i64 tag = active ? bin : -1;
    const unsigned peers = __match_any_sync(0xffffffffu, tag);
    if (active && lane == static_cast<unsigned>(__ffs(peers) - 1)) {
      double s = stage[lane];
      for (unsigned m = peers & (peers - 1); m != 0; m &= m - 1) s += stage[__ffs(m) - 1];
      hist[bin] += s;
    }
    __syncwarp();
  }
};

// Zeroes `n` words of shared memory with the whole block, then waits for it.
template <class T>
__device__ __forceinline__ void block_zero(T* p, i64 n) {
  for (i64 k = threadIdx.x; k < n; k += blockDim.x) p[k] = T(0);
  __syncthreads();
}

// The block's shared counters into the global scratch (after the block's last add).
__device__ __forceinline__ void flush_counts(const unsigned int* shared, u64* global, i64 n) {
  __syncthreads();
  for (i64 k = threadIdx.x; k < n; k += blockDim.x)
    if (shared[k] != 0u) atomicAdd(global + k, static_cast<u64>(shared[k]));
}

// The block's warp histograms (shared) summed in warp order into partials[blockIdx.x].
__device__ __forceinline__ void flush_warp_hists(const double* shared, double* partials, i64 n) {
  __syncthreads();
  const int warps = blockDim.x / kWarp;
  for (i64 k = threadIdx.x; k < n; k += blockDim.x) {
    double s = shared[k];
    for (int w = 1; w < warps; ++w) s += shared[w * n + k];
    partials[blockIdx.x * n + k] = s;
  }
}

// Where a histogram-accumulating kernel keeps its bins; the four modes are template
// arguments of the family kernels (FloatHist, SharedHist), picked on the host from the bin
// count and the shared-memory budget. Dynamic shared memory layout:
//   counts, shared: unsigned int[bins]
//   sums, shared:   double[warps * bins] then double[warps * 32] staging
//   sums, global:   double[warps * 32] staging; the warp's histogram is in `partials`
//                   (one per warp of the grid, zeroed by the host-side launch sequence)
template <bool FloatHist, bool SharedHist>
struct HistSlots;

template <>
struct HistSlots<false, true> {
  SharedCounts sink;
  LaneCounts lanes;
  u64* global;
  i64 bins;
  __device__ HistSlots(void* scratch, i64 n, char* smem)
      : sink{reinterpret_cast<unsigned int*>(smem)}, global(static_cast<u64*>(scratch)), bins(n) {
    block_zero(sink.bins, bins);
  }
  __device__ __forceinline__ void add(bool active, i64 bin, double) {
    if (MC_REG_COUNTS && bins <= kWarp)
      lanes.add(active, bin, bins);
    else
      sink.add(active, bin);
  }
  __device__ __forceinline__ void finish() {
    if (MC_REG_COUNTS && bins <= kWarp) lanes.flush(sink.bins, bins);
    flush_counts(sink.bins, global, bins);
  }
};

template <>
struct HistSlots<false, false> {
  GlobalCounts sink;
  __device__ HistSlots(void* scratch, i64, char*) : sink{static_cast<u64*>(scratch)} {}
  __device__ __forceinline__ void add(bool active, i64 bin, double) { sink.add(active, bin); }
  __device__ __forceinline__ void finish() {}
};

template <>
struct HistSlots<true, true> {
  WarpHist sink;
  double* shared;
  double* partials;
  i64 bins;
  __device__ HistSlots(void* scratch, i64 n, char* smem)
      : shared(reinterpret_cast<double*>(smem)), partials(static_cast<double*>(scratch)),
        bins(n) {
    const int warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
    sink.hist = shared + warp * bins;
    sink.stage = shared + warps * bins + warp * kWarp;
    block_zero(shared, warps * bins);
  }
  __device__ __forceinline__ void add(bool active, i64 bin, double v) { sink.add(active, bin, v); }
  __device__ __forceinline__ void finish() { flush_warp_hists(shared, partials, bins); }
};

template <>
struct HistSlots<true, false> {
  WarpHist sink;
  __device__ HistSlots(void* scratch, i64 n, char* smem) {
    const int warp = threadIdx.x / kWarp;
    const i64 global_warp = static_cast<i64>(blockIdx.x) * (blockDim.x / kWarp) + warp;
    sink.hist = static_cast<double*>(scratch) + global_warp * n;
    sink.stage = reinterpret_cast<double*>(smem) + warp * kWarp;
  }
  __device__ __forceinline__ void add(bool active, i64 bin, double v) { sink.add(active, bin, v); }
  __device__ __forceinline__ void finish() {}
};

// ---------------------------------------------------------------- reductions
// delta[k] = sum over p of partials[p * bins + k], p ascending: one thread per bin. For few
// partials (per-block or per-warp histograms). (Templates, like every kernel here, so that
// all are fetched by NVRTC name expressions: Acc is double.)
// `clear`: zero each partial after reading it (scratch that must start the next call at zero:
// see "Scratch" in cuda/__init__.py).
template <class Acc>
__global__ void reduce_partials_seq(Acc* __restrict__ partials, i64 num_partials,
                                    i64 bins, Acc* __restrict__ delta, int clear) {
  for (i64 k = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x; k < bins;
       k += static_cast<i64>(gridDim.x) * blockDim.x) {
    Acc s = Acc(0);
    for (i64 p = 0; p < num_partials; ++p) {
      s += partials[p * bins + k];
      if (clear) partials[p * bins + k] = Acc(0);
    }
    delta[k] = s;
  }
}

// The same for many partials (per-thread sums): one block per bin, each thread sums a fixed
// strided subset in order, then a fixed-shape tree. blockDim.x must be 256.
template <class Acc>
__global__ void reduce_partials_tree(Acc* __restrict__ partials, i64 num_partials,
                                     i64 bins, Acc* __restrict__ delta, int clear) {
  __shared__ Acc lane_sums[256];
  for (i64 k = blockIdx.x; k < bins; k += gridDim.x) {
    Acc s = Acc(0);
    for (i64 p = threadIdx.x; p < num_partials; p += blockDim.x) {
      s += partials[p * bins + k];
      if (clear) partials[p * bins + k] = Acc(0);
    }
    lane_sums[threadIdx.x] = s;
    __syncthreads();
    for (int half = 128; half > 0; half >>= 1) {
      if (threadIdx.x < half) lane_sums[threadIdx.x] += lane_sums[threadIdx.x + half];
      __syncthreads();
    }
    if (threadIdx.x == 0) delta[k] = lane_sums[0];
    __syncthreads();
  }
}

// ---------------------------------------------------------------- commit
// True iff this batch may be added: it validated and no earlier batch failed (the record is
// sticky until the metric resets it, so the state stays as it was before the first bad
// batch, like the CPU backends' raise-and-leave-untouched).
__device__ __forceinline__ bool may_commit(const u64* batch_key, const i64* record) {
  return *batch_key == kNoError && record[0] == 0;
}

// Block 0, thread 0 of a commit kernel copies a failed batch's first error into a clear
// record. Other threads of the same launch decide from the batch key first, so this write
// never changes what they do.
__device__ __forceinline__ void record_error(const u64* batch_key, i64* record) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    const u64 k = *batch_key;
    if (k != kNoError && record[0] == 0) {
      record[1] = static_cast<i64>(k >> (kPhaseBits + kColBits + kCodeBits));
      record[2] = static_cast<i64>((k >> kCodeBits) & ((1ull << kColBits) - 1));
      record[0] = static_cast<i64>(k & ((1ull << kCodeBits) - 1));
    }
  }
}

// The end of a call's last commit kernel: the last of its blocks to finish resets the batch
// key (every block has read it by then), so the next call starts clean with no fill launch.
// `done` is a zeroed counter of finished blocks, reset with the key.
__device__ __forceinline__ void release_key(u64* batch_key, unsigned int* done) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    if (atomicAdd(done, 1u) == gridDim.x - 1) {
      *batch_key = kNoError;
      *done = 0u;
      __threadfence();
    }
  }
}

// out[k] += delta[k] for k < n, if the batch may commit (float deltas of unweighted counts
// are whole numbers below 2^53, so their conversion to an int64 state is exact). `clear`:
// zero delta[k] after reading it (a count scratch, kept zero between calls); `release`: this
// is the call's last commit, which resets the batch key.
template <class Acc, class Out>
__global__ void commit_add(u64* __restrict__ batch_key, unsigned int* __restrict__ done,
                           i64* __restrict__ record, Acc* __restrict__ delta,
                           Out* __restrict__ out, i64 n, int clear, int release) {
  record_error(batch_key, record);
  const bool ok = may_commit(batch_key, record);
  for (i64 k = blockIdx.x * static_cast<i64>(blockDim.x) + threadIdx.x; k < n;
       k += static_cast<i64>(gridDim.x) * blockDim.x) {
    if (ok) out[k] += static_cast<Out>(delta[k]);
    if (clear) delta[k] = Acc(0);
  }
  if (release) release_key(batch_key, done);
}

}  // namespace metricore_cuda
