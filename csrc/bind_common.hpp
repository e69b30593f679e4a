// What every binding shares: NumPy array -> ArrayRef (no copy, no conversion), argument checks
// that name the argument, the (code, row, col) result, and the conditional GIL release.
//
// The Python layer (metricore._validation) normally guarantees shapes and dtypes; these checks
// are a second line so that a wrong call raises TypeError/ValueError instead of crashing.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "metricore/errors.hpp"
#include "metricore/strided.hpp"

namespace metricore::bind {

namespace py = pybind11;

// Batches below this many elements keep the GIL: releasing and re-acquiring it costs about
// 100 ns, more than the work itself.
constexpr int64_t kReleaseGilElements = 4096;

[[noreturn]] inline void fail(const char* fn, const std::string& msg) {
  throw std::invalid_argument(std::string("metricore._core.") + fn + ": " + msg);
}

[[noreturn]] inline void fail_type(const char* fn, const std::string& msg) {
  throw py::type_error(std::string("metricore._core.") + fn + ": " + msg);
}

inline std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

inline bool native_byte_order(const py::dtype& dt) {
  const char order = dt.byteorder();
  const uint16_t probe = 1;
  const bool little = *reinterpret_cast<const uint8_t*>(&probe) == 1;
  return order == '=' || order == '|' || order == (little ? '<' : '>');
}

// The storage type of a NumPy dtype among those the kernels read, by kind and size (so that
// int64 spelled 'l' or 'q' is the same), or nullopt.
inline std::optional<Dtype> storage_dtype(const py::array& a) {
  const py::dtype dt = a.dtype();
  if (!native_byte_order(dt) || dt.has_fields()) return std::nullopt;
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (kind == 'b' && size == 1) return Dtype::UInt8;  // bool: read as uint8
  if (kind == 'i' && size == 1) return Dtype::Int8;
  if (kind == 'u' && size == 1) return Dtype::UInt8;
  if (kind == 'i' && size == 4) return Dtype::Int32;
  if (kind == 'i' && size == 8) return Dtype::Int64;
  if (kind == 'f' && size == 4) return Dtype::Float32;
  if (kind == 'f' && size == 8) return Dtype::Float64;
  return std::nullopt;
}

enum class Role { Label, Float };

// An input array as an ArrayRef: ndim in [min_ndim, max_ndim], a dtype of its role.
inline ArrayRef input(const char* fn, const char* name, const py::array& a, Role role,
                      int min_ndim, int max_ndim) {
  const int ndim = static_cast<int>(a.ndim());
  if (ndim < min_ndim || ndim > max_ndim) {
    fail(fn, std::string(name) + " must be " +
                 (min_ndim == max_ndim ? std::to_string(min_ndim) + "-D"
                                       : std::to_string(min_ndim) + "-D or " +
                                             std::to_string(max_ndim) + "-D") +
                 ", got " + std::to_string(ndim) + "-D");
  }
  const auto dt = storage_dtype(a);
  const bool ok = dt && (role == Role::Label || *dt == Dtype::Float32 || *dt == Dtype::Float64);
  if (!ok) {
    fail_type(fn, std::string(name) + " must have a native-order dtype among " +
                      (role == Role::Label
                           ? "bool, int8, uint8, int32, int64, float32, float64"
                           : "float32, float64") +
                      ", got " + dtype_str(a));
  }
  ArrayRef r;
  r.data = static_cast<const char*>(a.data());
  r.dtype = *dt;
  r.ndim = ndim;
  for (int d = 0; d < ndim; ++d) {
    r.shape[d] = a.shape(d);
    r.strides[d] = a.strides(d);
  }
  return r;
}

// sample_weight: None, or a float array.
inline std::optional<ArrayRef> weight_input(const char* fn, const py::object& w, int min_ndim,
                                            int max_ndim) {
  if (w.is_none()) return std::nullopt;
  if (!py::isinstance<py::array>(w))
    fail_type(fn, "sample_weight must be a NumPy array or None, got " +
                      py::str(py::type::of(w)).cast<std::string>());
  return input(fn, "sample_weight", py::reinterpret_borrow<py::array>(w), Role::Float, min_ndim,
               max_ndim);
}

// "(3,)", "(3, 4)"; a negative entry prints as "*" (any size).
template <class It>
std::string shape_string(It first, It last) {
  std::string s = "(";
  const auto n = last - first;
  for (auto it = first; it != last; ++it) {
    s += *it >= 0 ? std::to_string(*it) : std::string("*");
    if (n == 1) s += ",";
    else if (it + 1 != last) s += ", ";
  }
  return s + ")";
}

// `name` must have this shape (a negative entry matches any size).
inline void require_shape(const char* fn, const char* name, const ArrayRef& a,
                          std::initializer_list<int64_t> shape) {
  bool ok = static_cast<int>(shape.size()) == a.ndim;
  int d = 0;
  for (int64_t s : shape) {
    if (ok && s >= 0 && a.shape[d] != s) ok = false;
    ++d;
  }
  if (!ok)
    fail(fn, std::string(name) + " must have shape " + shape_string(shape.begin(), shape.end()) +
                 ", got " + shape_string(a.shape, a.shape + a.ndim));
}

// `shape` with a leading axis of G groups when G >= 0 (a grouped twin's state array).
inline std::vector<int64_t> with_groups(int64_t G, std::initializer_list<int64_t> shape) {
  std::vector<int64_t> s;
  if (G >= 0) s.push_back(G);
  s.insert(s.end(), shape);
  return s;
}

// The state array: C-contiguous, aligned, writeable, of this dtype and shape.
inline void* output(const char* fn, py::array& out, Dtype dtype,
                    const std::vector<int64_t>& shape, const char* name = "out") {
  const std::string nm(name);
  const auto dt = storage_dtype(out);
  if (!dt || *dt != dtype || out.dtype().kind() == 'b')
    fail_type(fn, nm + " must have dtype " + dtype_name(dtype) + " here, got " +
                      dtype_str(out));
  bool shape_ok = static_cast<size_t>(out.ndim()) == shape.size();
  int d = 0;
  for (int64_t s : shape) {
    if (shape_ok && out.shape(d) != s) shape_ok = false;
    ++d;
  }
  if (!shape_ok)
    fail(fn, nm + " must have shape " + shape_string(shape.begin(), shape.end()) + ", got " +
                 shape_string(out.shape(), out.shape() + out.ndim()));
  if (!(out.flags() & py::array::c_style)) fail(fn, nm + " must be C-contiguous");
  if (!out.writeable()) fail(fn, nm + " must be writeable");
  void* ptr = out.mutable_data();
  if (reinterpret_cast<uintptr_t>(ptr) % dtype_size(dtype) != 0) fail(fn, nm + " must be aligned");
  return ptr;
}

inline py::tuple result(const Error& e) { return py::make_tuple(e.code, e.row, e.col); }

// Releases the GIL for the lifetime of this object when the batch is big enough to be worth
// it (see kReleaseGilElements). Construct it only around pure C++ work. (Hidden like pybind11's
// own types, which it holds.)
class __attribute__((visibility("hidden"))) MaybeReleaseGil {
 public:
  explicit MaybeReleaseGil(int64_t elements) {
    if (elements >= kReleaseGilElements) release_.emplace();
  }

 private:
  std::optional<py::gil_scoped_release> release_;
};

// Runs f, a kernel call returning an Error, and returns its (code, row, col). The GIL is
// released around f for big batches (MaybeReleaseGil), which is safe: f only touches raw
// pointers into arrays the caller keeps alive, no Python object.
template <class F>
py::tuple run_kernel(int64_t elements, F&& f) {
  Error err;
  {
    MaybeReleaseGil gil(elements);
    err = f();
  }
  return result(err);
}

}  // namespace metricore::bind
