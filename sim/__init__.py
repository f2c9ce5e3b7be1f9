"""incursion: an airspace-incursion scenario simulator.

Drone waves fly across a defended border; radars detect them, command and control assigns them to
batteries and quick-reaction fighters, and every shot and flight hour is costed, so that the
cost-exchange ratio of a defence can be estimated with confidence intervals.

Typical use::

    import sim
    scenario = sim.load_scenario("scenarios/poland-2025-09-10.yaml")
    result = sim.run(scenario, replications=200, seed=1)
    result.metrics            # mean and 95 % interval of every metric
    result.drones, result.shots, result.sorties   # long-format tables
    result.to_dir("runs/reference")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.errors import GeographyError, IncursionError, LimitError, ScenarioError

if TYPE_CHECKING:
    from sim.loader import load_scenario, load_scenario_text, with_changes
    from sim.results import RunResult
    from sim.runner import run
    from sim.scenario import Scenario
    from sim.sweeps import sweep

__all__ = [
    "GeographyError",
    "IncursionError",
    "LimitError",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "__version__",
    "load_scenario",
    "load_scenario_text",
    "run",
    "sweep",
    "with_changes",
]

_LAZY = {
    "load_scenario": "sim.loader",
    "load_scenario_text": "sim.loader",
    "with_changes": "sim.loader",
    "RunResult": "sim.results",
    "run": "sim.runner",
    "sweep": "sim.sweeps",
    "Scenario": "sim.scenario",
}


def __getattr__(name: str) -> Any:
    # Lazy so that `import sim` stays cheap (no SimPy, pandas or pyproj at import time).
    if name == "__version__":
        from sim.outputs import package_version

        return package_version()
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
