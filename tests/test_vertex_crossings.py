"""Tracks through polygon vertices and along edges are split where they cross.

Regression: a route through a vertex of a no-fire polygon was not split there (float rounding at
the vertex shared by two edges made both half-open ``u in [0, 1)`` tests fail), so the piece
spanning it took the flag of its midpoint: no shot anywhere along it. See
:func:`sim.geo.segment_edge_crossings`.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_gridindex import all_pairs_crossings, vertex_segments

import sim
from sim.geo import segment_edge_crossings
from sim.runner import run
from sim.tracks import build_tracks, fly
from sim.world import build_world


@st.composite
def polygons(draw) -> np.ndarray:
    """The vertices (V, 2) of a random simple star-shaped polygon at map scale."""
    n = draw(st.integers(3, 12))
    gaps = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
    angles = draw(st.floats(0, 2 * math.pi)) + np.cumsum(gaps) * (2 * math.pi / gaps.sum())
    radii = np.array(draw(st.lists(st.floats(0.2, 1.0), min_size=n, max_size=n)))
    scale = draw(st.sampled_from([1e3, 3e4, 2e5]))
    cx, cy = draw(st.floats(-3e5, 3e5)), draw(st.floats(-3e5, 3e5))
    if draw(st.booleans()):  # on round numbers: axis-parallel segments hit vertices exactly
        angles = np.round(angles * 8) / 8
        cx, cy, radii = round(cx), round(cy), np.round(radii * 16) / 16
    return np.c_[cx + scale * radii * np.cos(angles), cy + scale * radii * np.sin(angles)]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.data())
def test_no_piece_is_partly_inside_and_partly_outside(data) -> None:
    xy = data.draw(polygons())
    polygon = shapely.Polygon(xy)
    assume(polygon.is_valid and polygon.area > 0)
    edges = np.hstack([xy, np.roll(xy, -1, axis=0)])
    segments = np.array(data.draw(st.lists(vertex_segments(edges), min_size=1, max_size=8)))
    x0, y0, x1, y1 = segments.T
    seg, frac = segment_edge_crossings(x0, y0, x1, y1, edges)
    want_seg, want_frac = all_pairs_crossings(x0, y0, x1, y1, edges)
    assert np.array_equal(seg, want_seg)
    assert np.array_equal(frac, want_frac)
    # Split every segment and sample each piece away from the boundary: all the points of a piece
    # must be on the same side (what classifying a piece by its midpoint relies on).
    span = float(np.ptp(xy, axis=0).max())
    boundary = polygon.exterior
    for i in range(len(segments)):
        cuts = np.unique(np.r_[0.0, frac[seg == i], 1.0])
        f = (
            cuts[:-1, None] + np.linspace(0.02, 0.98, 25)[None, :] * np.diff(cuts)[:, None]
        ).ravel()
        px, py = x0[i] + f * (x1[i] - x0[i]), y0[i] + f * (y1[i] - y0[i])
        piece = np.repeat(np.arange(cuts.size - 1), 25)
        far = shapely.distance(shapely.points(px, py), boundary) > 1e-6 * span
        inside = shapely.contains_xy(polygon, px, py)
        for p in np.unique(piece[far]):
            sides = inside[far & (piece == p)]
            assert sides.all() or not sides.any(), (i, p, cuts)


def test_route_along_an_edge_is_split_where_it_leaves_it() -> None:
    # An L-shaped route: along the square's bottom side, then up through its inside.
    square = np.array([[0, 0, 10, 0], [10, 0, 10, 10], [10, 10, 0, 10], [0, 10, 0, 0]], float)
    seg, frac = segment_edge_crossings([-5.0, 5.0], [0.0, 0.0], [5.0, 5.0], [0.0, 20.0], square)
    assert seg.tolist() == [0, 1, 1]
    assert frac.tolist() == [0.5, 0.0, 0.5]


# --------------------------------------------------------------- a route through a no-fire vertex

TERRITORY = {"type": "Polygon", "coordinates": [[[20, 52], [24, 52], [24, 54], [20, 54], [20, 52]]]}
ZONE = {"type": "Polygon", "coordinates": [[[21, 51], [23, 51], [23, 51.6], [21, 51.6], [21, 51]]]}


def _scenario(tmp_path, lon: float):
    (tmp_path / "terr.geojson").write_text(json.dumps(TERRITORY))
    (tmp_path / "nfz.geojson").write_text(json.dumps(ZONE))
    path = tmp_path / "s.yaml"
    path.write_text(
        f"""\
name: vertex
seed: 1
duration_h: 10
geography:
  border: {tmp_path / "terr.geojson"}
  no_fire_zones:
    - {{name: nfz, polygon: {tmp_path / "nfz.geojson"}}}
drone_types:
  d1: {{speed_kmh: 100, altitude_m: 500, cost_usd: 10000, endurance_km: 1000}}
weapons:
  w1: {{cost_usd: 1000, pk: 0.5, min_range_km: 0, max_range_km: 30, max_altitude_m: 5000,
       speed_mps: 1000}}
sensors:
  - {{name: r, lat: 52.5, lon: 22.0, range_km: 300, antenna_height_m: 10000, scan_s: 10,
     p_detect: 1.0}}
defenders:
  - {{name: b, kind: battery, weapon: w1, lat: 51.5, lon: 22.0, magazine: 100, channels: 1,
     reaction_s: 20}}
doctrine:
  engage_only_inside_border: false
  max_shots_per_target: 50
waves:
  - {{name: w, type: d1, count: 1, launch: {{lat: 51.0, lon: {lon}}}, launch_time_min: 30,
     route: [{{lat: 53.0, lon: {lon}}}]}}
"""
    )
    return sim.load_scenario(path)


@pytest.mark.parametrize("lon", [22.0, 22.05, 21.0, 23.0])
def test_route_through_a_no_fire_vertex_gets_its_pieces_right(tmp_path, lon) -> None:
    # lon 22.0 is the projection's central meridian: the route is x = 0 and passes through a
    # vertex of the zone's densified, guarded outline (x ~ 1e-16); 21.0 and 23.0 run along the
    # zone's sides (5 m inside the guarded outline); 22.05 is a plain crossing.
    world = build_world(_scenario(tmp_path, lon))
    zone = world.roe_nofire_polygons[0]
    seg, *_, pieces = fly(world, np.random.default_rng(0))
    if lon == 22.0:
        vx, vy = zone.edges[:, 0], zone.edges[:, 1]
        on_route = (np.abs(vx - seg.x0[0]) < 1e-6) & (vy > seg.y0[0]) & (vy < seg.y1[0])
        assert on_route.any()  # the route passes through a vertex of the zone
    # Every piece is wholly on one side of the guarded zone: the flag is right at its ends too.
    for f in (0.05, 0.5, 0.95):
        x = pieces["x0"] + f * (pieces["x1"] - pieces["x0"])
        y = pieces["y0"] + f * (pieces["y1"] - pieces["y0"])
        np.testing.assert_array_equal(pieces["allowed"], ~zone.contains(x, y))
    # Just north of the zone (lat 51.6 + guard) shots are allowed, up to the end of the track.
    _, lat0 = world.projection.inverse(pieces["x0"], pieces["y0"])
    north = lat0 > 51.6001
    assert north.any()
    assert pieces["allowed"][north].all()
    assert not pieces["allowed"][lat0 < 51.59].any()
    tracks = build_tracks(world, np.random.default_rng(0))
    _, t0, t1 = tracks.allowed
    x, y = tracks.position(0, float(t0[0]))
    assert world.projection.inverse(x, y)[1] == pytest.approx(51.6, abs=1e-3)
    assert t1[-1] == pytest.approx(tracks.end_s[0])


@pytest.mark.parametrize("engine", ["des", "vectorised"])
def test_battery_fires_on_a_route_through_a_no_fire_vertex(tmp_path, engine) -> None:
    result = run(_scenario(tmp_path, 22.0), replications=4, seed=1, engine=engine)
    assert len(result.shots) > 0
    assert (result.shots["lat"] > 51.6).all()
    assert result.shots["lat"].min() == pytest.approx(51.6, abs=1e-3)
    assert result.summary["metrics"]["drones_destroyed"]["mean"] == 1.0
