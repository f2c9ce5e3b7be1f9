"""Drone tracks of one replication, and every window the engine needs, computed at once (numpy).

A drone's flight does not depend on what the defence does until it is shot down, so its whole
track is known in advance: launch, route with spread, electronic-warfare diversions and losses,
endurance, leaving the scenario area and the horizon. From the tracks this module computes, for all
drones together and in closed form, the border crossings, the intervals over the defended territory
where a shot is allowed, the sensor cover and detection times, and every battery's impact windows.
The discrete-event engine then only schedules what happens at those times.

Conventions: times in seconds from t = 0, positions in metres in the scenario's projected plane,
tracks as a flat *segment table* sorted by drone then time (see :mod:`sim.intervals`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from sim.geo import (
    geodesic_azimuth_deg,
    geodesic_distance_m,
    geodesic_points,
    segment_edge_crossings,
)
from sim.intervals import (
    circle_pairs,
    circle_windows,
    circle_windows_pairs,
    merge_intervals,
    sorted_by_key_then_start,
)
from sim.world import World

__all__ = [
    "END_CRASHED",
    "END_EW_LOST",
    "END_EXITED",
    "END_HORIZON",
    "END_LEAKED",
    "Tracks",
    "build_tracks",
    "radar_horizon_m",
]

# Why a track ends, in the order that breaks ties (reaching the aim point at the very moment the
# fuel runs out counts as reaching it).
END_LEAKED, END_EW_LOST, END_CRASHED, END_EXITED, END_HORIZON = range(5)

#: 4/3-earth radar horizon constant: 4.12 km per sqrt(metre) of antenna plus target height.
RADAR_HORIZON_M_PER_SQRT_M = 4120.0
#: A route and an endurance whose lengths differ by less than this (m) are equal: the drone
#: reaches its aim point (geodesic algorithms agree to about 10 um; a millimetre leaves room).
TIE_M = 1e-3
_EPS = 1e-6


def radar_horizon_m(antenna_m: np.ndarray, target_m: np.ndarray) -> np.ndarray:
    """Radar horizon on the 4/3-earth model: ``4.12 km * (sqrt(h_antenna) + sqrt(h_target))``."""
    return RADAR_HORIZON_M_PER_SQRT_M * (np.sqrt(antenna_m) + np.sqrt(target_m))


@dataclass(frozen=True)
class Segments:
    """A flat segment table sorted by drone, then time."""

    drone: np.ndarray
    t0: np.ndarray
    t1: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray

    def __len__(self) -> int:
        return int(self.drone.size)

    def sorted(self) -> Segments:
        order = np.lexsort((self.t0, self.drone))
        return Segments(*(a[order] for a in self._arrays()))

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (self.drone, self.t0, self.t1, self.x0, self.y0, self.x1, self.y1)

    def take(self, mask_or_index: np.ndarray) -> Segments:
        return Segments(*(a[mask_or_index] for a in self._arrays()))

    def at(self, index: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Position on segments ``index`` at times ``t`` (clamped to each segment)."""
        dur = self.t1[index] - self.t0[index]
        f = np.where(dur > 0, (t - self.t0[index]) / np.where(dur > 0, dur, 1.0), 0.0)
        f = np.clip(f, 0.0, 1.0)
        x = self.x0[index] + f * (self.x1[index] - self.x0[index])
        y = self.y0[index] + f * (self.y1[index] - self.y0[index])
        return x, y


@dataclass(frozen=True)
class TrackSummary:
    """Per-drone arrays of one replication kept for the results (shape ``(N,)``)."""

    wave: np.ndarray
    launch_s: np.ndarray
    border_cross_s: np.ndarray
    detect_s: np.ndarray


@dataclass(frozen=True)
class Tracks:
    """All drones of one replication: tracks, natural ends and the windows that matter.

    Per drone (shape ``(N,)``): ``wave``, ``launch_s``, ``speed_mps``, ``altitude_m``,
    ``end_s`` and ``end_reason`` (how the track ends if nobody shoots it down; one of the
    ``END_*`` codes), ``border_cross_s`` (first entry into the territory from outside; NaN if
    never), ``inside_at_end``, ``detect_s`` (NaN if never detected), ``diverted``,
    ``aim_x``/``aim_y`` (its aim point, after route spread).

    ``offsets`` indexes the breakpoints: drone ``i``'s track passes through ``(bx, by)`` at times
    ``bt`` over ``offsets[i]:offsets[i+1]``. ``allowed`` holds the merged intervals where a shot
    may strike each drone (key = drone). ``battery_windows`` holds, for detected drones, the
    merged impact windows of each battery (key = drone * B + battery).
    """

    wave: np.ndarray
    launch_s: np.ndarray
    speed_mps: np.ndarray
    altitude_m: np.ndarray
    end_s: np.ndarray
    end_reason: np.ndarray
    border_cross_s: np.ndarray
    inside_at_end: np.ndarray
    detect_s: np.ndarray
    diverted: np.ndarray
    aim_x: np.ndarray
    aim_y: np.ndarray
    offsets: np.ndarray
    bt: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    allowed: tuple[np.ndarray, np.ndarray, np.ndarray]
    battery_windows: tuple[np.ndarray, np.ndarray, np.ndarray]

    @property
    def n(self) -> int:
        """Number of drones."""
        return int(self.wave.size)

    def summary(self) -> TrackSummary:
        """The few per-drone arrays a run keeps after the replication (not the tracks)."""
        return TrackSummary(
            wave=self.wave,
            launch_s=self.launch_s,
            border_cross_s=self.border_cross_s,
            detect_s=self.detect_s,
        )

    def position(self, drone: int, t: float) -> tuple[float, float]:
        """Where drone ``drone`` is at time ``t`` (m); clamped to its track's ends."""
        s, e = self.offsets[drone], self.offsets[drone + 1]
        bt = self.bt[s:e]
        return float(np.interp(t, bt, self.bx[s:e])), float(np.interp(t, bt, self.by[s:e]))


def _launch(
    world: World, rng: np.random.Generator, spread_z: list[np.ndarray | None] | None = None
) -> tuple[Segments, dict[str, np.ndarray]]:
    """Launch times, spread routes and geodesically timed legs for every drone.

    ``spread_z[w]``, if given, holds wave ``w``'s standard-normal route offsets, shape
    (count, waypoints, 2), in place of draws from ``rng``.
    """
    segs: list[tuple[np.ndarray, ...]] = []
    per: dict[str, list[np.ndarray]] = {
        k: []
        for k in ("wave", "launch_s", "speed", "alt", "endurance", "route_end", "aim_x", "aim_y")
    }
    first = 0
    proj = world.projection
    for wi, w in enumerate(world.waves):
        n = w.count
        lo, hi = w.window_s
        launch = rng.uniform(lo, hi, n) if hi > lo else np.full(n, lo)
        k = w.route_xy.shape[0]
        pts = np.empty((n, k + 1, 2))
        pts[:, 0, :] = w.launch_xy
        pts[:, 1:, :] = w.route_xy
        if w.spread_m > 0:
            if spread_z is None:
                pts[:, 1:, :] += rng.normal(0.0, w.spread_m, (n, k, 2))
            else:
                pts[:, 1:, :] += w.spread_m * spread_z[wi]
        # every drone of a wave starts at one point, and without spread flies one route: each
        # distinct point is unprojected, and each distinct leg measured, once
        rows = n if w.spread_m > 0 else min(n, 1)
        lon = np.empty((rows, k + 1))
        lat = np.empty((rows, k + 1))
        lon[:, :1], lat[:, :1] = proj.inverse(pts[:1, :1, 0], pts[:1, :1, 1])
        lon[:, 1:], lat[:, 1:] = proj.inverse(pts[:rows, 1:, 0], pts[:rows, 1:, 1])
        legs_m = geodesic_distance_m(lon[:, :-1], lat[:, :-1], lon[:, 1:], lat[:, 1:])
        if np.any(w.leg_pieces > 1):
            pts, legs_m = _geodesic_sub_legs(world, w.leg_pieces, pts, lon, lat, legs_m)
            k = legs_m.shape[1]
        legs_m = np.broadcast_to(legs_m, (n, k))
        times = launch[:, None] + np.concatenate(
            [np.zeros((n, 1)), np.cumsum(legs_m, axis=1) / w.speed_mps], axis=1
        )
        drone = np.repeat(np.arange(first, first + n), k)
        segs.append(
            (
                drone,
                times[:, :-1].ravel(),
                times[:, 1:].ravel(),
                pts[:, :-1, 0].ravel(),
                pts[:, :-1, 1].ravel(),
                pts[:, 1:, 0].ravel(),
                pts[:, 1:, 1].ravel(),
            )
        )
        per["wave"].append(np.full(n, wi))
        per["launch_s"].append(launch)
        per["speed"].append(np.full(n, w.speed_mps))
        per["alt"].append(np.full(n, w.altitude_m))
        per["endurance"].append(np.full(n, w.endurance_m))
        per["route_end"].append(times[:, -1])
        per["aim_x"].append(pts[:, -1, 0])
        per["aim_y"].append(pts[:, -1, 1])
        first += n
    table = Segments(*(np.concatenate(parts) for parts in zip(*segs, strict=True)))
    return table, {key: np.concatenate(v) for key, v in per.items()}


def _geodesic_sub_legs(
    world: World,
    pieces: np.ndarray,
    pts: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    legs_m: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Split leg ``j`` of every drone into ``pieces[j]`` equal parts at points on its geodesic.

    ``pts`` (n, K+1, 2) holds the drones' waypoints in the plane, ``lon``/``lat`` (rows, K+1) and
    ``legs_m`` (rows, K) their coordinates and geodesic leg lengths (rows = n, or 1 when every
    drone flies the same route). Returns the waypoints with the new points inserted and the parts'
    lengths (each leg's length shared equally), so that the times at the old waypoints do not
    change and the new points are passed at the times the geodesic gives.
    """
    n, rows = pts.shape[0], lon.shape[0]
    out_pts = [pts[:, :1, :]]
    out_legs = []
    az = geodesic_azimuth_deg(lon[:, :-1], lat[:, :-1], lon[:, 1:], lat[:, 1:])
    for j, m in enumerate(pieces.tolist()):
        if m > 1:
            frac = np.arange(1, m) / m
            plon, plat = geodesic_points(
                lon[:, j : j + 1],
                lat[:, j : j + 1],
                azimuth_deg=az[:, j : j + 1],
                distance_m=legs_m[:, j : j + 1] * frac,
            )
            px, py = world.projection.forward(plon, plat)
            inner = np.broadcast_to(np.stack([px, py], axis=-1), (n, m - 1, 2))
            out_pts.append(inner)
        out_pts.append(pts[:, j + 1 : j + 2, :])
        out_legs.append(np.repeat(legs_m[:, j : j + 1] / m, m, axis=1))
    return np.concatenate(out_pts, axis=1), np.concatenate(out_legs, axis=1).reshape(rows, -1)


def _first_per_drone(drone: np.ndarray, time: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index of the earliest finite ``time`` of each drone (-1 if none), and that time."""
    idx = np.full(n, -1)
    best = np.full(n, np.inf)
    ok = np.isfinite(time)
    if ok.any():
        cand = np.flatnonzero(ok)
        order = cand[np.lexsort((time[cand], drone[cand]))]
        d_sorted = drone[order]
        keep = np.r_[True, d_sorted[1:] != d_sorted[:-1]]
        idx[d_sorted[keep]] = order[keep]
        best[d_sorted[keep]] = time[order[keep]]
    return idx, best


def _electronic_warfare(
    world: World,
    seg: Segments,
    per: dict[str, np.ndarray],
    rng: np.random.Generator,
    ew_u: np.ndarray | None = None,
) -> tuple[Segments, np.ndarray, np.ndarray]:
    """Apply jamming areas in the order each drone enters them.

    A drone entering an area is lost (comes down at a uniform time during its pass through the
    area), diverted (turned by a uniform angle in ``divert_deg``, left or right with equal chance,
    and flies on straight until its endurance is spent) or unaffected. Each area acts on a drone
    at most once.

    ``ew_u``, if given, shape (drones, areas, 4), holds each drone's uniforms for each area (the
    outcome, the time of a loss, the angle and the side of a diversion) in place of draws from
    ``rng``.

    Returns the new segment table, the time each drone is lost to EW (inf if not) and whether it
    was diverted.
    """
    n = per["launch_s"].size
    n_areas = world.ew_x.size
    lost_s = np.full(n, np.inf)
    diverted = np.zeros(n, bool)
    if n_areas == 0:
        return seg, lost_s, diverted
    visited = np.zeros((n, n_areas), bool)
    cursor = per["launch_s"].copy()
    active = np.ones(n, bool)
    endurance_end = per["launch_s"] + per["endurance"] / per["speed"]
    for _ in range(n_areas):
        enter, leave = circle_windows(
            seg.t0, seg.t1, seg.x0, seg.y0, seg.x1, seg.y1, world.ew_x, world.ew_y, world.ew_r
        )
        d = seg.drone
        valid = (
            np.isfinite(enter)
            & ~visited[d]
            & active[d][:, None]
            & (enter >= cursor[d][:, None] - _EPS)
        )
        flat_time = np.where(valid, enter, np.inf).ravel()
        flat_drone = np.repeat(d, n_areas)
        idx, t_e = _first_per_drone(flat_drone, flat_time, n)
        hit = idx >= 0
        if not hit.any():
            break
        hd = np.flatnonzero(hit)
        seg_i, area = np.divmod(idx[hd], n_areas)
        visited[hd, area] = True
        cursor[hd] = t_e[hd]
        u = rng.random(hd.size) if ew_u is None else ew_u[hd, area, 0]
        p_lost = world.ew_p_lost[area]
        is_lost = u < p_lost
        is_div = ~is_lost & (u < p_lost + world.ew_p_divert[area])

        if is_lost.any():
            # Come down at a uniform time during this pass through the area.
            keys, _ws, we = merge_intervals(d[:, None] * n_areas + np.arange(n_areas), enter, leave)
            ld, la = hd[is_lost], area[is_lost]
            want = ld * n_areas + la
            pos = np.searchsorted(keys, want, side="left")
            # The pass is the window of that key containing the entry time.
            exits = np.empty(ld.size)
            for j, (p, k, te) in enumerate(zip(pos, want, t_e[ld], strict=True)):
                q = p
                while q < keys.size and keys[q] == k and we[q] < te - _EPS:
                    q += 1
                exits[j] = we[q] if q < keys.size and keys[q] == k else te
            frac = rng.random(ld.size) if ew_u is None else ew_u[ld, la, 1]
            lost_s[ld] = t_e[ld] + frac * (exits - t_e[ld])
            active[ld] = False

        if is_div.any():
            dd, ds = hd[is_div], seg_i[is_div]
            te = t_e[dd]
            ex, ey = seg.at(ds, te)
            hx = seg.x1[ds] - seg.x0[ds]
            hy = seg.y1[ds] - seg.y0[ds]
            lo, hi = world.ew_deg[area[is_div], 0], world.ew_deg[area[is_div], 1]
            if ew_u is None:
                deg = rng.uniform(lo, hi)
                side = rng.random(dd.size)
            else:
                deg = lo + (hi - lo) * ew_u[dd, area[is_div], 2]
                side = ew_u[dd, area[is_div], 3]
            ang = np.deg2rad(deg) * np.where(side < 0.5, -1, 1)
            cos, sin = np.cos(ang), np.sin(ang)
            nx, ny = hx * cos - hy * sin, hx * sin + hy * cos
            t_end = np.maximum(endurance_end[dd], te)
            new = _diverted_legs(world, dd, te, t_end, ex, ey, nx, ny, per["speed"][dd])
            # Cut the old track at the divert point.
            is_dd = np.zeros(n, bool)
            is_dd[dd] = True
            cut = np.full(n, np.inf)
            cut[dd] = te
            keep = ~is_dd[seg.drone] | (seg.t0 < cut[seg.drone] - _EPS)
            old = seg.take(keep)
            c = cut[old.drone]
            trunc = np.isfinite(c) & (old.t1 > c)
            if trunc.any():
                ti = np.flatnonzero(trunc)
                nx1, ny1 = old.at(ti, c[ti])
                t1 = old.t1.copy()
                x1 = old.x1.copy()
                y1 = old.y1.copy()
                t1[ti], x1[ti], y1[ti] = c[ti], nx1, ny1
                old = Segments(old.drone, old.t0, t1, old.x0, old.y0, x1, y1)
            seg = _insert_after_drone(old, new)
            diverted[dd] = True
            active[dd] = True
    return seg, lost_s, diverted


def _diverted_legs(
    world: World,
    drone: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    x0: np.ndarray,
    y0: np.ndarray,
    hx: np.ndarray,
    hy: np.ndarray,
    speed: np.ndarray,
) -> Segments:
    """The straight flights of diverted drones: from (x0, y0) at ``t0`` along the geodesic whose
    initial heading is (hx, hy) in the plane (the projection is conformal, so the turn is the
    same there), at ``speed`` until ``t1``; as geodesic sub-legs where the projection's scale
    could change by more than ``MAX_LEG_SCALE_SPREAD`` along one (:meth:`ScaleTable.pieces`)."""
    proj = world.projection
    norm = np.hypot(hx, hy)
    norm = np.where(norm > 0, norm, 1.0)
    lon0, lat0 = proj.inverse(x0, y0)
    # the heading's azimuth, from a point 1 km ahead in the plane (a chord that short leaves the
    # geodesic by far less than a millimetre)
    lon_a, lat_a = proj.inverse(x0 + hx / norm * 1000.0, y0 + hy / norm * 1000.0)
    az = geodesic_azimuth_deg(lon0, lat0, lon_a, lat_a)
    length = speed * (t1 - t0)
    lon1, lat1 = geodesic_points(lon0, lat0, azimuth_deg=az, distance_m=length)
    m = world.scale_table.pieces(lat0, lat1, length)
    # breakpoints: drone i's q-th of m[i] + 1, q = 0 .. m[i]; the first is where it was turned,
    # the last where its flight ends, those between on the geodesic
    first = np.cumsum(m + 1) - (m + 1)
    owner = np.repeat(np.arange(drone.size), m + 1)
    q = np.arange(owner.size) - first[owner]
    frac = q / m[owner]
    bx, by = np.empty(owner.size), np.empty(owner.size)
    bx[first], by[first] = x0, y0
    bx[first + m], by[first + m] = proj.forward(lon1, lat1)
    inner = (q > 0) & (q < m[owner])
    if inner.any():
        o = owner[inner]
        lon, lat = geodesic_points(
            lon0[o], lat0[o], azimuth_deg=az[o], distance_m=frac[inner] * length[o]
        )
        bx[inner], by[inner] = proj.forward(lon, lat)
    bt = t0[owner] + frac * (t1 - t0)[owner]
    bt[first + m] = t1
    a = np.ones(owner.size, bool)
    a[first + m] = False  # each breakpoint but a flight's last starts a part
    b = np.r_[False, a[:-1]]  # the breakpoint after each part's start: its end
    return Segments(drone[owner[a]], bt[a], bt[b], bx[a], by[a], bx[b], by[b])


def _insert_after_drone(old: Segments, new: Segments) -> Segments:
    """``old`` and ``new`` together, sorted (as :meth:`Segments.sorted` would order them).

    When ``old`` is sorted, ``new`` holds its rows in drone order and each drone's in time order,
    and no row of ``new`` starts before a row of ``old`` of its drone (a diversion cuts the old
    track at its start), sorting places each drone's new rows after its old rows: an insertion,
    which is cheaper than sorting again. Otherwise, sort.
    """
    pos = np.searchsorted(old.drone, new.drone, side="right")
    last = np.maximum(pos - 1, 0)
    if (
        len(old)
        and sorted_by_key_then_start(old.drone, old.t0)
        and not np.isnan(old.t0).any()
        and not np.isnan(new.t0).any()
        and bool(np.all(new.drone[1:] >= new.drone[:-1]))
        and bool(np.all((new.drone[1:] > new.drone[:-1]) | (new.t0[1:] > new.t0[:-1])))
        and bool(np.all((old.drone[last] != new.drone) | (old.t0[last] <= new.t0)))
    ):
        return Segments(
            *(np.insert(a, pos, b) for a, b in zip(old._arrays(), new._arrays(), strict=True))
        )
    return Segments(
        *(np.concatenate([a, b]) for a, b in zip(old._arrays(), new._arrays(), strict=True))
    ).sorted()


def _box_exit(world: World, seg: Segments, n: int) -> np.ndarray:
    """First time each drone leaves the scenario area (inf if never)."""
    xmin, ymin, xmax, ymax = world.box
    dur = seg.t1 - seg.t0
    with np.errstate(divide="ignore", invalid="ignore"):
        vx = np.where(dur > 0, (seg.x1 - seg.x0) / dur, 0.0)
        vy = np.where(dur > 0, (seg.y1 - seg.y0) / dur, 0.0)
        tx = np.where(vx > 0, (xmax - seg.x0) / vx, np.where(vx < 0, (xmin - seg.x0) / vx, np.inf))
        ty = np.where(vy > 0, (ymax - seg.y0) / vy, np.where(vy < 0, (ymin - seg.y0) / vy, np.inf))
    tau = np.maximum(np.minimum(tx, ty), 0.0)
    t_exit = np.where(tau < dur, seg.t0 + tau, np.inf)
    out = np.full(n, np.inf)
    np.minimum.at(out, seg.drone, t_exit)
    return out


def _truncate(seg: Segments, end: np.ndarray) -> Segments:
    """Cut every track at its drone's end time (keeping at least the first segment)."""
    e = end[seg.drone]
    first = np.r_[True, seg.drone[1:] != seg.drone[:-1]]
    keep = (seg.t0 < e) | first
    s = seg.take(keep)
    e = end[s.drone]
    t1 = np.minimum(s.t1, np.maximum(e, s.t0))
    idx = np.arange(len(s))
    x1, y1 = s.at(idx, t1)
    return Segments(s.drone, s.t0, t1, s.x0, s.y0, x1, y1)


def _pieces(world: World, seg: Segments) -> dict[str, np.ndarray]:
    """Split tracks where they cross the border or a no-fire boundary; flag each piece."""
    parts_i = [np.arange(len(seg)), np.arange(len(seg))]
    parts_f = [np.zeros(len(seg)), np.ones(len(seg))]
    roe_regions = [world.roe_inner] if world.roe_inner is not None else []
    roe_regions += world.roe_nofire_polygons
    for edges in (world.territory.edges, *(r.edges for r in roe_regions)):
        # unsorted, maybe with repeats: the splits are sorted below, and a repeat makes an empty
        # piece, which is dropped
        si, fr = segment_edge_crossings(seg.x0, seg.y0, seg.x1, seg.y1, edges, sort=False)
        parts_i.append(si)
        parts_f.append(fr)
    if world.nofire_r.size:
        enter, leave = circle_windows(
            seg.t0, seg.t1, seg.x0, seg.y0, seg.x1, seg.y1,
            world.nofire_x, world.nofire_y, world.roe_nofire_r,
        )  # fmt: skip
        dur = (seg.t1 - seg.t0)[:, None]
        for t in (enter, leave):
            with np.errstate(invalid="ignore", divide="ignore"):
                f = np.where(dur > 0, (t - seg.t0[:, None]) / np.where(dur > 0, dur, 1), np.nan)
            si, ci = np.nonzero(np.isfinite(f))
            parts_i.append(si)
            parts_f.append(np.clip(f[si, ci], 0.0, 1.0))
    si = np.concatenate(parts_i).astype(np.int64, copy=False)
    fr = np.concatenate(parts_f)
    # compiled: sorted by (segment, fraction) as np.lexsort would, each pair of consecutive
    # splits of a segment more than 1e-12 apart is a piece, placed as Segments.at would
    a_i = np.empty(si.size, np.int64)
    out = np.empty((8, si.size))
    m = _split(si, fr, len(seg), *(np.ascontiguousarray(a) for a in seg._arrays()[1:]), a_i, out)
    a_i = a_i[:m]
    ta, tb, xa, ya, xb, yb, mx, my = out[:, :m]
    inside = world.territory.contains(mx, my)
    # Where a shot may strike: over the territory and outside no-fire zones, with a guard distance.
    if world.roe_inner is None:
        allowed = np.ones_like(inside)
    elif world.roe_inner_within:
        # the guarded territory lies inside the territory's interior: only points inside can be in
        allowed = inside.copy()
        allowed[inside] = world.roe_inner.contains(mx[inside], my[inside])
    else:
        allowed = world.roe_inner.contains(mx, my)
    # each further rule can only clear a point that is still allowed
    if world.nofire_r.size:
        ok = np.flatnonzero(allowed)
        d2 = (mx[ok, None] - world.nofire_x) ** 2 + (my[ok, None] - world.nofire_y) ** 2
        allowed[ok] = ~(d2 <= world.roe_nofire_r**2).any(axis=1)
    for region in world.roe_nofire_polygons:
        ok = np.flatnonzero(allowed)
        allowed[ok] = ~region.contains(mx[ok], my[ok])
    return {
        "drone": seg.drone[a_i],
        "t0": ta,
        "t1": tb,
        "x0": xa,
        "y0": ya,
        "x1": xb,
        "y1": yb,
        "inside": inside,
        "allowed": allowed,
    }


@numba.njit(cache=True)
def _split(si, fr, n_seg, t0, t1, x0, y0, x1, y1, out_seg, out):  # fmt: skip
    """Pieces of segments between consecutive split fractions; returns their count.

    ``out_seg`` gets each piece's segment, the rows of ``out`` its t0, t1, x0, y0, x1, y1, mid x
    and mid y (the floats of the numpy expressions this replaced, operation for operation).
    """
    # stable counting sort by segment, then a stable insertion sort of each segment's few
    # fractions (NaN last): the order of np.lexsort((fr, si))
    start = np.zeros(n_seg + 1, np.int64)
    for j in range(si.size):
        start[si[j] + 1] += 1
    for s in range(n_seg):
        start[s + 1] += start[s]
    fill = start[:-1].copy()
    f = np.empty(si.size)
    for j in range(si.size):
        s = si[j]
        f[fill[s]] = fr[j]
        fill[s] += 1
    for s in range(n_seg):
        for j in range(start[s] + 1, start[s + 1]):
            v = f[j]
            q = j
            while q > start[s] and (v < f[q - 1] or (f[q - 1] != f[q - 1] and v == v)):
                f[q] = f[q - 1]
                q -= 1
            f[q] = v
    m = 0
    for s in range(n_seg):
        for j in range(start[s], start[s + 1] - 1):
            fa, fb = f[j], f[j + 1]
            if not fb - fa > 1e-12:
                continue
            dur = t1[s] - t0[s]
            ta = t0[s] + fa * dur
            tb = t0[s] + fb * dur
            xa, ya = _at(t0[s], t1[s], x0[s], y0[s], x1[s], y1[s], ta)
            xb, yb = _at(t0[s], t1[s], x0[s], y0[s], x1[s], y1[s], tb)
            out_seg[m] = s
            out[0, m] = ta
            out[1, m] = tb
            out[2, m] = xa
            out[3, m] = ya
            out[4, m] = xb
            out[5, m] = yb
            out[6, m] = 0.5 * (xa + xb)
            out[7, m] = 0.5 * (ya + yb)
            m += 1
    return m


@numba.njit(cache=True, inline="always")
def _at(t0, t1, x0, y0, x1, y1, t):  # fmt: skip
    """:meth:`Segments.at` of one segment (np.clip keeps -0.0 and NaN as they are)."""
    dur = t1 - t0
    f = (t - t0) / dur if dur > 0 else 0.0
    if f < 0.0:
        f = 0.0
    elif f > 1.0:
        f = 1.0
    return x0 + f * (x1 - x0), y0 + f * (y1 - y0)


def border_crossings(pieces: dict[str, np.ndarray], n: int) -> np.ndarray:
    """First time each drone passes from outside to inside the territory (NaN if never)."""
    d, inside = pieces["drone"], pieces["inside"]
    prev_out = np.r_[False, (~inside[:-1]) & (d[1:] == d[:-1])]
    entry = inside & prev_out
    out = np.full(n, np.nan)
    idx, t = _first_per_drone(d, np.where(entry, pieces["t0"], np.inf), n)
    out[idx >= 0] = t[idx >= 0]
    return out


def sensor_cover(
    world: World, seg: Segments, altitude: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merged intervals during which each drone is in each sensor's cover (key = drone * M + m).

    Cover is ground range <= min(range, radar horizon for the drone's altitude), a circle of
    ``k`` times that radius in the plane (``k`` the scale factor at the sensor).
    """
    m = world.sensor_x.size
    if m == 0 or len(seg) == 0:
        return np.empty(0, np.int64), np.empty(0), np.empty(0)
    h = altitude[seg.drone][:, None]
    radius = world.sensor_k * np.minimum(
        world.sensor_range_m[None, :], radar_horizon_m(world.sensor_antenna_m, h)
    )
    enter, leave = circle_windows(
        seg.t0, seg.t1, seg.x0, seg.y0, seg.x1, seg.y1, world.sensor_x, world.sensor_y, radius
    )
    return merge_intervals(seg.drone[:, None] * m + np.arange(m), enter, leave)


def first_detections(
    world: World,
    drone: np.ndarray,
    sensor: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    rng: np.random.Generator,
    n: int,
) -> np.ndarray:
    """Time of the first successful scan of any sensor over cover windows (NaN if none).

    Each sensor scans at ``0, scan_s, 2 scan_s, ...`` (absolute time) while it is on; while a
    drone is covered, each scan detects it with ``p_detect``, independently. The number of scans
    up to the first success is geometric, so one draw per cover window gives the exact
    first-detection time.

    Parameters
    ----------
    drone, sensor : ndarray of int, shape (W,)
        Owner of each cover window.
    a, b : ndarray, shape (W,)
        Cover windows (s, absolute).
    """
    detect = np.full(n, np.nan)
    if drone.size == 0:
        return detect
    # Only while the sensor is on.
    a = np.maximum(a, world.sensor_active_s[sensor, 0])
    b = np.minimum(b, world.sensor_active_s[sensor, 1])
    scan = world.sensor_scan_s[sensor]
    p = world.sensor_p[sensor]
    k0 = np.ceil(a / scan - 1e-9)
    k1 = np.floor(b / scan + 1e-9)
    scans = np.where(b >= a, k1 - k0 + 1, 0)
    trials = np.full(drone.size, np.iinfo(np.int64).max)
    pos = p > 0
    trials[pos] = rng.geometric(p[pos])
    ok = (scans >= 1) & (trials <= scans)
    t = np.where(ok, (k0 + trials - 1) * scan, np.inf)
    best = np.full(n, np.inf)
    np.minimum.at(best, drone, t)
    detect[np.isfinite(best)] = best[np.isfinite(best)]
    return detect


def _detections(
    world: World, seg: Segments, altitude: np.ndarray, rng: np.random.Generator, n: int
) -> np.ndarray:
    keys, a, b = sensor_cover(world, seg, altitude)
    m = max(world.sensor_x.size, 1)
    drone, sensor = np.divmod(keys, m)
    return first_detections(world, drone, sensor, a, b, rng, n)


def battery_windows(
    world: World, pieces: dict[str, np.ndarray], altitude: np.ndarray, detect: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merged impact windows of every battery on every detected drone (key = drone * B + b).

    The envelope is the annulus between the weapon's minimum and maximum slant range at the
    drone's altitude, if the altitude is within the weapon's limits, over the pieces of track
    where a shot is allowed (territory and no-fire rules).
    """
    nb = len(world.batteries)
    empty = (np.empty(0, np.int64), np.empty(0), np.empty(0))
    if nb == 0:
        return empty
    d = pieces["drone"]
    sel = pieces["allowed"].copy()
    if detect is not None:
        sel &= np.isfinite(detect[d]) & (pieces["t1"] >= detect[d])
    if not sel.any():
        return empty
    p = {k: v[sel] for k, v in pieces.items()}
    weapons = [world.scenario.weapons[b.weapon] for b in world.batteries]
    rmax = np.array([w.max_range_km * 1000.0 for w in weapons])
    rmin = np.array([w.min_range_km * 1000.0 for w in weapons])
    amin = np.array([w.min_altitude_m for w in weapons])
    amax = np.array([w.max_altitude_m for w in weapons])
    h = altitude[p["drone"]][:, None]
    in_alt = (h >= amin) & (h <= amax) & (h < rmax)
    # ground ranges, then the plane's circles (scale factor at the battery)
    r_out = np.where(in_alt, np.sqrt(np.maximum(rmax**2 - h**2, 0.0)), np.nan) * world.bat_k
    r_in = np.where(rmin > h, np.sqrt(np.maximum(rmin**2 - h**2, 0.0)), np.nan) * world.bat_k
    xs = (p["x0"], p["y0"], p["x1"], p["y1"])
    seg, bat = circle_pairs(*xs, world.bat_x, world.bat_y, r_out)
    if seg.size == 0:
        return empty
    args = (p["t0"], p["t1"], *xs, world.bat_x, world.bat_y)
    e1, l1 = circle_windows_pairs(*args, r_out, seg, bat)
    e2, l2 = circle_windows_pairs(*args, r_in, seg, bat)
    has_in = np.isfinite(e2)
    a_end = np.where(has_in, np.minimum(l1, e2), l1)
    b_start = np.where(has_in, np.maximum(e1, l2), np.nan)
    b_end = np.where(has_in, l1, np.nan)
    key = p["drone"][seg] * nb + bat
    keys = np.concatenate([key, key])
    starts = np.concatenate([e1, b_start])
    ends = np.concatenate([a_end, b_end])
    good = np.isfinite(starts) & (ends > starts)
    return merge_intervals(keys[good], starts[good], ends[good])


def fly(
    world: World,
    rng: np.random.Generator,
    *,
    spread_z: list[np.ndarray | None] | None = None,
    ew_u: np.ndarray | None = None,
) -> tuple[Segments, dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict]:
    """Fly every drone: launch, route, electronic warfare, natural end, and track pieces.

    Returns the truncated segment table, per-drone arrays (``wave, launch_s, speed, alt,
    endurance, route_end, aim_x, aim_y``), the end time and ``END_*`` reason of each track,
    whether each drone was diverted, and the pieces of track split at the border and ROE lines.
    Draws: launch times, route spread, electronic warfare (in that order); ``spread_z`` and
    ``ew_u`` supply the last two instead (see :func:`_launch`, :func:`_electronic_warfare`).
    """
    seg, per = _launch(world, rng, spread_z)
    n = per["launch_s"].size
    seg, lost_s, diverted = _electronic_warfare(world, seg, per, rng, ew_u)
    exit_s = _box_exit(world, seg, n)
    horizon = world.scenario.duration_s
    fuel_out = per["launch_s"] + per["endurance"] / per["speed"]
    # An endurance equal to the route's length is a tie that reaching the aim point wins (see
    # END_LEAKED); "equal" to within TIE_M of flight, so that which geodesic algorithm rounds
    # last (Vincenty's here, Karney's in a user's tool: micrometres apart) cannot decide it.
    fuel_out = np.where(
        ~diverted & (per["route_end"] - fuel_out <= TIE_M / per["speed"]),
        np.maximum(fuel_out, per["route_end"]),
        fuel_out,
    )
    ends = np.column_stack(
        [
            np.where(diverted, np.inf, per["route_end"]),
            lost_s,
            fuel_out,
            exit_s,
            np.full(n, horizon),
        ]
    )
    reason = np.argmin(ends, axis=1)
    end = ends[np.arange(n), reason]
    seg = _truncate(seg, end)
    return seg, per, end, reason, diverted, _pieces(world, seg)


def breakpoints(seg: Segments, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-drone breakpoints of a segment table: ``offsets`` and flat ``bt, bx, by``."""
    counts = np.bincount(seg.drone, minlength=n) + 1
    offsets = np.r_[0, np.cumsum(counts)]
    last = np.r_[seg.drone[1:] != seg.drone[:-1], True]
    # Each segment's start, then the last segment's end, per drone.
    bt = np.empty(offsets[-1])
    bx = np.empty(offsets[-1])
    by = np.empty(offsets[-1])
    pos = np.arange(len(seg)) + seg.drone  # one extra slot per earlier drone
    bt[pos], bx[pos], by[pos] = seg.t0, seg.x0, seg.y0
    lp = pos[last] + 1
    bt[lp], bx[lp], by[lp] = seg.t1[last], seg.x1[last], seg.y1[last]
    return offsets, bt, bx, by


def build_tracks(world: World, rng: np.random.Generator) -> Tracks:
    """Fly every drone of one replication and compute its windows.

    Parameters
    ----------
    world : World
        The scenario in the plane.
    rng : numpy.random.Generator
        This replication's generator; draws are taken in a fixed order (launch times, route
        spread, electronic warfare, detection), so a seed fixes the tracks.
    """
    seg, per, end, reason, diverted, pieces = fly(world, rng)
    n = per["launch_s"].size
    border = border_crossings(pieces, n)
    detect = _detections(world, seg, per["alt"], rng, n)
    # A drone detected only after its track ended is not detected.
    detect = np.where(detect <= end, detect, np.nan)
    allowed = merge_intervals(
        pieces["drone"][pieces["allowed"]],
        pieces["t0"][pieces["allowed"]],
        pieces["t1"][pieces["allowed"]],
    )
    offsets, bt, bx, by = breakpoints(seg, n)
    ex, ey = bx[offsets[1:] - 1], by[offsets[1:] - 1]
    return Tracks(
        wave=per["wave"],
        launch_s=per["launch_s"],
        speed_mps=per["speed"],
        altitude_m=per["alt"],
        end_s=end,
        end_reason=reason,
        border_cross_s=border,
        inside_at_end=world.territory.contains(ex, ey),
        detect_s=detect,
        diverted=diverted,
        aim_x=per["aim_x"],
        aim_y=per["aim_y"],
        offsets=offsets,
        bt=bt,
        bx=bx,
        by=by,
        allowed=allowed,
        battery_windows=battery_windows(world, pieces, per["alt"], detect),
    )
