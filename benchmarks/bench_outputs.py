#!/usr/bin/env python
"""Writing a run folder's CSV tables: the compiled writer against pandas, in the same run.

Run from the repository root::

    python benchmarks/bench_outputs.py            # full run (about 1 min)
    python benchmarks/bench_outputs.py --quick    # smoke mode (a tenth of the rows)

The tables are those of the reference night run with the vectorised engine for as many
replications as a run folder keeps (``runner._MAX_TABLE_ROWS`` drone rows, about a million, with
their shots and sorties; ``--quick``: a tenth). Each table is written by
``DataFrame.to_csv(float_format="%.6f")`` (the baseline) and by ``sim.csvtable.write_csv``,
alternately, three times each; the figures are the medians, and the bytes must be identical.
Results go to ``benchmarks/results/outputs.json`` (``outputs-quick.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from machine_info import loadavg, machine

import sim
from sim import runner
from sim.csvtable import FLOAT_FORMAT, write_csv

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
REPEATS = 3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the rows")
    args = ap.parse_args(argv)
    scenario = sim.load_scenario(ROOT / "scenarios" / "poland-2025-09-10.yaml")
    reps = runner._MAX_TABLE_ROWS // 21 // (10 if args.quick else 1)
    load_start = loadavg()
    result = sim.run(scenario, replications=reps, seed=1, engine="vectorised", workers=1)
    tables = {"drones": result.drones, "shots": result.shots, "sorties": result.sorties}
    with tempfile.TemporaryDirectory() as tmp:
        write_csv(tables["sorties"], Path(tmp) / "warm.csv")  # loads the compiled writer
        times: dict[str, dict[str, list[float]]] = {n: {"pandas": [], "fast": []} for n in tables}
        sizes = {}
        for _ in range(REPEATS):
            for name, frame in tables.items():
                a, b = Path(tmp) / f"{name}-pandas.csv", Path(tmp) / f"{name}-fast.csv"
                t = time.perf_counter()
                frame.to_csv(a, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
                times[name]["pandas"].append(time.perf_counter() - t)
                t = time.perf_counter()
                write_csv(frame, b)
                times[name]["fast"].append(time.perf_counter() - t)
                if a.read_bytes() != b.read_bytes():
                    raise SystemExit(f"{name}.csv: the two writers' bytes differ")
                sizes[name] = b.stat().st_size
    med = {n: {k: statistics.median(v) for k, v in t.items()} for n, t in times.items()}
    rows: list[dict[str, str]] = []
    for name, frame in tables.items():
        p, f = med[name]["pandas"], med[name]["fast"]
        rows.append(
            {
                "figure": f"{name}.csv, {len(frame):,} rows ({sizes[name] / 1e6:.0f} MB): write",
                "value": f"{f:.2f} s ({sizes[name] / f / 1e6:.0f} MB/s)",
                "baseline": f"{p:.2f} s pandas to_csv",
                "ratio": f"{p / f:.1f}x",
                "verdict": "bytes identical",
            }
        )
    total_p = sum(m["pandas"] for m in med.values())
    total_f = sum(m["fast"] for m in med.values())
    rows.append(
        {
            "figure": f"the three tables of {reps:,} replications",
            "value": f"{total_f:.2f} s",
            "baseline": f"{total_p:.2f} s pandas to_csv",
            "ratio": f"{total_p / total_f:.1f}x",
            "verdict": "",
        }
    )
    for row in rows:
        print(" | ".join(row.values()))
    res: dict[str, Any] = {
        "machine": machine(watched=("sim", "benchmarks")),
        "load_start": load_start,
        "load_end": loadavg(),
        "replications": reps,
        "median_seconds": med,
        "bytes": sizes,
        "summary_rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("outputs-quick.json" if args.quick else "outputs.json")
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
