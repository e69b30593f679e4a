"""What every backend implements: one method per kernel family.

This module is the contract between the lifecycle layer (``metricore.metrics``)
and the native kernels (``csrc/`` for the C++ backend, ``_backends/numba`` for
Numba). It imports nothing heavy.

Calling convention, shared by every kernel:

* Inputs are host arrays that the validation layer has already shaped and
  typed. Kernels read them **in place through their byte strides**: any
  stride is legal, including 0 (a ``np.broadcast_to`` view, used to broadcast
  a per-row weight over labels without a copy) and negative strides.
* Dtypes a kernel must read without conversion:

  - ``LABEL_DTYPES`` for label-like arrays (``y_true`` everywhere, ``y_pred``
    when it holds class ids);
  - ``SCORE_DTYPES`` for scores/predictions;
  - ``WEIGHT_DTYPES`` for ``sample_weight`` (or ``None`` for unit weights).

  Anything else is converted by ``metricore._validation`` before the call,
  explicitly and documented there.
* ``out`` is the metric's state array (C-contiguous). The kernel **adds** the
  batch's contribution to it, and does so **all or nothing**: if the batch
  holds a bad value the kernel returns an error and ``out`` is bit-for-bit
  unchanged. Counting kernels get an ``int64`` ``out`` when ``sample_weight``
  is ``None`` (exact counts) and a ``float64`` one otherwise.
* Validation rides in the same pass as the accumulation. A kernel returns a
  triple ``(code, row, col)``: ``code`` is one of ``ErrorCode`` (``OK`` = 0),
  ``row``/``col`` locate the first offending element it met (``col`` is 0 for
  1-D arguments). ``metricore._validation.raise_for_error`` turns the triple
  into a ``ValueError`` naming the argument and the value. The numbers are
  mirrored in ``csrc/include/metricore/errors.hpp``; a test checks they agree.
* An empty batch (N == 0) is a no-op returning ``(0, 0, 0)``.
"""

from __future__ import annotations

import enum
from typing import Optional, Protocol, Tuple

import numpy as np

LABEL_DTYPES = tuple(
    np.dtype(t) for t in (np.bool_, np.int8, np.uint8, np.int32, np.int64, np.float32, np.float64)
)
SCORE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
WEIGHT_DTYPES = SCORE_DTYPES

ErrorTriple = Tuple[int, int, int]


class ErrorCode(enum.IntEnum):
    """Why a kernel refused a batch; which argument is at fault is implied."""

    OK = 0
    BINARY_LABEL = 1  # y_true holds a value other than 0 or 1
    TRUE_CLASS = 2  # y_true class id not an integer in [0, num_classes)
    PRED_CLASS = 3  # y_pred class id not an integer in [0, num_classes)
    NAN_SCORE = 4  # y_pred holds NaN
    BAD_WEIGHT = 5  # sample_weight holds NaN or +-inf
    GROUP = 6  # a group id (``groups``/``by``) outside [0, G)


class MomentKind(enum.IntEnum):
    """Per-element terms of the weighted-moments kernel (Keras formulas, eps = 1e-7).

    Row kinds average ``f(t, p)`` over the row's D elements; COSINE is a whole-row term.
    """

    VALUE = 0  # p                       (Mean / Sum: y_true is ignored)
    ABSOLUTE = 1  # |t - p|
    SQUARED = 2  # (t - p)^2
    ABSOLUTE_PERCENTAGE = 3  # 100 |t - p| / max(|t|, eps)
    SQUARED_LOG = 4  # (log(max(p, eps) + 1) - log(max(t, eps) + 1))^2
    LOG_COSH = 5  # x = p - t: x + softplus(-2x) - log(2)
    EQUAL = 6  # 1 if t == p else 0
    BINARY_MATCH = 7  # 1 if float(p > param) == t else 0
    COSINE = 8  # sum_j t_j p_j / (sqrt(max(sum t^2, 1e-12)) sqrt(max(sum p^2, 1e-12)))


class Backend(Protocol):
    """One method per kernel family. See the module docstring for the calling convention."""

    name: str

    def threshold_counts(
        self,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        sample_weight: Optional[np.ndarray],
        thresholds: np.ndarray,
        top_k: int,
        class_id: int,
        out: np.ndarray,
    ) -> ErrorTriple:
        """Confusion counts at T thresholds for L labels, in one pass (Keras semantics).

        Args:
            y_true: (N, L) labels, each 0 or 1 (else BINARY_LABEL).
            y_pred: (N, L) scores; NaN is NAN_SCORE.
            sample_weight: (N, L) weights (often a stride-0 broadcast of (N,)), or None.
            thresholds: (T,) float64, contiguous, strictly increasing.
            top_k: 0 = off; k > 0 keeps, per row, only the k largest scores (ties go to the
                lower column index, like ``ops.top_k``); the others count as negative
                predictions at every threshold.
            class_id: -1 counts every column; c >= 0 counts column c only (after top_k).
            out: (4, T, M), rows TP, FP, TN, FN. M == L gives per-label counts
                (multi_label); M == 1 pools every counted column into one count (Keras'
                flattening; with class_id >= 0 only that column is counted). When
                class_id >= 0, M must be 1. A sample is predicted positive at threshold t
                iff it is kept and ``y_pred > thresholds[t]`` (strict).

        Only counted columns are validated, except that top_k validates every score it ranks.
        """

    def confusion_matrix(
        self,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        sample_weight: Optional[np.ndarray],
        ignore_label: Optional[int],
        out: np.ndarray,
    ) -> ErrorTriple:
        """Multiclass confusion matrix, rows = true class, columns = predicted class.

        Args:
            y_true: (N,) class ids (integral values in [0, C), else TRUE_CLASS).
            y_pred: (N,) class ids (else PRED_CLASS), or (N, C) scores whose row argmax
                (first maximum) is the predicted class; NaN is NAN_SCORE.
            sample_weight: (N,) or None.
            ignore_label: samples whose y_true equals it are skipped entirely (not validated
                beyond y_true itself); None skips nothing.
            out: (C, C).
        """

    def topk_matches(
        self,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        sample_weight: Optional[np.ndarray],
        k: int,
        out: np.ndarray,
    ) -> ErrorTriple:
        """Counts rows whose true class is predicted (accuracy family).

        Args:
            y_true: (N,) class ids, or (N, C) one-hot-like rows whose argmax (first maximum)
                is the true class. Class ids outside [0, C) or non-integral: TRUE_CLASS.
            y_pred: (N, C) scores; NaN is NAN_SCORE.
            k: 0 = match iff argmax(y_pred row) (first maximum) == true class;
               k >= 1 = match iff fewer than k scores in the row are strictly greater than
               the true class's score (``tf.math.in_top_k``: ties are in).
            out: (2,): out[0] += sum w * match, out[1] += sum w.
        """

    def moments(
        self,
        kind: int,
        param: float,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        sample_weight: Optional[np.ndarray],
        out: np.ndarray,
    ) -> ErrorTriple:
        """Weighted sums of a per-row error term, in one pass.

        Args:
            kind: a ``MomentKind``; param: its parameter (BINARY_MATCH's threshold).
            y_true, y_pred: (N, D); y_pred is a score dtype, y_true a label dtype.
            sample_weight: (N, W) with W == D (one weight per element) or W == 1 (one per
                row; COSINE requires it), or None (unit weights).
            out: (2,) float64: out[0] += sum_i mean_j (w_ij f_ij),
                out[1] += sum_i mean_j w_ij  (W == 1: sum_i w_i mean_j f_ij and sum_i w_i;
                unweighted: sum_i mean_j f_ij and N). COSINE's row term replaces mean_j f_ij.
                Sums are accumulated in float64 with blocked (pairwise-like) summation.
        """

    def column_moments(
        self,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        sample_weight: Optional[np.ndarray],
        shift: np.ndarray,
        out: np.ndarray,
    ) -> ErrorTriple:
        """Per-column shifted sums for R^2, in one pass.

        Args:
            y_true, y_pred: (N, D).
            sample_weight: (N,) or None.
            shift: (D,) float64: a value near each column's mean (the caller passes the
                batch's first row); sums of (t - shift) are well conditioned.
            out: (4, D) float64: out[0] += sum w, out[1] += sum w (t - shift),
                out[2] += sum w (t - shift)^2, out[3] += sum w (t - p)^2.
        """


    def score_histogram(
        self,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        sample_weight: Optional[np.ndarray],
        thresholds: np.ndarray,
        class_id: int,
        out: np.ndarray,
        score_sums: Optional[np.ndarray],
    ) -> ErrorTriple:
        """Per-bucket weight of positive and negative samples: the curve family's one pass.

        Every threshold curve (ROC, PR, the ``*AtRecall`` metrics, calibration) is derived
        from these histograms by cumulative sums at ``result()``; the pass itself costs the
        same for 2 thresholds or 65,536.

        Args:
            y_true: (N, L) labels, each 0 or 1 (else BINARY_LABEL); or (N,) class ids of a
                one-vs-rest problem, column j's label being ``y_true == j`` (ids must be
                integral values in [0, L), else TRUE_CLASS, reported at column 0).
            y_pred: (N, L) scores; NaN is NAN_SCORE (+-inf are legal: first/last bucket).
            sample_weight: (N, L) weights (often a stride-0 broadcast of (N,)), or None.
            thresholds: (T,) float64, contiguous, strictly increasing; T == 0 is legal (one
                bucket: the batch's totals).
            class_id: -1 counts every column; c >= 0 counts column c only (then M == 1).
            out: (2, T + 1, M): ``out[1, b, m]`` += the weight of positive elements whose
                score falls in bucket b, ``out[0, b, m]`` that of negative ones. Bucket b is
                the number of thresholds strictly below the score (``bucket_index``), so
                an element is predicted positive at threshold t iff its bucket is > t.
                M == L gives per-label histograms, M == 1 pools every counted column.
            score_sums: None, or (T + 1, M) float64: ``score_sums[b, m]`` += the sum of
                ``weight * score`` over bucket b's elements, both labels (calibration).

        Errors in row-major order; within a row: y_true (class ids: once, at column 0),
        then per counted column y_pred, then the weight. ``out`` and ``score_sums`` are
        bit-for-bit unchanged on error.
        """

    def binary_clf_curve(
        self,
        y_score: np.ndarray,
        y_true: np.ndarray,
        sample_weight: Optional[np.ndarray],
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The exact curve's points from one sort: scikit-learn's ``_binary_clf_curve``.

        Result-time work of the exact (``num_thresholds=None``) curve metrics; inputs were
        validated when they were accumulated, so this returns no error triple.

        Args:
            y_score: (n,) float32 or float64, any stride, no NaN (+-inf legal).
            y_true: (n,) uint8 or bool, each 0 or 1.
            sample_weight: (n,) float64, or None (unit weights).

        Returns:
            ``(thresholds, tps, fps)``: the K distinct scores in decreasing order (float64;
            -0.0 and 0.0 are one value) and, for each, the total weight of positive /
            negative elements scoring at least it (cumulative sums, so ``tps[-1]`` is the
            total positive weight). ``tps``/``fps`` are int64 when unweighted, float64
            otherwise. n == 0 gives three empty arrays.
        """


class GroupedBackend(Protocol):
    """Grouped (sliced) twins of the accumulating families: one pass, every group at once.

    Each takes ``groups`` first: (N,) int32 or int64 group ids, any stride, one per row;
    ``out`` (and ``score_sums``) gain a leading axis of size G = ``out.shape[0]``, and row
    i adds exactly what the ungrouped kernel would add, into ``out[groups[i]]``. Everything
    else (arguments, dtypes, strides, error order, all-or-nothing) is the ungrouped
    family's contract. A group id outside [0, G) is ``ErrorCode.GROUP`` at ``(row, 0)``,
    checked first in its row. ``groups`` has N entries (the caller checks the length).
    The cost must not grow with G beyond touching the groups' cells that rows hit (no
    per-call work over all of ``out``, so tens of thousands of groups stay cheap).

    Threshold counts need no twin: grouped threshold metrics accumulate a grouped
    score histogram and take cumulative sums at ``result()`` (``top_k`` excepted).
    """

    def score_histogram_grouped(self, groups, y_true, y_pred, sample_weight, thresholds,
                                class_id, out, score_sums) -> ErrorTriple:
        """out (G, 2, T + 1, M); score_sums None or (G, T + 1, M)."""

    def confusion_matrix_grouped(self, groups, y_true, y_pred, sample_weight, ignore_label,
                                 out) -> ErrorTriple:
        """out (G, C, C)."""

    def topk_matches_grouped(self, groups, y_true, y_pred, sample_weight, k,
                             out) -> ErrorTriple:
        """out (G, 2)."""

    def moments_grouped(self, groups, kind, param, y_true, y_pred, sample_weight,
                        out) -> ErrorTriple:
        """out (G, 2) float64. Sums per group; summation order is free (float rounding)."""

    def column_moments_grouped(self, groups, y_true, y_pred, sample_weight, shift,
                               out) -> ErrorTriple:
        """out (G, 4, D) float64; one ``shift`` (D,) shared by every group."""


GROUPED_FAMILIES = (
    "score_histogram_grouped",
    "confusion_matrix_grouped",
    "topk_matches_grouped",
    "moments_grouped",
    "column_moments_grouped",
)

FAMILIES = (
    "threshold_counts",
    "confusion_matrix",
    "topk_matches",
    "moments",
    "column_moments",
    "score_histogram",
    "binary_clf_curve",
)
