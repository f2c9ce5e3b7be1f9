"""Writing a run folder (spec section 3): summary, tables and the resolved scenario.

The folder is written under a temporary name beside the target and renamed into place at the end,
so an interrupted run leaves either a complete folder or none. A folder that exists already is
replaced only if it holds a previous run (it has ``summary.json``); anything else is refused rather
than overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from sim.errors import IncursionError

if TYPE_CHECKING:
    from sim.results import RunResult

__all__ = ["package_version", "write_run_folder"]

FORMATS = ("csv", "parquet", "both")


def package_version() -> str:
    """The installed package's version (``0+unknown`` when run from a bare source tree)."""
    try:
        return version("incursion")
    except PackageNotFoundError:
        return "0+unknown"


def write_run_folder(result: RunResult, out: Path, *, fmt: str = "both") -> Path:
    """Write ``summary.json``, ``drones``/``shots``/``sorties`` tables and the resolved scenario.

    Parameters
    ----------
    result : RunResult
    out : Path
        The run folder to create (or replace, if it holds an earlier run).
    fmt : {"csv", "parquet", "both"}
        Table formats.

    Returns
    -------
    Path
        ``out``.
    """
    from sim.loader import dump_resolved_yaml

    if fmt not in FORMATS:
        raise IncursionError(f"unknown table format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and not (out.is_dir() and (out / "summary.json").exists()):
        raise IncursionError(
            f"{out} exists and is not a run folder (no summary.json); choose another --out"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        summary = dict(result.summary)
        summary["package_version"] = package_version()
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        tables = {"drones": result.drones, "shots": result.shots, "sorties": result.sorties}
        for name, frame in tables.items():
            if fmt in ("csv", "both"):
                frame.to_csv(tmp / f"{name}.csv", index=False, float_format="%.6f")
            if fmt in ("parquet", "both"):
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
        (tmp / "scenario.resolved.yaml").write_text(
            f"# resolved by incursion {package_version()}, seed {result.seed}\n"
            + dump_resolved_yaml(result.scenario)
        )
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, trash / out.name)
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
