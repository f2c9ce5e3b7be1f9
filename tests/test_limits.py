"""Every documented limit (README "Limits"): just over it is refused, at it is accepted.

Over a limit, the command line exits with status 2 and a message naming the field and the limit's
value (no traceback); the library raises :class:`sim.LimitError` or :class:`sim.ScenarioError`.
At the limit, ``incursion validate`` accepts the file (nothing here runs 20,000 drones). The
files are checked in two ``validate`` calls (one for the files over a limit, one for the files at
it) to keep the module fast.
"""

from __future__ import annotations

import copy
import subprocess
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runner import incursion
from conftest import TINY_SCENARIO

import sim
from sim import runner, sweeps
from sim import scenario as scenario_module
from sim.errors import LimitError, ScenarioError
from sim.loader import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from sim.scenario import (
    MAX_DEFENDERS,
    MAX_DRONES,
    MAX_DURATION_H,
    MAX_REPLICATIONS,
    MAX_SENSORS,
    MAX_WAYPOINTS,
)
from sim.sweeps import MAX_PARAMETERS, MAX_POINTS

BASE: dict[str, Any] = yaml.safe_load(TINY_SCENARIO)


def _doc(change: Callable[[dict[str, Any]], None]) -> str:
    d = copy.deepcopy(BASE)
    change(d)
    return yaml.safe_dump(d, sort_keys=False)


def _values(data: Any) -> int:
    """Values the loader counts against MAX_NODES: every mapping, list and scalar, not keys."""
    if isinstance(data, dict):
        return 1 + sum(_values(v) for v in data.values())
    if isinstance(data, list):
        return 1 + sum(_values(v) for v in data)
    return 1


def _nodes_text(total: int) -> str:
    """The tiny scenario plus an ``extra:`` list, expanding to exactly ``total`` values.

    A block of 1,000 scalars is written once with an anchor and repeated by aliases, as a
    "billion laughs" document would; the loader counts every expanded value.
    """
    rest = total - _values(BASE) - 1  # the extra list itself
    blocks, tail = divmod(rest, 1001)  # a block: the list and its 1,000 scalars
    assert blocks >= 1
    items = ["&b [" + ", ".join(["0"] * 1000) + "]", *(["*b"] * (blocks - 1)), *(["0"] * tail)]
    return TINY_SCENARIO + "extra: [" + ", ".join(items) + "]\n"


def _padded(size: int) -> str:
    """The tiny scenario padded with a comment to exactly ``size`` bytes."""
    pad = size - len(TINY_SCENARIO.encode()) - 2
    return TINY_SCENARIO + "#" + "x" * pad + "\n"


def _nested(levels: int) -> str:
    """The tiny scenario plus ``extra:``, lists nested so the deepest value is at ``levels``."""
    k = levels - 1  # the top-level mapping is level 1
    return TINY_SCENARIO + "extra: " + "[" * k + "]" * k + "\n"


def _wave(d: dict[str, Any], **kw: Any) -> None:
    d["waves"][0].update(kw)


def _two_waves(total: int) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        first = total // 2
        d["waves"][0]["count"] = first
        d["waves"].append(dict(d["waves"][0], name="south", count=total - first))

    return change


def _many(key: str, n: int) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        proto = d[key][0]
        d[key] = [dict(proto, name=f"{proto['name']}-{i}") for i in range(n)]

    return change


def _route(n: int) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        aim = d["waves"][0]["route"][-1]
        d["waves"][0]["route"] = [{"lat": 52.6, "lon": 23.0}] * (n - 1) + [aim]

    return change


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        d[key] = value

    return change


# name: (text over the limit, what its message must contain, text at the limit)
CASES: dict[str, tuple[str, str, str]] = {
    "drones-in-one-wave": (
        _doc(lambda d: _wave(d, count=MAX_DRONES + 1)),
        f"waves[0].count: expected an integer <= {MAX_DRONES}, got {MAX_DRONES + 1}",
        _doc(lambda d: _wave(d, count=MAX_DRONES)),
    ),
    "drones-in-all-waves": (
        _doc(_two_waves(MAX_DRONES + 1)),
        f"waves: they launch {MAX_DRONES + 1} drones in all, over the limit of {MAX_DRONES}",
        _doc(_two_waves(MAX_DRONES)),
    ),
    "replications": (
        _doc(_set("replications", MAX_REPLICATIONS + 1)),
        f"replications: expected an integer <= {MAX_REPLICATIONS}, got {MAX_REPLICATIONS + 1}",
        _doc(_set("replications", MAX_REPLICATIONS)),
    ),
    "defenders": (
        _doc(_many("defenders", MAX_DEFENDERS + 1)),
        f"defenders: expected a list of at most {MAX_DEFENDERS} items, got {MAX_DEFENDERS + 1}",
        _doc(_many("defenders", MAX_DEFENDERS)),
    ),
    "sensors": (
        _doc(_many("sensors", MAX_SENSORS + 1)),
        f"sensors: expected a list of at most {MAX_SENSORS} items, got {MAX_SENSORS + 1}",
        _doc(_many("sensors", MAX_SENSORS)),
    ),
    "waypoints": (
        _doc(_route(MAX_WAYPOINTS + 1)),
        f"waves[0].route: expected a list of at most {MAX_WAYPOINTS} items, "
        f"got {MAX_WAYPOINTS + 1}",
        _doc(_route(MAX_WAYPOINTS)),
    ),
    "duration": (
        _doc(_set("duration_h", MAX_DURATION_H + 0.5)),
        f"duration_h: expected a number <= {MAX_DURATION_H}, got {MAX_DURATION_H + 0.5}",
        _doc(_set("duration_h", MAX_DURATION_H)),
    ),
    "file-size": (
        _padded(MAX_FILE_BYTES + 1),
        f"the file is larger than {MAX_FILE_BYTES / 1e6:g} MB ({MAX_FILE_BYTES:,} bytes), "
        "the limit for a scenario file",
        _padded(MAX_FILE_BYTES),
    ),
}
# Costs (a shot, a drone, damage, a flight hour) are capped so that sums over a run stay finite.
MAX_COST_USD = getattr(scenario_module, "MAX_COST_USD", None)
if MAX_COST_USD is not None:

    def _cost(value: float) -> Callable[[dict[str, Any]], None]:
        def change(d: dict[str, Any]) -> None:
            d["weapons"]["piorun"]["cost_usd"] = value

        return change

    CASES["cost"] = (
        _doc(_cost(MAX_COST_USD * (1 + 1e-6))),
        f"weapons.piorun.cost_usd: expected a number <= {MAX_COST_USD:.0f}, got",
        _doc(_cost(MAX_COST_USD)),
    )

# At these two limits the file still has an unknown field (no valid scenario nests 50 levels
# or holds a million values): at the limit the loader reads it and reports that field instead.
GUARDS: dict[str, tuple[str, str, str]] = {
    "nesting-depth": (
        _nested(MAX_DEPTH + 1),
        f"nested more than {MAX_DEPTH} levels deep (the limit)",
        _nested(MAX_DEPTH),
    ),
    "values-after-aliases": (
        _nodes_text(MAX_NODES + 1),
        f"the document expands to more than {MAX_NODES:,} values (the limit)",
        _nodes_text(MAX_NODES),
    ),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("limits")
    for name, (over, _, at) in {**CASES, **GUARDS}.items():
        (d / f"over-{name}.yaml").write_text(over, encoding="utf-8")
        (d / f"at-{name}.yaml").write_text(at, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def over(folder: Path) -> subprocess.CompletedProcess[str]:
    files = [f"over-{name}.yaml" for name in (*CASES, *GUARDS)] + [
        f"at-{name}.yaml" for name in GUARDS
    ]
    return incursion("validate", *files, cwd=folder)


@pytest.fixture(scope="module")
def at(folder: Path) -> subprocess.CompletedProcess[str]:
    return incursion("validate", *(f"at-{name}.yaml" for name in CASES), cwd=folder)


def _lines_of(r: subprocess.CompletedProcess[str], file: str) -> list[str]:
    return [ln for ln in (r.stdout + r.stderr).splitlines() if ln.startswith(file + ":")]


@pytest.mark.parametrize("name", [*CASES, *GUARDS])
def test_over_the_limit_is_refused(over: subprocess.CompletedProcess[str], name: str) -> None:
    assert over.returncode == 2
    assert "Traceback" not in over.stderr + over.stdout
    lines = _lines_of(over, f"over-{name}.yaml")
    message = {**CASES, **GUARDS}[name][1]
    assert len(lines) == 1, lines
    assert message in lines[0], lines


@pytest.mark.parametrize("name", list(CASES))
def test_at_the_limit_is_accepted(at: subprocess.CompletedProcess[str], name: str) -> None:
    assert at.returncode == 0, at.stderr
    file = f"at-{name}.yaml"
    assert [ln for ln in at.stdout.splitlines() if ln.startswith(file)] == [f"{file}: ok"]
    # the detail of each file goes to stderr, one line each
    assert len([ln for ln in at.stderr.splitlines() if ln.startswith(file + ":")]) == 1


def test_at_the_limit_counts(at: subprocess.CompletedProcess[str]) -> None:
    err = at.stderr
    assert f"at-drones-in-one-wave.yaml: {MAX_DRONES} drones in 1 wave, 2 defenders" in err
    assert f"at-drones-in-all-waves.yaml: {MAX_DRONES} drones in 2 waves" in err
    assert f"at-defenders.yaml: 5 drones in 1 wave, {MAX_DEFENDERS} defenders" in err


@pytest.mark.parametrize("name", list(GUARDS))
def test_at_the_guard_is_read(over: subprocess.CompletedProcess[str], name: str) -> None:
    lines = _lines_of(over, f"at-{name}.yaml")
    assert len(lines) == 1, lines
    assert "(the limit)" not in lines[0]
    assert "extra: unknown field 'extra'" in lines[0]


def test_files_are_as_described(folder: Path) -> None:
    assert (folder / "over-file-size.yaml").stat().st_size == MAX_FILE_BYTES + 1
    assert (folder / "at-file-size.yaml").stat().st_size == MAX_FILE_BYTES


# --------------------------------------------------------------------------------------------
# incursion run


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        (
            "drones-in-all-waves",
            (),
            f"waves: they launch {MAX_DRONES + 1} drones in all, over the limit of {MAX_DRONES}",
        ),
        (
            "replications",
            (),
            f"replications: expected an integer <= {MAX_REPLICATIONS}, got {MAX_REPLICATIONS + 1}",
        ),
        (
            None,
            ("--replications", str(MAX_REPLICATIONS + 1)),
            f"replications must be between 1 and {MAX_REPLICATIONS}, got {MAX_REPLICATIONS + 1}",
        ),
        (
            None,
            ("-n", "2", "--until-ci", "0.05", "--max-replications", str(MAX_REPLICATIONS + 1)),
            f"max_replications must be between 1 and {MAX_REPLICATIONS}, "
            f"got {MAX_REPLICATIONS + 1}",
        ),
    ],
)
def test_run_over_the_limit(
    folder: Path, tiny_scenario_path: Path, name: str | None, args: tuple[str, ...], message: str
) -> None:
    scenario = folder / f"over-{name}.yaml" if name else tiny_scenario_path
    out = tiny_scenario_path.parent / "run-out"
    r = incursion("run", str(scenario), "--out", str(out), "--quiet", *args, cwd=folder)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# sim.run(replications=...)


def test_library_run_refuses_replications(tiny_scenario_path: Path) -> None:
    s = sim.load_scenario(tiny_scenario_path)
    for n in (0, MAX_REPLICATIONS + 1):
        with pytest.raises(LimitError, match=rf"between 1 and {MAX_REPLICATIONS}, got {n}$"):
            sim.run(s, replications=n, seed=1, workers=1)
    with pytest.raises(
        LimitError, match=rf"max_replications must be between 1 and {MAX_REPLICATIONS}"
    ):
        sim.run(s, replications=2, until_ci=0.05, max_replications=MAX_REPLICATIONS + 1)


def test_library_run_limit_is_inclusive(
    tiny_scenario_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is ``replications <= MAX_REPLICATIONS`` (shown with a small stand-in limit)."""
    s = sim.load_scenario(tiny_scenario_path)
    monkeypatch.setattr(runner, "MAX_REPLICATIONS", 3)
    assert sim.run(s, replications=3, seed=1, workers=1, max_replications=3).replications == 3
    with pytest.raises(LimitError, match="between 1 and 3, got 4"):
        sim.run(s, replications=4, seed=1, workers=1, max_replications=3)


# --------------------------------------------------------------------------------------------
# Design points (sim.sweep, incursion sweep --dry-run)

# Ten parameters of the tiny scenario, each with 100 valid levels: 100**10 = 1e20 points.
_GRID_PARAMETERS = [
    ("waves.north.count", lambda i: 1 + i),
    ("defenders.piorun-1.magazine", lambda i: i),
    ("defenders.piorun-1.channels", lambda i: 1 + i),
    ("defenders.piorun-1.reaction_s", lambda i: float(i)),
    ("defenders.qra-lask.aircraft", lambda i: 1 + i),
    ("defenders.qra-lask.scramble_min", lambda i: float(i)),
    ("weapons.piorun.cost_usd", lambda i: 1000.0 * i),
    ("weapons.aim9x.cost_usd", lambda i: 1000.0 * i),
    ("weapons.piorun.pk", lambda i: i / 100),
    ("sensors.radar-east.p_detect", lambda i: i / 100),
]


def _grid(scenario: Path, levels: int = 100, k: int = 10) -> dict[str, Any]:
    return {
        "scenario": str(scenario),
        "replications": 1,
        "seed": 1,
        "design": {"kind": "grid"},
        "parameters": [
            {"path": p, "values": [f(i) for i in range(levels)]} for p, f in _GRID_PARAMETERS[:k]
        ],
    }


def _sampled(scenario: Path, kind: str, samples: int) -> dict[str, Any]:
    return {
        "scenario": str(scenario),
        "replications": 1,
        "seed": 1,
        "design": {"kind": kind, "samples": samples},
        "parameters": [{"path": "weapons.piorun.cost_usd", "range": [1000, 300000]}],
    }


def test_sweep_grid_of_1e20_points_is_refused_before_allocation(tiny_scenario_path: Path) -> None:
    out = tiny_scenario_path.parent / "sweep-out"
    tracemalloc.start()
    try:
        with pytest.raises(LimitError) as info:
            sim.sweep(_grid(tiny_scenario_path), out=out, workers=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"the grid has {100**10:,} points, over the limit of {MAX_POINTS:,}" in str(info.value)
    assert peak < 50e6, f"{peak / 1e6:.0f} MB allocated before the refusal"
    assert not out.exists()


def test_sweep_dry_run_refuses_the_grid(tiny_scenario_path: Path) -> None:
    f = tiny_scenario_path.with_name("huge-grid.yaml")
    f.write_text(yaml.safe_dump(_grid(tiny_scenario_path)), encoding="utf-8")
    r = incursion("sweep", f.name, "--dry-run", cwd=f.parent)
    assert r.returncode == 2
    assert (
        f"huge-grid.yaml: the grid has {100**10:,} points, over the limit of {MAX_POINTS:,}"
        in r.stderr
    )
    assert "Traceback" not in r.stderr + r.stdout


def test_sweep_grid_limit_is_inclusive(
    tiny_scenario_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``points <= MAX_POINTS`` is accepted (shown with a small stand-in limit of 12)."""
    monkeypatch.setattr(sweeps, "MAX_POINTS", 12)
    plan = sweeps.plan_sweep(_grid(tiny_scenario_path, levels=2, k=2))
    assert plan.n_points == 4
    spec = _grid(tiny_scenario_path, levels=3, k=1)
    spec["parameters"].append({"path": "weapons.piorun.pk", "values": [0.1, 0.2, 0.3, 0.4]})
    assert sweeps.plan_sweep(spec).n_points == 12
    spec["parameters"][1]["values"].append(0.5)
    with pytest.raises(LimitError, match="the grid has 15 points, over the limit of 12"):
        sweeps.plan_sweep(spec)


def test_sweep_samples_over_the_limit(tiny_scenario_path: Path) -> None:
    for kind in ("lhs", "sobol", "nolh"):
        with pytest.raises(ScenarioError) as info:
            sweeps.plan_sweep(_sampled(tiny_scenario_path, kind, MAX_POINTS + 1))
        assert f"design.samples: expected an integer <= {MAX_POINTS}" in str(info.value)
    # Sobol' rounds up to a power of 2: 65,537 samples would make 131,072 points.
    with pytest.raises(LimitError) as lim:
        sweeps.plan_sweep(_sampled(tiny_scenario_path, "sobol", 65_537))
    assert f"round up to 131,072 points (a power of 2), over the limit of {MAX_POINTS:,}" in str(
        lim.value
    )
    # Ye's orthogonal Latin hypercubes stop at 4,097 runs.
    with pytest.raises(ScenarioError, match="the largest offered is 4097 runs"):
        sweeps.plan_sweep(_sampled(tiny_scenario_path, "nolh", 5000))


def test_sweep_parameters_over_the_limit(tiny_scenario_path: Path) -> None:
    spec = _grid(tiny_scenario_path, levels=1, k=1)
    spec["parameters"] = spec["parameters"] * (MAX_PARAMETERS + 1)
    with pytest.raises(ScenarioError) as info:
        sweeps.plan_sweep(spec)
    assert f"parameters: expected a list of at most {MAX_PARAMETERS} items" in str(info.value)
