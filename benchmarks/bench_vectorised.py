"""Vectorised engine vs SimPy engine on the reference night, both measured in the same run.

The reference night (`scenarios/poland-2025-09-10.yaml`: 21 drones, fighters from two airbases,
a point-defence Patriot, jamming, four radars and an AEW aircraft) on one core. Figures:

- replications per second of each engine, and their ratio;
- seconds per million replications of the vectorised engine, extrapolated from that rate and
  (full mode) measured in one run of 1,000,000 replications;
- statistical efficiency: the vectorised engine's replications share track pools within a
  cluster, so a replication may be worth less than an independent one. The benchmark reports the
  95 % half-width of the cost-exchange ratio each engine reaches, and the *effective* speed-up:
  wall time for the same interval width (assuming width ~ 1/sqrt(time));
- the same for the vectorised engine with independent templates (``rqmc=False``) instead of
  shifted Sobol' sets, to show what the sets gain;
- for both, the variance of a cluster's mean CER against that of as many independent
  replications;
- a design point as a sweep runs it (``sim.run(..., workers=1, tables=False)``) of 40 and of
  1,000 replications of the reference night, each engine, wall time per point: where a sweep of
  thousands of points spends its time, and where a run's fixed costs weigh most;
- the case the issue quotes for its aim (`benchmarks/scenarios/sls-raid.yaml`: 20 drones, one
  battery that never runs short, shoot-look-shoot with at most 2 shots): the vectorised engine's
  replications per second against a bare numpy Monte Carlo of the same Bernoulli model, measured in
  the same run, with both engines' kill and shot means checked against the closed form.

The timings are medians of the repeats; each repeat runs another seed, and the statistical
figures (half-widths, variance ratios) pool the repeats, so that they rest on 3 x 32 clusters
(one run of 32 clusters leaves them uncertain by about +-25 %).

    python benchmarks/bench_vectorised.py [--quick]

Prints a table and writes benchmarks/results/vectorised.json (vectorised-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from machine_info import machine

import sim
from sim.vectorised import run_vectorised

ROOT = Path(__file__).resolve().parent.parent


def timed(fn, repeats: int) -> tuple[float, list]:
    """Median wall time of ``fn(seed)`` over ``repeats`` calls (seeds 1, 2, ...), and every
    result: the statistical figures pool the repeats, which are independent runs."""
    times, out = [], []
    for seed in range(1, repeats + 1):
        t = time.perf_counter()
        out.append(fn(seed))
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def variance_ratio(results: list) -> float:
    """Variance of a cluster's mean CER over that of as many independent replications (from
    the replications' spread within clusters): below 1, a cluster's replications together are
    worth more than independent ones."""
    ratios = []
    for result in results:
        per = result.per_replication
        g = per.groupby("cluster")["cost_exchange_ratio"]
        size = per.groupby("cluster").size().mean()
        ratios.append(g.mean().var(ddof=1) * size / g.var(ddof=1).mean())
    return float(np.mean(ratios))


def half_width(results: list) -> float:
    """Relative 95 % half-width of the CER, root mean square over independent runs."""
    hw = []
    for result in results:
        m = result.summary["metrics"]["cost_exchange_ratio"]
        hw.append((m["ci95"][1] - m["ci95"][0]) / 2 / m["mean"])
    return float(np.sqrt(np.mean(np.square(hw))))


def sweep_point_figures(s: sim.Scenario, quick: bool) -> dict[str, float]:
    """Wall time of one design point as ``incursion sweep`` runs it, per engine: median of
    repeats (seeds 1, 2, ...), 40 and 1,000 replications (the SimPy engine's 1,000 from its
    40, since its replications cost the same whatever their number)."""
    repeats = 3 if quick else 7
    rows: dict[str, float] = {}
    for reps in (40, 1000):
        for engine in ("des", "vectorised"):
            if engine == "des" and reps > 40:
                continue
            t, _ = timed(
                lambda k, e=engine, r=reps: sim.run(
                    s, replications=r, seed=k, engine=e, workers=1, tables=False
                ),
                repeats,
            )
            rows[f"sweep_point_{reps}_{engine}_s"] = t
    rows["sweep_point_1000_des_s"] = rows["sweep_point_40_des_s"] * 1000 / 40
    for reps in (40, 1000):
        rows[f"sweep_point_{reps}_speedup"] = (
            rows[f"sweep_point_{reps}_des_s"] / rows[f"sweep_point_{reps}_vectorised_s"]
        )
    return rows


def bare_sls(scenario: sim.Scenario, replications: int, seed: int) -> np.ndarray:
    """Cost-exchange ratio and kills of each replication of ``sls-raid.yaml`` as a bare numpy
    Monte Carlo, shape (2, replications).

    With no contention, each drone gets a first shot and, if it missed, a second: a drone's shots
    are ``1 + miss1``, its kill ``hit1 | hit2``; both shots' draws are taken for every drone.
    Drawn in chunks of 65,536 replications (bounded memory), so this is what "a bare numpy Monte
    Carlo of 20 drones with shoot-look-shoot" costs.
    """
    (wave,) = scenario.waves
    weapon = scenario.weapons["sam"]
    drone_cost = scenario.drone_types[wave.type].cost_usd
    n, pk, cost = wave.count, weapon.pk, weapon.cost_usd
    rng = np.random.default_rng(seed)
    out = np.empty((2, replications))
    for lo in range(0, replications, 65536):
        hi = min(lo + 65536, replications)
        hit = rng.random((2, hi - lo, n)) < pk
        out[0, lo:hi] = (2 * n - hit[0].sum(axis=1)) * cost / (n * drone_cost)
        out[1, lo:hi] = (hit[0] | hit[1]).sum(axis=1)
    return out


def sls_figures(quick: bool, repeats: int) -> dict[str, float]:
    """The issue's reference case: the vectorised engine against a bare numpy Monte Carlo."""
    s = sim.load_scenario(ROOT / "benchmarks" / "scenarios" / "sls-raid.yaml")
    n_vec = 8192 if quick else 131072
    n_bare = 1 << (17 if quick else 21)
    sim.run(s, replications=5, seed=1, engine="vectorised")
    t_vec, vec = timed(
        lambda k: sim.run(s, replications=n_vec, seed=k, engine="vectorised", workers=1), repeats
    )
    t_bare, bare = timed(lambda k: bare_sls(s, n_bare, k), repeats)
    (wave,) = s.waves
    p = s.weapons["sam"].pk
    # closed form: a drone is killed unless both shots miss, and shot at twice if the first missed
    kills, shots = wave.count * (1 - (1 - p) ** 2), wave.count * (2 - p)
    cer = shots * s.weapons["sam"].cost_usd / (wave.count * s.drone_types[wave.type].cost_usd)
    m = vec[0].summary["metrics"]

    def z(name: str, exact: float) -> float:
        lo, hi = m[name]["ci95"]
        return abs(m[name]["mean"] - exact) / ((hi - lo) / 2 / 1.96)

    return {
        "sls_bare_numpy_replications_per_s": n_bare / t_bare,
        "sls_vectorised_replications_per_s": n_vec / t_vec,
        "sls_bare_over_vectorised": (n_bare / t_bare) / (n_vec / t_vec),
        "sls_closed_form_cer": cer,
        "sls_bare_numpy_cer": float(np.mean(bare[0][0])),
        "sls_bare_numpy_kills": float(np.mean(bare[0][1])),
        "sls_vectorised_cer": m["cost_exchange_ratio"]["mean"],
        "sls_vectorised_z_kills": z("drones_destroyed", kills),
        "sls_vectorised_z_shots": z("shots_fired", shots),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small counts, for a smoke test")
    args = ap.parse_args()
    s = sim.load_scenario(ROOT / "scenarios" / "poland-2025-09-10.yaml")
    n_des = 100 if args.quick else 1000
    n_vec = 8192 if args.quick else 131072
    repeats = 1 if args.quick else 3
    sim.run(s, replications=5, seed=1, workers=1)  # warm-up (imports, caches, compiled kernel)
    sim.run(s, replications=5, seed=1, engine="vectorised")
    t_des, des = timed(lambda k: sim.run(s, replications=n_des, seed=k, workers=1), repeats)
    t_vec, vec = timed(
        lambda k: sim.run(s, replications=n_vec, seed=k, engine="vectorised", workers=1), repeats
    )
    t_iid, iid = timed(
        lambda k: run_vectorised(s, replications=n_vec, seed=k, workers=1, rqmc=False), repeats
    )
    des_rate, vec_rate = n_des / t_des, n_vec / t_vec
    hw_des, hw_vec, hw_iid = half_width(des), half_width(vec), half_width(iid)
    # wall time each engine needs for a 1 % half-width, from width ~ 1 / sqrt(time)
    t1_des = t_des * (hw_des / 0.01) ** 2
    t1_vec = t_vec * (hw_vec / 0.01) ** 2
    t1_iid = t_iid * (hw_iid / 0.01) ** 2
    rows = {
        "des_replications_per_s": des_rate,
        "vectorised_replications_per_s": vec_rate,
        "speedup_replications": vec_rate / des_rate,
        "vectorised_seconds_per_million": 1e6 / vec_rate,
        "des_cer_half_width": hw_des,
        "vectorised_cer_half_width": hw_vec,
        "des_seconds_for_1pct_half_width": t1_des,
        "vectorised_seconds_for_1pct_half_width": t1_vec,
        "speedup_effective": t1_des / t1_vec,
        "vectorised_independent_templates_seconds_for_1pct_half_width": t1_iid,
        "sobol_gain_effective": t1_iid / t1_vec,
        "vectorised_cluster_variance_ratio": variance_ratio(vec),
        "vectorised_independent_templates_cluster_variance_ratio": variance_ratio(iid),
    }
    rows.update(sweep_point_figures(s, args.quick))
    rows.update(sls_figures(args.quick, repeats))
    if not args.quick:
        # measured, not extrapolated: the tables' fixed cost (about 0.5 s) weighs less here
        t_million, _ = timed(
            lambda k: sim.run(s, replications=1_000_000, seed=k, engine="vectorised", workers=1), 1
        )
        rows["vectorised_seconds_per_million_measured"] = t_million
    info = machine()
    width = max(map(len, rows))
    print(f"scenario {s.name}: {s.total_drones} drones, {len(s.defenders)} defenders")
    print(
        f"DES {n_des} replications, vectorised {n_vec} ({vec[0].summary['clusters']} clusters), "
        f"each {repeats} times with seeds 1..{repeats}"
    )
    for k, v in rows.items():
        print(f"{k:<{width}}  {v:14,.4f}")
    print(f"machine: {info}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = "vectorised-quick.json" if args.quick else "vectorised.json"
    (out / name).write_text(json.dumps({"figures": rows, "machine": info}, indent=2))


if __name__ == "__main__":
    main()
