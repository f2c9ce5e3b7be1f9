"""A scenario turned into arrays in a metric plane, computed once and shared by every replication.

The :class:`World` holds the projection fitted to the scenario area, the projected territory and
no-fire areas, and structure-of-arrays views of waves, sensors, electronic-warfare areas and
defenders in SI units (metres, seconds, metres per second). Nothing here is random.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from sim.errors import GeographyError
from sim.geo import (
    Projection,
    Territory,
    geodesic_distance_m,
    load_polygon_file,
    load_territory,
    point_test,
    project_geometry,
)
from sim.scenario import Airbase, Battery, Scenario

__all__ = ["World", "area_box", "build_world", "no_fire_zone_problems"]

KMH = 1000.0 / 3600.0  # km/h -> m/s
#: Largest relative scale error of the projection allowed anywhere in the scenario area.
MAX_SCALE_ERROR = 0.005
#: Largest relative change of the projection's scale along one straight piece of track. A drone
#: moves along a piece at a constant speed in the plane, so where the scale changes along it,
#: positions and times within it drift from the geodesic ones by up to that change (the piece's
#: ends are exact); a leg over which the scale changes more is flown as geodesic sub-legs.
MAX_LEG_SCALE_SPREAD = 1e-3
#: Metres per degree of latitude, the least anywhere (at the equator): widening by a margin with
#: it covers at least the margin.
_M_PER_DEG_LAT_MIN = 110_574.0
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
    leg_pieces: np.ndarray  # (K,) geodesic sub-legs each leg is flown as (1: the leg itself)
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
    #: The projection's scale factor at each sensor: a ground range r is a circle of radius
    #: ``k r`` in the plane (see the note on circles below).
    sensor_k: np.ndarray
    # electronic-warfare areas (A,)
    ew_x: np.ndarray
    ew_y: np.ndarray
    ew_r: np.ndarray  # in the plane (radius_km * 1000 * k at the centre)
    ew_p_lost: np.ndarray
    ew_p_divert: np.ndarray
    ew_deg: np.ndarray  # (A, 2)
    # no-fire areas
    nofire_x: np.ndarray
    nofire_y: np.ndarray
    nofire_r: np.ndarray  # in the plane (radius_km * 1000 * k at the centre)
    nofire_polygons: tuple[Region, ...]
    # the same areas with the ROE guard distance: where shots may strike
    roe_inner: Region | None  # the territory shrunk by ROE_GUARD_M (None: shots anywhere)
    roe_nofire_r: np.ndarray
    roe_nofire_polygons: tuple[Region, ...]
    # batteries (B,)
    batteries: tuple[Battery, ...]
    bat_x: np.ndarray
    bat_y: np.ndarray
    bat_k: np.ndarray  # the projection's scale factor at each battery (see sensor_k)
    #: A point defence's guarded radius in the plane (``defended_radius_km`` * 1000 * k; inf
    #: for a battery that engages whatever it can reach).
    bat_defended_r: np.ndarray
    # airbases (F,)
    airbases: tuple[Airbase, ...]
    base_x: np.ndarray
    base_y: np.ndarray
    weapon_names: tuple[str, ...]
    defender_names: tuple[str, ...]
    #: The projection's scale against latitude over the scenario area: how many geodesic
    #: sub-legs a straight flight needs (:meth:`ScaleTable.pieces`).
    scale_table: ScaleTable
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
    # No-fire zones, circles and polygons alike, do not widen the area: they only forbid shots
    # in it, and one placed far away (latitude and longitude swapped) is refused instead
    # (:func:`no_fire_zone_problems`).
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
    # up to a latitude span of about 15 degrees. Drones fly anywhere in the scenario area, which
    # is the positions' box widened by the margin, so the bound must hold there.
    lat_lo, lat_hi = _widened_latitudes(scenario, lat_min, lat_max)
    err = projection.max_scale_error(lon_min, lat_lo, lon_max, lat_hi)
    if err > MAX_SCALE_ERROR:
        margin = scenario.geography.margin_km
        raise GeographyError(
            f"the scenario area (lon {lon_min:.2f}..{lon_max:.2f}, "
            f"lat {lat_lo:.2f}..{lat_hi:.2f}: every position, widened by margin_km {margin:g})"
            f" is too large for one projection: scale error {err:.2%} exceeds "
            f"{MAX_SCALE_ERROR:.1%}; keep it within about 15 degrees of latitude (positions "
            "closer together, or a smaller geography.margin_km)"
        )
    return projection, pts


def area_box(
    projection: Projection, pts: np.ndarray, territory_xy: shapely.Geometry, margin_km: float
) -> tuple[float, float, float, float]:
    """The scenario area in the plane: the box around the projected positions ``pts`` (lon, lat)
    and the projected territory, widened by ``margin_km``; (xmin, ymin, xmax, ymax) in metres."""
    px, py = projection.forward(pts[:, 0], pts[:, 1])
    margin = margin_km * 1000.0
    tx0, ty0, tx1, ty1 = shapely.bounds(territory_xy)
    return (
        float(min(px.min(), tx0) - margin),
        float(min(py.min(), ty0) - margin),
        float(max(px.max(), tx1) + margin),
        float(max(py.max(), ty1) + margin),
    )


def _circle_overlaps(
    projection: Projection, box: tuple[float, float, float, float], lon: float, lat: float, r: float
) -> bool:
    x, y = projection.forward(np.array([lon]), np.array([lat]))
    cx, cy = float(x[0]), float(y[0])
    if not (math.isfinite(cx) and math.isfinite(cy)):
        return False
    dx = max(box[0] - cx, 0.0, cx - box[2])
    dy = max(box[1] - cy, 0.0, cy - box[3])
    return math.hypot(dx, dy) < r


def _polygon_overlaps(
    projection: Projection, box: tuple[float, float, float, float], polygon: shapely.Geometry
) -> bool:
    try:
        xy = project_geometry(polygon, projection)
    except GeographyError:  # partly where the projection is undefined: far away
        return False
    area = shapely.box(*box)
    return bool(shapely.intersects(xy, area) and not shapely.touches(xy, area))


def no_fire_zone_problems(
    scenario: Scenario,
    projection: Projection,
    pts: np.ndarray,
    territory_xy: shapely.Geometry,
    polygons: dict[int, shapely.Geometry],
) -> list[tuple[int, str]]:
    """No-fire zones that do not overlap the scenario area: they could never stop a shot, and
    such a zone is almost always a position with latitude and longitude swapped.

    Parameters
    ----------
    scenario : Scenario
    projection, pts : from :func:`fit_projection`
    territory_xy : shapely.Geometry
        The territory in the projection (for the area's bounds, as :func:`build_world` has it).
    polygons : dict of int to shapely.Geometry
        Lon/lat polygon of each polygon zone, by its index in ``geography.no_fire_zones`` (a
        zone missing here is not checked: its file could not be read).

    Returns
    -------
    list of (int, str)
        Index of each such zone and what is wrong with it, in order.
    """
    box = area_box(projection, pts, territory_xy, scenario.geography.margin_km)
    lon_lo, lat_lo = pts.min(axis=0)
    lon_hi, lat_hi = pts.max(axis=0)
    area = (
        f"the scenario area (lat {lat_lo:.2f}..{lat_hi:.2f}, lon {lon_lo:.2f}..{lon_hi:.2f}: the "
        "territory, launches, routes, sensors, defenders and EW areas, widened by margin_km "
        f"{scenario.geography.margin_km:g})"
    )
    out = []
    for i, z in enumerate(scenario.geography.no_fire_zones):
        if z.polygon is None:
            if z.lat is None or z.lon is None or z.radius_km is None:
                continue  # not a valid scenario: the model requires all three for a circle
            r = z.radius_km * 1000.0
            if _circle_overlaps(projection, box, z.lon, z.lat, r):
                continue
            what = f"the circle at lat {z.lat:g}, lon {z.lon:g} (radius_km {z.radius_km:g})"
            swapped = -90.0 <= z.lon <= 90.0 and _circle_overlaps(projection, box, z.lat, z.lon, r)
        else:
            polygon = polygons.get(i)
            if polygon is None or _polygon_overlaps(projection, box, polygon):
                continue
            x0, y0, x1, y1 = shapely.bounds(polygon)
            what = f"its polygon (lat {y0:.2f}..{y1:.2f}, lon {x0:.2f}..{x1:.2f})"
            flipped = shapely.transform(polygon, lambda xy: xy[:, ::-1])
            swapped = -90.0 <= x0 <= x1 <= 90.0 and _polygon_overlaps(projection, box, flipped)
        hint = (
            "latitude and longitude look swapped: swapped, it lies in the area"
            if swapped
            else "check its position: are latitude and longitude swapped?"
        )
        if z.polygon is not None:
            hint += " (GeoJSON gives each position as [lon, lat])"
        out.append(
            (
                i,
                f"the no-fire zone {z.name!r} does not overlap {area}, so it could never stop a "
                f"shot: {what}; {hint}",
            )
        )
    return out


def _widened_latitudes(scenario: Scenario, lat_min: float, lat_max: float) -> tuple[float, float]:
    """Latitude bounds of the positions' box widened by ``geography.margin_km`` (at least)."""
    pad = scenario.geography.margin_km * 1000.0 / _M_PER_DEG_LAT_MIN
    return max(lat_min - pad, -89.9), min(lat_max + pad, 89.9)


@dataclass(frozen=True)
class ScaleTable:
    """The projection's scale k against latitude over the scenario area (a conic's scale depends
    on latitude only, with one minimum), to bound its change along a track not known in advance.
    """

    lat: np.ndarray  # (L,) degrees, ascending, every 0.01 degree or finer
    k: np.ndarray  # (L,)
    #: (L,) |dk / d(distance)| along a meridian, per metre: the most along any path
    dk_dm: np.ndarray

    @classmethod
    def build(cls, projection: Projection, lat_lo: float, lat_hi: float) -> ScaleTable:
        n = max(3, math.ceil((lat_hi - lat_lo) / 0.01) + 1)
        lat = np.linspace(lat_lo, lat_hi, n)
        k = projection.scale_factor(np.zeros(n), lat)
        return cls(lat, k, np.abs(np.gradient(k, lat)) / _M_PER_DEG_LAT_MIN)

    def pieces(self, lat0: np.ndarray, lat1: np.ndarray, length_m: np.ndarray) -> np.ndarray:
        """Equal parts a straight flight of ``length_m`` between latitudes ``lat0`` and ``lat1``
        needs so that k changes by at most :data:`MAX_LEG_SCALE_SPREAD` along each (int, >= 1).

        k over the flight lies within its values on the latitude range it spans (widened by how
        far a geodesic of that length can bulge past its ends); if that range is within the bound,
        one part; else as many as the largest rate of change there times the length needs.
        """
        # a geodesic's latitude leaves its ends' range by at most about L^2 tan(lat) / (8 R^2)
        # (R the earth's radius); doubled, and 0.01 degree more, for the ellipsoid and the ends
        tan = np.tan(np.radians(np.minimum(np.maximum(np.abs(lat0), np.abs(lat1)), 89.0)))
        bulge = np.degrees((length_m / 6.371e6) ** 2 / 4 * tan) + 0.01
        lo = np.clip(np.minimum(lat0, lat1) - bulge, self.lat[0], self.lat[-1])
        hi = np.clip(np.maximum(lat0, lat1) + bulge, self.lat[0], self.lat[-1])
        k_lo, k_hi = np.interp(lo, self.lat, self.k), np.interp(hi, self.lat, self.k)
        i_min = int(np.argmin(self.k))
        inside = (lo <= self.lat[i_min]) & (self.lat[i_min] <= hi)
        k_min = np.where(inside, self.k[i_min], np.minimum(k_lo, k_hi))
        spread = np.maximum(k_lo, k_hi) / k_min - 1.0
        # |dk/ds| grows away from the minimum, so its largest value on the range is at an end
        rate = np.maximum(np.interp(lo, self.lat, self.dk_dm), np.interp(hi, self.lat, self.dk_dm))
        parts = np.ceil(rate * length_m / MAX_LEG_SCALE_SPREAD)
        return np.where(spread <= MAX_LEG_SCALE_SPREAD, 1, np.maximum(parts, 1)).astype(np.int64)


def build_world(scenario: Scenario) -> World:
    """Project a validated scenario into the plane and lay it out as arrays.

    Raises
    ------
    GeographyError
        If a border or no-fire polygon file cannot be used, or a no-fire zone does not overlap
        the scenario area (:func:`no_fire_zone_problems`).
    """
    territory_ll = load_territory(scenario.geography.border)
    projection, pts = fit_projection(scenario, territory_ll)
    territory = Territory.build(territory_ll, projection)

    box = area_box(projection, pts, territory.polygon, scenario.geography.margin_km)

    def xy(lon: float, lat: float) -> np.ndarray:
        x, y = projection.forward(np.array([lon]), np.array([lat]))
        return np.array([x[0], y[0]])

    table = ScaleTable.build(
        projection, *_widened_latitudes(scenario, float(pts[:, 1].min()), float(pts[:, 1].max()))
    )
    waves = []
    for w in scenario.waves:
        dtype = scenario.drone_types[w.type]
        rx, ry = projection.forward(
            np.array([p.lon for p in w.route]), np.array([p.lat for p in w.route])
        )
        lon = np.array([w.launch.lon, *(p.lon for p in w.route)])
        lat = np.array([w.launch.lat, *(p.lat for p in w.route)])
        length = geodesic_distance_m(lon[:-1], lat[:-1], lon[1:], lat[1:])
        waves.append(
            WaveArrays(
                name=w.name,
                type=w.type,
                count=w.count,
                launch_xy=xy(w.launch.lon, w.launch.lat),
                route_xy=np.column_stack([rx, ry]),
                leg_pieces=table.pieces(lat[:-1], lat[1:], length),
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

    # Circles (sensor cover, battery envelopes, EW areas, no-fire circles, point defence) are
    # drawn in the plane with the scale factor at their centre: the projection's scale is
    # 0.9994-1.0016 over the area, which would otherwise make a 40 km circle up to 64 m too
    # large or small (a scan early or late, a shot a second early); across a circle k varies
    # by about 1e-4, so the planar circle stays within a few metres of the geodesic one.
    def scale(items: list) -> np.ndarray:
        if not items:
            return np.empty(0)
        return np.asarray(projection.scale_factor(arr(items, "lon"), arr(items, "lat")), float)

    sensors = list(scenario.sensors)
    sx, sy = projection.forward(arr(sensors, "lon"), arr(sensors, "lat"))
    ews = list(scenario.electronic_warfare)
    ex, ey = projection.forward(arr(ews, "lon"), arr(ews, "lat"))
    circles = [z for z in scenario.geography.no_fire_zones if z.polygon is None]
    nx, ny = projection.forward(arr(circles, "lon"), arr(circles, "lat"))
    nofire_r = arr(circles, "radius_km") * 1000.0 * scale(circles)
    zones_ll = {
        i: load_polygon_file(z.polygon)
        for i, z in enumerate(scenario.geography.no_fire_zones)
        if z.polygon is not None
    }
    outside = no_fire_zone_problems(scenario, projection, pts, territory.polygon, zones_ll)
    if outside:
        i, message = outside[0]
        raise GeographyError(f"geography.no_fire_zones[{i}]: {message}")
    polys = []
    guarded = []
    for polygon in zones_ll.values():
        t = Territory.build(polygon, projection)
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
        sensor_k=scale(sensors),
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
        ew_r=arr(ews, "radius_km") * 1000.0 * scale(ews),
        ew_p_lost=arr(ews, "lost_probability"),
        ew_p_divert=arr(ews, "divert_probability"),
        ew_deg=np.array([e.divert_deg for e in ews], float).reshape(-1, 2),
        nofire_x=np.asarray(nx, float),
        nofire_y=np.asarray(ny, float),
        nofire_r=nofire_r,
        nofire_polygons=tuple(polys),
        roe_inner=inner,
        roe_nofire_r=nofire_r + ROE_GUARD_M,
        roe_nofire_polygons=tuple(guarded),
        batteries=batteries,
        bat_x=np.asarray(bx, float),
        bat_y=np.asarray(by, float),
        bat_k=scale(list(batteries)),
        bat_defended_r=np.array(
            [
                math.inf if b.defended_radius_km is None else b.defended_radius_km * 1000.0
                for b in batteries
            ],
            float,
        )
        * scale(list(batteries)),
        airbases=airbases,
        base_x=np.asarray(fx, float),
        base_y=np.asarray(fy, float),
        weapon_names=tuple(sorted(scenario.weapons)),
        defender_names=tuple(d.name for d in (*batteries, *airbases)),
        scale_table=table,
        roe_inner_within=inner is not None
        and bool(shapely.contains_properly(territory.polygon, inner.polygon)),
    )
