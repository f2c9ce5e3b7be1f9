"""The vectorised engine: many replications at once as arrays, for large studies.

Instead of one SimPy run per replication, every drone of every replication in a chunk is one row of
flat arrays, and each step below is a handful of numpy operations over all of them.

1. **Track templates.** Tracks are flown with launch time 0 (route spread and electronic
   warfare drawn as in the discrete-event engine); a drone takes a template and its own launch
   time, and its track, border crossing, sensor cover and battery windows are the template's,
   shifted in time and cut at the horizon. By default every drone of every chunk flies a fresh
   template of its own (exact); with ``templates=K`` each wave draws from a pool of K.
2. **Detection**: one geometric draw per cover window, exactly as in the discrete-event engine
   (scans at multiples of ``scan_s`` in absolute time, sensors' ``active_h``).
3. **Assignment** at detection by the doctrine's policy among the batteries that can strike the
   drone (earliest impact in an envelope window after ``reaction_s``, closed form with the time
   of flight as a fixed point), **shots** as Bernoulli draws with shoot-look-shoot or salvo, and
   **re-assignment** at the end of a failed engagement to the next battery, as C2 does.
4. **Costs and metrics** from the flat shot arrays by ``bincount`` sums.

What it models exactly, approximately, or refuses:

- Exactly (the same model as the discrete-event engine): detection, envelopes with minimum and
  maximum slant range and altitude limits, rules of engagement and no-fire zones, reaction time,
  time of flight, shoot-look-shoot and salvo, ``max_shots_per_target``, re-assignment to the next
  battery, the three assignment policies, point defence (``defended_radius_km``), fates, costs.
- Exactly, but checked: **magazines and channels**. The engine assumes that no battery ever runs
  short of rounds or channels (then every engagement is independent of the others). After each
  chunk it verifies, per replication and battery, that the magazine was never empty at a shot,
  that C2 never had to pass a battery over because its rounds were all committed, and that no
  more engagements overlapped than it has channels. If any replication breaks one of these, the
  run stops with an error naming the battery and advising ``--engine des``: it never returns an
  answer the discrete-event engine would not give.
- Approximately, only if asked (``templates=K``, library only): route spread and
  electronic-warfare outcomes are drawn from a finite pool of K tracks per wave instead of afresh
  for every drone. Means stay unbiased, but the pool's own sampling error does not shrink with
  more replications, and replications that share templates are correlated, so intervals are too
  narrow.
- Refused (error before anything runs): fighters (airbases: aircraft are shared between drones
  over time), magazine reloads, and ``max_defenders_per_target`` above 1.

Random streams differ from the discrete-event engine's: results agree statistically, not draw for
draw. A run is reproducible for a given seed and replication count (chunks have a fixed size).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.errors import IncursionError
from sim.intervals import merge_intervals
from sim.metrics import (
    FATES,
    Outcomes,
    RunningMoments,
    replication_metrics,
    summary_from_parts,
)
from sim.results import DRONE_COLUMNS, SHOT_COLUMNS, SORTIE_COLUMNS, RunResult
from sim.scenario import Airbase, Battery, Scenario
from sim.tracks import (
    END_CRASHED,
    END_EW_LOST,
    END_EXITED,
    END_HORIZON,
    END_LEAKED,
    battery_windows,
    border_crossings,
    breakpoints,
    first_detections,
    fly,
    sensor_cover,
)
from sim.world import World, build_world

__all__ = ["run_vectorised", "unsupported_features"]

#: Replications per chunk: fixed, so that a seed gives the same result on any machine.
CHUNK_REPLICATIONS = 1024
#: Drone and shot tables keep the first replications only (the summary covers all); they all lie
#: in the first chunk.
TABLE_REPLICATIONS = 1000
assert CHUNK_REPLICATIONS >= TABLE_REPLICATIONS
_STREAM_TEMPLATES = 2**31 - 1
_STREAM_CHUNKS = 2**31 - 2
_DESTROYED, _LEAKED, _CRASHED, _EXITED, _AIRBORNE = range(5)
_NATURAL = {
    END_LEAKED: _LEAKED,
    END_EW_LOST: _CRASHED,
    END_CRASHED: _CRASHED,
    END_EXITED: _EXITED,
}


def unsupported_features(scenario: Scenario) -> list[str]:
    """What in ``scenario`` the vectorised engine does not model (empty if it can run it)."""
    out = []
    bases = [d.name for d in scenario.defenders if isinstance(d, Airbase)]
    if bases:
        out.append(f"fighters (airbases {', '.join(bases)}): aircraft are shared over time")
    reloads = [d.name for d in scenario.defenders if isinstance(d, Battery) and d.reload_min]
    if reloads:
        out.append(f"magazine reloads (batteries {', '.join(reloads)})")
    if scenario.doctrine.max_defenders_per_target != 1:
        out.append("doctrine.max_defenders_per_target above 1")
    return out


# ---------------------------------------------------------------------------------- templates
@dataclass(frozen=True)
class _Templates:
    k: int  # templates per wave; template id = wave * k + j
    end: np.ndarray
    reason: np.ndarray
    border: np.ndarray
    inside_at_end: np.ndarray
    alt: np.ndarray
    aim_x: np.ndarray
    aim_y: np.ndarray
    diverted: np.ndarray
    # breakpoints of every template track, with a sortable global key
    offsets: np.ndarray
    bt: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    gkey: np.ndarray
    span: float
    # inside-territory intervals (key = template)
    in_off: np.ndarray
    in_a: np.ndarray
    in_b: np.ndarray
    # sensor cover windows (per template: rows in_off-style CSR)
    cov_off: np.ndarray
    cov_sensor: np.ndarray
    cov_a: np.ndarray
    cov_b: np.ndarray
    # battery windows, CSR over key = template * B + battery
    win_off: np.ndarray
    win_a: np.ndarray
    win_b: np.ndarray

    def position(self, tpl: np.ndarray, rel_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of templates ``tpl`` at template times ``rel_t`` (clamped to each track)."""
        q = tpl * self.span + rel_t
        j = np.searchsorted(self.gkey, q, side="right") - 1
        j = np.clip(j, self.offsets[tpl], self.offsets[tpl + 1] - 2)
        t0, t1 = self.bt[j], self.bt[j + 1]
        dur = t1 - t0
        f = np.clip(np.where(dur > 0, (rel_t - t0) / np.where(dur > 0, dur, 1.0), 0.0), 0, 1)
        return self.bx[j] + f * (self.bx[j + 1] - self.bx[j]), self.by[j] + f * (
            self.by[j + 1] - self.by[j]
        )


def _csr(keys: np.ndarray, n_keys: int) -> np.ndarray:
    return np.searchsorted(keys, np.arange(n_keys + 1), side="left")


def _build_templates(world: World, k: int, rng: np.random.Generator) -> _Templates:
    waves = tuple(dataclasses.replace(w, count=k, window_s=(0.0, 0.0)) for w in world.waves)
    tw = dataclasses.replace(world, waves=waves)
    seg, per, end, reason, diverted, pieces = fly(tw, rng)
    n = end.size
    offsets, bt, bx, by = breakpoints(seg, n)
    span = float(np.nanmax(bt)) + 10.0
    owner = np.repeat(np.arange(n), np.diff(offsets))
    inside = pieces["inside"]
    ik, ia, ib = merge_intervals(
        pieces["drone"][inside], pieces["t0"][inside], pieces["t1"][inside]
    )
    border = border_crossings(pieces, n)
    m = max(world.sensor_x.size, 1)
    ck, ca, cb = sensor_cover(tw, seg, per["alt"])
    nb = max(len(world.batteries), 1)
    wk, wa, wb = battery_windows(tw, pieces, per["alt"], None)
    ex, ey = bx[offsets[1:] - 1], by[offsets[1:] - 1]
    return _Templates(
        k=k,
        end=end,
        reason=reason,
        border=border,
        inside_at_end=world.territory.contains(ex, ey),
        alt=per["alt"],
        aim_x=per["aim_x"],
        aim_y=per["aim_y"],
        diverted=diverted,
        offsets=offsets,
        bt=bt,
        bx=bx,
        by=by,
        gkey=owner * span + bt,
        span=span,
        in_off=_csr(ik, n),
        in_a=ia,
        in_b=ib,
        cov_off=_csr(ck // m, n),
        cov_sensor=ck % m,
        cov_a=ca,
        cov_b=cb,
        win_off=_csr(wk, n * nb),
        win_a=wa,
        win_b=wb,
    )


def _expand(off: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query ``i`` with CSR key ``keys[i]``: (query index, row) of every row it owns."""
    lo = off[keys]
    cnt = off[keys + 1] - lo
    owner = np.repeat(np.arange(keys.size), cnt)
    start = np.repeat(np.cumsum(cnt) - cnt, cnt)
    rows = np.repeat(lo, cnt) + (np.arange(owner.size) - start)
    return owner, rows


# ---------------------------------------------------------------------------------- one chunk
@dataclass
class _Chunk:
    fate: np.ndarray  # (R, N)
    fate_s: np.ndarray
    border: np.ndarray
    detect: np.ndarray
    launch: np.ndarray
    tpl: np.ndarray
    kill_def: np.ndarray
    shots: dict[str, np.ndarray]  # rep, drone, defender, hit, fire, impact
    templates: _Templates


class _Chunker:
    def __init__(self, world: World, tpl: _Templates, *, own_templates: bool = False) -> None:
        self.world = world
        self.tpl = tpl
        self.own_templates = own_templates
        self.first = np.r_[0, np.cumsum([w.count for w in world.waves])[:-1]]
        scen = world.scenario
        self.n = world.n_drones
        self.nb = len(world.batteries)
        self.wave_of = np.concatenate([np.full(w.count, i) for i, w in enumerate(world.waves)])
        self.win_lo = np.array([w.window_s[0] for w in world.waves])
        self.win_hi = np.array([w.window_s[1] for w in world.waves])
        weapons = [scen.weapons[b.weapon] for b in world.batteries]
        self.cost = np.array([w.cost_usd for w in weapons])
        self.pk = np.array([w.pk for w in weapons])
        self.speed = np.array([w.speed_mps for w in weapons])
        self.reaction = np.array([b.reaction_s for b in world.batteries])
        self.cap = np.array([b.magazine for b in world.batteries])
        self.channels = np.array([b.channels for b in world.batteries])
        self.defended = np.array(
            [np.inf if b.defended_radius_km is None else b.defended_radius_km * 1e3
             for b in world.batteries]
        )  # fmt: skip
        self.horizon = scen.duration_s
        self.doc = scen.doctrine

    # -- plans ----------------------------------------------------------------------------
    def _plan(
        self, inst_tpl: np.ndarray, shift: np.ndarray, end: np.ndarray, alt: np.ndarray,
        bat: np.ndarray, ready: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Earliest impact (and its time of flight) of battery ``bat`` on each drone after
        ``ready``: inf where none. All arguments are per query (P,)."""
        tpl = self.tpl
        p = bat.size
        impact = np.full(p, np.inf)
        tof = np.full(p, np.nan)
        if p == 0:
            return impact, tof
        owner, rows = _expand(tpl.win_off, inst_tpl * max(self.nb, 1) + bat)
        if rows.size == 0:
            return impact, tof
        a = tpl.win_a[rows] + shift[owner]
        b = np.minimum(tpl.win_b[rows] + shift[owner], end[owner])
        r = ready[owner]
        keep = b >= r
        owner, a, b, r = owner[keep], a[keep], b[keep], r[keep]
        bb = bat[owner]
        bxy = (self.world.bat_x[bb], self.world.bat_y[bb])
        spd = self.speed[bb]
        h2 = alt[owner] ** 2

        def flight(t: np.ndarray) -> np.ndarray:
            x, y = tpl.position(inst_tpl[owner], t - shift[owner])
            return np.sqrt((x - bxy[0]) ** 2 + (y - bxy[1]) ** 2 + h2) / spd

        ti = np.maximum(a, r)
        tf = flight(ti)
        for _ in range(8):  # the same fixed point as the discrete-event engine
            nxt = np.maximum(a, r + tf)
            tf = flight(nxt)
            done = np.abs(nxt - ti) < 1e-9
            ti = nxt
            if done.all():
                break
        ti = np.maximum(a, r + tf)
        ok = ti <= b
        if ok.any():
            o = owner[ok]
            # windows are sorted by start: the first valid row of each query is its earliest
            order = np.lexsort((ti[ok], o))
            o_sorted = o[order]
            firsts = np.r_[True, o_sorted[1:] != o_sorted[:-1]]
            sel = order[firsts]
            impact[o[sel]] = ti[ok][sel]
            tof[o[sel]] = tf[ok][sel]
        return impact, tof

    # -- one chunk ------------------------------------------------------------------------
    def run(self, reps: int, rng: np.random.Generator) -> _Chunk:
        tpl, n, nb = self.tpl, self.n, self.nb
        m = reps * n
        wave = np.tile(self.wave_of, reps)
        if self.own_templates:
            # Every drone flies its own template: drone i of wave w in replication r takes
            # template r * count_w + (i's rank in its wave).
            rank = np.arange(n) - self.first[self.wave_of]
            counts = np.array([w.count for w in self.world.waves])[self.wave_of]
            tid = wave * tpl.k + (
                np.repeat(np.arange(reps), n) * np.tile(counts, reps) + np.tile(rank, reps)
            )
        else:
            tid = wave * tpl.k + rng.integers(0, tpl.k, m)
        lo, hi = self.win_lo[wave], self.win_hi[wave]
        shift = lo + (hi - lo) * rng.random(m)
        end = tpl.end[tid] + shift
        reason = tpl.reason[tid].copy()
        cut = end > self.horizon
        end[cut] = self.horizon
        reason[cut] = END_HORIZON
        inside_end = tpl.inside_at_end[tid].copy()
        if cut.any():
            ci = np.flatnonzero(cut)
            owner, rows = _expand(tpl.in_off, tid[ci])
            at = (self.horizon - shift[ci])[owner]
            hit = (tpl.in_a[rows] <= at) & (at <= tpl.in_b[rows])
            inside_end[ci] = np.bincount(owner[hit], minlength=ci.size) > 0
        border = tpl.border[tid] + shift
        border[~(border <= end)] = np.nan
        alt = tpl.alt[tid]
        # detection
        owner, rows = _expand(tpl.cov_off, tid)
        a = tpl.cov_a[rows] + shift[owner]
        b = np.minimum(tpl.cov_b[rows] + shift[owner], end[owner])
        detect = first_detections(self.world, owner, tpl.cov_sensor[rows], a, b, rng, m)
        detect[~(detect <= end)] = np.nan

        killed = np.full(m, np.nan)
        kill_def = np.full(m, -1, np.int64)
        shot_parts: list[tuple[np.ndarray, ...]] = []
        eng_parts: list[tuple[np.ndarray, ...]] = []
        pending = np.isfinite(detect)
        t_assign = detect.copy()
        tried = np.zeros((m, max(nb, 1)), bool)
        if nb:
            dx = tpl.aim_x[tid][:, None] - self.world.bat_x[None, :]
            dy = tpl.aim_y[tid][:, None] - self.world.bat_y[None, :]
            barred = (np.hypot(dx, dy) > self.defended[None, :]) | (
                tpl.diverted[tid][:, None] & np.isfinite(self.defended)[None, :]
            )
        for _ in range(nb):
            act = np.flatnonzero(pending)
            if act.size == 0:
                break
            # candidate pairs: (drone, battery) with windows, not tried, not barred
            counts = (
                tpl.win_off[tid[act][:, None] * nb + np.arange(nb) + 1]
                - tpl.win_off[tid[act][:, None] * nb + np.arange(nb)]
            )
            ok = (counts > 0) & ~tried[act] & ~barred[act]
            qi, qb = np.nonzero(ok)
            inst = act[qi]
            imp, tof = self._plan(
                tid[inst], shift[inst], end[inst], alt[inst], qb,
                t_assign[inst] + self.reaction[qb],
            )  # fmt: skip
            good = np.isfinite(imp)
            inst, qb, imp, tof = inst[good], qb[good], imp[good], tof[good]
            if inst.size == 0:
                break
            policy = self.doc.assignment
            if policy == "cheapest":
                order = np.lexsort((qb, imp, self.cost[qb], inst))
            elif policy == "layered":
                order = np.lexsort((qb, self.cost[qb], imp, inst))
            else:
                px, py = tpl.position(tid[inst], t_assign[inst] - shift[inst])
                dist = np.hypot(px - self.world.bat_x[qb], py - self.world.bat_y[qb])
                order = np.lexsort((qb, imp, dist, inst))
            inst_s = inst[order]
            first = np.r_[True, inst_s[1:] != inst_s[:-1]]
            sel = order[first]
            e_inst, e_bat, e_imp, e_tof = inst[sel], qb[sel], imp[sel], tof[sel]
            e_assign = t_assign[e_inst]
            tried[e_inst, e_bat] = True
            pending[:] = False
            e_end, e_first_fire = self._engage(
                rng, tid, shift, end, alt, e_inst, e_bat, e_imp, e_tof, killed, kill_def,
                shot_parts,
            )  # fmt: skip
            eng_parts.append((e_inst, e_bat, e_assign, e_first_fire, e_end))
            alive = np.isnan(killed[e_inst])
            t_assign[e_inst[alive]] = e_end[alive]
            pending[e_inst[alive]] = True

        if shot_parts:
            cols = [np.concatenate(c) for c in zip(*shot_parts, strict=True)]
        else:
            cols = [np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, bool)] + [
                np.empty(0)
            ] * 2
        s_inst, s_bat, s_hit, s_fire, s_imp = cols
        self._check(reps, eng_parts, s_inst, s_bat, s_fire)

        fate = np.full(m, _EXITED, np.int8)
        for r_code, f_code in _NATURAL.items():
            fate[reason == r_code] = f_code
        fate[(reason == END_HORIZON) & inside_end] = _AIRBORNE
        destroyed = np.isfinite(killed)
        fate[destroyed] = _DESTROYED
        fate_s = np.where(destroyed, killed, end)
        order = np.lexsort((s_imp, s_inst))
        return _Chunk(
            fate=fate.reshape(reps, n),
            fate_s=fate_s.reshape(reps, n),
            border=border.reshape(reps, n),
            detect=detect.reshape(reps, n),
            launch=shift.reshape(reps, n),
            tpl=tid.reshape(reps, n),
            kill_def=kill_def.reshape(reps, n),
            templates=tpl,
            shots={
                "rep": (s_inst // n)[order],
                "drone": (s_inst % n)[order],
                "defender": s_bat[order],
                "hit": s_hit[order],
                "fire": s_fire[order],
                "impact": s_imp[order],
            },
        )

    def _engage(
        self, rng: np.random.Generator, tid: np.ndarray, shift: np.ndarray, end: np.ndarray,
        alt: np.ndarray, inst: np.ndarray, bat: np.ndarray, imp: np.ndarray, tof: np.ndarray,
        killed: np.ndarray, kill_def: np.ndarray, shot_parts: list,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Fire at each assigned drone until it dies or the engagement ends; returns each
        engagement's end time and first fire time."""
        doc = self.doc
        max_shots = doc.max_shots_per_target
        e_end = imp.copy()
        first_fire = imp - tof
        if not doc.shoot_look_shoot:
            # one salvo: every round strikes at the first impact; the first hit kills
            draws = rng.random((inst.size, max_shots)) < self.pk[bat][:, None]
            any_hit = draws.any(axis=1)
            first_hit = np.argmax(draws, axis=1)
            hit = np.zeros_like(draws)
            hit[np.flatnonzero(any_hit), first_hit[any_hit]] = True
            killed[inst[any_hit]] = imp[any_hit]
            kill_def[inst[any_hit]] = bat[any_hit]
            rep = np.repeat
            shot_parts.append(
                (rep(inst, max_shots), rep(bat, max_shots), hit.ravel(),
                 rep(first_fire, max_shots), rep(imp, max_shots))
            )  # fmt: skip
            return e_end, first_fire
        live = np.arange(inst.size)
        cur_imp, cur_tof = imp.copy(), tof.copy()
        for k in range(max_shots):
            i = inst[live]
            hit = rng.random(live.size) < self.pk[bat[live]]
            shot_parts.append((i, bat[live], hit, cur_imp[live] - cur_tof[live], cur_imp[live]))
            e_end[live] = cur_imp[live]
            killed[i[hit]] = cur_imp[live][hit]
            kill_def[i[hit]] = bat[live][hit]
            live = live[~hit]
            if k == max_shots - 1 or live.size == 0:
                break
            ready = cur_imp[live] + doc.assessment_s
            ni, nt = self._plan(tid[inst[live]], shift[inst[live]], end[inst[live]],
                                alt[inst[live]], bat[live], ready)  # fmt: skip
            more = np.isfinite(ni)
            live = live[more]
            cur_imp[live], cur_tof[live] = ni[more], nt[more]
        return e_end, first_fire

    def _check(
        self, reps: int, eng_parts: list, s_inst: np.ndarray, s_bat: np.ndarray,
        s_fire: np.ndarray,
    ) -> None:  # fmt: skip
        """Refuse if a magazine, a commitment or a channel limit bound in any replication."""
        if not eng_parts or self.nb == 0:
            return
        n, nb = self.n, self.nb
        e_inst, e_bat, e_assign, e_first, e_end = (
            np.concatenate(c) for c in zip(*eng_parts, strict=True)
        )
        g_eng = (e_inst // n) * nb + e_bat
        g_shot = (s_inst // n) * nb + s_bat
        n_groups = reps * nb
        problems: list[str] = []
        # 1. the magazine never empty at a shot (no reloads in this engine)
        fired = np.bincount(g_shot, minlength=n_groups)
        over = fired > np.tile(self.cap, reps)
        if over.any():
            problems.append(self._name(np.flatnonzero(over), "ran out of rounds"))
        # 2. C2 never found the battery fully committed: rounds left - engagements under way > 0
        span = float(max(self.horizon, np.nanmax(e_end) if e_end.size else 0.0)) * 2 + 10
        sk = np.sort(g_shot * span + s_fire)
        fired_before = np.searchsorted(sk, g_eng * span + e_assign, side="right") - np.searchsorted(
            sk, g_eng * span, side="left"
        )
        ak = np.sort(g_eng * span + e_assign)
        ek = np.sort(g_eng * span + e_end)
        started = np.searchsorted(ak, g_eng * span + e_assign, side="right") - np.searchsorted(
            ak, g_eng * span, side="left"
        )
        ended = np.searchsorted(ek, g_eng * span + e_assign, side="left") - np.searchsorted(
            ek, g_eng * span, side="left"
        )
        active_others = started - ended - 1
        committed = self.cap[e_bat] - fired_before - active_others <= 0
        if committed.any():
            problems.append(self._name(np.unique(g_eng[committed]), "had every round committed"))
        # 3. channels: engagements holding a channel at once, from first shot to end
        ev_g = np.concatenate([g_eng, g_eng])
        ev_t = np.concatenate([e_first, e_end])
        ev_d = np.concatenate([np.ones_like(g_eng), -np.ones_like(g_eng)])
        order = np.lexsort((-ev_d, ev_t, ev_g))  # at a tie, count the start first (cautious)
        level = np.cumsum(ev_d[order])
        over_ch = level > self.channels[ev_g[order] % nb]
        if over_ch.any():
            problems.append(self._name(np.unique(ev_g[order][over_ch]), "ran out of channels"))
        if problems:
            raise IncursionError(
                "the vectorised engine is exact only while no battery runs short of rounds or "
                "channels, and here " + "; ".join(problems) + ". Run it with --engine des "
                "(the SimPy engine models the contention), or give those batteries more "
                "rounds or channels."
            )

    def _name(self, groups: np.ndarray, what: str) -> str:
        bats = sorted({self.world.batteries[int(g) % self.nb].name for g in groups})
        reps = np.unique(groups // self.nb).size
        return f"{', '.join(bats)} {what} in {reps} replication(s) of this chunk"


# ---------------------------------------------------------------------------------- the run
@dataclass
class _ChunkResult:
    """What one chunk contributes to the run (small enough to send between processes)."""

    per_rep: dict[str, np.ndarray]
    groups: RunningMoments  # per-weapon and per-defender figures of the chunk
    chunk: _Chunk | None  # kept only for the chunk the tables come from


def _chunk_result(
    world: World,
    pooled: _Chunker | None,
    seed: int,
    chunk_i: int,
    reps: int,
    keep: bool,
) -> _ChunkResult:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAM_CHUNKS, chunk_i)))
    if pooled is None:
        # Fresh tracks for every drone of this chunk.
        max_count = max(w.count for w in world.waves)
        chunker = _Chunker(
            world, _build_templates(world, reps * max_count, rng), own_templates=True
        )
    else:
        chunker = pooled
    ch = chunker.run(reps, rng)
    s = ch.shots
    weapon_idx = np.array([world.weapon_names.index(b.weapon) for b in world.batteries], np.int64)
    o = Outcomes(
        fate=ch.fate,
        crossed=np.isfinite(ch.border),
        detected=np.isfinite(ch.detect),
        border_cross_s=ch.border,
        fate_s=ch.fate_s,
        drone_cost_usd=np.concatenate([np.full(w.count, w.cost_usd) for w in world.waves]),
        drone_damage_usd=np.concatenate([np.full(w.count, w.damage_usd) for w in world.waves]),
        shot_rep=s["rep"],
        shot_weapon=weapon_idx[s["defender"]] if s["rep"].size else s["rep"],
        shot_defender=s["defender"],
        shot_hit=s["hit"],
        shot_cost_usd=chunker.cost[s["defender"]] if s["rep"].size else np.empty(0),
        sortie_rep=np.empty(0, np.int64),
        sortie_defender=np.empty(0, np.int64),
        sortie_cost_usd=np.empty(0),
        sortie_hours=np.empty(0),
        weapon_names=world.weapon_names,
        defender_names=world.defender_names,
    )
    groups = RunningMoments()
    groups.add_groups(o)
    per_rep = {k: np.asarray(v, float) for k, v in replication_metrics(o).items()}
    return _ChunkResult(per_rep=per_rep, groups=groups, chunk=ch if keep else None)


def _pooled_chunker(world: World, seed: int, templates: int) -> _Chunker:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAM_TEMPLATES,)))
    return _Chunker(world, _build_templates(world, templates, rng))


def _chunk_task(
    scenario: Scenario, seed: int, templates: int | None, chunk_i: int, reps: int, keep: bool
) -> _ChunkResult:
    """One chunk in a worker process (it builds its own world and, if pooled, templates)."""
    world = _worker_world(scenario, seed, templates)
    return _chunk_result(world[0], world[1], seed, chunk_i, reps, keep)


_WORKER_CACHE: dict[tuple[str, int, int | None], tuple[World, _Chunker | None]] = {}


def _worker_world(
    scenario: Scenario, seed: int, templates: int | None
) -> tuple[World, _Chunker | None]:
    key = (scenario.model_dump_json(), seed, templates)
    if key not in _WORKER_CACHE:
        _WORKER_CACHE.clear()
        world = build_world(scenario)
        pooled = None if templates is None else _pooled_chunker(world, seed, templates)
        _WORKER_CACHE[key] = (world, pooled)
    return _WORKER_CACHE[key]


def run_vectorised(
    scenario: Scenario,
    *,
    replications: int,
    seed: int,
    templates: int | None = None,
    workers: int | None = 1,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Run ``replications`` of a scenario with the vectorised engine (see the module docstring).

    Parameters
    ----------
    templates : int, optional
        ``None`` (default): every drone of every replication flies its own track (exact).
        A number: each wave's tracks are drawn from a pool of that many (faster; see the module
        docstring for what that approximates).
    workers : int or None
        Processes for the chunks of replications (``None``: every core). Chunks have their own
        streams and are combined in order, so the result is the same for any number.

    Raises
    ------
    IncursionError
        If the scenario uses a feature this engine does not model, or a battery ran short of
        rounds or channels in some replication (use the discrete-event engine then).
    """
    missing = unsupported_features(scenario)
    if missing:
        raise IncursionError(
            "the vectorised engine does not model " + "; ".join(missing)
            + ". Use --engine des (the SimPy engine) for this scenario."
        )  # fmt: skip
    if templates is not None and templates < 1:
        raise IncursionError(f"templates must be at least 1, got {templates}")
    started = time.perf_counter()
    world = build_world(scenario)
    n = world.n_drones
    max_count = max(w.count for w in world.waves)
    pooled = templates is not None and templates < replications * max_count
    pool_templates = int(templates) if pooled and templates is not None else None
    sizes = [
        min(CHUNK_REPLICATIONS, replications - k)
        for k in range(0, replications, CHUNK_REPLICATIONS)
    ]
    n_workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    n_workers = min(n_workers, len(sizes))
    per_rep: dict[str, list[np.ndarray]] = {}
    moments = RunningMoments()
    kept: list[_Chunk] = []
    done = 0

    def absorb(res: _ChunkResult, reps: int) -> None:
        nonlocal done
        for key, values in res.per_rep.items():
            per_rep.setdefault(key, []).append(values)
        moments.merge(res.groups)
        if res.chunk is not None:
            kept.append(res.chunk)
        done += reps
        if progress is not None:
            progress(done, replications)

    if n_workers == 1:
        chunker = None if pool_templates is None else _pooled_chunker(world, seed, pool_templates)
        for i, reps in enumerate(sizes):
            absorb(_chunk_result(world, chunker, seed, i, reps, keep=i == 0), reps)
    else:
        pool = ProcessPoolExecutor(max_workers=n_workers)
        try:
            futures = [
                pool.submit(_chunk_task, scenario, seed, pool_templates, i, reps, i == 0)
                for i, reps in enumerate(sizes)
            ]
            for fut, reps in zip(futures, sizes, strict=True):  # in order: same result always
                absorb(fut.result(), reps)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    summary = summary_from_parts(
        scenario=scenario.name,
        seed=seed,
        engine="vectorised",
        per_rep={k: np.concatenate(v) for k, v in per_rep.items()},
        moments=moments,
        weapon_names=world.weapon_names,
        defender_names=world.defender_names,
    )
    summary["templates_per_wave"] = pool_templates
    per_replication = pd.DataFrame(
        {"replication": np.arange(replications)}
        | {k_: np.concatenate(v) for k_, v in per_rep.items()}
    )
    drones, shots = _tables(world, kept, n)
    return RunResult(
        scenario=scenario,
        seed=int(seed),
        engine="vectorised",
        summary=summary,
        drones=drones,
        shots=shots,
        sorties=pd.DataFrame(columns=list(SORTIE_COLUMNS)),
        replication_seeds=[],
        events=0,
        wall_s=time.perf_counter() - started,
        world=world,
        per_replication=per_replication,
    )


def _j(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _tables(world: World, kept: list[_Chunk], n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drone and shot tables of the first replications (all in the first chunk)."""
    if not kept:
        return pd.DataFrame(columns=list(DRONE_COLUMNS)), pd.DataFrame(columns=list(SHOT_COLUMNS))
    kept = kept[:1]  # CHUNK_REPLICATIONS >= TABLE_REPLICATIONS
    tpl = kept[0].templates
    fate = np.concatenate([c.fate for c in kept])[:TABLE_REPLICATIONS]
    reps = fate.shape[0]

    def cat(attr: str) -> np.ndarray:
        return np.concatenate([getattr(c, attr) for c in kept])[:reps].ravel()

    tid, launch, fate_s = cat("tpl"), cat("launch"), cat("fate_s")
    fx, fy = tpl.position(tid, fate_s - launch)
    flon, flat = world.projection.inverse(fx, fy)
    wave_names = np.array([w.name for w in world.waves])
    type_names = np.array([w.type for w in world.waves])
    wave_of = np.concatenate([np.full(w.count, i) for i, w in enumerate(world.waves)])
    names = np.array([*world.defender_names, ""], dtype=object)
    bat_weapon = np.array([b.weapon for b in world.batteries] + [""], dtype=object)
    kd = cat("kill_def")
    # shots of the kept replications, numbered across chunks
    offs = np.cumsum([0] + [c.fate.shape[0] for c in kept])
    srep = np.concatenate([c.shots["rep"] + o for c, o in zip(kept, offs[:-1], strict=True)])
    keep = srep < reps

    def scat(key: str) -> np.ndarray:
        return np.concatenate([c.shots[key] for c in kept])[keep]

    sd, sb = scat("drone"), scat("defender")
    s_tid = tid.reshape(reps, n)[srep[keep], sd] if keep.any() else np.empty(0, np.int64)
    s_launch = launch.reshape(reps, n)[srep[keep], sd] if keep.any() else np.empty(0)
    s_imp = scat("impact")
    sx, sy = tpl.position(s_tid, s_imp - s_launch)
    slon, slat = world.projection.inverse(sx, sy)
    drones = pd.DataFrame(
        {
            "replication": np.repeat(np.arange(reps), n),
            "drone": np.tile(np.arange(n), reps),
            "wave": np.tile(wave_names[wave_of], reps),
            "type": np.tile(type_names[wave_of], reps),
            "launch_s": launch,
            "border_cross_s": cat("border"),
            "detected_s": cat("detect"),
            "fate": pd.Categorical.from_codes(fate.ravel().astype(int), categories=FATES),
            "fate_s": fate_s,
            "fate_lat": flat,
            "fate_lon": flon,
            "killed_by": names[kd],
            "killed_by_weapon": bat_weapon[kd],
            "shots_at": np.bincount(srep[keep] * n + sd, minlength=reps * n),
        },
        columns=list(DRONE_COLUMNS),
    )
    cost = np.array([world.scenario.weapons[b.weapon].cost_usd for b in world.batteries])
    shots = pd.DataFrame(
        {
            "replication": srep[keep],
            "time_s": scat("fire"),
            "impact_s": s_imp,
            "defender": names[sb],
            "weapon": bat_weapon[sb],
            "drone": sd,
            "hit": scat("hit"),
            "cost_usd": cost[sb] if sb.size else np.empty(0),
            "lat": slat,
            "lon": slon,
        },
        columns=list(SHOT_COLUMNS),
    )
    return drones, shots
