"""Discrepancies found by the contract audit (shared spec `scenario-format.md`), one test each.

- Numbers in exponent form (``1e6``, ``2.5e1``, ``1.0e5``): YAML 1.2 (and the JSON Schema that
  ``incursion schema`` prints, which editors check against) reads them as numbers; PyYAML's
  YAML 1.1 resolver left them text, so ``cost_usd: 1e6`` was refused with "expected a number,
  got '1e6' (write the number without quotes)", although nothing was quoted.
- A position far from the others (latitude and longitude swapped) made the scenario area too
  large to project, and the message named no field, line or column (the spec asks for the
  field path, ``defenders[1].magazine``, and the line and column where YAML gives one).
- ``incursion catalogue`` in a terminal of 80-120 columns cut the costs it exists to list
  (``1,500,…``, ``15,…``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import incursion
from conftest import TINY_SCENARIO

import sim
from sim.catalogue import catalogue_models
from sim.errors import Problem, ScenarioError
from sim.loader import dump_resolved_yaml


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- 1. exponent-form numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "value"),
    [("1e4", 1e4), ("1.5e4", 1.5e4), ("2E+4", 2e4), ("1.0e4", 1e4), ("12500.0", 12500.0)],
)
def test_exponent_numbers_are_numbers(tmp_path: Path, written: str, value: float) -> None:
    text = TINY_SCENARIO.replace("    cost_usd: 15000\n", f"    cost_usd: {written}\n")
    assert f"cost_usd: {written}\n" in text
    scenario = sim.load_scenario(_write(tmp_path, text))
    assert scenario.drone_types["gerbera"].cost_usd == value


def test_exponent_number_accepted_by_validate(tmp_path: Path) -> None:
    text = TINY_SCENARIO.replace("duration_h: 4\n", "duration_h: 4e0\n")
    r = incursion("validate", str(_write(tmp_path, text)), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "without quotes" not in r.stderr


def test_text_that_looks_like_a_number_survives_the_resolved_file(tmp_path: Path) -> None:
    # The resolved scenario is read back by the same loader: text such as "1e3" must stay text.
    text = TINY_SCENARIO.replace(
        "description: Five Gerbera decoys from Belarus toward Warsaw.", "description: '1e3'"
    )
    scenario = sim.load_scenario(_write(tmp_path, text))
    again = dump_resolved_yaml(scenario)
    reread = sim.load_scenario(_write(tmp_path, again, "again.yaml"))
    assert reread.description == "1e3"


# --- 2. the field behind an area too large to project -----------------------------------------

PIORUN_AT = "    lat: 52.25\n    lon: 21.2\n"
SWAPPED = "    lat: 21.2\n    lon: 52.25\n"  # latitude and longitude swapped


def _problem(exc: pytest.ExceptionInfo[ScenarioError]) -> Problem:
    assert len(exc.value.problems) == 1, str(exc.value)
    return exc.value.problems[0]


def test_swapped_defender_position_names_its_field(tmp_path: Path) -> None:
    text = TINY_SCENARIO.replace(PIORUN_AT, SWAPPED)
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as exc:
        sim.load_scenario(path)
    p = _problem(exc)
    assert p.path == "defenders[0].lat", str(exc.value)
    line = text.splitlines().index("    lat: 21.2") + 1
    assert (p.line, p.column) == (line, 10), str(exc.value)
    assert "too large" in p.message


def test_swapped_waypoint_names_its_field(tmp_path: Path) -> None:
    text = TINY_SCENARIO.replace("{lat: 52.23, lon: 21.01}", "{lat: 21.01, lon: 52.23}")
    with pytest.raises(ScenarioError) as exc:
        sim.load_scenario(_write(tmp_path, text))
    p = _problem(exc)
    assert p.path == "waves[0].route[0].lat", str(exc.value)
    assert p.line is not None


def test_swapped_border_file_names_the_border(tmp_path: Path) -> None:
    ring = [[49.5, 19], [49.5, 24], [54, 24], [54, 19], [49.5, 19]]  # lat, lon: swapped
    (tmp_path / "b.geojson").write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    text = TINY_SCENARIO.replace("  border: poland", "  border: b.geojson")
    with pytest.raises(ScenarioError) as exc:
        sim.load_scenario(_write(tmp_path, text))
    p = _problem(exc)
    assert p.path == "geography.border", str(exc.value)
    assert p.line is not None


def test_cli_message_for_swapped_position(tmp_path: Path) -> None:
    text = TINY_SCENARIO.replace(PIORUN_AT, SWAPPED)
    path = _write(tmp_path, text)
    for command in (("validate", str(path)), ("run", str(path), "--out", str(tmp_path / "o"))):
        r = incursion(*command, cwd=tmp_path)
        assert r.returncode == 2
        assert "Traceback" not in r.stderr + r.stdout
        assert re.search(r"s\.yaml:\d+:\d+: defenders\[0\]\.lat: ", r.stderr), r.stderr


# --- 3. catalogue costs at ordinary terminal widths -------------------------------------------


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_catalogue_shows_every_cost_whole(tmp_path: Path, columns: int) -> None:
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    r = subprocess.run(
        [sys.executable, "-m", "sim", "catalogue"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= columns
    drones, weapons, platforms = catalogue_models()
    cells = {re.sub(r"\s+", " ", c.strip()) for c in re.split(r"[│┃]", r.stdout)}
    costs = [e.cost_usd for e in (*drones.values(), *weapons.values())]
    costs += [e.cost_per_flight_hour_usd for e in platforms.values()]
    missing = [c for c in costs if f"{c:,.0f}" not in cells]
    assert not missing, f"costs cut at {columns} columns: {missing}\n{r.stdout}"
