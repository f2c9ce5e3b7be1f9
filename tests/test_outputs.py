"""The run folder's added files: tracks.geojson, map.png, timeline.png and report.html.

A tiny scenario built in code (five drones from Belarus due west towards Warsaw, one radar, one
battery on the route, one airbase of fighters, a no-fire zone and a jamming area) runs three
replications once per module; the files are checked against the run's own tables, read back with
independent readers (pyogrio/GDAL, json + shapely, html.parser, matplotlib's PNG reader).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import yaml

import sim
from sim.errors import IncursionError
from sim.geo import builtin_countries
from sim.report import _intervals_note, format_value
from sim.scenario import Scenario

PICTURES = ("tracks.geojson", "map.png", "timeline.png", "report.html")
TABLES = ("drones", "shots", "sorties")

#: Launch (lat, lon) in Belarus and aim point east of Warsaw; the border is crossed near 23.4 E.
LAUNCH = (52.2, 24.5)
AIM = (52.2, 21.5)


def raid_document(aim: tuple[float, float] = AIM) -> dict[str, Any]:
    """The tiny scenario as a plain document (every type, weapon and platform inline)."""
    return copy.deepcopy(
        {
            "name": "tiny-raid",
            "description": "Five decoys <b>west</b> & 'quoted' \"text\" to check escaping.",
            "seed": 11,
            "replications": 3,
            "duration_h": 4,
            "start": "2025-09-09T23:30:00+02:00",
            "geography": {
                "border": "poland",
                "no_fire_zones": [{"name": "warsaw", "lat": 52.23, "lon": 21.01, "radius_km": 20}],
            },
            "drone_types": {
                "decoy": {
                    "speed_kmh": 150,
                    "altitude_m": 500,
                    "cost_usd": 20_000,
                    "endurance_km": 600,
                }
            },
            "waves": [
                {
                    "name": "east",
                    "type": "decoy",
                    "count": 5,
                    "launch": {"lat": LAUNCH[0], "lon": LAUNCH[1]},
                    "launch_time_min": [0, 20],
                    "route": [{"lat": aim[0], "lon": aim[1]}],
                    "route_spread_km": 4,
                }
            ],
            "electronic_warfare": [
                {
                    "name": "jam",
                    "lat": 52.2,
                    "lon": 24.05,
                    "radius_km": 15,
                    "divert_probability": 0.2,
                }
            ],
            "sensors": [
                {
                    "name": "radar",
                    "lat": 52.2,
                    "lon": 22.6,
                    "range_km": 200,
                    "antenna_height_m": 30,
                    "scan_s": 10,
                    "p_detect": 0.9,
                }
            ],
            "defenders": [
                {
                    "kind": "battery",
                    "name": "bat-1",
                    "weapon": "sam",
                    "lat": 52.2,
                    "lon": 22.6,
                    "magazine": 3,
                    "channels": 2,
                },
                {
                    "kind": "airbase",
                    "name": "qra",
                    "platform": "fighter",
                    "lat": 52.17,
                    "lon": 21.66,
                    "aircraft": 2,
                    "scramble_min": 10,
                    "loadout": {"aam": 2},
                },
            ],
            "weapons": {
                "sam": {
                    "cost_usd": 100_000,
                    "pk": 0.7,
                    "max_range_km": 30,
                    "max_altitude_m": 10_000,
                    "speed_mps": 1000,
                    "launched_from": ["ground"],
                },
                "aam": {
                    "cost_usd": 450_000,
                    "pk": 0.8,
                    "min_range_km": 1,
                    "max_range_km": 20,
                    "max_altitude_m": 20_000,
                    "speed_mps": 900,
                    "launched_from": ["fighter"],
                },
            },
            "platforms": {
                "fighter": {"cruise_kmh": 850, "cost_per_flight_hour_usd": 27_000, "endurance_h": 2}
            },
        }
    )


def raid(aim: tuple[float, float] = AIM) -> Scenario:
    """The tiny scenario, validated."""
    return Scenario.model_validate(raid_document(aim))


@pytest.fixture(scope="module")
def result() -> sim.RunResult:
    return sim.run(raid(), replications=3, workers=1)


@pytest.fixture(scope="module")
def folder(result: sim.RunResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return result.to_dir(tmp_path_factory.mktemp("out") / "run", map_replication=1)


def _leftovers(parent: Path) -> list[str]:
    """Temporary or replaced folders left beside a run folder."""
    return [p.name for p in parent.iterdir() if p.name.endswith((".tmp", ".old"))]


def _rep(frame: Any, k: int) -> Any:
    return frame[frame["replication"] == k]


# ------------------------------------------------------------------------------ folder


def test_folder_has_every_file(folder: Path) -> None:
    names = {p.name for p in folder.iterdir()}
    expected = {"summary.json", "scenario.resolved.yaml", *PICTURES}
    expected |= {f"{t}.{ext}" for t in TABLES for ext in ("csv", "parquet")}
    assert names == expected
    # nothing left behind beside it (temporary or old folders)
    assert _leftovers(folder.parent) == []


def test_folder_is_not_private(folder: Path) -> None:
    mask = os.umask(0)
    os.umask(mask)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~mask


def test_the_scenario_is_big_enough_to_show_something(result: sim.RunResult) -> None:
    # The checks below mean something only if the run has kills and border crossings.
    assert result.shots["hit"].sum() > 0
    assert result.drones["border_cross_s"].notna().sum() > 0


def test_bad_map_replication_writes_nothing(result: sim.RunResult, tmp_path: Path) -> None:
    for bad in (3, -1):
        with pytest.raises(IncursionError, match="replication"):
            result.to_dir(tmp_path / "run", map_replication=bad)
    assert not (tmp_path / "run").exists()
    assert _leftovers(tmp_path) == []


def test_plotting_error_leaves_no_half_folder(
    result: sim.RunResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sim.plots

    old = result.to_dir(tmp_path / "run", fmt="csv")
    before = {p.name: p.read_bytes() for p in old.iterdir()}

    def broken(*_args: Any, **_kw: Any) -> Any:
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(sim.plots, "plot_timeline", broken)
    with pytest.raises(RuntimeError, match="plotting failed"):
        result.to_dir(tmp_path / "run", map_replication=2)
    with pytest.raises(RuntimeError, match="plotting failed"):
        result.to_dir(tmp_path / "new")
    # the earlier run is untouched, no new folder, no temporary left behind
    assert not (tmp_path / "new").exists()
    assert _leftovers(tmp_path) == []
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before


def test_folder_with_other_files_is_not_replaced(result: sim.RunResult, tmp_path: Path) -> None:
    # A user's file in the folder would go with the old run: refuse, and keep everything.
    old = result.to_dir(tmp_path / "run", fmt="csv")
    (old / "notes.txt").write_text("mine")
    with pytest.raises(IncursionError, match=r"notes\.txt"):
        result.to_dir(tmp_path / "run")
    assert (old / "notes.txt").read_text() == "mine"
    assert (old / "summary.json").exists()
    # a summary.json that is not a run's does not make a folder a run folder
    other = tmp_path / "other"
    other.mkdir()
    (other / "summary.json").write_text("{}")
    with pytest.raises(IncursionError, match="not a run folder"):
        result.to_dir(other)
    assert (other / "summary.json").read_text() == "{}"
    # a run folder holding only a run's files is replaced, as before
    (old / "notes.txt").unlink()
    result.to_dir(tmp_path / "run", fmt="csv")
    assert _leftovers(tmp_path) == []


def test_resolved_scenario_records_the_seed_and_count_that_ran(tmp_path: Path) -> None:
    s = raid()
    r = sim.run(s, replications=2, seed=7, workers=1)
    assert (s.seed, s.replications) != (7, 2)
    out = r.to_dir(tmp_path / "run")
    again = sim.load_scenario(out / "scenario.resolved.yaml")
    assert (again.seed, again.replications) == (7, 2)
    assert sim.run(again, workers=1).summary == r.summary


# ----------------------------------------------------------------------------- geojson


def test_geojson_round_trips_through_gdal(result: sim.RunResult, folder: Path) -> None:
    pyogrio = pytest.importorskip("pyogrio")
    k = 1
    drones, shots = _rep(result.drones, k), _rep(result.shots, k)
    n_kills = int(shots["hit"].sum())
    n_cross = int(drones["border_cross_s"].notna().sum())
    meta, _fids, geometry, fields = pyogrio.raw.read(folder / "tracks.geojson")
    assert len(geometry) == len(drones) + n_kills + n_cross
    cols = dict(zip(meta["fields"], fields, strict=True))
    kinds = list(cols["kind"])
    assert kinds.count("track") == len(drones)
    assert kinds.count("kill") == n_kills
    assert kinds.count("border_crossing") == n_cross
    assert set(cols["replication"]) == {k}
    geoms = shapely.from_wkb(geometry)
    types = shapely.get_type_id(geoms)
    assert (types[np.array(kinds) == "track"] == 1).all()  # LineString
    assert (types[np.array(kinds) != "track"] == 0).all()  # Point
    xy = shapely.get_coordinates(geoms)
    assert ((xy[:, 0] > 19) & (xy[:, 0] < 26) & (xy[:, 1] > 50) & (xy[:, 1] < 54)).all()


def test_geojson_is_rfc7946_and_matches_the_tables(result: sim.RunResult, folder: Path) -> None:
    doc = json.loads((folder / "tracks.geojson").read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc  # RFC 7946: WGS84 lon/lat only
    drones = _rep(result.drones, 1).set_index("drone")
    kills = _rep(result.shots, 1)
    kills = kills[kills["hit"]]
    seen_kills = 0
    poland_boundary = builtin_countries()["poland"].boundary
    for f in doc["features"]:
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.is_valid
        p = f["properties"]
        if p["kind"] == "track":
            row = drones.loc[p["drone"]]
            assert p["fate"] == row["fate"]
            assert p["wave"] == "east"
            assert p["type"] == "decoy"
            assert p["cost_usd"] == 20_000
            assert p["fate_s"] == pytest.approx(row["fate_s"])
            assert p["killed_by"] == (row["killed_by"] or None)
            assert p["weapon"] == (row["killed_by_weapon"] or None)
            # the track starts at the launch point and ends where the drone's fate was recorded
            lon, lat = geom.coords[0]
            assert (lat, lon) == pytest.approx(LAUNCH, abs=1e-6)
            lon, lat = geom.coords[-1]
            assert (lat, lon) == pytest.approx((row["fate_lat"], row["fate_lon"]), abs=2e-6)
        elif p["kind"] == "kill":
            seen_kills += 1
            shot = kills[(kills["drone"] == p["drone"])].iloc[0]
            assert p["weapon"] == shot["weapon"]
            assert p["defender"] == shot["defender"]
            assert p["cost_usd"] == shot["cost_usd"]
            assert p["time_s"] == pytest.approx(shot["impact_s"])
            assert (geom.y, geom.x) == pytest.approx((shot["lat"], shot["lon"]), abs=2e-6)
        else:
            assert p["kind"] == "border_crossing"
            assert p["time_s"] == pytest.approx(drones.loc[p["drone"], "border_cross_s"])
            # on the Polish border
            assert poland_boundary.distance(geom) < 2e-3
    assert seen_kills == len(kills)


# ------------------------------------------------------------------------------ report


class _TagCounter(HTMLParser):
    VOID = frozenset(
        "area base br col embed hr img input link meta source track wbr".split()  # noqa: SIM905
    )

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src") or "")
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key] or "")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def report(folder: Path) -> tuple[str, _TagCounter]:
    page = (folder / "report.html").read_text(encoding="utf-8")
    parser = _TagCounter()
    parser.feed(page)
    parser.close()
    return page, parser


def test_report_is_well_formed(report: tuple[str, _TagCounter]) -> None:
    page, p = report
    assert page.startswith("<!DOCTYPE html>")
    assert p.errors == []
    assert p.stack == []
    for tag in ("html", "head", "body", "title", "style", "h1", "table", "img"):
        assert p.counts.get(tag, 0) >= 1, tag
    assert p.counts["table"] >= 3  # summary, by weapon, by defender


def test_report_embeds_both_pictures(folder: Path, report: tuple[str, _TagCounter]) -> None:
    _page, p = report
    assert len(p.images) == 2
    prefix = "data:image/png;base64,"
    assert all(src.startswith(prefix) for src in p.images)
    embedded = {base64.b64decode(src[len(prefix) :]) for src in p.images}
    assert embedded == {(folder / "map.png").read_bytes(), (folder / "timeline.png").read_bytes()}


def test_report_needs_no_network(report: tuple[str, _TagCounter]) -> None:
    page, p = report
    assert not [u for u in p.links if "://" in u or u.startswith("//")]
    assert "@import" not in page
    assert "<script" not in page


def test_report_shows_the_summary(result: sim.RunResult, report: tuple[str, _TagCounter]) -> None:
    _page, p = report
    text = " ".join(p.text)
    m = result.summary["metrics"]
    assert f"{m['cost_exchange_ratio']['mean']:,.2f}" in text
    assert f"${m['defender_cost_usd']['mean']:,.0f}" in text
    assert f"${m['attacker_cost_usd']['mean']:,.0f}" in text
    assert f"{m['drones_launched']['mean']:,.2f}" in text
    for name, entry in m.items():
        if entry["mean"] is None:
            continue
        kind = "usd" if name.endswith("_usd") else None
        if kind:
            assert format_value(kind, entry["mean"]) in text, name
    for name in ("sam", "aam", "bat-1", "qra"):
        assert name in text
    assert "seed" in text
    assert str(result.seed) in text
    assert "tiny-raid" in text


def test_report_says_how_each_engine_computes_its_intervals(
    report: tuple[str, _TagCounter],
) -> None:
    # The footer follows sim/metrics.py: the expanded percentile bootstrap for the ratios, and
    # cluster-robust intervals when the vectorised engine drew its replications by cluster.
    text = " ".join(report[1].text)
    assert "Summary over 3 replications" in text
    assert "bootstrap (expanded percentile)" in text
    assert "Student-t" in text
    note = _intervals_note({"engine": "vectorised", "clusters": 32})
    assert "cluster-robust" in note
    assert "Student-t" not in note


def test_report_escapes_scenario_text(report: tuple[str, _TagCounter]) -> None:
    page, p = report
    assert "<b>west</b>" not in page
    assert "&lt;b&gt;west&lt;/b&gt; &amp; &#x27;quoted&#x27; &quot;text&quot;" in page
    assert "Five decoys <b>west</b> & 'quoted' \"text\"" in " ".join(p.text)


# --------------------------------------------------------------------------------- CLI


def test_cli_writes_every_file(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(yaml.safe_dump(raid_document(), sort_keys=False), encoding="utf-8")
    out = tmp_path / "out"
    args = [sys.executable, "-m", "sim", "run", str(scenario), "--out", str(out)]
    done = subprocess.run(
        [*args, "--map-replication", "1", "-n", "3", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    names = {p.name for p in out.iterdir()}
    assert set(PICTURES) <= names
    assert {"summary.json", "drones.csv", "drones.parquet"} <= names
    doc = json.loads((out / "tracks.geojson").read_text(encoding="utf-8"))
    assert {f["properties"]["replication"] for f in doc["features"]} == {1}
    # a replication the run does not have is refused before running, and nothing is written
    bad = subprocess.run(
        [*args[:-1], str(tmp_path / "bad"), "--map-replication", "3", "-n", "3", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "--map-replication" in bad.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("replications", "the replications asked for"),
        (
            "ci: 95 % interval width 4.87% of the mean < 5.00%",
            "the interval is narrow enough (95 %",
        ),
        (
            "max_replications: 30 reached with interval width 12.30% of the mean",
            "--max-replications reached (interval width 12.30% of the mean)",
        ),
    ],
)
def test_stop_reason_in_words(reason: str, words: str) -> None:
    from sim.results import stop_in_words

    assert stop_in_words(reason).startswith(words)
