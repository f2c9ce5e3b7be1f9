"""Reading scenario files: every kind of bad input names the file, line, field and expectation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from sim import catalogue as catalogue_mod
from sim.catalogue import catalogue_models, load_catalogue
from sim.errors import IncursionError, Problem, ScenarioError
from sim.loader import (
    MAX_FILE_BYTES,
    dump_resolved_yaml,
    json_schema,
    load_scenario,
    load_scenario_text,
    scenario_to_document,
    set_path,
    with_changes,
)
from sim.scenario import Scenario

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[14.0, 49.0], [24.5, 49.0], [24.5, 55.0], [14.0, 55.0], [14.0, 49.0]]],
}


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line number of the nth line containing ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[nth - 1]


def problems_of(text: str, **kwargs) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, **kwargs)
    assert info.value.problems
    return info.value.problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


# --------------------------------------------------------------------------------------------
# A valid scenario


def test_tiny_scenario_loads(tiny_scenario_path: Path) -> None:
    s = load_scenario(tiny_scenario_path)
    assert isinstance(s, Scenario)
    assert s.name == "tiny"
    assert s.total_drones == 5
    assert [d.name for d in s.defenders] == ["piorun-1", "qra-lask"]
    assert {"piorun", "aim9x"} <= set(s.weapons)
    assert "f16" in s.platforms
    assert s.waves[0].launch_time_min == (0.0, 30.0)


def test_catalogue_fills_in_what_the_file_only_names(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("type: gerbera", "type: shahed136")
    s = load_scenario_text(text)
    cat = load_catalogue()["drone_types"]["shahed136"]
    assert s.drone_types["shahed136"].cost_usd == cat["cost_usd"]
    assert set(s.drone_types["shahed136"].sources) == set(cat["sources"])


def test_override_replaces_one_field_and_its_source(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace(
        "drone_types:\n", "drone_types:\n  shahed136: {cost_usd: 1}\n"
    ).replace("type: gerbera", "type: shahed136")
    s = load_scenario_text(text)
    shahed = s.drone_types["shahed136"]
    cat = load_catalogue()["drone_types"]["shahed136"]
    assert shahed.cost_usd == 1
    assert shahed.speed_kmh == cat["speed_kmh"]
    assert "cost_usd" not in shahed.sources
    assert "speed_kmh" in shahed.sources


def test_anchors_aliases_and_merge_keys_are_plain_yaml(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace(
        "    launch: {lat: 52.9, lon: 24.2}",
        "    launch: &start {lat: 52.9, lon: 24.2}",
    ).replace(
        "sensors:\n",
        "  - <<: {name: south, type: gerbera, count: 1, route: [{lat: 52, lon: 21}]}\n"
        "    launch: *start\n    count: 3\n"
        "sensors:\n",
    )
    s = load_scenario_text(text)
    assert s.waves[1].name == "south"
    assert s.waves[1].count == 3  # the mapping's own key wins over the merged one
    assert s.waves[1].launch == s.waves[0].launch


# --------------------------------------------------------------------------------------------
# Bad input: each kind gives the right path and line


def test_wrong_type(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("count: 5", "count: five")
    p = only(problems_of(text))
    assert p.path == "waves[0].count"
    assert p.line == line_of(text, "count: five")
    assert p.column == len("    count: ") + 1
    assert p.message == "expected an integer, got 'five'"


def test_negative_magazine(tiny_scenario_path: Path) -> None:
    text = tiny_scenario_path.read_text().replace("magazine: 6", "magazine: -3")
    tiny_scenario_path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(tiny_scenario_path)
    p = only(info.value.problems)
    assert p.path == "defenders[0].magazine"
    assert p.line == line_of(text, "magazine: -3")
    assert p.message == "expected an integer >= 0, got -3"
    assert str(info.value) == (
        f"{tiny_scenario_path}:{p.line}:{p.column}: defenders[0].magazine: "
        "expected an integer >= 0, got -3"
    )


def test_unknown_field_is_a_typo(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("magazine: 6", "magazin: 6")
    problems = problems_of(text)
    typo = next(p for p in problems if p.path == "defenders[0].magazin")
    assert typo.line == line_of(text, "magazin: 6")
    assert typo.column == 5  # the key itself
    assert "unknown field 'magazin'" in typo.message
    assert "did you mean 'magazine'?" in typo.message
    assert "allowed: kind, name, weapon" in typo.message
    missing = next(p for p in problems if p.path == "defenders[0].magazine")
    assert "required field is missing" in missing.message


def test_unknown_top_level_field(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("seed: 7", "seeds: 7")
    p = only(problems_of(text))
    assert p.path == "seeds"
    assert p.line == line_of(text, "seeds: 7")
    assert "did you mean 'seed'?" in p.message


def test_unknown_weapon_reference(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("weapon: piorun", "weapon: pioru")
    p = only(problems_of(text))
    assert p.path == "defenders[0].weapon"
    assert p.line == line_of(text, "weapon: pioru")
    assert p.message.startswith("unknown weapon 'pioru' (known: ")


@pytest.mark.parametrize(
    ("old", "new", "path", "own", "builtin"),
    [
        ("type: gerbera", "type: nope", "waves[0].type", "gerbera", ["shahed136", "lancet"]),
        ("weapon: piorun", "weapon: nope", "defenders[0].weapon", "piorun", ["camm", "nasams"]),
        (
            "platform: f16",
            "platform: nope",
            "defenders[1].platform",
            "f16",
            ["f35a", "eurofighter"],
        ),
        ("{aim9x: 2}", "{aim9x: 2, nope: 1}", "defenders[1].loadout.nope", "aim9x", ["aim120c"]),
    ],
)
def test_unknown_id_lists_the_built_in_catalogue_too(
    tiny_scenario_yaml: str, old: str, new: str, path: str, own: str, builtin: list[str]
) -> None:
    # The scenario's own entries and the catalogue's are both what the user can name.
    p = only(problems_of(tiny_scenario_yaml.replace(old, new)))
    assert p.path == path
    known = p.message.split("(known: ", 1)[1].rstrip(")").split(", ")
    assert {own, *builtin} <= set(known)
    assert known == sorted(known)


def test_zero_length_route_is_refused(tiny_scenario_yaml: str) -> None:
    # Every drone would count as leaked at launch, having flown nowhere.
    text = tiny_scenario_yaml.replace(
        "route:\n      - {lat: 52.23, lon: 21.01}",
        "route:\n      - {lat: 52.9, lon: 24.2}\n      - {lat: 52.9, lon: 24.2}",
    )
    p = only(problems_of(text))
    assert p.path == "waves[0].route"
    assert p.line == line_of(text, "route:") + 1  # the list, on the next line
    assert p.message.startswith("the route has zero length: every waypoint is the launch point")
    # Out and back to the launch point is a flight: accepted.
    there_and_back = tiny_scenario_yaml.replace(
        "route:\n      - {lat: 52.23, lon: 21.01}",
        "route:\n      - {lat: 52.23, lon: 21.01}\n      - {lat: 52.9, lon: 24.2}",
    )
    assert load_scenario_text(there_and_back).waves[0].route[-1].lat == 52.9


def test_sensor_active_after_the_run_is_refused(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace(
        "    antenna_height_m: 30", "    antenna_height_m: 30\n    active_h: [10, 20]"
    )
    p = only(problems_of(text))  # duration_h: 4, so it would never switch on
    assert p.path == "sensors[0].active_h"
    assert p.line == line_of(text, "active_h")
    assert "at or after the end of the run (duration_h: 4)" in p.message
    assert "never switch on" in p.message
    at_end = text.replace("active_h: [10, 20]", "active_h: [4, 5]")
    assert only(problems_of(at_end)).path == "sensors[0].active_h"
    before_end = text.replace("active_h: [10, 20]", "active_h: [3.5, 20]")
    assert load_scenario_text(before_end).sensors[0].active_h == (3.5, 20.0)


@pytest.mark.parametrize(("window", "says"), [("[2, 2]", "is empty"), ("[3, 2]", "ends before")])
def test_sensor_active_window_must_have_length(
    tiny_scenario_yaml: str, window: str, says: str
) -> None:
    text = tiny_scenario_yaml.replace(
        "    antenna_height_m: 30", f"    antenna_height_m: 30\n    active_h: {window}"
    )
    p = only(problems_of(text))
    assert p.path == "sensors[0].active_h"
    assert says in p.message
    nearly = text.replace(f"active_h: {window}", "active_h: [2, 2.001]")
    assert load_scenario_text(nearly).sensors[0].active_h == (2.0, 2.001)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [  # the scenario's own type, and a catalogue type it overrides
        ("    endurance_km: 600", "    endurance_km: 600\n    sources: x", "gerbera"),
        ("drone_types:\n", "drone_types:\n  lancet: {sources: x}\n", "lancet"),
    ],
)
def test_sources_that_are_not_a_mapping_are_refused(
    tiny_scenario_yaml: str, old: str, new: str, path: str
) -> None:
    # They were dropped (or replaced by the catalogue's) without a word.
    text = tiny_scenario_yaml.replace(old, new).replace("type: gerbera", f"type: {path}")
    p = only(problems_of(text))
    assert p.path == f"drone_types.{path}.sources"
    assert p.line == line_of(text, "sources: x")
    assert p.message == "expected a mapping, got 'x'"
    # An empty 'sources:' (null) still means no sources of its own.
    empty = text.replace("sources: x", "sources: null")
    assert load_scenario_text(empty).drone_types[path].cost_usd > 0


def test_cross_reference_errors_are_split(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("weapon: piorun", "weapon: pioru").replace(
        "type: gerbera", "type: gerber"
    )
    problems = problems_of(text)
    assert [p.path for p in problems] == ["waves[0].type", "defenders[0].weapon"]
    assert problems[0].line == line_of(text, "type: gerber")
    assert problems[1].line == line_of(text, "weapon: pioru")


def test_name_used_twice_points_at_the_second(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace(
        "sensors:\n",
        "  - {name: north, type: gerbera, count: 1, launch: {lat: 53, lon: 24},"
        " route: [{lat: 52, lon: 21}]}\nsensors:\n",
    )
    p = only(problems_of(text))
    assert p.path == "waves[1].name"
    assert p.line == line_of(text, "name: north", 2)
    assert "'north' is used twice" in p.message


def test_duplicate_key(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("seed: 7", "seed: 7\nseed: 8")
    p = only(problems_of(text))
    assert p.path == "seed"
    assert p.line == line_of(text, "seed: 8")
    assert "duplicate key 'seed'" in p.message
    assert f"first at line {line_of(text, 'seed: 7')}" in p.message


def test_duplicate_key_in_a_list_item(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("magazine: 6", "magazine: 6\n    magazine: 8")
    p = only(problems_of(text))
    assert p.path == "defenders[0].magazine"
    assert p.line == line_of(text, "magazine: 8")


def test_bad_yaml_syntax(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("launch_time_min: [0, 30]", "launch_time_min: [0, 30")
    p = only(problems_of(text, name="bad.yaml"))
    assert p.message.startswith("YAML syntax error: ")
    assert p.line is not None
    assert p.column is not None
    assert line_of(text, "launch_time_min") <= p.line <= line_of(text, "launch_time_min") + 2


def test_tab_indentation(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("seed: 7", "seed: 7\n\tfoo: 1")
    p = only(problems_of(text))
    assert p.line == line_of(text, "\tfoo")
    assert "YAML syntax error" in p.message
    assert "indent with spaces" in p.message


def test_non_utf8_bytes(tmp_path: Path, tiny_scenario_yaml: str) -> None:
    raw = tiny_scenario_yaml.encode().replace(b"Warsaw", b"Warszaw\xea")
    path = tmp_path / "latin1.yaml"
    path.write_bytes(raw)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    p = only(info.value.problems)
    assert "not UTF-8" in p.message
    assert p.line == line_of(tiny_scenario_yaml, "Warsaw")
    assert str(path) in str(info.value)


def test_utf8_bom_is_fine(tmp_path: Path, tiny_scenario_yaml: str) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + tiny_scenario_yaml.encode())
    assert load_scenario(path).name == "tiny"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(text: str) -> None:
    p = only(problems_of(text))
    assert "empty" in p.message


@pytest.mark.parametrize(
    ("text", "kind"), [("- a\n- b\n", "a list"), ("just text\n", "a single value")]
)
def test_top_level_not_a_mapping(text: str, kind: str) -> None:
    p = only(problems_of(text))
    assert p.path == ""
    assert p.line == 1
    assert f"at the top level, got {kind}" in p.message


def test_missing_required_field(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("duration_h: 4\n", "")
    p = only(problems_of(text))
    assert p.path == "duration_h"
    assert p.line == 1  # the top-level mapping
    assert p.message == "required field is missing (expected a number)"


def test_missing_field_in_a_list_item(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("    aircraft: 2\n", "")
    p = only(problems_of(text))
    assert p.path == "defenders[1].aircraft"
    assert p.line == line_of(text, "name: qra-lask")


@pytest.mark.parametrize(
    "tagged",
    [
        '!!python/object/apply:os.system ["touch {marker}"]',
        "!!python/object/new:os.system [touch {marker}]",
        "!!python/name:os.system",
        "!!python/tuple [1, 2]",
        "!!binary aGVsbG8=",
        "!custom 3",
    ],
)
def test_python_tags_are_refused(tmp_path: Path, tiny_scenario_yaml: str, tagged: str) -> None:
    marker = tmp_path / "pwned"
    text = tiny_scenario_yaml.replace("seed: 7", "seed: " + tagged.format(marker=marker))
    p = only(problems_of(text))
    assert p.path == "seed"
    assert p.line == line_of(text, "seed:")
    assert "is not allowed" in p.message
    assert "plain data" in p.message
    assert not marker.exists()


def test_oversize_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"name: x\n" + b"#" * MAX_FILE_BYTES)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    p = only(info.value.problems)
    assert "5 MB" in p.message
    assert "limit" in p.message


def test_oversize_text() -> None:
    assert "limit" in only(problems_of("#" * (MAX_FILE_BYTES + 1))).message


def test_no_such_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "nope.yaml")
    assert "no such file" in str(info.value)


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="folder"):
        load_scenario(tmp_path)


def test_alias_bomb_is_refused() -> None:
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 10)}]")
    p = only(problems_of("\n".join(lines)))
    assert "1,000,000 values" in p.message


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {<<: *a}\n", "a: &a {b: {<<: *a}}\n"])
def test_self_referencing_alias_is_refused(text: str) -> None:
    p = only(problems_of(text))
    assert "levels deep" in p.message


def test_deep_nesting_is_refused() -> None:
    p = only(problems_of("a: " + "[" * 5000 + "]" * 5000 + "\n"))
    assert "levels deep" in p.message
    assert p.line == 1


def test_control_character() -> None:
    p = only(problems_of("name: a\x01b\n"))
    assert "U+0001" in p.message
    assert (p.line, p.column) == (1, 8)


def test_two_documents(tiny_scenario_yaml: str) -> None:
    p = only(problems_of(tiny_scenario_yaml + "---\nname: other\n"))
    assert "more than one YAML document" in p.message


def test_union_alternatives_are_said_once(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("launch_time_min: [0, 30]", "launch_time_min: soon")
    p = only(problems_of(text))
    assert p.path == "waves[0].launch_time_min"
    assert p.message == "expected a number or a list of 2 numbers, got 'soon'"
    text = tiny_scenario_yaml.replace("launch_time_min: [0, 30]", "launch_time_min: [-1, 30]")
    p = only(problems_of(text))
    assert p.path == "waves[0].launch_time_min[0]"
    assert p.message == "expected a number >= 0, got -1"


def test_discriminated_union(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("kind: battery", "kind: sam")
    p = only(problems_of(text))
    assert p.path == "defenders[0].kind"
    assert p.line == line_of(text, "kind: sam")
    assert p.message == "expected 'battery' or 'airbase', got 'sam'"
    # the tag ('airbase') is not part of the path
    text = tiny_scenario_yaml.replace("aircraft: 2", "aircraft: 0")
    assert only(problems_of(text)).path == "defenders[1].aircraft"


def test_text_field_given_a_yaml_boolean(tiny_scenario_yaml: str) -> None:
    p = only(problems_of(tiny_scenario_yaml.replace("name: tiny", "name: no")))
    assert p.path == "name"
    assert "expected text, got false" in p.message
    assert "quotes" in p.message


def test_catalogued_entry_paths(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("speed_kmh: 160", "speed_kmh: fast")
    p = only(problems_of(text))
    assert p.path == "drone_types.gerbera.speed_kmh"
    assert p.line == line_of(text, "speed_kmh: fast")


def test_messages_are_plain_english(tiny_scenario_yaml: str) -> None:
    bad = [
        ("count: 5", "count: 5.5"),
        ("count: 5", "count: .nan"),
        ("count: 5", "count: 100000"),
        ("route:\n      - {lat: 52.23, lon: 21.01}", "route: []"),
        ("loadout: {aim9x: 2}", "loadout: {}"),
        ("lat: 52.2", "lat: 95"),
        ("name: tiny", "name: 'bad name'"),
        ("duration_h: 4", "duration_h: 4\ndoctrine: {assignment: random}"),
        ("duration_h: 4", "duration_h: 4\nstart: someday"),
        ("pk: 0.6", "pk: 1.5"),
        ("min_range_km: 0.5\n    max_range_km: 6.5", "min_range_km: 7\n    max_range_km: 6.5"),
    ]
    for old, new in bad:
        assert old in tiny_scenario_yaml
        for p in problems_of(tiny_scenario_yaml.replace(old, new, 1)):
            assert p.message
            assert "Input should" not in p.message, (new, p)
            assert "Value error" not in p.message, (new, p)
            assert p.line is not None, (new, p)


def test_problems_are_capped(tiny_scenario_yaml: str) -> None:
    routes = ", ".join(["{lat: 1}"] * 120)
    text = tiny_scenario_yaml.replace(
        "route:\n      - {lat: 52.23, lon: 21.01}", f"route: [{routes}]"
    )
    problems = problems_of(text)
    assert len(problems) == 51
    assert problems[-1].message == "... and 70 more problems"


# --------------------------------------------------------------------------------------------
# Files the scenario names


def test_relative_border_resolves_against_the_file(
    tmp_path: Path, tiny_scenario_yaml: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "area.geojson").write_text(json.dumps(SQUARE))
    path = folder / "s.yaml"
    path.write_text(tiny_scenario_yaml.replace("border: poland", "border: area.geojson"))
    monkeypatch.chdir(tmp_path)  # not the scenario's folder
    s = load_scenario(Path("study") / "s.yaml")
    assert Path(s.geography.border) == (folder / "area.geojson").absolute()


def test_missing_border_file(tmp_path: Path, tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("border: poland", "border: missing.geojson")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    p = only(info.value.problems)
    assert p.path == "geography.border"
    assert p.line == line_of(text, "border: missing.geojson")
    assert "missing.geojson" in p.message


def test_unknown_built_in_border(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("border: poland", "border: narnia")
    p = only(problems_of(text))
    assert p.path == "geography.border"
    assert "narnia" in p.message


def test_no_fire_polygon_files(tmp_path: Path, tiny_scenario_yaml: str) -> None:
    (tmp_path / "ok.geojson").write_text(json.dumps(SQUARE))
    (tmp_path / "points.geojson").write_text(json.dumps({"type": "Point", "coordinates": [1, 2]}))
    text = tiny_scenario_yaml.replace(
        "  border: poland\n",
        "  border: poland\n  no_fire_zones:\n"
        "    - {name: a, polygon: ok.geojson}\n"
        "    - {name: b, polygon: points.geojson}\n"
        "    - {name: c, polygon: nowhere.geojson}\n",
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    problems = info.value.problems
    assert [p.path for p in problems] == [
        "geography.no_fire_zones[1].polygon",
        "geography.no_fire_zones[2].polygon",
    ]
    assert problems[0].line == line_of(text, "points.geojson")
    assert problems[1].line == line_of(text, "nowhere.geojson")


def test_unknown_border_name_in_a_file_lists_the_built_in_ones(
    tmp_path: Path, tiny_scenario_yaml: str
) -> None:
    # In a file the name is resolved against its folder first: still say what is built in.
    text = tiny_scenario_yaml.replace("border: poland", "border: atlantis")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    p = only(info.value.problems)
    assert p.path == "geography.border"
    assert p.line == line_of(text, "border: atlantis")
    assert "'atlantis' is not a built-in territory" in p.message
    assert "built-in: poland, germany, czechia" in p.message


#: Poland's no-fire zone with latitude and longitude swapped: lat 20-24, lon 50-54 (GeoJSON
#: positions are [lon, lat]).
SWAPPED = {
    "type": "Polygon",
    "coordinates": [[[50.0, 20.0], [54.0, 20.0], [54.0, 24.0], [50.0, 24.0], [50.0, 20.0]]],
}
ZONE = "geography.no_fire_zones[0]"
FAR = {  # far away, whichever way round
    "type": "Polygon",
    "coordinates": [[[100.0, 20.0], [104.0, 20.0], [104.0, 24.0], [100.0, 24.0], [100.0, 20.0]]],
}


@pytest.mark.parametrize(
    ("zone", "path", "says"),
    [
        ("{name: far, polygon: swapped.geojson}", f"{ZONE}.polygon", "look swapped"),
        ("{name: far, polygon: far.geojson}", f"{ZONE}.polygon", "longitude swapped?"),
        ("{name: far, lat: 21.0, lon: 52.2, radius_km: 25}", ZONE, "look swapped"),
        ("{name: far, lat: 21.0, lon: 102, radius_km: 25}", ZONE, "longitude swapped?"),
    ],
)
def test_no_fire_zone_outside_the_scenario_area_is_refused(
    tmp_path: Path, tiny_scenario_yaml: str, zone: str, path: str, says: str
) -> None:
    # Circles and polygons alike: a zone that cannot stop a shot is a mistake, and it is named.
    (tmp_path / "swapped.geojson").write_text(json.dumps(SWAPPED))
    (tmp_path / "far.geojson").write_text(json.dumps(FAR))
    text = tiny_scenario_yaml.replace(
        "  border: poland\n", f"  border: poland\n  no_fire_zones:\n    - {zone}\n"
    )
    p = only(problems_of(text, base_dir=tmp_path))
    assert p.path == path
    assert p.line == line_of(text, "name: far")
    assert p.message.startswith("the no-fire zone 'far' does not overlap the scenario area")
    assert says in p.message


def test_no_fire_zones_do_not_widen_the_scenario_area(
    tmp_path: Path, tiny_scenario_yaml: str
) -> None:
    # A zone only forbids shots: overlapping the area from outside it, a circle or a polygon is
    # accepted and leaves the area (the box drones exit by) as it is.
    from sim.world import build_world

    east = {
        "type": "Polygon",
        "coordinates": [[[25.0, 52.0], [30.0, 52.0], [30.0, 53.0], [25.0, 53.0], [25.0, 52.0]]],
    }
    (tmp_path / "east.geojson").write_text(json.dumps(east))
    base = build_world(load_scenario_text(tiny_scenario_yaml)).box
    for zone in (
        "{name: east, polygon: east.geojson}",
        "{name: east, lat: 52.5, lon: 28.0, radius_km: 300}",
    ):
        text = tiny_scenario_yaml.replace(
            "  border: poland\n", f"  border: poland\n  no_fire_zones:\n    - {zone}\n"
        )
        assert build_world(load_scenario_text(text, base_dir=tmp_path)).box == base


def test_no_fire_zone_outside_the_area_is_refused_when_built(tiny: Scenario) -> None:
    # Without the loader (a scenario built in code), building its world refuses it too.
    from sim.errors import GeographyError
    from sim.world import build_world

    doc = scenario_to_document(tiny)
    doc["geography"]["no_fire_zones"] = [{"name": "far", "lat": 21.0, "lon": 52.2, "radius_km": 5}]
    with pytest.raises(GeographyError, match=r"no_fire_zones\[0\]: the no-fire zone 'far'"):
        build_world(Scenario.model_validate(doc))


# --------------------------------------------------------------------------------------------
# Writing back out


def test_resolved_yaml_round_trips(tiny_scenario_yaml: str) -> None:
    s = load_scenario_text(tiny_scenario_yaml.replace("type: gerbera", "type: shahed136"))
    text = dump_resolved_yaml(s)
    assert load_scenario_text(text) == s
    doc = yaml.safe_load(text)
    assert doc["doctrine"]["assignment"] == "cheapest"  # defaults are written out
    assert doc["drone_types"]["shahed136"]["sources"]  # and catalogue values with sources


def test_resolved_yaml_keeps_an_explicit_null_override(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("launched_from: [ground]", "launched_from: null")
    s = load_scenario_text(text)
    assert s.weapons["piorun"].launched_from is None
    assert load_scenario_text(dump_resolved_yaml(s)) == s


def test_resolved_yaml_with_start_time_and_file_paths(
    tmp_path: Path, tiny_scenario_yaml: str
) -> None:
    (tmp_path / "area.geojson").write_text(json.dumps(SQUARE))
    text = tiny_scenario_yaml.replace("border: poland", "border: area.geojson").replace(
        "duration_h: 4", "duration_h: 4\nstart: 2025-09-09T23:30:00+02:00"
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    s = load_scenario(path)
    assert s.start is not None
    assert load_scenario_text(dump_resolved_yaml(s)) == s


def test_scenario_to_document_is_json(tiny_scenario_yaml: str) -> None:
    doc = scenario_to_document(load_scenario_text(tiny_scenario_yaml))
    assert json.loads(json.dumps(doc)) == doc
    assert "reload_min" not in doc["defenders"][0]  # unset optional fields are left out


# --------------------------------------------------------------------------------------------
# Changing fields by path


@pytest.fixture
def tiny(tiny_scenario_yaml: str) -> Scenario:
    return load_scenario_text(tiny_scenario_yaml)


def test_with_changes_by_name_and_index(tiny: Scenario) -> None:
    s = with_changes(
        tiny,
        {
            "waves.north.count": 9,
            "defenders.piorun-1.magazine": 12,
            "defenders[1].aircraft": 4,
            "weapons.aim9x.cost_usd": 1.0,
            "doctrine.assignment": "nearest",
            "sensors.0.range_km": 100,
        },
    )
    assert s.waves[0].count == 9
    assert s.defenders[0].magazine == 12
    assert s.defenders[1].aircraft == 4
    assert s.weapons["aim9x"].cost_usd == 1.0
    assert s.doctrine.assignment == "nearest"
    assert s.sensors[0].range_km == 100
    assert tiny.waves[0].count == 5  # the original is unchanged


def test_with_changes_drops_the_source_of_a_changed_number(tiny: Scenario) -> None:
    assert "rcs_m2" in tiny.drone_types["gerbera"].sources  # from the catalogue
    s = with_changes(tiny, {"drone_types.gerbera.rcs_m2": 0.3})
    assert s.drone_types["gerbera"].rcs_m2 == 0.3
    assert "rcs_m2" not in s.drone_types["gerbera"].sources
    assert "damage_usd" in s.drone_types["gerbera"].sources


def test_with_changes_sets_unset_fields_and_new_entries(tiny: Scenario) -> None:
    s = with_changes(
        tiny,
        {"defenders.piorun-1.reload_min": 30, "defenders.qra-lask.loadout.aim120c": 2},
    )
    assert s.defenders[0].reload_min == 30
    assert s.defenders[1].loadout == {"aim9x": 2, "aim120c": 2}
    assert "aim120c" in s.weapons  # filled in from the catalogue


def test_with_changes_new_catalogue_type(tiny: Scenario) -> None:
    s = with_changes(tiny, {"waves.north.type": "shahed136"})
    assert "shahed136" in s.drone_types


def test_with_changes_accepts_numpy_numbers(tiny: Scenario) -> None:
    s = with_changes(tiny, {"waves.north.count": np.int64(7), "weapons.aim9x.pk": np.float32(0.5)})
    assert s.waves[0].count == 7
    assert type(s.waves[0].count) is int
    assert s.weapons["aim9x"].pk == 0.5


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("waves.nort.count", "no 'nort' in waves: it has the items north"),
        ("defenders.piorun-1.magazin", "no 'magazin' in defenders[0]: it has the fields"),
        ("waves.3.count", "no '3' in waves"),
        ("weapons.camm.cost_usd", "no 'camm' in weapons: it has the entries aim9x, piorun"),
        ("name.first", "name is a single value ('tiny')"),
        ("nothing", "no 'nothing' in the top level"),
        ("", "not a field path"),
    ],
)
def test_with_changes_unknown_path(tiny: Scenario, path: str, says: str) -> None:
    with pytest.raises(ScenarioError) as info:
        with_changes(tiny, {path: 1})
    p = only(info.value.problems)
    assert p.path == path
    assert says in p.message


def test_with_changes_invalid_value_names_the_change(tiny: Scenario) -> None:
    with pytest.raises(ScenarioError) as info:
        with_changes(tiny, {"waves.north.count": 2, "defenders.piorun-1.magazine": -1})
    p = only(info.value.problems)
    assert p.path == "defenders.piorun-1.magazine"
    assert "expected an integer >= 0, got -1" in p.message


def test_with_changes_checks_a_changed_border(tiny: Scenario) -> None:
    with pytest.raises(ScenarioError) as info:
        with_changes(tiny, {"geography.border": "narnia"})
    assert only(info.value.problems).path == "geography.border"


@pytest.mark.parametrize(
    ("changes", "path", "says"),
    [
        # one field, two spellings (piorun-1 is defenders[0]): the later used to win, silently
        (
            {"defenders.piorun-1.magazine": 4, "defenders.0.magazine": 8},
            "defenders.0.magazine",
            "'defenders.0.magazine' sets defenders[0].magazine, as 'defenders.piorun-1.magazine' "
            "does: one would overwrite the other",
        ),
        (
            {"defenders[0].magazine": 4, "defenders.piorun-1.magazine": 8},
            "defenders.piorun-1.magazine",
            "as 'defenders[0].magazine' does",
        ),
        # a field, and the whole item that holds it
        (
            {
                "sensors.radar-east.p_detect": 0.5,
                "sensors.0": {"name": "r", "lat": 52.0, "lon": 22.0, "range_km": 100},
            },
            "sensors.0",
            "'sensors.0' sets the whole sensors[0], of which 'sensors.radar-east.p_detect' sets "
            "sensors[0].p_detect",
        ),
        (
            {"defenders.qra-lask": {}, "defenders.1.loadout.aim9x": 3},
            "defenders.1.loadout.aim9x",
            "'defenders.1.loadout.aim9x' sets defenders[1].loadout.aim9x, which is part of "
            "defenders[1], set whole by 'defenders.qra-lask'",
        ),
    ],
)
def test_with_changes_refuses_two_paths_to_one_field(
    tiny: Scenario, changes: dict[str, Any], path: str, says: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        with_changes(tiny, changes)
    p = only(info.value.problems)
    assert p.path == path
    assert says in p.message


def test_with_changes_paths_name_fields_of_the_scenario_as_given(tiny: Scenario) -> None:
    # A rename and a change of the renamed item: both paths are read in the scenario given.
    s = with_changes(tiny, {"defenders.piorun-1.name": "p2", "defenders.piorun-1.magazine": 3})
    assert (s.defenders[0].name, s.defenders[0].magazine) == ("p2", 3)
    with pytest.raises(ScenarioError, match="no 'p2' in defenders"):
        with_changes(tiny, {"defenders.piorun-1.name": "p2", "defenders.p2.magazine": 3})


def test_a_digit_name_that_is_another_items_index_is_ambiguous(tiny_scenario_yaml: str) -> None:
    # The first defender is named "1"; defenders.1 used to mean it, not defenders[1].
    s = load_scenario_text(tiny_scenario_yaml.replace("name: piorun-1", 'name: "1"'))
    with pytest.raises(ScenarioError) as info:
        s.with_changes({"defenders.1.magazine": 3})
    p = only(info.value.problems)
    assert p.path == "defenders.1.magazine"
    assert p.message == (
        "'1' in defenders is ambiguous: it is the name of defenders[0] and the index of "
        "defenders[1] (named 'qra-lask'): write defenders.qra-lask for defenders[1], or "
        "defenders[0] for the item named '1'"
    )
    doc = scenario_to_document(s)
    with pytest.raises(ScenarioError, match="is ambiguous"):
        set_path(doc, "defenders.1.aircraft", 3)
    # What the message offers works; so does the index of an item that bears no digit name.
    assert s.with_changes({"defenders[0].magazine": 3}).defenders[0].magazine == 3
    assert s.with_changes({"defenders.qra-lask.aircraft": 3}).defenders[1].aircraft == 3
    assert s.with_changes({"defenders[1].aircraft": 3}).defenders[1].aircraft == 3
    assert s.with_changes({"defenders.0.magazine": 3}).defenders[0].magazine == 3
    # A digit name that is its own item's index, or beyond the list, is not ambiguous.
    own = load_scenario_text(tiny_scenario_yaml.replace("name: qra-lask", 'name: "1"'))
    assert own.with_changes({"defenders.1.aircraft": 3}).defenders[1].aircraft == 3
    far = load_scenario_text(tiny_scenario_yaml.replace("name: piorun-1", 'name: "7"'))
    assert far.with_changes({"defenders.7.magazine": 3}).defenders[0].magazine == 3


def test_set_path_in_place(tiny: Scenario) -> None:
    doc = scenario_to_document(tiny)
    assert set_path(doc, "waves.north.route_spread_km", 3) is None
    assert doc["waves"][0]["route_spread_km"] == 3
    set_path(doc, "defenders[0].channels", 2)
    assert doc["defenders"][0]["channels"] == 2


# --------------------------------------------------------------------------------------------
# JSON Schema


def test_json_schema() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"]
    assert {"waves", "defenders", "drone_types", "weapons", "platforms"} <= set(
        schema["properties"]
    )
    for name in ("DroneType", "Weapon", "Platform"):
        assert "required" not in schema["$defs"][name]
    assert "required" in schema["$defs"]["Wave"]
    json.dumps(schema)


# --------------------------------------------------------------------------------------------
# The catalogue


def test_catalogue_is_a_fresh_copy() -> None:
    cat = load_catalogue()
    cat["drone_types"]["gerbera"]["cost_usd"] = -1
    cat["weapons"].clear()
    again = load_catalogue()
    assert again["drone_types"]["gerbera"]["cost_usd"] > 0
    assert "aim9x" in again["weapons"]


def test_catalogue_models_validate() -> None:
    drones, weapons, platforms = catalogue_models()
    assert {"gerbera", "shahed136"} <= set(drones)
    assert {"aim9x", "piorun"} <= set(weapons)
    assert "f16" in platforms


def test_broken_catalogue_names_the_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "catalogue.yaml").write_text(
        "drone_types:\n  bad:\n    speed_kmh: -1\n    altitude_m: 1\n"
        "    cost_usd: 1\n    endurance_km: 1\nweapons: {}\nplatforms:\n"
    )
    monkeypatch.setattr(catalogue_mod, "seeds_dir", lambda: tmp_path)
    catalogue_mod._raw.cache_clear()
    catalogue_mod._models.cache_clear()
    try:
        with pytest.raises(IncursionError, match=r"drone_types\.bad.*speed_kmh"):
            catalogue_models()
    finally:
        catalogue_mod._raw.cache_clear()
        catalogue_mod._models.cache_clear()


# --------------------------------------------------------------------------------------------
# Types are taken as YAML gives them (strict mode): no text for numbers, no true/false for
# numbers, no numbers or text for true/false


_DOCTRINE = "\ndoctrine:\n  {}\n"


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        ("count: 5", 'count: "3"', "waves[0].count", "expected an integer, got '3'"),
        ("seed: 7", "seed: true", "seed", "expected an integer, got true"),
        ("seed: 7", 'seed: "5"', "seed", "expected an integer, got '5'"),
        ("seed: 7", 'seed: 7\nreplications: "2"', "replications", "expected an integer, got '2'"),
        ("magazine: 6", "magazine: 6.0", "defenders[0].magazine", "expected an integer, got 6.0"),
        (
            "cost_usd: 15000",
            'cost_usd: "1e4"',
            "drone_types.gerbera.cost_usd",
            "expected a number, got '1e4'",
        ),
        ("range_km: 250", "range_km: true", "sensors[0].range_km", "expected a number, got true"),
        ("lat: 52.2\n", 'lat: "52.2"\n', "sensors[0].lat", "expected a number, got '52.2'"),
        (
            "loadout: {aim9x: 2}",
            'loadout: {aim9x: "2"}',
            "defenders[1].loadout.aim9x",
            "expected an integer, got '2'",
        ),
        (
            "launch_time_min: [0, 30]",
            'launch_time_min: [0, "30"]',
            "waves[0].launch_time_min[1]",
            "expected a number, got '30'",
        ),
        ("", 'shoot_look_shoot: "yes"', "doctrine.shoot_look_shoot", "expected true or false"),
        ("", "shoot_look_shoot: 1", "doctrine.shoot_look_shoot", "expected true or false, got 1"),
        (
            "",
            "engage_only_inside_border: 0",
            "doctrine.engage_only_inside_border",
            "expected true or false, got 0",
        ),
        ("seed: 7", "seed: 7\nstart: 5", "start", "expected a date and time"),
    ],
)
def test_wrong_scalar_types_are_not_converted(
    tiny_scenario_yaml: str, old: str, new: str, path: str, message: str
) -> None:
    if old:
        assert old in tiny_scenario_yaml
        text = tiny_scenario_yaml.replace(old, new, 1)
    else:
        text = tiny_scenario_yaml + _DOCTRINE.format(new)
    p = only(problems_of(text))
    assert p.path == path
    assert p.line == line_of(text, new.splitlines()[-1])
    assert message in p.message


def test_quoted_number_says_to_drop_the_quotes(tiny_scenario_yaml: str) -> None:
    p = only(problems_of(tiny_scenario_yaml.replace("count: 5", 'count: "3"')))
    assert p.message == "expected an integer, got '3' (write the number without quotes)"
    p = only(problems_of(tiny_scenario_yaml + _DOCTRINE.format('shoot_look_shoot: "yes"')))
    assert p.message == "expected true or false, got 'yes' (write true or false without quotes)"


def test_integers_for_numbers_and_times_still_load(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace("seed: 7", "seed: 7\nstart: 2025-09-09T23:30:00+02:00")
    text += _DOCTRINE.format("shoot_look_shoot: false")
    s = load_scenario_text(text.replace("cost_usd: 15000", "cost_usd: 1000"))
    assert s.drone_types["gerbera"].cost_usd == 1000.0
    assert isinstance(s.drone_types["gerbera"].cost_usd, float)
    assert s.start is not None
    assert s.start.utcoffset() is not None
    assert s.doctrine.shoot_look_shoot is False
    quoted = text.replace("start: 2025-09-09T23:30:00+02:00", 'start: "2025-09-09T23:30:00+02:00"')
    assert load_scenario_text(quoted).start == s.start
    assert load_scenario_text(dump_resolved_yaml(s)) == s  # times written back as text


def test_with_changes_keeps_the_types_strict(tiny: Scenario) -> None:
    changed = with_changes(
        tiny, {"waves.north.count": np.int64(3), "weapons.piorun.cost_usd": 1000}
    )
    assert changed.waves[0].count == 3
    assert changed.weapons["piorun"].cost_usd == 1000.0
    with pytest.raises(ScenarioError, match="expected an integer, got '3'"):
        with_changes(tiny, {"waves.north.count": "3"})
    with pytest.raises(ScenarioError, match="expected true or false, got 1"):
        with_changes(tiny, {"doctrine.shoot_look_shoot": 1})


def test_schema_still_says_number_and_boolean() -> None:
    props = json_schema()["$defs"]
    assert props["Doctrine"]["properties"]["shoot_look_shoot"]["type"] == "boolean"
    assert props["Wave"]["properties"]["count"]["type"] == "integer"


# --------------------------------------------------------------------------------------------
# Names: letters, digits, '-' and '_' in any position


@pytest.mark.parametrize("name", ["_abc", "-abc", "abc_", "a-", "_", "__init__", "'007'"])
@pytest.mark.parametrize(
    "old",
    ["name: tiny", "name: north", "name: radar-east", "name: piorun-1", "name: qra-lask"],
)
def test_names_of_letters_digits_dash_underscore(
    tiny_scenario_yaml: str, old: str, name: str
) -> None:
    s = load_scenario_text(tiny_scenario_yaml.replace(old, f"name: {name}"))
    names = [s.name, s.waves[0].name, s.sensors[0].name, *(d.name for d in s.defenders)]
    assert name.strip("'") in names


def test_area_and_zone_names_follow_the_same_rule(tiny_scenario_yaml: str) -> None:
    text = tiny_scenario_yaml.replace(
        "geography:\n  border: poland\n",
        "geography:\n  border: poland\n  no_fire_zones:\n"
        "    - {name: _warsaw, lat: 52.23, lon: 21.01, radius_km: 25}\n",
    )
    text += "\nelectronic_warfare:\n  - {name: -jam, lat: 52.1, lon: 24.2, radius_km: 60}\n"
    s = load_scenario_text(text)
    assert s.geography.no_fire_zones[0].name == "_warsaw"
    assert s.electronic_warfare[0].name == "-jam"


@pytest.mark.parametrize("name", ['"a.b"', '"a b"', '"wave/1"', '""', "x" * 101])
def test_other_names_are_refused(tiny_scenario_yaml: str, name: str) -> None:
    p = only(problems_of(tiny_scenario_yaml.replace("name: north", f"name: {name}")))
    assert p.path == "waves[0].name"
    if name != '""' and len(name) <= 100:
        assert "a name of ASCII letters (a-z, A-Z), digits, '-' and '_'," in p.message
        assert "starting with" not in p.message


# --------------------------------------------------------------------------------------------
# A tag on the whole document is named like a tag on one field


@pytest.mark.parametrize(
    "text",
    [
        '!!python/object/apply:os.system ["touch {marker}"]\n',
        "!!python/object/apply:os.system\nargs: [touch {marker}]\n",
        "!!python/name:os.system\n",
        "!custom [1, 2]\n",
    ],
)
def test_tag_on_the_whole_document_is_named(tmp_path: Path, text: str) -> None:
    marker = tmp_path / "pwned"
    p = only(problems_of(text.format(marker=marker)))
    assert p.line == 1
    assert p.column == 1
    tag = text.split()[0]
    assert p.message.startswith(f"the YAML tag {tag} is not allowed: only plain data")
    assert "got a list" not in p.message
    assert not marker.exists()


def test_validation_reads_the_shared_catalogue_and_never_changes_it() -> None:
    # Validation merges the catalogue without copying it first (a sweep validates every point):
    # scenarios that override catalogue entries, sources included, must leave it as loaded.
    from sim.catalogue import shared_catalogue

    before = json.dumps(shared_catalogue(), sort_keys=True, default=str)
    root = Path(__file__).resolve().parent.parent
    for name in ("poland-2025-09-10", "poland-cheap-layer", "poland-european-kit"):
        s = load_scenario(root / "scenarios" / f"{name}.yaml")
        weapon = next(iter(s.weapons))
        s.with_changes({f"weapons.{weapon}.pk": 0.123, f"weapons.{weapon}.cost_usd": 7.0})
    assert json.dumps(shared_catalogue(), sort_keys=True, default=str) == before
    assert shared_catalogue() == load_catalogue()
