"""Extensions of the spec: sensors on for part of the night, fighters that may not find their
target, and batteries that defend only their own area."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import sim
from sim.scenario import Scenario

LAUNCH = {"lat": 52.2, "lon": 24.5}  # in Belarus, east of the border
AIM = {"lat": 52.2, "lon": 21.5}  # inside Poland


def _scenario(**over: Any) -> Scenario:
    doc: dict[str, Any] = {
        "name": "features",
        "duration_h": 10,
        "drone_types": {
            "g": {"speed_kmh": 150, "altitude_m": 500, "cost_usd": 1e4, "endurance_km": 900}
        },
        "weapons": {
            "m": {
                "cost_usd": 1e5,
                "pk": 1.0,
                "max_range_km": 30,
                "max_altitude_m": 10000,
                "speed_mps": 1000,
            },
            "a": {
                "cost_usd": 4e5,
                "pk": 1.0,
                "min_range_km": 0.5,
                "max_range_km": 20,
                "max_altitude_m": 20000,
                "speed_mps": 900,
            },
        },
        "platforms": {"f": {"cruise_kmh": 850, "cost_per_flight_hour_usd": 3600, "endurance_h": 6}},
        "waves": [
            {
                "name": "w",
                "type": "g",
                "count": 10,
                "launch": LAUNCH,
                "launch_time_min": [0, 60],
                "route": [AIM],
            }
        ],
        "sensors": [
            {
                "name": "r",
                "lat": 52.2,
                "lon": 22.5,
                "range_km": 300,
                "antenna_height_m": 1000,
                "p_detect": 1.0,
                "scan_s": 10,
            }
        ],
    }
    doc.update(over)
    return Scenario.model_validate(doc)


def test_sensor_detects_only_while_on() -> None:
    on_h = 0.5  # launches are spread over the first hour; flights last ~1.4 h
    s = _scenario(
        sensors=[
            {"name": "r", "lat": 52.2, "lon": 22.5, "range_km": 300, "antenna_height_m": 1000,
             "p_detect": 1.0, "scan_s": 10, "active_h": [on_h, 8.0]}
        ]
    )  # fmt: skip
    d = sim.run(s, replications=3, seed=1).drones
    det = d["detected_s"].dropna()
    assert len(det) == len(d)  # every drone is still in cover after the sensor comes on
    assert (det >= on_h * 3600).all()
    # Drones already in cover when it comes on are seen at its first scan.
    assert math.isclose(det.min(), on_h * 3600)
    off = _scenario(
        sensors=[
            {"name": "r", "lat": 52.2, "lon": 22.5, "range_km": 300, "antenna_height_m": 1000,
             "p_detect": 1.0, "scan_s": 10, "active_h": [9.0, 10.0]}
        ]
    )  # fmt: skip
    assert sim.run(off, replications=2, seed=1).drones["detected_s"].isna().all()


def _fighters(p_acquire: float) -> Scenario:
    return _scenario(
        defenders=[
            {"kind": "airbase", "name": "qra", "platform": "f", "lat": 52.0, "lon": 20.5,
             "aircraft": 10, "scramble_min": 5, "loadout": {"a": 2}, "p_acquire": p_acquire}
        ]
    )  # fmt: skip


def test_fighter_that_never_acquires_never_shoots_but_flies() -> None:
    r = sim.run(_fighters(0.0), replications=3, seed=2)
    assert r.shots.empty
    assert len(r.sorties) > 0
    assert (r.drones["fate"] == "leaked").all()
    assert r.summary["metrics"]["defender_cost_usd"]["mean"] > 0


def test_acquisition_probability_is_the_kill_fraction_with_pk_one() -> None:
    # One airbase, pk 1, the airbase tries each drone once: kills ~ Binomial(n, p_acquire).
    p = 0.4
    r = sim.run(_fighters(p), replications=40, seed=3)
    n = len(r.drones)
    kills = int((r.drones["fate"] == "destroyed").sum())
    se = math.sqrt(p * (1 - p) / n)
    assert abs(kills / n - p) < 4 * se  # 4 standard errors: a false alarm about 1 in 16,000
    assert r.summary["metrics"]["shots_fired"]["mean"] * 40 == kills


def test_point_defence_engages_only_drones_aimed_at_its_area() -> None:
    north = {"lat": 53.2, "lon": 21.5}
    waves = [
        {"name": "to-aim", "type": "g", "count": 6, "launch": LAUNCH, "route": [AIM]},
        {"name": "elsewhere", "type": "g", "count": 6, "launch": LAUNCH,
         "route": [{"lat": 52.2, "lon": 22.6}, north]},
    ]  # fmt: skip
    battery = {"kind": "battery", "name": "b", "weapon": "m", "lat": 52.2, "lon": 22.4,
               "magazine": 100, "channels": 20, "reaction_s": 5}  # fmt: skip
    free = sim.run(_scenario(waves=waves, defenders=[battery]), replications=2, seed=4).drones
    assert (free["fate"] == "destroyed").all()
    guarded = dict(battery, defended_radius_km=120)  # AIM is ~61 km away, north ~130 km
    d = sim.run(_scenario(waves=waves, defenders=[guarded]), replications=2, seed=4).drones
    assert (d.loc[d["wave"] == "to-aim", "fate"] == "destroyed").all()
    assert (d.loc[d["wave"] == "elsewhere", "shots_at"] == 0).all()
    assert np.array_equal(d["drone"].to_numpy(), free["drone"].to_numpy())
