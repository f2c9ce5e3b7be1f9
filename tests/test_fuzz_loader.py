"""Property tests: whatever the input, the loader gives a Scenario or a ScenarioError.

Never another exception: a bad file must end in a message naming the problem, not a traceback.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import yaml
from conftest import TINY_SCENARIO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.errors import ScenarioError
from sim.loader import dump_resolved_yaml, load_scenario_text
from sim.scenario import Scenario

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FIELD_NAMES = sorted(
    {
        *Scenario.model_fields,
        "lat",
        "lon",
        "kind",
        "battery",
        "airbase",
        "magazine",
        "weapon",
        "platform",
        "loadout",
        "count",
        "type",
        "route",
        "gerbera",
        "piorun",
        "aim9x",
        "f16",
        "border",
        "polygon",
        "<<",
    }
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["poland", "gerbera", "battery", "airbase", "", "~", "yes", "1e3", "-0"]),
    st.dates(),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8))
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)


def check(text: str) -> Scenario | None:
    """Load ``text``: a Scenario, or a ScenarioError with a message; anything else fails."""
    try:
        return load_scenario_text(text, name="fuzz.yaml")
    except ScenarioError as exc:
        error = exc
    assert error.problems
    assert all(p.message.strip() for p in error.problems)
    assert str(error).startswith("fuzz.yaml")
    return None


@FUZZ
@given(documents)
def test_random_documents(doc: Any) -> None:
    check(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(
    st.text(alphabet=st.sampled_from(list("ab:- \n\t[]{},&*!|>'\"#%@`?~.0123456789")), max_size=80)
)
def test_random_yaml_text(text: str) -> None:
    check(text)


def _paths(node: Any, here: tuple = ()) -> list[tuple]:
    out = [here]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*here, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*here, i)))
    return out


def _get(node: Any, path: tuple) -> Any:
    for seg in path:
        node = node[seg]
    return node


TINY = yaml.safe_load(TINY_SCENARIO)
TINY_PATHS = _paths(TINY)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["delete", "set", "insert", "duplicate"]),
            st.sampled_from(TINY_PATHS[1:]),
            scalars,
            keys,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_mutations_of_a_valid_scenario(mutations: list[tuple[str, tuple, Any, str]]) -> None:
    doc = copy.deepcopy(TINY)
    for op, path, value, key in mutations:
        try:
            parent, last = _get(doc, path[:-1]), path[-1]
            target = parent[last]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed it
        if op == "delete":
            del parent[last]
        elif op == "set":
            parent[last] = value
        elif op == "insert" and isinstance(target, dict):
            target[key] = value
        elif op == "duplicate" and isinstance(target, list) and target:
            target.append(copy.deepcopy(target[0]))
    s = check(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    if s is not None:  # whatever loads, writes back out and loads to the same scenario
        assert load_scenario_text(dump_resolved_yaml(s)) == s


@FUZZ
@given(st.data())
def test_text_mutations_of_a_valid_scenario(data: st.DataObject) -> None:
    lines = TINY_SCENARIO.splitlines()
    op = data.draw(st.sampled_from(["duplicate", "delete", "insert", "indent"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    if op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "delete":
        del lines[i]
    elif op == "insert":
        j = data.draw(st.integers(0, len(lines[i])))
        ch = data.draw(st.sampled_from([*":-[]{}#&*!|>'\"\t ,?%@`", "\x00", "\u2028"]))
        lines[i] = lines[i][:j] + ch + lines[i][j:]
    else:
        lines[i] = " " + lines[i]
    check("\n".join(lines) + "\n")
