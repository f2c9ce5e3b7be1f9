"""Fuzz the whole path: mutated shipped scenarios either fail validation with a located error or
run to the end with results that keep the invariants. Never another exception.

Mutations change one field of a shipped scenario (numbers scaled, zeroed, made huge or negative,
lists emptied, names swapped) and then go through the loader exactly as a file would.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.errors import ScenarioError
from sim.loader import load_scenario_text
from sim.vectorised import unsupported_features

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["poland-2025-09-10", "poland-cheap-layer", "poland-european-kit"]
#: Every shipped scenario is mutated; the mass raid (500 drones) is validated but not run.
SHIPPED = [*SMALL, "mass-raid"]
DOCS = {n: yaml.safe_load((ROOT / "scenarios" / f"{n}.yaml").read_text()) for n in SHIPPED}


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple, value: Any) -> None:
    node = doc
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


OUTCOMES = {"invalid": 0, "ran": 0, "ran_vectorised": 0}

MUTATIONS = st.sampled_from(
    ["zero", "negative", "huge", "tiny", "nan", "inf", "half", "double", "empty", "string", "none"]
)


def _mutate(old: Any, how: str) -> Any:
    if isinstance(old, bool):
        return not old
    if isinstance(old, int | float):
        return {
            "zero": 0,
            "negative": -abs(old) - 1,
            "huge": 10**12,
            "tiny": 1e-9,
            "nan": math.nan,
            "inf": math.inf,
            "half": type(old)(old / 2) if isinstance(old, float) else old // 2,
            "double": old * 2,
        }.get(how, old)
    if isinstance(old, list):
        return [] if how == "empty" else old[: max(1, len(old) // 2)]
    if isinstance(old, str):
        return {"string": old + "x", "empty": ""}.get(how, old)
    if how == "none":
        return None
    return old


@settings(
    max_examples=160,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_scenarios_validate_or_run(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(SHIPPED))
    doc = copy.deepcopy(DOCS[name])
    paths = _paths(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        try:
            _set(doc, path, _mutate(_get(doc, path), data.draw(MUTATIONS)))
        except (KeyError, IndexError, TypeError):
            continue
    text = yaml.safe_dump(doc)
    try:
        s = load_scenario_text(text, base_dir=ROOT / "scenarios", name=f"{name}.yaml")
    except ScenarioError as exc:
        problems = exc.problems
        s = None
    if s is None:
        assert problems
        assert all(p.message for p in problems)
        OUTCOMES["invalid"] += 1
        return
    if name not in SMALL or s.total_drones > 2000 or s.duration_h > 48:
        return  # valid but too big to run inside a unit test
    # A scenario that validates must run, on either engine: validation checks everything the run
    # needs (the vectorised engine may refuse only what it says it does not model).
    engines = ["des"] + ([] if unsupported_features(s) else ["vectorised"])
    for engine in engines:
        r = sim.run(s, replications=2, seed=1, workers=1, engine=engine)
        OUTCOMES["ran" if engine == "des" else "ran_vectorised"] += 1
        d = r.drones
        assert len(d) == 2 * s.total_drones
        assert d["fate"].notna().all()
        assert (r.shots["cost_usd"] >= 0).all()
        m = r.summary["metrics"]
        assert m["drones_launched"]["mean"] == s.total_drones
        kills = int(r.shots["hit"].sum())
        assert kills == int((d["fate"] == "destroyed").sum())


def test_fuzz_reached_the_engine() -> None:
    # Runs after the fuzz test in file order: a fuzz that only ever produced invalid files would
    # not test the engine at all.
    if sum(OUTCOMES.values()) == 0:
        import pytest

        pytest.skip("run together with test_mutated_scenarios_validate_or_run")
    assert OUTCOMES["ran"] >= 20, OUTCOMES
    assert OUTCOMES["ran_vectorised"] >= 15, OUTCOMES
    assert OUTCOMES["invalid"] >= 20, OUTCOMES
