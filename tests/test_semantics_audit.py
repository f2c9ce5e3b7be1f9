"""Semantics audit, part 2: electronic warfare, C2 assignment rules, fighter rules, point defence,
costs and fates, on both engines, against values computed here independently.

Geometry comes from ``pyproj.Geod(ellps="WGS84")`` (via the helpers of
``tests/test_closed_form_audit.py``), never from :mod:`sim`. Random outcomes are checked against
binomial bands computed with scipy; every run has a fixed seed, so every test is deterministic.
Each band's two-sided false-alarm rate (the chance that a correct model with a fresh seed would
fall outside it) is stated where it is used. For the vectorised engine the templates of a pool are
a shifted Sobol' set (stratified), so its counts vary *less* than binomially: the binomial band is
conservative there.

Not repeated here (see ``tests/test_closed_form_audit.py``, ``tests/test_reassignment.py``,
``tests/test_intercept.py``): leak and crash times, border crossings, detection scans, battery
time of flight, envelopes, shoot-look-shoot and salvo, magazine, reload and channels, the
battery's border rule, fighter intercept, return, on-station and turnaround times.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from scenario_factory import EW_CENTRE, build, ew_raid, weapon
from scipy import stats
from test_closed_form_audit import (
    AEW,
    AIM,
    AIRBASE,
    LAUNCH,
    RANGE_TIME_TOL_S,
    Flight,
    _bisect,
    _dist,
    _fwd,
    _inv,
    _pt,
    _reach,
    _scenario,
)

import sim
from sim.geo import load_territory

ENGINES = ("des", "vectorised")
KMH = 1000.0 / 3600.0
CRUISE = 850.0 * KMH


def _band(n: int, p: float, alpha: float) -> tuple[float, float]:
    """Two-sided binomial acceptance band for a count, false-alarm rate at most ``alpha``."""
    lo, hi = stats.binom.ppf([alpha / 2, 1 - alpha / 2], n, p)
    return float(lo), float(hi)


# ------------------------------------------------------------------ 1. electronic warfare

EW_R = 20_000.0  # ew_raid's area: 20 km around EW_CENTRE, on the route, wholly in Belarus
ENDURANCE_KM = 150.0  # every unaffected drone crashes at 150 km along the route, in Poland
SPEED = 150.0 * KMH


def _crossing(inside_first: bool, lo: float, hi: float) -> float:
    """Distance along the reference route where it crosses the EW circle (bisection)."""
    az, _ = _inv(LAUNCH, AIM)
    return _bisect(
        lambda s: (_dist(_fwd(LAUNCH, az, s), EW_CENTRE) <= EW_R) != inside_first, lo, hi
    )


@pytest.fixture(scope="module")
def ew_geometry() -> dict[str, float]:
    az, _ = _inv(LAUNCH, AIM)
    s_in = _crossing(False, 0.0, 30_000.0)
    s_out = _crossing(True, 30_000.0, 80_000.0)
    entry = _fwd(LAUNCH, az, s_in)
    az_entry, _ = _inv(entry, AIM)  # the heading at the entry point
    return {"s_in": s_in, "s_out": s_out, "lat": entry[0], "lon": entry[1], "az": az_entry}


@pytest.mark.parametrize("engine", ENGINES)
def test_ew_shares_crash_places_and_divert_geometry(engine: str, ew_geometry) -> None:
    """lost 0.3, divert 0.4, divert_deg [20, 70], 2,000 drones (100 x 20 replications).

    - lost: crashed inside the area (<= radius + 5 m), at a time uniform over the pass
      (Kolmogorov-Smirnov against U(entry, exit), false alarm 1e-3);
    - diverted: crashed exactly at endurance (time), at the point ``endurance - s_in`` along the
      geodesic leaving the entry point, at an angle |a| in [20, 70] from the route's heading
      there; left and right equally (binomial, 1e-3); |a| uniform (KS, 1e-3);
    - unaffected: crashed at 150 km along the route;
    - counts of each class within the multinomial's marginal binomial bands (1e-3 each).
    """
    g = ew_geometry
    scen = ew_raid(
        count=100, lost_probability=0.3, divert_probability=0.4, endurance_km=ENDURANCE_KM
    )
    d = sim.run(scen, replications=20, seed=11, engine=engine).drones
    n = len(d)
    assert (d.fate == "crashed").all()
    t_fuel = ENDURANCE_KM * 1000.0 / SPEED
    lost = d[d.fate_s < t_fuel - 1e-6]
    rest = d[d.fate_s >= t_fuel - 1e-6]
    np.testing.assert_allclose(rest.fate_s, t_fuel, rtol=1e-12)
    on_route = _fwd(LAUNCH, _inv(LAUNCH, AIM)[0], ENDURANCE_KM * 1000.0)
    off = np.array(
        [_dist((a, b), on_route) for a, b in zip(rest.fate_lat, rest.fate_lon, strict=True)]
    )
    unaffected, diverted = rest[off < 100.0], rest[off >= 100.0]
    for count, p in ((len(lost), 0.3), (len(diverted), 0.4), (len(unaffected), 0.3)):
        lo, hi = _band(n, p, 1e-3)
        assert lo <= count <= hi, (count, p)

    # lost: inside the area, at a uniform time during the pass
    inside = [_dist((a, b), EW_CENTRE) for a, b in zip(lost.fate_lat, lost.fate_lon, strict=True)]
    assert max(inside) <= EW_R + 5.0
    frac = (lost.fate_s.to_numpy() * SPEED - g["s_in"]) / (g["s_out"] - g["s_in"])
    assert frac.min() >= -1e-3
    assert frac.max() <= 1.0 + 1e-3
    assert stats.kstest(frac, "uniform").pvalue > 1e-3

    # diverted: along the geodesic at the new heading, distance flown = endurance
    entry = (g["lat"], g["lon"])
    flown = ENDURANCE_KM * 1000.0 - g["s_in"]
    ang = []
    for a, b in zip(diverted.fate_lat, diverted.fate_lon, strict=True):
        az, dist = _inv(entry, (a, b))
        # 0.1 % of the distance: the README's bound for positions along a piece of track
        assert abs(dist - flown) <= 1e-3 * flown
        ang.append(((az - g["az"] + 180.0) % 360.0) - 180.0)
        # and the crash point is where the new geodesic heading leads
        assert _dist((a, b), _fwd(entry, az, flown)) <= 1e-3 * flown
    ang = np.asarray(ang)
    assert np.abs(ang).min() >= 20.0 - 0.1
    assert np.abs(ang).max() <= 70.0 + 0.1
    lo, hi = _band(len(ang), 0.5, 1e-3)
    assert lo <= int((ang > 0).sum()) <= hi
    assert stats.kstest((np.abs(ang) - 20.0) / 50.0, "uniform").pvalue > 1e-3


@pytest.mark.parametrize("engine", ENGINES)
def test_ew_area_off_the_route_does_nothing(engine: str) -> None:
    """An area 40 km north of the route (radius 20 km): lost_probability 1 changes nothing."""
    scen = ew_raid(count=20, lost_probability=1.0, centre=(52.56, 24.05))
    d = sim.run(scen, replications=5, seed=3, engine=engine).drones
    assert (d.fate == "leaked").all()


@pytest.mark.parametrize("engine", ENGINES)
def test_ew_area_acts_at_most_once(engine: str) -> None:
    """A route through the same area three times (west, back east, west), lost 0.5: the loss
    share is 0.5 (not 1 - 0.5^3), and every loss falls in the first pass. 2,000 drones, band
    false alarm 1e-3."""
    route = [(52.2, 23.6), (52.2, 24.45), AIM]
    area = {"name": "j", **_pt(EW_CENTRE), "radius_km": 20, "lost_probability": 0.5,
            "divert_probability": 0.0, "divert_deg": [20, 70]}  # fmt: skip
    scen = build(count=100, route=route, electronic_warfare=[area])
    d = sim.run(scen, replications=20, seed=5, engine=engine).drones
    crashed = d[d.fate == "crashed"]
    lo, hi = _band(len(d), 0.5, 1e-3)
    assert lo <= len(crashed) <= hi
    first_exit = Flight(LAUNCH, route).t_end  # loose bound, then the exact one
    s_out = _crossing(True, 30_000.0, 80_000.0)
    assert crashed.fate_s.max() <= s_out / SPEED + RANGE_TIME_TOL_S < first_exit


@pytest.mark.parametrize("engine", ENGINES)
def test_ew_two_areas_are_independent(engine: str) -> None:
    """Two areas on the route, lost 0.5 each: 0.75 lost (each acts on entry, independently)."""
    ews = [
        {"name": f"j{i}", "lat": 52.2, "lon": lon, "radius_km": 15, "lost_probability": 0.5,
         "divert_probability": 0.0, "divert_deg": [20, 70]}
        for i, lon in enumerate([24.1, 23.0])
    ]  # fmt: skip
    d = sim.run(build(count=100, electronic_warfare=ews), replications=20, seed=5, engine=engine)
    lo, hi = _band(len(d.drones), 0.75, 1e-3)
    assert lo <= int((d.drones.fate == "crashed").sum()) <= hi


# ------------------------------------------------------------------ 2. C2 assignment rules

EAST, NORTH, WEST = (52.2, 22.6), (52.5, 22.9), (52.2, 21.8)


def _three_batteries(policy: str, max_defenders: int = 1):
    """Three batteries, pk 0, one shot each, one drone on the reference route (detected at 0):

    - east (52.2 N, 22.6 E), 80 km reach, $500k: it can strike first (at the border);
    - north (52.5 N, 22.9 E), 40 km reach, $300k: nearest at detection (114 km vs 130, 185);
    - west (52.2 N, 21.8 E), 30 km reach, $10k: cheapest, strikes last.
    """
    bat = {"kind": "battery", "magazine": 100, "channels": 100, "reaction_s": 20.0}
    return _scenario(
        sensors=[AEW],
        defenders=[
            {**bat, "name": "east", "weapon": "e", **_pt(EAST)},
            {**bat, "name": "north", "weapon": "n", **_pt(NORTH)},
            {**bat, "name": "west", "weapon": "w", **_pt(WEST)},
        ],
        weapons={
            "e": weapon(pk=0.0, cost_usd=500e3, max_range_km=80),
            "n": weapon(pk=0.0, cost_usd=300e3, max_range_km=40),
            "w": weapon(pk=0.0, cost_usd=10e3, max_range_km=30),
        },
        doctrine={"assignment": policy, "max_shots_per_target": 1, "assessment_s": 10.0,
                  "max_defenders_per_target": max_defenders},
    )  # fmt: skip


def test_three_battery_case_geometry() -> None:
    """The premises of the case, independently: north is nearest at detection, and north's
    envelope (40 km) first reaches the route after the drone crossed the border."""
    assert _dist(LAUNCH, NORTH) < _dist(LAUNCH, EAST) < _dist(LAUNCH, WEST)
    f = Flight(LAUNCH, [AIM])
    poland = load_territory("poland")
    border = _bisect(lambda t: bool(shapely.contains_xy(poland, *f.pos(t)[::-1])), 1500, 2500)
    north_in = _bisect(lambda t: f.slant(NORTH, t) <= 40_000.0, 1500.0, 2600.0)
    assert north_in > border + 60.0


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("policy", "order"),
    [
        ("cheapest", ["west", "east"]),  # then the cheapest still able: east (north is behind)
        ("nearest", ["north", "east", "west"]),
        ("layered", ["east", "north", "west"]),
    ],
)
def test_each_assignment_rule_picks_its_own_defender(engine, policy, order) -> None:
    r = sim.run(_three_batteries(policy), replications=1, seed=0, engine=engine)
    s = r.shots.sort_values("time_s", kind="stable")
    assert list(s.defender) == order
    # each defender engages the drone at most once (one shot each: max_shots_per_target 1)
    assert s.defender.is_unique
    # the next defender is given the drone an assessment after the last impact, and fires its
    # reaction time later (20 s) if the drone is in its envelope then
    t, i = s.time_s.to_numpy(), s.impact_s.to_numpy()
    if policy != "layered":  # (layered: north's envelope is reached only later)
        assert t[1] == pytest.approx(i[0] + 10.0 + 20.0, abs=1e-6)


def test_nearest_is_ground_distance_at_the_time_of_the_decision() -> None:
    """After north's miss C2 picks again among east and west by distance *now*: east."""
    r = sim.run(_three_batteries("nearest"), replications=1, seed=0, engine="des")
    s = r.shots.sort_values("time_s", kind="stable")
    t_decide = s.impact_s.iloc[0] + 10.0
    here = Flight(LAUNCH, [AIM]).pos(t_decide)
    assert _dist(here, EAST) < _dist(here, WEST)
    assert s.defender.iloc[1] == "east"


def test_two_defenders_per_target_engage_at_once() -> None:
    """max_defenders_per_target 2 (discrete-event engine only; the vectorised one refuses it):
    two identical batteries on one spot both fire at reaction time; a third waits until one of
    them is done (impact + assessment) and fires 20 s later."""
    bat = {"kind": "battery", "weapon": "sam", **_pt((52.2, 22.5)), "magazine": 100,
           "channels": 100, "reaction_s": 20.0}  # fmt: skip
    scen = _scenario(
        sensors=[AEW],
        defenders=[{**bat, "name": f"b{i}"} for i in range(3)],
        weapons={"sam": weapon(pk=0.0)},
        doctrine={"max_shots_per_target": 1, "max_defenders_per_target": 2},
    )
    s = sim.run(scen, replications=1, seed=0).shots.sort_values("time_s", kind="stable")
    assert list(s.defender) == ["b0", "b1", "b2"]
    assert s.time_s.iloc[0] == s.time_s.iloc[1]
    assert s.time_s.iloc[2] == pytest.approx(s.impact_s.iloc[0] + 10.0 + 20.0, abs=1e-6)
    with pytest.raises(sim.IncursionError, match="max_defenders_per_target"):
        sim.run(scen, replications=1, seed=0, engine="vectorised")


def _battery_or_fighter(rate_usd_h: float):
    """One battery ($100k a shot) and one airbase (a $10k missile plus the sortie's hours)."""
    return _scenario(
        sensors=[AEW],
        defenders=[
            {"kind": "battery", "name": "bat", "weapon": "sam", **_pt((52.2, 22.5)),
             "magazine": 10, "channels": 10, "reaction_s": 20.0},
            {"kind": "airbase", "name": "qra", "platform": "f", **_pt(AIRBASE), "aircraft": 1,
             "scramble_min": 15.0, "loadout": {"aam": 1}, "turnaround_min": 60.0},
        ],
        weapons={"sam": weapon(pk=1.0, cost_usd=100e3),
                 "aam": weapon(pk=1.0, cost_usd=10e3, min_range_km=1.0, speed_mps=900.0)},
        platforms={"f": {"cruise_kmh": 850.0, "cost_per_flight_hour_usd": rate_usd_h,
                         "endurance_h": 2.5}},
        doctrine={"assignment": "cheapest", "max_shots_per_target": 1},
    )  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
def test_cheapest_counts_the_sortie_flight_hours(engine: str) -> None:
    """The fighter shadows the drone to the border, fires, flies home: about H hours (computed
    here). Missile + H x rate is made 40 % below, then 40 % above, the battery's shot: the
    cheapest rule takes the fighter, then the battery."""
    f = Flight(LAUNCH, [AIM])
    poland = load_territory("poland")
    border = _bisect(lambda t: bool(shapely.contains_xy(poland, *f.pos(t)[::-1])), 1500, 2500)
    hours = (border - 900.0 + _dist(f.pos(border), AIRBASE) / CRUISE) / 3600.0
    for target, who in ((60e3, "qra"), (140e3, "bat")):
        r = sim.run(_battery_or_fighter((target - 10e3) / hours), replications=1, seed=0,
                    engine=engine)  # fmt: skip
        assert list(r.shots.defender) == [who]
        assert len(r.sorties) == (1 if who == "qra" else 0)
        if who == "qra":
            assert r.sorties.hours.iloc[0] == pytest.approx(hours, rel=2e-3)


# ------------------------------------------------------------------ 3. fighters

INSIDE = ((52.2, 23.0), (52.2, 21.0))  # launched inside Poland: a shot is allowed at once


def _airbases(
    *,
    p_acquire=(1.0,),
    aircraft=1,
    loadout=1,
    pk=1.0,
    endurance_h=2.5,
    launch=INSIDE[0],
    route=(INSIDE[1],),
    count=1,
    launch_time_min=0.0,
    duration_h=10.0,
    max_shots=2,
    assessment_s=10.0,
    inside_only=True,
    sensors=None,
):
    return _scenario(
        launch=launch, route=list(route), count=count, launch_time_min=launch_time_min,
        duration_h=duration_h, sensors=sensors or [AEW],
        defenders=[
            {"kind": "airbase", "name": f"qra{i}", "platform": "f", **_pt(AIRBASE),
             "aircraft": aircraft, "scramble_min": 15.0, "loadout": {"aam": loadout},
             "turnaround_min": 60.0, "p_acquire": p}
            for i, p in enumerate(p_acquire)
        ],
        weapons={"aam": weapon(pk=pk, cost_usd=450e3, min_range_km=1.0, max_range_km=20.0,
                               max_altitude_m=20_000.0, speed_mps=900.0)},
        platforms={"f": {"cruise_kmh": 850.0, "cost_per_flight_hour_usd": 27_000.0,
                         "endurance_h": endurance_h}},
        doctrine={"shoot_look_shoot": True, "max_shots_per_target": max_shots,
                  "assessment_s": assessment_s, "engage_only_inside_border": inside_only},
    )  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
def test_p_acquire_fraction_and_no_second_try_by_the_same_airbase(engine: str) -> None:
    """p_acquire 0.4, pk 1, 4 aircraft with 2 missiles each, 400 drones over 60 min: each drone is
    tried once by the airbase (a failed acquisition is final for that airbase), so kills ~
    Binomial(400, 0.4) (band false alarm 1e-3); at most one shot at each drone; every shot kills."""
    scen = _airbases(p_acquire=(0.4,), aircraft=4, loadout=2, count=10,
                     launch_time_min=[[0.0, 60.0]])  # fmt: skip
    r = sim.run(scen, replications=40, seed=21, engine=engine)
    d = r.drones
    kills = int((d.fate == "destroyed").sum())
    lo, hi = _band(len(d), 0.4, 1e-3)
    assert lo <= kills <= hi
    assert d.shots_at.max() <= 1
    assert int(r.shots.hit.sum()) == len(r.shots) == kills


@pytest.mark.parametrize("engine", ENGINES)
def test_p_acquire_failure_hands_the_drone_to_another_airbase(engine: str) -> None:
    """Two airbases, p_acquire 0.5 each, pk 1: a drone the first misses is given to the second,
    so 0.75 are killed (400 drones, band false alarm 1e-3)."""
    scen = _airbases(p_acquire=(0.5, 0.5), aircraft=4, loadout=2, count=10,
                     launch_time_min=[[0.0, 60.0]])  # fmt: skip
    d = sim.run(scen, replications=40, seed=22, engine=engine).drones
    lo, hi = _band(len(d), 0.75, 1e-3)
    assert lo <= int((d.fate == "destroyed").sum()) <= hi


def _one_shot_sortie(launch, aim, up: float = 900.0) -> tuple[float, float, float]:
    """(fire, impact, landing) of a one-missile sortie, wheels-up at ``up``, from AIRBASE."""
    f = Flight(launch, [aim])
    fire = _reach(f, up, AIRBASE, CRUISE)
    impact = fire + 1000.0 / 900.0
    return fire, impact, impact + _dist(f.pos(impact), AIRBASE) / CRUISE


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("margin_s", [-5.0, 5.0])
def test_no_intercept_it_could_not_fly_back_from(engine: str, margin_s: float) -> None:
    """A drone flying away from the base (so no later intercept is shorter); one shot, no
    assessment: the sortie would last L = landing - wheels-up. endurance_h = L + 5 s: it goes;
    L - 5 s: no sortie at all, the drone leaks."""
    launch, aim = (52.2, 22.0), (52.2, 23.3)
    _fire, _impact, landing = _one_shot_sortie(launch, aim)
    endurance_h = (landing - 900.0 + margin_s) / 3600.0
    scen = _airbases(launch=launch, route=[aim], endurance_h=endurance_h, max_shots=1,
                     assessment_s=0.0)  # fmt: skip
    r = sim.run(scen, replications=1, seed=0, engine=engine)
    if margin_s > 0:
        assert list(r.drones.fate) == ["destroyed"]
        assert r.sorties.landing_s.iloc[0] == pytest.approx(landing, abs=1.0)
        assert r.sorties.landing_s.iloc[0] <= 900.0 + endurance_h * 3600.0 + 1e-6
    else:
        assert list(r.drones.fate) == ["leaked"]
        assert r.sorties.empty
        assert r.shots.empty


@pytest.mark.parametrize("engine", ENGINES)
def test_sortie_flying_at_the_horizon_is_charged_until_it_lands(engine: str) -> None:
    """The horizon falls between the kill and the landing: the sortie is still charged wheels-up
    to landing, and the defender cost is the missile plus those hours."""
    _fire, impact, landing = _one_shot_sortie(*INSIDE)
    horizon = 0.5 * (impact + landing)
    r = sim.run(_airbases(duration_h=horizon / 3600.0), replications=1, seed=0, engine=engine)
    assert list(r.drones.fate) == ["destroyed"]
    so = r.sorties
    assert len(so) == 1
    assert so.landing_s.iloc[0] > horizon
    assert so.landing_s.iloc[0] == pytest.approx(landing, abs=1.0)
    hours = (so.landing_s.iloc[0] - 900.0) / 3600.0
    assert so.cost_usd.iloc[0] == pytest.approx(hours * 27_000.0, rel=1e-12)
    m = r.summary["metrics"]
    assert m["defender_cost_usd"]["mean"] == pytest.approx(450e3 + hours * 27_000.0, rel=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_on_station_at_the_horizon_is_charged_to_its_fuel_limit(engine: str) -> None:
    """Two missiles, one kill, the horizon an hour after wheels-up: the aircraft waits on station
    until its fuel only just gets it home (lands at wheels-up + endurance_h), charged in full."""
    r = sim.run(_airbases(loadout=2, duration_h=0.25 + 1.0), replications=1, seed=0,
                engine=engine)  # fmt: skip
    so = r.sorties
    assert len(so) == 1
    assert so.landing_s.iloc[0] == pytest.approx(900.0 + 2.5 * 3600.0, abs=1e-6)
    assert so.cost_usd.iloc[0] == pytest.approx(2.5 * 27_000.0, rel=1e-9)


@pytest.mark.parametrize("engine", ENGINES)
def test_scramble_counts_from_the_assignment_not_from_t0(engine: str) -> None:
    """A ground radar that first covers the drone later: wheels-up = detection + scramble_min."""
    radar = {"name": "r", "lat": 52.2, "lon": 21.5, "range_km": 60.0, "antenna_height_m": 30.0,
             "scan_s": 10.0, "p_detect": 1.0}  # fmt: skip
    r = sim.run(_airbases(sensors=[radar]), replications=1, seed=0, engine=engine)
    det = r.drones.detected_s.iloc[0]
    assert det > 0
    assert r.sorties.wheels_up_s.iloc[0] == pytest.approx(det + 900.0, abs=1e-9)


@pytest.mark.parametrize("engine", ENGINES)
def test_fighter_fires_over_belarus_when_the_border_rule_is_off(engine: str) -> None:
    """engage_only_inside_border false: no shadowing, the shot comes at the first reach."""
    f = Flight(LAUNCH, [AIM])
    fire = _reach(f, 900.0, AIRBASE, CRUISE)
    poland = load_territory("poland")
    assert not shapely.contains_xy(poland, *f.pos(fire)[::-1])
    r = sim.run(_airbases(launch=LAUNCH, route=[AIM], inside_only=False), replications=1,
                seed=0, engine=engine)  # fmt: skip
    assert r.shots.time_s.iloc[0] == pytest.approx(fire, abs=RANGE_TIME_TOL_S)
    assert np.isnan(r.drones.border_cross_s.iloc[0])  # shot down before the border


# ------------------------------------------------------------------ 4. point defence


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("radius_delta_m", "engaged"), [(100.0, True), (-100.0, False)])
def test_point_defence_radius_is_the_geodesic_distance_to_the_aim_point(
    engine: str, radius_delta_m: float, engaged: bool
) -> None:
    """A battery on the route whose defended radius is 100 m more / less than the geodesic
    distance from it to the aim point: it engages / does not."""
    bat_at = (52.2, 22.2)
    radius_km = (_dist(bat_at, AIM) + radius_delta_m) / 1000.0
    scen = _scenario(
        sensors=[AEW],
        defenders=[{"kind": "battery", "name": "pd", "weapon": "sam", **_pt(bat_at),
                    "magazine": 10, "channels": 10, "reaction_s": 20.0,
                    "defended_radius_km": radius_km}],
        weapons={"sam": weapon(pk=1.0)},
    )  # fmt: skip
    r = sim.run(scen, replications=1, seed=0, engine=engine)
    assert (len(r.shots) == 1) is engaged
    assert r.drones.fate.iloc[0] == ("destroyed" if engaged else "leaked")


# ------------------------------------------------------------------ 5. costs and fates


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("horizon_h", "fate"), [(0.25, "exited"), (0.75, "airborne")])
def test_horizon_fate_is_airborne_inside_and_exited_outside(engine, horizon_h, fate) -> None:
    """At 15 min the drone is 37.5 km from launch, still over Belarus: exited; at 45 min it is
    112.5 km along, over Poland: airborne. Its fate time is the horizon and its fate position
    where it is then."""
    f = Flight(LAUNCH, [AIM])
    t = horizon_h * 3600.0
    poland = load_territory("poland")
    assert bool(shapely.contains_xy(poland, *f.pos(t)[::-1])) is (fate == "airborne")
    d = sim.run(_scenario(duration_h=horizon_h), replications=1, seed=0, engine=engine).drones
    assert list(d.fate) == [fate]
    assert d.fate_s.iloc[0] == t
    assert _dist((d.fate_lat.iloc[0], d.fate_lon.iloc[0]), f.pos(t)) < 10.0


@pytest.mark.parametrize("engine", ENGINES)
def test_costs_are_shots_plus_sorties_and_launched_drones(engine: str) -> None:
    """A mixed raid (jamming, a battery with a small magazine, fighters, a horizon that cuts some
    flights): per replication, defender cost = shot costs + sortie costs exactly, attacker cost
    = launched drones x unit cost, and every drone has exactly one fate."""
    scen = _scenario(
        count=12, launch_time_min=[[0.0, 60.0]], duration_h=1.2, sensors=[AEW],
        defenders=[
            {"kind": "battery", "name": "b", "weapon": "sam", **_pt((52.2, 22.5)), "magazine": 3,
             "channels": 2, "reaction_s": 20.0, "reload_min": 20.0},
            {"kind": "airbase", "name": "q", "platform": "f", **_pt(AIRBASE), "aircraft": 2,
             "scramble_min": 10.0, "loadout": {"aam": 2}, "turnaround_min": 30.0},
        ],
        weapons={"sam": weapon(pk=0.5, cost_usd=70e3),
                 "aam": weapon(pk=0.6, cost_usd=450e3, min_range_km=1.0, speed_mps=900.0)},
        platforms={"f": {"cruise_kmh": 850.0, "cost_per_flight_hour_usd": 27_000.0,
                         "endurance_h": 2.0}},
    )  # fmt: skip
    reps = 30
    r = sim.run(scen, replications=reps, seed=9, engine=engine)
    d, s, so = r.drones, r.shots, r.sorties
    assert len(d) == reps * 12
    assert d.fate.notna().all()
    assert set(d.fate) <= {"destroyed", "leaked", "crashed", "exited", "airborne"}
    assert d.groupby("replication").size().eq(12).all()
    shot = s.groupby("replication").cost_usd.sum().reindex(range(reps), fill_value=0.0)
    fly = so.groupby("replication").cost_usd.sum().reindex(range(reps), fill_value=0.0)
    np.testing.assert_allclose(so.cost_usd, so.hours * 27_000.0, rtol=1e-12)
    np.testing.assert_allclose(so.hours, (so.landing_s - so.wheels_up_s) / 3600.0, rtol=1e-12)
    m = r.summary["metrics"]
    assert m["defender_cost_usd"]["mean"] == pytest.approx(float((shot + fly).mean()), rel=1e-12)
    assert m["attacker_cost_usd"]["mean"] == pytest.approx(12 * 20_000.0, rel=1e-12)
    assert len(so) > 0
    assert len(s) > 0
    # kills: one hit row each, and fate destroyed exactly for the drones a hit killed
    assert int(s.hit.sum()) == int((d.fate == "destroyed").sum())
    assert math.isclose(
        m["cost_exchange_ratio"]["mean"], float(((shot + fly) / (12 * 20_000.0)).mean()),
        rel_tol=1e-12,
    )  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("margin_s", [-5.0, 5.0])
def test_intercept_acceptance_reserves_the_whole_engagement(engine: str, margin_s: float) -> None:
    """With the default doctrine (2 shots, 10 s assessment) C2 keeps back max_shots x (time of
    flight + assessment) = 22.2 s for the rest of the engagement: an intercept whose one-kill
    sortie fits within endurance_h by 17 s is refused, by 27 s accepted (README, Fighters)."""
    launch, aim = (52.2, 22.0), (52.2, 23.3)
    _fire, _impact, landing = _one_shot_sortie(launch, aim)
    reserve = 2 * (1000.0 / 900.0 + 10.0)
    endurance_h = (landing - 900.0 + reserve + margin_s) / 3600.0
    scen = _airbases(launch=launch, route=[aim], endurance_h=endurance_h)
    r = sim.run(scen, replications=1, seed=0, engine=engine)
    assert list(r.drones.fate) == (["destroyed"] if margin_s > 0 else ["leaked"])


@pytest.mark.parametrize("engine", ENGINES)
def test_point_defence_ignores_a_diverted_drone(engine: str) -> None:
    """A drone diverted by 5 degrees in the jamming area keeps its aim point on paper (150 km from
    the battery, radius 400 km) but no longer flies at it: the point defence does not engage it,
    while a battery without a defended radius does (README, Batteries)."""
    ew = [{"name": "j", **_pt(EW_CENTRE), "radius_km": 20, "lost_probability": 0.0,
           "divert_probability": 1.0, "divert_deg": [5, 5]}]  # fmt: skip
    bat = {"kind": "battery", "name": "pd", "weapon": "sam", "lat": 52.2, "lon": 23.7,
           "magazine": 10, "channels": 10, "reaction_s": 1.0}  # fmt: skip
    assert _dist((52.2, 23.7), AIM) < 400_000.0
    for radius, shots in ((None, 1), (400.0, 0)):
        b = bat if radius is None else {**bat, "defended_radius_km": radius}
        scen = build(
            count=1,
            defenders=[b],
            weapons={"sam": weapon(pk=1.0, max_range_km=40)},
            electronic_warfare=ew,
            doctrine={"engage_only_inside_border": False},
        )
        assert len(sim.run(scen, replications=1, seed=0, engine=engine).shots) == shots
