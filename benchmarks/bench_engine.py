#!/usr/bin/env python
"""Engine benchmarks for incursion: throughput as ratios against baselines measured in the same run.

Run from the repository root::

    python benchmarks/bench_engine.py            # full run (about a minute on 2 cores)
    python benchmarks/bench_engine.py --quick    # smoke mode (< 30 s)
    python benchmarks/bench_engine.py --profile  # also cProfile the reference night and the raids

Figures (see benchmarks/README.md for what each means):

1. bare SimPy: ``env.timeout`` events per second of a bare SimPy loop (the ceiling of any SimPy
   model on this machine);
2. engine: SimPy events scheduled per second of ``Simulation.run()`` alone, on a mid-size synthetic
   raid with many engagements, as a ratio of (1); and the whole replication rate (tracks + engine);
3. per-replication wall time of ``scenarios/poland-2025-09-10.yaml`` and
   ``scenarios/mass-raid.yaml`` (if present), split into ``build_tracks`` and engine;
4. scaling: 10 .. 5,000 drones against 100 defenders, with log-log slopes between sizes;
5. geometry core: drone-segment x circle pairs per second of ``sim.intervals.circle_windows`` vs a
   plain Python loop, and its compulsory memory traffic vs measured ``np.copyto`` bandwidth.

Results are printed and written to ``benchmarks/results/engine.json`` (``engine-quick.json`` with
``--quick``, so that a smoke run does not overwrite the recorded figures).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import json
import math
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

try:
    import sim  # noqa: F401
except ImportError:  # running from a clone without `pip install -e .`
    sys.path.insert(0, str(ROOT))

import simpy  # noqa: E402
from machine_info import loadavg  # noqa: E402
from machine_info import machine as shared_machine  # noqa: E402

from sim.engine import Simulation  # noqa: E402
from sim.intervals import circle_windows  # noqa: E402
from sim.scenario import Scenario  # noqa: E402
from sim.tracks import build_tracks  # noqa: E402
from sim.world import World, build_world  # noqa: E402

try:
    from sim.runner import replication_rng
except ImportError:  # keep the benchmark independent of run.py's helpers

    def replication_rng(seed: int, i: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,)))


clock = time.perf_counter

# Aims set by the project brief.
AIM_ENGINE_RATIO = 0.30  # engine events/s >= 30 % of bare SimPy
AIM_REFERENCE_S = 0.010  # reference night < 10 ms per replication
AIM_1000_S = 0.5  # 1,000 drones vs 100 defenders < 0.5 s per replication

REFERENCE_FILES = {
    "poland-2025-09-10": ROOT / "scenarios" / "poland-2025-09-10.yaml",
    "mass-raid": ROOT / "scenarios" / "mass-raid.yaml",
}


# ---------------------------------------------------------------------------------------- helpers
def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times), times


def machine() -> dict[str, Any]:
    """The shared machine record (:mod:`machine_info`), with this script's versions and a digest
    of ``sim/*.py`` (the figures belong to that code even if it was not committed)."""
    import hashlib

    info = shared_machine()
    info["sim_modified_since_head"] = info.pop("dirty")
    digest = hashlib.sha256()
    for f in sorted((ROOT / "sim").glob("*.py")):
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    info["sim_sources_sha256"] = digest.hexdigest()[:12]
    info["numpy"] = np.__version__
    info["simpy"] = simpy.__version__
    return info


# ------------------------------------------------------------------------- synthetic scenarios
# Drone types, weapons and platforms are given inline (values in the class of the built-in
# catalogue) so that the benchmark does not move when the catalogue is re-sourced.
DRONE_TYPES = {
    "gerbera": {"speed_kmh": 160, "altitude_m": 1000, "cost_usd": 15000, "endurance_km": 600},
    "shahed136": {
        "speed_kmh": 170,
        "altitude_m": 1000,
        "cost_usd": 50000,
        "endurance_km": 2000,
        "damage_usd": 1_000_000,
    },
}
GROUND = ["ground"]
WEAPONS = {
    "gun35": {"cost_usd": 4000, "pk": 0.65, "min_range_km": 0.2, "max_range_km": 4,
              "max_altitude_m": 3000, "speed_mps": 1050, "launched_from": GROUND},
    "piorun": {"cost_usd": 250000, "pk": 0.6, "min_range_km": 0.5, "max_range_km": 6.5,
               "min_altitude_m": 10, "max_altitude_m": 4000, "speed_mps": 660,
               "launched_from": GROUND},
    "interceptor_drone": {"cost_usd": 3000, "pk": 0.68, "min_range_km": 0.1, "max_range_km": 15,
                          "max_altitude_m": 3000, "speed_mps": 85, "launched_from": GROUND},
    "camm": {"cost_usd": 1_000_000, "pk": 0.85, "min_range_km": 1, "max_range_km": 25,
             "max_altitude_m": 10000, "speed_mps": 1000, "launched_from": GROUND},
    "nasams": {"cost_usd": 1_500_000, "pk": 0.8, "min_range_km": 1, "max_range_km": 30,
               "max_altitude_m": 15000, "speed_mps": 1000, "launched_from": GROUND},
    "pac3_mse": {"cost_usd": 4_200_000, "pk": 0.9, "min_range_km": 3, "max_range_km": 60,
                 "max_altitude_m": 24000, "speed_mps": 1400, "launched_from": GROUND},
    "aim9x": {"cost_usd": 450000, "pk": 0.8, "min_range_km": 0.5, "max_range_km": 20,
              "max_altitude_m": 20000, "speed_mps": 900, "launched_from": ["f16", "f35a"]},
    "aim120c": {"cost_usd": 1_500_000, "pk": 0.8, "min_range_km": 1, "max_range_km": 40,
                "max_altitude_m": 20000, "speed_mps": 1200, "launched_from": ["f16", "f35a"]},
}  # fmt: skip
PLATFORMS = {
    "f16": {"cruise_kmh": 850, "cost_per_flight_hour_usd": 21000, "endurance_h": 2.5},
    "f35a": {"cruise_kmh": 900, "cost_per_flight_hour_usd": 39000, "endurance_h": 3},
}
# Battery kinds: weight in the mix, magazine, reload (min), channels, reaction (s).
BATTERY_MIX = [
    ("gun35", 0.35, 40, 30, 1, 10),
    ("piorun", 0.25, 8, 20, 2, 15),
    ("interceptor_drone", 0.15, 12, 30, 2, 30),
    ("camm", 0.12, 8, 60, 2, 30),
    ("nasams", 0.08, 12, 90, 3, 30),
    ("pac3_mse", 0.05, 16, None, 4, 40),
]
# Air bases: name, lat, lon, platform, aircraft.
AIRBASES = [
    ("lask", 51.551, 19.179, "f16", 4),
    ("krzesiny", 52.332, 16.966, "f16", 4),
    ("minsk-mazowiecki", 52.195, 21.656, "f16", 2),
    ("malbork", 54.027, 19.134, "f16", 2),
    ("rzeszow-jasionka", 50.110, 22.019, "f35a", 4),
    ("deblin", 51.552, 21.894, "f16", 2),
    ("swidwin", 53.790, 15.826, "f16", 2),
    ("lublin", 51.240, 22.714, "f16", 2),
]
# Axes from Belarus and Ukraine across the eastern border: launch, waypoints, aim point (lat, lon).
AXES = [
    ("grodno-gdansk", (53.60, 25.50), [(53.20, 23.40), (53.60, 21.00), (54.35, 18.65)]),
    ("brest-warsaw", (52.30, 25.00), [(52.25, 22.60), (52.23, 21.01)]),
    ("pinsk-lodz", (51.95, 25.60), [(51.85, 23.30), (51.76, 19.46)]),
    ("lutsk-radom", (51.20, 25.30), [(51.20, 23.60), (51.25, 22.57), (51.40, 21.15)]),
    ("rivne-kielce", (50.60, 25.30), [(50.70, 23.80), (50.87, 20.63)]),
    ("lviv-krakow", (50.00, 24.80), [(50.00, 23.20), (50.04, 22.00), (50.06, 19.94)]),
]
# Ground radars along the eastern flank and one airborne radar (lat, lon, range km, antenna m).
RADARS = [
    (54.20, 22.40, 250, 30), (53.70, 23.00, 250, 30), (53.10, 22.90, 250, 30),
    (52.50, 22.80, 250, 30), (51.90, 23.10, 250, 30), (51.30, 23.20, 250, 30),
    (50.70, 23.10, 250, 30), (50.10, 22.60, 250, 30), (49.60, 22.10, 250, 30),
    (52.40, 20.90, 300, 40), (51.20, 20.50, 300, 40),
]  # fmt: skip
AIRBORNE = (52.30, 20.00, 400, 9000)


def _eastern_poland_points(k: int, seed: int) -> list[tuple[float, float]]:
    """``k`` deterministic points inside Poland east of 19.5 E (lat, lon), for batteries."""
    from sim.geo import load_territory

    poly = load_territory("poland")
    import shapely

    rng = np.random.default_rng(seed)
    out: list[tuple[float, float]] = []
    while len(out) < k:
        lon = rng.uniform(19.5, 24.1, 4 * k)
        lat = rng.uniform(49.1, 54.5, 4 * k)
        inside = shapely.contains_xy(poly, lon, lat)
        out.extend(zip(lat[inside].tolist(), lon[inside].tolist(), strict=True))
    return [(round(a, 4), round(b, 4)) for a, b in out[:k]]


def synthetic_raid(n_drones: int, n_defenders: int = 100, *, seed: int = 1) -> Scenario:
    """A raid of ``n_drones`` on six axes from Belarus and Ukraine against ``n_defenders``.

    Launch windows are spread over four hours (staggered by axis); about 90 % of the defenders
    are batteries spread over eastern Poland, the rest quick-reaction air bases; one radar network
    (11 ground radars and an airborne radar) covers the eastern flank.
    """
    n_bases = min(len(AIRBASES), max(1, round(0.08 * n_defenders)))
    n_bat = n_defenders - n_bases
    waves = []
    per = [n_drones // len(AXES) + (1 if i < n_drones % len(AXES) else 0) for i in range(len(AXES))]
    for i, ((name, launch, route), count) in enumerate(zip(AXES, per, strict=True)):
        if count == 0:
            continue
        start = 20 * i
        waves.append(
            {
                "name": name,
                "type": "shahed136" if i % 2 else "gerbera",
                "count": count,
                "launch": {"lat": launch[0], "lon": launch[1]},
                "launch_time_min": [start, start + 240],
                "route": [{"lat": a, "lon": b} for a, b in route],
                "route_spread_km": 15,
            }
        )
    weights = np.array([m[1] for m in BATTERY_MIX])
    counts = np.floor(weights / weights.sum() * n_bat).astype(int)
    counts[0] += n_bat - counts.sum()
    kinds = [m for m, c in zip(BATTERY_MIX, counts, strict=True) for _ in range(c)]
    defenders: list[dict[str, Any]] = []
    for j, ((w, _wt, mag, reload, ch, react), (lat, lon)) in enumerate(
        zip(kinds, _eastern_poland_points(n_bat, seed), strict=True)
    ):
        bat: dict[str, Any] = {
            "kind": "battery", "name": f"{w.replace('_', '-')}-{j}", "weapon": w,
            "lat": lat, "lon": lon, "magazine": mag, "channels": ch, "reaction_s": react,
        }  # fmt: skip
        if reload is not None:
            bat["reload_min"] = reload
        defenders.append(bat)
    for name, lat, lon, plat, ac in AIRBASES[:n_bases]:
        defenders.append(
            {
                "kind": "airbase", "name": name, "platform": plat, "lat": lat, "lon": lon,
                "aircraft": ac, "scramble_min": 15, "turnaround_min": 60,
                "loadout": {"aim9x": 2, "aim120c": 2},
            }
        )  # fmt: skip
    sensors = [
        {"name": f"radar-{k}", "lat": a, "lon": b, "range_km": r, "antenna_height_m": h}
        for k, (a, b, r, h) in enumerate(RADARS)
    ]
    a, b, r, h = AIRBORNE
    sensors.append(
        {"name": "aew", "lat": a, "lon": b, "range_km": r, "altitude_m": h, "p_detect": 0.8}
    )
    return Scenario.model_validate(
        {
            "name": f"synthetic-{n_drones}x{n_defenders}",
            "seed": seed,
            "duration_h": 12,
            "geography": {"border": "poland"},
            "drone_types": DRONE_TYPES,
            "weapons": WEAPONS,
            "platforms": PLATFORMS,
            "waves": waves,
            "sensors": sensors,
            "defenders": defenders,
        }
    )


# ------------------------------------------------------------------------------ 1. bare SimPy
def bench_bare_simpy(n_proc: int, n_timeouts: int, repeats: int) -> dict[str, Any]:
    """Timeouts per second of ``n_proc`` processes each yielding ``n_timeouts`` timeouts."""

    def proc(env: simpy.Environment, n: int):  # type: ignore[no-untyped-def]
        timeout = env.timeout
        for _ in range(n):
            yield timeout(1)

    def once() -> None:
        env = simpy.Environment()
        for _ in range(n_proc):
            env.process(proc(env, n_timeouts))
        env.run()

    med, times = median_time(once, repeats)
    total = n_proc * n_timeouts
    return {
        "processes": n_proc,
        "timeouts_per_process": n_timeouts,
        "timeouts": total,
        "median_s": med,
        "times_s": times,
        "timeouts_per_s": total / med,
    }


# ------------------------------------------------------------------------ replication timing
def time_replication(world: World, seed: int, i: int) -> dict[str, float]:
    """One replication as ``sim.runner.run_replication`` does it, timed in its parts."""
    t0 = clock()
    rng = replication_rng(seed, i)
    tracks = build_tracks(world, rng)
    t1 = clock()
    simulation = Simulation(world, tracks, rng)
    t2 = clock()
    res = simulation.run()
    t3 = clock()
    return {
        "tracks_s": t1 - t0,
        "setup_s": t2 - t1,  # Simulation.__init__: window dictionaries, units
        "run_s": t3 - t2,  # Simulation.run(): SimPy loop and result arrays
        "engine_s": t3 - t1,
        "total_s": t3 - t0,
        "events": float(res.events),
        "shots": float(res.shots["drone"].size),
        "sorties": float(res.sorties["defender"].size),
        "destroyed": float(np.isfinite(simulation.destroyed_s).sum()),
        "detected": float(np.isfinite(tracks.detect_s).sum()),
    }


def bench_replications(
    world: World, seed: int, reps: int, warmup: int = 1, max_s: float | None = None
) -> dict[str, Any]:
    """Median per-replication figures over ``reps`` replications after ``warmup`` ones.

    Replications are distinct (indices 0, 1, ...) so that their random streams differ, as in a run;
    with ``max_s`` the loop stops early once that much time was spent (at least one replication).
    """
    for i in range(warmup):
        time_replication(world, seed, 10_000 + i)
    rows = []
    started = clock()
    for i in range(reps):
        gc.collect()
        rows.append(time_replication(world, seed, i))
        if max_s is not None and clock() - started > max_s:
            break
    keys = rows[0].keys()
    med = {k: statistics.median(r[k] for r in rows) for k in keys}
    low = {k: min(r[k] for r in rows) for k in ("tracks_s", "engine_s", "run_s", "total_s")}
    tot = {k: sum(r[k] for r in rows) for k in ("events", "run_s", "engine_s", "total_s")}
    return {
        "replications": len(rows),
        "drones": world.n_drones,
        "defenders": len(world.defender_names),
        "median": med,
        "min": low,  # best of: less sensitive to other processes than the median
        "min_total_s": low["total_s"],
        "max_total_s": max(r["total_s"] for r in rows),
        # Aggregate rates over all timed replications (events are summed, not medians).
        "events_per_s_run": tot["events"] / tot["run_s"],
        "events_per_s_engine": tot["events"] / tot["engine_s"],
        "events_per_s_replication": tot["events"] / tot["total_s"],
        "replications_per_s": len(rows) / tot["total_s"],
    }


def check_equivalent(world: World, seed: int) -> bool:
    """The timed split gives the same replication as ``sim.runner.run_replication``."""
    try:
        from sim.runner import run_replication
    except ImportError:
        return True
    a = run_replication(world, seed, 3)
    rng = replication_rng(seed, 3)
    b = Simulation(world, build_tracks(world, rng), rng).run()
    return a.events == b.events and np.array_equal(a.fate, b.fate)


# ----------------------------------------------------------------------------- 5. geometry core
def _fmin(a: float, b: float) -> float:
    if a != a:
        return b
    if b != b:
        return a
    return a if a < b else b


def _fmax(a: float, b: float) -> float:
    if a != a:
        return b
    if b != b:
        return a
    return a if a > b else b


def circle_window_python(
    t0: float, t1: float, x0: float, y0: float, x1: float, y1: float,
    cx: float, cy: float, r: float,
) -> tuple[float, float]:  # fmt: skip
    """One segment x one circle, with the same closed form as ``circle_windows`` (plain math)."""
    nan = math.nan
    if not r > 0:
        return nan, nan
    dur = t1 - t0
    if dur > 0:
        vx, vy = (x1 - x0) / dur, (y1 - y0) / dur
    else:
        vx = vy = 0.0
    px, py = x0 - cx, y0 - cy
    a = vx * vx + vy * vy
    b = 2.0 * (px * vx + py * vy)
    c = px * px + py * py - r * r
    if a > 0:
        disc = b * b - 4.0 * a * c
        if disc < 0:
            return nan, nan
        q = -0.5 * (b + math.copysign(math.sqrt(disc), b))
        ra = q / a
        rb = c / q if q != 0 else nan
        lo, hi = _fmin(ra, rb), _fmax(ra, rb)
        if not (hi >= 0 and lo <= dur):
            return nan, nan
        enter, leave = t0 + max(lo, 0.0), t0 + min(hi, dur)
    elif c <= 0:
        enter, leave = t0, t1
    else:
        return nan, nan
    if not leave >= enter:
        return nan, nan
    return enter, leave


def _python_windows(seg: tuple[np.ndarray, ...], cx, cy, r) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    t0, t1, x0, y0, x1, y1 = (a.tolist() for a in seg)
    cxl, cyl, rl = cx.tolist(), cy.tolist(), r.tolist()
    enter = []
    leave = []
    for k in range(len(t0)):
        a0, a1, b0, b1, c0, c1 = t0[k], t1[k], x0[k], y0[k], x1[k], y1[k]
        for j in range(len(cxl)):
            e, lv = circle_window_python(a0, a1, b0, b1, c0, c1, cxl[j], cyl[j], rl[j])
            enter.append(e)
            leave.append(lv)
    shape = (len(t0), len(cxl))
    return np.array(enter).reshape(shape), np.array(leave).reshape(shape)


def track_segments(world: World, seed: int) -> tuple[np.ndarray, ...]:
    """The straight legs of one replication's drone tracks (t0, t1, x0, y0, x1, y1)."""
    tr = build_tracks(world, replication_rng(seed, 0))
    last = tr.offsets[1:] - 1
    start = np.ones(tr.bt.size, bool)
    start[last] = False
    i = np.flatnonzero(start)
    return tr.bt[i], tr.bt[i + 1], tr.bx[i], tr.by[i], tr.bx[i + 1], tr.by[i + 1]


def bench_geometry(
    world: World, seed: int, n_seg_py: int, repeats: int, copy_mb: int, chunk: int = 512
) -> dict[str, Any]:
    """Drone-leg x battery-envelope pairs per second, compiled vs plain Python, and bandwidth.

    (The JSON keys still say ``numpy``: ``circle_windows`` was numpy before it was compiled.)

    The segments are the legs of one replication of ``world`` and the circles its batteries'
    maximum ranges, so that the share of pairs with a window is the simulator's own.
    """
    seg = track_segments(world, seed)
    n_seg = seg[0].size
    cx, cy = world.bat_x, world.bat_y
    r = np.array([world.scenario.weapons[b.weapon].max_range_km * 1000.0 for b in world.batteries])
    n_circ = cx.size
    pairs = n_seg * n_circ
    med, times = median_time(lambda: circle_windows(*seg, cx, cy, r), repeats)
    np_pairs_s = pairs / med

    def chunked() -> None:
        for k in range(0, n_seg, chunk):
            circle_windows(*(a[k : k + chunk] for a in seg), cx, cy, r)

    ch_med, _ = median_time(chunked, repeats)

    # Plain Python on an evenly spread subset of the legs, extrapolated per pair.
    pick = np.linspace(0, n_seg - 1, min(n_seg_py, n_seg)).astype(int)
    sub = tuple(a[pick] for a in seg)
    py_pairs = pick.size * n_circ
    py_med, _ = median_time(lambda: _python_windows(sub, cx, cy, r), max(1, repeats // 2))
    py_pairs_s = py_pairs / py_med
    e_np, l_np = circle_windows(*sub, cx, cy, r)
    e_py, l_py = _python_windows(sub, cx, cy, r)
    same_nan = bool(np.array_equal(np.isnan(e_np), np.isnan(e_py)))
    diff = np.abs(np.concatenate([(e_np - e_py).ravel(), (l_np - l_py).ravel()]))
    max_diff = float(np.nanmax(diff, initial=0.0))
    with_window = float(np.isfinite(e_np).mean())

    # Compulsory traffic: 6 segment arrays + 3 circle arrays read, 2 (S, C) arrays written.
    compulsory = 8 * (6 * n_seg + 3 * n_circ + 2 * pairs)
    core_bps = compulsory / med

    n = copy_mb * 1024 * 1024 // 8
    src = np.random.default_rng(0).random(n)
    dst = np.empty_like(src)
    copy_med, _ = median_time(lambda: np.copyto(dst, src), max(5, repeats))
    copy_bps = 2 * src.nbytes / copy_med  # read + write
    return {
        "source": f"legs of replication 0 of {world.scenario.name} x its battery max ranges",
        "segments": n_seg,
        "circles": n_circ,
        "pairs": pairs,
        "numpy_median_s": med,
        "numpy_times_s": times,
        "numpy_pairs_per_s": np_pairs_s,
        "chunk_segments": chunk,
        "numpy_chunked_median_s": ch_med,
        "numpy_chunked_pairs_per_s": pairs / ch_med,
        "python_segments": int(pick.size),
        "python_pairs": py_pairs,
        "python_median_s": py_med,
        "python_pairs_per_s": py_pairs_s,
        "speedup_vs_python": np_pairs_s / py_pairs_s,
        "python_matches_numpy": same_nan and max_diff < 1e-6,
        "python_max_abs_diff_s": max_diff,
        "share_of_pairs_with_window": with_window,
        "compulsory_bytes": compulsory,
        "bytes_per_pair": compulsory / pairs,
        "core_bytes_per_s": core_bps,
        "copy_array_mb": copy_mb,
        "copy_median_s": copy_med,
        "copy_bytes_per_s": copy_bps,
        "core_vs_copy_bandwidth": core_bps / copy_bps,
    }


# ---------------------------------------------------------------------------------- profiling
def profile_replications(world: World, seed: int, reps: int, out: Path, top: int = 25) -> list:
    """cProfile ``reps`` replications; write the pstats text to ``out``; return top hotspots."""
    time_replication(world, seed, 10_000)  # warm-up
    prof = cProfile.Profile()
    prof.enable()
    for i in range(reps):
        time_replication(world, seed, i)
    prof.disable()
    stats = pstats.Stats(prof)
    total = max(
        (v[3] for k, v in stats.stats.items() if k[2] == "time_replication"),  # type: ignore[attr-defined]
        default=stats.total_tt,  # type: ignore[attr-defined]
    )
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(60)
    buf2 = io.StringIO()
    pstats.Stats(prof, stream=buf2).sort_stats("tottime").print_stats(40)
    out.write_text(
        f"# cProfile of {reps} replications of {world.scenario.name}\n\n"
        f"## by cumulative time\n{buf.getvalue()}\n## by own time\n{buf2.getvalue()}",
        encoding="utf-8",
    )
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        short = file
        for marker in ("/sim/", "/site-packages/"):
            if marker in file:
                short = file.split(marker, 1)[1]
                short = ("sim/" if marker == "/sim/" else "") + short
                break
        rows.append(
            {
                "function": f"{short}:{line}({func})",
                "calls": nc,
                "cum_pct": 100.0 * ct / total,
                "own_pct": 100.0 * tt / total,
            }
        )
    skip = ("time_replication", "<built-in method builtins.exec>", "run_replication")
    rows = [r for r in rows if not any(s in r["function"] for s in skip)]
    by_cum = sorted(rows, key=lambda r: -r["cum_pct"])[:top]
    by_own = sorted(rows, key=lambda r: -r["own_pct"])[:top]
    return [{"by_cumulative": by_cum, "by_own": by_own, "profiled_s": total, "file": out.name}]


# ------------------------------------------------------------------------------------- output
def fmt_s(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def fmt_rate(x: float) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.2f} {unit}"
    return f"{x:.0f}"


def aim(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "NOT met")


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(f"\n{title}")
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for row in rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
        return
    table = Table(title=title, title_justify="left")
    for h in header:
        table.add_column(h)
    for row in rows:
        table.add_row(*row)
    Console(width=150).print(table)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fast smoke mode (< 30 s)")
    ap.add_argument("--profile", action="store_true", help="cProfile the reference and raids")
    ap.add_argument("--out", type=Path, default=None, help="JSON output (default: results/)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--sizes", type=lambda v: [int(x) for x in v.split(",")], default=None,
        help="drone counts of the scaling series (default 10,100,1000,5000; quick 10,100,1000)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    q = args.quick
    seed = args.seed
    out_path = args.out or RESULTS / ("engine-quick.json" if q else "engine.json")
    out_path.parent.mkdir(parents=True, exist_ok=True)

    started = clock()
    info = machine()
    load_start = loadavg()
    log(f"incursion engine benchmark ({'quick' if q else 'full'}); load {load_start}")
    res: dict[str, Any] = {"mode": "quick" if q else "full", "machine": info, "seed": seed}
    res["load_start"] = load_start

    # 1. bare SimPy ------------------------------------------------------------------------
    log("1. bare SimPy baseline")
    bare = bench_bare_simpy(10, 20_000 if q else 100_000, 3 if q else 5)
    res["bare_simpy"] = bare
    base_rate = bare["timeouts_per_s"]

    # 2. engine events/s on a mid-size raid -------------------------------------------------
    mid_n = 300 if q else 500
    log(f"2. engine events/s ({mid_n} drones x 100 defenders)")
    mid_world = build_world(synthetic_raid(mid_n, 100, seed=seed))
    res["equivalent_to_run_replication"] = check_equivalent(mid_world, seed)
    mid = bench_replications(mid_world, seed, 3 if q else 15, warmup=1)
    mid["events_ratio_run_vs_bare"] = mid["events_per_s_run"] / base_rate
    mid["events_ratio_engine_vs_bare"] = mid["events_per_s_engine"] / base_rate
    mid["events_ratio_replication_vs_bare"] = mid["events_per_s_replication"] / base_rate
    res["engine"] = mid

    # 3. reference scenarios ----------------------------------------------------------------
    log("3. reference scenarios")
    from sim.loader import load_scenario

    refs: dict[str, Any] = {}
    ref_worlds: dict[str, World] = {}
    for name, path in REFERENCE_FILES.items():
        if not path.exists():
            refs[name] = {"skipped": f"{path.relative_to(ROOT)} not found"}
            log(f"   {name}: skipped ({path.relative_to(ROOT)} not found)")
            continue
        try:
            world = build_world(load_scenario(path))
        except Exception as exc:  # a scenario file may be mid-edit: report, do not stop
            refs[name] = {"skipped": f"could not load: {type(exc).__name__}: {exc}"[:300]}
            log(f"   {name}: skipped ({refs[name]['skipped']})")
            continue
        ref_worlds[name] = world
        reps = (10 if q else 101) if world.n_drones <= 200 else (2 if q else 11)
        refs[name] = bench_replications(world, seed, reps, warmup=2, max_s=5 if q else 60)
    res["reference"] = refs

    # 4. scaling ------------------------------------------------------------------------------
    sizes = args.sizes or ([10, 100, 1000] if q else [10, 100, 1000, 5000])
    reps_for = {10: 15, 100: 9, 1000: 5, 5000: 3} if not q else {10: 5, 100: 3, 1000: 1}
    scaling: list[dict[str, Any]] = []
    worlds: dict[int, World] = {}
    for n in sizes:
        log(f"4. scaling: {n} drones x 100 defenders")
        world = build_world(synthetic_raid(n, 100, seed=seed))
        worlds[n] = world
        reps = reps_for.get(n, 5 if n <= 2000 else 3)
        r = bench_replications(
            world, seed, 1 if q and n > 1000 else reps, warmup=1 if n <= 2000 else 0,
            max_s=8 if q else 120,
        )  # fmt: skip
        r["size"] = n
        scaling.append(r)
    for a, b in itertools.pairwise(scaling):
        b["slope_from_previous"] = {
            k: math.log(b["median"][k] / a["median"][k]) / math.log(b["size"] / a["size"])
            for k in ("total_s", "tracks_s", "engine_s")
        }
    res["scaling"] = scaling

    # 5. geometry core ----------------------------------------------------------------------
    log("5. geometry core vs plain Python")
    geo_world = worlds[max(worlds)]
    geo = (
        bench_geometry(geo_world, seed, 60, 3, 64)
        if q
        else bench_geometry(geo_world, seed, 400, 7, 256)
    )
    res["geometry"] = geo

    # profiles ----------------------------------------------------------------------------------
    if args.profile:
        prof: dict[str, Any] = {}
        targets: list[tuple[str, World, int]] = []
        if "poland-2025-09-10" in ref_worlds:
            targets.append(("poland-2025-09-10", ref_worlds["poland-2025-09-10"], 50))
        else:
            log("   profile: reference scenario absent, profiling the 10-drone synthetic raid")
            targets.append(("synthetic-10", worlds[10], 50))
        targets.append(("synthetic-1000", worlds.get(1000) or worlds[max(worlds)], 3))
        if not q and max(worlds) > 1000:
            targets.append((f"synthetic-{max(worlds)}", worlds[max(worlds)], 1))
        for label, world, reps in targets:
            log(f"   profiling {label} ({reps} replications)")
            out = RESULTS / f"profile-{'quick-' if q else ''}{label}.txt"
            prof[label] = profile_replications(world, seed, reps, out)[0]
        res["profiles"] = prof

    # The baseline again: a drift between start and end means other processes took CPU time.
    bare_end = bench_bare_simpy(10, 20_000 if q else 100_000, 3 if q else 5)
    res["bare_simpy_end"] = {k: bare_end[k] for k in ("timeouts_per_s", "median_s")}
    res["baseline_drift"] = bare_end["timeouts_per_s"] / base_rate - 1.0
    res["load_end"] = loadavg()
    res["elapsed_s"] = clock() - started
    # Busy: other processes held more than half the cores before the run, or during it (the
    # end load includes this process itself, about 1), or the baseline moved by > 15 %.
    half = 0.5 * max(1, info["nproc"])
    others_start = (res["load_start"] or [0.0])[0]
    others_end = (res["load_end"] or [0.0])[0] - 1.0
    res["load_warning"] = (
        others_start > half or others_end > half or abs(res["baseline_drift"]) > 0.15
    )

    # aims --------------------------------------------------------------------------------------
    ref = refs.get("poland-2025-09-10", {})
    s1000 = next((s for s in scaling if s["size"] == 1000), None)
    res["aims"] = {
        "engine_ratio_ge_30pct": mid["events_ratio_run_vs_bare"] >= AIM_ENGINE_RATIO,
        "reference_lt_10ms": (ref["median"]["total_s"] < AIM_REFERENCE_S)
        if "median" in ref
        else None,
        "d1000_lt_0_5s": (s1000["median"]["total_s"] < AIM_1000_S) if s1000 else None,
        "scaling_slope_1000_5000": next(
            (s["slope_from_previous"]["total_s"] for s in scaling if s["size"] == 5000), None
        ),
    }
    out_path.write_text(json.dumps(res, indent=2, default=float) + "\n", encoding="utf-8")
    out_path.with_suffix(".md").write_text(markdown(res), encoding="utf-8")
    report(res)
    print(f"\nwrote {out_path.relative_to(ROOT) if out_path.is_relative_to(ROOT) else out_path}")
    return 0


def markdown(res: dict[str, Any]) -> str:
    """The figures as a Markdown table, for benchmarks/README.md."""
    info = res["machine"]
    bare, mid, geo, aims = res["bare_simpy"], res["engine"], res["geometry"], res["aims"]
    m = mid["median"]
    dirty = " + uncommitted sim/ changes" if info["sim_modified_since_head"] else ""
    lines = [
        f"Measured {info['date']} on {info['cpu']} (nproc {info['nproc']}), Python "
        f"{info['python']}, numpy {info['numpy']}, SimPy {info['simpy']}; code git "
        f"{info['git_head']}{dirty}"
        f" (sim/*.py sha256 {info['sim_sources_sha256']}); {res['mode']} mode, "
        f"{res['elapsed_s']:.0f} s; load average at start {res['load_start']}, "
        f"at end {res['load_end']}; bare SimPy baseline drift start to end "
        f"{res['baseline_drift']:+.1%}"
        + (" (busy machine: see the warning above)." if res["load_warning"] else "."),
        "",
        "| # | figure | value | ratio / detail | aim |",
        "|---|---|---|---|---|",
        f"| 1 | bare SimPy `env.timeout` events/s ({bare['processes']} processes x "
        f"{bare['timeouts_per_process']:,}) | {fmt_rate(bare['timeouts_per_s'])}/s | baseline | |",
        f"| 2 | engine events/s, `Simulation.run()` only ({mid['drones']} drones x "
        f"{mid['defenders']} defenders; {m['events']:.0f} events, {m['shots']:.0f} shots, "
        f"{m['sorties']:.0f} sorties per replication) | {fmt_rate(mid['events_per_s_run'])}/s | "
        f"{mid['events_ratio_run_vs_bare']:.1%} of bare SimPy | >= 30 %: "
        f"**{aim(aims['engine_ratio_ge_30pct'])}** |",
        f"| 2 | engine events/s incl. `Simulation()` set-up | "
        f"{fmt_rate(mid['events_per_s_engine'])}/s | {mid['events_ratio_engine_vs_bare']:.1%} of "
        f"bare SimPy | |",
        f"| 2 | whole replication (tracks + engine), same raid | "
        f"{mid['replications_per_s']:.2f} replications/s | median {fmt_s(m['total_s'])} = tracks "
        f"{fmt_s(m['tracks_s'])} + engine {fmt_s(m['engine_s'])}; "
        f"{fmt_rate(mid['events_per_s_replication'])} events/s = "
        f"{mid['events_ratio_replication_vs_bare']:.1%} of bare | |",
    ]
    for name, r in res["reference"].items():
        if "skipped" in r:
            lines.append(f"| 3 | `{name}` | skipped | {r['skipped']} | |")
            continue
        mm = r["median"]
        ok = aims["reference_lt_10ms"] if name == "poland-2025-09-10" else None
        lines.append(
            f"| 3 | `{name}` ({r['drones']} drones, {r['defenders']} defenders) per replication | "
            f"{fmt_s(mm['total_s'])} | tracks {fmt_s(mm['tracks_s'])} + engine "
            f"{fmt_s(mm['engine_s'])}; median of {r['replications']}, best "
            f"{fmt_s(r['min']['total_s'])} | "
            + (f"< 10 ms: **{aim(ok)}** |" if ok is not None else "|")
        )
    for sc in res["scaling"]:
        mm = sc["median"]
        slope = sc.get("slope_from_previous")
        ok = aims["d1000_lt_0_5s"] if sc["size"] == 1000 else None
        sl = (
            f"; slope from previous {slope['total_s']:.2f} (tracks {slope['tracks_s']:.2f}, "
            f"engine {slope['engine_s']:.2f})"
            if slope
            else ""
        )
        lines.append(
            f"| 4 | {sc['size']:,} drones x 100 defenders per replication | "
            f"{fmt_s(mm['total_s'])} | tracks {fmt_s(mm['tracks_s'])} + engine "
            f"{fmt_s(mm['engine_s'])}, {mm['events']:.0f} events; median of "
            f"{sc['replications']}, best {fmt_s(sc['min']['total_s'])}{sl} | "
            + (f"< 0.5 s: **{aim(ok)}** |" if ok is not None else "|")
        )
    lines += [
        f"| 5 | `circle_windows` pairs/s ({geo['segments']:,} legs x {geo['circles']} "
        f"batteries, {geo['share_of_pairs_with_window']:.1%} with a window) | "
        f"{fmt_rate(geo['numpy_pairs_per_s'])}/s | {geo['speedup_vs_python']:.0f}x the plain "
        f"Python loop | |",
        f"| 5 | same, in chunks of {geo['chunk_segments']} legs | "
        f"{fmt_rate(geo['numpy_chunked_pairs_per_s'])}/s | "
        f"{geo['numpy_median_s'] / geo['numpy_chunked_median_s']:.2f}x unchunked | |",
        f"| 5 | plain Python loop pairs/s ({geo['python_pairs']:,} pairs, extrapolated per pair) "
        f"| {fmt_rate(geo['python_pairs_per_s'])}/s | same windows as compiled: "
        f"{geo['python_matches_numpy']} | |",
        f"| 5 | `circle_windows` compulsory bytes/s ({geo['bytes_per_pair']:.1f} B/pair) | "
        f"{fmt_rate(geo['core_bytes_per_s'])}B/s | {geo['core_vs_copy_bandwidth']:.1%} of copy "
        f"bandwidth | |",
        f"| 5 | `np.copyto` bandwidth, read + write ({geo['copy_array_mb']} MB array) | "
        f"{fmt_rate(geo['copy_bytes_per_s'])}B/s | baseline | |",
    ]
    return "\n".join(lines) + "\n"


def report(res: dict[str, Any]) -> None:
    info = res["machine"]
    bare = res["bare_simpy"]
    mid = res["engine"]
    geo = res["geometry"]
    print(
        f"\nmachine: {info['cpu']}, nproc {info['nproc']}, Python {info['python']}, "
        f"numpy {info['numpy']}, SimPy {info['simpy']}, {info['date']}"
    )
    print(
        f"code: git {info['git_head']}"
        f"{' + uncommitted sim/ changes' if info['sim_modified_since_head'] else ''}, "
        f"sim/*.py sha256 {info['sim_sources_sha256']}"
    )
    print(f"load average (1/5/15 min): start {res['load_start']}, end {res['load_end']}")
    print(
        f"bare SimPy at start {fmt_rate(bare['timeouts_per_s'])}/s, at end "
        f"{fmt_rate(res['bare_simpy_end']['timeouts_per_s'])}/s "
        f"(drift {res['baseline_drift']:+.1%})"
    )
    if res["load_warning"]:
        print(
            "WARNING: the machine was busy (other load > half the cores, or the baseline drifted "
            "by more than 15 %); re-run for figures to record"
        )
    m = mid["median"]
    rows = [
        ["1", "bare SimPy timeouts/s", f"{fmt_rate(bare['timeouts_per_s'])}/s",
         f"{bare['processes']} procs x {bare['timeouts_per_process']:,} timeouts", "baseline", "-"],
        ["2", f"engine events/s, Simulation.run() ({mid['drones']} drones)",
         f"{fmt_rate(mid['events_per_s_run'])}/s",
         f"{m['events']:.0f} events, {m['shots']:.0f} shots, {m['sorties']:.0f} sorties per rep",
         f"{mid['events_ratio_run_vs_bare']:.1%} of bare",
         aim(res["aims"]["engine_ratio_ge_30pct"])],
        ["2", "engine events/s incl. Simulation() setup",
         f"{fmt_rate(mid['events_per_s_engine'])}/s",
         f"setup {fmt_s(m['setup_s'])}, run {fmt_s(m['run_s'])}",
         f"{mid['events_ratio_engine_vs_bare']:.1%} of bare", "-"],
        ["2", "whole replication (tracks + engine)", f"{mid['replications_per_s']:.2f} rep/s",
         f"median {fmt_s(m['total_s'])} (tracks {fmt_s(m['tracks_s'])})",
         f"{mid['events_ratio_replication_vs_bare']:.1%} of bare", "-"],
    ]  # fmt: skip
    for name, r in res["reference"].items():
        if "skipped" in r:
            rows.append(["3", name, "skipped", r["skipped"], "-", "-"])
            continue
        mm = r["median"]
        ok = res["aims"]["reference_lt_10ms"] if name == "poland-2025-09-10" else None
        rows.append(
            ["3", f"{name} ({r['drones']} drones, {r['defenders']} defenders)",
             f"{fmt_s(mm['total_s'])}/rep",
             f"tracks {fmt_s(mm['tracks_s'])}, engine {fmt_s(mm['engine_s'])}; "
             f"median of {r['replications']}, best {fmt_s(r['min']['total_s'])}",
             "aim < 10 ms" if ok is not None else "-", aim(ok)]
        )  # fmt: skip
    for s in res["scaling"]:
        mm = s["median"]
        slope = s.get("slope_from_previous")
        ok = res["aims"]["d1000_lt_0_5s"] if s["size"] == 1000 else None
        rows.append(
            ["4", f"{s['size']:,} drones x 100 defenders", f"{fmt_s(mm['total_s'])}/rep",
             f"tracks {fmt_s(mm['tracks_s'])}, engine {fmt_s(mm['engine_s'])}, "
             f"{mm['events']:.0f} events; median of {s['replications']}, "
             f"best {fmt_s(s['min']['total_s'])}",
             (f"slope {slope['total_s']:.2f} (tracks {slope['tracks_s']:.2f}, "
              f"engine {slope['engine_s']:.2f})") if slope else "-",
             aim(ok)]
        )  # fmt: skip
    rows += [
        ["5", "circle_windows pairs/s (compiled)", f"{fmt_rate(geo['numpy_pairs_per_s'])}/s",
         f"{geo['segments']:,} legs x {geo['circles']} batteries; "
         f"{geo['share_of_pairs_with_window']:.1%} with a window",
         f"{geo['speedup_vs_python']:.0f}x plain Python", "-"],
        ["5", f"circle_windows in chunks of {geo['chunk_segments']} legs",
         f"{fmt_rate(geo['numpy_chunked_pairs_per_s'])}/s", "same pairs, cache-sized outputs",
         f"{geo['numpy_median_s'] / geo['numpy_chunked_median_s']:.2f}x unchunked", "-"],
        ["5", "plain Python loop pairs/s", f"{fmt_rate(geo['python_pairs_per_s'])}/s",
         f"{geo['python_pairs']:,} pairs; same windows: {geo['python_matches_numpy']}",
         "1x", "-"],
        ["5", "circle_windows compulsory bytes/s", f"{fmt_rate(geo['core_bytes_per_s'])}B/s",
         f"{geo['bytes_per_pair']:.1f} B/pair (inputs + 2 outputs)",
         f"{geo['core_vs_copy_bandwidth']:.1%} of copy bw", "-"],
        ["5", "np.copyto bandwidth (read + write)", f"{fmt_rate(geo['copy_bytes_per_s'])}B/s",
         f"{geo['copy_array_mb']} MB array", "baseline", "-"],
    ]  # fmt: skip
    print_table(
        f"incursion engine benchmark ({res['mode']}, {res['elapsed_s']:.0f} s)",
        ["#", "figure", "value", "detail", "ratio", "aim"],
        rows,
    )
    for label, p in (res.get("profiles") or {}).items():
        print_table(
            f"profile {label}: top by cumulative time ({fmt_s(p['profiled_s'])} profiled)",
            ["function", "calls", "cum %", "own %"],
            [[r["function"], f"{r['calls']:,}", f"{r['cum_pct']:.1f}", f"{r['own_pct']:.1f}"]
             for r in p["by_cumulative"][:15]],
        )  # fmt: skip
        print_table(
            f"profile {label}: top by own time",
            ["function", "calls", "cum %", "own %"],
            [[r["function"], f"{r['calls']:,}", f"{r['cum_pct']:.1f}", f"{r['own_pct']:.1f}"]
             for r in p["by_own"][:12]],
        )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
