"""Parameter sweeps (sim.sweeps, ``incursion sweep``): exact answers, executors, resume, errors."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scenario_factory as sf
import yaml
from cli_runner import incursion

from sim import cli
from sim.errors import IncursionError, LimitError, OutputFolderError, ScenarioError
from sim.loader import dump_resolved_yaml
from sim.metrics import METRIC_NAMES
from sim.sweeps import (
    RESUME_AND_OVERWRITE,
    SweepWarning,
    _compute_point,
    build_tables,
    execute,
    first_order_indices,
    plan_sweep,
    sweep,
)

GRID = """\
scenario: pk1.yaml
replications: 3
seed: 5
design: {kind: grid}
parameters:
  - path: defenders.bat-1.magazine
    values: [2, 5, 10]
  - path: waves.w0.count
    values: [3, 8]
"""

# 16 points of 20 replications, 0.1-0.3 s each: long enough to interrupt part-way.
SLOW = """\
scenario: slow.yaml
replications: 20
seed: 9
crn: false
design: {kind: grid}
parameters:
  - path: defenders.bat-1.magazine
    values: [5, 10, 20, 40]
  - path: waves.w0.count
    values: [10, 20, 30, 40]
"""

# The vectorised engine on the Pk-1 scenario: kills = min(magazine, 3) at every replication.
VGRID = """\
scenario: pk1.yaml
replications: 4
seed: 5
engine: vectorised
design: {kind: grid}
parameters:
  - path: defenders.bat-1.magazine
    values: [1, 2, 5]
"""

LHS = """\
scenario: slow.yaml
replications: 4
seed: 2
crn: false
design: {kind: lhs, samples: 8}
parameters:
  - path: defenders.bat-1.magazine
    range: [0, 12]
  - path: waves.w0.count
    range: [2, 12]
  - path: weapons.sam.pk
    range: [0.3, 0.9]
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sweep")
    # Pk 1, every drone detected at t = 0, all launched at once, one battery on the route with
    # ample channels and about 24 minutes of flight through its envelope: kills = min(magazine,
    # drones), one shot each.
    pk1 = sf.straight_raid(count=3, pk=1.0, magazine=5, channels=1000, name="pk1")
    (d / "pk1.yaml").write_text(dump_resolved_yaml(pk1))
    slow = sf.straight_raid(count=30, pk=0.7, magazine=20, launch_time_min=(0.0, 30.0), name="slow")
    (d / "slow.yaml").write_text(dump_resolved_yaml(slow))
    (d / "grid.yaml").write_text(GRID)
    (d / "slow-sweep.yaml").write_text(SLOW)
    (d / "lhs.yaml").write_text(LHS)
    (d / "vgrid.yaml").write_text(VGRID)
    (d / "vgrid-des.yaml").write_text(VGRID.replace("engine: vectorised\n", ""))
    return d


def main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the real entry point in-process; (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        cli.main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else int(code)), out, err


def tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_parquet(out / "results.parquet"), pd.read_parquet(out / "replications.parquet")


def assert_same(a: tuple[pd.DataFrame, pd.DataFrame], b: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    pd.testing.assert_frame_equal(a[0], b[0], check_exact=True)
    pd.testing.assert_frame_equal(a[1], b[1], check_exact=True)


@pytest.fixture(scope="module")
def slow_reference(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The slow sweep, uninterrupted, on the local pool."""
    out = folder / "slow-reference"
    sweep(folder / "slow-sweep.yaml", out=out, workers=2, plot=False)
    return tables(out)


# ---------------------------------------------------------------------------- exact answers


def test_pk1_grid_is_exact(folder: Path) -> None:
    out = folder / "pk1-out"
    res = sweep(folder / "grid.yaml", out=out, workers=1)
    metric_cols = [f"{m}_{s}" for m in METRIC_NAMES for s in ("mean", "ci95_low", "ci95_high")]
    assert list(res.columns) == [
        "point",
        "defenders.bat-1.magazine",
        "waves.w0.count",
        "seed",
        *metric_cols,
    ]
    assert res["point"].tolist() == list(range(6))
    assert res["defenders.bat-1.magazine"].dtype == np.int64
    assert (res["seed"] == 5).all()  # common random numbers: one run seed everywhere
    for _, row in res.iterrows():
        mag, n = row["defenders.bat-1.magazine"], row["waves.w0.count"]
        kills = min(mag, n)
        for col in ("mean", "ci95_low", "ci95_high"):
            assert row[f"drones_destroyed_{col}"] == kills
            assert row[f"shots_fired_{col}"] == kills
            assert row[f"leakers_{col}"] == n - kills
            assert row[f"defender_cost_usd_{col}"] == kills * 100_000
        assert row["cost_exchange_ratio_mean"] == pytest.approx(kills * 100_000 / (n * 20_000))
    on_disk, reps = tables(out)
    pd.testing.assert_frame_equal(on_disk, res, check_exact=True)
    assert len(reps) == 6 * 3
    assert reps[["point", "replication"]].values.tolist() == [
        [p, i] for p in range(6) for i in range(3)
    ]
    assert reps["rng_seed"].dtype == np.uint64
    kills = np.minimum(reps["defenders.bat-1.magazine"], reps["waves.w0.count"])
    assert (reps["drones_destroyed"] == kills).all()
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["complete"] is True
    assert meta["points"] == 6
    assert set(meta["fingerprint"]) == {
        "sweep_sha256",
        "scenario_sha256",
        "package_version",
        "engine",
        "sha256",
    }
    assert meta["engine"] == meta["fingerprint"]["engine"] == "des"
    assert reps["rng_seed"].notna().all()
    assert "cluster" not in reps.columns
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sens = pd.read_csv(out / "sensitivity.csv")
    assert list(sens.columns) == ["parameter", "first_order", "method"]
    assert len(list((out / "points").glob("point-*.json"))) == 6
    # written through temporary files, which are private (0600): the sweep's files get the
    # usual permissions, as a run folder's do
    mask = os.umask(0)
    os.umask(mask)
    for f in [*out.iterdir(), *(out / "points").iterdir()]:
        if f.is_file():
            assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f.name


def test_common_random_numbers(folder: Path) -> None:
    spec = {
        "scenario": str(folder / "slow.yaml"),
        "replications": 3,
        "seed": 4,
        "design": {"kind": "grid"},
        "parameters": [{"path": "defenders.bat-1.magazine", "values": [3, 30]}],
    }
    crn = sweep(spec, out=folder / "crn-on", workers=1, plot=False)
    reps = pd.read_parquet(folder / "crn-on" / "replications.parquet")
    a, b = (reps[reps["point"] == p]["rng_seed"].tolist() for p in (0, 1))
    assert a == b  # replication i draws from the same stream at every point
    assert crn["seed"].tolist() == [4, 4]
    # A sole change in magazine (no shot before the 3rd drone engaged) shares launch times.
    plan = plan_sweep({**spec, "crn": False})
    want = [int(np.random.SeedSequence(4, spawn_key=(p,)).generate_state(1)[0]) for p in (0, 1)]
    assert plan.seeds == want
    off = sweep({**spec, "crn": False}, out=folder / "crn-off", workers=1, plot=False)
    assert off["seed"].tolist() == want
    reps = pd.read_parquet(folder / "crn-off" / "replications.parquet")
    for p, s in enumerate(want):
        got = reps[reps["point"] == p]["rng_seed"].tolist()
        assert got == [
            int(np.random.SeedSequence(s, spawn_key=(i,)).generate_state(1, np.uint64)[0])
            for i in range(3)
        ]


# ---------------------------------------------------------------------------- executors


def test_pool_and_dask_give_identical_tables(folder: Path) -> None:
    from distributed import Client, LocalCluster

    serial = folder / "ex-serial"
    pool = folder / "ex-pool"
    dask = folder / "ex-dask"
    a = sweep(folder / "lhs.yaml", out=serial, workers=1, plot=False)
    b = sweep(folder / "lhs.yaml", out=pool, workers=2, plot=False)
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        c = sweep(folder / "lhs.yaml", out=dask, scheduler=client, plot=False)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    pd.testing.assert_frame_equal(a, c, check_exact=True)
    assert_same(tables(serial), tables(pool))
    assert_same(tables(serial), tables(dask))
    assert a["cost_exchange_ratio_mean"].nunique() > 1  # a non-trivial table


# ---------------------------------------------------------------------------- engines


def test_vectorised_engine_serial_and_pool_give_identical_tables(folder: Path) -> None:
    serial, pool = folder / "v-serial", folder / "v-pool"
    a = sweep(folder / "vgrid.yaml", out=serial, workers=1, plot=False)
    b = sweep(folder / "vgrid.yaml", out=pool, workers=2, plot=False)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert_same(tables(serial), tables(pool))
    assert a["drones_destroyed_mean"].tolist() == [1.0, 2.0, 3.0]
    assert a["leakers_ci95_high"].tolist() == [2.0, 1.0, 0.0]
    reps = tables(serial)[1]
    assert list(reps.columns[:4]) == ["point", "defenders.bat-1.magazine", "replication", "cluster"]
    assert "rng_seed" not in reps.columns
    assert reps["replication"].tolist() == [0, 1, 2, 3] * 3
    assert (reps["drones_destroyed"] == np.minimum(reps["defenders.bat-1.magazine"], 3)).all()
    for out in (serial, pool):
        meta = json.loads((out / "sweep.json").read_text())
        assert meta["engine"] == meta["fingerprint"]["engine"] == "vectorised"
        for f in sorted((out / "points").glob("point-*.json")):
            assert json.loads(f.read_text())["engine"] == "vectorised"
    # The engine is in the fingerprint; des keeps the hash it had before engines were chosen.
    des = plan_sweep(folder / "vgrid.yaml", engine="des").fingerprint
    vec = plan_sweep(folder / "vgrid.yaml").fingerprint
    assert des["sha256"] != vec["sha256"]
    legacy = {k: des[k] for k in ("sweep_sha256", "scenario_sha256", "package_version")}
    assert des["sha256"] == hashlib.sha256(json.dumps(legacy, sort_keys=True).encode()).hexdigest()


def test_tables_take_either_replication_layout(folder: Path) -> None:
    plan = plan_sweep(folder / "vgrid.yaml")
    fp = plan.fingerprint["sha256"]
    engines = ["vectorised", "des", "vectorised"]
    records = {
        p: json.loads(_compute_point(plan.base, p, plan.changes(p), plan.seeds[p], 4, fp, engine))
        for p, engine in enumerate(engines)
    }
    results, reps = build_tables(plan, records)
    assert results["drones_destroyed_mean"].tolist() == [1.0, 2.0, 3.0]
    assert len(reps) == 12
    assert reps["cluster"].isna().tolist() == [False] * 4 + [True] * 4 + [False] * 4
    assert reps["rng_seed"].isna().tolist() == [True] * 4 + [False] * 4 + [True] * 4


def test_engine_flag_overrides_the_file_and_resume_refuses_another_engine(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    sweep_file = str(folder / "vgrid-des.yaml")  # no engine: (des)
    out = folder / "engine-out"
    args = ("sweep", sweep_file, "--out", str(out), "-w", "1")
    code, stdout, err = main(capsys, *args, "--engine", "vectorised")
    assert code == 0, err
    assert "engine vectorised" in stdout
    assert json.loads((out / "sweep.json").read_text())["engine"] == "vectorised"
    assert "cluster" in pd.read_parquet(out / "replications.parquet").columns
    # The file's engine (des) on the vectorised points: refused, saying what changed.
    code, _, err = main(capsys, *args, "--resume")
    assert code == 2
    assert "cannot resume" in err
    assert "different sweep (the engine (vectorised -> des) changed" in err
    assert "Traceback" not in err
    code, stdout, _ = main(capsys, *args, "--resume", "--engine", "vectorised")
    assert code == 0
    assert "reused 3 of 3 points" in stdout
    # An unfinished sweep's point files are not reused by the other engine either.
    meta = json.loads((out / "sweep.json").read_text())
    (out / "sweep.json").write_text(json.dumps({**meta, "complete": False}))
    code, _, err = main(capsys, *args, "--resume", "--engine", "des")
    assert code == 2
    assert "the engine (vectorised -> des) changed" in err
    # --engine des overrides a file's engine: vectorised; the estimate times the chosen engine.
    vfile = str(folder / "vgrid.yaml")
    code, stdout, _ = main(capsys, "sweep", vfile, "--dry-run", "--engine", "des")
    assert code == 0
    assert "engine des" in stdout
    assert "des engine)" in stdout
    code, stdout, _ = main(capsys, "sweep", vfile, "--dry-run")
    assert code == 0
    assert "engine vectorised" in stdout
    assert "estimate: about" in stdout
    # an upper bound: points that fly an earlier point's tracks reuse its pools
    words = " ".join(stdout.split())
    assert "vectorised engine; at most: points that fly the tracks of an earlier one" in words
    code, _, err = main(capsys, "sweep", vfile, "--dry-run", "--engine", "fast")
    assert code == 2
    assert "--engine" in err
    assert "choose des or vectorised" in err
    with pytest.raises(IncursionError, match="unknown engine 'fast'"):
        sweep(vfile, out=folder / "never", engine="fast")


def test_a_point_the_vectorised_engine_refuses_fails_like_any_point(
    chdir_folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    folder = chdir_folder
    (folder / "refused.yaml").write_text(
        VGRID.replace("defenders.bat-1.magazine", "doctrine.max_defenders_per_target").replace(
            "values: [1, 2, 5]", "values: [1, 2]"
        )
    )
    note = "the vectorised engine does not model doctrine.max_defenders_per_target above 1"
    assert any(
        f"{note}: 1 of 2 design points will fail" in n for n in plan_sweep("refused.yaml").notes
    )
    failed = (
        "design point 1 (doctrine.max_defenders_per_target=2) failed: the vectorised engine "
        "does not model doctrine.max_defenders_per_target above 1. Use --engine des (the SimPy "
        "engine) for this scenario. The points finished so far are saved"
    )
    code, out, err = main(capsys, "sweep", "refused.yaml", "--out", "refused-out", "-w", "1")
    assert code == 2
    assert failed in err
    assert "Traceback" not in out + err
    saved = sorted(f.name for f in (folder / "refused-out" / "points").glob("point-*.json"))
    assert saved == ["point-000000.json"]
    assert not (folder / "refused-out" / "results.parquet").exists()
    with (
        pytest.warns(SweepWarning, match="1 of 2 design points will fail"),
        pytest.raises(IncursionError, match=r"design point 1 \(doctrine"),
    ):
        sweep("refused.yaml", out="refused-pool", workers=2, plot=False)
    # The des engine runs it.
    res = sweep("refused.yaml", out="refused-des", workers=1, plot=False, engine="des")
    assert len(res) == 2
    # With --engine des, the vectorised engine is suggested only when it models every point.
    tip = "tip: every point is within the vectorised engine's model"
    assert not plan_sweep("refused.yaml", engine="des").vectorisable
    code, out, _ = main(capsys, "sweep", "refused.yaml", "--dry-run", "--engine", "des")
    assert code == 0
    assert tip not in " ".join(out.split())
    (folder / "fine.yaml").write_text(VGRID)
    assert plan_sweep("fine.yaml", engine="des").vectorisable
    code, out, _ = main(capsys, "sweep", "fine.yaml", "--dry-run", "--engine", "des")
    assert code == 0
    assert tip in " ".join(out.split())
    code, out, _ = main(capsys, "sweep", "fine.yaml", "--dry-run")  # vectorised already
    assert tip not in " ".join(out.split())


# ---------------------------------------------------------------------------- interruption


def _start(folder: Path, out: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "sim", "sweep", "slow-sweep.yaml", "--out", out, "-q", *extra],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so its workers can be signalled too
        preexec_fn=_sigint_default,
    )


def _sigint_default() -> None:
    # A shell's background job (``cmd &``, nohup) starts with Ctrl-C ignored, and Python then
    # keeps ignoring it, as it should; the sweep under test must get Ctrl-C as a terminal gives it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_points(proc: subprocess.Popen[str], points: Path, n: int) -> None:
    deadline = time.monotonic() + 90
    while len(list(points.glob("point-*.json"))) < n:
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended before it could be interrupted: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("no point finished in 90 s")
        time.sleep(0.01)


def _group_gone(pgid: int) -> bool:
    for _ in range(200):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_sigkill_then_resume(folder: Path, slow_reference: Any) -> None:
    out = folder / "killed"
    proc = _start(folder, out.name, "--workers", "1")
    _wait_for_points(proc, out / "points", 3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _group_gone(proc.pid)
    saved = len(list((out / "points").glob("point-*.json")))
    assert 3 <= saved < 16
    assert not (out / "results.parquet").exists()
    r = incursion("sweep", "slow-sweep.yaml", "--out", out.name, "--resume", "-w", "2", cwd=folder)
    assert r.returncode == 0, r.stderr
    assert f"reused {saved} of 16 points" in r.stdout
    assert f"running {16 - saved}" in r.stdout
    assert_same(tables(out), slow_reference)


def test_sigint_then_resume(folder: Path, slow_reference: Any) -> None:
    out = folder / "interrupted"
    proc = _start(folder, out.name, "--workers", "2")
    _wait_for_points(proc, out / "points", 2)
    os.kill(proc.pid, signal.SIGINT)  # Ctrl-C: to the main process only
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run again with --resume" in err
    assert "Traceback" not in err
    assert _group_gone(proc.pid)  # no worker process left behind
    saved = len(list((out / "points").glob("point-*.json")))
    assert 2 <= saved < 16
    plan = plan_sweep(folder / "slow-sweep.yaml")
    outcome = execute(plan, out, workers=2, resume=True, plot=False)
    assert outcome.reused == saved
    assert outcome.ran == 16 - saved
    assert_same(tables(out), slow_reference)


def test_resume_refuses_another_sweep(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep_file = folder / "changing.yaml"
    sweep_file.write_text(GRID)
    out = folder / "changing-out"
    code, stdout, _ = main(capsys, "sweep", str(sweep_file), "--out", str(out), "-w", "1")
    assert code == 0
    # Unchanged: everything is reused.
    code, stdout, _ = main(capsys, "sweep", str(sweep_file), "--out", str(out), "--resume")
    assert code == 0
    assert "reused 6 of 6 points" in stdout
    # Without --resume, a finished sweep is replaced, but an unfinished one is kept.
    code, stdout, _ = main(capsys, "sweep", str(sweep_file), "--out", str(out))
    assert code == 0
    assert "ran 6 points" in stdout
    meta = json.loads((out / "sweep.json").read_text())
    (out / "sweep.json").write_text(json.dumps({**meta, "complete": False}))
    code, _, err = main(capsys, "sweep", str(sweep_file), "--out", str(out))
    assert code == 2
    assert "holds an unfinished sweep (6 point result(s)): pass --resume" in err
    # Another sweep file content: refused, saying what changed.
    sweep_file.write_text(GRID.replace("replications: 3", "replications: 4"))
    code, _, err = main(capsys, "sweep", str(sweep_file), "--out", str(out), "--resume")
    assert code == 2
    assert "cannot resume" in err
    assert "different sweep (the sweep file changed" in err
    assert "Traceback" not in err
    code, _, _ = main(capsys, "sweep", str(sweep_file), "--out", str(out), "--overwrite")
    assert code == 0
    assert len(pd.read_parquet(out / "replications.parquet")) == 6 * 4


# ---------------------------------------------------------------------------- grid ranges

ROOT = Path(__file__).resolve().parent.parent

# Spec section 4's example, as written, on names of the shipped reference night.
SPEC_EXAMPLE = """\
scenario: {scenario}   # the base, relative to this file
replications: 50                                  # per design point
seed: 1
design: {{kind: grid}}                              # grid | lhs | sobol; lhs/sobol take samples: N
parameters:
  - path: defenders.patriot-jasionka.magazine     # dotted path; list items are addressed by name
    values: [4, 8, 16]                            # grid levels
  - path: waves.ua-rzeszow.count
    range: [10, 200]                              # lhs / sobol bounds; integer when the base is
"""

GRID_RANGE = """\
scenario: pk1.yaml
replications: 1
seed: 5
design: {kind: grid}
parameters:
  - path: defenders.bat-1.magazine
    range: [1, 5]
    levels: 3
  - path: waves.w0.count
    values: [2, 4]
"""


def test_spec_example_grid_with_values_and_range(tmp_path: Path) -> None:
    f = tmp_path / "spec.yaml"
    f.write_text(SPEC_EXAMPLE.format(scenario=ROOT / "scenarios" / "poland-2025-09-10.yaml"))
    plan = plan_sweep(f)
    mag, count = plan.parameters
    assert mag.values == [4, 8, 16]
    # five levels by default, integers (the base count is), ends included
    assert count.values == [10, 58, 105, 152, 200]
    assert all(type(v) is int for v in count.values)
    assert count.integer
    assert count.dtype == "int64"
    assert plan.n_points == 3 * 5
    assert [tuple(p.values()) for p in plan.points] == [
        (m, c) for m in (4, 8, 16) for c in (10, 58, 105, 152, 200)
    ]
    assert plan.notes == []


def test_grid_range_levels(folder: Path) -> None:
    def levels(par: dict[str, Any]) -> list[Any]:
        spec = {
            "scenario": str(folder / "pk1.yaml"),
            "replications": 1,
            "design": {"kind": "grid"},
            "parameters": [par],
        }
        plan = plan_sweep(spec)
        assert plan.n_points == len(plan.parameters[0].values or [])
        return plan.parameters[0].values or []

    lo, hi = 0.25, 0.75
    got = levels({"path": "weapons.sam.pk", "range": [lo, hi], "levels": 3})
    assert got == [lo, (lo + hi) / 2, hi]
    assert all(type(v) is float for v in got)
    # linspace, without the last bit of binary noise (0.6, not 0.6000000000000001)
    assert levels({"path": "weapons.sam.pk", "range": [0.3, 0.9]}) == [0.3, 0.45, 0.6, 0.75, 0.9]
    # an integer field: rounded levels, integers even when the bounds are written 2.0 and 10.0
    got = levels({"path": "waves.w0.count", "range": [2.0, 10.0], "levels": 4})
    assert got == [2, 5, 7, 10]
    assert all(type(v) is int for v in got)
    assert levels({"path": "waves.w0.count", "range": [2, 10]}) == [2, 4, 6, 8, 10]
    # more levels than integers in the range: repeats dropped, in order, and the user told
    with pytest.warns(SweepWarning, match=r"5 levels over \[1, 3\] give 3 different integers"):
        res = sweep(
            {
                "scenario": str(folder / "pk1.yaml"),
                "replications": 1,
                "parameters": [{"path": "waves.w0.count", "range": [1, 3]}],
            },
            out=folder / "grid-range-repeats",
            workers=1,
            plot=False,
        )
    assert res["waves.w0.count"].tolist() == [1, 2, 3]


def test_grid_range_runs_the_same_on_any_worker_count(folder: Path) -> None:
    (folder / "grid-range.yaml").write_text(GRID_RANGE)
    one = sweep(folder / "grid-range.yaml", out=folder / "grid-range-1", workers=1, plot=False)
    two = sweep(folder / "grid-range.yaml", out=folder / "grid-range-2", workers=2, plot=False)
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert_same(tables(folder / "grid-range-1"), tables(folder / "grid-range-2"))
    # the column is the path, the levels are the range's, kills = min(magazine, drones) at Pk 1
    assert one["defenders.bat-1.magazine"].dtype == np.int64
    assert one["defenders.bat-1.magazine"].tolist() == [1, 1, 3, 3, 5, 5]
    assert one["waves.w0.count"].tolist() == [2, 4] * 3
    kills = np.minimum(one["defenders.bat-1.magazine"], one["waves.w0.count"])
    assert (one["drones_destroyed_mean"] == kills).all()
    meta = json.loads((folder / "grid-range-1" / "sweep.json").read_text())
    assert meta["parameters"][0]["values"] == [1, 3, 5]
    assert meta["parameters"][0]["range"] == [1, 5]


def test_dry_run_shows_the_levels_of_a_range(
    chdir_folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    (chdir_folder / "grid-range-dry.yaml").write_text(GRID_RANGE.replace("levels: 3", "levels: 5"))
    code, out, err = main(capsys, "sweep", "grid-range-dry.yaml", "--dry-run")
    assert code == 0, err
    assert "5 levels: 1, 2, 3, 4, 5" in out
    assert "10 points × 1 replication = 10 replications" in out


# ---------------------------------------------------------------------------- bad input


BAD = {
    "path": (
        GRID.replace("defenders.bat-1.magazine", "defenders.nope.magazine"),
        "bad.yaml:6:11: parameters[0].path: the scenario has no field "
        "'defenders.nope.magazine': no 'nope' in defenders: it has the items bat-1",
    ),
    "value": (
        GRID.replace("values: [3, 8]", "values: [3, -8]"),
        "bad.yaml:9:17: parameters[1].values[1]: parameter 'waves.w0.count': the level -8 is "
        "not valid: expected an integer >= 1, got -8",
    ),
    "field": (
        GRID.replace("replications: 3", "replicatons: 3"),
        "bad.yaml:2:1: replicatons: unknown field 'replicatons' (did you mean 'replications'?",
    ),
    "range-end": (
        LHS.replace("range: [0.3, 0.9]", "range: [0.3, 1.5]").replace("slow.yaml", "pk1.yaml"),
        "bad.yaml:12:18: parameters[2].range[1]: parameter 'weapons.sam.pk': the high end is not "
        "valid: expected a number <= 1, got 1.5",
    ),
    "engine": (
        GRID.replace("seed: 5\n", "seed: 5\nengine: fast\n"),
        "bad.yaml:4:9: engine: expected one of 'des' or 'vectorised', got 'fast'",
    ),
    "kind": (
        GRID.replace("kind: grid", "kind: latin"),
        "bad.yaml:4:16: design.kind: expected one of 'grid', 'lhs', 'sobol' or 'nolh', got 'latin'",
    ),
    # the sweep's own numbers and switches are not converted either, as in a scenario
    "replications-text": (
        GRID.replace("replications: 3", 'replications: "3"'),
        "bad.yaml:2:15: replications: expected an integer, got '3'",
    ),
    "seed-bool": (
        GRID.replace("seed: 5", "seed: true"),
        "bad.yaml:3:7: seed: expected an integer, got true",
    ),
    "crn-text": (
        GRID.replace("seed: 5\n", 'seed: 5\ncrn: "no"\n'),
        "bad.yaml:4:6: crn: expected true or false, got 'no'",
    ),
    # levels: how many grid levels a range takes
    "levels-one": (
        GRID_RANGE.replace("levels: 3", "levels: 1"),
        "bad.yaml:8:13: parameters[0].levels: expected an integer >= 2, got 1",
    ),
    "levels-fraction": (
        GRID_RANGE.replace("levels: 3", "levels: 2.5"),
        "bad.yaml:8:13: parameters[0].levels: expected an integer, got 2.5",
    ),
    "levels-with-values": (
        GRID_RANGE.replace("values: [2, 4]", "values: [2, 4]\n    levels: 2"),
        "bad.yaml:11:13: parameters[1].levels: levels goes with range: [low, high] (how many "
        "evenly spaced grid levels between them); values: [...] are the levels themselves",
    ),
    "levels-lhs": (
        LHS.replace("range: [0, 12]", "range: [0, 12]\n    levels: 4"),
        "bad.yaml:9:13: parameters[0].levels: an lhs design samples between the bounds and "
        "takes no levels",
    ),
}


@pytest.fixture
def chdir_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_sweep_file(chdir_folder: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    folder = chdir_folder
    text, message = BAD[case]
    (folder / "bad.yaml").write_text(text)
    code, out, err = main(capsys, "sweep", "bad.yaml", "--dry-run")
    assert code == 2
    assert message in err.replace(str(folder) + os.sep, "")
    assert "Traceback" not in err + out
    assert not (folder / "runs").exists()


def test_bad_sweep_file_through_the_console_script(folder: Path) -> None:
    (folder / "bad-cli.yaml").write_text(GRID.replace("values: [3, 8]", "values: [3, -8]"))
    r = incursion("sweep", "bad-cli.yaml", cwd=folder)
    assert r.returncode == 2
    assert "bad-cli.yaml:9:17: parameters[1].values[1]" in r.stderr
    assert "Traceback" not in r.stderr
    r = incursion("sweep", "missing.yaml", cwd=folder)
    assert r.returncode == 2
    assert r.stderr.strip() == "missing.yaml: no such sweep file"


def test_dry_run_prints_plan_and_estimate(
    chdir_folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = main(capsys, "sweep", "grid.yaml", "--dry-run", "--workers", "2")
    assert code == 0
    assert "6 points × 3 replications = 18 replications" in out
    assert "estimate: about" in out
    assert "on 2 workers" in out
    assert "dry run: nothing ran" in out
    assert not (chdir_folder / "runs").exists()


# ---------------------------------------------------------------- what a parameter may set


@pytest.mark.parametrize(
    ("field", "says"),
    [
        # The column said 1 and 50, but every point ran the sweep's 3 replications.
        (
            "replications",
            "bad.yaml:9:11: parameters[1].path: parameter 'p': the sweep sets the replications "
            "of every point itself (3, the sweep file's replications: or else the base "
            "scenario's), so this parameter would change nothing but its column: set "
            "replications: in the sweep file instead",
        ),
        (
            "seed",
            "bad.yaml:9:11: parameters[1].path: parameter 'p': the sweep sets the seed of every "
            "point itself (5, the sweep file's seed: or else the base scenario's; with crn: "
            "false, a different one drawn from it at each point), so this parameter would change "
            "nothing but its column: set seed: in the sweep file instead",
        ),
        (
            "name",
            "bad.yaml:9:11: parameters[1].path: parameter 'p': the scenario's name is a label and "
            "changes nothing in the simulation: every point would give the same results",
        ),
        ("description", "parameter 'p': the scenario's description changes nothing"),
    ],
)
def test_a_parameter_on_a_field_the_sweep_sets_is_refused(
    chdir_folder: Path, capsys: pytest.CaptureFixture[str], field: str, says: str
) -> None:
    text = GRID.replace(
        "  - path: waves.w0.count\n    values: [3, 8]",
        f"  - name: p\n    path: {field}\n    values: [1, 50]",
    )
    (chdir_folder / "bad.yaml").write_text(text)
    code, out, err = main(capsys, "sweep", "bad.yaml", "--dry-run")
    assert code == 2
    assert says in " ".join(err.replace(str(chdir_folder) + os.sep, "").split())
    assert "Traceback" not in err + out
    # through the library too, when the sweep file leaves replications and seed to the scenario
    spec = {
        "scenario": str(chdir_folder / "pk1.yaml"),
        "parameters": [{"name": "p", "path": field, "values": [1, 50]}],
    }
    with pytest.raises(ScenarioError) as info:
        plan_sweep(spec)
    assert [p.path for p in info.value.problems] == ["parameters[0].path"]


WHOLE_RADAR = (
    "{name: radar-1, lat: 52.0, lon: 23.0, range_km: 400, antenna_height_m: 30, altitude_m: 9000, "
    "scan_s: 10, p_detect: 0.5}"
)


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        # one field, two spellings (bat-1 is defenders[0]): the later used to win, silently
        (
            "  - path: defenders.bat-1.magazine\n    values: [2, 5]\n"
            "  - path: defenders.0.magazine\n    values: [3, 8]\n",
            "bad.yaml:8:11: parameters[1].path: 'defenders.0.magazine' sets "
            "defenders[0].magazine, as 'defenders.bat-1.magazine' (parameters[0].path) does: one "
            "would overwrite the other at every point; drop one of them",
        ),
        (
            "  - path: defenders[0].magazine\n    values: [2, 5]\n"
            "  - name: mag\n    path: [waves.w0.count, defenders.bat-1.magazine]\n"
            "    values: [3, 8]\n",
            "parameters[1].path[1]: 'defenders.bat-1.magazine' sets defenders[0].magazine, as "
            "'defenders[0].magazine' (parameters[0].path) does",
        ),
        # two paths of one parameter
        (
            "  - name: mag\n    path: [defenders.bat-1.magazine, defenders.0.magazine]\n"
            "    values: [3, 8]\n",
            "bad.yaml:7:38: parameters[0].path[1]: 'defenders.0.magazine' sets "
            "defenders[0].magazine, as 'defenders.bat-1.magazine' (parameters[0].path[0]) does",
        ),
        # a field, and the whole sensor that holds it, in either order
        (
            "  - path: sensors.radar-1.p_detect\n    values: [0.5, 1.0]\n"
            f"  - path: sensors.radar-1\n    values: [{WHOLE_RADAR}]\n",
            "bad.yaml:8:11: parameters[1].path: 'sensors.radar-1' sets the whole sensors[0], of "
            "which 'sensors.radar-1.p_detect' (parameters[0].path) sets sensors[0].p_detect: one "
            "would overwrite the other at every point",
        ),
        (
            f"  - path: sensors.0\n    values: [{WHOLE_RADAR}]\n"
            "  - path: sensors.radar-1.p_detect\n    values: [0.5, 1.0]\n",
            "bad.yaml:8:11: parameters[1].path: 'sensors.radar-1.p_detect' sets "
            "sensors[0].p_detect, which is part of sensors[0], set whole by 'sensors.0' "
            "(parameters[0].path)",
        ),
    ],
)
def test_two_parameters_on_one_field_are_refused(
    chdir_folder: Path, capsys: pytest.CaptureFixture[str], parameters: str, says: str
) -> None:
    head = GRID[: GRID.index("parameters:\n") + len("parameters:\n")]
    (chdir_folder / "bad.yaml").write_text(head + parameters)
    code, out, err = main(capsys, "sweep", "bad.yaml", "--dry-run")
    assert code == 2
    assert says in " ".join(err.replace(str(chdir_folder) + os.sep, "").split())
    assert "Traceback" not in err + out


def test_a_digit_name_that_is_another_defenders_index_is_ambiguous(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # defenders[0] is named "1": defenders.1.magazine used to set it, not defenders[1]
    doc = yaml.safe_load((folder / "pk1.yaml").read_text())
    doc["defenders"] = [{**doc["defenders"][0], "name": "1"}, {**doc["defenders"][0], "name": "b2"}]
    (folder / "digits.yaml").write_text(yaml.safe_dump(doc))
    spec = {
        "scenario": str(folder / "digits.yaml"),
        "replications": 1,
        "parameters": [{"path": "defenders.1.magazine", "values": [1, 2]}],
    }
    with pytest.raises(ScenarioError) as info:
        plan_sweep(spec)
    (p,) = info.value.problems
    assert p.path == "parameters[0].path"
    assert p.message == (
        "'1' in defenders is ambiguous: it is the name of defenders[0] and the index of "
        "defenders[1] (named 'b2'): write defenders.b2 for defenders[1], or defenders[0] for "
        "the item named '1'"
    )
    spec["parameters"] = [{"path": "defenders.b2.magazine", "values": [1, 2]}]
    assert plan_sweep(spec).changes(1) == {"defenders.b2.magazine": 2}


# ---------------------------------------------------------------------------- the output folder


def _snapshot(d: Path) -> dict[str, bytes]:
    return {str(f.relative_to(d)): f.read_bytes() for f in sorted(d.rglob("*")) if f.is_file()}


def test_sweep_writes_only_into_a_new_empty_or_sweep_folder(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid = str(folder / "grid-range.yaml")
    (folder / "grid-range.yaml").write_text(GRID_RANGE.replace("levels: 3", "levels: 2"))
    # An incursion run folder: a sweep there used to mix its files in (and a run then refused).
    run_dir = folder / "a-run"
    code, _, err = main(
        capsys, "run", str(folder / "pk1.yaml"), "-n", "1", "-q", "--out", str(run_dir)
    )
    assert code == 0, err
    before = _snapshot(run_dir)
    for extra in ((), ("--overwrite",), ("--resume",)):
        code, out, err = main(capsys, "sweep", grid, "-q", "-w", "1", "--out", str(run_dir), *extra)
        assert code == 2
        assert (
            f"{run_dir} exists and is a run folder (incursion run's: it holds summary.json); "
            "choose another --out (a sweep writes into a new or empty folder, or one of its own)"
        ) in " ".join(err.split())
        assert "Traceback" not in err + out
    assert _snapshot(run_dir) == before
    # A folder of the user's: the library refuses it too.
    mine = folder / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    (mine / "results.parquet").write_text("not a sweep's")
    with pytest.raises(
        OutputFolderError, match=r"holds files a sweep does not write \(notes\.txt\)"
    ):
        sweep(grid, out=mine, workers=1, plot=False)
    (mine / "notes.txt").unlink()
    with pytest.raises(OutputFolderError, match=r"holds results\.parquet but no sweep\.json"):
        sweep(grid, out=mine, workers=1, plot=False, overwrite=True)
    (mine / "sweep.json").write_text("{}")
    with pytest.raises(OutputFolderError, match=r"its sweep\.json is not a sweep's"):
        sweep(grid, out=mine, workers=1, plot=False)
    assert (mine / "results.parquet").read_text() == "not a sweep's"
    # An empty folder is fine; the sweep's own folder then runs again, resumes, is overwritten.
    empty = folder / "empty-out"
    empty.mkdir()
    code, _, err = main(capsys, "sweep", grid, "-q", "-w", "1", "--out", str(empty))
    assert code == 0, err
    for extra in ((), ("--resume",), ("--overwrite",)):
        code, _, err = main(capsys, "sweep", grid, "-q", "-w", "1", "--out", str(empty), *extra)
        assert code == 0, err
    assert len(pd.read_parquet(empty / "results.parquet")) == 4
    # ... but not once a file of the user's is in it; nor does a run replace it.
    (empty / "points" / "notes.txt").write_text("keep")
    code, _, err = main(capsys, "sweep", grid, "-q", "-w", "1", "--out", str(empty), "--resume")
    assert code == 2
    assert "holds files a sweep does not write (points/notes.txt)" in " ".join(err.split())
    code, _, err = main(
        capsys, "run", str(folder / "pk1.yaml"), "-n", "1", "-q", "--out", str(empty)
    )
    assert code == 2
    assert "is not a run folder" in err


def test_resume_and_overwrite_together_are_refused(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = folder / "both-flags"
    with pytest.raises(IncursionError) as info:
        sweep(folder / "grid.yaml", out=out, workers=1, resume=True, overwrite=True)
    assert str(info.value) == RESUME_AND_OVERWRITE
    with pytest.raises(IncursionError, match="choose one of --resume"):
        execute(plan_sweep(folder / "grid.yaml"), out, resume=True, overwrite=True)
    assert not out.exists()
    code, _, err = main(
        capsys, "sweep", str(folder / "grid.yaml"), "--out", str(out), "--resume", "--overwrite"
    )
    assert code == 2
    assert RESUME_AND_OVERWRITE in " ".join(err.replace("│", " ").split())
    assert not out.exists()


# ---------------------------------------------------------------------------- sensitivity


def test_first_order_indices() -> None:
    from sim.designs import unit_lhs

    u = unit_lhs(400, 3, seed=1)
    x = pd.DataFrame(u, columns=["a", "b", "c"])
    y = 4 * u[:, 0] + 1 * u[:, 1]  # variance shares 16/17 and 1/17, none for c
    s = first_order_indices(x, y, design="lhs")
    got = {(r.parameter, r.method): r.first_order for r in s.itertuples()}
    # A random Latin hypercube's columns correlate a little (~1/sqrt(n)), which shifts SRC**2.
    assert got[("a", "src2")] == pytest.approx(16 / 17, abs=0.05)
    assert got[("b", "src2")] == pytest.approx(1 / 17, abs=0.03)
    assert got[("c", "src2")] < 0.01
    assert got[("a", "correlation_ratio")] == pytest.approx(16 / 17, abs=0.05)
    assert got[("c", "correlation_ratio")] < 0.05
    # On an orthogonal design (nolh) SRC**2 of a linear response is exact.
    from sim.designs import nolh

    o = nolh(6)
    s3 = first_order_indices(
        pd.DataFrame(o[:, :3], columns=["a", "b", "c"]), 4 * o[:, 0] + o[:, 1], design="nolh"
    )
    src = s3[s3["method"] == "src2"].set_index("parameter")["first_order"]
    assert src["a"] == pytest.approx(16 / 17, abs=1e-12)
    assert src["b"] == pytest.approx(1 / 17, abs=1e-12)
    assert src["c"] == pytest.approx(0, abs=1e-12)
    # A non-monotone effect: invisible to a linear regression, seen by the correlation ratio.
    y2 = (u[:, 2] - 0.5) ** 2
    s2 = first_order_indices(x, y2, design="lhs")
    got2 = {(r.parameter, r.method): r.first_order for r in s2.itertuples()}
    assert got2[("c", "correlation_ratio")] > 0.9
    assert got2[("c", "src2")] < 0.05


def test_library_warns_and_draws_every_figure_shape(folder: Path) -> None:
    from sim.sweeps import SweepWarning

    sobol = {
        "scenario": str(folder / "pk1.yaml"),
        "replications": 1,
        "design": {"kind": "sobol", "samples": 3},
        "parameters": [{"path": "defenders.bat-1.magazine", "range": [1, 4]}],
    }
    with pytest.warns(SweepWarning, match="3 samples rounded up to 4"):
        res = sweep(sobol, out=folder / "fig-sobol", workers=1)
    assert len(res) == 4
    grid3 = {
        "scenario": str(folder / "pk1.yaml"),
        "replications": 1,
        "parameters": [
            {"path": "defenders.bat-1.magazine", "values": [1, 4]},
            {"path": "waves.w0.count", "values": [2, 3]},
            {"name": "pk", "path": ["weapons.sam.pk"], "values": [0.5, 1.0]},
        ],
    }
    res = sweep(grid3, out=folder / "fig-grid3", workers=1)
    assert list(res.columns[:5]) == [
        "point",
        "defenders.bat-1.magazine",
        "waves.w0.count",
        "pk",
        "seed",
    ]
    for name in ("fig-sobol", "fig-grid3"):
        assert (folder / name / "sweep.png").stat().st_size > 10_000
        assert (folder / name / "sensitivity.csv").is_file()


@pytest.mark.parametrize("finished", [0, 1])
def test_a_sweep_that_fails_before_any_point_leaves_no_folder(
    folder: Path, monkeypatch: pytest.MonkeyPatch, finished: int
) -> None:
    # An unreachable scheduler (or a Ctrl-C at once) used to leave sweep.json and an empty
    # points/ behind, which a second try then had to --resume or --overwrite. A sweep that got
    # a point done keeps its folder, to be resumed.
    from sim import sweeps as sweeps_mod

    real = sweeps_mod._run_serial

    def fail(plan: Any, todo: list[int], on_done: Any) -> None:
        real(plan, todo[:finished], on_done)
        raise KeyboardInterrupt

    monkeypatch.setattr(sweeps_mod, "_run_serial", fail)
    sweep_file = folder / "fails.yaml"
    sweep_file.write_text(GRID)
    out = folder / f"fails-out-{finished}"
    with pytest.raises(KeyboardInterrupt):
        sweeps_mod.sweep(sweep_file, out=out, workers=1, plot=False)
    if finished:
        assert len(list((out / "points").iterdir())) == finished
        assert json.loads((out / "sweep.json").read_text())["complete"] is False
    else:
        assert not out.exists()


def test_replications_override(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep_file = folder / "override.yaml"
    sweep_file.write_text(GRID)  # replications: 3
    out = folder / "override-out"
    code, stdout, _ = main(
        capsys, "sweep", str(sweep_file), "--out", str(out), "-n", "2", "-w", "1"
    )
    assert code == 0, stdout
    _, reps = tables(out)
    assert len(reps) == 6 * 2
    assert json.loads((out / "sweep.json").read_text())["replications"] == 2
    # the same points as sim.sweep with the same override, bit for bit
    lib = sweep(sweep_file, out=folder / "override-lib", workers=1, plot=False, replications=2)
    pd.testing.assert_frame_equal(lib, tables(out)[0])
    # another count is another sweep: --resume refuses it and says why
    code, _, err = main(capsys, "sweep", str(sweep_file), "--out", str(out), "--resume")
    assert code == 2
    assert "the replications per point (2 -> the file's)" in err
    code, _, err = main(capsys, "sweep", str(sweep_file), "--out", str(out), "-n", "2", "--resume")
    assert code == 0, err
    for bad in ("0", "-1", "abc"):
        code, _, err = main(capsys, "sweep", str(sweep_file), "--dry-run", "-n", bad)
        assert code == 2, bad
        assert "Traceback" not in err
    with pytest.raises(LimitError, match="between 1 and"):
        plan_sweep(sweep_file, replications=0)
    with pytest.raises(IncursionError, match="whole number"):
        plan_sweep(sweep_file, replications=2.5)  # type: ignore[arg-type]
