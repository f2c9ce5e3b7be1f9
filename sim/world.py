"""A scenario turned into arrays in a metric plane, computed once and shared by every replication.

The :class:`World` holds the projection fitted to the scenario area, the projected territory and
no-fire areas, and structure-of-arrays views of waves, sensors, electronic-warfare areas and
defenders in SI units (metres, seconds, metres per second). Nothing here is random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from sim.errors import GeographyError
from sim.geo import Projection, Territory, load_polygon_file, load_territory, point_test
from sim.scenario import Airbase, Battery, Scenario

__all__ = ["World", "build_world"]

KMH = 1000.0 / 3600.0  # km/h -> m/s
#: Largest relative scale error of the projection allowed anywhere in the scenario area.
MAX_SCALE_ERROR = 0.005
#: Rules of engagement are applied with this guard distance: an impact must be at least this far
#: inside the territory and outside every no-fire zone, so that no rounding (projection, the
#: border's densified edges) can put a shot on the wrong side of a line.
ROE_GUARD_M = 5.0


@dataclass(frozen=True)
class WaveArrays:
    """One wave's geometry and drone parameters (SI units)."""

    name: str
    type: str
    count: int
    launch_xy: np.ndarray  # (2,)
    route_xy: np.ndarray  # (K, 2) waypoints after launch; the last is the aim point
    window_s: tuple[float, float]
    spread_m: float
    speed_mps: float
    altitude_m: float
    endurance_m: float
    cost_usd: float
    damage_usd: float


@dataclass(frozen=True)
class Region:
    """A polygonal area in the plane: boundary edges and a vectorised point test."""

    edges: np.ndarray  # (E, 4) x0, y0, x1, y1
    polygon: shapely.Geometry  # projected, prepared

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether each point lies inside (boundary counts as inside)."""
        return point_test(
            self, self.edges, x, y, lambda a, b: shapely.intersects_xy(self.polygon, a, b)
        )


@dataclass(frozen=True)
class World:
    """Everything about a scenario that does not change between replications.

    Defenders are split by kind, each kind a structure of arrays indexed in scenario order of
    that kind; ``defender_names`` lists batteries first, then airbases, which is the defender index
    used in outcomes.
    """

    scenario: Scenario
    projection: Projection
    territory: Territory
    box: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax of the scenario area (m)
    waves: tuple[WaveArrays, ...]
    # sensors (M,)
    sensor_x: np.ndarray
    sensor_y: np.ndarray
    sensor_range_m: np.ndarray
    sensor_antenna_m: np.ndarray
    sensor_scan_s: np.ndarray
    sensor_p: np.ndarray
    sensor_active_s: np.ndarray  # (M, 2) on from, off at
    # electronic-warfare areas (A,)
    ew_x: np.ndarray
    ew_y: np.ndarray
    ew_r: np.ndarray
    ew_p_lost: np.ndarray
    ew_p_divert: np.ndarray
    ew_deg: np.ndarray  # (A, 2)
    # no-fire areas
    nofire_x: np.ndarray
    nofire_y: np.ndarray
    nofire_r: np.ndarray
    nofire_polygons: tuple[Region, ...]
    # the same areas with the ROE guard distance: where shots may strike
    roe_inner: Region | None  # the territory shrunk by ROE_GUARD_M (None: shots anywhere)
    roe_nofire_r: np.ndarray
    roe_nofire_polygons: tuple[Region, ...]
    # batteries (B,)
    batteries: tuple[Battery, ...]
    bat_x: np.ndarray
    bat_y: np.ndarray
    # airbases (F,)
    airbases: tuple[Airbase, ...]
    base_x: np.ndarray
    base_y: np.ndarray
    weapon_names: tuple[str, ...]
    defender_names: tuple[str, ...]
    #: ``roe_inner`` lies in the territory's interior (exact predicate): a point not strictly
    #: inside the territory is not in it either, so its test can be skipped for such points.
    roe_inner_within: bool = False

    @property
    def n_drones(self) -> int:
        """Drones launched per replication."""
        return sum(w.count for w in self.waves)


def _region(polygon: shapely.Geometry) -> Region:
    """A projected polygon as edges plus a prepared point test."""
    rings = shapely.get_rings(shapely.get_parts(polygon))
    edges = []
    for ring in rings:
        xy = shapely.get_coordinates(ring)
        edges.append(np.hstack([xy[:-1], xy[1:]]))
    shapely.prepare(polygon)
    return Region(edges=np.vstack(edges) if edges else np.empty((0, 4)), polygon=polygon)


def _bounds(scenario: Scenario, territory_bounds: tuple[float, float, float, float]) -> np.ndarray:
    pts: list[tuple[float, float]] = [
        (territory_bounds[0], territory_bounds[1]),
        (territory_bounds[2], territory_bounds[3]),
    ]
    for w in scenario.waves:
        pts.append((w.launch.lon, w.launch.lat))
        pts.extend((p.lon, p.lat) for p in w.route)
    for item in (*scenario.sensors, *scenario.defenders, *scenario.electronic_warfare):
        pts.append((item.lon, item.lat))
    for z in scenario.geography.no_fire_zones:
        if z.lat is not None and z.lon is not None:
            pts.append((z.lon, z.lat))
    return np.array(pts, float)


def fit_projection(
    scenario: Scenario, territory_ll: shapely.Geometry
) -> tuple[Projection, np.ndarray]:
    """The projection fitted to the scenario area, and every position of the scenario (lon, lat).

    Raises
    ------
    GeographyError
        If no single conic projection keeps the scale error within ``MAX_SCALE_ERROR`` (the area
        spans too much latitude, or reaches the equator or a pole).
    """
    tb = shapely.bounds(territory_ll)
    pts = _bounds(scenario, (tb[0], tb[1], tb[2], tb[3]))
    lon_min, lat_min = pts.min(axis=0)
    lon_max, lat_max = pts.max(axis=0)
    try:
        projection = Projection.for_bounds(lon_min, lat_min, lon_max, lat_max)
    except GeographyError as exc:
        raise GeographyError(
            f"the scenario's positions cannot share one projection: {exc}"
        ) from None
    # Distances and times must stay within 0.5 % of geodesics; a conic fitted to the area does so
    # up to a latitude span of about 15 degrees.
    err = projection.max_scale_error(lon_min, lat_min, lon_max, lat_max)
    if err > MAX_SCALE_ERROR:
        raise GeographyError(
            f"the scenario area (lon {lon_min:.2f}..{lon_max:.2f}, "
            f"lat {lat_min:.2f}..{lat_max:.2f})"
            f" is too large for one projection: scale error {err:.2%} exceeds "
            f"{MAX_SCALE_ERROR:.1%}; keep every position within about 15 degrees of latitude"
        )
    return projection, pts


def build_world(scenario: Scenario) -> World:
    """Project a validated scenario into the plane and lay it out as arrays.

    Raises
    ------
    GeographyError
        If a border or no-fire polygon file cannot be used.
    """
    territory_ll = load_territory(scenario.geography.border)
    projection, pts = fit_projection(scenario, territory_ll)
    territory = Territory.build(territory_ll, projection)

    px, py = projection.forward(pts[:, 0], pts[:, 1])
    margin = scenario.geography.margin_km * 1000.0
    tx0, ty0, tx1, ty1 = shapely.bounds(territory.polygon)
    box = (
        float(min(px.min(), tx0) - margin),
        float(min(py.min(), ty0) - margin),
        float(max(px.max(), tx1) + margin),
        float(max(py.max(), ty1) + margin),
    )

    def xy(lon: float, lat: float) -> np.ndarray:
        x, y = projection.forward(np.array([lon]), np.array([lat]))
        return np.array([x[0], y[0]])

    waves = []
    for w in scenario.waves:
        dtype = scenario.drone_types[w.type]
        rx, ry = projection.forward(
            np.array([p.lon for p in w.route]), np.array([p.lat for p in w.route])
        )
        waves.append(
            WaveArrays(
                name=w.name,
                type=w.type,
                count=w.count,
                launch_xy=xy(w.launch.lon, w.launch.lat),
                route_xy=np.column_stack([rx, ry]),
                window_s=w.launch_window_s,
                spread_m=w.route_spread_km * 1000.0,
                speed_mps=(w.speed_kmh if w.speed_kmh is not None else dtype.speed_kmh) * KMH,
                altitude_m=w.altitude_m if w.altitude_m is not None else dtype.altitude_m,
                endurance_m=dtype.endurance_km * 1000.0,
                cost_usd=dtype.cost_usd,
                damage_usd=dtype.damage_usd,
            )
        )

    def arr(items: list, attr: str) -> np.ndarray:
        return np.array([getattr(i, attr) for i in items], float)

    sensors = list(scenario.sensors)
    sx, sy = projection.forward(arr(sensors, "lon"), arr(sensors, "lat"))
    ews = list(scenario.electronic_warfare)
    ex, ey = projection.forward(arr(ews, "lon"), arr(ews, "lat"))
    circles = [z for z in scenario.geography.no_fire_zones if z.polygon is None]
    nx, ny = projection.forward(arr(circles, "lon"), arr(circles, "lat"))
    polys = []
    guarded = []
    for z in scenario.geography.no_fire_zones:
        if z.polygon is not None:
            t = Territory.build(load_polygon_file(z.polygon), projection)
            polys.append(Region(edges=t.edges, polygon=t.polygon))
            guarded.append(_region(shapely.buffer(t.polygon, ROE_GUARD_M, join_style="mitre")))
    inner = None
    if scenario.doctrine.engage_only_inside_border:
        inner = _region(shapely.buffer(territory.polygon, -ROE_GUARD_M, join_style="mitre"))
    batteries = tuple(d for d in scenario.defenders if isinstance(d, Battery))
    airbases = tuple(d for d in scenario.defenders if isinstance(d, Airbase))
    bx, by = projection.forward(arr(list(batteries), "lon"), arr(list(batteries), "lat"))
    fx, fy = projection.forward(arr(list(airbases), "lon"), arr(list(airbases), "lat"))
    return World(
        scenario=scenario,
        projection=projection,
        territory=territory,
        box=box,
        waves=tuple(waves),
        sensor_x=np.asarray(sx, float),
        sensor_y=np.asarray(sy, float),
        sensor_range_m=arr(sensors, "range_km") * 1000.0,
        sensor_antenna_m=np.array([s.antenna_m for s in sensors], float),
        sensor_scan_s=arr(sensors, "scan_s"),
        sensor_p=arr(sensors, "p_detect"),
        sensor_active_s=np.array(
            [
                (0.0, np.inf)
                if s.active_h is None
                else (s.active_h[0] * 3600, s.active_h[1] * 3600)
                for s in sensors
            ],
            float,
        ).reshape(-1, 2),
        ew_x=np.asarray(ex, float),
        ew_y=np.asarray(ey, float),
        ew_r=arr(ews, "radius_km") * 1000.0,
        ew_p_lost=arr(ews, "lost_probability"),
        ew_p_divert=arr(ews, "divert_probability"),
        ew_deg=np.array([e.divert_deg for e in ews], float).reshape(-1, 2),
        nofire_x=np.asarray(nx, float),
        nofire_y=np.asarray(ny, float),
        nofire_r=arr(circles, "radius_km") * 1000.0,
        nofire_polygons=tuple(polys),
        roe_inner=inner,
        roe_nofire_r=arr(circles, "radius_km") * 1000.0 + ROE_GUARD_M,
        roe_nofire_polygons=tuple(guarded),
        batteries=batteries,
        bat_x=np.asarray(bx, float),
        bat_y=np.asarray(by, float),
        airbases=airbases,
        base_x=np.asarray(fx, float),
        base_y=np.asarray(fy, float),
        weapon_names=tuple(sorted(scenario.weapons)),
        defender_names=tuple(d.name for d in (*batteries, *airbases)),
        roe_inner_within=inner is not None
        and bool(shapely.contains_properly(territory.polygon, inner.polygon)),
    )
