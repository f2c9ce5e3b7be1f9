"""Compiled and shortcut paths of the track geometry against the numpy code they replaced.

Each fast path must give the very floats of the code it replaced, so the oracles here are those
numpy implementations, kept verbatim, and the comparisons are bit for bit (NaN where NaN).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim import tracks
from sim.geo import segment_edge_crossings
from sim.gridindex import EdgeGrid
from sim.intervals import circle_pairs, circle_windows, circle_windows_pairs
from sim.pools import pool_draws
from sim.tracks import Segments
from sim.world import build_world

REFERENCE = Path(__file__).resolve().parents[1] / "scenarios" / "poland-2025-09-10.yaml"


def assert_same_floats(got: np.ndarray, want: np.ndarray) -> None:
    """Equal bit for bit, except that any NaN matches any NaN."""
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan].view(np.int64), want[~nan].view(np.int64))


# ------------------------------------------------------------------ the numpy oracles


def numpy_circle_windows_pairs(t0, t1, x0, y0, x1, y1, cx, cy, radius, seg, circ):
    t0k = np.asarray(t0, float)[seg]
    dur = np.asarray(t1, float)[seg] - t0k
    r = np.asarray(radius, float)
    rk = r[seg, circ] if r.ndim == 2 else r[circ]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
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


def numpy_circle_windows(t0, t1, x0, y0, x1, y1, cx, cy, radius):
    enter = np.full((x0.size, cx.size), np.nan)
    leave = np.full((x0.size, cx.size), np.nan)
    seg, circ = circle_pairs(x0, y0, x1, y1, cx, cy, radius)
    if seg.size:
        e, lv = numpy_circle_windows_pairs(t0, t1, x0, y0, x1, y1, cx, cy, radius, seg, circ)
        enter[seg, circ] = e
        leave[seg, circ] = lv
    return enter, leave


def numpy_pieces(world, seg: Segments) -> dict[str, np.ndarray]:
    parts_i = [np.arange(len(seg)), np.arange(len(seg))]
    parts_f = [np.zeros(len(seg)), np.ones(len(seg))]
    roe_regions = [world.roe_inner] if world.roe_inner is not None else []
    roe_regions += world.roe_nofire_polygons
    for edges in (world.territory.edges, *(r.edges for r in roe_regions)):
        si, fr = segment_edge_crossings(seg.x0, seg.y0, seg.x1, seg.y1, edges)
        parts_i.append(si)
        parts_f.append(fr)
    if world.nofire_r.size:
        enter, leave = numpy_circle_windows(
            seg.t0, seg.t1, seg.x0, seg.y0, seg.x1, seg.y1,
            world.nofire_x, world.nofire_y, world.roe_nofire_r,
        )  # fmt: skip
        dur = (seg.t1 - seg.t0)[:, None]
        for t in (enter, leave):
            with np.errstate(invalid="ignore", divide="ignore"):
                f = np.where(dur > 0, (t - seg.t0[:, None]) / np.where(dur > 0, dur, 1), np.nan)
            si, ci = np.nonzero(np.isfinite(f))
            parts_i.append(si)
            parts_f.append(np.clip(f[si, ci], 0.0, 1.0))
    si = np.concatenate(parts_i)
    fr = np.concatenate(parts_f)
    order = np.lexsort((fr, si))
    si, fr = si[order], fr[order]
    same = si[1:] == si[:-1]
    a_i = si[:-1][same]
    fa, fb = fr[:-1][same], fr[1:][same]
    nonzero = fb - fa > 1e-12
    a_i, fa, fb = a_i[nonzero], fa[nonzero], fb[nonzero]
    dur = seg.t1[a_i] - seg.t0[a_i]
    ta = seg.t0[a_i] + fa * dur
    tb = seg.t0[a_i] + fb * dur
    xa, ya = seg.at(a_i, ta)
    xb, yb = seg.at(a_i, tb)
    mx, my = 0.5 * (xa + xb), 0.5 * (ya + yb)
    inside = world.territory.contains(mx, my)
    allowed = (
        world.roe_inner.contains(mx, my) if world.roe_inner is not None else np.ones_like(inside)
    )
    if world.nofire_r.size:
        d2 = (mx[:, None] - world.nofire_x) ** 2 + (my[:, None] - world.nofire_y) ** 2
        allowed &= ~(d2 <= world.roe_nofire_r**2).any(axis=1)
    for region in world.roe_nofire_polygons:
        allowed &= ~region.contains(mx, my)
    return {
        "drone": seg.drone[a_i],
        "t0": ta,
        "t1": tb,
        "x0": xa,
        "y0": ya,
        "x1": xb,
        "y1": yb,
        "inside": inside,
        "allowed": allowed,
    }


# ------------------------------------------------------------------ circle windows

coord = st.one_of(
    st.floats(min_value=-2e5, max_value=2e5, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 10.0, -10.0, 20.0]),
)
segment_st = st.tuples(
    st.one_of(st.floats(min_value=0.0, max_value=1e5), st.sampled_from([0.0, -0.0])),  # t0
    st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=1e4)),  # duration
    coord,
    coord,
    coord,
    coord,
)
radius_st = st.one_of(
    st.floats(min_value=1.0, max_value=2e5), st.sampled_from([0.0, -1.0, np.nan, 10.0])
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    segs=st.lists(segment_st, min_size=1, max_size=5),
    circles=st.lists(st.tuples(coord, coord, radius_st), min_size=1, max_size=4),
    per_segment=st.booleans(),
)
def test_circle_windows_give_the_numpy_floats(segs, circles, per_segment) -> None:
    t0 = np.array([s[0] for s in segs])
    t1 = t0 + np.array([s[1] for s in segs])
    x0, y0, x1, y1 = (np.array([s[k] for s in segs]) for k in range(2, 6))
    cx, cy, r = (np.array([c[k] for c in circles]) for k in range(3))
    if per_segment:  # a radius per (segment, circle), as the sensors' horizons are
        r = r[None, :] * np.linspace(0.5, 1.5, len(segs))[:, None]
    args = (t0, t1, x0, y0, x1, y1, cx, cy, r)
    got, want = circle_windows(*args), numpy_circle_windows(*args)
    for g, w in zip(got, want, strict=True):
        assert_same_floats(g, w)
    seg, circ = np.divmod(np.arange(len(segs) * len(circles)), len(circles))
    got = circle_windows_pairs(*args, seg, circ)
    want = numpy_circle_windows_pairs(*args, seg, circ)
    for g, w in zip(got, want, strict=True):
        assert_same_floats(g, w)


def test_circle_windows_skip_segments_with_nan_ends() -> None:
    one = np.array([1.0])
    args = (np.array([0.0]), np.array([10.0]), np.array([np.nan]), one * 0, one * 5, one * 0)
    e, lv = circle_windows(*args, np.zeros(1), np.zeros(1), one * 10)
    assert np.isnan(e).all()
    assert np.isnan(lv).all()


# ------------------------------------------------------------------ pieces, launch and EW


@pytest.fixture(scope="module")
def reference_flight():
    """The reference scenario's world and a small pool's flown segments."""
    world = build_world(sim.load_scenario(REFERENCE))
    k = 16
    waves = tuple(
        dataclasses.replace(w, count=w.count * k, window_s=(0.0, 0.0)) for w in world.waves
    )
    tw = dataclasses.replace(world, waves=waves)
    rng = np.random.default_rng(3)
    spread_z, ew_u = pool_draws(world, k, rng)
    seg, *_ = tracks.fly(tw, rng, spread_z=spread_z, ew_u=ew_u)
    return tw, seg


def test_pieces_are_those_of_the_numpy_code(reference_flight) -> None:
    world, seg = reference_flight
    assert world.roe_inner_within  # the shortcut for points outside the territory is exercised
    got, want = tracks._pieces(world, seg), numpy_pieces(world, seg)
    assert got.keys() == want.keys()
    for key, w in want.items():
        if w.dtype.kind == "f":
            assert_same_floats(got[key], w)
        else:
            np.testing.assert_array_equal(got[key], w)
    # and without the shortcut, the same again
    plain = dataclasses.replace(world, roe_inner_within=False)
    np.testing.assert_array_equal(tracks._pieces(plain, seg)["allowed"], want["allowed"])


def test_pieces_sort_repeated_zero_and_nan_splits_as_lexsort() -> None:
    # Hand-made splits: repeats, -0.0, out of order and NaN fractions, and empty segments.
    rng = np.random.default_rng(0)
    n = 40
    si = np.r_[np.arange(n), np.arange(n), rng.integers(0, n, 200), [3, 3, 3, 7]]
    odd = rng.choice([0.0, -0.0, 0.25, 0.5, 1.0], 200)
    fr = np.r_[np.zeros(n), np.ones(n), odd, [np.nan, 0.5, np.nan, -0.0]]
    t0 = rng.uniform(0, 100, n)
    t1 = t0 + rng.choice([0.0, 5.0, 50.0], n)
    x0, y0, x1, y1 = rng.normal(0, 1e5, (4, n))
    a_i = np.empty(si.size, np.int64)
    out = np.empty((8, si.size))
    m = tracks._split(si.astype(np.int64), fr, n, t0, t1, x0, y0, x1, y1, a_i, out)
    order = np.lexsort((fr, si))
    ss, ff = si[order], fr[order]
    same = ss[1:] == ss[:-1]
    want_i, fa, fb = ss[:-1][same], ff[:-1][same], ff[1:][same]
    keep = fb - fa > 1e-12
    want_i, fa, fb = want_i[keep], fa[keep], fb[keep]
    seg = Segments(np.arange(n), t0, t1, x0, y0, x1, y1)
    dur = t1[want_i] - t0[want_i]
    ta, tb = t0[want_i] + fa * dur, t0[want_i] + fb * dur
    xa, ya = seg.at(want_i, ta)
    xb, yb = seg.at(want_i, tb)
    np.testing.assert_array_equal(a_i[:m], want_i)
    want = (ta, tb, xa, ya, xb, yb, 0.5 * (xa + xb), 0.5 * (ya + yb))
    for g, w in zip(out[:, :m], want, strict=True):
        assert_same_floats(g, w)


def test_unsorted_crossings_are_the_sorted_ones_in_another_order(reference_flight) -> None:
    world, seg = reference_flight
    args = (seg.x0, seg.y0, seg.x1, seg.y1, world.territory.edges)
    si, fr = segment_edge_crossings(*args)
    ui, uf = segment_edge_crossings(*args, sort=False)
    order = np.lexsort((uf, ui))
    ui, uf = ui[order], uf[order]
    new = np.r_[True, (ui[1:] != ui[:-1]) | (uf[1:] != uf[:-1])]
    np.testing.assert_array_equal(ui[new], si)
    assert_same_floats(uf[new], fr)


def test_launch_measures_each_distinct_leg_once_with_the_same_floats(reference_flight) -> None:
    world, _ = reference_flight
    # Without spread every drone of a wave flies the same legs: measured once, broadcast.
    flat = dataclasses.replace(
        world, waves=tuple(dataclasses.replace(w, spread_m=0.0) for w in world.waves)
    )
    for w_ in (world, flat):
        seg, per = tracks._launch(w_, np.random.default_rng(1))
        # the numpy code this replaced: every point unprojected, every leg measured
        slon, slat = w_.projection.inverse(seg.x0, seg.y0)
        elon, elat = w_.projection.inverse(seg.x1, seg.y1)
        legs = sim.geo.geodesic_distance_m(slon, slat, elon, elat)
        speed = per["speed"][seg.drone]
        first = np.r_[True, seg.drone[1:] != seg.drone[:-1]]
        start = np.flatnonzero(first)
        for i, s in enumerate(start):
            e = start[i + 1] if i + 1 < start.size else len(seg)
            times = per["launch_s"][seg.drone[s]] + np.concatenate(
                [[0.0], np.cumsum(legs[s:e]) / speed[s]]
            )
            assert_same_floats(np.r_[seg.t0[s:e], seg.t1[e - 1]], times)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.data())
def test_inserting_diversions_orders_as_sorting(data) -> None:
    n_old = data.draw(st.integers(0, 30))

    def draw(values: st.SearchStrategy, n: int) -> np.ndarray:
        return np.array(data.draw(st.lists(values, min_size=n, max_size=n)))

    drones = np.sort(draw(st.integers(0, 6), n_old)).astype(int)
    t0 = draw(st.sampled_from([0.0, 1.0, 2.0, 3.0, np.nan]), n_old)
    if data.draw(st.booleans()):
        t0 = np.sort(t0)  # mostly sorted by drone then time, as the engine keeps tables
        order = np.lexsort((t0, drones))
        drones, t0 = drones[order], t0[order]
    new_d = np.array(sorted(data.draw(st.lists(st.integers(0, 6), min_size=1, max_size=4))), int)
    new_t = draw(st.sampled_from([0.5, 2.0, 3.0, 9.0, np.nan]), new_d.size)

    def table(d: np.ndarray, t: np.ndarray, tag: float) -> Segments:
        ids = np.arange(d.size) + tag
        return Segments(d, t, t + 1, ids, ids, ids, ids)

    old, new = table(drones, t0.astype(float), 0.0), table(new_d, new_t.astype(float), 1000.0)
    got = tracks._insert_after_drone(old, new)
    want = Segments(*(np.r_[a, b] for a, b in zip(old._arrays(), new._arrays(), strict=True)))
    for g, w in zip(got._arrays(), want.sorted()._arrays(), strict=True):
        assert_same_floats(g, w)


# ------------------------------------------------------------------ the grid's empty-cell skips


def test_next_full_row_of_every_column() -> None:
    rng = np.random.default_rng(5)
    edges = np.c_[rng.uniform(0, 100, (60, 2)), rng.uniform(0, 100, (60, 2))]
    edges[:, 2:] = edges[:, :2] + rng.normal(0, 3, (60, 2))
    g = EdgeGrid.build(edges)
    full = (np.diff(g.off) > 0).reshape(g.ny, g.nx)
    nxt = g.nxt.reshape(g.nx, g.ny + 1)
    for cx in range(g.nx):
        for cy in range(g.ny + 1):
            rows = np.flatnonzero(full[cy:, cx])
            assert nxt[cx, cy] == (cy + rows[0] if rows.size else g.ny)
