"""The result of a run: long-format tables and the summary, with documented columns and units."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sim.scenario import Scenario
    from sim.world import World

__all__ = [
    "DRONE_COLUMNS",
    "SHOT_COLUMNS",
    "SORTIE_COLUMNS",
    "RunResult",
    "TrackPaths",
    "drone_table",
    "shot_table",
    "sortie_table",
    "stop_in_words",
]


def stop_in_words(stop_reason: str) -> str:
    """What stopped a run, for a person: :attr:`RunResult.stop_reason` starts with a code for
    programs (``replications``, ``ci``, ``max_replications``), then the detail."""
    code, _, detail = stop_reason.partition(": ")
    if code == "ci":
        return f"the interval is narrow enough ({detail})"
    if code == "max_replications":
        return f"--max-replications reached ({detail.partition(' reached with ')[2] or detail})"
    if code == "replications":
        return "the replications asked for"
    return stop_reason


#: ``drones`` columns (one row per replication and drone); times in s from t = 0, NaN if never.
#: The spec's columns in the spec's order, then what this project adds.
DRONE_COLUMNS = (
    "replication", "drone", "wave", "type", "launch_s", "border_cross_s", "detected_s", "fate",
    "fate_s", "fate_lat", "fate_lon", "killed_by", "shots_at", "killed_by_weapon",
)  # fmt: skip
#: ``shots`` columns (one row per shot): fire time, defender, weapon, target, whether it killed,
#: its cost, and where it struck the drone (impact point, WGS84) at ``impact_s`` (added after
#: the spec's columns, which keep the spec's order).
SHOT_COLUMNS = (
    "replication", "time_s", "defender", "weapon", "drone", "hit", "cost_usd", "lat", "lon",
    "impact_s",
)  # fmt: skip
#: ``sorties`` columns (one row per fighter sortie): wheels-up to landing, charged per flight hour.
SORTIE_COLUMNS = (
    "replication", "defender", "aircraft", "wheels_up_s", "landing_s", "hours", "cost_usd",
)  # fmt: skip


#: The dtype pandas gives a column of Python strings (``str`` from pandas 3, object before).
_STRINGS = pd.Series(["a"]).dtype


def _names(names: Sequence[str], index: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``names[index]`` as pandas' string column, with "" where the index is -1 (none).

    Taken in Arrow from the few names: the same column as from an object array of Python
    strings, which pandas would convert one string at a time (a third of a second per million).
    """
    index = np.where(np.asarray(index, np.int64) < 0, len(names), index)
    if pd.api.types.is_object_dtype(_STRINGS):  # pandas without a default string dtype
        return pd.array(np.array([*names, ""], dtype=object)[index], dtype=object)
    return pd.array(pa.array([*names, ""], pa.string()).take(pa.array(index)), dtype=_STRINGS)


def drone_table(
    world: World, replication: np.ndarray, wave: np.ndarray, *, launch_s: np.ndarray,
    border_cross_s: np.ndarray, detected_s: np.ndarray, fate: np.ndarray, fate_s: np.ndarray,
    fate_x: np.ndarray, fate_y: np.ndarray, killed_by: np.ndarray, killed_weapon: np.ndarray,
    shots_at: np.ndarray,
) -> pd.DataFrame:  # fmt: skip
    """The ``drones`` table (:data:`DRONE_COLUMNS`) from flat arrays, one entry per replication
    and drone, drones in order within each replication. ``wave``, ``fate``, ``killed_by`` and
    ``killed_weapon`` are indices (-1: none); ``fate_x``/``fate_y`` are in the scenario's plane."""
    from sim.metrics import FATES

    n = world.n_drones
    flon, flat = world.projection.inverse(fate_x, fate_y)
    waves = np.asarray(wave, np.int64)
    return pd.DataFrame(
        {
            "replication": replication,
            "drone": np.tile(np.arange(n), len(replication) // max(n, 1)),
            "wave": _names([w.name for w in world.waves], waves),
            "type": _names([w.type for w in world.waves], waves),
            "launch_s": launch_s,
            "border_cross_s": border_cross_s,
            "detected_s": detected_s,
            "fate": pd.Categorical.from_codes(np.asarray(fate).astype(int), categories=FATES),
            "fate_s": fate_s,
            "fate_lat": flat,
            "fate_lon": flon,
            "killed_by": _names(world.defender_names, killed_by),
            "killed_by_weapon": _names(world.weapon_names, killed_weapon),
            "shots_at": shots_at,
        },
        columns=list(DRONE_COLUMNS),
    )


def shot_table(
    world: World, replication: np.ndarray, *, time_s: np.ndarray, impact_s: np.ndarray,
    defender: np.ndarray, weapon: np.ndarray, drone: np.ndarray, hit: np.ndarray,
    cost_usd: np.ndarray, x: np.ndarray, y: np.ndarray,
) -> pd.DataFrame:  # fmt: skip
    """The ``shots`` table (:data:`SHOT_COLUMNS`); ``defender``/``weapon`` are indices and
    ``x``/``y`` the impact point in the scenario's plane."""
    lon, lat = world.projection.inverse(x, y)
    return pd.DataFrame(
        {
            "replication": replication,
            "time_s": time_s,
            "impact_s": impact_s,
            "defender": _names(world.defender_names, defender),
            "weapon": _names(world.weapon_names, weapon),
            "drone": drone,
            "hit": hit,
            "cost_usd": cost_usd,
            "lat": lat,
            "lon": lon,
        },
        columns=list(SHOT_COLUMNS),
    )


def sortie_table(
    world: World, replication: np.ndarray, *, defender: np.ndarray, aircraft: np.ndarray,
    wheels_up_s: np.ndarray, landing_s: np.ndarray, hours: np.ndarray, cost_usd: np.ndarray,
) -> pd.DataFrame:  # fmt: skip
    """The ``sorties`` table (:data:`SORTIE_COLUMNS`); ``defender`` is an index."""
    return pd.DataFrame(
        {
            "replication": replication,
            "defender": _names(world.defender_names, defender),
            "aircraft": aircraft,
            "wheels_up_s": wheels_up_s,
            "landing_s": landing_s,
            "hours": hours,
            "cost_usd": cost_usd,
        },
        columns=list(SORTIE_COLUMNS),
    )


@dataclass(frozen=True)
class TrackPaths:
    """The flight paths of one replication's drones, as the engine flew them: breakpoints
    ``bt`` (s), ``bx``, ``by`` (m, the scenario's plane), drone ``i``'s in
    ``offsets[i]:offsets[i + 1]``, and each drone's wave index."""

    wave: np.ndarray
    offsets: np.ndarray
    bt: np.ndarray
    bx: np.ndarray
    by: np.ndarray

    @property
    def n(self) -> int:
        """Number of drones."""
        return int(self.wave.size)


@dataclass
class RunResult:
    """What a run produced.

    Attributes
    ----------
    scenario : Scenario
        The validated scenario that ran.
    summary : dict
        The content of ``summary.json`` (less ``package_version``, which the writer adds): every
        metric's mean and 95 % interval over replications.
    drones : pandas.DataFrame
        One row per replication and drone, columns :data:`DRONE_COLUMNS`. ``fate`` is one of
        destroyed, leaked, crashed, exited, airborne; ``killed_by`` the defender name (empty if
        not destroyed); ``fate_lat``/``fate_lon`` where it was destroyed or its track ended.
    shots : pandas.DataFrame
        One row per shot, columns :data:`SHOT_COLUMNS`; ``cost_usd`` is charged hit or miss.
    sorties : pandas.DataFrame
        One row per fighter sortie, columns :data:`SORTIE_COLUMNS`.
    replication_seeds : list of int
        Discrete-event engine: replication ``i`` used
        ``numpy.random.SeedSequence(seed, spawn_key=(i,))``; this is the first 64-bit word of its
        state, for the record. Empty for the vectorised engine, whose replications draw from
        streams keyed by the seed and their index (:mod:`sim.kernel`).
    """

    scenario: Scenario
    seed: int
    engine: str
    summary: dict[str, Any]
    drones: pd.DataFrame
    shots: pd.DataFrame
    sorties: pd.DataFrame
    replication_seeds: list[int]
    events: int = 0
    wall_s: float = 0.0
    stop_reason: str = "replications"
    #: One row per replication: ``replication``, ``rng_seed`` (discrete-event engine) or
    #: ``cluster`` (vectorised engine), and every per-replication metric of
    #: :func:`sim.metrics.replication_metrics`.
    per_replication: pd.DataFrame | None = field(default=None, repr=False)
    world: World | None = field(default=None, repr=False)
    #: Flight paths of the kept replications, when the engine cannot rebuild them from the
    #: replication's seed (the vectorised engine's drones fly pooled templates).
    track_paths: dict[int, TrackPaths] | None = field(default=None, repr=False)

    @property
    def replications(self) -> int:
        """Number of replications run."""
        return int(self.summary["replications"])

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per metric: ``metric, mean, ci95_low, ci95_high``."""
        from sim.metrics import metrics_frame

        return metrics_frame(self.summary)

    def to_dir(self, path: str | Path, *, fmt: str = "both", map_replication: int = 0) -> Path:
        """Write the run folder: summary, tables, resolved scenario, ``tracks.geojson``,
        ``map.png``, ``timeline.png`` and ``report.html`` (see
        :func:`sim.outputs.write_run_folder`); the pictures show replication ``map_replication``.
        """
        from sim.outputs import write_run_folder

        return write_run_folder(self, Path(path), fmt=fmt, map_replication=map_replication)

    def plot_map(self, replication: int = 0) -> Figure:
        """Replication ``replication`` on the map (:func:`sim.plots.plot_map`): tracks by fate,
        kills by weapon, sensor cover, battery envelopes, airbases, no-fire and EW areas."""
        from sim.plots import plot_map

        return plot_map(self, replication)

    def plot_timeline(self, replication: int = 0) -> Figure:
        """Replication ``replication`` over time (:func:`sim.plots.plot_timeline`): drones aloft
        and destroyed, shots by weapon, and the cumulative cost race."""
        from sim.plots import plot_timeline

        return plot_timeline(self, replication)

    def tracks_geojson(self, replication: int = 0) -> dict[str, Any]:
        """Replication ``replication``'s tracks, kills and border crossings as a GeoJSON
        FeatureCollection (:func:`sim.geojson_out.tracks_geojson`)."""
        from sim.geojson_out import tracks_geojson

        return tracks_geojson(self, replication)

    def summary_json(self) -> str:
        """``summary.json`` as text."""
        return json.dumps(self.summary, indent=2, allow_nan=False)


def empty_tables(world: World) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The drone, shot and sortie tables of no replication (a run asked for no tables)."""
    i, f = np.empty(0, np.int64), np.empty(0)
    drones = drone_table(
        world, i, i, launch_s=f, border_cross_s=f, detected_s=f, fate=i, fate_s=f, fate_x=f,
        fate_y=f, killed_by=i, killed_weapon=i, shots_at=i,
    )  # fmt: skip
    shots = shot_table(
        world, i, time_s=f, impact_s=f, defender=i, weapon=i, drone=i, hit=np.empty(0, bool),
        cost_usd=f, x=f, y=f,
    )  # fmt: skip
    sorties = sortie_table(
        world, i, defender=i, aircraft=i, wheels_up_s=f, landing_s=f, hours=f, cost_usd=f
    )
    return drones, shots, sorties
