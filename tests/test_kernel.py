"""The compiled replication kernel: what it reads ahead, and independence from chunking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim
from sim import kernel, vectorised
from sim.pools import build_pool
from sim.world import build_world

REFERENCE = Path(__file__).resolve().parents[1] / "scenarios" / "poland-2025-09-10.yaml"


@pytest.fixture(scope="module")
def reference_pool():
    world = build_world(sim.load_scenario(REFERENCE))
    return world, vectorised._scene(world), build_pool(world, 16, np.random.default_rng(7))


def test_templates_read_ahead_are_the_ones_flown(reference_pool) -> None:
    # The kernel prefetches the next replications' templates; if the prediction drifted from
    # the templates flown, results would not change, only speed: so check it here.
    world, sc, tp = reference_pool
    key = vectorised._kernel_key(11)
    out, _, _ = vectorised._run_kernel(tp, sc, key, 40, 25, cluster_first=32)
    got = np.empty(world.n_drones, np.int64)
    for r in range(25):
        kernel._templates_of(key, 32, 40 + r, world.n_drones, tp.k, got)
        np.testing.assert_array_equal(got, out["tid"][r])


def test_a_replication_does_not_depend_on_its_chunk(reference_pool) -> None:
    _, sc, tp = reference_pool
    key = vectorised._kernel_key(3)
    whole, shots_w, _ = vectorised._run_kernel(tp, sc, key, 0, 12)
    part, shots_p, _ = vectorised._run_kernel(tp, sc, key, 7, 5, cluster_first=0)
    for name in whole:
        np.testing.assert_array_equal(part[name], whole[name][7:], err_msg=name)
    later = shots_w[shots_w[:, 0] >= 7].copy()
    later[:, 0] -= 7
    np.testing.assert_array_equal(shots_p, later)


def test_an_airborne_fighters_lasting_failure_keeps_failing_later(reference_pool) -> None:
    # C2 does not plan again, while a fighter loiters at the same spot, an intercept that failed
    # "lasting": exact only if every later start from that spot fails too (the drones here are
    # slower than the fighters, as the kernel requires before it relies on this).
    _, sc, tp = reference_pool
    assert tp.vmax < sc.base_speed.min()
    rng = np.random.default_rng(9)
    lasting = checked = short = 0
    for tid in rng.choice(tp.end.size, 80, replace=False):
        shift = float(rng.uniform(0.0, 3600.0))
        end = min(float(tp.end[tid]) + shift, sc.horizon)
        for j in range(sc.na):
            rounds = np.maximum(sc.lo_n[j], 0)
            for t0 in np.linspace(shift, end, 12):
                # a fighter airborne for most of its endurance, somewhere near the track
                x0, y0 = sc.base_x[j] + rng.normal(0, 8e4), sc.base_y[j] + rng.normal(0, 8e4)
                up = t0 - rng.uniform(0.5, 1.0) * sc.base_endurance[j]
                plan = _plan(tp, sc, tid, shift, end, j, rounds, t0, x0, y0, up)
                if not (np.isnan(plan[1]) and plan[3]):
                    continue
                lasting += 1
                short += bool(np.isfinite(_plan(tp, sc, tid, shift, end, j, rounds, t0, x0, y0,
                                                up + 1e9)[1]))  # fmt: skip
                for t in np.linspace(t0, end + 60.0, 10)[1:]:
                    checked += 1
                    later = _plan(tp, sc, tid, shift, end, j, rounds, t, x0, y0, up)
                    assert np.isnan(later[1]), (tid, j, t0, t, plan, later)
    # exercised, including failures for want of endurance (the plan works with endless fuel)
    assert short > 20, (short, lasting)
    assert checked > 500


def test_cheapest_prices_a_fighter_with_the_hours_of_its_whole_sortie(reference_pool) -> None:
    # README, C2: a fighter's price is its shot plus the flight hours from wheels-up to the shot
    # and home from the impact, so an aircraft on station carries the hours it has flown.
    _, sc, tp = reference_pool
    rng = np.random.default_rng(21)
    compared = 0
    for tid in rng.choice(tp.end.size, 60, replace=False):
        shift = float(rng.uniform(0.0, 3600.0))
        end = min(float(tp.end[tid]) + shift, sc.horizon)
        for j in range(sc.na):
            rounds = np.maximum(sc.lo_n[j], 0)
            t0 = float(rng.uniform(shift, end))
            x0, y0 = sc.base_x[j] + rng.normal(0, 3e4), sc.base_y[j] + rng.normal(0, 3e4)
            fresh = _plan(tp, sc, tid, shift, end, j, rounds, t0, x0, y0, t0)
            flown = 0.25 * sc.base_endurance[j]
            on_station = _plan(tp, sc, tid, shift, end, j, rounds, t0, x0, y0, t0 - flown)
            if not (np.isfinite(fresh[0]) and np.isfinite(on_station[0])):
                continue
            compared += 1
            assert on_station[:2] == fresh[:2]
            extra = on_station[2] - fresh[2]
            assert extra == pytest.approx(sc.base_cost_s[j] * flown, rel=1e-9)
            # the rest: a weapon of the loadout and at least the flight to the shot
            shot = fresh[2] - sc.base_cost_s[j] * (fresh[0] - t0)
            assert shot >= sc.wpn_cost[sc.lo_w[j][sc.lo_n[j] > 0]].min() * (1 - 1e-12)
    assert compared > 20, compared


def _plan(tp, sc, tid, shift, end, j, rounds, t0, x0, y0, wheels_up):
    return kernel._fighter_plan(
        tp.bp_off, tp.bt, tp.bx, tp.by, tp.al_off, tp.al_a, tp.al_b, sc.lo_w, sc.wpn_cost,
        sc.wpn_min_alt, sc.wpn_max_alt, sc.wpn_tof, sc.base_x, sc.base_y, sc.base_speed,
        sc.base_endurance, sc.base_cost_s, sc.max_shots, sc.assess, int(tid), shift, end,
        float(tp.alt[tid]), j, rounds, float(t0), float(x0), float(y0), float(wheels_up),
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(1, 700),
    n=st.integers(1, 4),
    cluster_first=st.integers(0, 10**6),
    block=st.integers(0, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_templates_are_dealt_evenly(k, n, cluster_first, block, seed) -> None:
    # In each block of k replications of a cluster, every drone flies each of its own k
    # templates once; the order differs between drones (else they would always fly together).
    key = vectorised._kernel_key(seed)
    got = np.empty((k, n), np.int64)
    for s in range(k):
        kernel._templates_of(key, cluster_first, cluster_first + block * k + s, n, k, got[s])
    for i in range(n):
        np.testing.assert_array_equal(np.sort(got[:, i]), i * k + np.arange(k))
    if n > 1 and k >= 64:
        assert not np.array_equal(got[:, 0], got[:, 1] - k)
