"""Writing a run folder (spec section 3): summary, tables, the resolved scenario and what people
look at: ``tracks.geojson``, ``map.png``, ``timeline.png`` and ``report.html`` (one replication's
tracks, chosen by ``map_replication``; see :mod:`sim.geojson_out`, :mod:`sim.plots`,
:mod:`sim.report`).

The folder is written under a temporary name beside the target and renamed into place at the end,
so an interrupted run leaves either a complete folder or none. A folder that exists already is
replaced only if it holds a previous run and nothing else (a run's ``summary.json`` and only the
files a run writes); anything else is refused rather than overwritten, so that no file of the
user's is lost.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from sim._paths import current_umask
from sim.csvtable import write_csv
from sim.errors import IncursionError

if TYPE_CHECKING:
    from sim.results import RunResult

__all__ = ["package_version", "write_run_folder"]

FORMATS = ("csv", "parquet", "both")
#: Every file a run folder may hold: a folder with anything else is not replaced.
RUN_FILES = frozenset(
    {"summary.json", "scenario.resolved.yaml", "tracks.geojson", "map.png", "timeline.png",
     "report.html"}
    | {f"{t}.{ext}" for t in ("drones", "shots", "sorties") for ext in ("csv", "parquet")}
)  # fmt: skip


def _replaceable(out: Path) -> str | None:
    """Why ``out`` (which exists) may not be replaced by a run folder, or None if it may."""
    if not out.is_dir():
        return "is not a folder"
    summary = out / "summary.json"
    try:
        doc = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "is not a run folder (no readable summary.json)"
    if not (isinstance(doc, dict) and "metrics" in doc and "scenario" in doc):
        return "is not a run folder (its summary.json is not a run's)"
    others = sorted(p.name for p in out.iterdir() if p.name not in RUN_FILES)
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        return f"holds files a run does not write ({shown}), which replacing it would delete"
    return None


def package_version() -> str:
    """The installed package's version (``0+unknown`` when run from a bare source tree)."""
    try:
        return version("incursion")
    except PackageNotFoundError:
        return "0+unknown"


def write_run_folder(
    result: RunResult,
    out: Path,
    *,
    fmt: str = "both",
    map_replication: int = 0,
    figures: bool = True,
) -> Path:
    """Write ``summary.json``, ``drones``/``shots``/``sorties`` tables, the resolved scenario,
    ``tracks.geojson``, ``map.png``, ``timeline.png`` and ``report.html``.

    Parameters
    ----------
    result : RunResult
    out : Path
        The run folder to create (or replace, if it holds an earlier run).
    fmt : {"csv", "parquet", "both"}
        Table formats.
    map_replication : int
        The replication whose tracks the GeoJSON, map, timeline and report show (default 0).
    figures : bool
        ``False`` leaves out the GeoJSON, pictures and report (tables and summary only).

    Raises
    ------
    IncursionError
        For an unknown format, a ``map_replication`` the run does not hold, or an ``out`` that
        exists and is not a run folder. Nothing is written then; if writing fails half-way
        (a plotting error included), the temporary folder is removed and ``out`` is untouched.

    Returns
    -------
    Path
        ``out``.
    """
    from sim.loader import dump_resolved_yaml

    if fmt not in FORMATS:
        raise IncursionError(f"unknown table format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if figures:
        from sim.geojson_out import check_replication

        map_replication = check_replication(result, map_replication)
    out = Path(out)
    why = _replaceable(out) if out.exists() else None
    if why is not None:
        raise IncursionError(f"{out} exists and {why}; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        # mkdtemp makes the folder private (0700); the run folder gets the usual permissions.
        tmp.chmod(0o777 & ~current_umask())
        summary = dict(result.summary)
        summary["package_version"] = package_version()
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
        tables = {"drones": result.drones, "shots": result.shots, "sorties": result.sorties}
        for name, frame in tables.items():
            if fmt in ("csv", "both"):
                write_csv(frame, tmp / f"{name}.csv")
            if fmt in ("parquet", "both"):
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
        # the seed and replication count this run used (command-line overrides included), so
        # that running the file again reproduces the run
        ran = result.scenario.model_copy(
            update={"seed": result.seed, "replications": result.replications}
        )
        (tmp / "scenario.resolved.yaml").write_text(
            f"# resolved by incursion {package_version()}, seed {result.seed}\n"
            + dump_resolved_yaml(ran)
        )
        if figures:
            _write_pictures(result, tmp, map_replication)
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


def _write_pictures(result: RunResult, folder: Path, replication: int) -> None:
    """``tracks.geojson``, ``map.png``, ``timeline.png`` and ``report.html`` into ``folder``."""
    from sim.geojson_out import write_tracks_geojson
    from sim.plots import write_figures
    from sim.report import report_html

    write_tracks_geojson(result, folder / "tracks.geojson", replication)
    pngs = write_figures(result, folder, replication)
    files = [*(p.name for p in folder.iterdir()), "report.html"]
    page = report_html(
        result,
        map_png=pngs["map.png"],
        timeline_png=pngs["timeline.png"],
        replication=replication,
        package_version=package_version(),
        files=sorted(files),
    )
    (folder / "report.html").write_text(page, encoding="utf-8")
