"""A plain-NumPy implementation of the backend protocol, written for clarity, not speed.

It is the reference every native backend must reproduce on shared test data
(tests/test_backends.py): several passes, no fusion, but the same contract.
"""

import numpy as np

from metricore._backends.protocol import ErrorCode, MomentKind

EPS = 1e-7
OK = (0, 0, 0)


def _first(mask):
    idx = np.argwhere(mask)
    return tuple(int(i) for i in idx[0]) if idx.size else None


def _err(code, where):
    row, col = (where + (0,))[:2]
    return (int(code), row, col)


def _weights(sample_weight, shape):
    if sample_weight is None:
        return np.ones(shape, dtype=np.int64), None
    w = np.asarray(sample_weight, dtype=np.float64)
    bad = _first(~np.isfinite(w))
    return w, bad


def _class_error(ids, num_classes):
    ids = np.asarray(ids, dtype=np.float64)
    return ~((ids == np.floor(ids)) & (ids >= 0) & (ids < num_classes))


def _top_k_mask(p, k):
    order = np.argsort(-p, axis=1, kind="stable")[:, :k]  # ties: lower index first
    mask = np.zeros(p.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


class NumpyBackend:
    name = "numpy"

    def threshold_counts(self, y_true, y_pred, sample_weight, thresholds, top_k, class_id, out):
        t = np.asarray(y_true, dtype=np.float64)
        p = np.asarray(y_pred, dtype=np.float64)
        if t.shape[0] == 0:
            return OK
        cols = slice(None) if class_id < 0 else slice(class_id, class_id + 1)
        nan_where = _first(np.isnan(p) if top_k else np.isnan(p[:, cols]))
        bin_where = _first((t[:, cols] != 0) & (t[:, cols] != 1))
        w, bad_w = _weights(sample_weight, t.shape)
        if bin_where is not None:
            return _err(ErrorCode.BINARY_LABEL, (bin_where[0], bin_where[1] + max(class_id, 0)))
        if nan_where is not None:
            return _err(ErrorCode.NAN_SCORE, nan_where if top_k else (nan_where[0], nan_where[1] + max(class_id, 0)))
        if bad_w is not None and _first(~np.isfinite(np.asarray(w)[:, cols])) is not None:
            r, c = _first(~np.isfinite(np.asarray(w)[:, cols]))
            return _err(ErrorCode.BAD_WEIGHT, (r, c + max(class_id, 0)))
        kept = _top_k_mask(p, top_k) if top_k else np.ones(p.shape, dtype=bool)
        t, p, w, kept = t[:, cols], p[:, cols], np.broadcast_to(w, y_true.shape)[:, cols], kept[:, cols]
        pos = kept[None] & (p[None] > thresholds[:, None, None])  # (T, N, L)
        truth = t[None] == 1
        cells = [truth & pos, ~truth & pos, ~truth & ~pos, truth & ~pos]
        delta = np.stack([(c * w[None]).sum(axis=1) for c in cells])  # (4, T, L)
        if out.shape[2] == 1:
            delta = delta.sum(axis=2, keepdims=True)
        out += delta.astype(out.dtype)
        return OK

    def confusion_matrix(self, y_true, y_pred, sample_weight, ignore_label, out):
        c = out.shape[0]
        t = np.asarray(y_true)
        if t.shape[0] == 0:
            return OK
        keep = np.ones(t.shape[0], dtype=bool) if ignore_label is None else t != ignore_label
        where = _first(_class_error(t, c) & keep)
        if where is not None:
            return _err(ErrorCode.TRUE_CLASS, where)
        p = np.asarray(y_pred)
        if p.ndim == 2:
            where = _first(np.isnan(p) & keep[:, None])
            if where is not None:
                return _err(ErrorCode.NAN_SCORE, where)
            p = p.argmax(axis=1)
        where = _first(_class_error(p, c) & keep)
        if where is not None:
            return _err(ErrorCode.PRED_CLASS, where)
        w, bad = _weights(sample_weight, t.shape)
        if bad is not None and _first(~np.isfinite(w) & keep) is not None:
            return _err(ErrorCode.BAD_WEIGHT, _first(~np.isfinite(w) & keep))
        flat = t[keep].astype(np.int64) * c + p[keep].astype(np.int64)
        out += np.bincount(flat, weights=np.broadcast_to(w, t.shape)[keep], minlength=c * c
                           ).reshape(c, c).astype(out.dtype)
        return OK

    def topk_matches(self, y_true, y_pred, sample_weight, k, out):
        p = np.asarray(y_pred, dtype=np.float64)
        if p.shape[0] == 0:
            return OK
        t = np.asarray(y_true)
        if t.ndim == 2:
            t = t.argmax(axis=1)
        where = _first(_class_error(t, p.shape[1]))
        if where is not None:
            return _err(ErrorCode.TRUE_CLASS, where)
        where = _first(np.isnan(p))
        if where is not None:
            return _err(ErrorCode.NAN_SCORE, where)
        w, bad = _weights(sample_weight, t.shape)
        if bad is not None:
            return _err(ErrorCode.BAD_WEIGHT, bad)
        true_score = p[np.arange(p.shape[0]), t.astype(np.int64)]
        if k == 0:
            match = p.argmax(axis=1) == t
        else:
            match = (p > true_score[:, None]).sum(axis=1) < k
        w = np.broadcast_to(w, t.shape)
        out += np.array([np.sum(w * match), np.sum(w)]).astype(out.dtype)
        return OK

    def moments(self, kind, param, y_true, y_pred, sample_weight, out):
        t = np.asarray(y_true, dtype=np.float64)
        p = np.asarray(y_pred, dtype=np.float64)
        if p.shape[0] == 0:
            return OK
        w = np.ones((p.shape[0], 1)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        bad = _first(~np.isfinite(w))
        if bad is not None:
            return _err(ErrorCode.BAD_WEIGHT, bad)
        kind = MomentKind(kind)
        if kind == MomentKind.COSINE:
            nt = np.sqrt(np.maximum((t * t).sum(axis=1), 1e-12))
            np_ = np.sqrt(np.maximum((p * p).sum(axis=1), 1e-12))
            v = (t * p).sum(axis=1) / (nt * np_)
            out += [np.sum(w[:, 0] * v), np.sum(w[:, 0])]
            return OK
        with np.errstate(all="ignore"):
            f = {
                MomentKind.VALUE: lambda: p,
                MomentKind.ABSOLUTE: lambda: np.abs(t - p),
                MomentKind.SQUARED: lambda: (t - p) ** 2,
                MomentKind.ABSOLUTE_PERCENTAGE: lambda: 100 * np.abs(t - p) / np.maximum(np.abs(t), EPS),
                MomentKind.SQUARED_LOG: lambda: (np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2,
                MomentKind.LOG_COSH: lambda: (lambda x: x + np.logaddexp(0, -2 * x) - np.log(2))(p - t),
                MomentKind.EQUAL: lambda: (t == p).astype(np.float64),
                MomentKind.BINARY_MATCH: lambda: ((p > param).astype(np.float64) == t).astype(np.float64),
            }[kind]()
        out += [np.sum(np.mean(w * f, axis=1)), np.sum(np.mean(np.broadcast_to(w, f.shape), axis=1))]
        return OK

    def column_moments(self, y_true, y_pred, sample_weight, shift, out):
        t = np.asarray(y_true, dtype=np.float64)
        p = np.asarray(y_pred, dtype=np.float64)
        if p.shape[0] == 0:
            return OK
        w = np.ones(p.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64)
        bad = _first(~np.isfinite(w))
        if bad is not None:
            return _err(ErrorCode.BAD_WEIGHT, bad)
        d = t - shift
        w = w[:, None]
        out += np.stack([np.broadcast_to(w, t.shape).sum(axis=0), (w * d).sum(axis=0),
                         (w * d * d).sum(axis=0), (w * (t - p) ** 2).sum(axis=0)])
        return OK


    def score_histogram(self, y_true, y_pred, sample_weight, thresholds, class_id, out,
                        score_sums):
        p = np.asarray(y_pred, dtype=np.float64)
        n, num_labels = p.shape
        if n == 0:
            return OK
        t = np.asarray(y_true)
        cols = np.arange(num_labels) if class_id < 0 else np.array([class_id])
        if t.ndim == 1:
            bad_t = _class_error(t, num_labels)
            onehot = t.astype(np.float64)[:, None] == np.arange(num_labels)[None]
            t = np.where(bad_t[:, None], 0.0, onehot.astype(np.float64))
        else:
            t = t.astype(np.float64)
            bad_t = np.zeros(n, dtype=bool)
        w = (np.ones(p.shape) if sample_weight is None
             else np.broadcast_to(np.asarray(sample_weight, np.float64), p.shape))
        # First bad element in row-major order; within a row y_true, then y_pred, then w.
        for i in range(n):
            if bad_t[i]:
                return _err(ErrorCode.TRUE_CLASS, (i, 0))
            for j in cols:
                if t[i, j] != 0 and t[i, j] != 1:
                    return _err(ErrorCode.BINARY_LABEL, (i, int(j)))
                if np.isnan(p[i, j]):
                    return _err(ErrorCode.NAN_SCORE, (i, int(j)))
                if not np.isfinite(w[i, j]):
                    return _err(ErrorCode.BAD_WEIGHT, (i, int(j)))
        buckets = np.searchsorted(thresholds, p, side="left")  # number of thresholds < score
        hist = np.zeros(out.shape, dtype=np.float64)
        sums = np.zeros(out.shape[1:])
        for j in cols:
            m = 0 if out.shape[2] == 1 else j
            for label in (0, 1):
                sel = t[:, j] == label
                hist[label, :, m] += np.bincount(buckets[sel, j], weights=w[sel, j],
                                                 minlength=out.shape[1])
            sums[:, m] += np.bincount(buckets[:, j], weights=w[:, j] * p[:, j],
                                      minlength=out.shape[1])
        out += hist.astype(out.dtype)
        if score_sums is not None:
            score_sums += sums
        return OK

    def binary_clf_curve(self, y_score, y_true, sample_weight):
        """sklearn's _binary_clf_curve (without its zero-weight filtering)."""
        s = np.asarray(y_score, dtype=np.float64) + 0.0  # -0.0 -> 0.0
        y = np.asarray(y_true).astype(np.int64)
        order = np.argsort(s, kind="mergesort")[::-1]
        s, y = s[order], y[order]
        if sample_weight is None:
            w = np.ones(s.shape, dtype=np.int64)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)[order]
        last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1] if s.size else np.zeros(0, np.int64)
        tps = np.cumsum(y * w)[last]
        fps = np.cumsum((1 - y) * w)[last]
        return s[last], tps, fps

    # ------------------------------------------------------------ grouped twins
    def _grouped(self, family, groups, args, rows, states):
        """GroupedBackend's contract on top of the ungrouped reference ``family``.

        ``args`` are the family's arguments before its state arrays, ``rows`` the indices of
        those holding one entry per row (selected per group; None stays None), ``states``
        the (G, ...) state arrays (or None). The first error is the earlier of the first bad
        group id and the ungrouped reference's first error, the group id on a tie (it is
        checked first in its row); then each group's rows go through the ungrouped
        reference into its slice, on copies committed only once every group is done.
        """
        groups = np.asarray(groups)
        num_groups = states[0].shape[0]
        bad_group = _first((groups < 0) | (groups >= num_groups))
        scratch = [None if s is None else np.zeros(s.shape[1:], s.dtype) for s in states]
        err = tuple(int(e) for e in getattr(self, family)(*args, *scratch))
        if bad_group is not None and (err == OK or bad_group[0] <= err[1]):
            return _err(ErrorCode.GROUP, bad_group)
        if err != OK:
            return err
        new = [None if s is None else s.copy() for s in states]
        for g in np.unique(groups):
            mine = np.flatnonzero(groups == g)
            group_args = [a[mine] if k in rows and a is not None else a
                          for k, a in enumerate(args)]
            views = [None if s is None else s[g] for s in new]  # the ungrouped adds into them
            assert getattr(self, family)(*group_args, *views) == OK
        for s, n in zip(states, new):
            if s is not None:
                s[...] = n
        return OK

    def score_histogram_grouped(self, groups, y_true, y_pred, sample_weight, thresholds,
                                class_id, out, score_sums):
        return self._grouped("score_histogram", groups,
                             (y_true, y_pred, sample_weight, thresholds, class_id), (0, 1, 2),
                             (out, score_sums))

    def confusion_matrix_grouped(self, groups, y_true, y_pred, sample_weight, ignore_label, out):
        return self._grouped("confusion_matrix", groups,
                             (y_true, y_pred, sample_weight, ignore_label), (0, 1, 2), (out,))

    def topk_matches_grouped(self, groups, y_true, y_pred, sample_weight, k, out):
        return self._grouped("topk_matches", groups, (y_true, y_pred, sample_weight, k),
                             (0, 1, 2), (out,))

    def moments_grouped(self, groups, kind, param, y_true, y_pred, sample_weight, out):
        return self._grouped("moments", groups, (kind, param, y_true, y_pred, sample_weight),
                             (2, 3, 4), (out,))

    def column_moments_grouped(self, groups, y_true, y_pred, sample_weight, shift, out):
        return self._grouped("column_moments", groups, (y_true, y_pred, sample_weight, shift),
                             (0, 1, 2), (out,))


BACKEND = NumpyBackend()
