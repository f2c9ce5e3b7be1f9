"""Oracle test of the fighters' closed-form intercept time against a brute-force scan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.engine import Simulation
from sim.runner import replication_rng
from sim.scenario import Scenario
from sim.tracks import build_tracks
from sim.world import build_world


def _scenario() -> Scenario:
    return Scenario.model_validate(
        {
            "name": "intercept",
            "duration_h": 8,
            "drone_types": {
                "g": {"speed_kmh": 160, "altitude_m": 500, "cost_usd": 1e4, "endurance_km": 900}
            },
            "waves": [
                {
                    "name": "w",
                    "type": "g",
                    "count": 12,
                    "launch": {"lat": 52.5, "lon": 24.6},
                    "launch_time_min": [0, 60],
                    "route": [{"lat": 51.8, "lon": 22.5}, {"lat": 52.3, "lon": 20.0}],
                    "route_spread_km": 20,
                }
            ],
        }
    )


@pytest.mark.parametrize("speed_mps", [60.0, 236.0, 400.0])
def test_reach_time_matches_brute_force(speed_mps: float) -> None:
    world = build_world(_scenario())
    tracks = build_tracks(world, replication_rng(3, 0))
    sim = Simulation(world, tracks, replication_rng(3, 0))
    rng = np.random.default_rng(0)
    for d in range(tracks.n):
        x0, y0 = rng.uniform(-3e5, 3e5, 2)
        t0 = float(tracks.launch_s[d] + rng.uniform(0, 3600))
        got = sim._reach_time(d, t0, float(x0), float(y0), speed_mps)
        ts = np.linspace(t0, float(tracks.end_s[d]), 400_001)
        s, e = tracks.offsets[d], tracks.offsets[d + 1]
        px = np.interp(ts, tracks.bt[s:e], tracks.bx[s:e])
        py = np.interp(ts, tracks.bt[s:e], tracks.by[s:e])
        ok = np.hypot(px - x0, py - y0) <= speed_mps * (ts - t0)
        step = ts[1] - ts[0]
        if not ok.any():
            assert math.isinf(got)
        else:
            # The first feasible sample is within one grid step after the exact root.
            assert ts[np.argmax(ok)] - step - 1e-6 <= got <= ts[np.argmax(ok)] + 1e-6
