"""Designs of experiments (sim.designs) and how a sweep plan uses them."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import scenario_factory as sf

from sim import designs
from sim.loader import dump_resolved_yaml
from sim.sweeps import plan_sweep


@pytest.fixture(scope="module")
def base_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("designs")
    path = folder / "base.yaml"
    path.write_text(dump_resolved_yaml(sf.straight_raid(count=5, pk=0.8, magazine=6, name="base")))
    return path


def _sweep(folder: Path, kind: str, samples: int | None, seed: int = 3) -> Path:
    design = f"{{kind: {kind}" + (f", samples: {samples}" if samples else "") + "}"
    path = folder / f"{kind}-{samples}-{seed}.yaml"
    path.write_text(
        f"scenario: base.yaml\nreplications: 2\nseed: {seed}\ndesign: {design}\n"
        "parameters:\n"
        "  - path: defenders.bat-1.magazine\n    range: [0, 12]\n"
        "  - path: waves.w0.count\n    range: [1, 40]\n"
        "  - path: weapons.sam.pk\n    range: [0.2, 0.95]\n"
        "  - path: defenders.bat-1.reaction_s\n    range: [5, 120]\n"
    )
    return path


# ------------------------------------------------------------------------------ grid


def test_full_factorial_size_and_order() -> None:
    pts = designs.full_factorial([[2, 5, 10], [3, 8], ["a", "b", "c", "d"]])
    assert len(pts) == 3 * 2 * 4
    assert pts[0] == (2, 3, "a")
    assert pts[1] == (2, 3, "b")  # the last factor varies fastest
    assert pts[-1] == (10, 8, "d")
    assert len(set(pts)) == len(pts)


def test_grid_plan_size(base_yaml: Path) -> None:
    path = base_yaml.parent / "grid.yaml"
    path.write_text(
        "scenario: base.yaml\ndesign: {kind: grid}\nparameters:\n"
        "  - path: defenders.bat-1.magazine\n    values: [2, 5, 10]\n"
        "  - path: waves.w0.count\n    values: [3, 8]\n"
        "  - path: doctrine.assignment\n    values: [cheapest, nearest]\n"
    )
    plan = plan_sweep(path)
    assert plan.n_points == 12
    assert {tuple(p.values()) for p in plan.points} == set(
        itertools.product([2, 5, 10], [3, 8], ["cheapest", "nearest"])
    )


# ------------------------------------------------------------------------ lhs / sobol


@pytest.mark.parametrize("kind", ["lhs", "sobol", "nolh"])
def test_sampled_designs_within_bounds_and_integers(base_yaml: Path, kind: str) -> None:
    plan = plan_sweep(_sweep(base_yaml.parent, kind, 32 if kind != "nolh" else None))
    mags = [p["defenders.bat-1.magazine"] for p in plan.points]
    counts = [p["waves.w0.count"] for p in plan.points]
    pks = [p["weapons.sam.pk"] for p in plan.points]
    reactions = [p["defenders.bat-1.reaction_s"] for p in plan.points]
    assert all(type(v) is int and 0 <= v <= 12 for v in mags)
    assert all(type(v) is int and 1 <= v <= 40 for v in counts)
    assert all(type(v) is float and 0.2 <= v <= 0.95 for v in pks)
    assert all(type(v) is float and 5 <= v <= 120 for v in reactions)
    ints = {p.name: p.integer for p in plan.parameters}
    assert ints == {
        "defenders.bat-1.magazine": True,
        "waves.w0.count": True,
        "weapons.sam.pk": False,
        "defenders.bat-1.reaction_s": False,
    }
    # Rounding never merges points away: the design keeps its size.
    assert plan.n_points == (32 if kind != "nolh" else 9)  # 4 factors: Ye order 3
    # The range is used: both ends of an integer range are reached by a 32-point design.
    assert min(mags) <= 1
    assert max(mags) >= 11


def test_lhs_is_stratified_and_deterministic() -> None:
    a = designs.unit_lhs(20, 3, seed=11)
    b = designs.unit_lhs(20, 3, seed=11)
    c = designs.unit_lhs(20, 3, seed=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (20, 3)
    for j in range(3):  # one point per stratum of width 1/20 in every column
        assert sorted(np.floor(a[:, j] * 20).astype(int)) == list(range(20))


def test_sobol_rounds_up_to_a_power_of_two(base_yaml: Path) -> None:
    u, n = designs.unit_sobol(20, 2, seed=5)
    assert n == 32
    assert u.shape == (32, 2)
    np.testing.assert_array_equal(u, designs.unit_sobol(20, 2, seed=5)[0])
    assert (u >= 0).all()
    assert (u < 1).all()
    # Balance: a power-of-2 Sobol' sample puts half the points in each half of every axis.
    assert ((u < 0.5).sum(axis=0) == 16).all()
    plan = plan_sweep(_sweep(base_yaml.parent, "sobol", 20))
    assert any("20 samples rounded up to 32" in note for note in plan.notes)
    assert plan.n_points == 32


def test_plan_is_deterministic_for_a_seed(base_yaml: Path) -> None:
    for kind in ("lhs", "sobol"):
        a = plan_sweep(_sweep(base_yaml.parent, kind, 16, seed=4)).points
        b = plan_sweep(_sweep(base_yaml.parent, kind, 16, seed=4)).points
        c = plan_sweep(_sweep(base_yaml.parent, kind, 16, seed=5)).points
        assert a == b
        assert a != c


def test_integer_scaling_gives_equal_shares() -> None:
    u = (np.arange(1000) + 0.5) / 1000
    v = designs.scale(u, 0, 4, integer=True)
    assert v.dtype == np.int64
    assert np.bincount(v).tolist() == [200] * 5
    w = designs.scale(np.array([0.0, 0.5, 1.0]), 3, 7, integer=True, rounded=True)
    assert w.tolist() == [3, 5, 7]
    f = designs.scale(np.array([0.0, 0.25, 1.0]), 1.0, 3.0)
    assert f.tolist() == [1.0, 1.5, 3.0]


# ------------------------------------------------------------------------------- nolh


@pytest.mark.parametrize("m", [2, 3, 4, 5, 6, 7])
def test_ye_olh_is_an_orthogonal_latin_hypercube(m: int) -> None:
    x = designs.ye_olh(m)
    q = 2 ** (m - 1)
    assert x.shape == (2**m + 1, 2 * m - 2)
    for j in range(x.shape[1]):  # Latin: every level once per column
        assert sorted(x[:, j].tolist()) == list(range(-q, q + 1))
    if x.shape[1] > 1:
        assert designs.max_abs_correlation(x) < 1e-12
    # Second-order orthogonality: no column correlates with a square or a product of columns.
    k = x.shape[1]
    for a, b, c in itertools.product(range(k), repeat=3):
        assert int(x[:, a] @ (x[:, b] * x[:, c])) == 0


def test_seventeen_run_design() -> None:
    x = designs.nolh(6)
    assert x.shape == (17, 6)
    assert designs.max_abs_correlation(x) < 0.05
    assert x.min() == 0.0
    assert x.max() == 1.0
    # Scaled to integer bounds and rounded, it stays nearly orthogonal.
    cols = [designs.scale(x[:, j], 0, 100 + 7 * j, integer=True, rounded=True) for j in range(6)]
    assert designs.max_abs_correlation(np.column_stack(cols)) < 0.05


def test_nolh_size_follows_factors_and_samples(base_yaml: Path) -> None:
    assert designs.nolh(1).shape == (5, 1)
    assert designs.nolh(3).shape == (9, 3)
    assert designs.nolh(7).shape == (33, 7)
    assert designs.nolh(2, samples=30).shape == (33, 2)
    with pytest.raises(ValueError, match="largest offered"):
        designs.nolh(2 * designs.MAX_NOLH_M)
    plan = plan_sweep(_sweep(base_yaml.parent, "nolh", 20))
    assert plan.n_points == 33
    assert any("rounded up to 33 runs" in n for n in plan.notes)
    assert math.isclose(designs.max_abs_correlation(plan.unit_design), 0.0, abs_tol=1e-12)
