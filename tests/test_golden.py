"""Golden figures of the shipped scenarios, and their validity.

Every scenario in ``scenarios/`` runs at its own seed with a few replications and one worker; its
summary (every metric's mean and 95 % interval, and the shots, kills and cost per weapon) must
equal ``tests/golden/<scenario>.json``: floats to a relative tolerance of 1e-9, the means of counts
(drones, shots, kills, sorties: an integer total over the replications divided by their number)
exactly. A failure means the model's results changed. If that was intended, run
``python tests/golden/regenerate.py`` and say why in the commit; if not, fix the code.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import sim

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
GOLDEN = ROOT / "tests" / "golden"

REL_TOL = 1e-9
#: Only for values that should be exactly zero (e.g. an interval cut at zero).
ABS_TOL = 1e-12

#: Metrics that are counts per replication: their mean is an integer total / replications.
COUNT_METRICS = frozenset(
    {
        "drones_launched",
        "drones_crossed_border",
        "drones_detected",
        "drones_destroyed",
        "leakers",
        "shots_fired",
        "sorties",
        "crashed",
        "exited",
        "airborne",
    }
)
#: Per-weapon values that are counts.
COUNT_GROUP_KEYS = frozenset({"shots", "kills"})

REGENERATE = "if the change is intended, run `python tests/golden/regenerate.py` and say why"


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def _load_golden(name: str) -> dict[str, Any]:
    path = GOLDEN / f"{name}.json"
    if not path.exists():
        pytest.fail(
            f"no golden file {path.relative_to(ROOT)} for scenarios/{name}.yaml; {REGENERATE}"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _float_equal(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(got, want, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _compare_entry(
    where: str, got: dict[str, Any], want: dict[str, Any], exact_mean: bool
) -> list[str]:
    """Differences between two ``{"mean": ..., "ci95": [lo, hi]}`` entries."""
    problems: list[str] = []
    same = got["mean"] == want["mean"] if exact_mean else _float_equal(got["mean"], want["mean"])
    if not same:
        problems.append(f"{where} mean: got {got['mean']!r}, golden {want['mean']!r}")
    for side, g, w in zip(("low", "high"), got["ci95"], want["ci95"], strict=True):
        if not _float_equal(g, w):
            problems.append(f"{where} ci95 {side}: got {g!r}, golden {w!r}")
    return problems


def _compare(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    gm, wm = got["metrics"], want["metrics"]
    if set(gm) != set(wm):
        problems.append(
            f"metric names differ: new {sorted(set(gm) - set(wm))}, "
            f"gone {sorted(set(wm) - set(gm))}"
        )
    for name in sorted(set(gm) & set(wm)):
        problems += _compare_entry(name, gm[name], wm[name], name in COUNT_METRICS)
    gw, ww = got["by_weapon"], want["by_weapon"]
    if set(gw) != set(ww):
        problems.append(
            f"weapons that fired differ: new {sorted(set(gw) - set(ww))}, "
            f"gone {sorted(set(ww) - set(gw))}"
        )
    for weapon in sorted(set(gw) & set(ww)):
        g, w = gw[weapon], ww[weapon]
        if set(g) != set(w):
            problems.append(f"by_weapon.{weapon} keys differ: {sorted(g)} vs {sorted(w)}")
        for key in sorted(set(g) & set(w)):
            problems += _compare_entry(
                f"by_weapon.{weapon}.{key}", g[key], w[key], key in COUNT_GROUP_KEYS
            )
    return problems


def test_every_scenario_has_a_golden_file_and_no_more() -> None:
    scenarios = {p.stem for p in SCENARIOS}
    golden = {p.stem for p in GOLDEN.glob("*.json")}
    assert scenarios, "no scenarios found"
    assert scenarios == golden, (
        f"scenarios without golden figures: {sorted(scenarios - golden)}; "
        f"golden files without a scenario: {sorted(golden - scenarios)}; {REGENERATE}"
    )


@pytest.mark.parametrize("path", SCENARIOS, ids=_ids(SCENARIOS))
def test_scenario_validates(path: Path) -> None:
    # What `incursion validate` does: load, merge the catalogue, validate; errors name file:line.
    s = sim.load_scenario(path)
    assert s.name == path.stem, "a scenario's name is its file name (runs/<name>/ is derived)"
    assert s.replications >= 1


@pytest.mark.parametrize("path", SCENARIOS, ids=_ids(SCENARIOS))
def test_golden_figures(path: Path) -> None:
    want = _load_golden(path.stem)
    s = sim.load_scenario(path)
    assert want["seed"] == s.seed, f"golden seed {want['seed']} but the scenario has {s.seed}"
    r = sim.run(s, replications=want["replications"], seed=want["seed"], workers=1)
    got = {"metrics": r.summary["metrics"], "by_weapon": r.summary["by_weapon"]}
    assert r.summary["replications"] == want["replications"]
    problems = _compare(got, want)
    if problems:
        made = want.get("generated_with", {})
        shown = "\n  ".join(problems[:40])
        more = f"\n  ... and {len(problems) - 40} more" if len(problems) > 40 else ""
        pytest.fail(
            f"scenarios/{path.name}: {len(problems)} figures differ from "
            f"tests/golden/{path.stem}.json (generated with {made}):\n  {shown}{more}\n"
            f"{REGENERATE}"
        )


def test_variants_fly_the_reference_raid() -> None:
    # scenarios/README.md: the variants copy the raid verbatim, so that they compare like for like.
    ref = sim.load_scenario(ROOT / "scenarios" / "poland-2025-09-10.yaml")
    for name in ("poland-cheap-layer", "poland-european-kit"):
        v = sim.load_scenario(ROOT / "scenarios" / f"{name}.yaml")
        for field in (
            "seed",
            "duration_h",
            "start",
            "geography",
            "drone_types",
            "waves",
            "electronic_warfare",
            "sensors",
        ):
            assert getattr(v, field) == getattr(ref, field), f"{name}: {field} differs"
