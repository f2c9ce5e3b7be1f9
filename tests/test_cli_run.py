"""`incursion run` options: --until-ci and its report of what stopped it."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_interrupt import SCENARIO


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    doc = copy.deepcopy(SCENARIO)
    doc["defenders"][0]["magazine"] = 100  # shots, and so the ratio, vary between replications
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(doc))
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(f), "--out", str(out), "-w", "1", *args],
        capture_output=True, text=True,
    )  # fmt: skip
    return proc, out


def test_until_ci_stops_when_the_interval_is_narrow(tmp_path: Path) -> None:
    proc, out = _run(tmp_path, "-n", "20", "--until-ci", "0.05", "--max-replications", "2000")
    assert proc.returncode == 0, proc.stderr
    assert "stopped after" in proc.stderr
    assert "replications: the interval is narrow enough (95 % interval width" in proc.stderr
    s = json.loads((out / "summary.json").read_text())
    cer = s["metrics"]["cost_exchange_ratio"]
    lo, hi = cer["ci95"]
    assert (hi - lo) / cer["mean"] < 0.05
    assert s["replications"] % 20 == 0  # whole batches


def test_until_ci_says_when_the_cap_stopped_it(tmp_path: Path) -> None:
    proc, out = _run(tmp_path, "-n", "10", "--until-ci", "0.0001", "--max-replications", "30")
    assert proc.returncode == 0, proc.stderr
    assert "stopped after 30 replications: --max-replications reached (interval width" in (
        proc.stderr
    )
    assert json.loads((out / "summary.json").read_text())["replications"] == 30


def test_unknown_engine_is_a_usage_error(tmp_path: Path) -> None:
    proc, _ = _run(tmp_path, "-n", "2", "--engine", "warp")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_one_replication_shows_no_interval(tmp_path: Path) -> None:
    """One replication observes no spread; the table must not print [mean, mean] as if it were a
    95 % interval (summary.json keeps the contract's shape)."""
    proc, out = _run(tmp_path, "-n", "1")
    assert proc.returncode == 0, proc.stderr
    assert "one replication: no interval" in proc.stdout
    s = json.loads((out / "summary.json").read_text())
    m = s["metrics"]["defender_cost_usd"]
    assert m["ci95"] == [m["mean"], m["mean"]]
    proc, _ = _run(tmp_path, "-n", "3")
    assert "no interval" not in proc.stdout


def test_workers_below_one_is_a_usage_error(tmp_path: Path) -> None:
    """--workers 0 used to run on one process without a word; like sweep's, it is refused."""
    for bad in ("0", "-3"):
        proc, out = _run(tmp_path, "-n", "2", "--workers", bad)
        assert proc.returncode == 2, (bad, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert not out.exists()


def test_summary_cost_table_adds_up_to_the_defender_cost() -> None:
    """The by-weapon costs are the shots only; the fighters' sorties get their own row, so the
    column adds up to the defender cost printed above it (it fell short by the sorties)."""
    from rich.console import Console

    import sim
    from sim.cli_run import render_summary
    from tests.test_outputs import raid

    summary = sim.run(raid(), replications=3, workers=1).summary
    console = Console(record=True, width=120)
    console.print(render_summary(summary))
    text = console.export_text()
    assert "3 replications," in text
    assert "fighter sorties (" in text
    weapons = sum(v["cost_usd"]["mean"] for v in summary["by_weapon"].values())
    sorties = summary["metrics"]["sortie_cost_usd"]["mean"]
    assert sorties > 0
    assert f"{sorties:,.0f}" in text
    assert weapons + sorties == pytest.approx(summary["metrics"]["defender_cost_usd"]["mean"])
