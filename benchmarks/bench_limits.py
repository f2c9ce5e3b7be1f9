#!/usr/bin/env python
"""Memory at the documented limits: peak RSS of child processes, as ratios against a baseline.

Run from the repository root::

    python benchmarks/bench_limits.py            # full run (about 5 min on 2 cores)
    python benchmarks/bench_limits.py --quick    # smoke mode (about 1 min; smaller sizes)

Every workload runs in a fresh child process, one after the other; its peak resident set size
is the ``ru_maxrss`` that ``os.wait4`` returns for that child (the kernel's high-water mark, so
no sampling can miss a peak). The baseline is the peak RSS of a bare
``python -c "import sim, numpy, simpy, pandas"`` measured in the same run; every figure is given
as MiB, as a ratio of that baseline, and with its wall time.

Workloads:

1. the largest allowed scenario: ``MAX_DRONES`` (20,000) drones on six axes against 100 defenders
   (92 batteries, 8 air bases; the synthetic raid of ``bench_engine.py``), one replication, DES
   engine, one worker: ``sim.run`` alone, then ``incursion run`` writing the whole run folder
   (tables, map, timeline, GeoJSON, report);
2. the reference night (``scenarios/poland-2025-09-10.yaml``, 21 drones) with many replications
   on one worker: a run keeps the results of its first replications for the tables (up to
   ``runner._MAX_TABLE_ROWS`` drone rows) and every replication's metric values, so peak RSS is
   fitted against the number of replications (MiB per 1,000 replications, by least squares over
   three sizes), the growth past the tables' replications is measured again with the tables
   capped at 100 replications (two sizes), and the two slopes extrapolate (not measured) to
   ``MAX_REPLICATIONS``. The child also reads
   its own high-water mark (``VmHWM``) when the last replication finishes, before the tables and
   summary are built, to split the peak between holding the results and assembling the tables;
   The vectorised engine on the same night: 131,072 and 1,000,000 replications (its 1e6
   run measured, not extrapolated), and its growth per 1,000 replications between the two;
3. refusals: ``incursion validate`` of a 1.5 kB "billion laughs" file that expands past
   ``MAX_NODES`` values, of a valid file of exactly ``MAX_FILE_BYTES``, and
   ``incursion sweep --dry-run`` of a grid of 10 parameters x 100 levels (1e20 points).

``--quick`` uses 2,000 drones instead of 20,000, 250 / 1,000 / 2,000 replications instead of
1,000 / 5,000 / 20,000, and 8,192 / 65,536 vectorised replications instead of 131,072 /
1,000,000. Results are printed and written to ``benchmarks/results/limits.json``
(``limits-quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine_info import loadavg
from machine_info import machine as shared_machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
REFERENCE = ROOT / "scenarios" / "poland-2025-09-10.yaml"
BASELINE_CODE = "import sim, numpy, simpy, pandas"
MIB = 1024 * 1024


# ----------------------------------------------------------------------------- child workloads
def _hwm_bytes() -> int:
    """This process's peak RSS so far (VmHWM), bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_run(
    scenario: str, replications: int, table_rows: int | None = None, engine: str = "des"
) -> dict[str, Any]:
    """``sim.run`` of a scenario file on one worker; phase times and high-water marks.

    ``table_rows``: keep the tables of fewer replications than the run would (the cap on drone
    rows, ``sim.runner._MAX_TABLE_ROWS``), to measure what grows with replications once the
    tables stop growing.
    """
    t0 = time.perf_counter()
    import sim

    if table_rows is not None:
        import sim.runner

        sim.runner._MAX_TABLE_ROWS = table_rows
    imported = _hwm_bytes()
    s = sim.load_scenario(scenario)
    t_load = time.perf_counter()
    marks: dict[str, float] = {}

    def progress(done: int, total: int) -> None:
        if done == total and "replications_done" not in marks:
            marks["replications_done"] = time.perf_counter()
            marks["hwm_replications_done"] = _hwm_bytes()

    r = sim.run(s, replications=replications, seed=1, workers=1, progress=progress, engine=engine)
    t_end = time.perf_counter()
    return {
        "drones": s.total_drones,
        "defenders": len(s.defenders),
        "replications": r.replications,
        "events": r.events,
        "drone_rows": len(r.drones),
        "shot_rows": len(r.shots),
        "hwm_after_import": imported,
        "hwm_replications_done": int(marks.get("hwm_replications_done", 0)),
        "hwm_end": _hwm_bytes(),
        "load_s": t_load - t0,
        "replications_s": marks.get("replications_done", t_end) - t_load,
        "summary_s": t_end - marks.get("replications_done", t_end),
        "total_s": t_end - t0,
        "destroyed_mean": r.summary["metrics"]["drones_destroyed"]["mean"],
    }


def child_main(argv: list[str]) -> int:
    kind, *rest = argv
    if kind == "run":
        rows = int(rest[2]) if len(rest) > 2 and rest[2] != "-" else None
        out = child_run(rest[0], int(rest[1]), rows, rest[3] if len(rest) > 3 else "des")
    elif kind == "inputs":
        out = child_inputs(Path(rest[0]), quick=rest[1] == "quick")
    else:
        raise SystemExit(f"unknown child workload {kind!r}")
    print(json.dumps(out))
    return 0


# ------------------------------------------------------------------------------------ parent
def measure(cmd: list[str], cwd: Path | None = None, timeout_s: float = 3600) -> dict[str, Any]:
    """Run ``cmd`` to completion; its peak RSS (``ru_maxrss`` from ``wait4``), wall time, output."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    # The clone's sim/ even without `pip install -e .` (the children run from anywhere).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd, env=env)
        deadline = t0 + timeout_s
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    return {
        "cmd": [Path(c).name if i == 0 else c for i, c in enumerate(cmd)],
        "returncode": proc.returncode,
        "peak_rss_bytes": usage.ru_maxrss * 1024,  # Linux reports KiB
        "wall_s": wall,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "stdout_tail": stdout[-2000:],
        "stderr_tail": stderr[-2000:],
    }


def _child(kind: str, *args: str) -> dict[str, Any]:
    m = measure([sys.executable, str(Path(__file__).resolve()), "--child", kind, *args])
    if m["returncode"] != 0:
        raise RuntimeError(f"child {kind} {args} failed:\n{m['stderr_tail']}")
    m["child"] = json.loads(m["stdout_tail"].strip().splitlines()[-1])
    return m


def machine() -> dict[str, Any]:
    info = shared_machine()
    info["sim_modified_since_head"] = info.pop("dirty")
    return info


def child_inputs(folder: Path, *, quick: bool) -> dict[str, Any]:
    """Write the scenario and refusal files the workloads read; the limits; package versions.

    A child process of its own, so that the parent stays small: a child's ``ru_maxrss`` includes
    the memory of the parent it was forked from, until it execs.
    """
    import numpy as np
    import yaml

    sys.path.insert(0, str(HERE))
    from bench_engine import synthetic_raid

    from sim import runner
    from sim.loader import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, scenario_to_document
    from sim.scenario import (
        MAX_DEFENDERS,
        MAX_DRONES,
        MAX_DURATION_H,
        MAX_REPLICATIONS,
        MAX_SENSORS,
        MAX_WAYPOINTS,
    )
    from sim.sweeps import MAX_PARAMETERS, MAX_POINTS

    table_rows = getattr(runner, "_MAX_TABLE_ROWS", None)

    # The largest allowed scenario (a tenth of it in quick mode).
    drones = MAX_DRONES // 10 if quick else MAX_DRONES
    files: dict[str, Path] = {}
    raid = synthetic_raid(drones, 100, seed=1)
    files["largest"] = folder / f"raid-{drones}.yaml"
    files["largest"].write_text(yaml.safe_dump(scenario_to_document(raid), sort_keys=False))

    text = REFERENCE.read_text(encoding="utf-8")
    # Billion laughs: seven levels of ten aliases each would expand to 10**7 values.
    bomb = ["lol0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 7)]
    files["bomb"] = folder / "laughs.yaml"
    files["bomb"].write_text(text + "\n" + "\n".join(bomb) + "\n")
    pad = MAX_FILE_BYTES - len(text.encode()) - 2
    files["big"] = folder / "five-mb.yaml"
    files["big"].write_text(text + "#" + "x" * pad + "\n")
    assert files["big"].stat().st_size == MAX_FILE_BYTES
    grid = {
        "scenario": str(ROOT / "scenarios" / "poland-cheap-layer.yaml"),
        "replications": 1,
        "design": {"kind": "grid"},
        "parameters": [
            {
                "path": "weapons.interceptor_drone.cost_usd",
                "values": [1000 + i for i in range(100)],
            },
            {"path": "weapons.interceptor_drone.pk", "values": [i / 100 for i in range(100)]},
            {"path": "weapons.aim9x.cost_usd", "values": [1e5 + i for i in range(100)]},
            {"path": "weapons.aim9x.pk", "values": [i / 100 for i in range(100)]},
            {"path": "weapons.aim120c.cost_usd", "values": [1e6 + i for i in range(100)]},
            {"path": "weapons.aim120c.pk", "values": [i / 100 for i in range(100)]},
            {"path": "weapons.piorun.cost_usd", "values": [2e5 + i for i in range(100)]},
            {"path": "weapons.piorun.pk", "values": [i / 100 for i in range(100)]},
            {"path": "weapons.gun35.cost_usd", "values": [4000 + i for i in range(100)]},
            {"path": "weapons.gun35.pk", "values": [i / 100 for i in range(100)]},
        ],
    }
    files["grid"] = folder / "grid-1e20.yaml"
    files["grid"].write_text(yaml.safe_dump(grid, sort_keys=False))
    return {
        "files": {k: str(v) for k, v in files.items()},
        "drones": drones,
        "numpy": np.__version__,
        "limits": {
            "MAX_DRONES": MAX_DRONES,
            "MAX_REPLICATIONS": MAX_REPLICATIONS,
            "MAX_DEFENDERS": MAX_DEFENDERS,
            "MAX_SENSORS": MAX_SENSORS,
            "MAX_WAYPOINTS": MAX_WAYPOINTS,
            "MAX_DURATION_H": MAX_DURATION_H,
            "MAX_POINTS": MAX_POINTS,
            "MAX_PARAMETERS": MAX_PARAMETERS,
            "MAX_FILE_BYTES": MAX_FILE_BYTES,
            "MAX_DEPTH": MAX_DEPTH,
            "MAX_NODES": MAX_NODES,
            "runner._MAX_TABLE_ROWS": table_rows,
        },
    }


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and intercept."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    return slope, my - slope * mx


def mib(b: float) -> str:
    return f"{b / MIB:,.0f} MiB"


def secs(s: float) -> str:
    return f"{s:.2f} s" if s < 10 else f"{s:.0f} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke mode: smaller sizes (~1 min)")
    ap.add_argument("--out", type=Path, default=None, help="JSON output (default: results/)")
    ap.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args.child)

    # The parent imports nothing but the standard library (see child_inputs).
    q = args.quick
    rep_sizes = [250, 1_000, 2_000] if q else [1_000, 5_000, 20_000]
    vec_sizes = [8_192, 65_536] if q else [131_072, 1_000_000]
    out_path = args.out or RESULTS / ("limits-quick.json" if q else "limits.json")
    out_path.parent.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    res: dict[str, Any] = {
        "mode": "quick" if q else "full",
        "machine": machine(),
        "load_start": loadavg(),
    }
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"incursion limits benchmark ({res['mode']}); load {res['load_start']}")

    work = Path(tempfile.mkdtemp(prefix="bench-limits-"))
    try:
        made = _child("inputs", str(work), res["mode"])["child"]
        files = {k: Path(v) for k, v in made["files"].items()}
        drones, limits = made["drones"], made["limits"]
        res["limits"] = limits
        res["machine"]["numpy"] = made["numpy"]

        # 0. baseline -------------------------------------------------------------------------
        log(f"0. baseline: python -c {BASELINE_CODE!r} (x3)")
        base_runs = [measure([sys.executable, "-c", BASELINE_CODE]) for _ in range(3)]
        base = statistics.median(m["peak_rss_bytes"] for m in base_runs)
        res["baseline"] = {
            "what": f'python -c "{BASELINE_CODE}"',
            "peak_rss_bytes": base,
            "peak_rss_bytes_all": [m["peak_rss_bytes"] for m in base_runs],
            "wall_s": statistics.median(m["wall_s"] for m in base_runs),
        }

        figures: list[dict[str, Any]] = []

        def add(key: str, label: str, m: dict[str, Any], detail: str = "") -> dict[str, Any]:
            row = {
                "key": key,
                "figure": label,
                "peak_rss_bytes": m["peak_rss_bytes"],
                "ratio_to_baseline": m["peak_rss_bytes"] / base,
                "above_baseline_bytes": m["peak_rss_bytes"] - base,
                "wall_s": m["wall_s"],
                "returncode": m["returncode"],
                "detail": detail,
            }
            if "child" in m:
                row["child"] = m["child"]
            figures.append(row)
            return row

        # 1. the largest scenario -------------------------------------------------------------
        log(f"1. largest scenario: {drones:,} drones x 100 defenders, 1 replication (sim.run)")
        m = _child("run", str(files["largest"]), "1")
        c = m["child"]
        add(
            "largest_run",
            f"{drones:,} drones x {c['defenders']} defenders, 1 replication: sim.run",
            m,
            f"replication {secs(c['replications_s'])}, {c['events']:,} events; peak when the "
            f"replication ended {mib(c['hwm_replications_done'])}",
        )
        log("1. largest scenario: incursion run (writes the run folder)")
        out_dir = work / "run-largest"
        cli = ["run", str(files["largest"]), "--out", str(out_dir), "--replications", "1"]
        m = measure([sys.executable, "-m", "sim", *cli, "--workers", "1", "--quiet"])
        if m["returncode"] != 0:
            raise RuntimeError(f"incursion run failed:\n{m['stderr_tail']}")
        folder_bytes = sum(f.stat().st_size for f in out_dir.iterdir())
        add(
            "largest_cli",
            f"{drones:,} drones, 1 replication: incursion run (run folder written)",
            m,
            f"run folder {folder_bytes / 1e6:,.1f} MB",
        )
        shutil.rmtree(out_dir, ignore_errors=True)

        # 2. replications ---------------------------------------------------------------------
        series: list[dict[str, Any]] = []
        for n in rep_sizes:
            log(f"2. reference night, {n:,} replications, 1 worker")
            m = _child("run", str(REFERENCE), str(n))
            c = m["child"]
            row = add(
                f"reference_{n}",
                f"reference night ({c['drones']} drones), {n:,} replications, 1 worker",
                m,
                f"{1e3 * c['replications_s'] / n:.1f} ms per replication; peak when the last "
                f"replication ended {mib(c['hwm_replications_done'])}, summary and tables "
                f"{secs(c['summary_s'])}",
            )
            series.append(row)
        ns = [float(r["child"]["replications"]) for r in series]
        rows, n_ref = limits.get("runner._MAX_TABLE_ROWS"), series[0]["child"]["drones"]
        slope, icpt = _fit(ns, [float(r["peak_rss_bytes"]) for r in series])
        slope_held, icpt_held = _fit(
            ns, [float(r["child"]["hwm_replications_done"]) for r in series]
        )
        # The tables keep the first ``rows // n_ref`` replications only: past them a run's memory
        # grows by what every replication keeps (its metric values), measured with the tables
        # capped at 100 replications.
        keep = rows // n_ref if rows else limits["MAX_REPLICATIONS"]
        capped: list[dict[str, Any]] = []
        for n in (rep_sizes[0], rep_sizes[-1]):
            log(f"2. reference night, {n:,} replications, tables of the first 100 only")
            m = _child("run", str(REFERENCE), str(n), str(100 * n_ref))
            capped.append(m)
        slope_after, _ = _fit(
            [float(m["child"]["replications"]) for m in capped],
            [float(m["peak_rss_bytes"]) for m in capped],
        )
        slope_after = max(slope_after, 0.0)
        n_max = limits["MAX_REPLICATIONS"]
        at_max = icpt + slope * min(n_max, keep) + slope_after * max(0, n_max - keep)
        mem = res["machine"]["mem_total_bytes"]
        res["growth"] = {
            "replications": [int(n) for n in ns],
            "peak_rss_bytes": [r["peak_rss_bytes"] for r in series],
            "hwm_replications_done_bytes": [r["child"]["hwm_replications_done"] for r in series],
            "bytes_per_1000_replications": 1000 * slope,
            "bytes_per_1000_replications_held": 1000 * slope_held,
            "replications_in_tables": keep,
            "capped_replications": [int(m["child"]["replications"]) for m in capped],
            "capped_peak_rss_bytes": [m["peak_rss_bytes"] for m in capped],
            "bytes_per_1000_replications_after_tables": 1000 * slope_after,
            "intercept_bytes": icpt,
            "extrapolated_peak_at_max_replications_bytes": at_max,
            "extrapolated_held_at_max_replications_bytes": icpt_held
            + slope_held * min(n_max, keep)
            + slope_after * max(0, n_max - keep),
            "mem_total_bytes": mem,
            "note": "extrapolation of the measured peaks, linear up to the replications the "
            "tables keep and with the slope measured with capped tables after, not a measurement"
            + (
                f"; the drone table stops growing at {rows:,} rows "
                f"({rows // n_ref:,} replications of {n_ref} drones)"
                if rows
                else ""
            ),
            "grows_with_replications": slope * 1000 > 1 * MIB,
        }

        # 2b. the vectorised engine -------------------------------------------------------------
        # It runs replications in chunks over pools of a fixed size, so what grows with the
        # replications is only what a run returns for each (its metric values, ``per_replication``).
        vec_series: list[dict[str, Any]] = []
        for n in vec_sizes:
            log(f"2b. reference night, {n:,} replications, vectorised engine, 1 worker")
            m = _child("run", str(REFERENCE), str(n), "-", "vectorised")
            c = m["child"]
            vec_series.append(
                add(
                    f"reference_vectorised_{n}",
                    f"reference night, {n:,} replications, vectorised engine, 1 worker",
                    m,
                    f"{1e6 * c['replications_s'] / n:.1f} us per replication; peak when the "
                    f"last replication ended {mib(c['hwm_replications_done'])}, summary and "
                    f"tables {secs(c['summary_s'])}",
                )
            )
        vn = [float(r["child"]["replications"]) for r in vec_series]
        v_slope, _ = _fit(vn, [float(r["peak_rss_bytes"]) for r in vec_series])
        res["growth_vectorised"] = {
            "replications": [int(n) for n in vn],
            "peak_rss_bytes": [r["peak_rss_bytes"] for r in vec_series],
            "bytes_per_1000_replications": 1000 * v_slope,
        }

        # 3. refusals -------------------------------------------------------------------------
        log("3. refusals")
        m = measure([sys.executable, "-m", "sim", "validate", str(files["bomb"])])
        add(
            "refuse_bomb",
            f"validate: 1.5 kB file expanding past {limits['MAX_NODES']:,} values (refused)",
            m,
            f"exit {m['returncode']}: {m['stderr_tail'].strip().splitlines()[-1][-90:]}",
        )
        m = measure([sys.executable, "-m", "sim", "validate", str(files["big"])])
        add(
            "accept_5mb",
            f"validate: file of exactly {limits['MAX_FILE_BYTES']:,} bytes (accepted)",
            m,
            f"exit {m['returncode']}",
        )
        m = measure([sys.executable, "-m", "sim", "sweep", str(files["grid"]), "--dry-run"])
        add(
            "refuse_grid",
            "sweep --dry-run: grid of 10 parameters x 100 levels = 1e20 points (refused)",
            m,
            f"exit {m['returncode']}: {m['stderr_tail'].strip().splitlines()[-1][-90:]}",
        )
        res["figures"] = figures
    finally:
        shutil.rmtree(work, ignore_errors=True)

    res["load_end"] = loadavg()
    res["elapsed_s"] = time.perf_counter() - started
    half = 0.5 * max(1, res["machine"]["nproc"])
    res["load_warning"] = (res["load_start"] or [0.0])[0] > half
    res["summary_rows"] = summary_rows(res)
    out_path.write_text(json.dumps(res, indent=2, default=float) + "\n", encoding="utf-8")
    report(res)
    shown = out_path.relative_to(ROOT) if out_path.is_relative_to(ROOT) else out_path
    print(f"\nwrote {shown}")
    return 0


def summary_rows(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for ``run_all.py``: figure, value, baseline, ratio, aim / verdict."""
    base = res["baseline"]["peak_rss_bytes"]
    rows = []
    for f in res["figures"]:
        rows.append(
            {
                "figure": f"peak RSS, {f['figure']}",
                "value": f"{mib(f['peak_rss_bytes'])} ({secs(f['wall_s'])})",
                "baseline": f"{mib(base)} (import)",
                "ratio": f"{f['ratio_to_baseline']:.2f}x",
                "verdict": "",
            }
        )
    g = res["growth"]
    mem = g["mem_total_bytes"]
    at_max = g["extrapolated_peak_at_max_replications_bytes"]
    rows.append(
        {
            "figure": "peak RSS growth per 1,000 replications (reference night, 1 worker)",
            "value": f"{g['bytes_per_1000_replications'] / MIB:.1f} MiB",
            "baseline": f"{mib(base)} (import)",
            "ratio": f"{g['bytes_per_1000_replications'] / base:.3f}x",
            "verdict": "grows with replications"
            if g["grows_with_replications"]
            else "flat in replications",
        }
    )
    rows.append(
        {
            "figure": f"peak RSS growth per 1,000 replications past the "
            f"{g['replications_in_tables']:,} the tables keep",
            "value": f"{g['bytes_per_1000_replications_after_tables'] / MIB:.2f} MiB",
            "baseline": f"{mib(base)} (import)",
            "ratio": f"{g['bytes_per_1000_replications_after_tables'] / base:.4f}x",
            "verdict": "",
        }
    )
    gv = res["growth_vectorised"]
    rows.append(
        {
            "figure": "peak RSS growth per 1,000 replications, vectorised engine (reference "
            f"night, {gv['replications'][0]:,} to {gv['replications'][-1]:,})",
            "value": f"{gv['bytes_per_1000_replications'] / MIB:.2f} MiB",
            "baseline": f"{mib(base)} (import)",
            "ratio": f"{gv['bytes_per_1000_replications'] / base:.4f}x",
            "verdict": "",
        }
    )
    rows.append(
        {
            "figure": f"extrapolated peak RSS at {res['limits']['MAX_REPLICATIONS']:,} "
            "replications (not measured)",
            "value": f"{at_max / 2**30:,.1f} GiB",
            "baseline": f"{mem / 2**30:,.1f} GiB RAM",
            "ratio": f"{at_max / mem:.2f}x RAM" if mem else "",
            "verdict": "fits in RAM" if mem and at_max < 0.8 * mem else "does NOT fit in RAM",
        }
    )
    return rows


def report(res: dict[str, Any]) -> None:
    info = res["machine"]
    base = res["baseline"]
    print(
        f"\nmachine: {info['cpu']}, {info['nproc']} cores, "
        f"{info['mem_total_bytes'] / 2**30:.1f} GiB RAM, Python {info['python']}, numpy "
        f"{info['numpy']}, git {info['git_head']}"
        f"{' + uncommitted sim/ changes' if info['sim_modified_since_head'] else ''}, "
        f"{info['date']}"
    )
    print(f"load average (1/5/15 min): start {res['load_start']}, end {res['load_end']}")
    if res["load_warning"]:
        print("WARNING: other load above half the cores at the start; wall times are inflated")
    print(
        f"baseline: {base['what']}: peak RSS {mib(base['peak_rss_bytes'])} "
        f"(runs: {', '.join(mib(b) for b in base['peak_rss_bytes_all'])}), "
        f"{secs(base['wall_s'])}\n"
    )
    rows = [["figure", "peak RSS", "x baseline", "wall", "detail"]]
    for f in res["figures"]:
        rows.append(
            [
                f["figure"],
                mib(f["peak_rss_bytes"]),
                f"{f['ratio_to_baseline']:.2f}x",
                secs(f["wall_s"]),
                f["detail"],
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4])
        if i == 0:
            print("  ".join("-" * w for w in widths) + "  ------")
    g = res["growth"]
    print(
        f"\ngrowth with replications (least squares over "
        f"{', '.join(f'{n:,}' for n in g['replications'])}): "
        f"{g['bytes_per_1000_replications'] / MIB:.1f} MiB per 1,000 replications at the peak, "
        f"{g['bytes_per_1000_replications_held'] / MIB:.1f} MiB per 1,000 held when the last "
        f"replication ends"
    )
    capped = ", ".join(f"{n:,}" for n in g["capped_replications"])
    print(
        f"past the {g['replications_in_tables']:,} replications the tables keep (measured with "
        f"tables capped at 100 replications, {capped} replications): "
        f"{g['bytes_per_1000_replications_after_tables'] / MIB:.2f} MiB per 1,000"
    )
    print(
        f"extrapolated (not measured) to {res['limits']['MAX_REPLICATIONS']:,} "
        f"replications: peak {g['extrapolated_peak_at_max_replications_bytes'] / 2**30:.1f} GiB "
        f"(results held {g['extrapolated_held_at_max_replications_bytes'] / 2**30:.1f} GiB); "
        f"machine RAM {g['mem_total_bytes'] / 2**30:.1f} GiB"
    )


if __name__ == "__main__":
    sys.exit(main())
