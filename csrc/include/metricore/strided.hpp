// Strided views over caller-owned memory, the dtype dispatch, and the weight policies.
// No Python: the bindings turn a NumPy array into an ArrayRef and dispatch from there.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "metricore/elementwise.hpp"

namespace metricore {

// A strided 1-D view: element i lives at base + i * stride bytes. Any stride is legal,
// negative and 0 included. Loads go through memcpy, so unaligned data is read correctly
// (memcpy of a scalar compiles to a plain load).
template <class T>
struct Strided1 {
  const char* base = nullptr;
  int64_t size = 0;
  int64_t stride = sizeof(T);  // bytes

  MC_HD T operator[](int64_t i) const {
    T v;
    memcpy(&v, base + i * stride, sizeof(T));
    return v;
  }
  // Unit stride and natural alignment: the view may be read through a T* (vectorized loops).
  bool is_contiguous() const {
    return stride == static_cast<int64_t>(sizeof(T)) &&
           reinterpret_cast<uintptr_t>(base) % alignof(T) == 0;
  }
  const T* data() const { return reinterpret_cast<const T*>(base); }
};

// A unit-stride, aligned 1-D view (what Strided1 becomes when is_contiguous()): loops over it
// auto-vectorize.
template <class T>
struct Contig1 {
  const T* ptr;
  MC_HD T operator[](int64_t i) const { return ptr[i]; }
};

// Calls f(view) with a Contig1 when every view is contiguous, else with the Strided1 views, so
// a kernel is instantiated twice: a vectorized contiguous loop and a general strided one.
template <class F, class... T>
decltype(auto) with_contiguity(F&& f, const Strided1<T>&... views) {
  if ((views.is_contiguous() && ...)) return f(Contig1<T>{views.data()}...);
  return f(views...);
}

// Calls f(std::true_type{}) or f(std::false_type{}): a run-time flag made a template argument.
template <class F>
decltype(auto) with_flag(bool flag, F&& f) {
  if (flag) return f(std::true_type{});
  return f(std::false_type{});
}

// A strided 2-D view (rows, cols), byte strides of any sign.
template <class T>
struct Strided2 {
  const char* base = nullptr;
  int64_t rows = 0, cols = 0;
  int64_t row_stride = 0, col_stride = 0;  // bytes

  MC_HD T operator()(int64_t i, int64_t j) const {
    T v;
    memcpy(&v, base + i * row_stride + j * col_stride, sizeof(T));
    return v;
  }
  MC_HD Strided1<T> row(int64_t i) const { return {base + i * row_stride, cols, col_stride}; }
  MC_HD Strided1<T> col(int64_t j) const { return {base + j * col_stride, rows, row_stride}; }
  // The rows x cols elements as one 1-D view in row-major order, when the strides allow it.
  bool flattens() const { return rows <= 1 || cols <= 1 || row_stride == cols * col_stride; }
  Strided1<T> flat() const {
    if (cols == 1) return {base, rows, row_stride};
    return {base, rows * cols, col_stride};
  }
};

// ------------------------------------------------------------------ dtypes
// Bool is read as uint8 (NumPy stores it as one byte 0/1): every kernel treats the two alike,
// and a bool byte other than 0/1 is then an ordinary bad label instead of undefined behaviour.
enum class Dtype : int { Int8, UInt8, Int32, Int64, Float32, Float64 };

inline const char* dtype_name(Dtype d) {
  switch (d) {
    case Dtype::Int8: return "int8";
    case Dtype::UInt8: return "uint8";
    case Dtype::Int32: return "int32";
    case Dtype::Int64: return "int64";
    case Dtype::Float32: return "float32";
    case Dtype::Float64: return "float64";
  }
  return "?";
}

inline int64_t dtype_size(Dtype d) {
  switch (d) {
    case Dtype::Int8:
    case Dtype::UInt8: return 1;
    case Dtype::Int32:
    case Dtype::Float32: return 4;
    default: return 8;
  }
}

// A type-erased array (what the bindings hand over): data, dtype, up to 2 dims, byte strides.
struct ArrayRef {
  const char* data = nullptr;
  Dtype dtype = Dtype::Float64;
  int ndim = 0;
  int64_t shape[2] = {1, 1};
  int64_t strides[2] = {0, 0};

  template <class T>
  Strided1<T> vec() const {
    return {data, shape[0], strides[0]};
  }
  // A 1-D array is seen as (N, 1).
  template <class T>
  Strided2<T> mat() const {
    if (ndim == 1) return {data, shape[0], 1, strides[0], 0};
    return {data, shape[0], shape[1], strides[0], strides[1]};
  }
};

template <class T>
struct TypeTag {
  using type = T;
};

// Calls f(TypeTag<T>{}) for a label dtype (all six storage types).
template <class F>
decltype(auto) visit_label(Dtype d, F&& f) {
  switch (d) {
    case Dtype::Int8: return f(TypeTag<int8_t>{});
    case Dtype::UInt8: return f(TypeTag<uint8_t>{});
    case Dtype::Int32: return f(TypeTag<int32_t>{});
    case Dtype::Int64: return f(TypeTag<int64_t>{});
    case Dtype::Float32: return f(TypeTag<float>{});
    case Dtype::Float64: return f(TypeTag<double>{});
  }
  throw std::invalid_argument("unsupported label dtype");
}

// Calls f(TypeTag<T>{}) for a score or weight dtype (float32, float64).
template <class F>
decltype(auto) visit_float(Dtype d, F&& f) {
  switch (d) {
    case Dtype::Float32: return f(TypeTag<float>{});
    case Dtype::Float64: return f(TypeTag<double>{});
    default: break;
  }
  throw std::invalid_argument("unsupported score/weight dtype");
}

// ----------------------------------------------------------- weight policies
// Weighted and unweighted kernels are one template over a weight policy:
//   UnitWeight        every weight is 1, counts are exact int64, nothing to validate;
//   ArrayWeight<W>    strided float32/float64 weights, double sums, non-finite is BAD_WEIGHT.
// A 1-D weight is a (N, 1) view, so (i, 0) addresses it.
struct UnitWeight {
  using acc_type = int64_t;
  static constexpr bool weighted = false;
  MC_HD bool valid(int64_t, int64_t) const { return true; }
  MC_HD int64_t operator()(int64_t, int64_t) const { return 1; }
};

template <class W>
struct ArrayWeight {
  using acc_type = double;
  using value_type = W;
  static constexpr bool weighted = true;
  Strided2<W> w;
  MC_HD bool valid(int64_t i, int64_t j) const { return is_finite_weight(w(i, j)); }
  MC_HD double operator()(int64_t i, int64_t j) const { return static_cast<double>(w(i, j)); }
};

// Calls f(policy) with UnitWeight for a null weight, else ArrayWeight<float|double>.
template <class F>
decltype(auto) visit_weight(const ArrayRef* weight, F&& f) {
  if (weight == nullptr) return f(UnitWeight{});
  return visit_float(weight->dtype, [&](auto tag) {
    using W = typename decltype(tag)::type;
    return f(ArrayWeight<W>{weight->mat<W>()});
  });
}

}  // namespace metricore
