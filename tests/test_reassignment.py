"""When a drone that survived an engagement goes back to command and control, and who gets the
rounds of a refilled magazine: both engines, against times worked out by hand.

A defender that fired at a drone and missed cannot hand it on before it has seen the miss:
C2 looks at the drone again ``assessment_s`` after the last impact (the spec's "time to see
whether a shot killed"), as the same defender's own next shot waits. Engagements waiting for a
reload resume in the order they began to wait, as SimPy resumes them.
"""

from __future__ import annotations

import math

import pytest
from scenario_factory import AIRBASE, battery, build, straight_raid, weapon

import sim

ENGINES = ["des", "vectorised"]


def _two_batteries(assessment_s: float, max_shots: int) -> sim.Scenario:
    # Both on one spot, both never hit; C2 takes the cheaper first, the dearer one next.
    return build(
        count=1,
        defenders=[
            battery("cheap", weapon="sam", reaction_s=20.0),
            battery("dear", weapon="sam2", reaction_s=0.0),
        ],
        weapons={"sam": weapon(pk=0.0), "sam2": weapon(pk=0.0, cost_usd=200_000.0)},
        doctrine={"max_shots_per_target": max_shots, "assessment_s": assessment_s},
    )


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("assessment_s", "max_shots"), [(0.0, 1), (10.0, 1), (45.0, 2)])
def test_next_battery_fires_an_assessment_after_the_last_miss(
    engine: str, assessment_s: float, max_shots: int
) -> None:
    r = sim.run(_two_batteries(assessment_s, max_shots), replications=1, seed=1, engine=engine)
    shots = r.shots.sort_values("time_s", kind="stable")
    cheap = shots[shots["defender"] == "cheap"]
    dear = shots[shots["defender"] == "dear"]
    assert len(cheap) == max_shots
    assert len(dear) == max_shots
    # the dearer battery has no reaction time, and the drone is still deep in both envelopes
    assert dear["time_s"].iloc[0] == pytest.approx(
        cheap["impact_s"].iloc[-1] + assessment_s, abs=1e-6
    )
    # within an engagement, as before: the next shot an assessment after the impact
    for rows in (cheap, dear):
        gaps = rows["time_s"].to_numpy()[1:] - rows["impact_s"].to_numpy()[:-1]
        assert gaps == pytest.approx([assessment_s] * (max_shots - 1), abs=1e-6)


def _two_airbases() -> sim.Scenario:
    # Two airbases on one spot, one aircraft each; the missiles never hit, and the first
    # airbase's are cheaper, so C2 sends its aircraft first and the other's after the miss.
    base = {"lat": AIRBASE[0], "lon": AIRBASE[1], "aircraft": 1, "scramble_min": 5.0}
    return build(
        count=1,
        defenders=[
            {"kind": "airbase", "name": "a", "platform": "f", "loadout": {"cheap": 2}, **base},
            {"kind": "airbase", "name": "b", "platform": "f", "loadout": {"dear": 2}, **base},
        ],
        weapons={
            "cheap": weapon(pk=0.0, cost_usd=1_000.0, min_range_km=1.0),
            "dear": weapon(pk=0.0, cost_usd=400_000.0, min_range_km=1.0),
        },
        platforms={"f": {"cruise_kmh": 850, "cost_per_flight_hour_usd": 3600, "endurance_h": 4}},
        doctrine={"max_shots_per_target": 1, "assessment_s": 30.0},
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_next_airbase_scrambles_an_assessment_after_the_fighters_miss(engine: str) -> None:
    scen = _two_airbases()
    r = sim.run(scen, replications=1, seed=1, engine=engine)
    first = r.shots[r.shots["defender"] == "a"]
    assert len(first) == 1
    sorties = r.sorties.set_index("defender")
    scramble_s = 5.0 * 60.0
    # airbase b is asked only once C2 knows a's shot missed, and scrambles from then
    assert sorties.loc["b", "wheels_up_s"] == pytest.approx(
        first["impact_s"].iloc[0] + 30.0 + scramble_s, abs=1e-6
    )
    assert (r.shots["defender"] == "b").sum() == 1


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("salvo", [False, True])
def test_refilled_magazine_serves_engagements_in_the_order_they_waited(
    engine: str, salvo: bool
) -> None:
    # Three drones launched together meet one battery with two rounds: drones 0 and 1 take
    # them; drone 2 waits for the reload first, then 0 and 1 (shoot-look-shoot: their second
    # shots; salvo: nothing left to wait for, so only drone 2 is served).
    scen = straight_raid(
        count=3, pk=0.0, magazine=2 if not salvo else 3, reload_min=5.0,
        shoot_look_shoot=not salvo, max_shots=2,
    )  # fmt: skip
    r = sim.run(scen, replications=1, seed=1, engine=engine)
    shots = r.shots
    first = shots["time_s"].min()
    reload_s = 300.0
    # the magazine runs dry at the first volley and refills five minutes later
    refilled = shots[shots["time_s"].sub(first + reload_s).abs() < 1e-6]
    if salvo:
        # a salvo of 2 for drone 0, 1 round left for drone 1's partial salvo; drone 2 waited
        assert sorted(refilled["drone"].tolist()) == [1, 2, 2]
    else:
        # drone 2 waited since the first volley, drone 0 since its second shot came due, drone 1
        # just after: the two rounds go to drones 2 and 0, and drone 1 waits for the next reload
        assert sorted(refilled["drone"].tolist()) == [0, 2]
        later = shots[shots["time_s"].sub(first + 2 * reload_s).abs() < 1e-6]
        assert sorted(later["drone"].tolist()) == [1, 2]
    assert math.isclose(shots["cost_usd"].sum(), len(shots) * 100_000.0)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_battery_with_an_empty_magazine_never_fires_even_with_a_reload(engine: str) -> None:
    # README, batteries: a reload refills the magazine to its `magazine` rounds, so zero stays
    # zero (a level a sweep of the magazine can take); the drones fly on and leak.
    scen = straight_raid(count=3, pk=1.0, magazine=0, reload_min=5.0)
    r = sim.run(scen, replications=2, seed=1, engine=engine)
    assert r.shots.empty
    assert (r.drones["fate"] == "leaked").all()
