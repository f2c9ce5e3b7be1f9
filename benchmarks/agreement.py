"""The two engines' means at high precision: many replications of each, every metric compared.

The speed figures of ``bench_vectorised.py`` mean something only if the vectorised engine gives
the numbers of the SimPy engine. The test suite checks that at a few thousand replications
(``tests/test_vectorised.py``: means within 4.5 standard errors); this script looks closer, with
tens of thousands of SimPy replications and up to a million vectorised ones per scenario, so that
a bias of a fraction of a per cent would show.

For every metric of ``summary.json`` and each weapon's shots, kills and cost it prints both
engines' means, their difference relative to the SimPy mean, and

    z = (SimPy mean - vectorised mean) / sqrt(se_des^2 + se_vec^2),

each standard error taken from that engine's own 95 % interval (half-width / 1.96: Student-t
for means, cluster-robust for the vectorised engine, the bootstrap for the ratios). With K
comparisons, a |z| above the Bonferroni bound (the 1 - 0.005 / K normal quantile) flags a
difference at a 1 % family-wise false-alarm rate, for all scenarios together. Rows of a weapon
that fired in fewer than 30 SimPy replications are marked ``rare`` and left out of the flag:
their t interval rests on too few non-zero values to be trusted.

    python benchmarks/agreement.py [SCENARIO ...] [--quick] [--workers N]

Without scenarios it runs the four shipped ones (about 10 min on 2 cores; ``--quick`` divides
the counts by 10). Writes ``benchmarks/results/agreement.json`` (``agreement-quick.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from statistics import NormalDist
from typing import Any

from machine_info import machine

import sim

ROOT = Path(__file__).resolve().parent.parent
RARE_REPLICATIONS = 30
FAMILY_ALPHA = 0.01

# (SimPy replications, vectorised replications): about the same wall time for both engines
SIZES = {
    "poland-2025-09-10": (20_000, 1_000_000),
    "poland-european-kit": (10_000, 262_144),
    "poland-cheap-layer": (10_000, 262_144),
    "mass-raid": (2_000, 65_536),
}


def _se(interval: dict[str, Any]) -> float:
    lo, hi = interval["ci95"]
    if lo is None or hi is None:
        return math.nan
    return (hi - lo) / 2 / 1.96


def _row(name: str, d: dict[str, Any] | None, v: dict[str, Any] | None, rare: bool) -> dict:
    zero = {"mean": 0.0, "ci95": [0.0, 0.0]}  # a weapon one engine never fired in the run
    d, v = d or zero, v or zero
    md, mv = d["mean"], v["mean"]
    rel = z = se = math.nan
    if md is not None and mv is not None:
        se = math.hypot(_se(d), _se(v))
        if se > 0:  # NaN if an engine gave no interval (a value in one replication only)
            z = (md - mv) / se
        elif se == 0:  # constant in both runs (launched drones, attacker cost): equal or not
            z = 0.0 if md == mv else math.inf
        rel = (mv - md) / abs(md) if md != 0 else math.nan
    return {"name": name, "des": md, "vectorised": mv, "rel": rel, "z": z, "se": se, "rare": rare}


def compare(des: sim.RunResult, vec: sim.RunResult) -> list[dict[str, Any]]:
    """One row per metric and per weapon's shots, kills and cost: both means, relative
    difference, z, and whether the weapon is too rare in the SimPy run for its z to count."""
    rows = [
        _row(name, des.summary["metrics"][name], vec.summary["metrics"].get(name), False)
        for name in des.summary["metrics"]
    ]
    fired = des.shots.groupby("weapon")["replication"].nunique()
    weapons = sorted(set(des.summary["by_weapon"]) | set(vec.summary["by_weapon"]))
    for w in weapons:
        rare = int(fired.get(w, 0)) < RARE_REPLICATIONS
        for key in ("shots", "kills", "cost_usd"):
            d = des.summary["by_weapon"].get(w, {}).get(key)
            v = vec.summary["by_weapon"].get(w, {}).get(key)
            rows.append(_row(f"{w}.{key}", d, v, rare))
    return rows


def _print(name: str, n_des: int, n_vec: int, rows: list[dict[str, Any]]) -> None:
    print(f"\n{name}: SimPy {n_des:,} replications, vectorised {n_vec:,}")
    print(f"{'metric':34s} {'SimPy':>15s} {'vectorised':>15s} {'difference':>11s} {'z':>7s}")
    for r in rows:
        rel = "" if math.isnan(r["rel"]) else f"{r['rel']:+.3%}"
        z = "" if math.isnan(r["z"]) else f"{r['z']:+.2f}"
        des = "-" if r["des"] is None else f"{r['des']:,.4f}"
        vec = "-" if r["vectorised"] is None else f"{r['vectorised']:,.4f}"
        mark = "  rare" if r["rare"] else ""
        print(f"{r['name']:34s} {des:>15s} {vec:>15s} {rel:>11s} {z:>7s}{mark}")


def _finite(x: Any) -> Any:
    """``x`` with NaN and infinities as null, so that the file is standard JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("scenarios", nargs="*", help="scenario files (default: the shipped four)")
    ap.add_argument("--quick", action="store_true", help="a tenth of the replications")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    paths = [Path(p) for p in args.scenarios] or [
        ROOT / "scenarios" / f"{name}.yaml" for name in SIZES
    ]
    report: dict[str, Any] = {"scenarios": {}}
    every: list[dict[str, Any]] = []
    for path in paths:
        s = sim.load_scenario(path)
        n_des, n_vec = SIZES.get(s.name, (10_000, 262_144))
        if args.quick:
            n_des, n_vec = max(n_des // 10, 40), max(n_vec // 10, 4096)
        t0 = time.perf_counter()
        des = sim.run(s, replications=n_des, seed=11, workers=args.workers)
        t1 = time.perf_counter()
        vec = sim.run(s, replications=n_vec, seed=12, engine="vectorised", workers=args.workers)
        t2 = time.perf_counter()
        rows = compare(des, vec)
        _print(s.name, n_des, n_vec, rows)
        every += rows
        report["scenarios"][s.name] = {
            "des_replications": n_des,
            "vectorised_replications": n_vec,
            "des_s": t1 - t0,
            "vectorised_s": t2 - t1,
            "rows": rows,
        }
    # the statistical comparisons: not rare, and with a spread (the constant ones either agree
    # exactly or are flagged below whatever the bound)
    counted = [r for r in every if not r["rare"] and r["se"] > 0]
    bound = NormalDist().inv_cdf(1 - FAMILY_ALPHA / 2 / max(len(counted), 1))
    worst = max(counted, key=lambda r: abs(r["z"]), default=None)
    flagged = [r["name"] for r in every if not r["rare"] and abs(r["z"]) > bound]
    print(
        f"\n{len(counted)} comparisons (rare and constant ones left out): largest |z| "
        f"{abs(worst['z']) if worst else math.nan:.2f} ({worst['name'] if worst else '-'}), "
        f"Bonferroni bound at {FAMILY_ALPHA:.0%} family-wise {bound:.2f}: "
        + (f"DIFFERENT: {', '.join(flagged)}" if flagged else "no difference found")
    )
    report.update(
        comparisons=len(counted),
        largest_abs_z=abs(worst["z"]) if worst else None,
        bonferroni_bound=bound,
        flagged=flagged,
        machine=machine(),
    )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    name = "agreement-quick.json" if args.quick else "agreement.json"
    (out / name).write_text(json.dumps(_finite(report), indent=2))


if __name__ == "__main__":
    main()
