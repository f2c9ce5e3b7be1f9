"""Closed-form windows and interval sets, vectorised (pure numpy).

Times are seconds, positions metres in the scenario's projected plane. A *segment table* describes
straight, constant-velocity motion: row ``k`` moves from ``(x0[k], y0[k])`` at ``t0[k]`` to
``(x1[k], y1[k])`` at ``t1[k]``. Intervals are closed ``[start, end]`` and carry an integer *key*
(for example a drone index, or ``drone * n_defenders + defender``).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "circle_pairs",
    "circle_windows",
    "circle_windows_pairs",
    "merge_intervals",
]


def circle_pairs(
    x0: np.ndarray,
    y0: np.ndarray,
    x1: np.ndarray,
    y1: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    radius: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(segment, circle) pairs whose bounding boxes overlap: the only ones that can meet.

    ``radius`` has shape (C,) or (S, C); NaN or non-positive radii give no pair.
    """
    r = np.asarray(radius, float)
    r = r if r.ndim == 2 else r[None, :]
    lo_x = np.minimum(x0, x1)[:, None]
    hi_x = np.maximum(x0, x1)[:, None]
    lo_y = np.minimum(y0, y1)[:, None]
    hi_y = np.maximum(y0, y1)[:, None]
    with np.errstate(invalid="ignore"):
        near = (
            (hi_x >= cx[None, :] - r)
            & (lo_x <= cx[None, :] + r)
            & (hi_y >= cy[None, :] - r)
            & (lo_y <= cy[None, :] + r)
            & (r > 0)
        )
    return np.nonzero(near)


def circle_windows_pairs(
    t0: np.ndarray,
    t1: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    x1: np.ndarray,
    y1: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    radius: np.ndarray,
    seg: np.ndarray,
    circ: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Time window of segment ``seg[k]`` inside circle ``circ[k]``, for each pair ``k``.

    Solves ``|p(t) - c|^2 = r^2`` for the linear motion ``p(t)`` of the segment, in closed form.
    ``radius`` has shape (C,) or (S, C). Returns ``enter, leave`` of shape (K,), NaN where the
    segment is never inside (a segment and a disk are convex: at most one window).
    """
    t0k = np.asarray(t0, float)[seg]
    dur = np.asarray(t1, float)[seg] - t0k
    r = np.asarray(radius, float)
    rk = r[seg, circ] if r.ndim == 2 else r[circ]
    with np.errstate(invalid="ignore", divide="ignore"):
        vx = np.where(dur > 0, (x1[seg] - x0[seg]) / dur, 0.0)
        vy = np.where(dur > 0, (y1[seg] - y0[seg]) / dur, 0.0)
        px = x0[seg] - cx[circ]
        py = y0[seg] - cy[circ]
        a = vx * vx + vy * vy
        b = 2.0 * (px * vx + py * vy)
        c = px * px + py * py - rk * rk
        disc = b * b - 4.0 * a * c
        sq = np.sqrt(np.maximum(disc, 0.0))
        moving = a > 0
        # Numerically stable roots (avoid cancellation when b^2 >> 4ac).
        q = -0.5 * (b + np.copysign(sq, b))
        ra = np.where(moving, q / np.where(moving, a, 1.0), np.nan)
        rb = np.where(q != 0, c / np.where(q != 0, q, 1.0), np.nan)
        lo = np.fmin(ra, rb)
        hi = np.fmax(ra, rb)
        enter = np.where(moving, t0k + np.maximum(lo, 0.0), np.where(c <= 0, t0k, np.nan))
        leave = np.where(moving, t0k + np.minimum(hi, dur), np.where(c <= 0, t0k + dur, np.nan))
        ok = (rk > 0) & np.where(moving, (disc >= 0) & (hi >= 0) & (lo <= dur), c <= 0)
        ok &= leave >= enter
    return np.where(ok, enter, np.nan), np.where(ok, leave, np.nan)


def circle_windows(
    t0: np.ndarray,
    t1: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    x1: np.ndarray,
    y1: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    radius: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Time window of every segment inside every circle, in closed form.

    Parameters
    ----------
    t0, t1, x0, y0, x1, y1 : ndarray, shape (S,)
        The segment table (s, m).
    cx, cy : ndarray, shape (C,)
        Circle centres (m).
    radius : ndarray, shape (C,) or (S, C)
        Radii (m), per circle or per segment and circle. A radius <= 0 or NaN gives no window.

    Returns
    -------
    enter, leave : ndarray, shape (S, C)
        Start and end of the part of each segment inside each circle (s); NaN where the segment
        never is inside. Only pairs whose bounding boxes overlap are solved
        (:func:`circle_pairs`); the rest cannot meet.
    """
    x0, y0, x1, y1 = (np.asarray(v, float) for v in (x0, y0, x1, y1))
    cx, cy = np.asarray(cx, float), np.asarray(cy, float)
    enter = np.full((x0.size, cx.size), np.nan)
    leave = np.full((x0.size, cx.size), np.nan)
    seg, circ = circle_pairs(x0, y0, x1, y1, cx, cy, radius)
    if seg.size:
        e, lv = circle_windows_pairs(t0, t1, x0, y0, x1, y1, cx, cy, radius, seg, circ)
        enter[seg, circ] = e
        leave[seg, circ] = lv
    return enter, leave


def merge_intervals(
    keys: np.ndarray, starts: np.ndarray, ends: np.ndarray, *, gap: float = 1e-6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge overlapping or touching intervals that share a key.

    Parameters
    ----------
    keys : ndarray of int, shape (n,)
    starts, ends : ndarray of float, shape (n,)
        NaN rows are dropped.
    gap : float
        Intervals of one key closer than this (s) are joined: consecutive segments of one track
        meet exactly, up to rounding.

    Returns
    -------
    keys, starts, ends : ndarray
        Disjoint intervals sorted by key, then start.
    """
    keys = np.asarray(keys)
    starts = np.asarray(starts, float)
    ends = np.asarray(ends, float)
    keep = np.isfinite(starts) & np.isfinite(ends)
    keys, starts, ends = keys[keep], starts[keep], ends[keep]
    if keys.size == 0:
        return keys, starts, ends
    # Sorted by key, then start, one pass joins each interval to the run before it when it starts
    # no later than that run's end plus ``gap`` (compiled: a sequential scan). Tracks come in
    # time order, so the intervals of one key usually are already sorted by start: a stable sort
    # by key alone then gives the same order as sorting by both, at a fraction of the cost.
    if not _sorted_by_key_then_start(keys, starts):
        order = np.argsort(keys, kind="stable")
        if not _sorted_by_key_then_start(keys[order], starts[order]):
            order = np.lexsort((starts, keys))
        keys, starts, ends = keys[order], starts[order], ends[order]
    out_keys = np.empty_like(keys)
    out_starts = np.empty_like(starts)
    out_ends = np.empty_like(ends)
    m = _merge_sorted(keys, starts, ends, float(gap), out_keys, out_starts, out_ends)
    return out_keys[:m], out_starts[:m], out_ends[:m]


@numba.njit(cache=True)
def _sorted_by_key_then_start(keys, starts):  # fmt: skip
    for i in range(1, keys.size):
        if keys[i] < keys[i - 1] or (keys[i] == keys[i - 1] and starts[i] < starts[i - 1]):
            return False
    return True


@numba.njit(cache=True)
def _merge_sorted(keys, starts, ends, gap, out_keys, out_starts, out_ends):  # fmt: skip
    m = -1
    for i in range(keys.size):
        if m >= 0 and keys[i] == out_keys[m] and starts[i] <= out_ends[m] + gap:
            if ends[i] > out_ends[m]:
                out_ends[m] = ends[i]
        else:
            m += 1
            out_keys[m] = keys[i]
            out_starts[m] = starts[i]
            out_ends[m] = ends[i]
    return m + 1
