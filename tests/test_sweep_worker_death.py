"""A sweep whose worker process dies mid-point still completes, with the uninterrupted table.

The local pool (``concurrent.futures.ProcessPoolExecutor``) breaks as a whole when one of its
processes dies: every unfinished point fails with ``BrokenProcessPool``. The sweep then starts a
fresh pool for the points not yet written (a few times at most, with a ``SweepWarning``). Each
point's result depends only on the base scenario, its values and its seed, so the tables must be
identical, bit for bit, to those of a run that nobody interrupted.

- ``test_sigkill_of_a_worker_mid_point``: the real thing. ``incursion sweep -w 2`` in a
  subprocess; once its first point file exists, one of its pool processes gets SIGKILL.
- ``test_worker_dies_once`` / ``test_worker_dies_every_time``: a deterministic hook (the pool's
  point function replaced by one that ends its process with ``os._exit`` at point 3), to check
  the recovery and its limit without timing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest
import scenario_factory as sf

import sim.sweeps
from sim import cli
from sim.errors import IncursionError
from sim.loader import dump_resolved_yaml
from sim.sweeps import SweepWarning, execute, plan_sweep, sweep

# 8 points x 3 replications of up to 2,000 drones against one battery of 8 channels: about
# 0.4-1 s a point, long enough to kill a worker in the middle of one.
BUSY = """\
scenario: busy.yaml
replications: 3
seed: 11
crn: false
design: {kind: grid}
parameters:
  - path: defenders.bat-1.magazine
    values: [1000, 2000]
  - path: waves.w0.count
    values: [1200, 1500, 1800, 2000]
"""

# The same design on a small raid: milliseconds a point, for the in-process hook tests.
QUICK = BUSY.replace("busy.yaml", "quick.yaml").replace(
    "values: [1200, 1500, 1800, 2000]", "values: [3, 5, 8, 12]"
)
POINTS = 8
REPLICATIONS = 3


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("worker-death")
    busy = sf.straight_raid(
        count=2000,
        pk=0.5,
        magazine=2000,
        channels=8,
        launch_time_min=(0.0, 120.0),
        route_spread_km=5.0,
        name="busy",
    )
    (d / "busy.yaml").write_text(dump_resolved_yaml(busy))
    quick = sf.straight_raid(count=5, pk=0.5, magazine=20, route_spread_km=5.0, name="quick")
    (d / "quick.yaml").write_text(dump_resolved_yaml(quick))
    (d / "busy-sweep.yaml").write_text(BUSY)
    (d / "quick-sweep.yaml").write_text(QUICK)
    return d


def tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(out / "results.parquet"), pd.read_parquet(out / "replications.parquet")


def assert_same(a: tuple[pd.DataFrame, pd.DataFrame], b: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    pd.testing.assert_frame_equal(a[0], b[0], check_exact=True)
    pd.testing.assert_frame_equal(a[1], b[1], check_exact=True)


def assert_complete(out: Path) -> None:
    results, reps = tables(out)
    assert results["point"].tolist() == list(range(POINTS))
    assert len(reps) == POINTS * REPLICATIONS
    assert len(list((out / "points").glob("point-*.json"))) == POINTS
    assert json.loads((out / "sweep.json").read_text())["complete"] is True


@pytest.fixture(scope="module")
def busy_reference(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The busy sweep, uninterrupted, on the local pool."""
    out = folder / "busy-reference"
    sweep(folder / "busy-sweep.yaml", out=out, workers=2, plot=False)
    assert_complete(out)
    return tables(out)


@pytest.fixture(scope="module")
def quick_reference(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The quick sweep, uninterrupted, serial."""
    out = folder / "quick-reference"
    sweep(folder / "quick-sweep.yaml", out=out, workers=1, plot=False)
    assert_complete(out)
    assert tables(out)[0]["drones_destroyed_mean"].nunique() > 1  # a non-trivial table
    return tables(out)


# ---------------------------------------------------------------------------- a real SIGKILL


def _pool_processes(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    """The sweep's pool workers: its children forked from it (same command line)."""
    parent = psutil.Process(proc.pid)
    mine = parent.cmdline()
    out = []
    for child in parent.children():
        try:
            if child.cmdline() == mine:
                out.append(child)
        except psutil.NoSuchProcess:
            continue
    return out


def test_sigkill_of_a_worker_mid_point(folder: Path, busy_reference: Any) -> None:
    out = folder / "killed"
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "sweep", "busy-sweep.yaml", "-w", "2", "--out", out.name],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, to clean up after a failure
    )
    try:
        points = out / "points"
        deadline = time.monotonic() + 90
        while not list(points.glob("point-*.json")):
            assert proc.poll() is None, f"the sweep ended first: {proc.communicate()[1]}"
            assert time.monotonic() < deadline, "no point finished in 90 s"
            time.sleep(0.01)
        workers = _pool_processes(proc)
        saved_at_kill = len(list(points.glob("point-*.json")))
        assert len(workers) == 2, workers
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        # With at least 2 points unfinished, both workers are running one (the pool hands a
        # worker its next point as soon as it is free): the victim died mid-point.
        assert saved_at_kill <= POINTS - 2, saved_at_kill
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr + stdout
    assert "a worker process died" in stderr
    assert f"ran {POINTS} points" in stdout
    assert not victim.is_running()
    assert_complete(out)
    assert_same(tables(out), busy_reference)


# ---------------------------------------------------------------------------- a test hook

_DIE_AT = "INCURSION_TEST_DIE_AT"  # "POINT:MARKER": die at POINT, once if MARKER is a path


def _dying_point(p: int, *args: Any) -> str:
    """``sim.sweeps._pool_point``, except that it ends its process at the chosen point."""
    at, _, marker = os.environ.get(_DIE_AT, "-1:").partition(":")
    if p == int(at):
        if marker == "always":
            os._exit(9)
        if marker and not os.path.exists(marker):
            Path(marker).touch()
            os._exit(9)
    return _REAL_POOL_POINT(p, *args)


_REAL_POOL_POINT = sim.sweeps._pool_point


def test_worker_dies_once(
    folder: Path, quick_reference: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = folder / "died-once"
    monkeypatch.setenv(_DIE_AT, f"3:{marker}")
    monkeypatch.setattr(sim.sweeps, "_pool_point", _dying_point)
    out = folder / "quick-died-once"
    ticks: list[tuple[int, int]] = []
    with pytest.warns(SweepWarning, match="a worker process died") as caught:
        outcome = execute(
            plan_sweep(folder / "quick-sweep.yaml"),
            out,
            workers=2,
            plot=False,
            progress=lambda done, total: ticks.append((done, total)),
        )
    assert marker.exists()  # the worker did die
    assert len([w for w in caught if issubclass(w.category, SweepWarning)]) == 1
    assert outcome.ran == POINTS
    # Each point is counted once, though some ran twice.
    assert [d for d, _ in ticks if d] == list(range(1, POINTS + 1))
    assert_complete(out)
    assert_same(tables(out), quick_reference)


def test_worker_dies_every_time(
    folder: Path, quick_reference: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_DIE_AT, "3:always")
    monkeypatch.setattr(sim.sweeps, "_pool_point", _dying_point)
    out = folder / "quick-dies-always"
    plan = plan_sweep(folder / "quick-sweep.yaml")
    with (
        pytest.warns(SweepWarning, match="a worker process died"),
        pytest.raises(IncursionError, match="worker process died") as exc,
    ):
        execute(plan, out, workers=2, plot=False)
    assert "--resume" in str(exc.value)
    assert not (out / "results.parquet").exists()
    saved = sorted(f.name for f in (out / "points").glob("point-*.json"))
    assert "point-000003.json" not in saved
    # The saved points are the right ones: resuming without the fault gives the reference.
    monkeypatch.delenv(_DIE_AT)
    outcome = execute(plan, out, workers=2, resume=True, plot=False)
    assert (outcome.reused, outcome.ran) == (len(saved), POINTS - len(saved))
    assert_same(tables(out), quick_reference)


def test_worker_dies_every_time_cli(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(_DIE_AT, "3:always")
    monkeypatch.setattr(sim.sweeps, "_pool_point", _dying_point)
    monkeypatch.chdir(folder)
    with pytest.warns(SweepWarning), pytest.raises(SystemExit) as exc:
        cli.main(["sweep", "quick-sweep.yaml", "-w", "2", "--out", "quick-cli", "-q"])
    _, err = capsys.readouterr()
    assert exc.value.code == 2
    assert err.startswith("incursion: error: ")
    assert "worker process died" in err
    assert "--resume" in err
    assert "Traceback" not in err
