"""The compiled replication kernel: what it reads ahead, and independence from chunking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
    # The kernel prefetches the next replications' templates from their own streams; if the
    # prediction drifted from the draw, results would not change, only speed: so check it here.
    world, sc, tp = reference_pool
    key = vectorised._kernel_key(11)
    out, _, _ = vectorised._run_kernel(tp, sc, key, 40, 25)
    got = np.empty(world.n_drones, np.int64)
    for r in range(25):
        kernel._templates_of(key, 40 + r, world.n_drones, tp.k, got)
        np.testing.assert_array_equal(got, out["tid"][r])


def test_a_replication_does_not_depend_on_its_chunk(reference_pool) -> None:
    _, sc, tp = reference_pool
    key = vectorised._kernel_key(3)
    whole, shots_w, _ = vectorised._run_kernel(tp, sc, key, 0, 12)
    part, shots_p, _ = vectorised._run_kernel(tp, sc, key, 7, 5)
    for name in whole:
        np.testing.assert_array_equal(part[name], whole[name][7:], err_msg=name)
    later = shots_w[shots_w[:, 0] >= 7].copy()
    later[:, 0] -= 7
    np.testing.assert_array_equal(shots_p, later)
