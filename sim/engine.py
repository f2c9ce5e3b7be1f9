"""The discrete-event engine (SimPy): command and control, batteries and fighters, per replication.

The tracks and windows of every drone come precomputed from :mod:`sim.tracks`; the engine only
handles what depends on the defence: assignment of detected drones, channels, magazines and reloads,
scrambles, intercepts, shots with their costs and kill draws, and sorties charged per flight hour.
Events happen at exact times (detection scans, window openings, impacts); there is no time step.

Semantics (see also the README):

- A detected drone stays tracked until its fate. Only detected drones are assigned.
- C2 assigns each detected, unengaged drone to one defender (``max_defenders_per_target`` at once)
  by the doctrine's policy: ``cheapest`` (lowest expected cost of the engagement: the shot, plus
  for a fighter its sortie's flight hours from wheels-up to the shot and home from the impact,
  hours already flown on station included), ``nearest`` (shortest ground distance now) or
  ``layered`` (the defender able to strike first, i.e. the outermost layer). A defender engages a
  given drone at most once; if its engagement ends without a kill the drone is re-assigned, once
  C2 can know it survived: ``assessment_s`` after the last impact, if there was one.
  A drone no defender could take waits: C2 looks at it again when a defender that could serve it
  becomes more available, and at every C2 cycle (every ``C2_CYCLE_S`` on the minute) against
  the airbases with an aircraft to offer, whose reach changes with time alone.
- A battery's first shot comes no earlier than ``reaction_s`` after assignment, and its impact must
  fall inside the weapon envelope (slant range between min and max, altitude limits) at a point
  where a shot is allowed (over the territory by default, outside no-fire zones). Time of flight
  is slant range / ``speed_mps``. A channel is held from the first shot to the end of the
  engagement. Shoot-look-shoot fires one round, waits for the impact plus ``assessment_s``, and
  fires again if it missed, up to ``max_shots_per_target``; otherwise the rounds go as one salvo.
- An empty magazine refills ``reload_min`` after it runs out (never, if not set).
- A fighter scrambles ``scramble_min`` after assignment, flies at cruise speed to meet the drone at
  the earliest time a shot is allowed (shadowing it until then), fires its cheapest remaining
  weapon on meeting it (the time of flight that of a shot at the weapon's minimum range;
  shoot-look-shoot as above), then stays on station for the next drone C2 gives it, and
  returns to base when its weapons run out or its fuel only just gets it home. It never accepts
  an intercept it could not fly back from within ``endurance_h``. The sortie, wheels-up to
  landing, is charged at ``cost_per_flight_hour_usd``; ``turnaround_min`` after landing the
  aircraft is re-armed and ready.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import simpy

from sim.metrics import FATES
from sim.scenario import Doctrine, Weapon
from sim.strike import first_strike
from sim.tracks import (
    END_CRASHED,
    END_EW_LOST,
    END_EXITED,
    END_HORIZON,
    END_LEAKED,
    Tracks,
    TrackSummary,
)
from sim.world import KMH, World

__all__ = ["ReplicationResult", "Simulation"]

FATE_CODE = {name: i for i, name in enumerate(FATES)}
_NATURAL_FATE = {
    END_LEAKED: FATE_CODE["leaked"],
    END_EW_LOST: FATE_CODE["crashed"],
    END_CRASHED: FATE_CODE["crashed"],
    END_EXITED: FATE_CODE["exited"],
}


#: C2's cycle (s): at every multiple of it, C2 looks again at every drone it could not assign
#: (a fighter's reach changes with time alone).
C2_CYCLE_S = 60.0


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it schedules (for benchmarks)."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduled = 0

    def schedule(self, event: simpy.Event, priority: int = 1, delay: float = 0) -> None:  # type: ignore[override]
        self.scheduled += 1
        super().schedule(event, priority, delay)


@dataclass
class ReplicationResult:
    """Outcome of one replication (structure of arrays)."""

    tracks: Tracks | TrackSummary  # the run keeps only the summary
    fate: np.ndarray  # (N,) int8 codes into FATES
    fate_s: np.ndarray
    fate_x: np.ndarray
    fate_y: np.ndarray
    killed_by: np.ndarray  # (N,) defender index or -1
    killed_weapon: np.ndarray  # (N,) weapon index or -1
    shots_at: np.ndarray  # (N,)
    shots: dict[str, np.ndarray]  # time_s, impact_s, defender, weapon, drone, hit, cost_usd, x, y
    sorties: dict[str, np.ndarray]  # defender, aircraft, wheels_up_s, landing_s, hours, cost_usd
    events: int


@dataclass
class _Plan:
    fire: float
    impact: float
    cost: float  # expected cost of the engagement, for the cheapest policy


@dataclass
class _BatteryUnit:
    index: int
    weapon: Weapon
    weapon_index: int
    magazine: int
    capacity: int
    reload_s: float | None
    reaction_s: float
    channels: simpy.Resource
    defended_m: float | None = None
    committed: int = 0
    reloading: simpy.Event | None = None


@dataclass
class _Aircraft:
    base: int
    number: int
    rounds: dict[str, int]
    state: str = "ready"  # ready | scrambling | airborne | idle (on station) | turnaround
    x: float = 0.0
    y: float = 0.0
    wheels_up: float = math.nan
    tasked: simpy.Event | None = None


@dataclass
class _AirbaseUnit:
    index: int  # defender index
    base_x: float
    base_y: float
    speed_mps: float
    endurance_s: float
    cost_per_s: float
    cost_per_h: float
    scramble_s: float
    turnaround_s: float
    loadout: dict[str, int]
    p_acquire: float = 1.0
    aircraft: list[_Aircraft] = field(default_factory=list)

    def has_available(self) -> bool:
        """Whether any aircraft is ready on the ground or idle on station."""
        return any(a.state in ("ready", "idle") for a in self.aircraft)


class Simulation:
    """One replication: owns the SimPy environment, the generator and the mutable state.

    Parameters
    ----------
    world : World
        The scenario in the plane (shared, read-only).
    tracks : Tracks
        This replication's drone tracks and windows.
    rng : numpy.random.Generator
        This replication's generator for the kill draws.
    """

    def __init__(self, world: World, tracks: Tracks, rng: np.random.Generator) -> None:
        self.world = world
        self.tracks = tracks
        self.rng = rng
        self.doctrine: Doctrine = world.scenario.doctrine
        self.env = CountingEnvironment()
        n = tracks.n
        self.destroyed_s = np.full(n, np.nan)
        self.kill_x = np.full(n, np.nan)
        self.kill_y = np.full(n, np.nan)
        self.killed_by = np.full(n, -1, np.int64)
        self.killed_weapon = np.full(n, -1, np.int64)
        self.shots_at = np.zeros(n, np.int64)
        self.engaged: dict[int, set[int]] = {}
        self.tried: set[tuple[int, int]] = set()
        self.pending: dict[int, None] = {}  # insertion-ordered set
        # How many times a defender became more available (reload, aircraft ready or on
        # station, a fully committed battery freed): a drone for which C2 found no one only
        # needs the defenders freed since looked at again (see ``_last_freed``).
        self.n_freed = 0
        # Waiting drones C2 must look at on its next pass between cycles: the ones not yet looked
        # at, and the ones a defender freed since their last look could serve. The others cannot
        # have changed, so a pass need not walk the whole queue (which made time grow with the
        # square of the number of drones).
        self._dirty: set[int] = set()
        self._seq: dict[int, int] = {}  # drone -> when it joined the queue (the queue's order)
        self._n_seq = 0
        self._breakpoints: dict[int, tuple[list[float], list[float], list[float]]] = {}
        self._c2_idle: simpy.Event | None = None
        # drone -> (n_freed, time) when C2 last found no one for it; the time is that of its
        # last look at every available defender (a look at freed ones only keeps it).
        self.checked: dict[int, tuple[int, float]] = {}
        self.shot_log: list[tuple[float, float, int, int, int, bool, float, float, float]] = []
        self.sortie_log: list[tuple[int, int, float, float]] = []
        wi = {name: i for i, name in enumerate(world.weapon_names)}
        self.weapon_index = wi
        scen = world.scenario
        self.batteries = [
            _BatteryUnit(
                index=i,
                weapon=scen.weapons[b.weapon],
                weapon_index=wi[b.weapon],
                magazine=b.magazine,
                capacity=b.magazine,
                reload_s=None if b.reload_min is None else b.reload_min * 60.0,
                reaction_s=b.reaction_s,
                channels=simpy.Resource(self.env, capacity=b.channels),
                defended_m=None if b.defended_radius_km is None else float(world.bat_defended_r[i]),
            )
            for i, b in enumerate(world.batteries)
        ]
        nb = len(self.batteries)
        self.airbases: list[_AirbaseUnit] = []
        for j, a in enumerate(world.airbases):
            plat = scen.platforms[a.platform]
            unit = _AirbaseUnit(
                index=nb + j,
                base_x=float(world.base_x[j]),
                base_y=float(world.base_y[j]),
                speed_mps=plat.cruise_kmh * KMH,
                endurance_s=plat.endurance_h * 3600.0,
                cost_per_s=plat.cost_per_flight_hour_usd / 3600.0,
                cost_per_h=plat.cost_per_flight_hour_usd,
                scramble_s=a.scramble_min * 60.0,
                turnaround_s=a.turnaround_min * 60.0,
                loadout=dict(a.loadout),
                p_acquire=a.p_acquire,
            )
            unit.aircraft = [
                _Aircraft(base=j, number=k, rounds=dict(a.loadout), x=unit.base_x, y=unit.base_y)
                for k in range(a.aircraft)
            ]
            self.airbases.append(unit)
        # Impact windows of batteries, grouped by drone: {drone: {battery: (starts, ends)}}.
        self.windows: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
        keys, starts, ends = tracks.battery_windows
        if keys.size and nb:
            drone, bat = np.divmod(keys, nb)
            cut = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1], True])
            for a0, a1 in itertools.pairwise(cut):
                self.windows.setdefault(int(drone[a0]), {})[int(bat[a0])] = (
                    starts[a0:a1],
                    ends[a0:a1],
                )
        # defender -> the value of ``n_freed`` when it was last freed (-1: never)
        self._last_freed: list[int] = [-1] * (nb + len(self.airbases))
        self._by_battery: list[list[int]] = [[] for _ in range(nb)]
        for d, wins in self.windows.items():
            for b in wins:
                self._by_battery[b].append(d)
        ak, astart, aend = tracks.allowed
        self.allowed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if ak.size:
            cut = np.flatnonzero(np.r_[True, ak[1:] != ak[:-1], True])
            for a0, a1 in itertools.pairwise(cut):
                self.allowed[int(ak[a0])] = (astart[a0:a1], aend[a0:a1])

    # ------------------------------------------------------------------ state queries
    def _pos(self, d: int, t: float) -> tuple[float, float]:
        """Where drone ``d`` is at time ``t`` (clamped to its track), with plain floats: the
        engine asks this one point at a time, where numpy's per-call overhead dominates."""
        bp = self._breakpoints.get(d)
        if bp is None:
            tr = self.tracks
            s, e = int(tr.offsets[d]), int(tr.offsets[d + 1])
            bp = (tr.bt[s:e].tolist(), tr.bx[s:e].tolist(), tr.by[s:e].tolist())
            self._breakpoints[d] = bp
        ts, xs, ys = bp
        if t <= ts[0]:
            return xs[0], ys[0]
        if t >= ts[-1]:
            return xs[-1], ys[-1]
        j = bisect.bisect_right(ts, t) - 1
        span = ts[j + 1] - ts[j]
        f = (t - ts[j]) / span if span > 0 else 0.0
        return xs[j] + f * (xs[j + 1] - xs[j]), ys[j] + f * (ys[j + 1] - ys[j])

    def alive(self, d: int, t: float | None = None) -> bool:
        """Whether drone ``d`` is still flying at time ``t`` (default now)."""
        t = self.env.now if t is None else t
        return bool(np.isnan(self.destroyed_s[d])) and t <= self.tracks.end_s[d]

    def _slant(self, x: float, y: float, d: int, t: float) -> float:
        px, py = self._pos(d, t)
        return math.sqrt((px - x) ** 2 + (py - y) ** 2 + self.tracks.altitude_m[d] ** 2)

    # ------------------------------------------------------------------ batteries
    def _battery_plan(self, b: int, d: int, ready: float) -> _Plan | None:
        """Earliest fire/impact times with the impact inside one of the battery's windows."""
        wins = self.windows.get(d, {}).get(b)
        if wins is None:
            return None
        unit = self.batteries[b]
        bx, by = float(self.world.bat_x[b]), float(self.world.bat_y[b])
        speed = unit.weapon.speed_mps
        for a, e in zip(*wins, strict=True):
            if e < ready:
                continue
            ti = self._strike_time(d, max(a, ready), float(e), ready, bx, by, speed)
            if ti <= e:
                return _Plan(
                    fire=ti - self._slant(bx, by, d, ti) / speed,
                    impact=ti,
                    cost=unit.weapon.cost_usd,
                )
        return None

    def _strike_time(
        self, d: int, lo: float, hi: float, ready: float, sx: float, sy: float, speed: float
    ) -> float:
        """Earliest impact time in [lo, hi] (lo >= ready) of a round fired at ``ready`` or later
        from (sx, sy) at ``speed``: the first t with slant(t) <= speed (t - ready); inf if none.

        On each straight piece of the drone's track the condition is a quadratic inequality in
        t, solved in closed form (time of flight = slant range / speed exactly, however fast
        the drone, which a capped fixed-point iteration was not).
        """
        self._pos(d, lo)  # fills the breakpoint cache
        bts = self._breakpoints[d][0]
        j = bisect.bisect_right(bts, lo)
        ts = [lo]
        while j < len(bts) and bts[j] < hi:
            ts.append(bts[j])
            j += 1
        ts.append(hi)
        h2 = float(self.tracks.altitude_m[d]) ** 2
        v2 = speed * speed
        xa, ya = self._pos(d, lo)
        for ta, tb in itertools.pairwise(ts):
            xb, yb = self._pos(d, tb)
            r = first_strike(ta, tb, xa, ya, xb, yb, sx, sy, h2, v2, ready)
            if r < math.inf:
                return r
            xa, ya = xb, yb
        return math.inf

    def _battery_engage(self, b: int, d: int) -> Generator[simpy.Event, Any, None]:
        env = self.env
        unit = self.batteries[b]
        doc = self.doctrine
        ready = env.now + unit.reaction_s
        shots = 0  # C2 committed the battery to this drone when it assigned it
        last_impact = -math.inf
        req = None
        try:
            while self.alive(d) and shots < doc.max_shots_per_target:
                plan = self._battery_plan(b, d, max(ready, env.now))
                if plan is None:
                    break
                if plan.fire > env.now + 1e-9:
                    yield env.timeout(plan.fire - env.now)
                    continue
                if req is None:
                    req = unit.channels.request()
                    yield req
                    continue
                if unit.magazine == 0:
                    if unit.reloading is None:
                        break
                    yield unit.reloading
                    continue
                n_fire = (
                    1
                    if doc.shoot_look_shoot
                    else min(doc.max_shots_per_target - shots, unit.magazine)
                )
                unit.magazine -= n_fire
                if unit.magazine == 0 and unit.reload_s is not None:
                    unit.reloading = env.event()
                    env.process(self._reload(unit))
                fire_t = env.now
                yield env.timeout(plan.impact - env.now)
                shots += n_fire
                self._shots(b, unit.weapon, unit.weapon_index, d, fire_t, n_fire)
                last_impact = env.now
                if not self.alive(d):
                    break
                ready = env.now + doc.assessment_s
        finally:
            if unit.magazine - unit.committed <= 0:
                self._free_up(b)  # it was fully committed: now it can take another drone
            unit.committed -= 1
            if req is not None:
                unit.channels.release(req)
        self._engagement_over(d, b, known_at=last_impact + doc.assessment_s)

    def _reload(self, unit: _BatteryUnit) -> Generator[simpy.Event, Any, None]:
        assert unit.reload_s is not None
        yield self.env.timeout(unit.reload_s)
        unit.magazine = unit.capacity
        self._free_up(unit.index)
        ev, unit.reloading = unit.reloading, None
        if ev is not None:
            ev.succeed()
        self._assign()

    # ------------------------------------------------------------------ shots
    def _shots(self, defender: int, weapon: Weapon, wi: int, d: int, fire_t: float, n: int) -> None:
        """Record ``n`` shots striking drone ``d`` now; the first hit on a live drone kills it."""
        now = self.env.now
        draws = self.rng.random(n) < weapon.pk
        x, y = self._pos(d, now)
        for hit in draws:
            live_hit = bool(hit) and self.alive(d)
            self.shot_log.append((fire_t, now, defender, wi, d, live_hit, weapon.cost_usd, x, y))
            self.shots_at[d] += 1
            if live_hit:
                self.destroyed_s[d] = now
                self.kill_x[d], self.kill_y[d] = x, y
                self.killed_by[d] = defender
                self.killed_weapon[d] = wi

    # ------------------------------------------------------------------ fighters
    def _reach_time(self, d: int, t0: float, x0: float, y0: float, speed: float) -> float:
        """Earliest time >= t0 at which a fighter leaving (x0, y0) at t0 can be at drone ``d``.

        ``f(t) = |D(t) - P0| - v (t - t0)`` is convex on each straight leg of the drone, so the
        first sign change between breakpoints brackets a unique root, solved in closed form.
        """
        end = float(self.tracks.end_s[d])
        if t0 > end:
            return math.inf
        self._pos(d, t0)  # fills the breakpoint cache
        bts = self._breakpoints[d][0]
        ts = [t0, *(t for t in bts if t0 < t < end), end]
        px, py, k = [], [], -1
        for i, t in enumerate(ts):
            x, y = self._pos(d, t)
            px.append(x)
            py.append(y)
            if math.hypot(x - x0, y - y0) - speed * (t - t0) <= 0:
                k = i
                break
        if k < 0:
            return math.inf
        if k == 0:
            return t0
        # On the bracketing leg the drone moves linearly: D(t) = Da + u (t - ta). Solve
        # |Da - P0 + u tau| = v (tau + ta - t0) for the root in [0, tb - ta] (unique: f is
        # convex there and changes sign once).
        ta, tb = float(ts[k - 1]), float(ts[k])
        wx, wy = float(px[k - 1]) - x0, float(py[k - 1]) - y0
        span = tb - ta
        ux = (float(px[k]) - float(px[k - 1])) / span if span > 0 else 0.0
        uy = (float(py[k]) - float(py[k - 1])) / span if span > 0 else 0.0
        c0 = ta - t0
        v2 = speed * speed
        qa = ux * ux + uy * uy - v2
        qb = 2.0 * (wx * ux + wy * uy - v2 * c0)
        qc = wx * wx + wy * wy - v2 * c0 * c0
        roots: list[float] = []
        if abs(qa) > 1e-12:
            disc = qb * qb - 4.0 * qa * qc
            if disc >= 0:
                sq = math.sqrt(disc)
                roots = [(-qb - sq) / (2 * qa), (-qb + sq) / (2 * qa)]
        elif abs(qb) > 1e-12:
            roots = [-qc / qb]
        tol = 1e-9 * max(1.0, span)
        inside = [r for r in roots if -tol <= r <= span + tol and r + c0 >= -tol]
        if inside:
            return ta + min(max(min(inside), 0.0), span)
        return tb  # numerically at the end of the leg, where f <= 0 holds

    def _cheapest_weapon(self, rounds: dict[str, int], d: int) -> str | None:
        alt = self.tracks.altitude_m[d]
        best = None
        for name, left in rounds.items():
            w = self.world.scenario.weapons[name]
            if (
                left > 0
                and w.min_altitude_m <= alt <= w.max_altitude_m
                and (best is None or w.cost_usd < self.world.scenario.weapons[best].cost_usd)
            ):
                best = name
        return best

    def _fighter_plan(
        self, unit: _AirbaseUnit, ac: _Aircraft, d: int, t0: float, x0: float, y0: float,
        wheels_up: float,
    ) -> _Plan | None:  # fmt: skip
        """Earliest allowed shot after reaching drone ``d``, if the sortie can still fly home."""
        wname = self._cheapest_weapon(ac.rounds, d)
        if wname is None or d not in self.allowed:
            return None
        w = self.world.scenario.weapons[wname]
        tof = w.min_range_km * 1000.0 / w.speed_mps
        t_reach = self._reach_time(d, t0, x0, y0, unit.speed_mps)
        if not math.isfinite(t_reach):
            return None
        for a, e in zip(*self.allowed[d], strict=True):
            impact = max(a, t_reach + tof)
            if impact <= e:
                fire = impact - tof
                dx, dy = self._pos(d, impact)
                home = math.hypot(dx - unit.base_x, dy - unit.base_y) / unit.speed_mps
                engagement = self.doctrine.max_shots_per_target * (tof + self.doctrine.assessment_s)
                if fire + engagement + home > wheels_up + unit.endurance_s:
                    return None
                fly = fire - t0 + home + (t0 - wheels_up if t0 > wheels_up else 0.0)
                cost = w.cost_usd + unit.cost_per_s * fly
                return _Plan(fire=fire, impact=impact, cost=cost)
        return None

    def _sortie(
        self, unit: _AirbaseUnit, ac: _Aircraft, d: int
    ) -> Generator[simpy.Event, Any, None]:
        env = self.env
        ac.state = "scrambling"
        yield env.timeout(unit.scramble_s)
        ac.state = "airborne"
        ac.wheels_up = env.now
        ac.x, ac.y = unit.base_x, unit.base_y
        target: int | None = d
        while target is not None:
            yield from self._intercept(unit, ac, target)
            target = None
            if not any(v > 0 for v in ac.rounds.values()):
                break
            # On station until tasked again or until the fuel left only gets it home.
            home = math.hypot(ac.x - unit.base_x, ac.y - unit.base_y) / unit.speed_mps
            deadline = ac.wheels_up + unit.endurance_s - home
            if deadline <= env.now:
                break
            ac.state = "idle"
            self._free_up(unit.index)
            ac.tasked = env.event()
            self._assign()
            if not ac.tasked.triggered:
                timer = env.timeout(deadline - env.now)
                yield ac.tasked | timer
            if ac.tasked.triggered:
                target = int(ac.tasked.value)
            ac.state = "airborne"
            ac.tasked = None
        home = math.hypot(ac.x - unit.base_x, ac.y - unit.base_y) / unit.speed_mps
        yield env.timeout(home)
        self.sortie_log.append((unit.index, ac.number, ac.wheels_up, env.now))
        ac.state = "turnaround"
        ac.x, ac.y = unit.base_x, unit.base_y
        yield env.timeout(unit.turnaround_s)
        ac.rounds = dict(unit.loadout)
        ac.state = "ready"
        self._free_up(unit.index)
        self._assign()

    def _intercept(
        self, unit: _AirbaseUnit, ac: _Aircraft, d: int
    ) -> Generator[simpy.Event, Any, None]:
        env = self.env
        doc = self.doctrine
        shots = 0
        ready = env.now
        acquired = False
        last_impact = -math.inf
        try:
            plan: _Plan | None = None
            while self.alive(d) and shots < doc.max_shots_per_target:
                if plan is None:
                    plan = self._fighter_plan(unit, ac, d, ready, ac.x, ac.y, ac.wheels_up)
                    if plan is None:
                        break
                if plan.fire > env.now + 1e-9:
                    yield env.timeout(plan.fire - env.now)
                    # With the drone now (if it still flies: the loop looks), the plan holds:
                    # planned again from here, it would reach the drone at once and fire now.
                    ac.x, ac.y = self._pos(d, env.now)
                    ready = env.now
                    continue
                ac.x, ac.y = self._pos(d, env.now)
                if not acquired:
                    # One draw per intercept: the aircraft finds the drone, or gives up on it.
                    if unit.p_acquire < 1.0 and self.rng.random() >= unit.p_acquire:
                        break
                    acquired = True
                wname = self._cheapest_weapon(ac.rounds, d)
                assert wname is not None
                w = self.world.scenario.weapons[wname]
                n_fire = (
                    1
                    if doc.shoot_look_shoot
                    else min(doc.max_shots_per_target - shots, ac.rounds[wname])
                )
                ac.rounds[wname] -= n_fire
                fire_t = env.now
                yield env.timeout(plan.impact - env.now)
                ac.x, ac.y = self._pos(d, env.now)
                shots += n_fire
                self._shots(unit.index, w, self.weapon_index[wname], d, fire_t, n_fire)
                last_impact = env.now
                if not self.alive(d):
                    break
                ready = env.now + doc.assessment_s
                plan = None  # the next shot needs a new plan: it closes on the drone again
        finally:
            self._engagement_over(
                d, unit.index, reassign=False, known_at=last_impact + doc.assessment_s
            )

    # ------------------------------------------------------------------ command and control
    def _radar_picture(self) -> Generator[simpy.Event, Any, None]:
        """Process: drones become detected at their precomputed times and go to C2."""
        det = self.tracks.detect_s
        order = np.flatnonzero(np.isfinite(det))
        order = order[np.argsort(det[order], kind="stable")]
        for d in order.tolist():
            t = float(det[d])
            if t > self.env.now:
                yield self.env.timeout(t - self.env.now)
            if self.alive(d):
                self._wait(d)
                self._wake_c2()
                self._assign(only=d)

    def _c2_cycle(self) -> Generator[simpy.Event, Any, None]:
        """Process: C2 looks again at every waiting drone every ``C2_CYCLE_S`` (at multiples of
        it), and sleeps while no drone waits (fighter reach changes with time)."""
        horizon = self.world.scenario.duration_s
        while True:
            if not self.pending:
                self._c2_idle = self.env.event()
                yield self._c2_idle
                self._c2_idle = None
            nxt = (math.floor(self.env.now / C2_CYCLE_S) + 1) * C2_CYCLE_S
            if nxt > horizon:
                return
            yield self.env.timeout(nxt - self.env.now)
            if self.pending:
                self._assign(tick=True)

    def _wake_c2(self) -> None:
        if self._c2_idle is not None and not self._c2_idle.triggered:
            self._c2_idle.succeed()

    def _policy_key(self, plan: _Plan, defender: int, d: int, x: float, y: float) -> tuple:
        policy = self.doctrine.assignment
        if policy == "cheapest":
            return (plan.cost, plan.impact, defender)
        if policy == "layered":
            return (plan.impact, plan.cost, defender)
        px, py = self._pos(d, self.env.now)
        return (math.hypot(px - x, py - y), plan.impact, defender)

    def _candidates(self, d: int, only: set[int] | None = None) -> list[tuple[tuple, int, Any]]:
        """Every defender able to engage drone ``d`` now, with its policy key (``only``: among
        these defender indices)."""
        now = self.env.now
        out: list[tuple[tuple, int, Any]] = []
        for b in self.windows.get(d, {}):
            unit = self.batteries[b]
            if (only is not None and b not in only) or (d, b) in self.tried:
                continue
            if unit.magazine - unit.committed <= 0 and unit.reload_s is None:
                continue
            if unit.defended_m is not None and (
                self.tracks.diverted[d]
                or math.hypot(
                    self.tracks.aim_x[d] - self.world.bat_x[b],
                    self.tracks.aim_y[d] - self.world.bat_y[b],
                )
                > unit.defended_m
            ):
                continue
            plan = self._battery_plan(b, d, now + unit.reaction_s)
            if plan is not None:
                bx, by = float(self.world.bat_x[b]), float(self.world.bat_y[b])
                out.append((self._policy_key(plan, b, d, bx, by), b, None))
        for unit in self.airbases:
            if (only is not None and unit.index not in only) or (d, unit.index) in self.tried:
                continue
            if not unit.has_available():
                continue
            for ac in unit.aircraft:
                if ac.state == "idle":
                    plan = self._fighter_plan(unit, ac, d, now, ac.x, ac.y, ac.wheels_up)
                    if plan is not None:
                        key = self._policy_key(plan, unit.index, d, ac.x, ac.y)
                        out.append((key, unit.index, ac))
            ac = next((a for a in unit.aircraft if a.state == "ready"), None)
            if ac is None:
                continue
            t_up = now + unit.scramble_s
            plan = self._fighter_plan(unit, ac, d, t_up, unit.base_x, unit.base_y, t_up)
            if plan is not None:
                key = self._policy_key(plan, unit.index, d, unit.base_x, unit.base_y)
                out.append((key, unit.index, ac))
        return out

    def _free(self, defender: int) -> bool:
        """Whether a defender could take one more drone now."""
        nb = len(self.batteries)
        if defender < nb:
            unit = self.batteries[defender]
            return unit.magazine - unit.committed > 0 or unit.reload_s is not None
        return self.airbases[defender - nb].has_available()

    def _tried_everyone(self, d: int) -> bool:
        """Every defender that could ever engage drone ``d`` has had its turn."""
        tried = self.tried
        return all((d, b) in tried for b in self.windows.get(d, {})) and all(
            (d, u.index) in tried for u in self.airbases
        )

    def _take(self, d: int, defender: int) -> None:
        self.tried.add((d, defender))
        eng = self.engaged.setdefault(d, set())
        eng.add(defender)
        if len(eng) >= self.doctrine.max_defenders_per_target:
            self.pending.pop(d, None)

    def _wait(self, d: int) -> None:
        """Drone ``d`` waits for C2, to be looked at afresh."""
        if d not in self.pending:
            self.pending[d] = None
            self._seq[d] = self._n_seq
            self._n_seq += 1
        self.checked.pop(d, None)
        self._dirty.add(d)

    def _free_up(self, defender: int) -> None:
        """``defender`` became more available: the waiting drones it could serve are looked at
        again on the next pass (an airbase can serve any drone, a battery only those it has a
        window on)."""
        self._last_freed[defender] = self.n_freed
        self.n_freed += 1
        if defender >= len(self.batteries):
            self._dirty.update(self.pending)
        else:
            pending = self.pending
            self._dirty.update(d for d in self._by_battery[defender] if d in pending)

    def _assign(self, only: int | None = None, *, tick: bool = False) -> None:
        """Give waiting drones to the best defender the policy allows, while any can.

        A drone for which no defender could be found is looked at again when a defender that
        could serve it becomes more available (reload, aircraft ready or on station, engagement
        over), and at every C2 cycle (``tick``) against the airbases with an aircraft to offer,
        whose reach changes with time alone; not at every event: the answer cannot change in
        between.
        """
        now = self.env.now
        on_call = {u.index for u in self.airbases if u.has_available()}
        nb = len(self.batteries)
        n_freed = self.n_freed
        last_freed = self._last_freed
        airbase_ids = range(nb, nb + len(self.airbases))
        pending = self.pending
        if only is not None:
            targets = [only]
            self._dirty.discard(only)
        elif tick and on_call:
            # (a cycle without an airbase to offer brings nothing new: then only the drones
            # in ``_dirty`` are visited)
            targets = list(pending)
            self._dirty.clear()
        else:
            # In queue order, as a pass over the whole queue would meet them.
            targets = sorted((d for d in self._dirty if d in pending), key=self._seq.__getitem__)
            self._dirty.clear()
        for d in targets:
            if d not in pending:
                continue
            last = self.checked.get(d)
            only_def: set[int] | None = None
            looked_t = now  # time of the last look at every available defender
            due = False
            if last is not None:
                due = tick and last[1] < now  # a cycle since its last full look
                if last[0] == n_freed and not due:
                    continue  # nothing it could use has changed since C2 last found no one
                looked_t = now if due else last[1]
            allowed = self.allowed.get(d)
            if not self.alive(d) or allowed is None or allowed[1][-1] < now:
                # Destroyed, gone, or never again where a shot is allowed: nothing to assign.
                pending.pop(d, None)
                continue
            if last is not None:
                # Only the defenders that might take it now: freed since (or, at a cycle, the
                # airbases with an aircraft to offer), able to reach it at all (a battery with a
                # window on it, or an airbase), still free, and not yet tried by it (a drone
                # that has tried every defender left the queue at its first look).
                k = last[0]
                tried = self.tried
                only_def = {
                    x
                    for x in itertools.chain(self.windows.get(d, ()), airbase_ids)
                    if (last_freed[x] >= k or (due and x in on_call))
                    and (d, x) not in tried
                    and self._free(x)
                }
                if not only_def:
                    self.checked[d] = (n_freed, looked_t)
                    continue
            while d in pending:
                cands = self._candidates(d, only_def)
                if only_def is None:
                    looked_t = now
                only_def = None
                if not cands:
                    if self._tried_everyone(d):
                        pending.pop(d, None)  # every defender has had its turn
                    else:
                        self.checked[d] = (self.n_freed, looked_t)
                    break
                _key, defender, ac = min(cands, key=lambda c: c[0])
                self._take(d, defender)
                if ac is None:
                    # Commit now, not when the process starts, so that drones assigned at the
                    # same instant see each other's claim on the magazine.
                    self.batteries[defender].committed += 1
                    self.env.process(self._battery_engage(defender, d))
                else:
                    unit = self.airbases[defender - len(self.batteries)]
                    if ac.state == "idle":
                        ac.state = "airborne"
                        ac.tasked.succeed(d)
                    else:
                        ac.state = "scrambling"
                        self.env.process(self._sortie(unit, ac, d))
                    if not unit.has_available():
                        on_call.discard(unit.index)

    def _engagement_over(
        self, d: int, defender: int, *, reassign: bool = True, known_at: float = -math.inf
    ) -> None:
        """``defender`` is done with drone ``d``, which goes back to C2 if it is still flying,
        at ``known_at`` if that is later (when C2 can know that the last shot missed)."""
        eng = self.engaged.get(d)
        if eng is not None:
            eng.discard(defender)
        if self.alive(d):
            if known_at > self.env.now:
                self.env.process(self._back_to_c2(d, known_at))
            else:
                self._wait(d)
                self._wake_c2()
        # Also after a kill: the round or channel it freed may serve a waiting drone.
        if reassign and self.pending:
            self._assign()

    def _back_to_c2(self, d: int, at: float) -> Generator[simpy.Event, Any, None]:
        """Drone ``d`` survived its last shot; C2 learns it at ``at`` and looks at it again."""
        yield self.env.timeout(at - self.env.now)
        if self.alive(d):
            self._wait(d)
            self._wake_c2()
            self._assign()

    # ------------------------------------------------------------------ run
    def run(self) -> ReplicationResult:
        """Run the replication to the end and collect its outcome."""
        self.env.process(self._radar_picture())
        if self.airbases:
            self.env.process(self._c2_cycle())
        self.env.run()
        return self._result()

    def _result(self) -> ReplicationResult:
        tr = self.tracks
        n = tr.n
        fate = np.empty(n, np.int8)
        horizon = tr.end_reason == END_HORIZON
        fate[:] = FATE_CODE["exited"]
        for reason, code in _NATURAL_FATE.items():
            fate[tr.end_reason == reason] = code
        fate[horizon & tr.inside_at_end] = FATE_CODE["airborne"]
        destroyed = np.isfinite(self.destroyed_s)
        fate[destroyed] = FATE_CODE["destroyed"]
        fate_s = np.where(destroyed, self.destroyed_s, tr.end_s)
        last = tr.offsets[1:] - 1
        fate_x = np.where(destroyed, self.kill_x, tr.bx[last])
        fate_y = np.where(destroyed, self.kill_y, tr.by[last])
        cols = ("time_s", "impact_s", "defender", "weapon", "drone", "hit", "cost_usd", "x", "y")
        if self.shot_log:
            arr = list(zip(*self.shot_log, strict=True))
            shots = {c: np.asarray(v) for c, v in zip(cols, arr, strict=True)}
        else:
            shots = {c: np.empty(0) for c in cols}
        for c in ("defender", "weapon", "drone"):
            shots[c] = shots[c].astype(np.int64)
        shots["hit"] = shots["hit"].astype(bool)
        nb = len(self.batteries)
        if self.sortie_log:
            dfn, num, up, land = (np.asarray(v) for v in zip(*self.sortie_log, strict=True))
            hours = (land - up) / 3600.0
            # Per flight hour, as the platform states it (not through a per-second rate).
            cost = np.array([self.airbases[int(i) - nb].cost_per_h for i in dfn]) * hours
            sorties = {
                "defender": dfn.astype(np.int64),
                "aircraft": num.astype(np.int64),
                "wheels_up_s": up.astype(float),
                "landing_s": land.astype(float),
                "hours": hours,
                "cost_usd": cost,
            }
        else:
            sorties = {
                "defender": np.empty(0, np.int64),
                "aircraft": np.empty(0, np.int64),
                "wheels_up_s": np.empty(0),
                "landing_s": np.empty(0),
                "hours": np.empty(0),
                "cost_usd": np.empty(0),
            }
        # A drone shot down before it reached the border never crossed it.
        crossed = tr.border_cross_s <= fate_s
        if not crossed[np.isfinite(tr.border_cross_s)].all():
            tr = replace(tr, border_cross_s=np.where(crossed, tr.border_cross_s, np.nan))
        return ReplicationResult(
            tracks=tr,
            fate=fate,
            fate_s=fate_s,
            fate_x=fate_x,
            fate_y=fate_y,
            killed_by=self.killed_by,
            killed_weapon=self.killed_weapon,
            shots_at=self.shots_at,
            shots=shots,
            sorties=sorties,
            events=self.env.scheduled,
        )
