"""``incursion sweep``: a designed parameter sweep with replications (spec section 4)."""

from __future__ import annotations

import math
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

__all__ = ["sweep_cmd"]


def _duration(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    if s < 1:
        return "< 1 s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def _level_text(p: Any) -> str:
    if p.values is not None:
        n = len(p.values)
        shown = ", ".join(str(v) for v in p.values[:8]) + (", ..." if n > 8 else "")
        return f"{n} level{'s' if n != 1 else ''}: {shown}"
    lo, hi = p.range
    kind = "integers" if p.integer else "range"
    return f"{kind} {lo:g} .. {hi:g}"


def _plan_table(plan: Any) -> Table:
    t = Table(title="parameters", title_justify="left")
    t.add_column("parameter", no_wrap=True)
    t.add_column("sets")
    t.add_column("levels / bounds")
    for p in plan.parameters:
        t.add_row(p.name, "\n".join(p.paths) if p.paths != (p.name,) else "", _level_text(p))
    return t


def _points_table(plan: Any, limit: int = 12) -> Table:
    t = Table(title=f"design points (first {min(limit, plan.n_points)})", title_justify="left")
    t.add_column("point", justify="right")
    for p in plan.parameters:
        t.add_column(p.name, justify="right")
    t.add_column("seed", justify="right")
    for i in range(min(limit, plan.n_points)):
        t.add_row(
            str(i), *(_cell(plan.points[i][p.name]) for p in plan.parameters), str(plan.seeds[i])
        )
    return t


def _cell(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def trade_off_front(cer: Any, leak: Any) -> Any:
    """Positions of the points no other point beats on both the cost-exchange ratio and the
    leak fraction (lower is better in both; NaN rows left out), most protective first."""
    import numpy as np

    cer = np.asarray(cer, float)
    leak = np.asarray(leak, float)
    ok = np.flatnonzero(np.isfinite(cer) & np.isfinite(leak))
    order = ok[np.lexsort((cer[ok], leak[ok]))]  # by leak fraction, then ratio
    front, best = [], np.inf
    for i in order:
        if cer[i] < best:  # cheaper than every point that leaks as little or less
            front.append(int(i))
            best = cer[i]
    return np.asarray(front, np.int64)


def _best_table(plan: Any, results: Any, n: int = 8) -> Table:
    # Parameters held at one level are the same in every row (the plan table lists them): left
    # out, so that the ones that vary keep readable column names in a narrow terminal.
    names = [p.name for p in plan.parameters]
    varying = [name for name in names if results[name].astype(str).nunique() > 1] or names
    col = "cost_exchange_ratio_mean"
    launched = "drones_launched_mean" in results.columns
    if "leak_fraction_mean" in results.columns:
        leak = results["leak_fraction_mean"].to_numpy(float)
    elif "leakers_mean" in results.columns and launched:
        leak = (results["leakers_mean"] / results["drones_launched_mean"]).to_numpy(float)
    else:
        leak = None
    if leak is None:
        # nothing to weigh the ratio against: the lowest ratios
        rows = results.sort_values([col, "point"], kind="stable").head(n)
        title = "lowest cost-exchange ratio"
        notes = ["ranked by the ratio alone"]
    else:
        # A low ratio alone rewards a defence that holds fire; the question is a low ratio
        # without letting drones through, so show the points no other point beats on both.
        front = trade_off_front(results[col].to_numpy(float), leak)
        rows = results.iloc[front[:n]]
        title = "trade-off: lowest cost-exchange ratio for its leakers"
        notes = [
            f"{front.size} point{'s' if front.size != 1 else ''} that no other point beats on "
            "both the ratio and the leakers per drone launched"
            + (f" (the {n} that leak least shown)" if front.size > n else "")
            + "; the one leaking least first"
        ]
    t = Table(title=title, title_justify="left")
    t.add_column("point", justify="right")
    for name in varying:
        t.add_column(name, justify="right", overflow="fold")  # a long name wraps, never cut
    t.add_column("cost-\nexchange\nratio", justify="right")
    t.add_column("95 %\ninterval", justify="right", no_wrap=True)
    t.add_column("leakers /\nlaunched", justify="right", no_wrap=True)
    for _, row in rows.iterrows():
        lo, hi = row["cost_exchange_ratio_ci95_low"], row["cost_exchange_ratio_ci95_high"]
        leakers = f"{row['leakers_mean']:,.2f}" if "leakers_mean" in row else "–"
        if launched and "leakers_mean" in row:
            leakers += f" / {row['drones_launched_mean']:,.0f}"
        t.add_row(
            str(int(row["point"])),
            *(_cell(row[name]) for name in varying),
            f"{row[col]:,.2f}",
            f"{lo:,.2f}–{hi:,.2f}",
            leakers,
        )
    held = [name for name in names if name not in varying]
    if held:
        notes.append("held fixed: " + ", ".join(f"{h} = {_cell(results[h].iloc[0])}" for h in held))
    t.caption = "\n".join(notes)
    t.caption_justify = "left"
    return t


def sweep_cmd(
    sweep_file: Annotated[Path, typer.Argument(help="Sweep YAML file.", metavar="SWEEP")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output folder: new, empty or an earlier sweep's (default runs/sweeps/<sweep "
            "name>/).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="Local processes (default: every core); with --dask, LocalCluster workers.",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Run on an existing dask.distributed cluster, e.g. tcp://10.0.0.5:8786 "
            "(its workers need incursion installed).",
        ),
    ] = None,
    use_dask: Annotated[
        bool,
        typer.Option(
            "--dask",
            metavar="",
            help="Start a Dask LocalCluster of --workers processes (loopback) and run on it.",
        ),
    ] = False,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            metavar="des|vectorised",
            help="des (SimPy) or vectorised (much faster; refuses what it cannot model) for "
            "every point, overriding the sweep file's engine: (which defaults to des).",
        ),
    ] = None,
    replications: Annotated[
        int | None,
        typer.Option(
            "--replications",
            "-n",
            min=1,
            help="Replications per point, overriding the sweep file's replications: (to try a "
            "sweep quickly).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", metavar="", help="Reuse the points already in the output folder."),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            metavar="",
            help="Replace an unfinished sweep in the output folder (a finished one is replaced "
            "anyway unless --resume).",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            metavar="",
            help="Check the file, print the plan and estimate, run nothing.",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", metavar="", help="No plan, progress or table.")
    ] = (False),
) -> None:
    """Run a designed parameter sweep (grid, lhs, sobol, nolh) with replications at each point."""
    from sim.errors import IncursionError
    from sim.locks import check_out_folder
    from sim.sweeps import (
        RESUME_AND_OVERWRITE,
        check_sweep_out,
        default_out,
        estimate_seconds,
        execute,
        plan_sweep,
        time_base,
    )

    if engine is not None and engine not in ("des", "vectorised"):
        raise typer.BadParameter("choose des or vectorised", param_hint="--engine")
    if resume and overwrite:
        raise typer.BadParameter(RESUME_AND_OVERWRITE, param_hint="--resume")
    if scheduler is not None and use_dask:
        raise typer.BadParameter(
            "--dask starts a local cluster; --scheduler uses an existing one: choose one",
            param_hint="--dask",
        )
    console = Console(quiet=quiet)
    err = Console(stderr=True, quiet=quiet)
    plan = plan_sweep(sweep_file, engine=engine, replications=replications)
    target = out if out is not None else default_out(plan)
    if not dry_run:
        check_out_folder(target)  # one line now, rather than a traceback once points have run
        check_sweep_out(target)  # not a run's folder, nor a user's: before the timing runs
    n = plan.n_points
    total = n * plan.replications
    console.print(
        f"[bold]{plan.name}[/]: base scenario {plan.base.name}, {plan.kind} design, "
        f"[bold]{n:,} point{'s' if n != 1 else ''} × {plan.replications:,} replication"
        f"{'s' if plan.replications != 1 else ''} = {total:,} replications[/], seed {plan.seed}, "
        f"common random numbers {'on' if plan.spec.crn else 'off'}, engine {plan.engine}"
    )
    for note in plan.notes:
        console.print(f"note: {note}", style="yellow")
    if not quiet:
        console.print(_plan_table(plan))
        if dry_run:
            console.print(_points_table(plan))

    timing = time_base(plan)
    serial = estimate_seconds(plan, range(n), timing)
    if scheduler is not None:
        where = f"{_duration(serial)} of compute, divided among the cluster's workers"
    else:
        k = min(workers or os.cpu_count() or 1, n)
        where = f"about {_duration(serial / k)} on {k} worker{'s' if k != 1 else ''}"
    largest = (
        f", of the largest point ({timing.drones_max:,} drones) {timing.rep_s_max:.3g} s"
        if timing.drones_max != timing.drones
        else ""
    )
    if not math.isfinite(serial):
        console.print(f"estimate: unknown ({timing.note})")
    else:
        subject = "the base" if not timing.note else "the timed point"
        console.print(
            f"estimate: {where} (one replication of {subject}, {timing.drones:,} drones, takes "
            f"{timing.rep_s:.3g} s{largest}; {timing.fixed_s:.3g} s per point besides; "
            f"{timing.engine} engine"
            + (
                "; at most: points that fly the tracks of an earlier one reuse them"
                if timing.engine == "vectorised"
                else ""
            )
            + ")"
        )
        if timing.note:
            console.print(f"note: {timing.note}", style="yellow")
    if plan.engine == "des" and plan.vectorisable and not quiet:
        console.print(
            "tip: every point is within the vectorised engine's model: --engine vectorised runs "
            "the same model many times faster (its results agree with SimPy's statistically, "
            "not draw for draw)"
        )
    if dry_run:
        console.print(f"dry run: nothing ran; results would go to {target}/")
        return

    def on_start(to_run: int, reused: int, discarded: int) -> None:
        if resume:
            msg = f"resume: reused {reused} of {n} points from {target}/, running {to_run}"
            if discarded:
                msg += f" ({discarded} unreadable point file(s) discarded)"
            console.print(msg)
            if reused and to_run:
                k = min(workers or os.cpu_count() or 1, to_run)
                rest = estimate_seconds(plan, range(to_run), timing) / k
                console.print(f"estimate for the rest: about {_duration(rest)}")

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )
    task = progress.add_task("points", total=None)
    started = False

    def tick(done: int, total_points: int) -> None:
        nonlocal started
        if not started:  # after the worker processes exist (no fork with a display thread)
            progress.start()
            started = True
        progress.update(task, completed=done, total=total_points)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old_term = signal.signal(signal.SIGTERM, on_term)
    try:
        outcome = execute(
            plan,
            target,
            workers=workers,
            scheduler=scheduler,
            dask=use_dask,
            resume=resume,
            overwrite=overwrite,
            progress=tick,
            on_start=on_start,
        )
    except KeyboardInterrupt:
        progress.stop()
        saved = len(list((target / "points").glob("point-*.json")))
        print(
            f"incursion: sweep stopped; {saved} of {n} points are saved in {target}/points/: "
            f"run again with --resume to finish",
            file=sys.stderr,
        )
        raise
    except IncursionError:
        progress.stop()
        raise
    finally:
        signal.signal(signal.SIGTERM, old_term)
        progress.stop()
    res = outcome.results
    console.print(
        f"ran {outcome.ran} point{'s' if outcome.ran != 1 else ''}"
        + (f", reused {outcome.reused}" if resume else "")
        + f" in {_duration(outcome.wall_s)}"
    )
    if "cost_exchange_ratio_mean" in res.columns and not quiet:
        console.print(_best_table(plan, res))
        below = int((res["cost_exchange_ratio_ci95_high"] < 1.0).sum())
        console.print(
            f"{below} of {n} points have a cost-exchange ratio below 1 (whole 95 % interval)"
        )
    console.print(f"wrote {outcome.out}/: {', '.join(outcome.files)}")
