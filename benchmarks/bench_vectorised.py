"""Vectorised engine vs SimPy engine: replications per second on the same scenario, same run.

The scenario is the reference raid met by the cheap layer's ground batteries
(`scenarios/poland-cheap-layer.yaml` without its airbases and reloads, magazines and channels
raised so that no battery runs short): the vectorised engine's exact domain. The reference night
itself has fighters, which the vectorised engine refuses.

    python benchmarks/bench_vectorised.py [--quick]

Prints a table and writes benchmarks/results/vectorised.json (vectorised-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import sim
from sim.loader import scenario_to_document
from sim.scenario import Battery, Scenario

ROOT = Path(__file__).resolve().parent.parent


def ground_layer() -> Scenario:
    base = sim.load_scenario(ROOT / "scenarios" / "poland-cheap-layer.yaml")
    doc = scenario_to_document(base)
    doc["defenders"] = [
        dict(d, magazine=max(d["magazine"], 200), channels=max(d.get("channels", 1), 30))
        for d in doc["defenders"]
        if d["kind"] == "battery"
    ]
    for d in doc["defenders"]:
        d.pop("reload_min", None)
    doc["name"] = "cheap-layer-ground"
    s = Scenario.model_validate(doc)
    assert all(isinstance(d, Battery) for d in s.defenders)
    return s


def rate(fn, reps: int, repeats: int) -> float:
    """Median replications per second of ``fn(reps)`` over ``repeats`` timings."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(reps)
        times.append(time.perf_counter() - t)
    return reps / float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small counts, for a smoke test")
    args = ap.parse_args()
    s = ground_layer()
    n_des = 100 if args.quick else 1000
    n_vec = 2048 if args.quick else 20480
    repeats = 1 if args.quick else 3
    sim.run(s, replications=5, seed=1, workers=1)  # warm-up (imports, caches)
    sim.run(s, replications=5, seed=1, engine="vectorised")
    des = rate(lambda r: sim.run(s, replications=r, seed=1, workers=1), n_des, repeats)
    vec = rate(lambda r: sim.run(s, replications=r, seed=1, engine="vectorised"), n_vec, repeats)

    def pooled(r: int) -> None:
        from sim.vectorised import run_vectorised

        run_vectorised(s, replications=r, seed=1, templates=4096)

    pool = rate(pooled, n_vec * 5, repeats)
    rows = {
        "des_replications_per_s": des,
        "vectorised_replications_per_s": vec,
        "vectorised_pooled_4096_replications_per_s": pool,
        "speedup_exact": vec / des,
        "speedup_pooled": pool / des,
        "seconds_per_million_exact": 1e6 / vec,
        "seconds_per_million_pooled": 1e6 / pool,
    }
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%d"),
    }
    width = max(map(len, rows))
    print(f"scenario {s.name}: {s.total_drones} drones, {len(s.defenders)} batteries")
    for k, v in rows.items():
        print(f"{k:<{width}}  {v:12,.2f}")
    print(f"machine: {machine}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = "vectorised-quick.json" if args.quick else "vectorised.json"
    (out / name).write_text(json.dumps({"figures": rows, "machine": machine}, indent=2))


if __name__ == "__main__":
    main()
