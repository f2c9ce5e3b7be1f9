"""The vectorised engine: what it refuses, and agreement with the SimPy engine.

The two engines use different random streams, so they agree statistically, not draw for draw.
Agreement is judged per metric by z = (mean_vec - mean_des) / SE(difference), with the standard
errors taken from each engine's own 95 % interval. A bound of |z| < 4.5 has a false-alarm rate of
about 7e-6 per comparison when the engines agree; every seed is fixed, so the test is
deterministic.
"""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scenario_factory import straight_raid

import sim
from sim import vectorised as v
from sim.errors import IncursionError
from sim.scenario import Scenario
from sim.vectorised import unsupported_features

Z_BOUND = 4.5
AGREE = (
    "drones_destroyed", "shots_fired", "leakers", "crashed", "defender_cost_usd", "sorties",
    "sortie_hours",
)  # fmt: skip


def _doc(
    *,
    count: int = 8,
    spread_km: float = 8.0,
    pk: float = 0.6,
    max_shots: int = 2,
    sls: bool = True,
    policy: str = "cheapest",
    p_detect: float = 0.9,
    ew: bool = True,
    gun_pk: float = 0.5,
    fighters: bool = False,
    p_acquire: float = 0.8,
    aircraft: int = 2,
    turnaround_min: float = 60,
) -> dict[str, Any]:
    doc = {
        "name": "vec",
        "duration_h": 6,
        "drone_types": {
            "g": {"speed_kmh": 160, "altitude_m": 800, "cost_usd": 15000, "endurance_km": 600}
        },
        "weapons": {
            "m": {
                "cost_usd": 1e6,
                "pk": pk,
                "min_range_km": 1,
                "max_range_km": 25,
                "max_altitude_m": 10000,
                "speed_mps": 1000,
            },
            "gun": {
                "cost_usd": 4000,
                "pk": gun_pk,
                "min_range_km": 0.2,
                "max_range_km": 5,
                "max_altitude_m": 3000,
                "speed_mps": 1000,
            },
        },
        "sensors": [
            {
                "name": "r",
                "lat": 52.2,
                "lon": 23.0,
                "range_km": 250,
                "antenna_height_m": 30,
                "p_detect": p_detect,
                "scan_s": 10,
            }
        ],
        "waves": [
            {
                "name": "w1",
                "type": "g",
                "count": count,
                "launch": {"lat": 52.4, "lon": 24.8},
                "launch_time_min": [0, 120],
                "route_spread_km": spread_km,
                "route": [{"lat": 52.2, "lon": 23.0}, {"lat": 52.2, "lon": 21.0}],
            },
            {
                "name": "w2",
                "type": "g",
                "count": count,
                "launch": {"lat": 51.2, "lon": 24.8},
                "launch_time_min": [30, 200],
                "route_spread_km": spread_km,
                "route": [{"lat": 51.5, "lon": 22.5}, {"lat": 52.0, "lon": 21.2}],
            },
        ],
        "electronic_warfare": [
            {
                "name": "ew",
                "lat": 52.0,
                "lon": 24.5,
                "radius_km": 40,
                "divert_probability": 0.2,
                "lost_probability": 0.05,
            }
        ]
        if ew
        else [],
        "defenders": [
            {
                "kind": "battery",
                "name": "b1",
                "weapon": "m",
                "lat": 52.2,
                "lon": 22.6,
                "magazine": 500,
                "channels": 50,
                "reaction_s": 20,
            },
            {
                "kind": "battery",
                "name": "g1",
                "weapon": "gun",
                "lat": 52.15,
                "lon": 21.3,
                "magazine": 500,
                "channels": 50,
                "reaction_s": 5,
            },
            {
                "kind": "battery",
                "name": "g2",
                "weapon": "gun",
                "lat": 51.9,
                "lon": 21.5,
                "magazine": 500,
                "channels": 50,
                "reaction_s": 5,
            },
        ],
        "doctrine": {
            "assignment": policy,
            "max_shots_per_target": max_shots,
            "shoot_look_shoot": sls,
        },
    }
    if fighters:
        doc["platforms"] = {
            "jet": {"cruise_kmh": 850, "cost_per_flight_hour_usd": 20000, "endurance_h": 2.5}
        }
        doc["weapons"]["aam"] = {
            "cost_usd": 400000, "pk": 0.7, "min_range_km": 1, "max_range_km": 15,
            "max_altitude_m": 15000, "speed_mps": 900,
        }  # fmt: skip
        doc["defenders"].append(
            {
                "kind": "airbase", "name": "qra", "platform": "jet", "lat": 52.3, "lon": 20.5,
                "aircraft": aircraft, "scramble_min": 10, "loadout": {"aam": 2},
                "turnaround_min": turnaround_min, "p_acquire": p_acquire,
            }
        )  # fmt: skip
    return doc


def _z(a: dict, b: dict) -> float:
    sa = (a["ci95"][1] - a["ci95"][0]) / (2 * 1.96)
    sb = (b["ci95"][1] - b["ci95"][0]) / (2 * 1.96)
    se = math.hypot(sa, sb)
    if se == 0:
        return 0.0 if math.isclose(a["mean"], b["mean"], abs_tol=1e-9) else math.inf
    return (b["mean"] - a["mean"]) / se


def _agree(doc: dict[str, Any] | Scenario, reps: int, seed: int, vec_reps: int = 0) -> None:
    s = doc if isinstance(doc, Scenario) else Scenario.model_validate(doc)
    des = sim.run(s, replications=reps, seed=seed, workers=1)
    vec = sim.run(s, replications=vec_reps or reps, seed=seed, engine="vectorised")
    assert vec.summary["engine"] == "vectorised"
    for name in AGREE:
        z = _z(des.summary["metrics"][name], vec.summary["metrics"][name])
        assert abs(z) < Z_BOUND, (name, des.summary["metrics"][name], vec.summary["metrics"][name])


def test_agrees_with_des_on_a_layered_raid() -> None:
    _agree(_doc(), reps=1500, seed=11)


@pytest.mark.parametrize(
    ("name", "des_reps", "vec_reps"),
    [
        ("poland-2025-09-10", 300, 3000),  # fighters, point-defence Patriot, AEW hours, jamming
        ("poland-cheap-layer", 300, 3000),  # guns with small magazines and reloads, interceptors
        ("poland-european-kit", 300, 3000),  # SHORAD missiles, guns, fighters
        ("mass-raid", 20, 200),  # 500 drones against 43 defenders: rounds and channels run short
    ],
)
def test_agrees_with_des_on_the_shipped_nights(name: str, des_reps: int, vec_reps: int) -> None:
    s = sim.load_scenario(Path(__file__).parents[1] / "scenarios" / f"{name}.yaml")
    _agree(s, reps=des_reps, seed=21, vec_reps=vec_reps)


def test_agrees_with_des_with_fighters_and_batteries() -> None:
    _agree(_doc(fighters=True, count=6), reps=600, seed=12)


@settings(
    max_examples=14,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    pk=st.sampled_from([0.3, 0.7, 1.0]),
    max_shots=st.integers(1, 3),
    sls=st.booleans(),
    policy=st.sampled_from(["cheapest", "nearest", "layered"]),
    p_detect=st.sampled_from([0.2, 1.0]),
    spread=st.sampled_from([0.0, 10.0]),
    ew=st.booleans(),
    fighters=st.booleans(),
    p_acquire=st.sampled_from([0.3, 1.0]),
    aircraft=st.integers(1, 3),
    magazine=st.sampled_from([2, 500]),
    channels=st.sampled_from([1, 50]),
    reload_min=st.sampled_from([None, 15.0]),
)
def test_agrees_with_des_inside_its_exact_domain(
    pk: float, max_shots: int, sls: bool, policy: str, p_detect: float, spread: float, ew: bool,
    fighters: bool, p_acquire: float, aircraft: int, magazine: int, channels: int,
    reload_min: float | None,
) -> None:  # fmt: skip
    doc = _doc(pk=pk, max_shots=max_shots, sls=sls, policy=policy, p_detect=p_detect,
               spread_km=spread, ew=ew, count=5, fighters=fighters, p_acquire=p_acquire,
               aircraft=aircraft)  # fmt: skip
    for d in doc["defenders"]:
        if d["kind"] == "battery":
            d["magazine"], d["channels"], d["reload_min"] = magazine, channels, reload_min
    # The vectorised side runs 4,000 (32 clusters of 125): with 32 clusters of 12 or 13, its
    # cluster-robust t intervals of a skewed figure (defender cost with fighters) are not yet
    # normal: over 40 seeds of one such scenario their z against the long-run mean had sd 1.14
    # and one |z| of 4.9, against sd 0.94 and largest |z| 2.4 at 4,000.
    _agree(doc, reps=400, seed=5, vec_reps=4000)


def test_same_seed_same_result() -> None:
    s = Scenario.model_validate(_doc())
    a = sim.run(s, replications=50, seed=3, engine="vectorised")
    b = sim.run(s, replications=50, seed=3, engine="vectorised")
    assert a.summary == b.summary
    assert a.drones.equals(b.drones)
    assert a.shots.equals(b.shots)


def test_tables_are_consistent() -> None:
    r = sim.run(Scenario.model_validate(_doc()), replications=20, seed=4, engine="vectorised")
    d, s = r.drones, r.shots
    assert len(d) == 20 * 16
    assert (d["shots_at"].sum()) == len(s)
    kills = s[s["hit"]]
    assert len(kills) == (d["fate"] == "destroyed").sum()
    assert kills.groupby(["replication", "drone"]).size().max() == 1
    m = r.summary["metrics"]
    assert m["shots_fired"]["mean"] * 20 == pytest.approx(len(s))
    assert m["drones_destroyed"]["mean"] * 20 == pytest.approx(len(kills))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"doctrine": {"max_defenders_per_target": 2}}, "max_defenders_per_target"),
    ],
)  # fmt: skip
def test_refuses_what_it_does_not_model(change: dict[str, Any], words: str) -> None:
    doc = copy.deepcopy(_doc())
    doc["platforms"] = {"f": {"cruise_kmh": 850, "cost_per_flight_hour_usd": 1, "endurance_h": 2}}
    doc["weapons"]["a"] = {"cost_usd": 1, "pk": 0.5, "max_range_km": 10, "max_altitude_m": 9000,
                           "speed_mps": 900}  # fmt: skip
    doc.update(change)
    s = Scenario.model_validate(doc)
    assert any(words in u for u in unsupported_features(s))
    with pytest.raises(IncursionError, match="--engine des"):
        sim.run(s, replications=5, seed=1, engine="vectorised")


def test_runs_fighters_and_reloads_and_keeps_sorties() -> None:
    doc = _doc(fighters=True)
    doc["defenders"][0]["reload_min"] = 30  # never empties here, so the reload never matters
    s = Scenario.model_validate(doc)
    assert unsupported_features(s) == []
    r = sim.run(s, replications=40, seed=2, engine="vectorised")
    so = r.sorties
    assert len(so) > 0
    assert (so["landing_s"] > so["wheels_up_s"]).all()
    assert so["cost_usd"].to_numpy() == pytest.approx(so["hours"].to_numpy() * 20000)
    assert r.summary["metrics"]["sorties"]["mean"] * 40 == pytest.approx(len(so))
    fighter_shots = r.shots[r.shots["defender"] == "qra"]
    assert set(fighter_shots["weapon"]) <= {"aam"}
    # an aircraft carries 2 missiles per sortie
    per_sortie = fighter_shots.groupby("replication").size()
    assert (per_sortie <= 2 * so.groupby("replication").size().reindex(per_sortie.index)).all()


@pytest.mark.parametrize("reload_min", [None, 20])
def test_agrees_with_des_when_magazines_run_short(reload_min: float | None) -> None:
    # Three rounds against up to 16 drones: C2 passes over an empty battery, an engagement stops
    # when the magazine empties mid-engagement, or waits for the reload.
    doc = _doc(pk=0.3, max_shots=3)
    for d in doc["defenders"]:
        d["magazine"] = 3
        if reload_min is not None:
            d["reload_min"] = reload_min
    _agree(doc, reps=600, seed=13)


def test_agrees_with_des_when_channels_run_short() -> None:
    # All drones at once against one channel per battery: engagements queue for a channel.
    doc = _doc(pk=0.3, max_shots=3, count=12)
    doc["waves"][0]["launch_time_min"] = 0
    doc["waves"][1]["launch_time_min"] = 0
    for d in doc["defenders"]:
        d["channels"] = 1
    _agree(doc, reps=600, seed=14)


def test_cli_engine_vectorised(tmp_path) -> None:
    import yaml

    f = tmp_path / "vec.yaml"
    f.write_text(yaml.safe_dump(_doc()))
    out = tmp_path / "run"
    r = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(f), "--engine", "vectorised", "-n", "30", "-q",
         "--out", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["engine"] == "vectorised"
    assert summary["replications"] == 30
    # A map of a replication past the tables it keeps is refused before anything runs.
    r = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(f), "--engine", "vectorised", "-n", "2000",
         "--map-replication", "1500", "-q", "--out", str(tmp_path / "late")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 2
    assert "first 1000 replications" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "late").exists()


def test_same_result_for_any_number_of_workers() -> None:
    s = Scenario.model_validate(_doc(count=3))
    reps = 1024 + 300  # 32 chunks of 42
    a = sim.run(s, replications=reps, seed=8, engine="vectorised", workers=1)
    b = sim.run(s, replications=reps, seed=8, engine="vectorised", workers=2)
    assert a.summary == b.summary
    assert a.drones.equals(b.drones)
    assert a.per_replication.equals(b.per_replication)


def _same_run(a: sim.RunResult, b: sim.RunResult) -> None:
    """Bit for bit: summary, per-replication metrics, tables and flight paths."""
    assert a.summary == b.summary
    assert a.per_replication.equals(b.per_replication)
    assert a.drones.equals(b.drones)
    assert a.shots.equals(b.shots)
    assert a.sorties.equals(b.sorties)
    assert a.track_paths.keys() == b.track_paths.keys()
    for r, p in a.track_paths.items():
        q = b.track_paths[r]
        for name in ("wave", "offsets", "bt", "bx", "by"):
            assert np.array_equal(getattr(p, name), getattr(q, name))


@pytest.mark.parametrize("fighters", [False, True])
def test_clusters_give_the_same_result_whichever_share_a_group(monkeypatch, fighters) -> None:
    # Small clusters are built and summarised in groups (one pass over the geometry for many
    # pools); each cluster keeps its own pool and streams, so the grouping changes no bit. One
    # cluster per group on 2 processes (31 groups sent to the worker) against the default
    # (the 32 clusters of 9-10 replications in one group, in this process).
    s = Scenario.model_validate(_doc(count=3, fighters=fighters))
    reps, n = 300, s.total_drones
    sizes, k = v.plan_chunks(reps, n)
    assert len(v.plan_groups(len(sizes), k, n)) == 1
    a = sim.run(s, replications=reps, seed=8, engine="vectorised", workers=1)
    monkeypatch.setattr(v, "GROUP_TEMPLATES", 1)
    assert len(v.plan_groups(len(sizes), k, n)) == 32
    b = sim.run(s, replications=reps, seed=8, engine="vectorised", workers=2)
    _same_run(a, b)


@pytest.mark.parametrize(
    ("n_clusters", "k", "n_drones"),
    [(32, 1, 21), (32, 32, 21), (32, 512, 21), (1, 512, 21), (245, 512, 21), (32, 2, 20_000),
     (17, 8, 100), (32, 16, 1)],
)  # fmt: skip
def test_plan_groups_covers_every_cluster_once_in_order_within_the_budget(
    n_clusters: int, k: int, n_drones: int
) -> None:
    groups = v.plan_groups(n_clusters, k, n_drones)
    assert [c for g in groups for c in g] == list(range(n_clusters))
    assert all(g for g in groups)
    for g in groups:
        assert len(g) == 1 or len(g) * k * n_drones <= v.GROUP_TEMPLATES
    # as few groups as the budget allows: two neighbours could not have been one group
    for g in groups[:-1]:
        assert (len(g) + 1) * k * n_drones > v.GROUP_TEMPLATES


@pytest.mark.parametrize("engine", ["des", "vectorised"])
def test_tables_false_keeps_every_figure_and_leaves_the_tables_empty(engine: str) -> None:
    s = Scenario.model_validate(_doc(count=3, fighters=True))
    a = sim.run(s, replications=40, seed=2, engine=engine)
    b = sim.run(s, replications=40, seed=2, engine=engine, tables=False)
    assert a.summary == b.summary
    assert a.per_replication.equals(b.per_replication)
    assert len(a.drones) == 40 * s.total_drones
    assert len(a.shots) > 0
    for full, empty in ((a.drones, b.drones), (a.shots, b.shots), (a.sorties, b.sorties)):
        assert len(empty) == 0
        assert list(empty.columns) == list(full.columns)
    assert not b.track_paths
    with pytest.raises(IncursionError, match="tables must be True or False"):
        sim.run(s, replications=4, engine=engine, tables="no")  # type: ignore[arg-type]


def test_map_and_geojson_show_the_tracks_the_engine_flew() -> None:
    # The vectorised engine's drones fly pooled templates, not the seed's own tracks: the kept
    # paths must be the flown ones, so every kill point lies at the end of its drone's path and
    # every drone's path starts at its wave's launch point at its launch time.
    r = sim.run(Scenario.model_validate(_doc(fighters=True)), replications=30, seed=6,
                engine="vectorised")  # fmt: skip
    assert r.track_paths is not None
    assert set(r.track_paths) == set(range(30))
    checked = 0
    for k in range(30):
        gj = r.tracks_geojson(k)
        lines = {f["properties"]["drone"]: f["geometry"]["coordinates"]
                 for f in gj["features"] if f["properties"]["kind"] == "track"}  # fmt: skip
        for f in gj["features"]:
            if f["properties"]["kind"] == "kill":
                end = lines[f["properties"]["drone"]][-1]
                assert end == pytest.approx(f["geometry"]["coordinates"], abs=1e-6)
                checked += 1
        paths = r.track_paths[k]
        launch = r.drones[r.drones["replication"] == k]["launch_s"].to_numpy()
        assert paths.bt[paths.offsets[:-1]] == pytest.approx(launch)
    assert checked > 0


def test_until_ci_adds_clusters_until_the_interval_is_narrow() -> None:
    s = Scenario.model_validate(_doc(fighters=True, count=4))
    wide = sim.run(s, replications=64, seed=3, engine="vectorised", until_ci=1e-6,
                   max_replications=256)  # fmt: skip
    assert wide.stop_reason.startswith("max_replications")
    assert wide.replications == 256
    assert wide.summary["clusters"] == 128  # batches of 32 clusters of 2
    narrow = sim.run(s, replications=64, seed=3, engine="vectorised", until_ci=0.5,
                     max_replications=100_000)  # fmt: skip
    assert narrow.stop_reason.startswith("ci")
    m = narrow.summary["metrics"]["cost_exchange_ratio"]
    assert (m["ci95"][1] - m["ci95"][0]) / m["mean"] < 0.5
    again = sim.run(s, replications=64, seed=3, engine="vectorised", until_ci=0.5,
                    max_replications=100_000)  # fmt: skip
    assert again.summary == narrow.summary


@pytest.mark.slow
def test_sobol_pools_make_clusters_vary_less() -> None:
    # The pools' shifted Sobol' sets (sim.qmc) against independent pools, same model: the
    # variance of a cluster's mean cost-exchange ratio over 32 clusters of 4,096 replications.
    # Measured ratio about 9 on the reference night; if there were no gain, the ratio would
    # exceed F(0.99; 31, 31) = 2.35 with probability 1 %.
    from scipy import stats

    from sim.vectorised import run_vectorised

    s = sim.load_scenario(Path(__file__).parents[1] / "scenarios" / "poland-2025-09-10.yaml")
    var = {}
    for rqmc in (True, False):
        r = run_vectorised(s, replications=32 * 4096, seed=3, rqmc=rqmc)
        assert r.summary["clusters"] == 32
        means = r.per_replication.groupby("cluster")["cost_exchange_ratio"].mean()
        var[rqmc] = means.var(ddof=1)
    assert var[False] / var[True] > stats.f.ppf(0.99, 31, 31)


def test_benchmark_sls_raid_is_the_bare_bernoulli_model() -> None:
    """``benchmarks/scenarios/sls-raid.yaml`` is timed against a bare numpy Monte Carlo of
    independent shoot-look-shoot engagements; that comparison means something only if both engines
    reproduce that model's closed form there: kills 20 (1 - (1 - p)^2), shots 20 (2 - p)."""
    s = sim.load_scenario(
        Path(__file__).parent.parent / "benchmarks" / "scenarios" / "sls-raid.yaml"
    )
    (wave,) = s.waves
    p = s.weapons["sam"].pk
    exact = {
        "drones_destroyed": wave.count * (1 - (1 - p) ** 2),
        "shots_fired": wave.count * (2 - p),
    }
    for result in (
        sim.run(s, replications=400, seed=5, workers=1),
        sim.run(s, replications=8192, seed=5, engine="vectorised", workers=1),
    ):
        for name, value in exact.items():
            z = _z({"mean": value, "ci95": [value, value]}, result.summary["metrics"][name])
            assert abs(z) < Z_BOUND, (result.summary["engine"], name, value, z)


def test_both_engines_order_tied_shots_alike() -> None:
    # Six drones launched together on one track: every salvo strikes at the same instants, so the
    # rows of the shot table tie on impact time. With pk 0 the run is deterministic and the two
    # engines must give the same tables row by row (hits aside, which pk 0 fixes at False).
    s = straight_raid(count=6, pk=0.0, shoot_look_shoot=False, max_shots=2, seed=3)
    des = sim.run(s, replications=2, seed=3)
    vec = sim.run(s, replications=2, seed=3, engine="vectorised")
    assert len(des.shots) == 2 * 6 * 2
    assert (des.shots["impact_s"].diff().fillna(1.0) == 0).sum() > 0  # ties are there
    cols = ["replication", "defender", "weapon", "drone", "hit", "cost_usd"]
    pd.testing.assert_frame_equal(des.shots[cols], vec.shots[cols])
    for c in ("time_s", "impact_s", "lat", "lon"):
        np.testing.assert_allclose(des.shots[c], vec.shots[c], rtol=0, atol=1e-6)
