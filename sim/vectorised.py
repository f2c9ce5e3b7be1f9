"""The vectorised engine: many replications at a time, for large studies.

The work of a replication splits into what does not depend on the defence (where each drone
flies: route spread, jamming, border and shot-allowed intervals, sensor cover and battery
envelopes) and what does (who engages whom, and when). The first is computed in numpy for a whole
pool of tracks at once (:mod:`sim.pools`); the second runs per replication in a compiled event
loop (:mod:`sim.kernel`), since command and control is sequential within a replication.

1. **Clusters.** Replications run in chunks; each chunk (a *cluster*) draws a fresh pool of ``k``
   track templates per drone, their random inputs from one shifted Sobol' set per drone
   (:mod:`sim.pools`, :mod:`sim.qmc`). In a replication a drone flies one of its own templates
   and its own uniform launch time. Templates are dealt, not drawn: in each block of ``k``
   replications of a cluster, every drone flies each of its templates once, in an order of its
   own (:func:`sim.kernel._templates_of`). Every template is an exact draw, so each replication
   still is; the cluster's mean loses the noise of random template counts. Small clusters are
   run in *groups* (:func:`plan_groups`): one pass over the geometry builds all their pools
   (:func:`sim.pools.build_pools`) and their metrics and tables are computed at once. Each keeps
   its own pool and streams, so grouping changes no result; it removes fixed costs that
   dominated runs of a few replications per cluster, such as a sweep's points.
2. **Replications** in the kernel: detection (one geometric draw per cover window, scans at
   multiples of ``scan_s`` in absolute time, sensors' hours), C2 by the doctrine's policy, battery
   engagements and fighter sorties, fates, shots and sorties.
3. **Metrics** from the flat outcome arrays (:mod:`sim.metrics`), with intervals computed over
   clusters.

What it models, exactly or not:

- Exactly the discrete-event engine's model, in distribution: each replication's tracks are
  independent draws of the model's tracks, and the defence follows the same rules (see
  :mod:`sim.kernel`): detection, envelopes, rules of engagement and no-fire zones, reaction time,
  time of flight, channels, magazines and reloads, shoot-look-shoot and salvo,
  ``max_shots_per_target``, re-assignment, the three assignment policies, point defence,
  fighters (scramble, intercept, shadowing, ``p_acquire``, cheapest weapon, on station, fuel,
  return, turnaround, flight-hour costs), costs and fates. Events at exactly the same instant
  may be taken in another order than SimPy's (detections and C2 cycles keep SimPy's order).
- Refused before anything runs: ``max_defenders_per_target`` above 1 (several defenders on one
  drone at once would interact during a fighter's intercept, which the kernel computes whole).

Replications in a cluster share the pool, so they are correlated; clusters are independent. The
point estimates are plain means over replications; the 95 % intervals are cluster-robust (see
:mod:`sim.metrics`). Random streams differ from the discrete-event engine's: results agree
statistically, not draw for draw. A run is reproducible for a given seed and replication count,
on any number of workers.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim import kernel, runner
from sim.errors import IncursionError
from sim.kernel import Scene, Tpl
from sim.metrics import (
    ClusterMoments,
    Outcomes,
    replication_metrics,
    summarize,
    summary_from_parts,
)
from sim.pools import build_pool, build_pools, geometry_key, position
from sim.results import (
    RunResult,
    TrackPaths,
    drone_table,
    empty_tables,
    shot_table,
    sortie_table,
)
from sim.scenario import Scenario
from sim.world import KMH, World, build_world

__all__ = ["clear_pool_cache", "run_vectorised", "unsupported_features"]

#: Most replications in one chunk (one cluster sharing a pool of tracks).
CHUNK_REPLICATIONS = 4096
#: Fewest clusters a run is split into (when it has that many replications), so that its
#: intervals rest on enough independent units.
MIN_CLUSTERS = 32
#: Most track templates per drone in a cluster's pool, by default.
TEMPLATES_PER_DRONE = 512
#: Most templates in a cluster's pool, all drones together: scenarios with many drones get
#: fewer per drone, to bound a pool's memory. The mass raid (500 drones, 43 batteries) gets 128
#: per drone: a cluster's mean varies 3.5 times less than with 32 (the cap was 16,384) for
#: about 100 MiB more per process and the same run time (``benchmarks/README.md``).
POOL_TEMPLATES = 65536
#: Flight paths (for the map and GeoJSON) are kept for the first replications only. The drone,
#: shot and sortie tables keep as many replications as the discrete-event engine's (up to
#: ``sim.runner._MAX_TABLE_ROWS`` drone rows); the summary covers all.
PATH_REPLICATIONS = 1000
#: Consecutive clusters whose pools hold this many templates at most, all together, are built
#: in one pass over the geometry and their metrics computed at once (:func:`plan_groups`). A
#: pass and a table cost a few milliseconds whatever their size, which dominated runs of a few
#: replications per cluster (sweeps: 40 replications are 32 clusters); above this size the
#: passes slow down (arrays outgrow the cache) and a group would only delay the progress bar.
GROUP_TEMPLATES = 16384
#: Most templates the pools kept for reuse hold, all together (about 300 bytes a template on the
#: reference night: some 20 MB). A group's pools are kept if they fit; the least recently used
#: go first. Enough for the small points of a sweep (the shipped sweep's four raid sizes, up to
#: 420 drones, need 46,000), small against a large run's own memory, which gains nothing from
#: them. See :func:`_group_pools`.
POOL_CACHE_TEMPLATES = 65_536
_STREAM_POOLS = 2**31 - 3
_STREAM_KERNEL = 2**31 - 4
_POLICY = {"cheapest": 0, "nearest": 1, "layered": 2}


def unsupported_features(scenario: Scenario) -> list[str]:
    """What in ``scenario`` the vectorised engine does not model (empty if it can run it)."""
    out = []
    if scenario.doctrine.max_defenders_per_target != 1:
        out.append("doctrine.max_defenders_per_target above 1")
    return out


def plan_chunks(
    replications: int, n_drones: int, *, templates: int | None = None
) -> tuple[list[int], int]:
    """Chunk sizes of a run of ``replications`` and the templates per drone of each pool.

    A run has at least :data:`MIN_CLUSTERS` clusters (all of its replications, one each, when it
    has fewer) of at most :data:`CHUNK_REPLICATIONS`: below ``MIN_CLUSTERS * CHUNK_REPLICATIONS``
    replications, exactly ``MIN_CLUSTERS`` clusters whose sizes differ by one at most; above,
    full clusters and the remainder. A pool has, per drone, a power of two of templates: no more
    than a chunk's replications can use, at most :data:`TEMPLATES_PER_DRONE` and, for all drones
    together, at most :data:`POOL_TEMPLATES` (one per drone at least), unless ``templates`` says
    otherwise. Both depend only on the scenario and the replication count, so a seed fixes the
    result.
    """
    if replications >= MIN_CLUSTERS * CHUNK_REPLICATIONS:
        size = CHUNK_REPLICATIONS
        sizes = [min(size, replications - k) for k in range(0, replications, size)]
    else:
        # equal shares, not ceil(replications / MIN_CLUSTERS) each: 33 replications would
        # otherwise make 17 clusters, and the intervals 16 degrees of freedom instead of 31
        n_chunks = max(1, min(MIN_CLUSTERS, replications))
        q, r = divmod(replications, n_chunks)
        sizes = [q + 1] * r + [q] * (n_chunks - r)
        size = sizes[0]
    if templates is None:
        budget = max(1, POOL_TEMPLATES // max(n_drones, 1))
        templates = min(
            TEMPLATES_PER_DRONE, 1 << (budget.bit_length() - 1), 1 << (size - 1).bit_length()
        )
    return sizes, int(templates)


def plan_groups(n_clusters: int, k: int, n_drones: int) -> list[list[int]]:
    """Consecutive clusters ``0 .. n_clusters - 1`` in groups of at most
    :data:`GROUP_TEMPLATES` templates (``k`` per drone each; one cluster at least per group).

    Depends on the run's shape only, never on the number of workers; and a cluster's result
    does not depend on its group anyway (:func:`_group_result`).
    """
    per = max(1, GROUP_TEMPLATES // max(k * max(n_drones, 1), 1))
    return [list(range(c, min(c + per, n_clusters))) for c in range(0, n_clusters, per)]


def _scene(world: World) -> Scene:
    scen = world.scenario
    doc = scen.doctrine
    weapons = [scen.weapons[name] for name in world.weapon_names]
    wi = {name: i for i, name in enumerate(world.weapon_names)}
    bats = world.batteries
    bw = [scen.weapons[b.weapon] for b in bats]
    bases = world.airbases
    plats = [scen.platforms[a.platform] for a in bases]
    slots = max([len(a.loadout) for a in bases] + [1])
    lo_w = np.full((max(len(bases), 1), slots), -1, np.int64)
    lo_n = np.zeros((max(len(bases), 1), slots), np.int64)
    for j, a in enumerate(bases):
        for s, (name, count) in enumerate(a.loadout.items()):
            lo_w[j, s], lo_n[j, s] = wi[name], count
    ac_base = np.array([j for j, a in enumerate(bases) for _ in range(a.aircraft)], np.int64)
    ac_num = np.array([k for a in bases for k in range(a.aircraft)], np.int64)
    f = np.float64

    def arr(values: list, dtype: type = f) -> np.ndarray:
        return np.asarray(values, dtype) if values else np.zeros(0, dtype)

    return Scene(
        horizon=float(scen.duration_s),
        max_shots=int(doc.max_shots_per_target),
        sls=bool(doc.shoot_look_shoot),
        assess=float(doc.assessment_s),
        policy=_POLICY[doc.assignment],
        wave_of=np.concatenate([np.full(w.count, i, np.int64) for i, w in enumerate(world.waves)]),
        win_lo=arr([w.window_s[0] for w in world.waves]),
        win_hi=arr([w.window_s[1] for w in world.waves]),
        sen_active=np.asarray(world.sensor_active_s, f).reshape(-1, 2),
        sen_scan=np.asarray(world.sensor_scan_s, f),
        sen_p=np.asarray(world.sensor_p, f),
        nb=len(bats),
        bat_x=np.asarray(world.bat_x, f),
        bat_y=np.asarray(world.bat_y, f),
        bat_speed=arr([w.speed_mps for w in bw]),
        bat_pk=arr([w.pk for w in bw]),
        bat_cost=arr([w.cost_usd for w in bw]),
        bat_wpn=arr([wi[b.weapon] for b in bats], np.int64),
        bat_reaction=arr([b.reaction_s for b in bats]),
        bat_cap=arr([b.magazine for b in bats], np.int64),
        bat_channels=arr([b.channels for b in bats], np.int64),
        bat_reload=arr([b.reload_min is not None for b in bats], np.bool_),
        bat_reload_s=arr([math.inf if b.reload_min is None else b.reload_min * 60.0 for b in bats]),
        bat_defended=np.asarray(world.bat_defended_r, f),
        na=len(bases),
        base_x=np.asarray(world.base_x, f),
        base_y=np.asarray(world.base_y, f),
        base_speed=arr([p.cruise_kmh * KMH for p in plats]),
        base_endurance=arr([p.endurance_h * 3600.0 for p in plats]),
        base_cost_s=arr([p.cost_per_flight_hour_usd / 3600.0 for p in plats]),
        base_cost_h=arr([p.cost_per_flight_hour_usd for p in plats]),
        base_scramble=arr([a.scramble_min * 60.0 for a in bases]),
        base_turn=arr([a.turnaround_min * 60.0 for a in bases]),
        base_pacq=arr([a.p_acquire for a in bases]),
        ac_base=ac_base,
        ac_num=ac_num,
        lo_w=lo_w,
        lo_n=lo_n,
        wpn_cost=arr([w.cost_usd for w in weapons]),
        wpn_pk=arr([w.pk for w in weapons]),
        wpn_tof=arr([w.min_range_km * 1000.0 / w.speed_mps for w in weapons]),
        wpn_min_alt=arr([w.min_altitude_m for w in weapons]),
        wpn_max_alt=arr([w.max_altitude_m for w in weapons]),
    )


# ---------------------------------------------------------------------------------- one chunk
@dataclass
class _ChunkResult:
    """What one chunk contributes to the run (small enough to send between processes)."""

    per_rep: dict[str, np.ndarray]
    moments: ClusterMoments
    tables: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None
    paths: dict[int, TrackPaths] | None


def _kernel_key(seed: int) -> np.uint64:
    ss = np.random.SeedSequence(seed, spawn_key=(_STREAM_KERNEL,))
    return np.uint64(ss.generate_state(1, np.uint64)[0])


def _run_kernel(
    tp: Tpl, sc: Scene, key: np.uint64, first_rep: int, reps: int, cluster_first: int | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Replications ``first_rep ..`` of the cluster starting at ``cluster_first`` (default:
    ``first_rep``) in the kernel: per-drone outputs, shot rows and sortie rows."""
    cluster_first = first_rep if cluster_first is None else cluster_first
    n = sc.wave_of.size
    out = {
        "fate": np.empty((reps, n), np.int8),
        "fate_s": np.empty((reps, n)),
        "border": np.empty((reps, n)),
        "detect": np.empty((reps, n)),
        "launch": np.empty((reps, n)),
        "tid": np.empty((reps, n), np.int64),
        "kill_def": np.empty((reps, n), np.int64),
        "shots_at": np.empty((reps, n), np.int64),
    }
    room = reps * max(n, 1) * max(sc.max_shots, 1) + 16
    while True:
        shots = np.empty((room, 8))
        sorties = np.empty((reps * max(sc.ac_base.size, 1) * 4 + 16, 6))
        n_shots = np.zeros(1, np.int64)
        n_sorties = np.zeros(1, np.int64)
        ok = kernel.run_chunk(
            tp, sc, key, cluster_first, first_rep, reps, out["fate"], out["fate_s"], out["border"],
            out["detect"], out["launch"], out["tid"], out["kill_def"], out["shots_at"], shots,
            n_shots, sorties, n_sorties,
        )  # fmt: skip
        if ok:
            return out, shots[: n_shots[0]], sorties[: n_sorties[0]]
        room *= 4


def _group_result(
    world: World, sc: Scene, seed: int, k: int, rqmc: bool, jobs: list[tuple[int, ...]],
    keep_pools: bool = False,
) -> _ChunkResult:  # fmt: skip
    """Consecutive clusters, each ``(cluster, first replication, replications, tables kept,
    paths kept)``: their pools, their replications, and the tables of their first replications
    and the flight paths of the first ones of those.

    Each cluster has its own pool and streams, so the result is the same whichever clusters
    share a group (:func:`plan_groups`); a group saves the fixed costs of a pass over the
    geometry and of the metrics, which dominate when clusters are small.
    """
    rngs = [
        np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAM_POOLS, job[0])))
        for job in jobs
    ]
    if rqmc and keep_pools:
        pools = _group_pools(world, seed, k, [job[0] for job in jobs], rngs)
    elif rqmc:
        pools = build_pools(world, k, rngs)
    else:
        pools = [build_pool(world, k, r, rqmc=False) for r in rngs]
    key = _kernel_key(seed)
    outs: list[dict[str, np.ndarray]] = []
    shot_parts: list[np.ndarray] = []
    sortie_parts: list[np.ndarray] = []
    fate_xy: list[tuple[np.ndarray, np.ndarray]] = []
    shot_xy: list[tuple[np.ndarray, np.ndarray]] = []
    paths: dict[int, TrackPaths] = {}
    offset = 0
    for tp, (_, first_rep, reps, keep, keep_paths) in zip(pools, jobs, strict=True):
        out, shots, sorties = _run_kernel(tp, sc, key, first_rep, reps)
        if keep > 0:
            fate_xy.append(_fate_positions(tp, out, keep))
            shot_xy.append(_shot_positions(tp, out, shots[shots[:, 0] < keep]))
        if keep_paths > 0:
            paths.update(_paths(sc, tp, out, first_rep, keep_paths))
        # replication indices within the group from here on
        shots[:, 0] += offset
        sorties[:, 0] += offset
        outs.append(out)
        shot_parts.append(shots)
        sortie_parts.append(sorties)
        offset += reps
    if len(outs) == 1:  # a large cluster alone: no copies
        out, shots, sorties = outs[0], shot_parts[0], sortie_parts[0]
    else:
        out = {name: np.concatenate([o[name] for o in outs]) for name in outs[0]}
        shots = np.concatenate(shot_parts)
        sorties = np.concatenate(sortie_parts)
    s_rep = shots[:, 0].astype(np.int64)
    o = Outcomes(
        fate=out["fate"],
        crossed=np.isfinite(out["border"]),
        detected=np.isfinite(out["detect"]),
        border_cross_s=out["border"],
        fate_s=out["fate_s"],
        drone_cost_usd=np.concatenate([np.full(w.count, w.cost_usd) for w in world.waves]),
        drone_damage_usd=np.concatenate([np.full(w.count, w.damage_usd) for w in world.waves]),
        shot_rep=s_rep,
        shot_weapon=shots[:, 3].astype(np.int64),
        shot_defender=shots[:, 2].astype(np.int64),
        shot_hit=shots[:, 4] > 0.5,
        shot_cost_usd=shots[:, 7],
        sortie_rep=sorties[:, 0].astype(np.int64),
        sortie_defender=sorties[:, 1].astype(np.int64),
        sortie_cost_usd=sorties[:, 5],
        sortie_hours=(sorties[:, 4] - sorties[:, 3]) / 3600.0,
        weapon_names=world.weapon_names,
        defender_names=world.defender_names,
    )
    clusters = np.repeat([job[0] for job in jobs], [job[2] for job in jobs]).astype(np.int64)
    moments = ClusterMoments()
    moments.add_groups(o, clusters)
    per_rep = {key: np.asarray(v, float) for key, v in replication_metrics(o).items()}
    keep = sum(job[3] for job in jobs)
    tables = None
    if keep > 0:
        # kept replications are the first of the run, so the first of the group
        tables = _tables(world, out, shots, sorties, jobs[0][1], keep, fate_xy, shot_xy)
    return _ChunkResult(per_rep=per_rep, moments=moments, tables=tables, paths=paths or None)


_POOL_CACHE: OrderedDict[tuple[str, int, int, tuple[int, ...]], list[Tpl]] = OrderedDict()
#: The last world's geometry key (the world kept, so that its identity stands for it).
_LAST_GEOMETRY: list[tuple[World, str]] = []


def _geometry_key(world: World) -> str:
    """:func:`sim.pools.geometry_key` of the world's scenario, with the border and areas as
    loaded (a border file edited between two runs of one process changes the key), computed
    once per world."""
    if not _LAST_GEOMETRY or _LAST_GEOMETRY[0][0] is not world:
        h = hashlib.sha256(geometry_key(world.scenario).encode())
        h.update(world.projection.crs.to_wkt().encode())
        regions = [world.territory.edges, *(r.edges for r in world.nofire_polygons)]
        regions += [r.edges for r in world.roe_nofire_polygons]
        if world.roe_inner is not None:
            regions.append(world.roe_inner.edges)
        for edges in regions:
            h.update(np.ascontiguousarray(edges, np.float64).tobytes())
            h.update(b"|")
        _LAST_GEOMETRY[:] = [(world, h.hexdigest())]
    return _LAST_GEOMETRY[0][1]


def clear_pool_cache() -> None:
    """Forget the track pools kept for reuse (:func:`_group_pools`), e.g. to time a run cold or
    to give their memory back."""
    _POOL_CACHE.clear()


def _group_pools(
    world: World, seed: int, k: int, clusters: list[int], rngs: list[np.random.Generator]
) -> list[Tpl]:
    """The pools of ``clusters`` (:func:`sim.pools.build_pools`), reused when a run before asked
    for the same ones.

    A pool is fixed by the scenario's geometry (:func:`sim.pools.geometry_key`), the seed, the
    templates per drone and the cluster's index. Sweep points with common random numbers share
    the seed, and most sweeps vary the defence, not where drones fly: their points then fly
    the very same tracks, which are computed once instead of at every point. The pools are only
    read, never written, by the kernel and the tables.
    """
    n_templates = k * world.n_drones * len(clusters)
    if n_templates > POOL_CACHE_TEMPLATES:
        return build_pools(world, k, rngs)
    key = (_geometry_key(world), int(seed), int(k), tuple(int(c) for c in clusters))
    pools = _POOL_CACHE.get(key)
    if pools is not None:
        _POOL_CACHE.move_to_end(key)
        return pools
    pools = build_pools(world, k, rngs)
    _POOL_CACHE[key] = pools
    held = sum(sum(tp.end.size for tp in v) for v in _POOL_CACHE.values())
    while held > POOL_CACHE_TEMPLATES:
        _, old = _POOL_CACHE.popitem(last=False)
        held -= sum(tp.end.size for tp in old)
    return pools


def _fate_positions(
    tp: Tpl, out: dict[str, np.ndarray], keep: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where each drone of the first ``keep`` replications met its fate, in the plane."""
    tid = out["tid"][:keep].ravel()
    return position(tp, tid, out["fate_s"][:keep].ravel() - out["launch"][:keep].ravel())


def _shot_positions(
    tp: Tpl, out: dict[str, np.ndarray], shots: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``shots`` (rows of this cluster's kernel output) meets its drone."""
    r, d = shots[:, 0].astype(np.int64), shots[:, 1].astype(np.int64)
    return position(tp, out["tid"][r, d], shots[:, 6] - out["launch"][r, d])


def _paths(
    sc: Scene, tp: Tpl, out: dict[str, np.ndarray], first_rep: int, keep: int
) -> dict[int, TrackPaths]:
    """Flight paths of this chunk's first ``keep`` replications (their templates, shifted)."""
    paths = {}
    for r in range(keep):
        tid, shift = out["tid"][r], out["launch"][r]
        lo, hi = tp.bp_off[tid], tp.bp_off[tid + 1]
        cnt = hi - lo
        owner = np.repeat(np.arange(tid.size), cnt)
        rows = np.repeat(lo - np.r_[0, np.cumsum(cnt)[:-1]], cnt) + np.arange(cnt.sum())
        paths[first_rep + r] = TrackPaths(
            wave=sc.wave_of.copy(),
            offsets=np.r_[0, np.cumsum(cnt)],
            bt=tp.bt[rows] + shift[owner],
            bx=tp.bx[rows],
            by=tp.by[rows],
        )
    return paths


def _tables(
    world: World, out: dict[str, np.ndarray], shots: np.ndarray, sorties: np.ndarray,
    first_rep: int, keep: int, fate_xy: list[tuple[np.ndarray, np.ndarray]],
    shot_xy: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Drone, shot and sortie tables of a group's first ``keep`` replications (``first_rep``:
    the first's index in the run); ``fate_xy`` and ``shot_xy``: the positions of their fates
    and of those replications' shots, per cluster."""
    n = world.n_drones

    def take(key: str) -> np.ndarray:
        return out[key][:keep].ravel()

    launch, fate_s = take("launch"), take("fate_s")
    sh = shots[shots[:, 0] < keep]
    s_rep, s_drone = sh[:, 0].astype(np.int64), sh[:, 1].astype(np.int64)
    s_w = sh[:, 3].astype(np.int64)
    hits = sh[:, 4] > 0.5
    # the weapon of each kill: the weapon of the kill's hit
    kill_w = np.full(keep * n, -1, np.int64)
    kill_w[s_rep[hits] * n + s_drone[hits]] = s_w[hits]
    fx = np.concatenate([xy[0] for xy in fate_xy])
    fy = np.concatenate([xy[1] for xy in fate_xy])
    drones = drone_table(
        world,
        np.repeat(np.arange(keep), n) + first_rep,
        np.tile(np.concatenate([np.full(w.count, i) for i, w in enumerate(world.waves)]), keep),
        launch_s=launch,
        border_cross_s=take("border"),
        detected_s=take("detect"),
        fate=take("fate"),
        fate_s=fate_s,
        fate_x=fx,
        fate_y=fy,
        killed_by=take("kill_def"),
        killed_weapon=kill_w,
        shots_at=take("shots_at"),
    )
    sx = np.concatenate([xy[0] for xy in shot_xy])
    sy = np.concatenate([xy[1] for xy in shot_xy])
    shot_df = shot_table(
        world,
        s_rep + first_rep,
        time_s=sh[:, 5],
        impact_s=sh[:, 6],
        defender=sh[:, 2].astype(np.int64),
        weapon=s_w,
        drone=s_drone,
        hit=hits,
        cost_usd=sh[:, 7],
        x=sx,
        y=sy,
    ).sort_values(["replication", "impact_s", "drone"], kind="stable", ignore_index=True)
    so = sorties[sorties[:, 0] < keep]
    sortie_df = sortie_table(
        world,
        so[:, 0].astype(np.int64) + first_rep,
        defender=so[:, 1].astype(np.int64),
        aircraft=so[:, 2].astype(np.int64),
        wheels_up_s=so[:, 3],
        landing_s=so[:, 4],
        hours=(so[:, 4] - so[:, 3]) / 3600.0,
        cost_usd=so[:, 5],
    ).sort_values(["replication", "wheels_up_s"], kind="stable", ignore_index=True)
    return drones, shot_df, sortie_df


def _group_task(
    scenario: Scenario, seed: int, k: int, rqmc: bool, jobs: list[tuple[int, ...]],
    keep_pools: bool = False,
) -> _ChunkResult:  # fmt: skip
    """A group of clusters in a worker process (it builds its own world); as
    :func:`_group_result`."""
    world, sc = _worker_world(scenario)
    return _group_result(world, sc, seed, k, rqmc, jobs, keep_pools)


_WORKER_CACHE: dict[str, tuple[World, Scene]] = {}


def _worker_world(scenario: Scenario) -> tuple[World, Scene]:
    key = scenario.model_dump_json()
    if key not in _WORKER_CACHE:
        _WORKER_CACHE.clear()
        world = build_world(scenario)
        _WORKER_CACHE[key] = (world, _scene(world))
    return _WORKER_CACHE[key]


def run_vectorised(
    scenario: Scenario,
    *,
    replications: int,
    seed: int,
    templates: int | None = None,
    workers: int | None = 1,
    progress: Callable[[int, int], None] | None = None,
    until_ci: float | None = None,
    max_replications: int = 10_000,
    rqmc: bool = True,
    tables: bool = True,
) -> RunResult:
    """Run ``replications`` of a scenario with the vectorised engine (see the module docstring).

    Parameters
    ----------
    templates : int, optional
        Track templates per drone in each cluster's pool (default: see :func:`plan_chunks`), at
        least 1; a power of two keeps the Sobol' sets fully balanced. More templates cost more
        geometry per cluster and make replications of a cluster less correlated (narrower
        intervals for the same count).
    workers : int or None
        Processes for the chunks (``None``: every core). Chunks have their own streams and are
        combined in order, so the result is the same for any number.
    until_ci : float, optional
        Keep adding batches of ``replications`` (clusters of the first batch's size) until the
        95 % interval of the cost-exchange ratio is narrower than this fraction of its mean, or
        ``max_replications`` is reached; ``RunResult.stop_reason`` says which.
    rqmc : bool
        Draw each pool's random inputs from shifted Sobol' sets (default) or independently
        (the same model, wider intervals; for comparison).
    tables : bool
        Keep the drone, shot and sortie tables and the flight paths of the first replications
        (default). False leaves them empty and saves their cost (sweeps need the summary and
        per-replication metrics only); every other figure is the same.

    Raises
    ------
    IncursionError
        If the scenario uses a feature this engine does not model (use the discrete-event
        engine then).
    """
    missing = unsupported_features(scenario)
    if missing:
        raise IncursionError(
            "the vectorised engine does not model " + "; ".join(missing)
            + ". Use --engine des (the SimPy engine) for this scenario."
        )  # fmt: skip
    started = time.perf_counter()
    world, sc = _worker_world(scenario)
    sizes, k = plan_chunks(replications, world.n_drones, templates=templates)
    if k < 1:
        raise IncursionError(f"templates must be at least 1 per drone, got {k}")
    total = replications if until_ci is None else max(replications, max_replications)
    table_reps = max(1, runner._MAX_TABLE_ROWS // max(world.n_drones, 1))
    # Keep the pools for a later run only when all of this run's fit: small runs such as sweep
    # points, which another point may fly again; a large run would only hold memory.
    keep_pools = len(sizes) * k * world.n_drones <= POOL_CACHE_TEMPLATES
    n_workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    per_rep: dict[str, list[np.ndarray]] = {}
    moments = ClusterMoments()
    kept: list[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]] = []
    paths: dict[int, TrackPaths] = {}
    chunk_sizes: list[int] = []

    def absorb(res: _ChunkResult, group: list[tuple[int, ...]]) -> None:
        for key, values in res.per_rep.items():
            per_rep.setdefault(key, []).append(values)
        moments.merge(res.moments)
        if res.tables is not None:
            kept.append(res.tables)
        if res.paths is not None:
            paths.update(res.paths)
        chunk_sizes.extend(job[2] for job in group)
        if progress is not None:
            progress(sum(chunk_sizes), total)

    def run_batch(batch: list[int]) -> None:
        first_chunk, first_rep = len(chunk_sizes), sum(chunk_sizes)
        firsts = (first_rep + np.r_[0, np.cumsum(batch)[:-1]]).astype(int).tolist()
        # (cluster, first replication, replications, tables kept, paths kept)
        jobs = [
            (
                first_chunk + j,
                f,
                r,
                max(0, min(r, table_reps - f)) if tables else 0,
                max(0, min(r, PATH_REPLICATIONS - f)) if tables else 0,
            )
            for j, (f, r) in enumerate(zip(firsts, batch, strict=True))
        ]
        groups = [[jobs[c] for c in g] for g in plan_groups(len(jobs), k, world.n_drones)]
        n_proc = min(n_workers, len(groups) - 1)
        if n_proc <= 1:
            for group in groups:
                absorb(_group_result(world, sc, seed, k, rqmc, group, keep_pools), group)
            return
        # The first group runs here: on a machine's first run that compiles the kernel once,
        # and the workers then load it from numba's cache instead of each compiling it.
        absorb(_group_result(world, sc, seed, k, rqmc, groups[0], keep_pools), groups[0])
        pool = ProcessPoolExecutor(max_workers=n_proc)
        try:
            futures = [
                pool.submit(_group_task, scenario, seed, k, rqmc, group, keep_pools)
                for group in groups[1:]
            ]
            for fut, group in zip(futures, groups[1:], strict=True):  # in order: same result
                absorb(fut.result(), group)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()

    run_batch(sizes)
    stop_reason = "replications"
    if until_ci is not None:
        size = sizes[0]
        while True:
            cer = np.concatenate(per_rep["cost_exchange_ratio"])
            clusters = np.repeat(np.arange(len(chunk_sizes)), chunk_sizes)
            width = runner.relative_width(
                summarize(cer, kind="ratio", rng_seed=seed, clusters=clusters)
            )
            done = len(cer)
            reason = runner.ci_stop_reason(
                width, until_ci, len(chunk_sizes), done, max_replications
            )
            if reason is not None:
                stop_reason = reason
                break
            more = min(replications, max_replications - done)
            run_batch([min(size, more - j) for j in range(0, more, size)])
    n_run = sum(chunk_sizes)
    clusters = np.repeat(np.arange(len(chunk_sizes)), chunk_sizes)
    # Each metric's chunks are let go as soon as they are joined, and the frame below wraps the
    # joined arrays instead of copying them: at 1,000,000 replications, three copies of the
    # per-replication values were 400 MiB of the run's peak.
    metrics = {key: np.concatenate(per_rep.pop(key)) for key in list(per_rep)}
    summary = summary_from_parts(
        scenario=scenario.name,
        seed=seed,
        engine="vectorised",
        per_rep=metrics,
        moments=moments,
        weapon_names=world.weapon_names,
        defender_names=world.defender_names,
        clusters=clusters,
    )
    summary["clusters"] = len(chunk_sizes)
    summary["templates_per_drone"] = k
    summary["pool_sampling"] = "shifted Sobol'" if rqmc else "independent"
    per_replication = pd.DataFrame(
        {"replication": np.arange(n_run), "cluster": clusters} | metrics, copy=False
    )
    drones, shots, sorties = (
        (pd.concat([t[i] for t in kept], ignore_index=True) for i in range(3))
        if kept
        else empty_tables(world)
    )
    return RunResult(
        scenario=scenario,
        seed=int(seed),
        engine="vectorised",
        summary=summary,
        drones=drones,
        shots=shots,
        sorties=sorties,
        replication_seeds=[],
        events=0,
        wall_s=time.perf_counter() - started,
        stop_reason=stop_reason,
        world=world,
        per_replication=per_replication,
        track_paths=paths,
    )
