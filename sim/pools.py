"""Track pools for the vectorised engine: every track's geometry computed once, in numpy.

A *template* is one drone's track flown from launch time 0: route spread and electronic-warfare
outcome drawn as in the discrete-event engine, then border crossing, territory and
shot-allowed intervals, sensor cover and battery envelope windows, all in template time. A drone
of a replication takes a template and its own launch time; everything above is the template's
shifted by that launch time (space does not depend on when a drone flies), cut at the
scenario's horizon. Detection scans, the sensors' hours and every draw of the defence stay in
absolute time and are drawn per replication (:mod:`sim.kernel`).

A pool holds ``k`` templates for each drone of the scenario (its *slot*); in every replication a
drone flies one of its own slot's templates, dealt so that each block of ``k`` replications
flies each template once (:func:`sim.kernel._templates_of`). The random inputs of a slot's
templates (route spread, then the electronic-warfare uniforms) are the points of a digitally
shifted Sobol' set (:mod:`sim.qmc`), one independent set per slot:

- every point is uniform, so every template, whichever replication flies it, is exactly a draw
  of its wave's track distribution;
- slots are independent, so the drones of a replication fly independent tracks, and each
  replication is exactly distributed as in the discrete-event engine;
- the set is stratified, so a pool represents the track distribution more evenly than ``k``
  independent draws would, and the means of replications that share it vary less.

Replications that share a pool are correlated through it, which is why the vectorised engine
computes its intervals over pools (clusters), not replications. ``rqmc=False`` draws the
templates independently instead (the same model; used to measure the gain).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtri

from sim.intervals import merge_intervals
from sim.kernel import Tpl
from sim.qmc import shifted_sobol
from sim.scenario import Scenario
from sim.tracks import battery_windows, border_crossings, breakpoints, fly, sensor_cover
from sim.world import World

__all__ = [
    "build_pool",
    "build_pools",
    "csr",
    "geometry_key",
    "pool_draws",
    "position",
    "subset",
]

#: Scenario fields that never reach a track pool: what the defence does with the tracks (rounds,
#: channels, reaction, kill probabilities, costs, the doctrine's shot rules, fighters, sensors'
#: scan and detection draws), not where drones fly or where sensors and batteries could see and
#: reach them. Scenarios that differ only here get the same pools from the same random inputs
#: (``tests/test_pool_cache.py`` checks each field), so a sweep over a defence's mix can build its
#: tracks once. Positions and envelopes always stay in the key, airbases' positions included
#: (they shape the projection and the scenario's area).
_NOT_GEOMETRY: dict[str, tuple[str, ...]] = {
    "scenario": ("name", "description", "seed", "replications", "platforms"),
    "doctrine": (
        "max_shots_per_target", "shoot_look_shoot", "assessment_s", "assignment",
        "max_defenders_per_target",
    ),
    "battery": ("magazine", "channels", "reload_min", "reaction_s"),
    "airbase": ("platform", "aircraft", "scramble_min", "loadout", "turnaround_min", "p_acquire"),
    "sensor": ("scan_s", "p_detect", "active_h"),
    # a template flies from its own time 0; each replication shifts it by a launch time
    "wave": ("launch_time_min",),
    "weapon": ("cost_usd", "pk", "sources", "launched_from"),
    "drone_type": ("cost_usd", "damage_usd", "sources"),
}  # fmt: skip


def geometry_key(scenario: Scenario) -> str:
    """A digest of everything in ``scenario`` that a track pool depends on: scenarios with the
    same key build the same pools from the same random inputs (see ``_NOT_GEOMETRY``)."""
    doc = scenario.model_dump(mode="json")
    for name in _NOT_GEOMETRY["scenario"]:
        doc.pop(name, None)
    for name in _NOT_GEOMETRY["doctrine"]:
        doc["doctrine"].pop(name, None)
    for d in doc["defenders"]:
        for name in _NOT_GEOMETRY[d["kind"]]:
            d.pop(name, None)
    for part, items in (("sensor", doc["sensors"]), ("wave", doc["waves"])):
        for item in items:
            for name in _NOT_GEOMETRY[part]:
                item.pop(name, None)
    for part, table in (("weapon", doc["weapons"]), ("drone_type", doc["drone_types"])):
        for item in table.values():
            for name in _NOT_GEOMETRY[part]:
                item.pop(name, None)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def csr(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """Offsets of sorted ``keys`` in ``0 .. n_keys - 1`` (row ``k`` is ``off[k]:off[k+1]``)."""
    return np.searchsorted(keys, np.arange(n_keys + 1), side="left").astype(np.int64)


def pool_draws(
    world: World, k: int, rng: np.random.Generator
) -> tuple[list[np.ndarray | None], np.ndarray]:
    """Random inputs of ``k`` templates per drone slot, one shifted Sobol' set per slot.

    Returns ``spread_z`` (per wave: standard normals, shape (count * k, waypoints, 2), or None
    without spread) and ``ew_u`` (uniforms, shape (drones * k, areas, 4)), in template order
    (slot ``i``'s ``j``-th template is ``i * k + j``). A point's first coordinates are the ones
    that matter most, where Sobol' sets are most even: each area's outcome, then the spread,
    then the time of a loss and the angle and side of a diversion.
    """
    n_areas = int(world.ew_x.size)
    spread: list[np.ndarray | None] = []
    ew = []
    for w in world.waves:
        n_wp = w.route_xy.shape[0]
        d_s = 2 * n_wp if w.spread_m > 0 else 0
        u = shifted_sobol(k, 4 * n_areas + d_s, rng, sets=w.count).reshape(w.count * k, -1)
        spread.append(ndtri(u[:, n_areas : n_areas + d_s]).reshape(-1, n_wp, 2) if d_s else None)
        e = np.empty((w.count * k, n_areas, 4))
        if n_areas:
            e[:, :, 0] = u[:, :n_areas]
            e[:, :, 1:] = u[:, n_areas + d_s :].reshape(-1, n_areas, 3)
        ew.append(e)
    return spread, np.concatenate(ew)


def build_pool(world: World, k: int, rng: np.random.Generator, *, rqmc: bool = True) -> Tpl:
    """``k`` templates per drone slot; template ``i * k + j`` is drone ``i``'s ``j``-th.

    With ``rqmc`` (the default) each slot's random inputs are a shifted Sobol' set
    (:func:`pool_draws`); without, independent draws from ``rng``.
    """
    spread_z, ew_u = pool_draws(world, k, rng) if rqmc else (None, None)
    return _build(world, k, rng, spread_z, ew_u)


def build_pools(world: World, k: int, rngs: Sequence[np.random.Generator]) -> list[Tpl]:
    """The pools :func:`build_pool` builds from each of ``rngs`` (shifted Sobol' sets), in one pass.

    Each pool's random inputs are drawn from its own generator exactly as :func:`build_pool`
    draws them; the tracks of all pools are then computed together and split into pools again.
    Every template's geometry depends on its own inputs only, so each pool is the same, bit for
    bit, as when built alone (``tests/test_qmc.py`` checks it); what is saved is the fixed cost
    of a pass over the geometry, which dominates when pools are small (runs of a few
    replications per cluster).
    """
    if len(rngs) == 1:
        return [build_pool(world, k, rngs[0])]
    b = len(rngs)
    draws = [pool_draws(world, k, rng) for rng in rngs]
    n = world.n_drones
    # batched template order: drone slot, then pool, then the pool's own template order
    spread_z: list[np.ndarray | None] = []
    for wi, w in enumerate(world.waves):
        parts = [d[0][wi] for d in draws]
        if parts[0] is None:
            spread_z.append(None)
            continue
        z = np.stack(parts).reshape(b, w.count, k, *parts[0].shape[1:])
        spread_z.append(z.swapaxes(0, 1).reshape(w.count * b * k, *parts[0].shape[1:]))
    e = np.stack([d[1] for d in draws])
    ew_u = e.reshape(b, n, k, *e.shape[2:]).swapaxes(0, 1).reshape(n * b * k, *e.shape[2:])
    big = _build(world, b * k, rngs[0], spread_z, ew_u)
    base = (np.arange(n) * (b * k))[:, None] + np.arange(k)[None, :]
    return [subset(big, (base + c * k).ravel(), k) for c in range(b)]


def _rows(off: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and element indices of ``rows`` of a CSR array with offsets ``off``."""
    lo, hi = off[rows], off[rows + 1]
    cnt = hi - lo
    new_off = np.zeros(rows.size + 1, np.int64)
    np.cumsum(cnt, out=new_off[1:])
    idx = np.repeat(lo - new_off[:-1], cnt) + np.arange(new_off[-1])
    return new_off, idx


def subset(tp: Tpl, tids: np.ndarray, k: int) -> Tpl:
    """The pool of templates ``tids`` of ``tp`` (in that order), ``k`` per drone slot."""
    tids = np.asarray(tids, np.int64)
    bp_off, bi = _rows(tp.bp_off, tids)
    in_off, ii = _rows(tp.in_off, tids)
    al_off, ai = _rows(tp.al_off, tids)
    cov_off, ci = _rows(tp.cov_off, tids)
    nb = (tp.win_off.size - 1) // max(tp.end.size, 1)
    win_off, wi = _rows(tp.win_off, (tids[:, None] * nb + np.arange(nb)).ravel())
    bt, bx, by = tp.bt[bi], tp.bx[bi], tp.by[bi]
    return Tpl(
        k=int(k),
        vmax=_vmax(bp_off, bt, bx, by),
        end=tp.end[tids],
        reason=tp.reason[tids],
        border=tp.border[tids],
        inside_end=tp.inside_end[tids],
        alt=tp.alt[tids],
        aim_x=tp.aim_x[tids],
        aim_y=tp.aim_y[tids],
        diverted=tp.diverted[tids],
        bp_off=bp_off,
        bt=bt,
        bx=bx,
        by=by,
        in_off=in_off,
        in_a=tp.in_a[ii],
        in_b=tp.in_b[ii],
        al_off=al_off,
        al_a=tp.al_a[ai],
        al_b=tp.al_b[ai],
        cov_off=cov_off,
        cov_sensor=tp.cov_sensor[ci],
        cov_a=tp.cov_a[ci],
        cov_b=tp.cov_b[ci],
        win_off=win_off,
        win_a=tp.win_a[wi],
        win_b=tp.win_b[wi],
    )


def _vmax(offsets: np.ndarray, bt: np.ndarray, bx: np.ndarray, by: np.ndarray) -> float:
    """The fastest any template moves in the plane (m/s), for the kernel's monotonicity
    shortcut."""
    owner = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
    dt, dx, dy = np.diff(bt), np.diff(bx), np.diff(by)
    within = (dt > 0) & (owner[1:] == owner[:-1])
    return float(np.max(np.hypot(dx[within], dy[within]) / dt[within], initial=0.0))


def _build(
    world: World,
    k: int,
    rng: np.random.Generator,
    spread_z: list[np.ndarray | None] | None,
    ew_u: np.ndarray | None,
) -> Tpl:
    """``k`` templates per drone slot from the given random inputs (None: drawn from ``rng``)."""
    waves = tuple(
        dataclasses.replace(w, count=w.count * k, window_s=(0.0, 0.0)) for w in world.waves
    )
    tw = dataclasses.replace(world, waves=waves)
    seg, per, end, reason, diverted, pieces = fly(tw, rng, spread_z=spread_z, ew_u=ew_u)
    n = end.size
    offsets, bt, bx, by = breakpoints(seg, n)
    inside = pieces["inside"]
    ik, ia, ib = merge_intervals(
        pieces["drone"][inside], pieces["t0"][inside], pieces["t1"][inside]
    )
    allowed = pieces["allowed"]
    ak, aa, ab = merge_intervals(
        pieces["drone"][allowed], pieces["t0"][allowed], pieces["t1"][allowed]
    )
    m = max(world.sensor_x.size, 1)
    ck, ca, cb = sensor_cover(tw, seg, per["alt"])
    nb = max(len(world.batteries), 1)
    wk, wa, wb = battery_windows(tw, pieces, per["alt"], None)
    ex, ey = bx[offsets[1:] - 1], by[offsets[1:] - 1]
    f64 = np.float64
    return Tpl(
        k=int(k),
        vmax=_vmax(offsets, bt, bx, by),
        end=end.astype(f64),
        reason=reason.astype(np.int64),
        border=border_crossings(pieces, n).astype(f64),
        inside_end=np.asarray(world.territory.contains(ex, ey), bool),
        alt=per["alt"].astype(f64),
        aim_x=per["aim_x"].astype(f64),
        aim_y=per["aim_y"].astype(f64),
        diverted=np.asarray(diverted, bool),
        bp_off=offsets.astype(np.int64),
        bt=bt,
        bx=bx,
        by=by,
        in_off=csr(ik, n),
        in_a=ia.astype(f64),
        in_b=ib.astype(f64),
        al_off=csr(ak, n),
        al_a=aa.astype(f64),
        al_b=ab.astype(f64),
        cov_off=csr(ck // m, n),
        cov_sensor=(ck % m).astype(np.int64),
        cov_a=ca.astype(f64),
        cov_b=cb.astype(f64),
        win_off=csr(wk, n * nb),
        win_a=wa.astype(f64),
        win_b=wb.astype(f64),
    )


def position(tp: Tpl, tid: np.ndarray, rel_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of templates ``tid`` at template times ``rel_t`` (clamped to each track)."""
    tid = np.asarray(tid, np.int64)
    rel_t = np.asarray(rel_t, float)
    lo = tp.bp_off[tid]
    hi = tp.bp_off[tid + 1] - 1
    span = float(np.nanmax(tp.bt)) + 10.0 if tp.bt.size else 1.0
    owner = np.repeat(np.arange(tp.bp_off.size - 1), np.diff(tp.bp_off))
    gkey = owner * span + tp.bt
    j = np.searchsorted(gkey, tid * span + np.clip(rel_t, 0, None), side="right") - 1
    j = np.clip(j, lo, np.maximum(hi - 1, lo))
    t0, t1 = tp.bt[j], tp.bt[np.minimum(j + 1, hi)]
    dur = t1 - t0
    f = np.clip(np.where(dur > 0, (rel_t - t0) / np.where(dur > 0, dur, 1.0), 0.0), 0, 1)
    j1 = np.minimum(j + 1, hi)
    return tp.bx[j] + f * (tp.bx[j1] - tp.bx[j]), tp.by[j] + f * (tp.by[j1] - tp.by[j])
