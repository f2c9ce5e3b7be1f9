"""Geography: territories, the map projection, geodesic distances and border crossings.

Pure computation on numpy / shapely / pyproj: no SimPy, no YAML.

Conventions
-----------
* Geographic coordinates are WGS84 longitude/latitude in degrees, always in (lon, lat) order.
* Projected coordinates are metres in a :class:`Projection` (x east, y north).
* Every user-data problem (a missing or malformed border / zone file, unusable bounds) raises
  :class:`sim.errors.GeographyError`; programming errors (wrong array shapes) raise ``ValueError``.

Why a Lambert conformal conic fitted to the scenario area
----------------------------------------------------------
The simulator places drones, sensors and defenders in a plane (legs are timed by their geodesic
lengths, and split into geodesic sub-legs where the scale changes along them: ``sim.world``), and
ranges are straight lines there; the project requires distances and times to be within 0.5 % of
WGS84 geodesics anywhere in a scenario area that reaches 600 km east of
the Polish border (about lon 13-33 E, lat 48-56 N). Poland's own grid, EPSG:2180 (CS92, a
transverse Mercator on 19 E), grows its scale error with the square of the distance from 19 E: at
33 E, 48 N it is about +1.3 % (``tests/test_geo.py`` checks that it exceeds 0.5 % there). A conic
projection's scale error depends on latitude only, so any longitude extent is fine; with standard
parallels at 1/6 and 5/6 of the latitude span the worst scale error is roughly
``5 / 72 * span_rad**2``: about 0.13 % for the 8 degrees above, and under 0.5 % up to a span of
about 15 degrees of latitude (:meth:`Projection.max_scale_error` measures it for any area).
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj.crs import GeographicCRS, ProjectedCRS
from pyproj.crs.coordinate_operation import LambertConformalConic2SPConversion

from sim._paths import seeds_dir
from sim.errors import GeographyError

if TYPE_CHECKING:
    # The compiled search loads numba: only when crossings are computed, not for `validate`.
    from sim.gridindex import EdgeGrid

__all__ = [
    "BUILTIN_TERRITORIES",
    "Projection",
    "Territory",
    "builtin_countries",
    "geodesic_azimuth_deg",
    "geodesic_distance_m",
    "geodesic_points",
    "load_polygon_file",
    "load_territory",
    "project_geometry",
    "segment_edge_crossings",
]

#: Names usable as a territory (``geography.border``): Poland and the neighbours shipped with it.
BUILTIN_TERRITORIES: tuple[str, ...] = (
    "poland",
    "germany",
    "czechia",
    "slovakia",
    "ukraine",
    "belarus",
    "lithuania",
    "kaliningrad",
)

#: Default densification, degrees, before projecting polygons (see :func:`project_geometry`).
DEFAULT_MAX_SEGMENT_DEG = 0.1

_COUNTRIES_FILE = ("geo", "countries.geojson")
_POLYGONAL = ("Polygon", "MultiPolygon")
_NOT_POLYGONAL = ("Point", "MultiPoint", "LineString", "MultiLineString")

Polygonal = shapely.Polygon | shapely.MultiPolygon


# --------------------------------------------------------------------------------------------
# Loading territories and polygon files
# --------------------------------------------------------------------------------------------


@functools.cache
def _builtin_countries_cached() -> tuple[tuple[str, Polygonal], ...]:
    path = seeds_dir().joinpath(*_COUNTRIES_FILE)
    doc = _read_json(path, "built-in country data")
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise GeographyError(f"{path}: built-in country data is not a GeoJSON FeatureCollection")
    out = []
    for i, feature in enumerate(features):
        name = (feature.get("properties") or {}).get("name") if isinstance(feature, dict) else None
        if not isinstance(name, str):
            raise GeographyError(f"{path}: features[{i}] has no 'name' property")
        polygons = list(_polygons_in(feature, f"features[{i}]", path))
        out.append((name, polygons[0] if len(polygons) == 1 else _union(polygons, path)))
    return tuple(out)


def builtin_countries() -> dict[str, Polygonal]:
    """The shipped country outlines (Natural Earth 1:10m), by lowercase name.

    Returns
    -------
    dict of str to shapely.Polygon or shapely.MultiPolygon
        Lon/lat (WGS84, degrees) geometries read from ``seeds/geo/countries.geojson``: ``poland``
        at full 1:10m resolution and its neighbours (``kaliningrad`` is the Russian exclave only).
        The file is read once per process; the dict is a fresh copy, the geometries are shared
        (shapely geometries are immutable).

    Raises
    ------
    GeographyError
        If the data file is missing or unreadable (a broken installation).
    """
    return dict(_builtin_countries_cached())


def load_territory(border: str | os.PathLike[str]) -> Polygonal:
    """The defended territory as a lon/lat polygon: a built-in name or a GeoJSON file.

    Parameters
    ----------
    border : str or path-like
        One of :data:`BUILTIN_TERRITORIES` (case-insensitive), or the path of a GeoJSON file: a
        FeatureCollection, a Feature or a bare geometry whose geometries are all Polygon or
        MultiPolygon (a GeometryCollection of them is accepted too) in WGS84 lon/lat degrees.
        Several polygons are merged into one (their union).

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        Lon/lat geometry, valid in the OGC sense.

    Raises
    ------
    GeographyError
        For an unknown name or missing file, a file that is not UTF-8 JSON, holds no polygon,
        holds points or lines, has non-numeric / NaN / infinite coordinates or coordinates outside
        lon [-180, 180], lat [-90, 90], or an invalid polygon (e.g. self-intersecting). Invalid
        polygons are reported, never repaired silently. Rings that are not closed are closed.
    """
    if isinstance(border, str) and border.strip().lower() in BUILTIN_TERRITORIES:
        return builtin_countries()[border.strip().lower()]
    if not isinstance(border, str | os.PathLike):
        raise GeographyError(
            f"a territory is a built-in name or a GeoJSON file path, not {type(border).__name__}"
        )
    path = Path(border)
    builtin = ", ".join(BUILTIN_TERRITORIES)
    try:
        missing = not path.exists() and not path.is_symlink()
    except (OSError, ValueError):  # a name too long, a NUL byte: reading it says why
        missing = False
    if isinstance(border, str) and missing and not path.suffix and os.sep not in border:
        raise GeographyError(
            f"unknown territory {border!r}: not a built-in name ({builtin}) and no such file"
        )
    if missing:
        # A scenario's border is resolved against its folder before it gets here, so a
        # mistyped built-in name arrives as a path: name the built-in territories as well.
        kind = "territory file not found" if path.suffix else "no such territory file"
        raise GeographyError(
            f"{path}: {kind}, and {path.name!r} is not a built-in territory either "
            f"(built-in: {builtin})"
        )
    return _load_polygonal_file(path, "territory")


def load_polygon_file(path: str | os.PathLike[str]) -> Polygonal:
    """A polygon (e.g. a no-fire zone) from a GeoJSON file; same rules as :func:`load_territory`.

    Parameters
    ----------
    path : str or path-like
        GeoJSON file (FeatureCollection / Feature / bare geometry) of Polygon/MultiPolygon
        geometries in WGS84 lon/lat degrees; several are merged. Built-in names are not looked up.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        Lon/lat geometry.

    Raises
    ------
    GeographyError
        As :func:`load_territory`.
    """
    if not isinstance(path, str | os.PathLike):
        raise GeographyError(f"a polygon file path is expected, not {type(path).__name__}")
    return _load_polygonal_file(Path(path), "polygon")


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GeographyError(f"{path}: {what} file not found") from None
    except IsADirectoryError:
        raise GeographyError(f"{path}: is a directory, not a {what} file") from None
    except UnicodeDecodeError:
        raise GeographyError(f"{path}: not UTF-8 text (GeoJSON must be UTF-8)") from None
    except OSError as exc:
        raise GeographyError(f"{path}: cannot read {what} file: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise GeographyError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise GeographyError(f"{path}: JSON nested too deeply") from None
    except ValueError as exc:  # not a syntax error: e.g. an integer of more than 4,300 digits
        reason = "a number has too many digits" if "digits" in str(exc) else str(exc)
        raise GeographyError(f"{path}: not valid JSON ({reason})") from None


def _load_polygonal_file(path: Path, what: str) -> Polygonal:
    doc = _read_json(path, what)
    try:
        polygons = list(_polygons_in(doc, "", path))
    except RecursionError:
        raise GeographyError(f"{path}: GeoJSON nested too deeply") from None
    if not polygons:
        raise GeographyError(f"{path}: no Polygon or MultiPolygon found")
    return polygons[0] if len(polygons) == 1 else _union(polygons, path)


def _union(polygons: list[Polygonal], path: Path) -> Polygonal:
    merged = shapely.union_all(polygons)
    if merged.geom_type not in _POLYGONAL or merged.is_empty:  # pragma: no cover - defensive
        raise GeographyError(f"{path}: the union of the polygons is a {merged.geom_type}")
    return merged


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return f"an object of type {value.get('type')!r}" if "type" in value else "an object"
    return {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _at(where: str) -> str:
    return f" at {where}" if where else ""


def _polygons_in(doc: Any, where: str, path: Path) -> Iterator[Polygonal]:
    """Yield every (multi)polygon of a GeoJSON object, validated; raise on anything else."""
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        raise GeographyError(
            f"{path}: expected a GeoJSON object with a 'type'{_at(where)}, found {_json_kind(doc)}"
        )
    kind = doc["type"]
    prefix = f"{where}." if where else ""
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise GeographyError(f"{path}: FeatureCollection{_at(where)} has no 'features' list")
        if not features:
            raise GeographyError(f"{path}: FeatureCollection{_at(where)} has no features")
        for i, feature in enumerate(features):
            if not isinstance(feature, dict) or feature.get("type") != "Feature":
                raise GeographyError(
                    f"{path}: {prefix}features[{i}] is {_json_kind(feature)}, not a Feature"
                )
            yield from _polygons_in(feature, f"{prefix}features[{i}]", path)
    elif kind == "Feature":
        geometry = doc.get("geometry")
        if geometry is None:
            raise GeographyError(f"{path}: the Feature{_at(where)} has no geometry (null)")
        yield from _polygons_in(geometry, f"{prefix}geometry", path)
    elif kind == "GeometryCollection":
        geometries = doc.get("geometries")
        if not isinstance(geometries, list):
            raise GeographyError(f"{path}: GeometryCollection{_at(where)} has no 'geometries'")
        for i, geometry in enumerate(geometries):
            yield from _polygons_in(geometry, f"{prefix}geometries[{i}]", path)
    elif kind in _POLYGONAL:
        yield _build_polygonal(kind, doc.get("coordinates"), where or kind, path)
    elif kind in _NOT_POLYGONAL:
        raise GeographyError(
            f"{path}: found a {kind}{_at(where)}; a territory or zone must be a Polygon or "
            "MultiPolygon"
        )
    else:
        raise GeographyError(f"{path}: unknown GeoJSON type {kind!r}{_at(where)}")


def _build_polygonal(kind: str, coords: Any, where: str, path: Path) -> Polygonal:
    if kind == "Polygon":
        geometry: Polygonal = _polygon(coords, where, path)
    else:
        if not isinstance(coords, list) or not coords:
            raise GeographyError(f"{path}: {where}: MultiPolygon coordinates must be a list")
        geometry = shapely.MultiPolygon(
            [_polygon(c, f"{where}.coordinates[{i}]", path) for i, c in enumerate(coords)]
        )
    reason = shapely.is_valid_reason(geometry)
    if reason != "Valid Geometry":
        raise GeographyError(f"{path}: {where}: {_explain_invalid(reason)}")
    return geometry


_AT_POINT = re.compile(r"^(?P<what>[^\[]*)\[(?P<x>\S+) (?P<y>[^\s\]]+)")


def _explain_invalid(reason: str) -> str:
    match = _AT_POINT.match(reason)
    what = (match.group("what") if match else reason).strip()
    near = f" near lon {match.group('x')}, lat {match.group('y')}" if match else ""
    if "self-intersection" in what.lower():
        text = f"the polygon intersects itself{near} (self-intersecting)"
    else:
        text = f"invalid polygon: {what}{near}"
    return text + "; fix the file (invalid polygons are not repaired automatically)"


def _polygon(coords: Any, where: str, path: Path) -> shapely.Polygon:
    if not isinstance(coords, list) or not coords:
        raise GeographyError(f"{path}: {where}: a Polygon needs a non-empty list of rings")
    rings = [_ring(r, f"{where} ring {i}", path) for i, r in enumerate(coords)]
    return shapely.Polygon(rings[0], rings[1:])


def _ring(ring: Any, where: str, path: Path) -> NDArray[np.float64]:
    if not isinstance(ring, list):
        raise GeographyError(f"{path}: {where}: a ring must be a list of positions")
    xy = np.empty((len(ring), 2), dtype=np.float64)
    for k, position in enumerate(ring):
        xy[k] = _position(position, f"{where} position {k}", path)
    if len(xy) and not np.array_equal(xy[0], xy[-1]):
        xy = np.vstack([xy, xy[:1]])  # GeoJSON rings are closed; close one that is not
    if len(xy) < 4:
        raise GeographyError(
            f"{path}: {where}: a ring needs at least 3 distinct positions, found {len(ring)}"
        )
    return xy


def _position(position: Any, where: str, path: Path) -> tuple[float, float]:
    if not isinstance(position, list) or len(position) < 2:
        raise GeographyError(f"{path}: {where}: a position is a list [lon, lat]")
    values = []
    for v in position[:2]:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise GeographyError(f"{path}: {where}: coordinate {v!r} is not a number")
        try:
            values.append(float(v))
        except OverflowError:
            raise GeographyError(f"{path}: {where}: coordinate {v} is out of range") from None
    lon, lat = values
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise GeographyError(f"{path}: {where}: coordinate is not finite ({lon}, {lat})")
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise GeographyError(
            f"{path}: {where}: ({lon}, {lat}) is outside lon [-180, 180] / lat [-90, 90] "
            "(GeoJSON positions are [lon, lat] in degrees)"
        )
    return lon, lat


# --------------------------------------------------------------------------------------------
# Projection
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _lcc(lat_1: float, lat_2: float, lat_0: float, lon_0: float) -> ProjectedCRS:
    """The WGS84 Lambert conformal conic with these parallels and origin. Cached: building a
    CRS takes PROJ about 10 ms, and every sweep point of one area asks for the same one (a CRS
    is immutable, so sharing it is safe)."""
    conversion = LambertConformalConic2SPConversion(
        latitude_first_parallel=lat_1,
        latitude_second_parallel=lat_2,
        latitude_false_origin=lat_0,
        longitude_false_origin=lon_0,
        easting_false_origin=0.0,
        northing_false_origin=0.0,
    )
    name = f"LCC WGS84 lat_1={lat_1:.6g} lat_2={lat_2:.6g} lat_0={lat_0:.6g} lon_0={lon_0:.6g}"
    return ProjectedCRS(conversion=conversion, geodetic_crs=GeographicCRS(datum="WGS84"), name=name)


@functools.lru_cache(maxsize=64)
def _transformers(crs: pyproj.CRS) -> tuple[pyproj.Transformer, pyproj.Transformer, pyproj.Proj]:
    geographic = crs.geodetic_crs
    forward = pyproj.Transformer.from_crs(geographic, crs, always_xy=True)
    inverse = pyproj.Transformer.from_crs(crs, geographic, always_xy=True)
    return forward, inverse, pyproj.Proj(crs)


def _as_float_arrays(*values: ArrayLike) -> list[NDArray[np.float64]]:
    return [np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(*values)]


def _apply(transformer: pyproj.Transformer, a: ArrayLike, b: ArrayLike) -> tuple[Any, Any]:
    a, b = _as_float_arrays(a, b)
    shape = a.shape
    u, v = transformer.transform(a.ravel(), b.ravel(), errcheck=False)
    return np.asarray(u, dtype=np.float64).reshape(shape), np.asarray(v).reshape(shape)


@dataclass(frozen=True)
class Projection:
    """Lambert conformal conic on WGS84 fitted to an area (standard parallels at 1/6 and 5/6 of
    the latitude span, central meridian at the middle). Scale error stays small for any longitude
    extent.

    Build it with :meth:`for_bounds`; any projected ``pyproj.CRS`` may be wrapped directly (the
    tests wrap EPSG:2180 to show why it is not used). Transformers are cached per CRS and use
    (lon, lat) / (x, y) order; instances are immutable, hashable and picklable.

    Attributes
    ----------
    crs : pyproj.CRS
        The projected CRS (metres). For :meth:`for_bounds`, its origin (x = y = 0) is the centre of
        the area.
    """

    crs: pyproj.CRS

    def __post_init__(self) -> None:
        # (forward transformer, inverse transformer, Proj), shared by equal CRSs; not a field.
        object.__setattr__(self, "_ops", _transformers(self.crs))

    def __repr__(self) -> str:
        return f"Projection({self.crs.name!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"crs": self.crs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "crs", state["crs"])
        self.__post_init__()

    @classmethod
    def for_bounds(
        cls, lon_min: float, lat_min: float, lon_max: float, lat_max: float
    ) -> Projection:
        """The conic fitted to an area.

        Parameters
        ----------
        lon_min, lat_min, lon_max, lat_max : float
            Area in WGS84 degrees; it must not cross the antimeridian, the equator or reach
            within 1 degree of a pole.

        Returns
        -------
        Projection
            LCC with standard parallels at ``lat_min + span/6`` and ``lat_min + 5*span/6``,
            latitude of origin at the middle of the span, central meridian at the middle of the
            longitudes, no false easting/northing.

        Raises
        ------
        GeographyError
            For non-finite, reversed or out-of-range bounds.
        """
        values = [float(v) for v in (lon_min, lat_min, lon_max, lat_max)]
        if not all(math.isfinite(v) for v in values):
            raise GeographyError(f"projection bounds must be finite, got {values}")
        lon_min, lat_min, lon_max, lat_max = values
        if not (-180.0 <= lon_min <= lon_max <= 180.0 and -89.0 <= lat_min <= lat_max <= 89.0):
            raise GeographyError(
                f"projection bounds lon {lon_min}..{lon_max}, lat {lat_min}..{lat_max} are "
                "reversed or out of range (lon -180..180, lat -89..89)"
            )
        if lat_min <= 0.0 <= lat_max:
            raise GeographyError(
                f"area lat {lat_min}..{lat_max} touches the equator: "
                "a conic projection is unsuitable"
            )
        span = lat_max - lat_min
        lat_1, lat_2 = lat_min + span / 6.0, lat_min + 5.0 * span / 6.0
        lat_0, lon_0 = (lat_min + lat_max) / 2.0, (lon_min + lon_max) / 2.0
        return cls(_lcc(lat_1, lat_2, lat_0, lon_0))

    def forward(self, lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Project lon/lat to metres.

        Parameters
        ----------
        lon, lat : array_like of float, broadcastable, any shape
            WGS84 degrees.

        Returns
        -------
        x_m, y_m : ndarray of float64, broadcast shape
            Projected metres (``inf`` where the point cannot be projected).
        """
        return _apply(self._ops[0], lon, lat)

    def inverse(self, x_m: ArrayLike, y_m: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Unproject metres to lon/lat.

        Parameters
        ----------
        x_m, y_m : array_like of float, broadcastable, any shape
            Projected metres.

        Returns
        -------
        lon, lat : ndarray of float64, broadcast shape
            WGS84 degrees.
        """
        return _apply(self._ops[1], x_m, y_m)

    def scale_factor(self, lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
        """Point scale factor k (projected length / true length) at lon/lat.

        Parameters
        ----------
        lon, lat : array_like of float, broadcastable, any shape
            WGS84 degrees.

        Returns
        -------
        ndarray of float64, broadcast shape
            Dimensionless; the projection is conformal, so k is the same in every direction
            (this returns the parallel scale, which equals the meridional one).
        """
        lon, lat = _as_float_arrays(lon, lat)
        factors = self._ops[2].get_factors(lon.ravel(), lat.ravel(), errcheck=False)
        return np.asarray(factors.parallel_scale, dtype=np.float64).reshape(lon.shape)

    def max_scale_error(
        self, lon_min: float, lat_min: float, lon_max: float, lat_max: float
    ) -> float:
        """Worst relative scale error ``max |k - 1|`` over an area (sampled on a 41 x 41 grid).

        Parameters
        ----------
        lon_min, lat_min, lon_max, lat_max : float
            Area in WGS84 degrees.

        Returns
        -------
        float
            Dimensionless (0.005 is 0.5 %); bounds the relative error of short projected
            distances in that area.
        """
        lon, lat = np.meshgrid(np.linspace(lon_min, lon_max, 41), np.linspace(lat_min, lat_max, 41))
        return float(np.max(np.abs(self.scale_factor(lon, lat) - 1.0)))


def project_geometry(
    geom_lonlat: shapely.Geometry,
    projection: Projection,
    *,
    max_segment_deg: float | None = DEFAULT_MAX_SEGMENT_DEG,
) -> shapely.Geometry:
    """Project a lon/lat shapely geometry to metres.

    Parameters
    ----------
    geom_lonlat : shapely.Geometry
        WGS84 lon/lat degrees.
    projection : Projection
        Target projection.
    max_segment_deg : float or None, keyword-only
        Edges longer than this (in degrees) are first divided (``shapely.segmentize``), because a
        GeoJSON edge is straight in lon/lat, not in the projection: undivided, a 1 degree edge
        along a parallel at 52 N would bow by about 1 km. 0.1 degree keeps the error around 1 m
        and adds ~6 % vertices to Poland. ``None`` projects vertices only.

    Returns
    -------
    shapely.Geometry
        Same type, in projected metres.

    Raises
    ------
    GeographyError
        If a vertex cannot be projected.
    """
    if max_segment_deg is not None:
        geom_lonlat = shapely.segmentize(geom_lonlat, max_segment_deg)

    def forward(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = projection.forward(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    projected = shapely.transform(geom_lonlat, forward)
    if not np.isfinite(shapely.get_coordinates(projected)).all():
        raise GeographyError("a geometry lies (partly) where the projection is undefined")
    return projected


# --------------------------------------------------------------------------------------------
# Territory
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Territory:
    """The defended territory in a projection: prepared polygon, vectorised tests.

    Attributes
    ----------
    geometry_lonlat : shapely.Polygon or shapely.MultiPolygon
        The territory in WGS84 lon/lat degrees, as loaded.
    projection : Projection
        The plane everything below is in.
    polygon : shapely.Polygon or shapely.MultiPolygon
        The territory in projected metres (densified, see :func:`project_geometry`), prepared for
        fast repeated predicates.
    edges : ndarray of float64, shape (E, 4), read-only
        ``x0, y0, x1, y1`` in metres of every boundary edge of every ring (exteriors and holes)
        of :attr:`polygon`; input for :func:`segment_edge_crossings`.
    """

    geometry_lonlat: Polygonal
    projection: Projection
    polygon: Polygonal
    edges: np.ndarray

    @classmethod
    def build(
        cls,
        geometry_lonlat: Polygonal,
        projection: Projection,
        *,
        max_segment_deg: float | None = DEFAULT_MAX_SEGMENT_DEG,
    ) -> Territory:
        """Project, prepare and index a lon/lat territory.

        Parameters
        ----------
        geometry_lonlat : shapely.Polygon or shapely.MultiPolygon
            WGS84 lon/lat degrees, e.g. from :func:`load_territory`.
        projection : Projection
            The simulation plane.
        max_segment_deg : float or None, keyword-only
            Densification before projecting, see :func:`project_geometry`.

        Returns
        -------
        Territory

        Raises
        ------
        GeographyError
            If the geometry is not a valid (multi)polygon, before or after projection.
        """
        if geometry_lonlat.geom_type not in _POLYGONAL or geometry_lonlat.is_empty:
            raise GeographyError(f"a territory must be a polygon, not {geometry_lonlat.geom_type}")
        if not geometry_lonlat.is_valid:
            raise GeographyError(
                f"territory: {_explain_invalid(shapely.is_valid_reason(geometry_lonlat))}"
            )
        polygon = project_geometry(geometry_lonlat, projection, max_segment_deg=max_segment_deg)
        if not polygon.is_valid:
            raise GeographyError(
                f"territory is invalid once projected: {shapely.is_valid_reason(polygon)}"
            )
        return cls(geometry_lonlat, projection, polygon, _boundary_edges(polygon))

    def __post_init__(self) -> None:
        shapely.prepare(self.polygon)
        self.edges.flags.writeable = False

    def contains(self, x_m: ArrayLike, y_m: ArrayLike) -> np.ndarray:
        """Whether projected points lie strictly inside the territory.

        Parameters
        ----------
        x_m, y_m : array_like of float, broadcastable, any shape
            Projected metres.

        Returns
        -------
        ndarray of bool, broadcast shape
            True inside; False outside, on the boundary, or for NaN.
        """
        return point_test(
            self, self.edges, x_m, y_m, lambda a, b: shapely.contains_xy(self.polygon, a, b)
        )

    def contains_lonlat(self, lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
        """:meth:`contains` for WGS84 lon/lat degrees (projected first)."""
        return self.contains(*self.projection.forward(lon, lat))

    @property
    def bounds_lonlat(self) -> tuple[float, float, float, float]:
        """``(lon_min, lat_min, lon_max, lat_max)`` of the territory, degrees."""
        lon_min, lat_min, lon_max, lat_max = self.geometry_lonlat.bounds
        return float(lon_min), float(lat_min), float(lon_max), float(lat_max)


def _boundary_edges(polygon: Polygonal) -> np.ndarray:
    rings = shapely.get_rings(shapely.get_parts(polygon))
    xy, ring_index = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring_index[1:] == ring_index[:-1]
    return np.ascontiguousarray(np.hstack([xy[:-1][same_ring], xy[1:][same_ring]]))


# --------------------------------------------------------------------------------------------
# Distances and crossings
# --------------------------------------------------------------------------------------------


def geodesic_distance_m(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> np.ndarray:
    """WGS84 ellipsoidal geodesic distance (Vincenty's inverse formula, compiled, within 0.1 mm
    of Karney's; Karney's via ``pyproj.Geod`` where Vincenty's does not converge: see
    :mod:`sim.geodesic`).

    Parameters
    ----------
    lon1, lat1, lon2, lat2 : array_like of float, broadcastable, any shape
        WGS84 degrees.

    Returns
    -------
    ndarray of float64, broadcast shape
        Metres.
    """
    lon1, lat1, lon2, lat2 = _as_float_arrays(lon1, lat1, lon2, lat2)
    shape = lon1.shape
    from sim.geodesic import inverse_length_m  # compiled: loads numba only when needed

    dist = inverse_length_m(*(np.ascontiguousarray(v.ravel()) for v in (lon1, lat1, lon2, lat2)))
    return dist.reshape(shape)


_GEOD = pyproj.Geod(ellps="WGS84")


def geodesic_points(
    lon1: ArrayLike,
    lat1: ArrayLike,
    *,
    azimuth_deg: ArrayLike,
    distance_m: ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    """Points at ``distance_m`` along the WGS84 geodesics leaving (lon1, lat1) at ``azimuth_deg``
    (the direct problem, Karney's algorithm via ``pyproj.Geod.fwd``).

    Parameters
    ----------
    lon1, lat1 : array_like of float, broadcastable, any shape
        Start, WGS84 degrees.
    azimuth_deg : array_like of float, broadcastable
        Initial azimuth, degrees clockwise from true north.
    distance_m : array_like of float, broadcastable
        Metres along the geodesic.

    Returns
    -------
    lon, lat : ndarray of float64, broadcast shape
        WGS84 degrees.
    """
    lon1, lat1, az, dist = _as_float_arrays(lon1, lat1, azimuth_deg, distance_m)
    if lon1.size == 0:
        return np.empty(lon1.shape), np.empty(lon1.shape)
    lon, lat, _ = _GEOD.fwd(lon1.ravel(), lat1.ravel(), az.ravel(), dist.ravel())
    return np.asarray(lon, float).reshape(lon1.shape), np.asarray(lat, float).reshape(lon1.shape)


def geodesic_azimuth_deg(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> np.ndarray:
    """Initial azimuth (degrees clockwise from true north) of the WGS84 geodesics from point 1 to
    point 2 (``pyproj.Geod.inv``); broadcast shape."""
    lon1, lat1, lon2, lat2 = _as_float_arrays(lon1, lat1, lon2, lat2)
    if lon1.size == 0:
        return np.empty(lon1.shape)
    az, _, _ = _GEOD.inv(lon1.ravel(), lat1.ravel(), lon2.ravel(), lat2.ravel())
    return np.asarray(az, float).reshape(lon1.shape)


_EDGE_GRIDS: dict[tuple[tuple[int, ...], int], EdgeGrid] = {}


def point_test(
    owner: object,
    edges: np.ndarray,
    x: ArrayLike,
    y: ArrayLike,
    exact: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """``exact(x, y)`` (a polygon's point test, given same-shape float arrays) for many points
    at once, of the broadcast shape of ``x`` and ``y``, answered from a table of grid cells
    wherever a cell lies wholly on one side of the polygon's boundary ``edges``
    (:class:`sim.gridindex.CellSides`), so that ``exact`` runs only near the boundary. The table
    is built on first use and kept on ``owner``."""
    x, y = _as_float_arrays(x, y)
    if x.size < 64 or edges.shape[0] == 0:
        return np.asarray(exact(x, y), dtype=bool)
    sides = owner.__dict__.get("_cell_sides")
    if sides is None:
        from sim.gridindex import CellSides

        sides = CellSides.build(edges, exact)
        object.__setattr__(owner, "_cell_sides", sides)
    return sides.test(x.ravel(), y.ravel(), exact).reshape(x.shape)


def _edge_grid(edges: np.ndarray) -> EdgeGrid:
    """The grid index of ``edges``, cached by their content."""
    key = (edges.shape, hash(edges.tobytes()))
    grid = _EDGE_GRIDS.get(key)
    if grid is None:
        if len(_EDGE_GRIDS) > 64:
            _EDGE_GRIDS.clear()
        from sim.gridindex import EdgeGrid

        grid = EdgeGrid.build(edges)
        _EDGE_GRIDS[key] = grid
    return grid


def segment_edge_crossings(
    x0: ArrayLike,
    y0: ArrayLike,
    x1: ArrayLike,
    y1: ArrayLike,
    edges: ArrayLike,
    *,
    sort: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Every intersection of S segments with E edges, closed form (compiled, :mod:`sim.gridindex`).

    Segment ``i`` runs from ``(x0[i], y0[i])`` to ``(x1[i], y1[i])``; with ``P + t r = Q + u s``
    for segment ``P + t r`` and edge ``Q + u s``, ``t = (Q-P) x s / (r x s)``. A pair intersects
    when the edge's two ends are not strictly on the same side of the segment's line and the
    segment's two ends are not strictly on the same side of the edge's line: closed ranges,
    ``0 <= t <= 1`` and ``0 <= u <= 1``, decided by sign tests that float rounding cannot make
    inconsistent at a vertex shared by two edges (or a point shared by two consecutive segments).
    So a segment through a vertex, or touching one, is always split there, possibly once per edge
    meeting there at (nearly) equal fractions; exact duplicates are removed. A segment collinear
    with an edge is split where the edge's ends lie on it. Each reported ``t`` is clipped to
    [0, 1]. The result is meant for splitting tracks into pieces classified by their midpoints:
    an extra split is harmless, a missed one is not. Zero-length segments and NaN coordinates give
    nothing.

    Parameters
    ----------
    x0, y0, x1, y1 : array_like of float, broadcastable to shape (S,)
        Segment ends, metres (or any plane unit). Scalars give S = 1.
    edges : array_like of float, shape (E, 4)
        ``x0, y0, x1, y1`` per edge, e.g. :attr:`Territory.edges`.
    sort : bool, keyword-only
        False returns the same intersections in no particular order, possibly repeated (cheaper,
        for callers that sort them anyway).

    Returns
    -------
    segment_index : ndarray of intp, shape (K,)
        Index of the segment of each intersection.
    fraction : ndarray of float64, shape (K,)
        ``t`` in [0, 1]: where along that segment it lies.
        Both are sorted by (segment_index, fraction), without repeated pairs (with ``sort``).

    Raises
    ------
    ValueError
        If the segment arrays are not 1-D after broadcasting or ``edges`` is not (E, 4).
    """
    px, py, qx, qy = (np.atleast_1d(a) for a in _as_float_arrays(x0, y0, x1, y1))
    if px.ndim != 1:
        raise ValueError(f"segment coordinates must be 1-D, got shape {px.shape}")
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 2 or edges.shape[1] != 4:
        raise ValueError(f"edges must have shape (E, 4), got {edges.shape}")
    empty = np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64)
    if px.size == 0 or edges.shape[0] == 0:
        return empty
    # Candidate pairs from a uniform grid of the edges (built once per edge set): a drone segment
    # hundreds of km long meets only the few edges in the cells it passes through.
    from sim.gridindex import crossings

    segments, fractions = crossings(_edge_grid(edges), px, py, qx, qy)
    if segments.size == 0:
        return empty
    segments = segments.astype(np.intp, copy=False)
    if not sort:
        return segments, fractions
    order = np.lexsort((fractions, segments))
    segments, fractions = segments[order], fractions[order]
    # several edges meeting at a vertex on the segment, or a collinear chain: one split each
    new = np.r_[True, (segments[1:] != segments[:-1]) | (fractions[1:] != fractions[:-1])]
    return segments[new], fractions[new]
