"""Property tests: whatever the sweep file, planning gives a valid plan or an IncursionError.

Never another exception, never a plan that breaks its own rules: random documents, mutations of the
shipped sweep (``scenarios/sweeps/interceptor-mix.yaml``) and of two small sweeps over the tiny
scenario (wrong types, NaN/inf, huge numbers and ranges, empty lists, unknown and duplicate paths,
bad sample counts and designs), and raw-byte damage (non-UTF-8 bytes, deep nesting). Valid plans
of the tiny sweeps are run (a handful, serial, without the figure): one results row per point,
finite and non-negative costs. A few bad files go through ``python -m sim sweep --dry-run``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from cli_runner import incursion
from conftest import TINY_SCENARIO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.errors import IncursionError, LimitError, ScenarioError
from sim.loader import scenario_to_document, set_path
from sim.scenario import MAX_REPLICATIONS
from sim.sweeps import MAX_POINTS, SweepPlan, SweepWarning, load_sweep, plan_sweep

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "scenarios" / "sweeps" / "interceptor-mix.yaml"
SHIPPED_BASE = ROOT / "scenarios" / "poland-cheap-layer.yaml"


def fuzz(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


TINY_GRID = {
    "scenario": "tiny.yaml",
    "replications": 2,
    "seed": 3,
    "design": {"kind": "grid"},
    "parameters": [
        {"path": "waves.north.count", "values": [2, 4]},
        {"path": "weapons.piorun.pk", "values": [0.3, 0.9]},
    ],
}
TINY_LHS = {
    "scenario": "tiny.yaml",
    "replications": 2,
    "seed": 3,
    "crn": False,
    "design": {"kind": "lhs", "samples": 4},
    "parameters": [
        {"path": "defenders.piorun-1.magazine", "range": [0, 12]},
        {"name": "costs", "path": ["weapons.piorun.cost_usd", "weapons.aim9x.cost_usd"]},
    ],
}
TINY_LHS["parameters"][1]["range"] = [1000, 500_000]
SHIPPED_DOC = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
SHIPPED_DOC["scenario"] = str(SHIPPED_BASE)  # the copy lives elsewhere

# The sweep fields and the names found in the sweep files and the tiny scenario.
KEYS = [
    "scenario",
    "description",
    "replications",
    "seed",
    "crn",
    "design",
    "kind",
    "samples",
    "parameters",
    "path",
    "name",
    "values",
    "range",
]
KINDS = ["grid", "lhs", "sobol", "nolh", "GRID", "latin", "", "factorial"]
PATHS = [
    "waves.north.count",
    "waves.north.launch_time_min",
    "waves.north.route.0.lat",
    "weapons.piorun.pk",
    "weapons.piorun.cost_usd",
    "weapons.aim9x.cost_usd",
    "drone_types.gerbera.cost_usd",
    "drone_types.gerbera.speed_kmh",
    "defenders.piorun-1.magazine",
    "defenders.qra-lask.aircraft",
    "defenders.qra-lask.loadout.aim9x",
    "doctrine.shoot_look_shoot",
    "doctrine.assignment",
    "duration_h",
    "geography.margin_km",
    "geography.border",
    # not in the scenario, or not a field path
    "waves.south.count",
    "waves.north.count.x",
    "weapons.nope.pk",
    "defenders.0.magazine",
    "defenders[0].magazine",
    "replications",
    "waves..count",
    "",
    ".",
    "point",
    "seed",
    "x_mean",
]
WEIRD: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    3,
    2**31,
    2**63,
    2**64,
    10**30,
    -(10**30),
    0.0,
    0.5,
    -0.5,
    1e-300,
    1e12,
    1e308,
    -1e308,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "x",
    "nan",
    "1e400",
    "poland",
    "ä\u2028\U0001f680",
    "y" * 3000,
    [],
    {},
    [[]],
    [None],
    [1, 2, 3],
    [math.nan, 1],
    [1, math.inf],
    [10**30, -(10**30)],
    {"a": 1},
    {"kind": "lhs"},
    {"path": "waves.north.count", "values": [2]},
]


def nested(depth: int, leaf: Any = 1, mapping: bool = False) -> Any:
    for _ in range(depth):
        leaf = {"a": leaf} if mapping else [leaf]
    return leaf


WEIRD += [nested(8), nested(40), nested(40, mapping=True)]  # 40: under the parser's limit of 50

scalars = st.one_of(
    st.sampled_from([w for w in WEIRD if not isinstance(w, list | dict)]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
)
# Levels that many of the paths accept (counts, magazines, loadouts, probabilities, costs).
plausible = st.sampled_from([0, 1, 2, 3, 4, 6, 12, 0.25, 0.5, 0.9])
plausible_levels = st.lists(plausible, min_size=1, max_size=3, unique=True)
plausible_range = st.lists(plausible, min_size=2, max_size=2).map(sorted)
values = st.one_of(st.sampled_from(WEIRD), scalars, plausible, plausible_levels)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=25,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fuzz-sweep")
    (d / "tiny.yaml").write_text(TINY_SCENARIO, encoding="utf-8")
    return d


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=1000)


OUTCOMES = {"plan": 0, "error": 0, "ran": 0}


def check(file: Path, *, run_dir: Path | None = None) -> SweepPlan | None:
    """Plan ``file``: a plan that keeps its rules, or an IncursionError that says what is wrong.

    Any other exception fails the test. With ``run_dir``, a small valid plan is also run.
    """
    try:
        spec = load_sweep(file)
    except IncursionError as exc:
        check_error(exc, file)
        OUTCOMES["error"] += 1
        return None
    try:
        plan = plan_sweep(file)
    except IncursionError as exc:
        check_error(exc, file)
        OUTCOMES["error"] += 1
        return None
    assert plan.spec == spec
    check_plan(plan)
    OUTCOMES["plan"] += 1
    if run_dir is not None:
        maybe_run(plan, file, run_dir)
    return plan


def check_error(exc: IncursionError, file: Path) -> None:
    text = str(exc)
    assert text.strip()
    for leak in (
        "Traceback",
        "pydantic",
        "input string",
        "Value error,",
        "For further information",
    ):
        assert leak not in text, text  # the validator's own wording, not the project's
    if isinstance(exc, ScenarioError):
        assert exc.problems
        assert all(p.message.strip() for p in exc.problems)
        # It names the sweep file, or its base scenario when that is what is wrong.
        named = Path(str(exc.file)).name
        assert named in (file.name, "tiny.yaml", SHIPPED_BASE.name), text
        assert text.startswith(str(exc.file)), text
    else:
        assert file.name in text, text


def check_plan(plan: SweepPlan) -> None:
    names = [p.name for p in plan.parameters]
    assert len(names) == len(set(names)) == len(plan.spec.parameters)
    assert 1 <= plan.n_points <= MAX_POINTS
    assert 1 <= plan.replications <= MAX_REPLICATIONS
    assert len(plan.seeds) == len(plan.drones) == plan.n_points
    assert all(0 <= s < 2**64 for s in plan.seeds)
    if plan.kind == "grid":
        assert plan.n_points == math.prod(len(p.values or ()) for p in plan.parameters)
    # No parameter sets a field the sweep sets itself, nor two the same field, however spelled.
    doc = scenario_to_document(plan.base)
    locs = [located(doc, path) for p in plan.parameters for path in p.paths]
    assert not any(loc[0] in ("replications", "seed") for loc in locs), locs
    for a, la in enumerate(locs):
        for lb in locs[a + 1 :]:
            assert la[: len(lb)] != lb, (la, lb)
            assert lb[: len(la)] != la, (la, lb)
    for point in plan.points:
        assert list(point) == names
        for p in plan.parameters:
            v = point[p.name]
            if isinstance(v, float):
                assert math.isfinite(v)
            if p.range is not None:
                lo, hi = p.range
                assert math.isfinite(lo)
                assert math.isfinite(hi)
                assert lo <= hi
                assert lo <= v <= hi, (p.name, v, p.range)
                assert isinstance(v, int) == p.integer
            else:
                assert v in (p.values or [])


def located(doc: Any, path: str) -> tuple[Any, ...]:
    """Where ``path`` points in a scenario document: list items as their index."""
    before = copy.deepcopy(doc)
    marker = object()
    set_path(before, path, marker)

    def find(node: Any, here: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if node is marker:
            return here
        if isinstance(node, dict | list):
            for k, v in node.items() if isinstance(node, dict) else enumerate(node):
                got = find(v, (*here, k))
                if got is not None:
                    return got
        return None

    loc = find(before, ())
    assert loc is not None
    return loc


MAX_RUNS = 12
COSTS = ["defender_cost_usd", "attacker_cost_usd", "shot_cost_usd", "sortie_cost_usd"]


def maybe_run(plan: SweepPlan, file: Path, run_dir: Path) -> None:
    """Run a small valid plan and check its tables (at most MAX_RUNS per session)."""
    small = plan.n_points * plan.replications <= 12 and max(plan.drones) <= 100
    if not small or OUTCOMES["ran"] >= MAX_RUNS:
        return
    OUTCOMES["ran"] += 1
    out = run_dir / f"run-{OUTCOMES['ran']}"
    with pytest.warns(SweepWarning) if plan.notes else contextlib.nullcontext():
        results = sim.sweep(file, out=out, workers=1, plot=False)
    names = [p.name for p in plan.parameters]
    assert len(results) == plan.n_points
    assert results["point"].tolist() == list(range(plan.n_points))
    assert results["seed"].tolist() == plan.seeds
    assert list(results.columns[1 : 1 + len(names)]) == names
    for par in plan.parameters:
        got = results[par.name].tolist()
        want = [point[par.name] for point in plan.points]
        if par.dtype == "json":
            want = [json.dumps(v, sort_keys=True, default=str) for v in want]
        assert got == want, (par.name, got, want)
    for c in COSTS:
        col = results[f"{c}_mean"]
        assert col.map(math.isfinite).all(), (c, col.tolist())
        assert (col >= 0).all(), (c, col.tolist())
    reps = pd.read_parquet(out / "replications.parquet")
    assert len(reps) == plan.n_points * plan.replications
    for c in COSTS:
        assert reps[c].map(math.isfinite).all(), c
        assert (reps[c] >= 0).all(), c
    assert (reps["defender_cost_usd"] == reps["shot_cost_usd"] + reps["sortie_cost_usd"]).all()


# ---------------------------------------------------------------------------- (a) random documents


@fuzz(300)
@given(documents)
def test_random_documents(folder: Path, doc: Any) -> None:
    f = folder / "random.yaml"
    f.write_text(dump(doc), encoding="utf-8")
    check(f)


VALID_PATHS = PATHS[: PATHS.index("geography.border")]  # every one is in the tiny scenario


@st.composite
def sweep_like(draw: st.DrawFn) -> dict[str, Any]:
    """A sweep document, each of its fields mostly plausible, sometimes anything."""

    def rarely() -> bool:  # 1 in 8
        return all(draw(st.booleans()) for _ in range(3))

    def pick(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any] = values) -> Any:
        return draw(bad if rarely() else good)

    kinds = st.sampled_from(["grid", "lhs", "sobol", "nolh"])
    kind = pick(kinds, st.sampled_from(KINDS) | values)
    doc: dict[str, Any] = {
        "scenario": pick(st.just("tiny.yaml"), st.sampled_from(["missing.yaml", "", ".", "x/"]))
    }
    for key, good in [
        ("replications", st.integers(1, 3)),
        ("seed", st.integers(0, 2**63 - 1)),
        ("crn", st.booleans()),
    ]:
        if draw(st.booleans()):
            doc[key] = pick(good)
    design = {"kind": kind}
    if kind in ("lhs", "sobol"):
        with_samples = not rarely()
    else:
        with_samples = draw(st.booleans()) if kind == "nolh" else rarely()
    if with_samples:
        bad_samples = st.sampled_from([0, -1, 1.5, MAX_POINTS + 1, 10**20]) | values
        design["samples"] = pick(st.sampled_from([1, 2, 3, 5, 8]), bad_samples)
    doc["design"] = pick(st.just(design), st.just(design) | values)
    params = []
    for _ in range(pick(st.integers(1, 3), st.integers(0, 60))):
        path = pick(st.sampled_from(VALID_PATHS), st.sampled_from(PATHS) | values)
        par: dict[str, Any] = {"path": path}
        if (kind == "grid") != rarely():
            par["values"] = pick(plausible_levels, st.lists(values, max_size=4))
        else:
            par["range"] = pick(plausible_range, st.lists(scalars, max_size=3))
        if draw(st.booleans()) and draw(st.booleans()):
            par["name"] = pick(st.sampled_from(["a", "b", "c"]), st.sampled_from(["", "point"]))
        params.append(par)
    doc["parameters"] = params
    if rarely():
        doc[draw(st.sampled_from(KEYS) | st.text(max_size=6))] = draw(values)
    return doc


@fuzz(400)
@given(sweep_like())
def test_random_sweep_shaped_documents(folder: Path, doc: dict[str, Any]) -> None:
    f = folder / "shaped.yaml"
    f.write_text(dump(doc), encoding="utf-8")
    check(f)


# ---------------------------------------------------------------------------- (b) mutations


def _paths(node: Any, here: tuple = ()) -> list[tuple]:
    out = [here] if here else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*here, i))
    return out


def _get(node: Any, path: tuple) -> Any:
    for seg in path:
        node = node[seg]
    return node


OPS = [
    "set",
    "set",
    "levels",
    "delete",
    "insert",
    "duplicate_parameter",
    "empty_values",
    "range",
    "path",
    "design",
]


def mutate(doc: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        op = data.draw(st.sampled_from(OPS), label="op")
        params = doc.get("parameters")
        params = params if isinstance(params, list) and params else None
        if op in ("set", "delete", "insert"):
            paths = _paths(doc)
            if not paths:
                continue
            path = data.draw(st.sampled_from(paths), label="at")
            try:
                parent, last = _get(doc, path[:-1]), path[-1]
                target = parent[last]
            except (KeyError, IndexError, TypeError):
                continue
            if op == "set":
                parent[last] = data.draw(values, label="value")
            elif op == "delete":
                del parent[last]
            elif isinstance(target, dict):
                key = data.draw(st.sampled_from(KEYS) | st.text(max_size=6), label="key")
                target[key] = data.draw(values, label="value")
        elif op == "design":
            design: dict[str, Any] = {"kind": data.draw(st.sampled_from(KINDS), label="kind")}
            samples = data.draw(
                st.sampled_from([None, 0, -1, 1, 3, 8, 33, 1.5, "4", True, MAX_POINTS + 1, 10**20]),
                label="samples",
            )
            if samples is not None:
                design["samples"] = samples
            doc["design"] = design
        elif params is None or not isinstance(params[-1], dict):
            continue
        elif op == "duplicate_parameter":
            params.append(copy.deepcopy(data.draw(st.sampled_from(params), label="which")))
        else:
            par = data.draw(st.sampled_from(params), label="which")
            if not isinstance(par, dict):
                continue
            if op == "empty_values":
                par["values"] = []
            elif op == "levels":
                par.pop("range", None)
                par["values"] = data.draw(plausible_levels, label="levels")
            elif op == "range":
                par.pop("values", None)
                lo = data.draw(st.sampled_from([0, 1, -1, 0.25, 10**30, -1e308, math.nan, "0"]))
                hi = data.draw(st.sampled_from([1, 2, 12, 0.75, 10**30, 1e308, math.inf, None]))
                par["range"] = [lo, hi]
            elif op == "path":
                par["path"] = data.draw(
                    st.sampled_from(PATHS) | st.lists(st.sampled_from(PATHS), max_size=3)
                )
    return doc


@fuzz(150)
@given(st.data())
def test_mutations_of_the_shipped_sweep(folder: Path, data: st.DataObject) -> None:
    f = folder / "interceptor-mix.yaml"
    f.write_text(dump(mutate(SHIPPED_DOC, data)), encoding="utf-8")
    check(f)


@fuzz(300)
@given(st.data())
def test_mutations_of_a_tiny_sweep(folder: Path, data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([TINY_GRID, TINY_LHS]), label="base")
    f = folder / "tiny-sweep.yaml"
    f.write_text(dump(mutate(base, data)), encoding="utf-8")
    check(f, run_dir=folder)


def test_the_fuzz_planned_ran_and_refused() -> None:
    # Runs after the tests above in file order: a fuzz whose every case was refused would not
    # test plans or runs at all.
    if sum(OUTCOMES.values()) == 0:
        pytest.skip("run together with the fuzz tests above")
    assert OUTCOMES["ran"] >= 5, OUTCOMES
    assert OUTCOMES["plan"] >= 40, OUTCOMES
    assert OUTCOMES["error"] >= 1000, OUTCOMES


@pytest.mark.parametrize(
    "change",
    [
        {"path": "weapons.piorun.cost_usd", "values": [1e308]},
        {"path": "weapons.aim9x.cost_usd", "values": [1e300, 1e308]},
        {"path": "drone_types.gerbera.cost_usd", "values": [1e308]},
        {"path": "drone_types.gerbera.damage_usd", "values": [1e308]},
        {"path": "platforms.f16.cost_per_flight_hour_usd", "values": [1e308]},
    ],
)
def test_huge_costs_are_refused_or_stay_finite(folder: Path, change: dict[str, Any]) -> None:
    # 1e308 is a finite number, but a few of them added up are not: either the plan refuses the
    # level or the run's costs stay finite.
    f = folder / "huge-cost.yaml"
    f.write_text(dump({**TINY_GRID, "parameters": [change]}), encoding="utf-8")
    before = OUTCOMES["ran"]
    OUTCOMES["ran"] = 0  # this run is not counted against the fuzz's budget
    try:
        plan = check(f, run_dir=folder / "huge")
    finally:
        OUTCOMES["ran"] = before
    if plan is not None:
        assert (folder / "huge" / "run-1" / "results.parquet").is_file()


@pytest.mark.parametrize(
    "scenario",
    ["a" * 5000, "a/" * 3000 + "tiny.yaml", "tiny.yaml\0", ".", "/dev/null", "tiny.yaml/x.yaml"],
    ids=["long-name", "long-path", "nul", "folder", "device", "under-a-file"],
)
def test_unusable_scenario_paths(folder: Path, scenario: str) -> None:
    f = folder / "bad-scenario.yaml"
    f.write_text(dump({**TINY_GRID, "scenario": scenario}), encoding="utf-8")
    with pytest.raises(ScenarioError) as exc:
        plan_sweep(f)
    check_error(exc.value, f)
    assert [p.path for p in exc.value.problems] == ["scenario"]


def test_sobol_rounding_past_the_limit(folder: Path) -> None:
    # sobol rounds its samples up to a power of 2: 100,000 (the largest allowed) is 131,072.
    doc = {
        **TINY_GRID,
        "design": {"kind": "sobol", "samples": MAX_POINTS},
        "parameters": [{"path": "waves.north.count", "range": [1, 3]}],
    }
    f = folder / "sobol-big.yaml"
    f.write_text(dump(doc), encoding="utf-8")
    t0 = time.perf_counter()
    with pytest.raises(LimitError, match="over the limit") as exc:
        plan_sweep(f)
    assert time.perf_counter() - t0 < 10  # refused before 131,072 points are checked
    check_error(exc.value, f)


# ---------------------------------------------------------------------------- (c) bytes, nesting

BAD_BYTES = [
    b"\xff",
    b"\xfe\xff",
    b"\xc3",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xe9",
    b"\x80\x80",
    b"\x00",
]


@fuzz(300)
@given(st.data())
def test_damaged_bytes_and_deep_nesting(folder: Path, data: st.DataObject) -> None:
    text = dump(data.draw(st.sampled_from([TINY_GRID, TINY_LHS, SHIPPED_DOC]), label="base"))
    raw = text.encode("utf-8")
    how = data.draw(st.sampled_from(["bytes", "nest-flow", "nest-block", "nest-map"]), label="how")
    depth = 0
    if how == "bytes":
        for _ in range(data.draw(st.integers(1, 3), label="n")):
            i = data.draw(st.integers(0, len(raw)), label="at")
            junk = data.draw(st.sampled_from(BAD_BYTES) | st.binary(min_size=1, max_size=4))
            raw = raw[:i] + junk + raw[i:]
    else:
        # Replace one value (after a "key: ") with a nesting of the chosen depth.
        lines = raw.split(b"\n")
        spots = [k for k, line in enumerate(lines) if b": " in line]
        k = data.draw(st.sampled_from(spots), label="line")
        depth = data.draw(st.integers(1, 400), label="depth")
        key = lines[k].split(b": ", 1)[0]
        if how == "nest-flow":
            lines[k] = key + b": " + b"[" * depth + b"1" + b"]" * depth
        elif how == "nest-map":
            lines[k] = key + b": " + b"{a: " * depth + b"1" + b"}" * depth
        else:
            indent = len(key) - len(key.lstrip())
            block = [b" " * (indent + 2 * (j + 1)) + b"- " for j in range(depth)]
            lines[k] = key + b":\n" + b"\n".join(block) + b"1"
        raw = b"\n".join(lines)
    f = folder / "bytes.yaml"
    f.write_bytes(raw)
    plan = check(f)
    if depth > 50:
        assert plan is None  # over the parser's depth limit


# ---------------------------------------------------------------------------- the command line


CLI_CASES = {
    "not-utf8.yaml": dump(TINY_GRID).encode().replace(b"tiny.yaml", b"tiny\xff.yaml"),
    "deep.yaml": dump(TINY_GRID).replace("seed: 3", "seed: " + "[" * 200 + "]" * 200).encode(),
    "nan-range.yaml": dump(
        {**TINY_LHS, "parameters": [{"path": "defenders.piorun-1.magazine", "range": [0, "nan"]}]}
    )
    .replace("'nan'", ".nan")
    .encode(),
    "samples-zero.yaml": dump({**TINY_LHS, "design": {"kind": "sobol", "samples": 0}}).encode(),
    "sobol-huge.yaml": dump(
        {**TINY_LHS, "design": {"kind": "sobol", "samples": MAX_POINTS}}
    ).encode(),
}


@pytest.mark.parametrize("name", sorted(CLI_CASES))
def test_bad_sweep_file_through_the_cli(folder: Path, name: str) -> None:
    (folder / name).write_bytes(CLI_CASES[name])
    r = incursion("sweep", name, "--dry-run", cwd=folder)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert lines, r.stderr
    assert all(name in line for line in lines), r.stderr
    assert len(lines) <= 2, r.stderr  # one line per problem; these files have one or two
    assert "dry run" not in r.stdout
