"""Shifted Sobol' sets (sim.qmc) and the pools drawn from them (sim.pools).

Random checks use fixed seeds; each states the chance that it would fail if the property held.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import sim
from sim import qmc
from sim.kernel import Tpl
from sim.pools import build_pool, build_pools, pool_draws, subset
from sim.vectorised import plan_chunks
from sim.world import build_world

REFERENCE = "scenarios/poland-2025-09-10.yaml"


@pytest.mark.parametrize(("n", "d"), [(1, 3), (7, 2), (512, 12), (1024, 1)])
def test_points_lie_strictly_inside_the_unit_cube(n: int, d: int) -> None:
    u = qmc.shifted_sobol(n, d, np.random.default_rng(0), sets=5)
    assert u.shape == (5, n, d)
    assert (u > 0).all()
    assert (u < 1).all()


@pytest.mark.parametrize("m", [0, 3, 9])
def test_each_coordinate_puts_one_point_in_each_dyadic_interval(m: int) -> None:
    # The (0, m, 1)-net property of every one-dimensional projection survives the digital shift.
    u = qmc.shifted_sobol(2**m, 6, np.random.default_rng(1), sets=3)
    cells = np.floor(u * 2**m).astype(int)
    for s in range(3):
        for j in range(6):
            assert np.array_equal(np.sort(cells[s, :, j]), np.arange(2**m))


def test_every_point_is_uniform_and_sets_are_independent() -> None:
    # Point 5 of 4,000 independent sets: uniform in each coordinate (KS test, fails with
    # probability 1e-4 per coordinate if uniform) and uncorrelated across coordinates and sets
    # (|r| < 4.5 / sqrt(4000): fails with probability about 7e-6 per pair).
    u = qmc.shifted_sobol(64, 4, np.random.default_rng(2), sets=4000)
    p5 = u[:, 5, :]
    for j in range(4):
        assert stats.kstest(p5[:, j], "uniform").pvalue > 1e-4
    bound = 4.5 / np.sqrt(4000)
    r = np.corrcoef(p5.T)
    assert np.abs(r[np.triu_indices(4, 1)]).max() < bound
    # different sets: point 5 of set s against point 9 of set s + 1
    r2 = np.corrcoef(u[:-1:2, 5, 0], u[1::2, 9, 0])[0, 1]
    assert abs(r2) < 4.5 / np.sqrt(2000)


def test_set_means_vary_far_less_than_independent_means() -> None:
    # The point of the sets: the mean of a smooth function over a set of 256 points varies at
    # least 20 times less than over 256 independent points (Sobol' gives about 1/n^2 against
    # 1/n here; the bound has a wide margin).
    rng = np.random.default_rng(3)
    u = qmc.shifted_sobol(256, 4, rng, sets=400)
    f = np.exp(u).sum(axis=2)
    mc_var = 4 * np.var(np.exp(rng.random(100_000))) / 256
    assert f.mean(axis=1).var(ddof=1) < mc_var / 20


def test_falls_back_to_independent_uniforms_beyond_the_table(monkeypatch) -> None:
    monkeypatch.setattr(qmc, "MAX_VALUES", 16)
    u = qmc.shifted_sobol(64, 2, np.random.default_rng(4))
    cells = np.floor(u[0, :, 0] * 64).astype(int)
    assert u.shape == (1, 64, 2)
    assert len(set(cells.tolist())) < 64  # not stratified: 64 iid points hit every cell w.p. ~1e-27


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        qmc.shifted_sobol(0, 2, np.random.default_rng(0))


def test_pool_spread_is_exactly_normal_per_slot() -> None:
    # Route offsets of one slot's 512 templates, pooled over 20 pools: standard normal
    # (KS test at 1e-4), with each slot's set stratified (its offsets' normal-CDF values hit
    # each of 512 cells once).
    world = build_world(sim.load_scenario(REFERENCE))
    zs = []
    for seed in range(20):
        spread, _ = pool_draws(world, 512, np.random.default_rng(seed))
        z = spread[5]  # ua-rzeszow, 5 drones: slot s is rows s * 512 .. (s + 1) * 512 - 1
        assert z.shape == (5 * 512, 3, 2)
        cells = np.floor(stats.norm.cdf(z[:512, 0, 0]) * 512).astype(int)
        assert np.array_equal(np.sort(cells), np.arange(512))
        zs.append(z[:, 1, 1])
    assert stats.kstest(np.concatenate(zs), "norm").pvalue > 1e-4


def test_pool_templates_belong_to_their_drone_slot() -> None:
    world = build_world(sim.load_scenario(REFERENCE))
    tp = build_pool(world, 8, np.random.default_rng(0))
    assert tp.end.size == world.n_drones * 8
    # template i * k + j starts at drone i's wave's launch point (template time 0)
    wave_of = np.repeat(np.arange(len(world.waves)), [w.count for w in world.waves])
    first = tp.bp_off[:-1]
    for i in range(world.n_drones):
        x0 = world.waves[wave_of[i]].launch_xy
        rows = first[i * 8 : (i + 1) * 8]
        assert np.allclose(tp.bx[rows], x0[0])
        assert np.allclose(tp.by[rows], x0[1])


def _same_pool(a: Tpl, b: Tpl) -> None:
    for name in a._fields:
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert x.dtype == y.dtype, name
        assert np.array_equal(x, y, equal_nan=True), name


@pytest.mark.parametrize(
    ("path", "k"),
    [
        (REFERENCE, 1),  # spread, jamming, fighters
        (REFERENCE, 4),
        ("scenarios/poland-cheap-layer.yaml", 2),
        ("benchmarks/scenarios/sls-raid.yaml", 3),  # no spread, no jamming
    ],
)
def test_pools_built_together_are_the_pools_built_alone(path: str, k: int) -> None:
    # build_pools saves the fixed cost of a pass over the geometry by building several
    # clusters' pools at once; each must be the pool its generator gives alone, bit for bit.
    world = build_world(sim.load_scenario(path))

    def rngs() -> list[np.random.Generator]:
        return [np.random.default_rng([11, c]) for c in range(5)]

    alone = [build_pool(world, k, rng) for rng in rngs()]
    together = build_pools(world, k, rngs())
    assert len(together) == len(alone)
    for a, b in zip(alone, together, strict=True):
        _same_pool(a, b)


def test_subset_takes_the_templates_asked_for() -> None:
    world = build_world(sim.load_scenario(REFERENCE))
    tp = build_pool(world, 4, np.random.default_rng(3))
    n = tp.end.size
    _same_pool(subset(tp, np.arange(n), 4), tp)
    # every template's data travels with it: a reversed subset, reversed again, is the pool
    back = subset(subset(tp, np.arange(n)[::-1], 4), np.arange(n)[::-1], 4)
    _same_pool(back, tp)
    one = subset(tp, np.array([n - 1]), 1)
    lo, hi = tp.bp_off[n - 1], tp.bp_off[n]
    assert np.array_equal(one.bt, tp.bt[lo:hi])
    assert one.end[0] == tp.end[n - 1]


@pytest.mark.parametrize(
    ("replications", "n_drones", "k"),
    [
        (200, 21, 8),
        (100_000, 21, 512),
        (1_000_000, 21, 512),
        (4000, 500, 128),
        (200_000, 500, 128),
        (64, 20_000, 2),
        (100_000, 20_000, 2),
    ],
)
def test_plan_chunks_picks_powers_of_two_within_the_budget(
    replications: int, n_drones: int, k: int
) -> None:
    sizes, got = plan_chunks(replications, n_drones)
    assert sum(sizes) == replications
    assert got == k


@pytest.mark.parametrize("replications", [1, 5, 31, 32, 33, 100, 300, 4000, 131_071, 131_072])
def test_plan_chunks_keeps_at_least_32_clusters_of_nearly_equal_size(replications: int) -> None:
    """README: at least 32 clusters per run (every replication its own when there are fewer),
    so that the cluster-robust intervals keep their degrees of freedom."""
    sizes, _ = plan_chunks(replications, 21)
    assert sum(sizes) == replications
    assert len(sizes) == min(32, replications)
    assert max(sizes) - min(sizes) <= 1
    assert max(sizes) <= 4096


def test_plan_chunks_above_32_full_clusters_keeps_them_full() -> None:
    sizes, _ = plan_chunks(1_000_000, 21)
    assert sizes[:-1] == [4096] * 244
    assert sizes[-1] == 1_000_000 - 244 * 4096
