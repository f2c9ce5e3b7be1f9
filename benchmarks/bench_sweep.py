#!/usr/bin/env python
"""Sweep benchmarks: parallel speed-up of the local pool, and the cost of the Dask path.

Run from the repository root::

    python benchmarks/bench_sweep.py           # full run (about 2 minutes on 2 cores)
    python benchmarks/bench_sweep.py --quick   # smoke mode (about 30 s)

Figures (see benchmarks/README.md, section "Sweeps"):

1. throughput: design points per second of the same sweep (a grid on the reference night's
   cheap-layer variant, ``scenarios/poland-cheap-layer.yaml``, 24 points x 20 replications) with
   1 local worker (in-process) and 2 local workers (process pool); the speed-up 2 vs 1 (aim >= 1.7
   on two cores). Timed: ``sim.sweeps.execute`` without the figure (the tables and point files are
   written), best and median of repeats.
2. per-point overhead: a sweep of 64 trivial points (a 1-drone scenario, one replication each) on
   the local pool and on a Dask ``LocalCluster`` (2 single-threaded worker processes, loopback),
   both already warm; wall seconds per point of each, and the Dask path's extra cost per point.
   Cluster start-up and shut-down are timed separately.

Results are printed and written to ``benchmarks/results/sweep.json`` (``sweep-quick.json`` with
``--quick``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

try:
    import sim  # noqa: F401
except ImportError:  # running from a clone without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from sim.loader import dump_resolved_yaml  # noqa: E402
from sim.scenario import Scenario  # noqa: E402
from sim.sweeps import dask_client, execute, plan_sweep  # noqa: E402

clock = time.perf_counter
AIM_SPEEDUP = 1.7

IDT = ["podlasie", "terespol", "wlodawa", "hrubieszow", "siedlce", "radzyn", "zamosc"]
WAVES = [
    "by-north-olesno",
    "by-wlodawa-lodz",
    "by-siedlce-warsaw",
    "by-terespol",
    "ua-tripoint",
    "ua-rzeszow",
    "ua-swietokrzyskie",
]


def throughput_sweep(folder: Path, replications: int) -> Path:
    """24 points on the cheap-layer night: interceptor magazine x AIM-9X load x 2 raid sizes."""
    idt = "\n".join(f"      - defenders.idt-{n}.magazine" for n in IDT)
    waves = "\n".join(f"      - waves.{n}.count" for n in WAVES)
    text = f"""\
scenario: {ROOT / "scenarios" / "poland-cheap-layer.yaml"}
replications: {replications}
seed: 1
design: {{kind: grid}}
parameters:
  - name: idt_magazine
    path:
{idt}
    values: [0, 6, 12, 24]
  - name: fighter_aim9x
    path: [defenders.qra-f35-lask.loadout.aim9x, defenders.qra-f16-krzesiny.loadout.aim9x]
    values: [1, 2, 4]
  - name: drones_per_axis
    path:
{waves}
    values: [3, 4]
"""
    path = folder / "throughput.yaml"
    path.write_text(text)
    return path


def trivial_sweep(folder: Path, points: int) -> Path:
    """``points`` design points of a 1-drone scenario, one replication each."""
    scen = Scenario.model_validate(
        {
            "name": "trivial",
            "duration_h": 2,
            "drone_types": {
                "d": {"speed_kmh": 150, "altitude_m": 500, "cost_usd": 1e4, "endurance_km": 600}
            },
            "waves": [
                {
                    "name": "w",
                    "type": "d",
                    "count": 1,
                    "launch": {"lat": 52.2, "lon": 24.5},
                    "route": [{"lat": 52.2, "lon": 22.0}],
                }
            ],
        }
    )
    (folder / "trivial.yaml").write_text(dump_resolved_yaml(scen))
    path = folder / "trivial-sweep.yaml"
    path.write_text(
        "scenario: trivial.yaml\nreplications: 1\nseed: 1\n"
        f"design: {{kind: lhs, samples: {points}}}\n"
        "parameters:\n  - path: waves.w.speed_kmh\n    range: [100, 200]\n"
    )
    return path


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed_execute(plan: Any, out: Path, cpu: list[float] | None = None, **kw: Any) -> float:
    """Wall seconds of ``execute``; appends the CPU seconds of this process and its (joined)
    worker processes to ``cpu``."""
    c0 = _cpu()
    t0 = clock()
    execute(plan, out, overwrite=True, plot=False, **kw)
    wall = clock() - t0
    if cpu is not None:
        cpu.append(_cpu() - c0)
    return wall


def git_head() -> str:
    with contextlib.suppress(Exception):
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke mode (fewer repeats)")
    ap.add_argument("--out", type=Path, help="results JSON (default results/sweep[-quick].json)")
    args = ap.parse_args()
    repeats = 1 if args.quick else 5
    reps = 8 if args.quick else 20
    n_trivial = 32 if args.quick else 64
    load_start = os.getloadavg()
    warnings.simplefilter("ignore")
    out: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_head": git_head(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "quick": args.quick,
        "load_start": load_start,
    }
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        folder = Path(tmp)

        # 1. Throughput, 1 vs 2 local workers.
        plan = plan_sweep(throughput_sweep(folder, reps))
        timed_execute(plan, folder / "warm", workers=1)  # imports, caches
        t1, t2, cpu1, cpu2 = [], [], [], []
        for _ in range(repeats):
            t1.append(timed_execute(plan, folder / "w1", cpu1, workers=1))
            t2.append(timed_execute(plan, folder / "w2", cpu2, workers=2))
        n = plan.n_points
        pps1, pps2 = n / min(t1), n / min(t2)
        best2 = t2.index(min(t2))
        out["throughput"] = {
            "sweep": f"poland-cheap-layer grid, {n} points x {reps} replications",
            "points": n,
            "replications": reps,
            "seconds_1_worker": t1,
            "seconds_2_workers": t2,
            "points_per_s_1_worker": pps1,
            "points_per_s_2_workers": pps2,
            "points_per_s_1_worker_median": n / statistics.median(t1),
            "points_per_s_2_workers_median": n / statistics.median(t2),
            "speedup_2_vs_1": pps2 / pps1,
            "speedup_2_vs_1_median": statistics.median(t1) / statistics.median(t2),
            "aim": AIM_SPEEDUP,
            "cpu_seconds_1_worker": cpu1,
            "cpu_seconds_2_workers": cpu2,
            # Cores the 2-worker run actually got (CPU seconds / wall seconds): below ~1.9, other
            # processes held a core part of the time.
            "cores_used_2_workers": cpu2[best2] / t2[best2],
            # The speed-up two free cores would give if the work split evenly: CPU of the serial
            # run over half the CPU of the pooled run (pool overhead included, tail idle not).
            "speedup_from_cpu": min(cpu1) / (cpu2[best2] / 2),
        }

        # 2. Per-point overhead: local pool vs Dask LocalCluster (both warm).
        plan = plan_sweep(trivial_sweep(folder, n_trivial))
        timed_execute(plan, folder / "t-warm", workers=2)
        pool = [timed_execute(plan, folder / "t-pool", workers=2) for _ in range(repeats)]
        serial = [timed_execute(plan, folder / "t-serial", workers=1) for _ in range(repeats)]
        t0 = clock()
        with dask_client(None, workers=2) as client:
            start_s = clock() - t0
            timed_execute(plan, folder / "t-dask-warm", scheduler=client)
            dask = [
                timed_execute(plan, folder / "t-dask", scheduler=client) for _ in range(repeats)
            ]
            t0 = clock()
        stop_s = clock() - t0
        per = {
            k: min(v) / n_trivial for k, v in (("serial", serial), ("pool", pool), ("dask", dask))
        }
        out["overhead"] = {
            "sweep": f"{n_trivial} points of a 1-drone scenario, 1 replication each, 2 workers",
            "seconds_serial": serial,
            "seconds_pool": pool,
            "seconds_dask": dask,
            "s_per_point_serial": per["serial"],
            "s_per_point_pool": per["pool"],
            "s_per_point_dask": per["dask"],
            "dask_extra_s_per_point": per["dask"] - per["pool"],
            "dask_cluster_start_s": start_s,
            "dask_cluster_stop_s": stop_s,
        }
    out["load_end"] = os.getloadavg()
    # Contention shows in the cores the 2-worker run got (the load average lags, and counts this
    # benchmark's own processes).
    busy = out["throughput"]["cores_used_2_workers"] < 1.8

    th, ov = out["throughput"], out["overhead"]
    ok = "meets" if th["speedup_2_vs_1"] >= AIM_SPEEDUP else "BELOW"
    lines = [
        f"sweep benchmark ({'quick' if args.quick else 'full'}), {th['sweep']}",
        f"  1 worker : {th['points_per_s_1_worker']:.2f} points/s (best of {repeats})",
        f"  2 workers: {th['points_per_s_2_workers']:.2f} points/s",
        f"  speed-up 2 vs 1: {th['speedup_2_vs_1']:.2f}x"
        f" (median {th['speedup_2_vs_1_median']:.2f}x; {ok} the aim of {AIM_SPEEDUP}x)",
        f"  the 2-worker run got {th['cores_used_2_workers']:.2f} cores; on two free cores,"
        f" from CPU time: {th['speedup_from_cpu']:.2f}x",
        f"per-point wall, {ov['sweep']}:",
        f"  serial {ov['s_per_point_serial'] * 1e3:.1f} ms, pool {ov['s_per_point_pool'] * 1e3:.1f}"
        f" ms, dask {ov['s_per_point_dask'] * 1e3:.1f} ms"
        f" (dask extra {ov['dask_extra_s_per_point'] * 1e3:+.1f} ms per point)",
        f"  LocalCluster start {ov['dask_cluster_start_s']:.2f} s, stop"
        f" {ov['dask_cluster_stop_s']:.2f} s",
        f"load average {load_start[0]:.2f} -> {out['load_end'][0]:.2f}"
        + (
            " (busy machine: the 2-worker run did not get two cores; the wall-clock speed-up is"
            " pessimistic, trust the CPU-time figure)"
            if busy
            else ""
        ),
    ]
    print("\n".join(lines))
    target = args.out or RESULTS / ("sweep-quick.json" if args.quick else "sweep.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    logging.getLogger("distributed").setLevel(logging.ERROR)
    main()
