"""Interruption and concurrency of `incursion run`: a complete run folder or none, never mixed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

SCENARIO = {
    "name": "slow",
    "duration_h": 6,
    "drone_types": {
        "g": {"speed_kmh": 150, "altitude_m": 500, "cost_usd": 1e4, "endurance_km": 700}
    },
    "waves": [
        {
            "name": "w",
            "type": "g",
            "count": 10,
            "launch": {"lat": 52.9, "lon": 25.4},
            "launch_time_min": [0, 90],
            "route": [{"lat": 52.3, "lon": 23.6}, {"lat": 51.9, "lon": 21.0}],
            "route_spread_km": 5,
        }
    ],
    "sensors": [{"name": "r", "lat": 52.2, "lon": 22.5, "range_km": 250, "antenna_height_m": 30}],
    "weapons": {
        "m": {
            "cost_usd": 1e5,
            "pk": 0.7,
            "max_range_km": 25,
            "max_altitude_m": 10000,
            "speed_mps": 1000,
        }
    },
    "defenders": [
        {"kind": "battery", "name": "b", "weapon": "m", "lat": 52.1, "lon": 22.0, "magazine": 8}
    ],
}


def _sigint_default() -> None:
    # A shell's background job (``cmd &``, nohup) starts with Ctrl-C ignored, and Python then
    # keeps ignoring it, as it should; the run under test must get Ctrl-C as a terminal gives it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(path: Path, out: Path, reps: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sim", "run", str(path), "-n", str(reps), "-w", "1", "-q",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_sigint_default,
    )  # fmt: skip


def _wait_until_running(proc: subprocess.Popen, out: Path, timeout: float = 120.0) -> None:
    """Return once ``proc`` holds the lock of ``out`` (seen in ``/proc/locks``, without touching
    the lock): past its imports and checks, running.

    A fixed sleep was not enough on a loaded machine: a signal that lands while Python is still
    importing can be swallowed (raised inside an import-lock callback), and the run then goes
    on for its 100,000 replications.
    """
    lock = out.parent / f".{out.name}.lock"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if lock.exists():
            inode = f":{lock.stat().st_ino} "
            held = Path("/proc/locks").read_text().splitlines()
            if any(f" {proc.pid} " in line and inode in line for line in held):
                time.sleep(0.5)  # inside the run's loop by now
                return
        time.sleep(0.05)
    raise AssertionError(f"the run did not start within {timeout} s")


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    f = tmp_path / "slow.yaml"
    f.write_text(yaml.safe_dump(SCENARIO))
    return f


def _leftovers(parent: Path, name: str) -> list[str]:
    return [
        p.name for p in parent.iterdir() if p.name.startswith(f".{name}.") and "lock" not in p.name
    ]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_run_leaves_no_folder(scenario_file: Path, tmp_path: Path, sig: int) -> None:
    out = tmp_path / "run"
    proc = _start(scenario_file, out, 100_000)
    _wait_until_running(proc, out)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err
    assert not out.exists()
    assert _leftovers(tmp_path, "run") == []


def test_interrupted_rerun_keeps_the_previous_folder(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(scenario_file), "-n", "3", "-w", "1", "-q",
         "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = _start(scenario_file, out, 100_000)
    _wait_until_running(proc, out)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before
    assert json.loads(after["summary.json"])["replications"] == 3


def test_second_run_on_the_same_folder_refuses(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _start(scenario_file, out, 100_000)
    try:
        _wait_until_running(first, out)
        assert first.poll() is None
        second = subprocess.run(
            [sys.executable, "-m", "sim", "run", str(scenario_file), "-n", "2", "-q",
             "--out", str(out)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert second.returncode == 2
        assert "being written by" in second.stderr
        assert "Traceback" not in second.stderr
        assert not out.exists()
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert os.listdir(tmp_path)  # the lock file may stay; it is released with the process
