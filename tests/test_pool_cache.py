"""The vectorised engine's reuse of track pools between runs (sweep points).

A pool is reused only when the scenario's geometry key (:func:`sim.pools.geometry_key`) matches,
so the key must leave out only fields that never reach a pool. The first test checks each of
them: changed at random, they leave the pool the same bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim import vectorised as v
from sim.kernel import Tpl
from sim.pools import build_pool, geometry_key
from sim.world import build_world

CHEAP = "scenarios/poland-cheap-layer.yaml"
REFERENCE = "scenarios/poland-2025-09-10.yaml"
_BASE = {path: sim.load_scenario(path) for path in (CHEAP, REFERENCE)}
_POOLS: dict[str, Tpl] = {}


def _pool(scenario: sim.Scenario) -> Tpl:
    return build_pool(build_world(scenario), 4, np.random.default_rng(7))


def _base_pool(path: str) -> Tpl:
    if path not in _POOLS:
        _POOLS[path] = _pool(_BASE[path])
    return _POOLS[path]


def _same_pool(a: Tpl, b: Tpl) -> None:
    for name in a._fields:
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.dtype == y.dtype, name
        assert np.array_equal(x, y, equal_nan=True), name


@st.composite
def defence_changes(draw: st.DrawFn, path: str) -> dict[str, Any]:
    """Random values for fields the key leaves out (every kind of them, in one scenario)."""
    s = _BASE[path]
    changes: dict[str, Any] = {
        "name": draw(st.sampled_from(["x", "another-name"])),
        "seed": draw(st.integers(0, 2**40)),
        "replications": draw(st.integers(1, 5000)),
        "doctrine.max_shots_per_target": draw(st.integers(1, 4)),
        "doctrine.shoot_look_shoot": draw(st.booleans()),
        "doctrine.assessment_s": draw(st.floats(0, 120)),
        "doctrine.assignment": draw(st.sampled_from(["cheapest", "nearest", "layered"])),
    }
    for d in s.defenders:
        if d.kind == "battery":
            changes[f"defenders.{d.name}.magazine"] = draw(st.integers(0, 200))
            changes[f"defenders.{d.name}.channels"] = draw(st.integers(1, 8))
            changes[f"defenders.{d.name}.reload_min"] = draw(st.none() | st.floats(1, 240))
            changes[f"defenders.{d.name}.reaction_s"] = draw(st.floats(0, 300))
        else:
            changes[f"defenders.{d.name}.aircraft"] = draw(st.integers(1, 6))
            changes[f"defenders.{d.name}.scramble_min"] = draw(st.floats(0, 60))
            changes[f"defenders.{d.name}.turnaround_min"] = draw(st.floats(0, 600))
            changes[f"defenders.{d.name}.p_acquire"] = draw(st.floats(0.01, 1))
            for weapon in d.loadout:
                changes[f"defenders.{d.name}.loadout.{weapon}"] = draw(st.integers(1, 8))
    for w in s.waves:
        start = draw(st.floats(0, 300))
        changes[f"waves.{w.name}.launch_time_min"] = [start, start + draw(st.floats(0, 150))]
    # (section, its entries' names, {field: (low, high)})
    numeric = [
        ("sensors", [x.name for x in s.sensors], {"scan_s": (1, 60), "p_detect": (0.01, 1)}),
        ("weapons", list(s.weapons), {"cost_usd": (0, 1e7), "pk": (0.01, 1)}),
        ("platforms", list(s.platforms),
         {"cost_per_flight_hour_usd": (0, 1e5), "endurance_h": (0.5, 12)}),
        ("drone_types", list(s.drone_types), {"cost_usd": (0, 1e6), "damage_usd": (0, 1e7)}),
    ]  # fmt: skip
    for section, names, fields in numeric:
        for name in names:
            for field, (lo, hi) in fields.items():
                changes[f"{section}.{name}.{field}"] = draw(st.floats(lo, hi))
    return changes


@pytest.mark.parametrize("path", [CHEAP, REFERENCE])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fields_left_out_of_the_key_never_reach_a_pool(path: str, data: st.DataObject) -> None:
    changed = _BASE[path].with_changes(data.draw(defence_changes(path)))
    assert geometry_key(changed) == geometry_key(_BASE[path])
    _same_pool(_pool(changed), _base_pool(path))


@pytest.mark.parametrize(
    "change",
    [
        {"defenders.patriot-jasionka.lat": 50.2},
        {"defenders.patriot-jasionka.defended_radius_km": 9.0},
        {"defenders.qra-f35-lask.lon": 19.3},  # an airbase's place shapes the scenario's area
        {"weapons.pac3_mse.max_range_km": 25.0},
        {"weapons.pac3_mse.min_altitude_m": 100.0},
        {"sensors.radar-chelm.range_km": 150.0},
        {"sensors.radar-chelm.antenna_height_m": 60.0},
        {"waves.ua-rzeszow.count": 6},
        {"waves.ua-rzeszow.route_spread_km": 3.0},
        {"drone_types.gerbera.speed_kmh": 140.0},
        {"drone_types.gerbera.endurance_km": 450.0},
        {"electronic_warfare.0.radius_km": 60.0},
        {"doctrine.engage_only_inside_border": False},
        {"duration_h": 7.0},
        {"waves.ua-rzeszow.speed_kmh": 120.0},
    ],
)
def test_what_shapes_the_tracks_changes_the_key(change: dict[str, Any]) -> None:
    s = _BASE[REFERENCE]
    assert geometry_key(s.with_changes(change)) != geometry_key(s)


def test_a_run_reuses_the_pools_of_a_run_with_the_same_tracks(monkeypatch) -> None:
    # Two sweep points that differ in the defence only: the second builds no pool, and gives
    # the same result as with every pool built afresh.
    calls = []
    real = v.build_pools

    def counting(*args: Any, **kwargs: Any) -> list[Tpl]:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(v, "build_pools", counting)
    monkeypatch.setattr(v, "_POOL_CACHE", type(v._POOL_CACHE)())
    a = _BASE[CHEAP]
    b = a.with_changes({"defenders.idt-podlasie.magazine": 0, "weapons.piorun.pk": 0.3})
    sim.run(a, replications=40, seed=3, engine="vectorised", tables=False)
    built = len(calls)
    assert built >= 1
    reused = sim.run(b, replications=40, seed=3, engine="vectorised", tables=False)
    assert len(calls) == built
    v.clear_pool_cache()
    fresh = sim.run(b, replications=40, seed=3, engine="vectorised", tables=False)
    assert len(calls) > built
    assert reused.summary == fresh.summary
    assert reused.per_replication.equals(fresh.per_replication)
    # another seed is another set of tracks
    sim.run(b, replications=40, seed=4, engine="vectorised", tables=False)
    assert len(calls) > built + 1


def test_the_pools_kept_stay_within_their_budget(monkeypatch) -> None:
    monkeypatch.setattr(v, "_POOL_CACHE", type(v._POOL_CACHE)())
    monkeypatch.setattr(v, "POOL_CACHE_TEMPLATES", 3000)
    s = _BASE[REFERENCE]  # 21 drones: 40 replications are 32 clusters of 2 templates a drone
    for seed in range(5):
        sim.run(s, replications=40, seed=seed, engine="vectorised", tables=False)
        held = sum(tp.end.size for pools in v._POOL_CACHE.values() for tp in pools)
        assert 0 < held <= 3000
    # a run whose pools alone exceed the budget keeps none
    v._POOL_CACHE.clear()
    sim.run(s, replications=200, seed=1, engine="vectorised", tables=False)
    assert not v._POOL_CACHE
