// Blocked float64 summation for the kernels' weighted sums.
//
// A kernel sums a block of at most 512 rows in independent vector lanes (an `omp simd`
// reduction, enabled by -fopenmp-simd: the pragma allows exactly this reassociation and
// nothing else, unlike -ffast-math; or kLanes explicit lanes); the block sum goes into a
// CascadeSum, which adds kCascadeBlocks block sums into a partial before adding the partial
// into the total. Every float64 addition thus adds at most a few hundred terms of similar
// magnitude, so the relative error stays near 1e-14 for N up to 2^24 and beyond (numpy's
// pairwise sum is in the same range), at the speed of a plain loop.
#pragma once
#include <cstdint>

namespace metricore {

constexpr int kLanes = 8;              // independent partial sums in a block
constexpr int64_t kCascadeBlocks = 256;  // block sums per partial

struct CascadeSum {
  double total = 0.0;
  double partial = 0.0;
  int64_t blocks = 0;

  void add(double block_sum) {
    partial += block_sum;
    if (++blocks == kCascadeBlocks) {
      total += partial;
      partial = 0.0;
      blocks = 0;
    }
  }
  double value() const { return total + partial; }
};

// Sum of the kLanes lanes, pairwise.
inline double lanes_total(const double* lane) {
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

}  // namespace metricore
