"""Every number in ``seeds/`` carries its source, and the catalogue's values are sane.

Pure YAML checks: this file does not import the simulator, so it guards the data on its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
CATALOGUE_PATH = SEEDS / "catalogue.yaml"
INCIDENT_PATHS = sorted((SEEDS / "incidents").glob("*.yaml"))

YEAR_MIN, YEAR_MAX = 1990, 2026
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
SOURCE_KEYS = {"source", "year", "estimate", "range", "note"}
COMMON_KEYS = {"label", "country", "sources"}

# Fields per section: (required numeric, optional numeric, other allowed keys).
SECTIONS: dict[str, tuple[set[str], set[str], set[str]]] = {
    "drone_types": (
        {"speed_kmh", "altitude_m", "cost_usd", "endurance_km", "damage_usd"},
        {"rcs_m2"},
        set(),
    ),
    "weapons": (
        {"cost_usd", "pk", "min_range_km", "max_range_km", "max_altitude_m", "speed_mps"},
        {"min_altitude_m"},
        {"launched_from"},
    ),
    "platforms": (
        {"cruise_kmh", "cost_per_flight_hour_usd", "endurance_h"},
        set(),
        set(),
    ),
}
# Numeric fields that may be zero (an unarmed decoy does no damage; a weapon's floor).
MAY_BE_ZERO = {"damage_usd", "min_altitude_m", "min_range_km"}

REQUIRED_IDS = {
    "drone_types": {"gerbera", "shahed136", "geran3", "lancet"},
    "weapons": {
        "aim9x",
        "aim120c",
        "iris_t",
        "pac3_mse",
        "pac2_gemt",
        "iris_t_slm",
        "nasams",
        "camm",
        "piorun",
        "stinger",
        "gun35",
        "apkws",
        "interceptor_drone",
    },
    "platforms": {"f35a", "f16", "eurofighter", "helicopter", "aew"},
}

# Poland, roughly: lat 49-55, lon 14-24.2.
POLAND_LAT = (49.0, 55.0)
POLAND_LON = (14.0, 24.2)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


CATALOGUE: dict[str, Any] = _load(CATALOGUE_PATH)
INCIDENTS: dict[str, Any] = {path.name: _load(path) for path in INCIDENT_PATHS}


def _entries() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (section, entry_id, entry)
        for section in SECTIONS
        for entry_id, entry in (CATALOGUE.get(section) or {}).items()
    ]


ENTRIES = _entries()
ENTRY_IDS = [f"{section}.{entry_id}" for section, entry_id, _ in ENTRIES]


def _numeric_fields(entry: dict[str, Any]) -> dict[str, float]:
    return {key: value for key, value in entry.items() if _is_number(value)}


def _check_source(
    where: str, src: Any, value: float | None = None, *, only_source_keys: bool = True
) -> None:
    """Assert that ``src`` is a well-formed source record (and that its range holds ``value``).

    A catalogue source entry holds only source keys; an incident mapping also holds the numbers
    it describes (``only_source_keys=False``).
    """
    assert isinstance(src, dict), f"{where}: source entry must be a mapping, got {src!r}"
    if only_source_keys:
        extra = set(src) - SOURCE_KEYS
        assert not extra, f"{where}: unknown source keys {sorted(extra)}"
    text = src.get("source")
    assert isinstance(text, str), f"{where}: 'source' must be a string"
    assert text.strip(), f"{where}: 'source' is empty"
    year = src.get("year")
    assert isinstance(year, int), f"{where}: 'year' must be an int, got {year!r}"
    assert not isinstance(year, bool), f"{where}: 'year' must be an int, got {year!r}"
    assert YEAR_MIN <= year <= YEAR_MAX, f"{where}: year {year} outside {YEAR_MIN}-{YEAR_MAX}"
    assert isinstance(src.get("estimate"), bool), f"{where}: 'estimate' must be true or false"
    if text.lower().startswith("assumption"):
        assert src["estimate"] is True, f"{where}: an assumption must be marked estimate: true"
    if "note" in src:
        assert isinstance(src["note"], str), f"{where}: 'note' must be a string"
        assert src["note"].strip(), f"{where}: 'note' is empty"
    if "range" in src:
        rng = src["range"]
        assert isinstance(rng, list), f"{where}: 'range' must be a list [low, high]"
        assert len(rng) == 2, f"{where}: 'range' must be a list [low, high]"
        assert all(_is_number(x) for x in rng), f"{where}: 'range' must hold two numbers"
        low, high = rng
        assert low <= high, f"{where}: range low {low} exceeds high {high}"
        if value is not None:
            assert low <= value <= high, f"{where}: value {value} outside range [{low}, {high}]"


# --------------------------------------------------------------------------------------------
# catalogue.yaml


def test_catalogue_top_level_sections():
    assert isinstance(CATALOGUE, dict)
    assert set(CATALOGUE) == set(SECTIONS)


@pytest.mark.parametrize("section", sorted(REQUIRED_IDS))
def test_required_ids_exist(section):
    missing = REQUIRED_IDS[section] - set(CATALOGUE[section])
    assert not missing, f"{section}: missing {sorted(missing)}"


@pytest.mark.parametrize(("section", "entry_id", "entry"), ENTRIES, ids=ENTRY_IDS)
def test_entry_keys(section, entry_id, entry):
    required, optional, other = SECTIONS[section]
    assert ID_PATTERN.match(entry_id), f"{entry_id}: ids are lowercase letters, digits and '_'"
    allowed = required | optional | other | COMMON_KEYS
    unknown = set(entry) - allowed
    assert not unknown, f"{section}.{entry_id}: unknown keys {sorted(unknown)}"
    missing = (required | other | {"sources"}) - set(entry)
    assert not missing, f"{section}.{entry_id}: missing keys {sorted(missing)}"
    for key in required | optional:
        if key in entry:
            value = entry[key]
            assert _is_number(value), f"{section}.{entry_id}.{key}: not a number: {value!r}"
            assert math.isfinite(value), f"{section}.{entry_id}.{key}: not finite"
    for key in ("label", "country"):
        if key in entry:
            assert isinstance(entry[key], str), f"{section}.{entry_id}.{key}: must be a string"
            assert entry[key].strip(), f"{section}.{entry_id}.{key}: is empty"


@pytest.mark.parametrize(("section", "entry_id", "entry"), ENTRIES, ids=ENTRY_IDS)
def test_every_number_has_a_source(section, entry_id, entry):
    sources = entry["sources"]
    assert isinstance(sources, dict), f"{section}.{entry_id}: 'sources' must be a mapping"
    numbers = _numeric_fields(entry)
    missing = set(numbers) - set(sources)
    assert not missing, f"{section}.{entry_id}: numbers without a source: {sorted(missing)}"
    for field, src in sources.items():
        where = f"{section}.{entry_id}.sources.{field}"
        assert field in numbers, f"{where}: names no numeric field of this entry"
        _check_source(where, src, numbers[field])


@pytest.mark.parametrize(("section", "entry_id", "entry"), ENTRIES, ids=ENTRY_IDS)
def test_numbers_are_positive(section, entry_id, entry):
    for field, value in _numeric_fields(entry).items():
        where = f"{section}.{entry_id}.{field}"
        if field in MAY_BE_ZERO:
            assert value >= 0, f"{where}: must not be negative, got {value}"
        else:
            assert value > 0, f"{where}: must be positive, got {value}"


@pytest.mark.parametrize("weapon_id", sorted(CATALOGUE["weapons"]))
def test_weapon_envelope(weapon_id):
    weapon = CATALOGUE["weapons"][weapon_id]
    assert 0 < weapon["pk"] <= 1, f"{weapon_id}: pk {weapon['pk']} outside (0, 1]"
    assert weapon["max_range_km"] > weapon["min_range_km"], f"{weapon_id}: max_range <= min_range"
    assert weapon["max_altitude_m"] > weapon.get("min_altitude_m", 0), (
        f"{weapon_id}: max_altitude <= min_altitude"
    )
    # Realistic fly-out speeds: missiles and guns 600-1,500 m/s, interceptor drones far slower.
    low, high = (50, 150) if weapon_id == "interceptor_drone" else (600, 1500)
    assert low <= weapon["speed_mps"] <= high, (
        f"{weapon_id}: speed {weapon['speed_mps']} m/s outside {low}-{high}"
    )


@pytest.mark.parametrize("weapon_id", sorted(CATALOGUE["weapons"]))
def test_launchers_exist(weapon_id):
    launchers = CATALOGUE["weapons"][weapon_id]["launched_from"]
    assert isinstance(launchers, list), f"{weapon_id}: launched_from must be a list"
    assert launchers, f"{weapon_id}: launched_from is empty"
    known = set(CATALOGUE["platforms"]) | {"ground"}
    unknown = set(launchers) - known
    assert not unknown, f"{weapon_id}: launched_from names unknown platforms {sorted(unknown)}"


def test_specific_launchers():
    weapons = CATALOGUE["weapons"]
    assert "eurofighter" in weapons["iris_t"]["launched_from"]
    assert {"f16", "helicopter"} <= set(weapons["apkws"]["launched_from"])
    for ground_based in ("pac3_mse", "pac2_gemt", "iris_t_slm", "nasams", "camm", "gun35"):
        assert weapons[ground_based]["launched_from"] == ["ground"], ground_based


def test_gun_and_interceptor_drone_are_short_ranged():
    weapons = CATALOGUE["weapons"]
    assert weapons["gun35"]["max_range_km"] <= 5
    assert 10 <= weapons["interceptor_drone"]["max_range_km"] <= 20


def test_gerbera_altitude_within_reported_ceiling():
    gerbera = CATALOGUE["drone_types"]["gerbera"]
    assert 0 < gerbera["altitude_m"] <= 3000
    assert gerbera["damage_usd"] == 0  # an unarmed decoy


# --------------------------------------------------------------------------------------------
# incidents/*.yaml


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(path, mapping)`` for every mapping in ``node``, depth first."""
    if isinstance(node, dict):
        yield path, node
        for key, child in node.items():
            yield from _walk(child, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _walk(child, f"{path}[{index}]")


def _direct_numbers(mapping: dict[str, Any]) -> dict[str, Any]:
    """Numbers held directly by ``mapping`` (or in a list under it), except its source fields."""
    found: dict[str, Any] = {}
    for key, value in mapping.items():
        if key in ("year", "range"):
            continue
        is_list_of_numbers = isinstance(value, list) and any(_is_number(x) for x in value)
        if _is_number(value) or is_list_of_numbers:
            found[key] = value
    return found


def test_incident_files_exist():
    assert any(name == "poland-2025-09-10.yaml" for name in INCIDENTS)


@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_every_incident_number_has_a_source(name):
    checked = 0
    for path, mapping in _walk(INCIDENTS[name]):
        numbers = _direct_numbers(mapping)
        if not numbers:
            continue
        where = f"{name}:{path}"
        value = numbers.get("value")
        _check_source(where, mapping, value if _is_number(value) else None, only_source_keys=False)
        checked += len(numbers)
    assert checked > 0, f"{name}: no numbers found"


@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_incident_values_and_times_are_sourced(name):
    """A ``value`` of any kind (a number, a date or time string) sits beside its source."""
    for path, mapping in _walk(INCIDENTS[name]):
        if "value" in mapping:
            _check_source(f"{name}:{path}", mapping, only_source_keys=False)


@pytest.mark.parametrize("name", sorted(INCIDENTS))
def test_incident_positions_in_poland(name):
    positions = 0
    for path, mapping in _walk(INCIDENTS[name]):
        if "lat" in mapping or "lon" in mapping:
            lat, lon = mapping.get("lat"), mapping.get("lon")
            where = f"{name}:{path}"
            assert _is_number(lat), f"{where}: lat missing or not a number"
            assert _is_number(lon), f"{where}: lon missing or not a number"
            assert POLAND_LAT[0] <= lat <= POLAND_LAT[1], f"{where}: lat {lat} not in Poland"
            assert POLAND_LON[0] <= lon <= POLAND_LON[1], f"{where}: lon {lon} not in Poland"
            assert mapping.get("estimate") is True, f"{where}: a geocoded position is an estimate"
            positions += 1
    assert positions > 0, f"{name}: no positions"


def test_poland_incident_core_facts():
    record = INCIDENTS["poland-2025-09-10.yaml"]
    counts = record["drone_counts"]
    assert counts["airspace_violations_tusk"]["value"] == 19
    assert counts["airspace_violations_by_12_sep"]["value"] == 21
    assert counts["rzeczpospolita_count"]["value"] == 23
    kills = record["kills"]
    assert kills["confirmed_tusk"]["value"] == 3
    assert kills["upper_claim_tomczyk"]["value"] == 6
    timeline = record["timeline"]
    assert timeline["first_violation"]["value"].startswith("2025-09-09T23:30")
    assert timeline["last_drone_destroyed"]["value"].startswith("2025-09-10T06:45")
    sites = {site["name"] for site in record["debris_sites"]}
    for required in (
        "Czosnówka",
        "Cześniki",
        "Wyryki-Wola",
        "Krzywowierzba-Kolonia",
        "Wohyń",
        "Mniszków",
        "Oleśno",
        "Nowe Miasto nad Pilicą",
        "Wodynie",
        "Sulmice",
        "Czyżów",
    ):
        assert required in sites, f"debris site {required} missing"
    catalogue_ids = {asset_id for section in SECTIONS for asset_id in CATALOGUE[section]}
    for asset in record["assets"]:
        assert asset["catalogue_id"] in catalogue_ids, asset["catalogue_id"]
    for claim in record["munitions"]["claims"]:
        weapons = claim["weapon"] if isinstance(claim["weapon"], list) else [claim["weapon"]]
        assert set(weapons) <= set(CATALOGUE["weapons"]), weapons
