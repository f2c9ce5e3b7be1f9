#!/usr/bin/env python
"""Why the vectorised engine's clusters are 4,096 replications on pools of 512 templates per drone.

A cluster's replications share one pool of track templates (``sim.vectorised``): a larger pool
costs more geometry per replication, a smaller one (or a larger cluster on the same pool) makes
the cluster's replications more alike, so each is worth less. What a user pays for is the time
to an interval of a given width, which is proportional to

    (seconds per replication) x (variance ratio)

where the variance ratio is the variance of a cluster's mean CER over that of as many independent
replications (below 1: the shifted Sobol' sets make a cluster's replications worth more than
independent ones). This script measures both, on one core, for several cluster sizes and pool
sizes of the reference night, in the same run, and prints each setting's efficiency relative to
the engine's default (higher is better). Each setting runs 32 clusters, ``--repeats`` times with
different seeds (the variance ratio of one run of 32 clusters is uncertain by about +-25 %).

    python benchmarks/tune_clusters.py [--repeats 3] [--quick]

Writes ``benchmarks/results/clusters.json``. About 5 min on 2 cores (``--quick``: 1 min).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench_vectorised import variance_ratio
from machine_info import machine

import sim
from sim import vectorised as v

ROOT = Path(__file__).resolve().parent.parent
#: (replications per cluster, templates per drone); the first is the engine's default
SETTINGS = [(4096, 512), (4096, 256), (4096, 1024), (2048, 512), (16384, 512)]


def measure(scenario: sim.Scenario, chunk: int, k: int, repeats: int) -> dict[str, float]:
    """Seconds per replication and variance ratio of 32 clusters of ``chunk`` on pools of ``k``."""
    default = v.CHUNK_REPLICATIONS
    v.CHUNK_REPLICATIONS = chunk  # plan_chunks reads it; restored below
    try:
        results, seconds = [], 0.0
        for seed in range(1, repeats + 1):
            t = time.perf_counter()
            results.append(
                v.run_vectorised(
                    scenario, replications=v.MIN_CLUSTERS * chunk, seed=seed, templates=k
                )
            )
            seconds += time.perf_counter() - t
    finally:
        v.CHUNK_REPLICATIONS = default
    per_rep = seconds / (repeats * v.MIN_CLUSTERS * chunk)
    return {"s_per_replication": per_rep, "variance_ratio": variance_ratio(results)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="two settings, one repeat")
    args = ap.parse_args()
    scenario = sim.load_scenario(ROOT / "scenarios" / "poland-2025-09-10.yaml")
    settings = SETTINGS[:2] if args.quick else SETTINGS
    repeats = 1 if args.quick else args.repeats
    v.run_vectorised(scenario, replications=64, seed=1)  # compile
    rows = []
    for chunk, k in settings:
        row = {"replications_per_cluster": chunk, "templates_per_drone": k}
        row.update(measure(scenario, chunk, k, repeats))
        row["cost"] = row["s_per_replication"] * row["variance_ratio"]
        rows.append(row)
        print(f"  {chunk:6d} replications, {k:5d} templates: "
              f"{row['s_per_replication'] * 1e6:6.1f} us/rep, variance ratio "
              f"{row['variance_ratio']:.2f}", flush=True)  # fmt: skip
    base = rows[0]["cost"]
    print(f"\n{'cluster':>8s} {'templates':>9s} {'us/rep':>7s} {'var. ratio':>10s} "
          f"{'efficiency':>10s}")  # fmt: skip
    for row in rows:
        row["efficiency"] = base / row["cost"]
        print(f"{row['replications_per_cluster']:8d} {row['templates_per_drone']:9d} "
              f"{row['s_per_replication'] * 1e6:7.1f} {row['variance_ratio']:10.2f} "
              f"{row['efficiency']:10.2f}")  # fmt: skip
    out = (
        ROOT / "benchmarks" / "results" / ("clusters-quick.json" if args.quick else "clusters.json")
    )
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"repeats": repeats, "rows": rows, "machine": machine()}, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
