"""Bad GeoJSON behind ``geography.border`` and no-fire ``polygon``: one clear error, exit 2.

Every bad file (24 kinds: not JSON, JSON but not GeoJSON, a Point or LineString, an empty
FeatureCollection, a self-intersecting bow-tie, NaN / infinite / out-of-range / absurdly long
coordinates, a huge coordinate list with one bad position, non-UTF-8 bytes, a folder, a missing
file, a name too long for the file system) must end in a ``ScenarioError`` whose one problem sits
at ``geography.border`` or ``geography.no_fire_zones[i].polygon`` and names the GeoJSON file, and
through the command line (``validate``, ``run --out DIR``) in that one line on stderr, exit
status 2, no traceback and nothing written. A valid custom border (a rectangle over eastern
Poland) runs end to end, and its border crossings lie on the rectangle's edge. Random polygons
(hypothesis) load exactly when shapely calls them valid, and those that load also run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import shapely
from cli_runner import incursion
from conftest import TINY_SCENARIO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim import cli
from sim.errors import ScenarioError
from sim.geo import load_territory
from sim.loader import load_scenario


def polygon(ring: list[Any]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring]}


def feature_collection(*geometries: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": g} for g in geometries],
    }


def js(doc: Any) -> bytes:
    return json.dumps(doc).encode()  # NaN and inf as the NaN / Infinity that json reads back


# A rectangle over eastern Poland: the tiny scenario's launch point (24.2 E) is outside it, its
# aim point, radar and battery inside.
EAST = [[21.0, 50.0], [23.5, 50.0], [23.5, 54.3], [21.0, 54.3], [21.0, 50.0]]
EAST_EDGE_LON = 23.5
BOW_TIE = [[21.0, 50.0], [23.5, 54.0], [23.5, 50.0], [21.0, 54.0], [21.0, 50.0]]


def _circle(n: int, bad_at: int | None = None) -> list[list[float]]:
    ring = [
        [22.0 + 1.5 * math.cos(2 * math.pi * k / n), 52.0 + math.sin(2 * math.pi * k / n)]
        for k in range(n)
    ]
    if bad_at is not None:
        ring[bad_at] = [math.nan, 52.0]
    return [*ring, ring[0]]


# name -> (file content: bytes, or None for "make a folder", or "missing"; a fragment that the
# message must contain)
BAD: dict[str, tuple[bytes | str | None, str]] = {
    "not-json": (b'{"type": "Polygon", "coordinates": [[[21, 50], [22', "not valid JSON"),
    "empty-file": (b"", "not valid JSON"),
    "json-list": (js([[21, 50], [22, 51], [23, 50]]), "expected a GeoJSON object"),
    "json-no-type": (js({"coordinates": [EAST]}), "expected a GeoJSON object with a 'type'"),
    "unknown-type": (js({"type": "Circle", "radius": 3}), "unknown GeoJSON type 'Circle'"),
    "feature-no-geometry": (js({"type": "Feature", "geometry": None}), "has no geometry"),
    "point": (js({"type": "Point", "coordinates": [22.0, 52.0]}), "found a Point"),
    "linestring": (js(feature_collection({"type": "LineString", "coordinates": EAST})), "found a"),
    "empty-collection": (js({"type": "FeatureCollection", "features": []}), "has no features"),
    "bow-tie": (js(polygon(BOW_TIE)), "intersects itself near lon 22.25, lat 52 (self-"),
    "two-positions": (js(polygon([[21.0, 50.0], [22.0, 51.0]])), "at least 3 distinct"),
    "nan": (js(polygon([[21.0, 50.0], [math.nan, 50.0], [23.0, 54.0], [21.0, 50.0]])), "finite"),
    "inf": (js(polygon([[21.0, 50.0], [23.0, math.inf], [23.0, 54.0], [21.0, 50.0]])), "finite"),
    "overflow": (
        b'{"type":"Polygon","coordinates":[[[21,50],[1e999,50],[23,54],[21,50]]]}',
        "finite",
    ),
    "lon-out-of-range": (js(polygon([[21.0, 50.0], [200.0, 50.0], [23.0, 54.0]])), "outside lon"),
    "lat-out-of-range": (js(polygon([[21.0, 50.0], [22.0, -95.0], [23.0, 54.0]])), "outside lon"),
    "string-coordinate": (js(polygon([[21.0, 50.0], ["22", 50.0], [23.0, 54.0]])), "not a number"),
    "too-many-digits": (
        b'{"type":"Polygon","coordinates":[[[21,50],[2' + b"0" * 5000 + b",50],[23,54],[21,50]]]}",
        "too many digits",
    ),
    "huge-list-one-nan": (js(polygon(_circle(200_000, bad_at=123_456))), "position 123456"),
    "not-utf8": (b'{"type": "Polygon", "name": "Pozna\xf1", "coordinates": []}', "not UTF-8"),
    "utf16": (json.dumps(polygon(EAST)).encode("utf-16"), "not UTF-8"),
    "folder": (None, "is a directory"),
    "missing": ("missing", "not found"),
    "name-too-long": ("long", "too long"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("geo-inputs")
    (d / "geo").mkdir()
    for name, (content, _) in BAD.items():
        path = d / "geo" / f"{name}.geojson"
        if content is None:
            path.mkdir()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        # "missing" and "long": no file
    (d / "geo" / "east.geojson").write_bytes(js(feature_collection(polygon(EAST))))
    for name in [*BAD, "east"]:
        (d / f"border-{name}.yaml").write_text(border_scenario(geo_ref(name)), encoding="utf-8")
        (d / f"zone-{name}.yaml").write_text(zone_scenario(geo_ref(name)), encoding="utf-8")
    return d


def geo_ref(name: str) -> str:
    """The (relative) GeoJSON path a scenario names for a case."""
    if BAD.get(name, (b"",))[0] == "long":
        return "geo/" + "x" * 300 + ".geojson"
    return f"geo/{name}.geojson"


def border_scenario(ref: str) -> str:
    return TINY_SCENARIO.replace("border: poland", f"border: {ref}")


def zone_scenario(ref: str) -> str:
    # A valid circle first, so the index in the field path is checked as well.
    zones = (
        "border: poland\n"
        "  no_fire_zones:\n"
        "    - {name: okecie, lat: 52.17, lon: 20.97, radius_km: 5}\n"
        f"    - {{name: custom, polygon: {ref}}}\n"
    )
    return TINY_SCENARIO.replace("border: poland\n", zones)


WHERE = {"border": "geography.border", "zone": "geography.no_fire_zones[1].polygon"}


def check_message(text: str, scenario: Path, name: str) -> None:
    """One line: the scenario file, its line and column, the field, the GeoJSON file, the why."""
    _, fragment = BAD[name]
    assert "\n" not in text.strip(), text
    assert text.startswith(f"{scenario}:"), text
    assert fragment in text, text
    assert Path(geo_ref(name)).name[:40] in text, text  # names the GeoJSON file
    assert "Traceback" not in text


# ---------------------------------------------------------------------------- the library


@pytest.mark.parametrize("where", sorted(WHERE))
@pytest.mark.parametrize("name", sorted(BAD))
def test_load_scenario(folder: Path, name: str, where: str) -> None:
    scenario = folder / f"{where}-{name}.yaml"
    with pytest.raises(ScenarioError) as exc:
        load_scenario(scenario)
    problems = exc.value.problems
    assert [p.path for p in problems] == [WHERE[where]]
    # Placed at the file name in the scenario.
    lines = scenario.read_text().splitlines()
    row = next(i for i, text in enumerate(lines) if geo_ref(name) in text)
    assert (problems[0].line, problems[0].column) == (row + 1, lines[row].index(geo_ref(name)) + 1)
    check_message(str(exc.value), scenario, name)


# ---------------------------------------------------------------------------- the command line


def test_validate_every_bad_file_at_once(folder: Path) -> None:
    files = [f"{w}-{n}.yaml" for n in sorted(BAD) for w in sorted(WHERE)]
    r = incursion("validate", "border-east.yaml", *files, cwd=folder)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stdout.strip() == "border-east.yaml: ok"
    detail = "border-east.yaml: 5 drones in 1 wave, 2 defenders"
    lines = [ln for ln in r.stderr.strip().split("\n") if ln != detail]
    assert len(lines) == len(files), r.stderr  # one line per file
    for f, text in zip(files, lines, strict=True):
        where, name = f.removesuffix(".yaml").split("-", 1)
        check_message(text, Path(f), name)
        assert f" {WHERE[where]}: " in text


def main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real entry point, in-process: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        cli.main(list(args))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else int(code)), out, err


@pytest.mark.parametrize("where", sorted(WHERE))
@pytest.mark.parametrize("name", sorted(BAD))
def test_run_writes_nothing(
    folder: Path,
    name: str,
    where: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(folder)
    before = sorted(p.name for p in folder.iterdir())
    out = folder / f"out-{where}-{name}"
    code, stdout, stderr = main(
        capsys, "run", f"{where}-{name}.yaml", "-n", "1", "-q", "--out", str(out)
    )
    assert code == 2
    check_message(stderr, Path(f"{where}-{name}.yaml"), name)
    assert stdout == ""
    assert not out.exists()
    assert sorted(p.name for p in folder.iterdir()) == before  # no temporary folder or lock left


@pytest.mark.parametrize("case", ["border-bow-tie", "zone-not-json", "border-folder"])
def test_run_through_the_console_script(folder: Path, case: str) -> None:
    out = folder / f"cli-{case}"
    r = incursion("run", f"{case}.yaml", "-n", "1", "-q", "--out", out.name, cwd=folder)
    assert r.returncode == 2
    check_message(r.stderr, Path(f"{case}.yaml"), case.split("-", 1)[1])
    assert not out.exists()


def test_custom_border_runs_end_to_end(folder: Path) -> None:
    out = folder / "east-run"
    r = incursion("run", "border-east.yaml", "-n", "2", "-q", "--out", out.name, cwd=folder)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replications"] == 2
    assert summary["metrics"]["drones_launched"]["mean"] == 5
    for f in ("map.png", "timeline.png", "report.html", "drones.csv", "shots.csv"):
        assert (out / f).stat().st_size > 0, f
    # The border is the rectangle: every drone, launched east of it and aimed inside it, crosses
    # its east edge (the Polish border proper lies 20-80 km further east at that latitude).
    drones = pd.read_csv(out / "drones.csv")
    assert drones["border_cross_s"].notna().all()
    tracks = json.loads((out / "tracks.geojson").read_text())
    crossings = [
        f["geometry"]["coordinates"]
        for f in tracks["features"]
        if f["properties"]["kind"] == "border_crossing"
    ]
    assert len(crossings) == 5  # replication 0's drones
    for lon, lat in crossings:
        assert abs(lon - EAST_EDGE_LON) < 1e-5, (lon, lat)  # 6 decimals in the file
        assert 50.0 < lat < 54.3
    resolved = (out / "scenario.resolved.yaml").read_text()
    assert "east.geojson" in resolved


def test_huge_valid_border(folder: Path) -> None:
    # 100,000 positions: slow to draw, but a valid polygon all the same.
    (folder / "geo" / "huge-circle.geojson").write_bytes(js(polygon(_circle(100_000))))
    path = folder / "border-huge-circle.yaml"
    path.write_text(border_scenario("geo/huge-circle.geojson"), encoding="utf-8")
    s = load_scenario(path)
    assert s.geography.border.endswith("huge-circle.geojson")
    assert len(load_territory(s.geography.border).exterior.coords) == 100_001


# ---------------------------------------------------------------------------- random polygons

position = st.tuples(
    st.floats(20.0, 24.0, allow_nan=False), st.floats(50.0, 54.5, allow_nan=False)
).map(list)
odd_position = st.sampled_from(
    [[math.nan, 52.0], [22.0, math.inf], [181.0, 52.0], [22.0, 91.0], [22.0], ["22", 52.0], None]
)
rings = st.one_of(
    st.lists(position, min_size=3, max_size=12),
    st.lists(position | odd_position, min_size=0, max_size=8),
    # A convex hull: always valid, so the fuzz also reaches the engine.
    st.lists(position, min_size=3, max_size=12).map(
        lambda ps: (
            [list(c) for c in shapely.MultiPoint(ps).convex_hull.exterior.coords]
            if shapely.MultiPoint(ps).convex_hull.geom_type == "Polygon"
            else ps
        )
    ),
)
RANDOM = {"loaded": 0, "refused": 0}


def shapely_says(ring: list[Any]) -> bool:
    """Whether the ring is a valid polygon by shapely's rules (the oracle)."""
    ok = all(
        isinstance(p, list)
        and len(p) >= 2
        and all(isinstance(v, float | int) and math.isfinite(v) for v in p[:2])
        and -180 <= p[0] <= 180
        and -90 <= p[1] <= 90
        for p in ring
    )
    if not ok:
        return False
    xy = [tuple(p[:2]) for p in ring]
    if xy and xy[0] != xy[-1]:
        xy.append(xy[0])
    if len(xy) < 4:
        return False
    return bool(shapely.Polygon(xy).is_valid)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ring=rings)
def test_random_polygon_border(folder: Path, ring: list[Any]) -> None:
    path = folder / "geo" / "random.geojson"
    path.write_bytes(js(polygon(ring)))
    scenario = folder / "border-random.yaml"
    scenario.write_text(border_scenario("geo/random.geojson"), encoding="utf-8")
    valid = shapely_says(ring)
    try:
        s = load_scenario(scenario)
    except ScenarioError as exc:
        error = exc
    else:
        error = None
    if error is not None:
        assert not valid, (ring, str(error))
        assert [p.path for p in error.problems] == ["geography.border"], str(error)
        assert "\n" not in str(error)
        assert "random.geojson" in str(error)
        RANDOM["refused"] += 1
        return
    assert valid, ring
    territory = load_territory(s.geography.border)
    xy = [tuple(p[:2]) for p in ring]
    assert territory.equals(shapely.Polygon(xy))
    RANDOM["loaded"] += 1
    if RANDOM["loaded"] <= 8:  # run a few: a valid border must also work in the engine
        r = sim.run(s, replications=1, seed=1, workers=1)
        assert len(r.drones) == 5
        assert r.drones["fate"].notna().all()
        for m in ("defender_cost_usd", "attacker_cost_usd"):
            assert math.isfinite(r.summary["metrics"][m]["mean"])


def test_random_polygons_loaded_and_refused() -> None:
    if sum(RANDOM.values()) == 0:
        pytest.skip("run together with test_random_polygon_border")
    assert RANDOM["loaded"] >= 10, RANDOM
    assert RANDOM["refused"] >= 10, RANDOM
