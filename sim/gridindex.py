"""A uniform-grid index of polygon edges and the compiled search for segment/edge crossings.

Tracks are long segments (tens to hundreds of km) and a border is thousands of short edges.
Each edge is filed in the grid cells its bounding box touches; a segment visits only the cells
it passes through (column by column, the y-range of the segment inside each column, with one
cell of slack all round for rounding), gathers the edges filed there once each, and tests them as
:func:`sim.geo.segment_edge_crossings` documents. The cells are a prefilter: they can only add
candidates, never drop a crossing, so the result is that of testing every pair.

The pair test is made of sign tests, so that float rounding cannot lose a crossing at a vertex:
an edge is hit when its two ends are not strictly on the same side of the segment's line, and the
segment's two ends are not strictly on the same side of the edge's line (closed ranges). The side
of a polygon vertex is one float computed from the vertex itself, identical for the two edges
that share it, so a segment passing through or next to a vertex hits at least one of them
(a closed-form ``u in [0, 1)`` test compares numbers rounded differently for the two edges and
can miss both). Likewise for a track point shared by two consecutive segments.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["CellSides", "EdgeGrid", "crossings"]


@dataclass(frozen=True)
class EdgeGrid:
    """Edges ``(E, 4)`` filed by cell: cell ``c`` holds ``edge[off[c]:off[c + 1]]``.

    ``nxt[cx * (ny + 1) + cy]`` is the first row ``>= cy`` of column ``cx`` whose cell holds an
    edge (``ny`` if none): a border fills few cells, and a segment skips the empty ones.
    """

    edges: np.ndarray
    x0: float
    y0: float
    h: float
    nx: int
    ny: int
    off: np.ndarray
    edge: np.ndarray
    nxt: np.ndarray

    @classmethod
    def build(cls, edges: np.ndarray) -> EdgeGrid:
        """A grid of about one cell per edge over the edges' bounding box."""
        edges = np.ascontiguousarray(edges, dtype=np.float64)
        x0, y0, h, nx, ny = _grid_over(edges, 1.0)
        ex0 = np.minimum(edges[:, 0], edges[:, 2])
        ex1 = np.maximum(edges[:, 0], edges[:, 2])
        ey0 = np.minimum(edges[:, 1], edges[:, 3])
        ey1 = np.maximum(edges[:, 1], edges[:, 3])
        cx0 = np.clip(((ex0 - x0) // h).astype(np.int64), 0, nx - 1)
        cx1 = np.clip(((ex1 - x0) // h).astype(np.int64), 0, nx - 1)
        cy0 = np.clip(((ey0 - y0) // h).astype(np.int64), 0, ny - 1)
        cy1 = np.clip(((ey1 - y0) // h).astype(np.int64), 0, ny - 1)
        cells, owners = [], []
        for e in range(len(edges)):
            gx, gy = np.meshgrid(np.arange(cx0[e], cx1[e] + 1), np.arange(cy0[e], cy1[e] + 1))
            c = (gy * nx + gx).ravel()
            cells.append(c)
            owners.append(np.full(c.size, e))
        cell = np.concatenate(cells) if cells else np.empty(0, np.int64)
        owner = np.concatenate(owners) if owners else np.empty(0, np.int64)
        order = np.argsort(cell, kind="stable")
        off = np.searchsorted(cell[order], np.arange(nx * ny + 1)).astype(np.int64)
        full = (off[1:] > off[:-1]).reshape(ny, nx).T
        nxt = np.full((nx, ny + 1), ny, np.int64)
        for cy in range(ny - 1, -1, -1):
            nxt[:, cy] = np.where(full[:, cy], cy, nxt[:, cy + 1])
        return cls(
            edges, x0, y0, h, nx, ny, off, owner[order].astype(np.int64),
            nxt.ravel(),
        )  # fmt: skip


def _grid_over(edges: np.ndarray, cells_per_edge: float) -> tuple[float, float, float, int, int]:
    """Origin, cell size and cell counts (x0, y0, h, nx, ny) of a square grid of about
    ``cells_per_edge`` cells per edge over the edges' bounding box (at most 4,096 cells across)."""
    xs = np.r_[edges[:, 0], edges[:, 2]]
    ys = np.r_[edges[:, 1], edges[:, 3]]
    x0, x1, y0, y1 = float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
    span = max(x1 - x0, y1 - y0, 1.0)
    area = max((x1 - x0) * (y1 - y0), 1.0)
    h = max(math.sqrt(area / (cells_per_edge * max(len(edges), 1))), span / 4096)
    return x0, y0, h, int((x1 - x0) // h) + 1, int((y1 - y0) // h) + 1


def crossings(
    grid: EdgeGrid, px: np.ndarray, py: np.ndarray, qx: np.ndarray, qy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(segment index, fraction along it) of every segment/edge crossing, unsorted."""
    room = max(16, 2 * px.size)
    while True:
        seg = np.empty(room, np.int64)
        frac = np.empty(room)
        k = _search(
            grid.edges, grid.x0, grid.y0, grid.h, grid.nx, grid.ny, grid.off, grid.edge,
            grid.nxt, px, py, qx, qy, seg, frac,
        )  # fmt: skip
        if k >= 0:
            return seg[:k], frac[:k]
        room *= 4


@numba.njit(cache=True)
def _search(edges, gx0, gy0, h, nx, ny, off, edge, nxt, px, py, qx, qy, out_seg, out_frac):
    """Fill ``out_*`` and return the count, or -1 if they are too small."""
    seen = np.full(edges.shape[0], -1, np.int64)
    k = 0
    for i in range(px.size):
        ax, ay, bx, by = px[i], py[i], qx[i], qy[i]
        if not (
            math.isfinite(ax) and math.isfinite(ay) and math.isfinite(bx) and math.isfinite(by)
        ):
            continue
        rxc, ryc = bx - ax, by - ay
        rr = rxc * rxc + ryc * ryc
        if rr == 0.0:
            continue  # a point: nothing to split
        lo_x, hi_x = min(ax, bx), max(ax, bx)
        # one column of slack each side: the edges were filed with numpy's floor division, which
        # can round differently from floor(a / b) at a cell boundary
        c0 = math.floor((lo_x - gx0) / h) - 1
        c1 = math.floor((hi_x - gx0) / h) + 1
        if c1 < 0 or c0 >= nx:
            continue
        c0 = max(c0, 0)
        c1 = min(c1, nx - 1)
        for cx in range(c0, c1 + 1):
            # the segment's y-range inside this column (clamped to the segment's x-range)
            xa = min(max(lo_x, gx0 + cx * h), hi_x)
            xb = max(min(hi_x, gx0 + (cx + 1) * h), lo_x)
            if rxc != 0.0:
                ya = ay + (xa - ax) / rxc * ryc
                yb = ay + (xb - ax) / rxc * ryc
            else:
                ya, yb = ay, by
            lo_y, hi_y = min(ya, yb), max(ya, yb)
            r0 = math.floor((lo_y - gy0) / h) - 1  # one cell of slack for rounding
            r1 = math.floor((hi_y - gy0) / h) + 1
            if r1 < 0 or r0 >= ny:
                continue
            r0 = max(r0, 0)
            r1 = min(r1, ny - 1)
            col = cx * (ny + 1)
            cy = nxt[col + r0]
            while cy <= r1:
                c = cy * nx + cx
                for q in range(off[c], off[c + 1]):
                    e = edge[q]
                    if seen[e] == i:
                        continue
                    seen[e] = i
                    k = _pair(edges, e, i, ax, ay, bx, by, rxc, ryc, rr, out_seg, out_frac, k)
                    if k < 0:
                        return -1
                cy = nxt[col + cy + 1]
    return k


@numba.njit(cache=True, inline="always")
def _pair(edges, e, i, ax, ay, bx, by, rxc, ryc, rr, out_seg, out_frac, k):  # fmt: skip
    """Append the crossings of segment ``i`` with edge ``e``; the new count, or -1 if full."""
    ex, ey, fx, fy = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
    # sides of the edge's ends relative to the segment's line (NaN: no hit)
    oa = rxc * (ey - ay) - ryc * (ex - ax)
    ob = rxc * (fy - ay) - ryc * (fx - ax)
    if not ((oa <= 0.0 and ob >= 0.0) or (oa >= 0.0 and ob <= 0.0)):
        return k
    sx, sy = fx - ex, fy - ey
    # sides of the segment's ends relative to the edge's line
    pa = sx * (ay - ey) - sy * (ax - ex)
    pb = sx * (by - ey) - sy * (bx - ex)
    if not ((pa <= 0.0 and pb >= 0.0) or (pa >= 0.0 and pb <= 0.0)):
        return k
    dx, dy = ex - ax, ey - ay
    denom = rxc * sy - ryc * sx
    if denom != 0.0:
        t = (dx * sy - dy * sx) / denom
        if k >= out_seg.size:
            return -1
        out_seg[k] = i
        out_frac[k] = min(max(t, 0.0), 1.0)
        return k + 1
    # collinear (or a zero-length edge on the segment): split where the edge's ends lie on it
    for t in ((dx * rxc + dy * ryc) / rr, ((fx - ax) * rxc + (fy - ay) * ryc) / rr):
        if 0.0 <= t <= 1.0:
            if k >= out_seg.size:
                return -1
            out_seg[k] = i
            out_frac[k] = t
            k += 1
    return k


@dataclass(frozen=True)
class CellSides:
    """Which side of a polygon's boundary each cell of a grid lies on, for fast point tests.

    A cell whose block of 3 x 3 cells no boundary edge touches contains no boundary point (an
    edge marks every cell its bounding box touches, and the one-cell margin covers rounding), so
    the whole cell lies inside or outside the polygon, as its centre does. Points in such cells
    are answered from the table; the others (near the boundary, or not finite) get the exact
    test. The answer is the exact test's for any point, strict (``contains``) or not
    (``intersects``): the two differ only on the boundary. The cells are finer than the
    crossing search's (:class:`EdgeGrid`): tracks crowd near a border they cross.
    """

    x0: float
    y0: float
    h: float
    nx: int
    ny: int
    #: per cell ``cy * nx + cx``: 1 inside, 0 outside, -1 near the boundary
    side: np.ndarray

    @classmethod
    def build(
        cls,
        edges: np.ndarray,
        test: Callable[[np.ndarray, np.ndarray], np.ndarray],
        cells_per_edge: float = 16.0,
    ) -> CellSides:
        """The table for the polygon with boundary ``edges`` (E, 4) and exact vectorised point
        test ``test``; about ``cells_per_edge`` cells per edge over the edges' bounding box."""
        edges = np.ascontiguousarray(edges, dtype=np.float64)
        x0, y0, h, nx, ny = _grid_over(edges, cells_per_edge)
        touched = np.zeros((ny + 2, nx + 2), np.bool_)  # with a ring of cells all round
        _mark(edges, x0, y0, h, nx, ny, touched)
        near = np.zeros((ny, nx), bool)
        for dy in range(3):
            for dx in range(3):
                near |= touched[dy : dy + ny, dx : dx + nx]
        near = near.ravel()
        cy, cx = np.divmod(np.arange(nx * ny), nx)
        x = x0 + (cx + 0.5) * h
        y = y0 + (cy + 0.5) * h
        side = np.full(nx * ny, -1, np.int8)
        # a centre that the lookup would put in another cell (rounding) is left to the exact test
        own = ~near
        cell = np.floor((y[own] - y0) / h) * nx + np.floor((x[own] - x0) / h)
        own[own] = cell == np.flatnonzero(own)
        side[own] = np.asarray(test(x[own], y[own]), bool).astype(np.int8)
        return cls(x0, y0, h, nx, ny, side)

    def test(
        self, x: np.ndarray, y: np.ndarray, exact: Callable[[np.ndarray, np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """``exact(x, y)`` for 1-d float arrays, calling it only near the boundary."""
        found = np.empty(x.size, np.int8)
        _sides(self.x0, self.y0, self.h, self.nx, self.ny, self.side, x, y, found)
        out = found == 1
        ask = np.flatnonzero(found < 0)
        if ask.size:
            out[ask] = np.asarray(exact(x[ask], y[ask]), bool)
        return out


@numba.njit(cache=True)
def _mark(edges, x0, y0, h, nx, ny, touched):  # pragma: no cover - compiled
    """Mark in ``touched`` (one cell of margin all round) every cell an edge's box touches."""
    for e in range(edges.shape[0]):
        ax, ay, bx, by = edges[e, 0], edges[e, 1], edges[e, 2], edges[e, 3]
        c0 = int(np.floor((min(ax, bx) - x0) / h))
        c1 = int(np.floor((max(ax, bx) - x0) / h))
        r0 = int(np.floor((min(ay, by) - y0) / h))
        r1 = int(np.floor((max(ay, by) - y0) / h))
        for r in range(max(r0, -1), min(r1, ny) + 1):
            for c in range(max(c0, -1), min(c1, nx) + 1):
                touched[r + 1, c + 1] = True


@numba.njit(cache=True)
def _sides(x0, y0, h, nx, ny, side, px, py, out):  # pragma: no cover - compiled
    """``out[i]``: 1 or 0 if the table answers for point i, -1 if it needs the exact test."""
    for i in range(px.size):
        qx = (px[i] - x0) / h
        qy = (py[i] - y0) / h
        if not (math.isfinite(qx) and math.isfinite(qy)):
            out[i] = -1
            continue
        fx = np.floor(qx)  # a float: compared before any conversion to int
        fy = np.floor(qy)
        if fx < -1.0 or fy < -1.0 or fx > nx or fy > ny:
            out[i] = 0  # beyond the edges' bounding box, with a cell to spare
        elif fx < 0.0 or fy < 0.0 or fx >= nx or fy >= ny:
            out[i] = -1
        else:
            out[i] = side[int(fy) * nx + int(fx)]
