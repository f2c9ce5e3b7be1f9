"""Shared fixtures: a tiny valid scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_SCENARIO = """\
name: tiny
description: Five Gerbera decoys from Belarus toward Warsaw.
seed: 7
duration_h: 4

geography:
  border: poland

drone_types:
  gerbera:
    speed_kmh: 160
    altitude_m: 1000
    cost_usd: 15000
    endurance_km: 600

waves:
  - name: north
    type: gerbera
    count: 5
    launch: {lat: 52.9, lon: 24.2}
    launch_time_min: [0, 30]
    route:
      - {lat: 52.23, lon: 21.01}

sensors:
  - name: radar-east
    lat: 52.2
    lon: 22.8
    range_km: 250
    antenna_height_m: 30

defenders:
  - name: piorun-1
    kind: battery
    weapon: piorun
    lat: 52.25
    lon: 21.2
    magazine: 6
  - name: qra-lask
    kind: airbase
    platform: f16
    lat: 51.55
    lon: 19.18
    aircraft: 2
    loadout: {aim9x: 2}

weapons:
  piorun:
    cost_usd: 250000
    pk: 0.6
    min_range_km: 0.5
    max_range_km: 6.5
    max_altitude_m: 4000
    speed_mps: 660
    launched_from: [ground]
  aim9x:
    cost_usd: 450000
    pk: 0.8
    min_range_km: 0.5
    max_range_km: 20
    max_altitude_m: 20000
    speed_mps: 900
    launched_from: [f16]

platforms:
  f16:
    cruise_kmh: 850
    cost_per_flight_hour_usd: 21000
    endurance_h: 2.5
"""


@pytest.fixture
def tiny_scenario_yaml() -> str:
    """A small valid scenario: one wave of 5 gerbera, a radar, a Piorun battery, an F-16 base."""
    return TINY_SCENARIO


@pytest.fixture
def tiny_scenario_path(tmp_path: Path, tiny_scenario_yaml: str) -> Path:
    """The tiny scenario written to ``tmp_path/tiny.yaml``."""
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_scenario_yaml, encoding="utf-8")
    return path
