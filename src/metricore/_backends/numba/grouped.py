"""Grouped (sliced) twins of the accumulating families: every group of a batch in one call.

See ``metricore._backends.protocol.GroupedBackend`` for the contract. Row i adds exactly
what the ungrouped kernel would add, into ``out[groups[i]]``.

Each kernel makes two passes over the batch, one loop each:

1. validation, writing nothing: the first row whose group id is outside [0, G), and the
   ungrouped family's own first-error scan (the very function, so the same order and
   locations); the earlier row wins, the group id on a tie (it is checked first in its row);
2. accumulation, straight into ``out[groups[i]]``, with the ungrouped kernels' per-element
   helpers (bucket search, class ids, first argmax, moment terms).

Validating the whole batch before writing makes the call all-or-nothing without a local
copy of the state, and nothing is ever sized by G or sweeps ``out``: the cost is that of the
batch, so tens of thousands of groups fed small batches stay cheap. The ungrouped kernels'
blocking (local histograms, pairwise sums) would need per-group buffers, so the sums here
are plain float64 accumulations into ``out[g]``: counts are exact and identical, float sums
agree to rounding.
"""

import numpy as np

from metricore._backends.protocol import ErrorCode, MomentKind

from ._args import ARGUMENT_ERROR, TypingError
from ._elementwise import (
    COSINE,
    U,
    bucket,
    bucket_grid,
    class_index,
    element_weight,
    labels_fit,
    row_class,
    row_weight,
    same_rows,
)
from ._jit import jit
from ._simd import VECTOR_BYTES, row_beaten
from .confusion_matrix import _check as _check_confusion_matrix
from .confusion_matrix import _first_error as _confusion_matrix_error
from .moments import (
    _check_column_moments,
    _check_moments,
    _first_bad_weight,
    _row_sums,
    _weight_columns,
    _weights_fit,
    column_terms,
    first_bad_row_weight,
)
from .score_histogram import _SEARCH_RATIO, _label, _search, histogram_args_fit
from .score_histogram import _check as _check_score_histogram
from .score_histogram import _first_error as _score_histogram_error
from .topk_matches import _check as _check_topk_matches
from .topk_matches import _first_error as _topk_matches_error

_GROUP = int(ErrorCode.GROUP)

_I32 = np.dtype(np.int32)
_I64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)


# ------------------------------------------------------------------ validation
@jit
def _first_bad_group(groups, num_groups):
    """The first row whose group id is outside [0, num_groups), or N if none is."""
    for i in range(groups.shape[0]):
        g = groups[U(i)]
        if (g < 0) | (g >= num_groups):
            return i
    return groups.shape[0]


@jit
def _earliest(groups, num_groups, error):
    """The batch's first error: the family's ``error`` triple (from its first-error scan),
    unless a bad group id comes in an earlier row or the same one (groups are checked first
    in each row)."""
    row = _first_bad_group(groups, num_groups)
    if (row < groups.shape[0]) & ((error[0] == 0) | (row <= error[1])):
        return _GROUP, row, 0
    return error


# ------------------------------------------------------------------ score_histogram
@jit
def _grouped_sums_fit(score_sums, num_groups, num_buckets, num_counts):
    if score_sums is None:
        return True
    return score_sums.shape == (num_groups, num_buckets, num_counts)


@jit
def _score_histogram_grouped_kernel(
    groups, y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums
):
    num_rows, num_labels = y_pred.shape
    num_groups = out.shape[0]
    num_thresholds = thresholds.shape[0]
    num_counts = out.shape[3]
    if (
        groups.shape[0] != num_rows
        or not histogram_args_fit(
            y_true, y_pred, sample_weight, num_thresholds, class_id, out.shape[1:]
        )
        or not _grouped_sums_fit(score_sums, num_groups, num_thresholds + 1, num_counts)
    ):
        return ARGUMENT_ERROR, 0, 0
    if num_rows == 0:
        return 0, 0, 0
    lo = class_id if class_id >= 0 else 0
    hi = class_id + 1 if class_id >= 0 else num_labels
    error = _earliest(
        groups, num_groups, _score_histogram_error(y_true, y_pred, sample_weight, lo, hi, 0)
    )
    if error[0] != 0:
        return error
    # The ungrouped kernel's small-batch rule: a binary search unless the batch is big enough
    # to pay for the O(T) grid. Both give the exact bucket (thresholds strictly below).
    depth = 1
    while (num_thresholds + 1) >> depth:
        depth += 1
    search = num_rows * (hi - lo) * depth * _SEARCH_RATIO < num_thresholds
    cells = bucket_grid(thresholds[: 0 if search else num_thresholds])
    per_label = num_counts > 1
    for i in range(num_rows):
        g = U(groups[U(i)])
        for j in range(lo, hi):
            s = np.float64(y_pred[U(i), U(j)])
            b = _search(thresholds, s) if search else bucket(cells, s)
            m = j if per_label else 0
            w = element_weight(sample_weight, i, j)
            out[g, U(_label(y_true, i, j, num_labels)), U(b), U(m)] += w
            if score_sums is not None:
                score_sums[g, U(b), U(m)] += np.float64(w) * s
    return 0, 0, 0


# ------------------------------------------------------------------ confusion_matrix
@jit
def _confusion_matrix_grouped_kernel(
    groups, y_true, y_pred, sample_weight, has_ignore, ignore_label, out
):
    num_rows = y_true.shape[0]
    num_classes = out.shape[1]
    if y_pred.ndim == 1:
        pred_ok = y_pred.shape[0] == num_rows
    else:
        pred_ok = (y_pred.shape[0] == num_rows) & (y_pred.shape[1] == num_classes)
    if (
        not pred_ok
        or groups.shape[0] != num_rows
        or out.shape[2] != num_classes
        or not same_rows(sample_weight, num_rows)
    ):
        return ARGUMENT_ERROR, 0, 0
    if num_rows == 0:
        return 0, 0, 0
    error = _earliest(
        groups,
        out.shape[0],
        _confusion_matrix_error(
            y_true, y_pred, sample_weight, has_ignore, ignore_label, num_classes, 0
        ),
    )
    if error[0] != 0:
        return error
    # Validated: every sample not ignored has its classes in range (so C >= 1 here).
    for i in range(num_rows):
        v = y_true[U(i)]
        if has_ignore and v == ignore_label:
            continue
        pred_id, _ = row_class(y_pred, i, num_classes)
        true_id = class_index(v, num_classes)
        out[U(groups[U(i)]), U(true_id), U(pred_id)] += row_weight(sample_weight, i)
    return 0, 0, 0


# ------------------------------------------------------------------ topk_matches
@jit
def _topk_matches_grouped_kernel(groups, y_true, y_pred, sample_weight, k, out):
    num_rows, num_classes = y_pred.shape
    if (
        not labels_fit(y_true, y_pred)
        or groups.shape[0] != num_rows
        or not same_rows(sample_weight, num_rows)
        or k < 0
        or out.shape[1] != 2
    ):
        return ARGUMENT_ERROR, 0, 0
    if num_rows == 0:
        return 0, 0, 0
    error = _earliest(groups, out.shape[0], _topk_matches_error(y_true, y_pred, sample_weight))
    if error[0] != 0:
        return error
    # Validated, and C >= 1 (with no class in range every row is TRUE_CLASS).
    need = max(k, 1)
    width = VECTOR_BYTES // y_pred.itemsize
    vector_rows = (y_pred.strides[1] == y_pred.itemsize) & (num_classes >= width)
    for i in range(num_rows):
        c, _ = row_class(y_true, i, num_classes)
        s = y_pred[U(i), U(c)]
        tie = c if k == 0 else 0  # first argmax: an equal score before c beats it too
        if vector_rows:
            above, _ = row_beaten(y_pred, i, s, tie, width)
        else:  # the ungrouped kernel's scalar scan (inline there: a helper costs it ~10%)
            above = 0
            for j in range(num_classes):
                v = y_pred[U(i), U(j)]
                above += (v > s) | ((j < tie) & (v == s))
        w = row_weight(sample_weight, i)
        g = U(groups[U(i)])
        out[g, 0] += w * (above < need)
        out[g, 1] += w
    return 0, 0, 0


# ------------------------------------------------------------------ moments
# ``kind`` is a run-time argument here (the ungrouped kernels close over it): one compiled
# kernel per argument types serves every kind, at the cost of a predictable branch per term.
@jit
def _moments_grouped_kernel(groups, kind, param, y_true, y_pred, sample_weight, out):
    num_rows, num_columns = y_true.shape
    if (
        y_pred.shape != y_true.shape
        or groups.shape[0] != num_rows
        or num_columns == 0
        or not _weights_fit(sample_weight, num_rows, num_columns, kind == COSINE)
        or out.shape[1] != 2
    ):
        return ARGUMENT_ERROR, 0, 0
    if num_rows == 0:
        return 0, 0, 0
    error = _earliest(groups, out.shape[0], _first_bad_weight(sample_weight, 0))
    if error[0] != 0:
        return error
    per_element = _weight_columns(sample_weight) > 1
    for i in range(num_rows):
        term, weight, _ = _row_sums(
            kind, None, param, y_true, y_pred, sample_weight, i, per_element
        )
        g = U(groups[U(i)])
        out[g, 0] += term
        out[g, 1] += weight
    return 0, 0, 0


# ------------------------------------------------------------------ column_moments
@jit
def _column_moments_grouped_kernel(groups, y_true, y_pred, sample_weight, shift, out):
    num_rows, num_columns = y_true.shape
    if (
        y_pred.shape != y_true.shape
        or groups.shape[0] != num_rows
        or not same_rows(sample_weight, num_rows)
        or shift.shape[0] != num_columns
        or out.shape[1] != 4
        or out.shape[2] != num_columns
    ):
        return ARGUMENT_ERROR, 0, 0
    if num_rows == 0:
        return 0, 0, 0
    error = _earliest(groups, out.shape[0], first_bad_row_weight(sample_weight, 0, num_rows))
    if error[0] != 0:
        return error
    for i in range(num_rows):
        g = U(groups[U(i)])
        w = row_weight(sample_weight, i)
        for j in range(num_columns):
            d, e = column_terms(y_true[U(i), U(j)], y_pred[U(i), U(j)], shift[U(j)])
            out[g, 0, U(j)] += w
            out[g, 1, U(j)] += w * d
            out[g, 2, U(j)] += w * d * d
            out[g, 3, U(j)] += w * e * e
    return 0, 0, 0


# ------------------------------------------------------------------ Python entry points
def _one_group(state):
    """One group's slice of ``state`` (a zero array when G = 0), for the ungrouped checks,
    which read only its shape, dtype and flags."""
    return state[0] if state.shape[0] else np.zeros(state.shape[1:], state.dtype)


def _explain(name, check, groups, y_true, args, states, error=None):
    """The wrappers' slow path, like ``_args.explain``: raises the error that ``groups`` or
    the ungrouped family's ``check`` finds (run on one group's slice of the state arrays,
    the last ``states`` of ``args``), else ``error`` (or an AssertionError: the kernel
    refused arguments the checks accept)."""
    if groups.ndim != 1 or (groups.dtype != _I32 and groups.dtype != _I64):
        raise TypeError(
            f"{name}: groups must be a 1-D int32 or int64 array; "
            f"got {groups.dtype} of shape {groups.shape}"
        )
    out = args[-states]
    if out.ndim == 0 or not out.flags.c_contiguous:
        raise ValueError(f"{name}: out must be a C-contiguous (G, ...) array")
    sliced = list(args)
    for k in range(len(args) - states, len(args)):
        state = args[k]
        if state is None:
            continue
        if state.ndim == 0 or state.shape[0] != out.shape[0]:
            raise ValueError(
                f"{name}: state arrays must have G = {out.shape[0]} groups on their leading "
                f"axis; got shape {state.shape}"
            )
        sliced[k] = _one_group(state)
    try:
        check(*sliced)
    except (TypeError, ValueError) as problem:
        raise type(problem)(f"{name} (per group, out[g]): {problem}") from None
    if groups.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"{name}: groups must have one id per row ({y_true.shape[0]}); "
            f"got {groups.shape[0]}"
        )
    if error is not None:
        raise error
    raise AssertionError(f"{name}: the kernel refused arguments the checks accept")


def _typed(groups, out, out_dtype):
    """The fast path's dtype test: the kernels compile for any integer ids and would add
    float weights into an int64 state, so these are checked before the call."""
    return (groups.dtype is _I64 or groups.dtype is _I32) and out.dtype is out_dtype


def _run(kernel, checks, typed, *args):
    """Every wrapper's body: the fast dtype test, the kernel call, and the slow path that
    names the bad argument (``checks``: ``_explain``'s arguments) when either fails."""
    if not typed:
        _explain(*checks)
    try:
        result = kernel(*args)
    except TypingError as error:
        _explain(*checks, error)
    if result[0] < 0:
        _explain(*checks)
    return result


def score_histogram_grouped(
    groups, y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums
):
    """GroupedBackend.score_histogram_grouped: out (G, 2, T + 1, M), score_sums None or
    (G, T + 1, M); returns (code, row, col)."""
    args = (y_true, y_pred, sample_weight, thresholds, class_id, out, score_sums)
    checks = ("score_histogram_grouped", _check_score_histogram, groups, y_true, args, 2)
    typed = _typed(groups, out, _I64 if sample_weight is None else _F64) and (
        score_sums is None or score_sums.dtype is _F64)
    return _run(_score_histogram_grouped_kernel, checks, typed, groups, *args)


def confusion_matrix_grouped(groups, y_true, y_pred, sample_weight, ignore_label, out):
    """GroupedBackend.confusion_matrix_grouped: out (G, C, C); returns (code, row, col)."""
    args = (y_true, y_pred, sample_weight, ignore_label, out)
    checks = ("confusion_matrix_grouped", _check_confusion_matrix, groups, y_true, args, 1)
    has_ignore = ignore_label is not None
    return _run(_confusion_matrix_grouped_kernel, checks,
                _typed(groups, out, _I64 if sample_weight is None else _F64),
                groups, y_true, y_pred, sample_weight, has_ignore,
                ignore_label if has_ignore else 0, out)


def topk_matches_grouped(groups, y_true, y_pred, sample_weight, k, out):
    """GroupedBackend.topk_matches_grouped: out (G, 2); returns (code, row, col)."""
    args = (y_true, y_pred, sample_weight, k, out)
    checks = ("topk_matches_grouped", _check_topk_matches, groups, y_true, args, 1)
    return _run(_topk_matches_grouped_kernel, checks,
                _typed(groups, out, _I64 if sample_weight is None else _F64), groups, *args)


def moments_grouped(groups, kind, param, y_true, y_pred, sample_weight, out):
    """GroupedBackend.moments_grouped: out (G, 2) float64; returns (code, row, col)."""
    if not 0 <= kind < len(MomentKind):
        raise ValueError(f"moments_grouped: unknown moment kind {kind}")
    args = (kind, y_true, y_pred, sample_weight, out)
    checks = ("moments_grouped", _check_moments, groups, y_true, args, 1)
    return _run(_moments_grouped_kernel, checks, _typed(groups, out, _F64),
                groups, int(kind), float(param), y_true, y_pred, sample_weight, out)


def column_moments_grouped(groups, y_true, y_pred, sample_weight, shift, out):
    """GroupedBackend.column_moments_grouped: out (G, 4, D) float64, one shift (D,) for
    every group; returns (code, row, col)."""
    args = (y_true, y_pred, sample_weight, shift, out)
    checks = ("column_moments_grouped", _check_column_moments, groups, y_true, args, 1)
    return _run(_column_moments_grouped_kernel, checks, _typed(groups, out, _F64),
                groups, *args)
