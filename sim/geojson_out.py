"""One replication's flight paths, recomputed from the run, and ``tracks.geojson``.

A run keeps per-drone tables, not flight paths. The paths of replication ``k`` are rebuilt exactly:
:func:`sim.tracks.build_tracks` with the replication's own generator draws the same launch times,
spread routes, electronic-warfare effects and detections as the run did (the engine draws only after
the tracks); the vectorised engine, whose drones fly pooled templates, keeps the paths of the
replications in its tables instead (``RunResult.track_paths``). Each path is cut at the drone's
``fate_s`` from ``result.drones``, so a destroyed drone's path ends at its kill point.
:func:`replication_paths` is shared by the map (:mod:`sim.plots`) and the GeoJSON writer here.

``tracks.geojson`` (RFC 7946: WGS84 lon/lat, no ``crs`` member) is a FeatureCollection of

- one ``LineString`` per drone (``kind: "track"``), properties ``replication, drone, wave, type,
  fate, fate_s, killed_by, weapon, cost_usd`` (the drone's cost), ``launch_s, border_cross_s,
  detected_s``;
- one ``Point`` per kill (``kind: "kill"``) where the killing shot struck, properties ``drone,
  time_s`` (impact), ``fired_s, weapon, defender, cost_usd`` (that shot's cost);
- one ``Point`` per border crossing (``kind: "border_crossing"``), properties ``drone, time_s``
  (weapon, defender and cost ``null``).

Times are seconds from t = 0; NaN is written as ``null``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.errors import IncursionError

if TYPE_CHECKING:
    from sim.results import RunResult
    from sim.tracks import Tracks
    from sim.world import World

__all__ = [
    "ReplicationPaths",
    "check_replication",
    "replication_paths",
    "tracks_geojson",
    "world_of",
    "write_tracks_geojson",
]

#: Path pieces longer than this are divided before unprojecting, so that a LineString drawn
#: straight in lon/lat follows the straight line the drone flew in the plane (error ~1 m).
_DENSIFY_M = 20_000.0
#: Decimal places of written coordinates (1e-6 degree is about 0.1 m).
_COORD_DECIMALS = 6


@dataclass(frozen=True)
class ReplicationPaths:
    """What one replication did, with every drone's path.

    Attributes
    ----------
    replication : int
    world : World
        The scenario in the plane (positions in metres).
    tracks : Tracks
        The replication's tracks as the engine received them (before any kill).
    drones, shots, sorties : pandas.DataFrame
        The rows of ``result.drones`` (sorted by drone), ``result.shots`` and ``result.sorties``
        of this replication.
    paths : list of (t, x, y) tuples of ndarray
        Per drone, the breakpoints of its path in seconds and projected metres, from launch to
        ``fate_s`` (the last point is where it was destroyed or its flight ended).
    drone_cost_usd : ndarray, shape (N,)
        Each drone's cost.
    """

    replication: int
    world: World
    tracks: Tracks
    drones: pd.DataFrame
    shots: pd.DataFrame
    sorties: pd.DataFrame
    paths: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    drone_cost_usd: np.ndarray

    def crossings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Border crossings: ``drone, time_s, x, y`` (metres) of every drone that crossed."""
        t = self.drones["border_cross_s"].to_numpy(float)
        drone = np.flatnonzero(np.isfinite(t))
        x = np.empty(drone.size)
        y = np.empty(drone.size)
        for j, d in enumerate(drone):
            pt, px, py = self.paths[d]
            x[j] = np.interp(t[d], pt, px)
            y[j] = np.interp(t[d], pt, py)
        return drone, t[drone], x, y


def world_of(result: RunResult) -> World:
    """The run's :class:`~sim.world.World` (rebuilt from the scenario if the result has none)."""
    if result.world is not None:
        return result.world
    from sim.world import build_world

    return build_world(result.scenario)


def check_replication(result: RunResult, replication: int) -> int:
    """``replication`` as an int, if the run's drone table holds it; else IncursionError."""
    try:
        k = int(replication)
    except (TypeError, ValueError):
        raise IncursionError(f"replication must be an integer, got {replication!r}") from None
    if k != replication:
        raise IncursionError(f"replication must be an integer, got {replication!r}")
    kept = int(result.drones["replication"].max()) + 1 if len(result.drones) else 0
    if not 0 <= k < kept:
        what = f"0..{kept - 1}" if kept else "none (the run kept no drone table)"
        raise IncursionError(
            f"replication {k} is not in this run's drone table (replications available: {what}); "
            "choose another --map-replication"
        )
    return k


def _cut(t: np.ndarray, x: np.ndarray, y: np.ndarray, end: float) -> tuple[np.ndarray, ...]:
    """The path up to time ``end``, ending with the interpolated point at ``end``."""
    if not math.isfinite(end) or end >= t[-1]:
        return t, x, y
    keep = t < end
    keep[0] = True
    ex, ey = float(np.interp(end, t, x)), float(np.interp(end, t, y))
    return np.r_[t[keep], end], np.r_[x[keep], ex], np.r_[y[keep], ey]


def replication_paths(result: RunResult, replication: int = 0) -> ReplicationPaths:
    """Rebuild replication ``replication``'s tracks and cut each at the drone's fate.

    Parameters
    ----------
    result : RunResult
    replication : int
        Index of a replication kept in ``result.drones``.

    Returns
    -------
    ReplicationPaths

    Raises
    ------
    IncursionError
        If the replication is not in the run's drone table.
    """
    from sim.runner import replication_rng
    from sim.tracks import build_tracks

    k = check_replication(result, replication)
    world = world_of(result)
    if result.track_paths is not None:
        tracks = result.track_paths[k]
    else:
        tracks = build_tracks(world, replication_rng(result.seed, k))
    drones = result.drones[result.drones["replication"] == k].sort_values("drone")
    drones = drones.reset_index(drop=True)
    if len(drones) != tracks.n:
        raise IncursionError(
            f"replication {k}: the drone table has {len(drones)} drones, the scenario "
            f"{tracks.n}; the result does not belong to this scenario"
        )
    fate_s = drones["fate_s"].to_numpy(float)
    paths = []
    for i in range(tracks.n):
        s, e = tracks.offsets[i], tracks.offsets[i + 1]
        paths.append(_cut(tracks.bt[s:e], tracks.bx[s:e], tracks.by[s:e], fate_s[i]))
    cost = np.array([world.waves[w].cost_usd for w in tracks.wave], float)
    shots = result.shots[result.shots["replication"] == k].reset_index(drop=True)
    sorties = result.sorties[result.sorties["replication"] == k].reset_index(drop=True)
    return ReplicationPaths(k, world, tracks, drones, shots, sorties, paths, cost)


# ------------------------------------------------------------------------------ GeoJSON


def _value(v: Any) -> Any:
    """A JSON-safe property value: numpy scalars unwrapped, NaN and empty names as null."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if v is None or (isinstance(v, str) and v == ""):
        return None
    return v


def _densify(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dx, dy = np.diff(x), np.diff(y)
    n = np.maximum(1, np.ceil(np.hypot(dx, dy) / _DENSIFY_M).astype(int))
    if (n == 1).all():
        return x, y
    f = np.concatenate([np.arange(k) / k for k in n])
    i = np.repeat(np.arange(n.size), n)
    return np.r_[x[i] + f * dx[i], x[-1]], np.r_[y[i] + f * dy[i], y[-1]]


def _position(lon: float, lat: float) -> list[float]:
    return [round(float(lon), _COORD_DECIMALS), round(float(lat), _COORD_DECIMALS)]


def tracks_geojson(result: RunResult, replication: int = 0) -> dict[str, Any]:
    """Replication ``replication`` as a GeoJSON FeatureCollection (see the module docstring)."""
    view = replication_paths(result, replication)
    proj = view.world.projection
    k = view.replication
    features: list[dict[str, Any]] = []
    for row, (_t, x, y) in zip(view.drones.itertuples(index=False), view.paths, strict=True):
        dx, dy = _densify(x, y)
        lon, lat = proj.inverse(dx, dy)
        coords = [_position(a, b) for a, b in zip(lon, lat, strict=True)]
        if len(coords) < 2:
            coords.append(list(coords[0]))
        d = int(row.drone)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {
                    "kind": "track",
                    "replication": k,
                    "drone": d,
                    "wave": _value(row.wave),
                    "type": _value(row.type),
                    "fate": str(row.fate),
                    "fate_s": _value(float(row.fate_s)),
                    "killed_by": _value(row.killed_by),
                    "weapon": _value(row.killed_by_weapon),
                    "cost_usd": float(view.drone_cost_usd[d]),
                    "launch_s": _value(float(row.launch_s)),
                    "border_cross_s": _value(float(row.border_cross_s)),
                    "detected_s": _value(float(row.detected_s)),
                },
            }
        )
    for shot in view.shots[view.shots["hit"].astype(bool)].itertuples(index=False):
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": _position(shot.lon, shot.lat)},
                "properties": {
                    "kind": "kill",
                    "replication": k,
                    "drone": int(shot.drone),
                    "time_s": _value(float(shot.impact_s)),
                    "fired_s": _value(float(shot.time_s)),
                    "weapon": _value(shot.weapon),
                    "defender": _value(shot.defender),
                    "cost_usd": float(shot.cost_usd),
                },
            }
        )
    drone, t, x, y = view.crossings()
    lon, lat = proj.inverse(x, y)
    for d, ts, a, b in zip(drone, t, np.atleast_1d(lon), np.atleast_1d(lat), strict=True):
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": _position(a, b)},
                "properties": {
                    "kind": "border_crossing",
                    "replication": k,
                    "drone": int(d),
                    "time_s": float(ts),
                    "weapon": None,
                    "defender": None,
                    "cost_usd": None,
                },
            }
        )
    return {
        "type": "FeatureCollection",
        "name": f"{result.scenario.name} replication {k}",
        "features": features,
    }


def write_tracks_geojson(result: RunResult, path: Path, replication: int = 0) -> Path:
    """Write :func:`tracks_geojson` to ``path`` (UTF-8, compact) and return the path."""
    doc = tracks_geojson(result, replication)
    Path(path).write_text(
        json.dumps(doc, allow_nan=False, separators=(",", ":"), ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return Path(path)
