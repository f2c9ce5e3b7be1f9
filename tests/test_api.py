"""The public library API: names, laziness and repeated calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from scenario_factory import straight_raid

import sim
from sim.loader import dump_resolved_yaml
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


@pytest.mark.parametrize(
    "kwargs",
    [
        {"replications": 2.5},
        {"replications": True},
        {"replications": float("nan")},
        {"replications": "3"},
        {"seed": 1.5},
        {"seed": -1},
        {"workers": 0},
        {"until_ci": True},
        {"until_ci": "0.05"},
        {"until_ci": float("nan")},
        {"until_ci": 0.05, "max_replications": 2.5},
        {"engine": "fast"},
    ],
)
def test_run_refuses_arguments_it_would_otherwise_convert(kwargs: dict) -> None:
    # 2.5 replications used to run 2, True ran 1, a NaN count was a ValueError traceback
    with pytest.raises(sim.IncursionError):
        sim.run(_tiny(), **kwargs)


def test_run_takes_a_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(dump_resolved_yaml(_tiny()))
    by_path = sim.run(path, replications=2, seed=1)
    assert by_path.summary == sim.run(_tiny(), replications=2, seed=1).summary
    assert sim.run(str(path), replications=2, seed=1).summary == by_path.summary
    with pytest.raises(sim.IncursionError, match="Scenario"):
        sim.run(42)  # type: ignore[arg-type]


def test_until_ci_never_stops_on_one_replication() -> None:
    # One replication's interval has zero width; a handful of equal draws may too.
    scen = straight_raid(count=3, pk=0.5)
    for engine in ("des", "vectorised"):
        r = sim.run(scen, replications=1, seed=3, until_ci=0.9, engine=engine, max_replications=50)
        assert r.replications == 10, engine  # 90 % is reached at once: it waits for 10
        assert r.stop_reason.startswith("ci"), (engine, r.stop_reason)


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


def test_loaders_refuse_wrong_types_clearly() -> None:
    # each of these was an AttributeError or TypeError traceback
    with pytest.raises(sim.IncursionError, match="path"):
        sim.load_scenario(None)  # type: ignore[arg-type]
    with pytest.raises(sim.IncursionError, match="dotted paths"):
        _tiny().with_changes(None)  # type: ignore[arg-type]
    with pytest.raises(sim.IncursionError, match="dotted paths"):
        _tiny().with_changes({5: 1})  # type: ignore[dict-item]
    with pytest.raises(sim.ScenarioError, match="UTF-8"):
        sim.load_scenario_text(b"\xff\xfe")  # type: ignore[arg-type]
    text = dump_resolved_yaml(_tiny())
    assert sim.load_scenario_text(text.encode()) == sim.load_scenario_text(text)
