"""``incursion run``: run a scenario, print the summary table, write the run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

__all__ = ["render_summary", "run_cmd"]

_ROWS = (
    ("cost_exchange_ratio", "cost-exchange ratio (defender / attacker)", "{:,.2f}"),
    ("defender_cost_usd", "defender cost (USD)", "{:,.0f}"),
    ("attacker_cost_usd", "attacker cost (USD)", "{:,.0f}"),
    ("cost_per_kill_usd", "cost per kill (USD)", "{:,.0f}"),
    ("drones_launched", "drones launched", "{:,.1f}"),
    ("drones_crossed_border", "crossed the border", "{:,.1f}"),
    ("drones_detected", "detected", "{:,.1f}"),
    ("drones_destroyed", "destroyed", "{:,.2f}"),
    ("leakers", "leakers (reached aim point)", "{:,.2f}"),
    ("crashed", "crashed (fuel, EW)", "{:,.2f}"),
    ("shots_fired", "shots fired", "{:,.2f}"),
    ("sorties", "fighter sorties", "{:,.2f}"),
)


def _fmt(fmt: str, v: Any) -> str:
    return "–" if v is None else fmt.format(v)


def render_summary(summary: dict[str, Any]) -> Table:
    """A rich table of the headline metrics with their 95 % intervals."""
    n = summary["replications"]
    t = Table(
        title=f"{summary['scenario']}: {n:,} replication{'' if n == 1 else 's'}, "
        f"seed {summary['seed']}, engine {summary['engine']}"
    )
    t.add_column("metric")
    t.add_column("mean", justify="right")
    t.add_column("95 % interval", justify="right")
    # One replication shows no spread, which is not certainty: summary.json keeps the
    # contract's [mean, mean], the table says what it is.
    single = summary["replications"] == 1
    if single:
        t.caption = "one replication: no interval (use --replications N, N >= 2)"
    for key, label, fmt in _ROWS:
        m = summary["metrics"].get(key)
        if m is None:
            continue
        lo, hi = m["ci95"]
        interval = "–" if single else f"{_fmt(fmt, lo)} – {_fmt(fmt, hi)}"
        t.add_row(label, _fmt(fmt, m["mean"]), interval)
    by_weapon = summary.get("by_weapon", {})
    if by_weapon:
        w = Table(title="defender cost by weapon, and sorties (mean per replication)")
        for col in ("weapon", "shots", "kills", "cost (USD)"):
            w.add_column(col, justify="left" if col == "weapon" else "right")
        for name, v in by_weapon.items():
            if (v["shots"]["mean"] or 0) == 0:
                continue
            w.add_row(
                name,
                _fmt("{:,.2f}", v["shots"]["mean"]),
                _fmt("{:,.2f}", v["kills"]["mean"]),
                _fmt("{:,.0f}", v["cost_usd"]["mean"]),
            )
        # The weapons' costs are the shots only: a last row gives what the sorties add, so that
        # the column adds up to the defender cost above.
        sorties = summary["metrics"].get("sortie_cost_usd")
        hours = summary["metrics"].get("sortie_hours")
        if sorties is not None and (sorties["mean"] or 0) > 0:
            w.add_section()
            w.add_row(
                "fighter sorties"
                + (f" ({_fmt('{:,.1f}', hours['mean'])} flight h)" if hours else ""),
                "",
                "",
                _fmt("{:,.0f}", sorties["mean"]),
            )
        grid = Table.grid(padding=(1, 0))
        grid.add_row(t)
        grid.add_row(w)
        return grid
    return t


def run_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", metavar="SCENARIO")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default runs/<name>/).")
    ] = None,
    replications: Annotated[
        int | None, typer.Option("--replications", "-n", help="Override the scenario's count.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Override the scenario's seed.")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="des|vectorised",
            help="des (SimPy, every feature) or vectorised (shared track pools and a compiled "
            "C2 kernel, for many replications; refuses what it cannot model exactly).",
        ),
    ] = "des",
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="Processes (default: every core)."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", metavar="csv|parquet|both", help="Table format: csv, parquet or both."
        ),
    ] = "both",
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", metavar="", help="No progress or table.")
    ] = False,
    until_ci: Annotated[
        float | None,
        typer.Option(
            "--until-ci",
            metavar="REL",
            help="Add batches of --replications until the 95 % interval of the cost-exchange "
            "ratio is narrower than REL x its mean (e.g. 0.05), or --max-replications.",
        ),
    ] = None,
    max_replications: Annotated[
        int, typer.Option("--max-replications", help="Cap for --until-ci.")
    ] = 10_000,
    map_replication: Annotated[
        int,
        typer.Option(
            "--map-replication",
            min=0,
            metavar="K",
            help="Replication shown in map.png, timeline.png, tracks.geojson and report.html.",
        ),
    ] = 0,
) -> None:
    """Run a scenario, print a summary table and write the run folder."""
    from sim.loader import load_scenario
    from sim.locks import folder_lock
    from sim.outputs import FORMATS, write_run_folder
    from sim.results import stop_in_words
    from sim.runner import run

    if fmt not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    if replications is not None and replications < 1:
        raise typer.BadParameter(
            f"must be at least 1, got {replications}", param_hint="--replications"
        )
    console = Console(stderr=True, quiet=quiet)
    scen = load_scenario(scenario)
    reps = replications if replications is not None else scen.replications
    if engine not in ("des", "vectorised"):
        raise typer.BadParameter("choose des or vectorised", param_hint="--engine")
    if map_replication >= reps:
        raise typer.BadParameter(
            f"{map_replication} is not a replication of this run (0..{reps - 1})",
            param_hint="--map-replication",
        )
    if engine == "vectorised":
        from sim.vectorised import PATH_REPLICATIONS

        if map_replication >= PATH_REPLICATIONS:
            raise typer.BadParameter(
                f"the vectorised engine keeps the flight paths of its first {PATH_REPLICATIONS} "
                f"replications only (0..{PATH_REPLICATIONS - 1})",
                param_hint="--map-replication",
            )
    target = out if out is not None else Path("runs") / scen.name
    with (
        folder_lock(target),
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=quiet,
        ) as progress,
    ):
        first_use = (
            " (loading the compiled kernel: the first run on a machine compiles it, about a minute)"
            if engine == "vectorised"
            else ""
        )
        task = progress.add_task(f"{scen.name}{first_use}", total=reps)

        def show(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, description=scen.name)

        try:
            result = run(
                scen,
                replications=replications,
                seed=seed,
                workers=workers,
                engine=engine,
                until_ci=until_ci,
                max_replications=max_replications,
                progress=show,
            )
        except KeyboardInterrupt:
            progress.stop()
            console.print(f"interrupted: nothing written to {target}")
            raise
        # Tables, map, timeline and report take a few seconds more: say so, rather than leave
        # a finished bar standing still.
        progress.update(task, description=f"{scen.name}: writing the run folder")
        try:
            write_run_folder(result, target, fmt=fmt, map_replication=map_replication)
        except KeyboardInterrupt:
            progress.stop()
            console.print(f"interrupted while writing: {target} left as it was before this run")
            raise
    if until_ci is not None:
        console.print(
            f"stopped after {result.replications:,} replications: "
            f"{stop_in_words(result.stop_reason)}",
            soft_wrap=True,
        )
    if not quiet:
        Console().print(render_summary(result.summary))
        files = sorted(p.name for p in target.iterdir())
        console.print(f"wrote {target}/: {', '.join(files)}")
