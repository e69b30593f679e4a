// binary_clf_curve: the exact curve's points, scikit-learn's _binary_clf_curve, from radix
// sorts instead of a comparison sort. See metricore/_backends/protocol.py for the contract.
//
//   1. One pass splits the elements into positives and negatives, mapping each score (after
//      s + 0.0, so that -0.0 is 0.0) to an unsigned key with the same order (float32 ->
//      uint32, float64 -> uint64) and counting the keys' radix digits of both classes.
//   2. Each class is sorted by an LSD radix sort (8-bit digits, 11-bit for weighted float64;
//      stable; a pass whose digit is the same for every key is skipped, e.g. the low mantissa
//      bits of float64 scores that were float32), carrying the float64 weight along when
//      weighted.
//   3. A branch-free merge walks both sorted lists from the largest key down and emits each
//      distinct key once, with the cumulative positive / negative weight at that point.
// The sorts are stable and walked from the end, so tied elements are summed in the same
// order as scikit-learn's (stable sort, reversed): float64 sums match it closely. Scratch:
// 2 key buffers (+ 2 weight buffers) of n entries.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "metricore/strided.hpp"

namespace metricore {
namespace curve_detail {

template <class S>
using KeyOf = std::conditional_t<sizeof(S) == 4, uint32_t, uint64_t>;

// An unsigned key ordered like the score: flip every bit of a negative, the sign bit of a
// positive; -0.0 becomes 0.0 first. Keys of real scores are >= 1 (0 and a few above it are
// negative NaN patterns, kept >= 1 too: key 0 is the merge's sentinel).
template <class S>
inline KeyOf<S> order_key(S s) {
  using K = KeyOf<S>;
  constexpr int kBits = 8 * sizeof(K);
  s = s + S(0);
  K u;
  std::memcpy(&u, &s, sizeof(K));
  const K mask = static_cast<K>(-static_cast<std::make_signed_t<K>>(u >> (kBits - 1))) |
                 (K(1) << (kBits - 1));
  const K key = u ^ mask;
  return key > K(1) ? key : K(1);
}

template <class S>
inline S key_value(KeyOf<S> key) {
  using K = KeyOf<S>;
  constexpr int kBits = 8 * sizeof(K);
  // A set top bit marks a non-negative score.
  const K mask = (key >> (kBits - 1)) ? (K(1) << (kBits - 1)) : ~K(0);
  const K u = key ^ mask;
  S s;
  std::memcpy(&s, &u, sizeof(K));
  return s;
}

// Radix digits of Bits bits: 8 (all histograms in a few KiB of L1) except for weighted 64-bit
// keys, where 11 (6 passes instead of 8, each moving 16 bytes per element) measured faster.
constexpr int kRadix = 1 << 11;  // histogram rows are sized for the widest digit

template <class K, int Bits>
constexpr int num_passes() {
  return (8 * static_cast<int>(sizeof(K)) + Bits - 1) / Bits;
}

template <int Bits, class K>
inline uint32_t digit(K key, int pass) {
  return static_cast<uint32_t>(key >> (pass * Bits)) & ((1u << Bits) - 1);
}

// LSD radix sort of keys[0, n) (and of the payload, if any) using tmp buffers of the same
// size; hist[pass][d] counts the keys whose digit `pass` is d. Returns which buffer holds the
// result: false = keys/pay, true = tmp/tmp_pay.
template <int Bits, class K, class Count>
bool radix_sort(K* keys, K* tmp, double* pay, double* tmp_pay, int64_t n, Count (*hist)[kRadix]) {
  constexpr int kBits = Bits;
  constexpr int kDigits = 1 << kBits;
  bool in_tmp = false;
  for (int pass = 0; pass < num_passes<K, Bits>(); ++pass) {
    Count* h = hist[pass];
    // Skip a pass whose digit is the same for every key.
    bool trivial = false;
    for (int d = 0; d < kDigits; ++d) {
      if (static_cast<int64_t>(h[d]) == n) trivial = true;
      if (h[d] != 0) break;
    }
    if (trivial || n <= 1) continue;
    Count offsets[kDigits];
    Count sum = 0;
    for (int d = 0; d < kDigits; ++d) {
      offsets[d] = sum;
      sum += h[d];
    }
    const K* src = in_tmp ? tmp : keys;
    K* dst = in_tmp ? keys : tmp;
    const int shift = pass * kBits;
    if (pay) {
      const double* psrc = in_tmp ? tmp_pay : pay;
      double* pdst = in_tmp ? pay : tmp_pay;
      for (int64_t i = 0; i < n; ++i) {
        const K k = src[i];
        const Count o = offsets[static_cast<uint32_t>(k >> shift) & (kDigits - 1)]++;
        dst[o] = k;
        pdst[o] = psrc[i];
      }
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const K k = src[i];
        dst[offsets[static_cast<uint32_t>(k >> shift) & (kDigits - 1)]++] = k;
      }
    }
    in_tmp = !in_tmp;
  }
  return in_tmp;
}

// Uninitialized scratch; a big one asks for transparent huge pages (as NumPy does for its
// arrays): its first touch then costs one page fault per 2 MiB instead of per 4 KiB.
struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
template <class T>
using Scratch = std::unique_ptr<T[], FreeDeleter>;

template <class T>
Scratch<T> uninitialized(int64_t n) {
  constexpr size_t kHuge = size_t(1) << 21;
  const size_t bytes = std::max<size_t>(static_cast<size_t>(n) * sizeof(T), 1);
  void* p;
  if (bytes >= 4 * kHuge) {
    p = std::aligned_alloc(kHuge, (bytes + kHuge - 1) / kHuge * kHuge);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p) madvise(p, bytes, MADV_HUGEPAGE);
#endif
  } else {
    p = std::malloc(bytes);
  }
  if (!p) throw std::bad_alloc();
  return Scratch<T>(static_cast<T*>(p));
}

template <class S, class Count, int Bits, class Tally>
int64_t curve(const Strided1<S>& score, const Strided1<uint8_t>& y, const Strided1<double>* w,
              int64_t num_pos, double* thr_out, Tally* tps_out, Tally* fps_out) {
  using K = KeyOf<S>;
  constexpr int kPasses = num_passes<K, Bits>();
  const int64_t n = score.size, P = num_pos, Q = n - num_pos;
  // Layout of both buffers: [0][positives: P][slack] [0][negatives: Q][slack]. Slot 0 of a
  // class is the merge's sentinel; the slack takes the branch-free split's discarded writes.
  const int64_t pos0 = 1, neg0 = P + 3;
  const int64_t total = P + Q + 4;
  auto keys = uninitialized<K>(total), tmp = uninitialized<K>(total);
  Scratch<double> pay, tmp_pay;
  if (w) {
    pay = uninitialized<double>(total);
    tmp_pay = uninitialized<double>(total);
  }
  auto hist = std::make_unique<Count[][kRadix]>(2 * kPasses);  // [class * kPasses + pass]
  std::fill(&hist[0][0], &hist[0][0] + 2 * kPasses * kRadix, Count(0));

  // 1. Split and count digits.
  {
    K* kp = keys.get() + pos0;
    K* kn = keys.get() + neg0;
    double* wp = w ? pay.get() + pos0 : nullptr;
    double* wn = w ? pay.get() + neg0 : nullptr;
    int64_t ip = 0, in = 0;
    auto split = [&](auto sv, auto yv, auto wv, auto has_w) {
      for (int64_t i = 0; i < n; ++i) {
        const K key = order_key(sv[i]);
        const int64_t pos = yv[i] & 1;
        kp[ip] = key;
        kn[in] = key;
        if constexpr (decltype(has_w)::value) {
          const double wi = wv[i];
          wp[ip] = wi;
          wn[in] = wi;
        }
        ip += pos;
        in += 1 - pos;
        Count(*h)[kRadix] = hist.get() + (pos ? 0 : kPasses);
        for (int pass = 0; pass < kPasses; ++pass) ++h[pass][digit<Bits>(key, pass)];
      }
    };
    if (w) {
      with_contiguity([&](auto sv, auto yv, auto wv) { split(sv, yv, wv, std::true_type{}); },
                      score, y, *w);
    } else {
      with_contiguity([&](auto sv, auto yv) { split(sv, yv, sv, std::false_type{}); }, score, y);
    }
  }

  // 2. Sort each class; put the sentinels (key 0, below every real key; weight 0) just
  //    before each sorted list.
  auto sort_class = [&](int64_t start, int64_t count, Count(*h)[kRadix], const K*& sorted,
                        const double*& weights) {
    double* p = w ? pay.get() + start : nullptr;
    double* tp = w ? tmp_pay.get() + start : nullptr;
    const bool in_tmp = radix_sort<Bits, K, Count>(keys.get() + start, tmp.get() + start, p, tp,
                                                   count, h);
    K* k = (in_tmp ? tmp.get() : keys.get()) + start;
    k[-1] = 0;
    sorted = k;
    weights = nullptr;
    if (w) {
      double* wk = in_tmp ? tp : p;
      wk[-1] = 0.0;
      weights = wk;
    }
  };
  const K* sorted_p;
  const K* sorted_n;
  const double* wsp;
  const double* wsn;
  sort_class(pos0, P, hist.get(), sorted_p, wsp);
  sort_class(neg0, Q, hist.get() + kPasses, sorted_n, wsn);

  // 3. Merge from the top. i, k: how many positives / negatives are left (1-based heads).
  const K* kp = sorted_p - 1;
  const K* kn = sorted_n - 1;
  int64_t i = P, k = Q, out = 0;
  if (w) {
    const double* wp = wsp - 1;
    const double* wn = wsn - 1;
    double tp = 0.0, fp = 0.0;
    for (int64_t step = 0; step < n; ++step) {
      const K a = kp[i], b = kn[k];
      const bool take_pos = a >= b;
      const K v = take_pos ? a : b;
      tp += take_pos ? wp[i] : 0.0;
      fp += take_pos ? 0.0 : wn[k];
      i -= take_pos;
      k -= !take_pos;
      const K next = std::max(kp[i], kn[k]);
      std::memcpy(&thr_out[out], &v, sizeof(K));  // the key for now, decoded below
      tps_out[out] = static_cast<Tally>(tp);
      fps_out[out] = static_cast<Tally>(fp);
      out += next != v;
    }
  } else {
    for (int64_t step = 0; step < n; ++step) {
      const K a = kp[i], b = kn[k];
      const bool take_pos = a >= b;
      const K v = take_pos ? a : b;
      i -= take_pos;
      k -= !take_pos;
      const K next = std::max(kp[i], kn[k]);
      std::memcpy(&thr_out[out], &v, sizeof(K));
      tps_out[out] = static_cast<Tally>(P - i);
      fps_out[out] = static_cast<Tally>(Q - k);
      out += next != v;
    }
  }
  for (int64_t j = 0; j < out; ++j) {
    K key;
    std::memcpy(&key, &thr_out[j], sizeof(K));
    thr_out[j] = static_cast<double>(key_value<S>(key));
  }
  return out;
}

}  // namespace curve_detail

// The number of positive elements of y (each 0 or 1), or -1 - i for the first element i that
// is neither.
inline int64_t count_binary(const Strided1<uint8_t>& y) {
  return with_contiguity(
      [&](auto yv) -> int64_t {
        const int64_t n = y.size;
        constexpr int64_t kBlock = 4096;
        int64_t pos = 0;
        for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
          const int64_t b1 = std::min(n, b0 + kBlock);
          uint32_t count = 0;
          uint8_t bad = 0;
          for (int64_t i = b0; i < b1; ++i) {
            const uint8_t v = yv[i];
            bad |= static_cast<uint8_t>(v > 1);
            count += v;
          }
          if (bad) {
            for (int64_t i = b0; i < b1; ++i)
              if (yv[i] > 1) return -1 - i;
          }
          pos += count;
        }
        return pos;
      },
      y);
}

// Writes the curve's K points into thr_out (float64), tps_out and fps_out (int64 when w is
// null, else float64), each with room for n = score.size points, and returns K. y holds
// num_pos ones (count_binary) and zeros otherwise; scores hold no NaN.
template <class S, class Tally>
int64_t binary_clf_curve(const Strided1<S>& score, const Strided1<uint8_t>& y,
                         const Strided1<double>* w, int64_t num_pos, double* thr_out,
                         Tally* tps_out, Tally* fps_out) {
  using namespace curve_detail;
  if (score.size == 0) return 0;
  const bool wide = sizeof(S) == 8 && w != nullptr;
  if (score.size < (int64_t(1) << 32) - 8) {
    if (wide) return curve<S, uint32_t, 11>(score, y, w, num_pos, thr_out, tps_out, fps_out);
    return curve<S, uint32_t, 8>(score, y, w, num_pos, thr_out, tps_out, fps_out);
  }
  if (wide) return curve<S, uint64_t, 11>(score, y, w, num_pos, thr_out, tps_out, fps_out);
  return curve<S, uint64_t, 8>(score, y, w, num_pos, thr_out, tps_out, fps_out);
}

}  // namespace metricore
