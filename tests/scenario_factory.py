"""Builders of small, validated scenarios for the engine and track tests.

Every builder returns a :class:`sim.scenario.Scenario` built with ``Scenario.model_validate`` from a
plain dict, with its own ``drone_types``, ``weapons`` and ``platforms``: the tests do not depend on
the built-in catalogue, only on the defended territory ``poland``.

The reference geometry is a raid from Belarus into Poland along latitude 52.2 N:

- launch at (52.2 N, 24.5 E), in Belarus; aim point at (52.2 N, 21.5 E), east of Warsaw;
- the Polish border (the Bug) is crossed near 23.39 E, about 75 km after launch;
- an airborne radar (9,000 m, 400 km range) over (52.2 N, 22.5 E) covers the whole route from the
  launch point on, so with ``p_detect`` 1 every drone is detected at t = 0 (the first scan);
- one battery at (52.2 N, 22.5 E), on the route, 60 km inside Poland, whose envelope (30 km by
  default) lies wholly over Poland, so every drone flies through it for about 60 km.
"""

from __future__ import annotations

import copy
from typing import Any

import pyproj

from sim.scenario import Scenario

__all__ = [
    "AIM",
    "AIRBASE",
    "BATTERY",
    "EW_CENTRE",
    "GEOD",
    "KMH",
    "LAUNCH",
    "RADAR",
    "REL",
    "along",
    "battery",
    "build",
    "ew_raid",
    "fighter_raid",
    "geodesic_m",
    "radar",
    "straight_raid",
    "weapon",
]

GEOD = pyproj.Geod(ellps="WGS84")
#: km/h -> m/s.
KMH = 1000.0 / 3600.0
#: Spec: distances and times within 0.5 % of the WGS84 geodesic values.
REL = 0.005

#: (lat, lon) of the reference points.
LAUNCH = (52.2, 24.5)
AIM = (52.2, 21.5)
RADAR = (52.2, 22.5)
BATTERY = (52.2, 22.5)
EW_CENTRE = (52.2, 24.05)
AIRBASE = (52.17, 21.66)  # near Minsk Mazowiecki, on the route's west end


def geodesic_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """WGS84 geodesic distance between (lat, lon) points, metres (independent of sim.geo)."""
    return float(GEOD.inv(a[1], a[0], b[1], b[0])[2])


def along(a: tuple[float, float], b: tuple[float, float], s_m: float) -> tuple[float, float]:
    """(lat, lon) of the point ``s_m`` metres from ``a`` along the geodesic towards ``b``."""
    az = GEOD.inv(a[1], a[0], b[1], b[0])[0]
    lon, lat, _ = GEOD.fwd(a[1], a[0], az, s_m)
    return float(lat), float(lon)


def _pt(p: tuple[float, float]) -> dict[str, float]:
    return {"lat": float(p[0]), "lon": float(p[1])}


def battery(
    name: str = "bat-1",
    *,
    at: tuple[float, float] = BATTERY,
    weapon: str = "sam",
    magazine: int = 1000,
    reload_min: float | None = None,
    channels: int = 1000,
    reaction_s: float = 20.0,
) -> dict[str, Any]:
    """A battery entry (dict) for ``defenders``."""
    out: dict[str, Any] = {
        "kind": "battery",
        "name": name,
        "weapon": weapon,
        **_pt(at),
        "magazine": magazine,
        "channels": channels,
        "reaction_s": reaction_s,
    }
    if reload_min is not None:
        out["reload_min"] = reload_min
    return out


def weapon(
    *,
    pk: float = 0.7,
    cost_usd: float = 100_000.0,
    min_range_km: float = 0.0,
    max_range_km: float = 30.0,
    min_altitude_m: float = 0.0,
    max_altitude_m: float = 10_000.0,
    speed_mps: float = 1000.0,
) -> dict[str, Any]:
    """A weapons entry (dict)."""
    return {
        "cost_usd": cost_usd,
        "pk": pk,
        "min_range_km": min_range_km,
        "max_range_km": max_range_km,
        "min_altitude_m": min_altitude_m,
        "max_altitude_m": max_altitude_m,
        "speed_mps": speed_mps,
    }


def build(
    *,
    name: str = "test",
    count: int | list[int] = 10,
    speed_kmh: float = 150.0,
    altitude_m: float = 500.0,
    drone_cost_usd: float = 20_000.0,
    endurance_km: float = 2_000.0,
    launch: tuple[float, float] = LAUNCH,
    route: list[tuple[float, float]] | None = None,
    launch_time_min: float | tuple[float, float] = 0.0,
    route_spread_km: float = 0.0,
    sensors: list[dict[str, Any]] | None = None,
    defenders: list[dict[str, Any]] | None = None,
    weapons: dict[str, dict[str, Any]] | None = None,
    platforms: dict[str, dict[str, Any]] | None = None,
    electronic_warfare: list[dict[str, Any]] | None = None,
    no_fire_zones: list[dict[str, Any]] | None = None,
    doctrine: dict[str, Any] | None = None,
    duration_h: float = 10.0,
    replications: int = 1,
    seed: int = 0,
    margin_km: float | None = None,
) -> Scenario:
    """A validated scenario from keyword parameters (one wave per entry of ``count``)."""
    route = [AIM] if route is None else route
    counts = [count] if isinstance(count, int) else list(count)
    window: float | list[float] = (
        list(launch_time_min) if isinstance(launch_time_min, tuple) else launch_time_min
    )
    waves = [
        {
            "name": f"w{i}",
            "type": "drone",
            "count": c,
            "launch": _pt(launch),
            "launch_time_min": window,
            "route": [_pt(p) for p in route],
            "route_spread_km": route_spread_km,
        }
        for i, c in enumerate(counts)
    ]
    if sensors is None:
        sensors = [radar()]
    geography: dict[str, Any] = {"border": "poland", "no_fire_zones": no_fire_zones or []}
    if margin_km is not None:
        geography["margin_km"] = margin_km
    doc = {
        "name": name,
        "seed": seed,
        "replications": replications,
        "duration_h": duration_h,
        "geography": geography,
        "drone_types": {
            "drone": {
                "speed_kmh": speed_kmh,
                "altitude_m": altitude_m,
                "cost_usd": drone_cost_usd,
                "endurance_km": endurance_km,
            }
        },
        "waves": waves,
        "electronic_warfare": electronic_warfare or [],
        "sensors": sensors,
        "defenders": defenders or [],
        "weapons": weapons or {},
        "platforms": platforms or {},
        "doctrine": doctrine or {},
    }
    return Scenario.model_validate(copy.deepcopy(doc))


def radar(
    name: str = "radar-1",
    *,
    at: tuple[float, float] = RADAR,
    range_km: float = 400.0,
    antenna_height_m: float = 30.0,
    altitude_m: float | None = 9000.0,
    scan_s: float = 10.0,
    p_detect: float = 1.0,
) -> dict[str, Any]:
    """A sensor entry (dict); by default airborne, covering the whole reference route."""
    out: dict[str, Any] = {
        "name": name,
        **_pt(at),
        "range_km": range_km,
        "antenna_height_m": antenna_height_m,
        "scan_s": scan_s,
        "p_detect": p_detect,
    }
    if altitude_m is not None:
        out["altitude_m"] = altitude_m
    return out


def straight_raid(
    *,
    count: int = 10,
    pk: float = 0.7,
    weapon_cost_usd: float = 100_000.0,
    magazine: int = 1000,
    reload_min: float | None = None,
    channels: int = 1000,
    reaction_s: float = 20.0,
    min_range_km: float = 0.0,
    max_range_km: float = 30.0,
    max_altitude_m: float = 10_000.0,
    weapon_speed_mps: float = 1000.0,
    battery_at: tuple[float, float] = BATTERY,
    shoot_look_shoot: bool = True,
    max_shots: int = 2,
    assessment_s: float = 10.0,
    engage_only_inside_border: bool = True,
    **kwargs: Any,
) -> Scenario:
    """Drones flying due west from Belarus over one battery on the route (see the module doc).

    Remaining keyword arguments go to :func:`build` (``speed_kmh``, ``launch_time_min``,
    ``no_fire_zones``, ``seed``, ...).
    """
    doctrine = {
        "shoot_look_shoot": shoot_look_shoot,
        "max_shots_per_target": max_shots,
        "assessment_s": assessment_s,
        "engage_only_inside_border": engage_only_inside_border,
        **kwargs.pop("doctrine", {}),
    }
    return build(
        count=count,
        defenders=[
            battery(
                at=battery_at,
                magazine=magazine,
                reload_min=reload_min,
                channels=channels,
                reaction_s=reaction_s,
            )
        ],
        weapons={
            "sam": weapon(
                pk=pk,
                cost_usd=weapon_cost_usd,
                min_range_km=min_range_km,
                max_range_km=max_range_km,
                max_altitude_m=max_altitude_m,
                speed_mps=weapon_speed_mps,
            )
        },
        doctrine=doctrine,
        **kwargs,
    )


def fighter_raid(
    *,
    count: int = 1,
    aircraft: int = 1,
    scramble_min: float = 15.0,
    turnaround_min: float = 60.0,
    cruise_kmh: float = 850.0,
    cost_per_flight_hour_usd: float = 27_000.0,
    endurance_h: float = 2.5,
    loadout: int = 2,
    pk: float = 0.8,
    missile_cost_usd: float = 450_000.0,
    min_range_km: float = 1.0,
    max_range_km: float = 20.0,
    missile_speed_mps: float = 900.0,
    base_at: tuple[float, float] = AIRBASE,
    shoot_look_shoot: bool = True,
    max_shots: int = 2,
    **kwargs: Any,
) -> Scenario:
    """The reference raid against one airbase of fighters (no battery)."""
    return build(
        count=count,
        defenders=[
            {
                "kind": "airbase",
                "name": "qra",
                "platform": "fighter",
                **_pt(base_at),
                "aircraft": aircraft,
                "scramble_min": scramble_min,
                "loadout": {"aam": loadout},
                "turnaround_min": turnaround_min,
            }
        ],
        weapons={
            "aam": weapon(
                pk=pk,
                cost_usd=missile_cost_usd,
                min_range_km=min_range_km,
                max_range_km=max_range_km,
                max_altitude_m=20_000.0,
                speed_mps=missile_speed_mps,
            )
        },
        platforms={
            "fighter": {
                "cruise_kmh": cruise_kmh,
                "cost_per_flight_hour_usd": cost_per_flight_hour_usd,
                "endurance_h": endurance_h,
            }
        },
        doctrine={"shoot_look_shoot": shoot_look_shoot, "max_shots_per_target": max_shots},
        **kwargs,
    )


def ew_raid(
    *,
    count: int = 100,
    lost_probability: float = 0.0,
    divert_probability: float = 0.0,
    divert_deg: tuple[float, float] = (20.0, 70.0),
    centre: tuple[float, float] = EW_CENTRE,
    radius_km: float = 20.0,
    **kwargs: Any,
) -> Scenario:
    """The reference raid through one jamming area in Belarus, no defenders.

    The default area (20 km around 52.2 N, 24.05 E) lies on the route, wholly in Belarus, and does
    not contain the launch point.
    """
    return build(
        count=count,
        electronic_warfare=[
            {
                "name": "jam",
                **_pt(centre),
                "radius_km": radius_km,
                "lost_probability": lost_probability,
                "divert_probability": divert_probability,
                "divert_deg": list(divert_deg),
            }
        ],
        **kwargs,
    )
