"""The benchmark folder's tools keep up with the code they measure.

``benchmarks/profile_kernel.py`` compiles a copy of ``sim/kernel.py`` with cycle counters
inserted at anchor lines; if the kernel is edited so that an anchor disappears, the profiler must
say so, not silently profile the wrong phases. Compiling the copy with numba takes about a
minute, so only the source is checked here: every anchor found once, and the result valid Python.
``benchmarks/agreement.py`` compares the two engines' summaries; its comparison is checked on
small runs (no timing).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from scenario_factory import straight_raid

import sim

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _script(name: str) -> Iterator[ModuleType]:
    """The benchmark script ``name`` imported as a module (with the folder on the path for its
    own imports while the tests use it)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def profiler():
    yield from _script("profile_kernel")


def test_instrumented_kernel_is_valid_python_with_every_counter(profiler):
    src = profiler.instrumented_source(profiler.KERNEL.read_text())
    ast.parse(src)
    for slot in (
        *profiler._PHASE_SLOT.values(),
        *profiler._COUNT_SLOT.values(),
        *profiler._CYCLE_SLOT.values(),
    ):
        assert f"cnt[{slot}] +=" in src, slot
    assert "cache=True" not in src  # the copy must not write into numba's cache of the package


def test_a_missing_anchor_is_reported(profiler):
    src = profiler.KERNEL.read_text().replace("        cnt[:] = 0\n", "        cnt[:] = 0  # x\n")
    with pytest.raises(profiler.KernelChangedError, match="anchor"):
        profiler.instrumented_source(src)


@pytest.fixture(scope="module")
def agreement():
    yield from _script("agreement")


def test_agreement_compares_every_metric_and_weapon(agreement):
    """The agreement script's rows cover every metric of the summary and each weapon's shots,
    kills and cost, flag a weapon the SimPy run fired in few replications as rare, and give a
    z that is large when the means differ by far more than their intervals."""
    s = straight_raid(count=4, pk=0.5)
    des = sim.run(s, replications=40, seed=1, workers=1)
    vec = sim.run(s, replications=64, seed=2, engine="vectorised", workers=1)
    rows = {r["name"]: r for r in agreement.compare(des, vec)}
    assert set(des.summary["metrics"]) <= set(rows)
    assert {"sam.shots", "sam.kills", "sam.cost_usd"} <= set(rows)
    assert des.shots["replication"].nunique() == 40 >= agreement.RARE_REPLICATIONS
    assert not rows["sam.shots"]["rare"]
    few = sim.run(s, replications=10, seed=1, workers=1)  # the battery fires in 10 replications
    assert all(r["rare"] for r in agreement.compare(few, vec) if r["name"].startswith("sam."))
    assert rows["drones_launched"]["z"] == 0.0  # 4 in every replication of both engines
    assert rows["drones_launched"]["rel"] == 0.0
    shots = rows["shots_fired"]
    assert shots["des"] == des.summary["metrics"]["shots_fired"]["mean"]
    assert shots["vectorised"] == vec.summary["metrics"]["shots_fired"]["mean"]

    # the same runs against a vectorised run of another pk: a difference of many errors
    other = sim.run(straight_raid(count=4, pk=0.95), replications=64, seed=2,
                    engine="vectorised", workers=1)  # fmt: skip
    far = {r["name"]: r for r in agreement.compare(des, other)}
    assert far["drones_destroyed"]["z"] < -5
