"""Closed-form windows and interval sets, vectorised (pure numpy).

Times are seconds, positions metres in the scenario's projected plane. A *segment table* describes
straight, constant-velocity motion: row ``k`` moves from ``(x0[k], y0[k])`` at ``t0[k]`` to
``(x1[k], y1[k])`` at ``t1[k]``. Intervals are closed ``[start, end]`` and carry an integer *key*
(for example a drone index, or ``drone * n_defenders + defender``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "circle_pairs",
    "circle_windows",
    "circle_windows_pairs",
    "merge_intervals",
    "sorted_by_key_then_start",
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
    seg = np.asarray(seg, np.int64)
    circ = np.asarray(circ, np.int64)
    enter = np.empty(seg.size)
    leave = np.empty(seg.size)
    _windows_pairs(*_f64(t0, t1, x0, y0, x1, y1, cx, cy), *_radius(radius), seg, circ, enter, leave)
    return enter, leave


def _f64(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    return tuple(np.ascontiguousarray(a, dtype=np.float64) for a in arrays)


def _radius(radius: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Radii as a 2-D array and the strides that broadcast it over (segment, circle)."""
    r = np.ascontiguousarray(radius, dtype=np.float64)
    r = r if r.ndim == 2 else r.reshape(1, -1)
    return r, int(r.shape[0] != 1), int(r.shape[1] != 1)


# The compiled windows below do the arithmetic of the original numpy expressions, operation for
# operation, so that they give the same floats. numpy's maximum/minimum/fmin/fmax return their
# second argument when the two compare equal (+0 and -0), its clip keeps the value: so do these.


@numba.njit(cache=True, inline="always")
def _maximum(a, b):  # fmt: skip
    """``np.maximum``: NaN if either is."""
    if a != a or b != b:
        return a + b
    return a if a > b else b


@numba.njit(cache=True, inline="always")
def _minimum(a, b):  # fmt: skip
    """``np.minimum``: NaN if either is."""
    if a != a or b != b:
        return a + b
    return a if a < b else b


@numba.njit(cache=True, inline="always")
def _fmin(a, b):  # fmt: skip
    """``np.fmin``: the other one if one is NaN."""
    if a != a:
        return b
    if b != b:
        return a
    return a if a < b else b


@numba.njit(cache=True, inline="always")
def _fmax(a, b):  # fmt: skip
    """``np.fmax``: the other one if one is NaN."""
    if a != a:
        return b
    if b != b:
        return a
    return a if a > b else b


@numba.njit(cache=True, inline="always")
def _window(t0, t1, x0, y0, x1, y1, cx, cy, rk):  # fmt: skip
    """(enter, leave) of one segment in one circle, NaN if never inside."""
    nan = np.nan
    dur = t1 - t0
    if dur > 0:
        vx = (x1 - x0) / dur
        vy = (y1 - y0) / dur
    else:
        vx = 0.0
        vy = 0.0
    px = x0 - cx
    py = y0 - cy
    a = vx * vx + vy * vy
    b = 2.0 * (px * vx + py * vy)
    c = px * px + py * py - rk * rk
    disc = b * b - 4.0 * a * c
    sq = math.sqrt(_maximum(disc, 0.0))
    moving = a > 0
    # Numerically stable roots (avoid cancellation when b^2 >> 4ac).
    q = -0.5 * (b + math.copysign(sq, b))
    ra = q / a if moving else nan
    rb = c / q if q != 0 else nan
    lo = _fmin(ra, rb)
    hi = _fmax(ra, rb)
    if moving:
        enter = t0 + _maximum(lo, 0.0)
        leave = t0 + _minimum(hi, dur)
        ok = rk > 0 and disc >= 0 and hi >= 0 and lo <= dur
    elif c <= 0:
        enter = t0
        leave = t0 + dur
        ok = rk > 0
    else:
        return nan, nan
    if ok and leave >= enter:
        return enter, leave
    return nan, nan


@numba.njit(cache=True)
def _windows_pairs(t0, t1, x0, y0, x1, y1, cx, cy, r, rs, rc, seg, circ, enter, leave):  # fmt: skip
    for k in range(seg.size):
        s, c = seg[k], circ[k]
        enter[k], leave[k] = _window(
            t0[s], t1[s], x0[s], y0[s], x1[s], y1[s], cx[c], cy[c], r[s * rs, c * rc]
        )


@numba.njit(cache=True)
def _windows_all(t0, t1, x0, y0, x1, y1, cx, cy, r, rs, rc, enter, leave):  # fmt: skip
    """Every (segment, circle) window; pairs whose bounding boxes miss stay NaN."""
    for s in range(x0.size):
        ax, ay, bx, by = x0[s], y0[s], x1[s], y1[s]
        if ax != ax or ay != ay or bx != bx or by != by:
            continue  # numpy's min/max would be NaN and every comparison below false
        lo_x, hi_x = min(ax, bx), max(ax, bx)
        lo_y, hi_y = min(ay, by), max(ay, by)
        for c in range(cx.size):
            rk = r[s * rs, c * rc]
            if not (
                hi_x >= cx[c] - rk
                and lo_x <= cx[c] + rk
                and hi_y >= cy[c] - rk
                and lo_y <= cy[c] + rk
                and rk > 0
            ):
                continue
            enter[s, c], leave[s, c] = _window(t0[s], t1[s], ax, ay, bx, by, cx[c], cy[c], rk)


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
    x0, y0, x1, y1, cx, cy = _f64(x0, y0, x1, y1, cx, cy)
    enter = np.full((x0.size, cx.size), np.nan)
    leave = np.full((x0.size, cx.size), np.nan)
    # compiled: the pairs of :func:`circle_pairs`, each solved as :func:`circle_windows_pairs`
    t0, t1 = _f64(np.broadcast_to(t0, x0.shape), np.broadcast_to(t1, x0.shape))
    _windows_all(t0, t1, x0, y0, x1, y1, cx, cy, *_radius(radius), enter, leave)
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
    if not sorted_by_key_then_start(keys, starts):
        order = np.argsort(keys, kind="stable")
        if not sorted_by_key_then_start(keys[order], starts[order]):
            order = np.lexsort((starts, keys))
        keys, starts, ends = keys[order], starts[order], ends[order]
    out_keys = np.empty_like(keys)
    out_starts = np.empty_like(starts)
    out_ends = np.empty_like(ends)
    m = _merge_sorted(keys, starts, ends, float(gap), out_keys, out_starts, out_ends)
    return out_keys[:m], out_starts[:m], out_ends[:m]


@numba.njit(cache=True)
def sorted_by_key_then_start(keys, starts):  # fmt: skip
    """Whether ``keys`` are non-decreasing and, within a key, ``starts`` too."""
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
