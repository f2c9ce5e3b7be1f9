"""The public library API: names, laziness and repeated calls."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sim
from sim.scenario import Scenario


def _tiny() -> Scenario:
    return Scenario.model_validate(
        {
            "name": "api",
            "duration_h": 4,
            "drone_types": {
                "g": {"speed_kmh": 160, "altitude_m": 500, "cost_usd": 1e4, "endurance_km": 600}
            },
            "waves": [
                {
                    "name": "w",
                    "type": "g",
                    "count": 3,
                    "launch": {"lat": 52.2, "lon": 24.5},
                    "route": [{"lat": 52.2, "lon": 22.0}],
                }
            ],
        }
    )


def test_run_can_be_called_repeatedly() -> None:
    # A submodule named like a public function would be re-bound by the import system.
    s = _tiny()
    a = sim.run(s, replications=2, seed=1)
    b = sim.run(s, replications=2, seed=1)
    assert callable(sim.run)
    assert a.summary == b.summary


def test_public_names_resolve() -> None:
    for name in sim.__all__:
        assert getattr(sim, name) is not None, name
    assert isinstance(sim.__version__, str)


def test_import_is_light() -> None:
    code = "import sys, sim; print(int(any(m in sys.modules for m in ('simpy', 'pandas'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_scenario_with_changes_method() -> None:
    s = _tiny()
    t = s.with_changes({"waves.w.count": 7, "duration_h": 5})
    assert t.total_drones == 7
    assert t.duration_h == 5
    assert s.total_drones == 3  # the original is unchanged
    with pytest.raises(sim.ScenarioError, match="nope"):
        s.with_changes({"waves.nope.count": 7})


@pytest.mark.parametrize("engine", ["des", "vectorised"])
def test_long_runs_keep_tables_of_the_first_replications_only(
    monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    import sim.runner

    s = _tiny()
    full = sim.run(s, replications=12, seed=2, engine=engine)
    assert len(full.drones) == 12 * s.total_drones
    monkeypatch.setattr(sim.runner, "_MAX_TABLE_ROWS", 3 * s.total_drones)
    capped = sim.run(s, replications=12, seed=2, engine=engine)
    assert len(capped.drones) == 3 * s.total_drones
    assert set(capped.drones["replication"]) == {0, 1, 2}
    assert len(capped.per_replication) == 12
    assert capped.summary == full.summary  # the summary still covers every replication
