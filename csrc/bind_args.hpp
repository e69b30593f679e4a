// Each accumulating family's argument checks and dtype dispatch, shared by its binding and by
// its grouped twin's (bind_grouped.cpp). A twin passes G >= 0, the size of the leading group
// axis of `out` (and `score_sums`); the ungrouped bindings pass -1.
#pragma once
#include <optional>
#include <string>
#include <type_traits>

#include "bind_common.hpp"
#include "metricore/elementwise.hpp"
#include "metricore/moments.hpp"

namespace metricore::bind {

// "(" or "(G, ": the start of a shape in a message about out.
inline std::string out_shape_prefix(int64_t G) { return G >= 0 ? "(G, " : "("; }

// ------------------------------------------------------------------ score_histogram
struct ScoreHistogramArgs {
  ArrayRef t, p;
  std::optional<ArrayRef> w;
  bool class_ids;
  int64_t N, L, T, M;
  const double* thr;
  void* out;
  double* sums;  // null when score_sums is None
};

inline ScoreHistogramArgs score_histogram_args(const char* fn, const py::array& y_true,
                                               const py::array& y_pred,
                                               const py::object& sample_weight,
                                               const py::array& thresholds, int64_t class_id,
                                               py::array& out, const py::object& score_sums,
                                               int64_t G) {
  ScoreHistogramArgs a;
  a.p = input(fn, "y_pred", y_pred, Role::Float, 2, 2);
  a.N = a.p.shape[0];
  a.L = a.p.shape[1];
  a.t = input(fn, "y_true", y_true, Role::Label, 1, 2);
  a.class_ids = a.t.ndim == 1;
  if (a.class_ids) {
    require_shape(fn, "y_true", a.t, {a.N});
    if (a.L > INT32_MAX) fail(fn, "too many classes for class-id y_true: " + std::to_string(a.L));
  } else {
    require_shape(fn, "y_true", a.t, {a.N, a.L});
  }
  a.w = weight_input(fn, sample_weight, 2, 2);
  if (a.w) require_shape(fn, "sample_weight", *a.w, {a.N, a.L});

  const ArrayRef thr = input(fn, "thresholds", thresholds, Role::Float, 1, 1);
  a.T = thr.shape[0];
  if (thr.dtype != Dtype::Float64)
    fail_type(fn, "thresholds must be float64, got " + dtype_str(thresholds));
  if ((a.T > 1 && thr.strides[0] != 8) || reinterpret_cast<uintptr_t>(thr.data) % 8 != 0)
    fail(fn, "thresholds must be contiguous and aligned");
  if (a.T >= (int64_t(1) << 29)) fail(fn, "too many thresholds: " + std::to_string(a.T));
  if (class_id < -1 || class_id >= a.L)
    fail(fn, "class_id must be -1 or in [0, " + std::to_string(a.L) + "), got " +
                 std::to_string(class_id));
  const int lead = G >= 0 ? 1 : 0;
  a.M = out.ndim() == 3 + lead ? out.shape(2 + lead) : -1;
  if (a.M != 1 && a.M != a.L)
    fail(fn, "out must have shape " + out_shape_prefix(G) +
                 "2, T + 1, M) with M = 1 or M = L = " + std::to_string(a.L));
  if (class_id >= 0 && a.M != 1) fail(fn, "out must have M = 1 when class_id >= 0");
  a.out = output(fn, out, a.w ? Dtype::Float64 : Dtype::Int64, with_groups(G, {2, a.T + 1, a.M}));
  a.sums = nullptr;
  if (!score_sums.is_none()) {
    if (!py::isinstance<py::array>(score_sums))
      fail_type(fn, "score_sums must be a NumPy array or None, got " +
                        py::str(py::type::of(score_sums)).cast<std::string>());
    auto s = py::reinterpret_borrow<py::array>(score_sums);
    a.sums = static_cast<double*>(
        output(fn, s, Dtype::Float64, with_groups(G, {a.T + 1, a.M}), "score_sums"));
  }
  a.thr = reinterpret_cast<const double*>(thr.data);
  return a;
}

// f(y_true view, y_pred view, weight policy, typed out).
template <class F>
Error visit_score_histogram(const ScoreHistogramArgs& a, F&& f) {
  return visit_label(a.t.dtype, [&](auto lt) {
    using LT = typename decltype(lt)::type;
    return visit_float(a.p.dtype, [&](auto st) {
      using ST = typename decltype(st)::type;
      return visit_weight(a.w ? &*a.w : nullptr, [&](const auto& wp) {
        using Acc = typename std::decay_t<decltype(wp)>::acc_type;
        return f(a.t.mat<LT>(), a.p.mat<ST>(), wp, static_cast<Acc*>(a.out));
      });
    });
  });
}

// ------------------------------------------------------------------ confusion_matrix
struct ConfusionMatrixArgs {
  ArrayRef t, p;
  std::optional<ArrayRef> w;
  bool scores;  // y_pred holds (N, C) scores, not class ids
  int64_t N, C;
  void* out;
};

inline ConfusionMatrixArgs confusion_matrix_args(const char* fn, const py::array& y_true,
                                                 const py::array& y_pred,
                                                 const py::object& sample_weight,
                                                 py::array& out, int64_t G) {
  ConfusionMatrixArgs a;
  a.t = input(fn, "y_true", y_true, Role::Label, 1, 1);
  a.N = a.t.shape[0];
  const int lead = G >= 0 ? 1 : 0;
  if (out.ndim() != 2 + lead || out.shape(lead) != out.shape(lead + 1))
    fail(fn, "out must have shape " + out_shape_prefix(G) + "C, C): a square matrix");
  a.C = out.shape(lead);
  if (a.C > INT32_MAX) fail(fn, "out must have at most 2^31 - 1 classes");
  a.scores = y_pred.ndim() == 2;
  a.p = input(fn, "y_pred", y_pred, a.scores ? Role::Float : Role::Label, 1, 2);
  if (a.scores) {
    require_shape(fn, "y_pred", a.p, {a.N, a.C});
  } else {
    require_shape(fn, "y_pred", a.p, {a.N});
  }
  a.w = weight_input(fn, sample_weight, 1, 1);
  if (a.w) require_shape(fn, "sample_weight", *a.w, {a.N});
  a.out = output(fn, out, a.w ? Dtype::Float64 : Dtype::Int64, with_groups(G, {a.C, a.C}));
  return a;
}

// f(PredScores as std::bool_constant, y_true view, y_pred view, weight policy, typed out).
template <class F>
Error visit_confusion_matrix(const ConfusionMatrixArgs& a, F&& f) {
  return visit_label(a.t.dtype, [&](auto tt) {
    using TT = typename decltype(tt)::type;
    auto run = [&](auto pt, auto is_scores) {
      using PT = typename decltype(pt)::type;
      return visit_weight(a.w ? &*a.w : nullptr, [&](const auto& wp) {
        using Acc = typename std::decay_t<decltype(wp)>::acc_type;
        return f(is_scores, a.t.vec<TT>(), a.p.mat<PT>(), wp, static_cast<Acc*>(a.out));
      });
    };
    if (a.scores) return visit_float(a.p.dtype, [&](auto pt) { return run(pt, std::true_type{}); });
    return visit_label(a.p.dtype, [&](auto pt) { return run(pt, std::false_type{}); });
  });
}

// ------------------------------------------------------------------ topk_matches
struct TopkMatchesArgs {
  ArrayRef t, p;
  std::optional<ArrayRef> w;
  bool rows;  // y_true holds (N, C) rows, not class ids
  int64_t N, C;
  void* out;
};

inline TopkMatchesArgs topk_matches_args(const char* fn, const py::array& y_true,
                                         const py::array& y_pred,
                                         const py::object& sample_weight, int64_t k,
                                         py::array& out, int64_t G) {
  TopkMatchesArgs a;
  a.p = input(fn, "y_pred", y_pred, Role::Float, 2, 2);
  a.N = a.p.shape[0];
  a.C = a.p.shape[1];
  if (a.C > INT32_MAX) fail(fn, "y_pred must have at most 2^31 - 1 columns");
  a.t = input(fn, "y_true", y_true, Role::Label, 1, 2);
  a.rows = a.t.ndim == 2;
  if (a.rows) {
    require_shape(fn, "y_true", a.t, {a.N, a.C});
  } else {
    require_shape(fn, "y_true", a.t, {a.N});
  }
  a.w = weight_input(fn, sample_weight, 1, 1);
  if (a.w) require_shape(fn, "sample_weight", *a.w, {a.N});
  if (k < 0) fail(fn, "k must be >= 0, got " + std::to_string(k));
  a.out = output(fn, out, a.w ? Dtype::Float64 : Dtype::Int64, with_groups(G, {2}));
  return a;
}

// f(TrueRows as std::bool_constant, y_true view, y_pred view, weight policy, typed out).
template <class F>
Error visit_topk_matches(const TopkMatchesArgs& a, F&& f) {
  return visit_label(a.t.dtype, [&](auto tt) {
    using TT = typename decltype(tt)::type;
    return visit_float(a.p.dtype, [&](auto st) {
      using ST = typename decltype(st)::type;
      return visit_weight(a.w ? &*a.w : nullptr, [&](const auto& wp) {
        using Acc = typename std::decay_t<decltype(wp)>::acc_type;
        return with_flag(a.rows, [&](auto rows) {
          return f(rows, a.t.mat<TT>(), a.p.mat<ST>(), wp, static_cast<Acc*>(a.out));
        });
      });
    });
  });
}

// ------------------------------------------------------------------ moments
struct MomentsArgs {
  MomentKind kind;
  ArrayRef t, p;
  std::optional<ArrayRef> w;
  int64_t N, D;
  double* out;
};

inline MomentsArgs moments_args(const char* fn, int64_t kind, const py::array& y_true,
                                const py::array& y_pred, const py::object& sample_weight,
                                py::array& out, int64_t G) {
  MomentsArgs a;
  if (!valid_moment_kind(kind)) fail(fn, "unknown moment kind " + std::to_string(kind));
  a.kind = static_cast<MomentKind>(kind);
  a.p = input(fn, "y_pred", y_pred, Role::Float, 2, 2);
  a.N = a.p.shape[0];
  a.D = a.p.shape[1];
  if (a.D == 0) fail(fn, "y_pred must have at least one column");
  a.t = input(fn, "y_true", y_true, Role::Label, 2, 2);
  require_shape(fn, "y_true", a.t, {a.N, a.D});
  a.w = weight_input(fn, sample_weight, 2, 2);
  if (a.w) {
    require_shape(fn, "sample_weight", *a.w, {a.N, -1});
    if (a.w->shape[1] != 1 && a.w->shape[1] != a.D)
      fail(fn, "sample_weight must have shape (N, 1) or (N, D) = " +
                   shape_string(a.t.shape, a.t.shape + 2) + ", got " +
                   shape_string(a.w->shape, a.w->shape + 2));
    if (a.kind == MomentKind::COSINE && a.w->shape[1] != 1)
      fail(fn, "COSINE takes one weight per row: sample_weight must have shape (N, 1)");
  }
  a.out = static_cast<double*>(output(fn, out, Dtype::Float64, with_groups(G, {2})));
  return a;
}

// f(y_true view, y_pred view, weight policy); the same for column_moments' arguments.
template <class A, class F>
Error visit_moments(const A& a, F&& f) {
  return visit_label(a.t.dtype, [&](auto tt) {
    using TT = typename decltype(tt)::type;
    return visit_float(a.p.dtype, [&](auto pt) {
      using PT = typename decltype(pt)::type;
      return visit_weight(a.w ? &*a.w : nullptr, [&](const auto& wp) {
        return f(a.t.template mat<TT>(), a.p.template mat<PT>(), wp);
      });
    });
  });
}

// ------------------------------------------------------------------ column_moments
struct ColumnMomentsArgs {
  ArrayRef t, p;
  std::optional<ArrayRef> w;
  int64_t N, D;
  const double* shift;
  double* out;
};

inline ColumnMomentsArgs column_moments_args(const char* fn, const py::array& y_true,
                                             const py::array& y_pred,
                                             const py::object& sample_weight,
                                             const py::array& shift, py::array& out,
                                             int64_t G) {
  ColumnMomentsArgs a;
  a.p = input(fn, "y_pred", y_pred, Role::Float, 2, 2);
  a.N = a.p.shape[0];
  a.D = a.p.shape[1];
  a.t = input(fn, "y_true", y_true, Role::Label, 2, 2);
  require_shape(fn, "y_true", a.t, {a.N, a.D});
  a.w = weight_input(fn, sample_weight, 1, 1);
  if (a.w) require_shape(fn, "sample_weight", *a.w, {a.N});
  const ArrayRef s = input(fn, "shift", shift, Role::Float, 1, 1);
  require_shape(fn, "shift", s, {a.D});
  if (s.dtype != Dtype::Float64) fail_type(fn, "shift must be float64, got " + dtype_str(shift));
  if ((a.D > 1 && s.strides[0] != 8) || reinterpret_cast<uintptr_t>(s.data) % 8 != 0)
    fail(fn, "shift must be contiguous and aligned");
  a.shift = reinterpret_cast<const double*>(s.data);
  a.out = static_cast<double*>(output(fn, out, Dtype::Float64, with_groups(G, {4, a.D})));
  return a;
}

}  // namespace metricore::bind
