"""The grid index behind segment/edge crossings: axis-parallel, outside, degenerate and NaN cases,
and segments through vertices and along edges, against testing every pair (the index may only
prefilter, never drop a crossing)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim.geo import segment_edge_crossings
from sim.world import World, build_world


def all_pairs_crossings(x0, y0, x1, y1, edges):
    """The slow oracle: every segment against every edge, sorted and deduplicated like the fast
    search, with the same closed sign tests (see :func:`sim.geo.segment_edge_crossings`)."""
    x0, y0, x1, y1 = (np.asarray(a, dtype=float) for a in (x0, y0, x1, y1))
    ex, ey, fx, fy = (edges[:, k][None, :] for k in range(4))
    ax, ay, bx, by = (a[:, None] for a in (x0, y0, x1, y1))
    rx, ry = bx - ax, by - ay
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        rr = rx * rx + ry * ry
        oa = rx * (ey - ay) - ry * (ex - ax)  # sides of the edge's ends from the segment's line
        ob = rx * (fy - ay) - ry * (fx - ax)
        sx, sy = fx - ex, fy - ey
        pa = sx * (ay - ey) - sy * (ax - ex)  # sides of the segment's ends from the edge's line
        pb = sx * (by - ey) - sy * (bx - ex)
        finite = np.isfinite(ax) & np.isfinite(ay) & np.isfinite(bx) & np.isfinite(by)
        hit = (
            (((oa <= 0) & (ob >= 0)) | ((oa >= 0) & (ob <= 0)))
            & (((pa <= 0) & (pb >= 0)) | ((pa >= 0) & (pb <= 0)))
            & finite
            & (rr != 0)
        )
        dx, dy = ex - ax, ey - ay
        den = rx * sy - ry * sx
        t = np.clip((dx * sy - dy * sx) / den, 0.0, 1.0)
        ta = (dx * rx + dy * ry) / rr  # collinear: where the edge's ends lie on the segment
        tb = ((fx - ax) * rx + (fy - ay) * ry) / rr
    si, fr = [], []
    for mask, value in (
        (hit & (den != 0), t),
        (hit & (den == 0) & (ta >= 0) & (ta <= 1), ta),
        (hit & (den == 0) & (tb >= 0) & (tb <= 1), tb),
    ):
        i, e = np.nonzero(mask)
        si.append(i)
        fr.append(value[i, e])
    si, fr = np.concatenate(si), np.concatenate(fr)
    order = np.lexsort((fr, si))
    si, fr = si[order], fr[order]
    new = np.r_[True, (si[1:] != si[:-1]) | (fr[1:] != fr[:-1])][: si.size]
    return si[new], fr[new]


# A small square "border" of 40 edges (10 per side) from (0, 0) to (100, 100).
_S = np.linspace(0.0, 100.0, 11)
SQUARE = np.array(
    [[a, 0, b, 0] for a, b in itertools.pairwise(_S)]
    + [[100, a, 100, b] for a, b in itertools.pairwise(_S)]
    + [[b, 100, a, 100] for a, b in itertools.pairwise(_S)]
    + [[0, b, 0, a] for a, b in itertools.pairwise(_S)],
    dtype=float,
)


def _ring_edges(xy: np.ndarray) -> np.ndarray:
    return np.hstack([xy, np.roll(xy, -1, axis=0)])


# A star-shaped 30-gon with float vertices (not on any grid), at map scale (metres).
_A = np.linspace(0.0, 2 * math.pi, 30, endpoint=False) + 0.1
_R = 4e4 * (1.0 + 0.4 * np.sin(5 * _A))
STAR = _ring_edges(np.c_[2.5e5 + _R * np.cos(_A), -1.3e5 + _R * np.sin(_A)])


def test_axis_parallel_outside_and_nan_segments() -> None:
    x0 = np.array([50.0, -10.0, 55.0, 200.0, 10.0, np.nan, 30.0, 0.0])
    y0 = np.array([-10.0, 50.0, 50.0, 200.0, 10.0, 0.0, 30.0, -5.0])
    x1 = np.array([50.0, 110.0, 55.0, 300.0, 10.0, 1.0, 30.0, 0.0])
    y1 = np.array([110.0, 50.0, 50.0, 250.0, 90.0, 1.0, 30.0, 105.0])
    # vertical through both sides, through a vertex of each (two edges meet at each: reported
    # once); horizontal through both sides; a point; far outside; inside only; NaN; a point
    # inside; along the left side (collinear with its edges: split at each of their vertices)
    seg, frac = segment_edge_crossings(x0, y0, x1, y1, SQUARE)
    want_seg, want_frac = all_pairs_crossings(x0, y0, x1, y1, SQUARE)
    assert np.array_equal(seg, want_seg)
    assert np.array_equal(frac, want_frac)
    assert seg.tolist() == [0, 0, 1, 1] + [7] * 11
    np.testing.assert_allclose(
        frac, [10 / 120, 110 / 120, 10 / 120, 110 / 120, *((_S + 5) / 110)], rtol=1e-12
    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(st.tuples(*[st.floats(-50.0, 150.0, allow_nan=False)] * 4), min_size=1, max_size=20)
)
def test_same_as_testing_every_pair(segments: list[tuple[float, float, float, float]]) -> None:
    a = np.array(segments)
    seg, frac = segment_edge_crossings(a[:, 0], a[:, 1], a[:, 2], a[:, 3], SQUARE)
    want_seg, want_frac = all_pairs_crossings(a[:, 0], a[:, 1], a[:, 2], a[:, 3], SQUARE)
    assert np.array_equal(seg, want_seg)
    assert np.array_equal(frac, want_frac)


@st.composite
def vertex_segments(draw, edges: np.ndarray) -> tuple[float, float, float, float]:
    """A segment built from the polygon's vertices: between two of them, through one (any
    direction, or axis-parallel so that it passes exactly through it), or along an edge."""
    n = len(edges)
    v = edges[:, :2]
    kind = draw(st.sampled_from(["pair", "through", "axis", "along"]))
    i = draw(st.integers(0, n - 1))
    span = float(np.ptp(v, axis=0).max())
    if kind == "pair":
        j = draw(st.integers(0, n - 1))
        a, b = draw(st.sampled_from([0.0, -0.5])), draw(st.sampled_from([1.0, 1.5]))
        p, q = v[i] + a * (v[j] - v[i]), v[i] + b * (v[j] - v[i])
    elif kind == "through":
        ang = draw(st.floats(0.0, 2 * math.pi))
        a, b = draw(st.floats(0.0, 1.0)), draw(st.floats(0.0, 1.0))
        d = span * np.array([math.cos(ang), math.sin(ang)])
        p, q = v[i] - a * d, v[i] + b * d
    elif kind == "axis":
        a, b = draw(st.floats(0.0, 1.0)), draw(st.floats(0.0, 1.0))
        if draw(st.booleans()):
            p, q = np.array([v[i, 0], v[i, 1] - a * span]), np.array([v[i, 0], v[i, 1] + b * span])
        else:
            p, q = np.array([v[i, 0] - a * span, v[i, 1]]), np.array([v[i, 0] + b * span, v[i, 1]])
    else:
        a, b = draw(st.floats(-1.0, 2.0)), draw(st.floats(-1.0, 2.0))
        s = edges[i, 2:] - edges[i, :2]
        p, q = v[i] + a * s, v[i] + b * s
    if draw(st.booleans()):
        p, q = q, p
    return float(p[0]), float(p[1]), float(q[0]), float(q[1])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.data())
def test_vertex_and_collinear_segments_same_as_testing_every_pair(data) -> None:
    edges = data.draw(st.sampled_from([SQUARE, STAR]))
    segments = data.draw(st.lists(vertex_segments(edges), min_size=1, max_size=20))
    a = np.array(segments)
    seg, frac = segment_edge_crossings(a[:, 0], a[:, 1], a[:, 2], a[:, 3], edges)
    want_seg, want_frac = all_pairs_crossings(a[:, 0], a[:, 1], a[:, 2], a[:, 3], edges)
    assert np.array_equal(seg, want_seg)
    assert np.array_equal(frac, want_frac)


def test_vertical_segments_on_cell_boundaries() -> None:
    # Segments at every vertex x and at x values where numpy's floor division (used to file the
    # edges) and floor(a / b) (used to walk the segment) can disagree.
    xs = np.r_[SQUARE[:, 0], np.arange(0.0, 100.0, 0.1), np.linspace(0.0, 100.0, 301)]
    y0, y1 = np.full(xs.size, -7.0), np.full(xs.size, 107.0)
    seg, frac = segment_edge_crossings(xs, y0, xs, y1, SQUARE)
    want_seg, want_frac = all_pairs_crossings(xs, y0, xs, y1, SQUARE)
    assert np.array_equal(seg, want_seg)
    assert np.array_equal(frac, want_frac)
    # every one of them enters through the bottom and leaves through the top
    inside = (xs > 0) & (xs < 100)
    assert np.array_equal(np.bincount(seg, minlength=xs.size)[inside], np.full(inside.sum(), 2))


# ------------------------------------------------------------------- point tests from cell sides
@pytest.fixture(scope="module")
def world() -> World:
    path = Path(__file__).resolve().parents[1] / "scenarios" / "poland-2025-09-10.yaml"
    return build_world(sim.load_scenario(path))


def _points_near_the_boundary(edges: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Vertices, points on edges, points a hair off them, and points anywhere around."""
    e = edges[rng.integers(0, len(edges), n)]
    u = rng.uniform(0, 1, n)
    on = np.c_[e[:, 0] + u * (e[:, 2] - e[:, 0]), e[:, 1] + u * (e[:, 3] - e[:, 1])]
    jitter = on + rng.normal(0, 1.0, (n, 2)) * rng.choice([1e-9, 1e-3, 1.0, 1e3, 3e4], (n, 1))
    x0, y0 = edges[:, [0, 2]].min(), edges[:, [1, 3]].min()
    x1, y1 = edges[:, [0, 2]].max(), edges[:, [1, 3]].max()
    wide = np.c_[rng.uniform(x0 - 2e5, x1 + 2e5, n), rng.uniform(y0 - 2e5, y1 + 2e5, n)]
    odd = np.array([[np.nan, 0.0], [0.0, np.inf], [-np.inf, np.nan], [1e300, -1e300]])
    return np.vstack([e[:, :2], on, jitter, wide, odd])


def test_territory_and_guarded_area_tests_match_shapely_everywhere(world: World) -> None:
    # The table may only decide cells wholly on one side; every answer must be shapely's, for
    # points on the boundary, a nanometre off it, far away, and not finite.
    rng = np.random.default_rng(5)
    cases = [
        (world.territory, world.territory.edges, shapely.contains_xy),
        (world.roe_inner, world.roe_inner.edges, shapely.intersects_xy),
    ]
    decided = 0
    for area, edges, exact in cases:
        pts = _points_near_the_boundary(edges, rng, 20_000)
        got = area.contains(pts[:, 0], pts[:, 1])
        want = exact(area.polygon, pts[:, 0], pts[:, 1])
        np.testing.assert_array_equal(got, want)
        sides = area._cell_sides
        decided += int((sides.side >= 0).sum())
        # broadcasting and shape are kept
        grid = area.contains(pts[:200, 0][:, None], pts[:300, 1][None, :])
        assert grid.shape == (200, 300)
        np.testing.assert_array_equal(
            grid, exact(area.polygon, pts[:200, 0][:, None], pts[:300, 1][None, :])
        )
    assert decided > 1000  # the table does decide most cells


@settings(max_examples=200, deadline=None)
@given(x=st.floats(-1e6, 1e6), y=st.floats(-1e6, 1e6))
def test_territory_test_matches_shapely_at_any_point(world: World, x: float, y: float) -> None:
    t = world.territory
    xs, ys = np.full(100, x), np.full(100, y)  # enough points to use the table
    np.testing.assert_array_equal(t.contains(xs, ys), shapely.contains_xy(t.polygon, xs, ys))
