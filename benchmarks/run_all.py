#!/usr/bin/env python
"""Run the whole benchmark suite and print one summary table.

Run from the repository root::

    python benchmarks/run_all.py            # full suite (about 10 min on 2 cores)
    python benchmarks/run_all.py --quick    # smoke mode (about 2 min)

Runs ``bench_engine.py``, ``bench_sweep.py``, ``bench_vectorised.py``, ``bench_limits.py`` and
``bench_outputs.py`` one after the other, each as a subprocess of its own (so each gets the
machine to itself; their own output is shown as they go), then reads the JSON each wrote into
``benchmarks/results/`` and prints one table: figure, value (with the absolute time for context),
the baseline it is compared with (measured in the same run by the same script), the ratio, and
the aim and verdict where the script gives one. The table is also written to
``benchmarks/results/summary.md`` (``summary-quick.md``).

Every script writes ``<name>-quick.json`` with ``--quick``, so a smoke run never replaces the
recorded figures.

Exit status 0 if every script ran and wrote its results, else 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from machine_info import machine as shared_machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

Row = dict[str, str]


def _rate(x: float) -> str:
    for div, unit in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= div:
            return f"{x / div:.2f}{unit}"
    return f"{x:.2f} "


def _s(x: float) -> str:
    if x < 1e-3:
        return f"{x * 1e6:.0f} us"
    if x < 1:
        return f"{x * 1e3:.1f} ms"
    return f"{x:.2f} s" if x < 100 else f"{x:.0f} s"


def _verdict(ok: bool | None, aim: str) -> str:
    if ok is None:
        return aim
    return f"{aim}: {'met' if ok else 'NOT met'}"


def _row(figure: str, value: str, baseline: str = "", ratio: str = "", verdict: str = "") -> Row:
    return {
        "figure": figure,
        "value": value,
        "baseline": baseline,
        "ratio": ratio,
        "verdict": verdict,
    }


# ------------------------------------------------------------------------- rows of each script
def engine_rows(r: dict[str, Any]) -> list[Row]:
    bare = r["bare_simpy"]["timeouts_per_s"]
    mid, aims = r["engine"], r.get("aims", {})
    m = mid["median"]
    rows = [
        _row(
            "bare SimPy env.timeout events/s",
            f"{_rate(bare)}/s ({_s(r['bare_simpy']['median_s'])} per "
            f"{r['bare_simpy']['timeouts']:,})",
            "baseline",
            "",
            f"end of run: {r['baseline_drift']:+.1%}",
        ),
        _row(
            f"engine events/s, Simulation.run() ({mid['drones']} drones x "
            f"{mid['defenders']} defenders)",
            f"{_rate(mid['events_per_s_run'])}/s ({_s(m['run_s'])} per replication)",
            f"{_rate(bare)}/s bare SimPy",
            f"{mid['events_ratio_run_vs_bare']:.1%}",
            _verdict(aims.get("engine_ratio_ge_30pct"), ">= 30 %"),
        ),
    ]

    def per_rep(label: str, x: dict[str, Any], verdict: str = "") -> Row:
        # Baseline: what bare SimPy needs for the same number of events, in this run.
        t, ev = x["median"]["total_s"], x["median"]["events"]
        bare_t = ev / bare
        return _row(
            f"{label} ({x['drones']:,} drones, {x['defenders']} defenders) per replication",
            _s(t),
            f"{_s(bare_t)} = bare SimPy, {ev:,.0f} events",
            f"{t / bare_t:.0f}x",
            verdict,
        )

    for name, x in r.get("reference", {}).items():
        if "median" not in x:
            rows.append(_row(name, "skipped", "", "", x.get("skipped", "")[:60]))
            continue
        v = _verdict(aims.get("reference_lt_10ms"), "< 10 ms") if name.startswith("poland") else ""
        rows.append(per_rep(name, x, v))
    prev = None
    for x in r.get("scaling", []):
        v = ""
        if x["size"] == 1000:
            v = _verdict(aims.get("d1000_lt_0_5s"), "< 0.5 s")
        if prev is None:
            rows.append(per_rep("scaling", x, v))
        else:
            slope = x["slope_from_previous"]["total_s"]
            rows.append(
                _row(
                    f"scaling: {x['size']:,} drones x 100 defenders per replication",
                    _s(x["median"]["total_s"]),
                    f"{_s(prev['median']['total_s'])} at {prev['size']:,} drones",
                    f"{x['median']['total_s'] / prev['median']['total_s']:.1f}x",
                    (v + "; " if v else "") + f"slope {slope:.2f} (aim ~1)",
                )
            )
        prev = x
    g = r.get("geometry")
    if g:
        rows.append(
            _row(
                "circle_windows leg x battery pairs/s",
                f"{_rate(g['numpy_pairs_per_s'])}/s ({_s(g['numpy_median_s'])})",
                f"{_rate(g['python_pairs_per_s'])}/s plain Python",
                f"{g['speedup_vs_python']:.0f}x",
            )
        )
        rows.append(
            _row(
                "circle_windows compulsory bytes/s",
                f"{_rate(g['core_bytes_per_s'])}B/s",
                f"{_rate(g['copy_bytes_per_s'])}B/s np.copyto",
                f"{g['core_vs_copy_bandwidth']:.1%}",
            )
        )
    return rows


def sweep_rows(r: dict[str, Any]) -> list[Row]:
    th, ov = r["throughput"], r["overhead"]
    aim = th.get("aim", 1.7)
    return [
        _row(
            f"sweep, 1 worker ({th['sweep']})",
            f"{th['points_per_s_1_worker']:.2f} points/s ({_s(min(th['seconds_1_worker']))})",
            "baseline",
        ),
        _row(
            "sweep, 2 workers (process pool)",
            f"{th['points_per_s_2_workers']:.2f} points/s ({_s(min(th['seconds_2_workers']))})",
            f"{th['points_per_s_1_worker']:.2f} points/s, 1 worker",
            f"{th['speedup_2_vs_1']:.2f}x",
            _verdict(th["speedup_2_vs_1"] >= aim, f">= {aim}x")
            + f"; got {th['cores_used_2_workers']:.2f} cores",
        ),
        _row(
            "sweep, 2 workers, speed-up from CPU time",
            f"{th['speedup_from_cpu']:.2f}x",
            "CPU s of 1 worker",
            f"{th['speedup_from_cpu']:.2f}x",
        ),
        _row(
            "per point, Dask LocalCluster (2 workers)",
            _s(ov["s_per_point_dask"]),
            f"{_s(ov['s_per_point_pool'])} local pool",
            f"{ov['s_per_point_dask'] / ov['s_per_point_pool']:.2f}x",
            f"+{_s(ov['dask_extra_s_per_point'])} per point",
        ),
        _row(
            "per point, local pool (2 workers)",
            _s(ov["s_per_point_pool"]),
            f"{_s(ov['s_per_point_serial'])} serial",
            f"{ov['s_per_point_pool'] / ov['s_per_point_serial']:.2f}x",
        ),
        _row(
            "Dask LocalCluster start / stop",
            f"{_s(ov['dask_cluster_start_s'])} / {_s(ov['dask_cluster_stop_s'])}",
        ),
    ]


def vectorised_rows(r: dict[str, Any]) -> list[Row]:
    f = r["figures"]
    des = f["des_replications_per_s"]
    measured = f.get("vectorised_seconds_per_million_measured")
    million = f["vectorised_seconds_per_million"] if measured is None else measured
    million_text = f"1e6 in {_s(million)}" + (" measured" if measured is not None else "")
    return [
        _row(
            "SimPy engine replications/s (reference night)",
            f"{des:,.0f}/s ({_s(1 / des)} each)",
            "baseline",
        ),
        _row(
            "vectorised engine replications/s (reference night)",
            f"{f['vectorised_replications_per_s']:,.0f}/s ({million_text})",
            f"{des:,.0f}/s SimPy",
            f"{f['speedup_replications']:.1f}x",
            _verdict(f["speedup_replications"] >= 300, ">= 300x")
            + "; "
            + _verdict(million < 10, "1e6 < 10 s"),
        ),
        _row(
            "time to a 1 % CER interval half-width",
            f"{_s(f['vectorised_seconds_for_1pct_half_width'])} vectorised",
            f"{_s(f['des_seconds_for_1pct_half_width'])} SimPy",
            f"{f['speedup_effective']:.1f}x",
        ),
        *(
            [
                _row(
                    "the same, vectorised with independent templates instead of Sobol' sets",
                    f"{_s(f['vectorised_seconds_for_1pct_half_width'])} Sobol' sets",
                    _s(f["vectorised_independent_templates_seconds_for_1pct_half_width"]),
                    f"{f['sobol_gain_effective']:.1f}x",
                )
            ]
            if "sobol_gain_effective" in f
            else []
        ),
        *(
            [
                _row(
                    "variance of a cluster's mean CER / that of independent replications",
                    f"{f['vectorised_cluster_variance_ratio']:.2f} Sobol' sets",
                    f"{f['vectorised_independent_templates_cluster_variance_ratio']:.2f} "
                    "independent templates",
                )
            ]
            if "vectorised_cluster_variance_ratio" in f
            else []
        ),
        *(
            [
                _row(
                    f"one sweep point, {reps:,} replications (reference night, tables off)",
                    f"{_s(f[f'sweep_point_{reps}_vectorised_s'])} vectorised",
                    f"{_s(f[f'sweep_point_{reps}_des_s'])} SimPy"
                    + (" (from 40)" if reps > 40 else ""),
                    f"{f[f'sweep_point_{reps}_speedup']:.1f}x",
                )
                for reps in (40, 1000)
            ]
            if "sweep_point_40_speedup" in f
            else []
        ),
        *(
            [
                _row(
                    "sls-raid (20 drones, shoot-look-shoot): bare numpy Monte Carlo replications/s",
                    f"{f['sls_bare_numpy_replications_per_s'] / 1e6:.2f} M/s",
                    "baseline",
                ),
                _row(
                    "sls-raid: vectorised engine replications/s",
                    f"{f['sls_vectorised_replications_per_s']:,.0f}/s "
                    f"(CER {f['sls_vectorised_cer']:.3f}, exact {f['sls_closed_form_cer']:.3f}; "
                    f"kills z {f['sls_vectorised_z_kills']:.1f}, shots z "
                    f"{f['sls_vectorised_z_shots']:.1f})",
                    f"{f['sls_bare_numpy_replications_per_s'] / 1e6:.2f} M/s bare numpy",
                    f"1/{f['sls_bare_over_vectorised']:.0f}",
                    _verdict(f["sls_bare_over_vectorised"] <= 10, "within 10x of bare numpy"),
                ),
            ]
            if "sls_bare_over_vectorised" in f
            else []
        ),
    ]


def given_rows(r: dict[str, Any]) -> list[Row]:
    """The rows a script wrote itself (``summary_rows``)."""
    return [_row(**row) for row in r["summary_rows"]]


# ------------------------------------------------------------------------------------ driver
Bench = tuple[str, str, str, Callable[[dict[str, Any]], list[Row]]]
BENCHES: list[Bench] = [
    # script, results file (full), results file (quick), rows
    ("bench_engine.py", "engine.json", "engine-quick.json", engine_rows),
    ("bench_sweep.py", "sweep.json", "sweep-quick.json", sweep_rows),
    ("bench_vectorised.py", "vectorised.json", "vectorised-quick.json", vectorised_rows),
    ("bench_limits.py", "limits.json", "limits-quick.json", given_rows),
    ("bench_outputs.py", "outputs.json", "outputs-quick.json", given_rows),
]


def machine() -> dict[str, Any]:
    return shared_machine(watched=("sim", "benchmarks"))


def loadavg() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def table(rows: list[Row]) -> str:
    """A Markdown table (readable as plain text too)."""
    cols = ["figure", "value", "baseline", "ratio", "verdict"]
    heads = ["figure", "value (time)", "baseline (same run)", "ratio", "aim / verdict"]
    cells = [heads] + [[r[c].replace("|", "/") for c in cols] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
             for line in cells]  # fmt: skip
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke mode of every script")
    ap.add_argument(
        "--only",
        nargs="+",
        choices=["engine", "sweep", "vectorised", "limits", "outputs"],
        metavar="NAME",
        help="run only these (engine, sweep, vectorised, limits, outputs); the others' last "
        "results are not shown",
    )
    args = ap.parse_args(argv)
    q = args.quick
    info = machine()
    load_start = loadavg()
    started = time.time()
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    rows_by: list[tuple[str, list[Row]]] = []
    for script, full_json, quick_json, rows_of in BENCHES:
        name = script.removeprefix("bench_").removesuffix(".py")
        if args.only and name not in args.only:
            continue
        target = RESULTS / (quick_json if q else full_json)
        cmd = [sys.executable, str(HERE / script), *(["--quick"] if q else [])]
        print(f"\n=== {script}{' --quick' if q else ''} (load {loadavg()}) ===", flush=True)
        t0 = time.time()
        rc = subprocess.run(cmd, cwd=ROOT, check=False).returncode
        wall = time.time() - t0
        fresh = target.exists() and target.stat().st_mtime >= t0
        runs.append({"script": script, "rc": rc, "wall_s": wall, "json": target, "fresh": fresh})
        if rc != 0 or not fresh:
            why = f"exit {rc}" if rc != 0 else f"{target.name} not written"
            rows_by.append((name, [_row(f"{script} failed", why)]))
            continue
        try:
            rows = rows_of(json.loads(target.read_text(encoding="utf-8")))
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            rows = [_row(f"{target.name}: cannot read", f"{type(exc).__name__}: {exc}"[:80])]
            runs[-1]["rc"] = runs[-1]["rc"] or 1
        rows_by.append((name, rows))

    load_end = loadavg()
    elapsed = time.time() - started
    mline = (
        f"machine: {info['cpu']}, {info['nproc']} cores, "
        f"{info['mem_total_bytes'] / 2**30:.1f} GiB RAM, Python "
        f"{info['python']}, {info['platform']}; git {info['git_head']}"
        f"{' + uncommitted changes' if info['dirty'] else ''}; {info['date']}; load average "
        f"(1/5/15 min) {load_start} at the start, {load_end} at the end; "
        f"{'quick' if q else 'full'} suite, {elapsed / 60:.1f} min"
    )
    all_rows: list[Row] = []
    for name, rows in rows_by:
        all_rows.append(_row(f"**{name}**", ""))
        all_rows.extend(rows)
    scripts = "\n".join(
        f"- `{r['script']}`: exit {r['rc']}, {r['wall_s']:.0f} s, "
        f"`results/{r['json'].name}`{'' if r['fresh'] else ' (NOT written)'}"
        for r in runs
    )
    text = f"{mline}\n\n{table(all_rows)}\n\n{scripts}\n"
    print("\n" + "=" * 30 + " summary " + "=" * 30)
    print(text)
    out = RESULTS / ("summary-quick.md" if q else "summary.md")
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0 if all(r["rc"] == 0 and r["fresh"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
