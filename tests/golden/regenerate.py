"""Regenerate the golden metrics of the shipped scenarios (``tests/golden/<scenario>.json``).

``tests/test_golden.py`` runs every scenario in ``scenarios/`` at its own seed with a few
replications and one worker, and compares the summary (every metric's mean and 95 % interval, and
the shots, kills and cost per weapon) with the file written here.

Run it only when a change of the model's results is intended (an engine change, a catalogue
number, a scenario edit), from the repository root::

    python tests/golden/regenerate.py            # every scenario
    python tests/golden/regenerate.py mass-raid  # some of them

Then look at the diff of the JSON files, and say in the commit message why the figures moved.
If the test fails and no change of the results was intended, fix the code, not the files.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

import sim

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
GOLDEN = Path(__file__).resolve().parent

#: Replications per scenario: few, so that the test stays fast; the figures are not estimates.
DEFAULT_REPLICATIONS = 10
REPLICATIONS = {"mass-raid": 2}


def replications_for(name: str) -> int:
    """Replications of the golden run of scenario ``name``."""
    return REPLICATIONS.get(name, DEFAULT_REPLICATIONS)


def scenario_paths() -> list[Path]:
    """Every shipped scenario file, sorted."""
    return sorted(SCENARIOS.glob("*.yaml"))


def golden_summary(path: Path, replications: int | None = None) -> dict[str, Any]:
    """Run the scenario at ``path`` as the golden test does and return what is compared."""
    s = sim.load_scenario(path)
    n = replications_for(s.name) if replications is None else replications
    r = sim.run(s, replications=n, seed=s.seed, workers=1)
    return {
        "scenario": s.name,
        "file": f"scenarios/{path.name}",
        "seed": s.seed,
        "replications": n,
        "metrics": r.summary["metrics"],
        "by_weapon": r.summary["by_weapon"],
    }


def main(argv: list[str]) -> int:
    paths = scenario_paths()
    if argv:
        wanted = set(argv)
        paths = [p for p in paths if p.stem in wanted]
        missing = wanted - {p.stem for p in paths}
        if missing:
            print(f"no such scenario: {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    for path in paths:
        golden = golden_summary(path)
        golden["generated_with"] = {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "incursion": sim.__version__,
        }
        out = GOLDEN / f"{path.stem}.json"
        out.write_text(json.dumps(golden, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        print(f"wrote {out.relative_to(ROOT)} ({golden['replications']} replications)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
