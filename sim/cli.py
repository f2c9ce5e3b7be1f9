"""The ``incursion`` command line (spec section 2).

Each command is a plain function registered on :data:`app`; commands that live in other modules
are registered at the bottom of this file. :func:`main` is the console-script entry point: it turns
every :class:`~sim.errors.IncursionError` into a message on stderr and exit status 2, without a
traceback, and Ctrl-C into exit status 130.
"""

from __future__ import annotations

import enum
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sim.cli_run import run_cmd
from sim.errors import IncursionError, ScenarioError

__all__ = ["app", "main"]

app = typer.Typer(
    name="incursion",
    help="Airspace-incursion simulator: drone waves against sensors, guns, missiles and "
    "fighters, with cost-exchange ratios and confidence intervals.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from sim.outputs import package_version

        typer.echo(f"incursion {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            metavar="",
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Airspace-incursion simulator: drone waves against sensors, guns, missiles and fighters."""


# --------------------------------------------------------------------------------------------
# validate


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def validate_cmd(
    files: Annotated[
        list[Path],
        typer.Argument(help="Scenario YAML files.", metavar="FILE", show_default=False),
    ],
) -> None:
    """Check scenario files: print 'ok' or every problem (exit 0 if all are valid, else 2).

    One file: 'ok' alone on standard output; several: 'FILE: ok' for each valid one.

    What a valid file holds (drones, waves, defenders) goes to standard error.

    So do the problems, one a line: FILE:LINE:COLUMN: field.path: what was expected.
    """
    from sim.loader import load_scenario

    failed = False
    for f in files:
        try:
            s = load_scenario(f)
        except ScenarioError as exc:
            failed = True
            typer.echo(str(exc), err=True)
            continue
        except IncursionError as exc:
            failed = True
            typer.echo(f"{f}: {exc}", err=True)
            continue
        typer.echo("ok" if len(files) == 1 else f"{f}: ok")
        typer.echo(
            f"{f}: {_plural(s.total_drones, 'drone')} in {_plural(len(s.waves), 'wave')}, "
            f"{_plural(len(s.defenders), 'defender')}",
            err=True,
        )
    if failed:
        raise typer.Exit(2)


# --------------------------------------------------------------------------------------------
# schema


def schema_cmd(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write to this file instead of standard output."),
    ] = None,
) -> None:
    """Print the JSON Schema of the scenario format (for editors and linters)."""
    from sim.loader import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise IncursionError(f"cannot write {out}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {out}", err=True)


# --------------------------------------------------------------------------------------------
# catalogue


class Kind(enum.StrEnum):
    """Sections of the catalogue, as the command line names them."""

    drones = "drones"
    weapons = "weapons"
    platforms = "platforms"


_SECTION = {Kind.drones: "drone_types", Kind.weapons: "weapons", Kind.platforms: "platforms"}
_TITLE = {Kind.drones: "Drone types", Kind.weapons: "Weapons", Kind.platforms: "Platforms"}


def _n(v: float | None, fmt: str = "{:,.0f}") -> str:
    if v is None:
        return "–"
    return fmt.format(v)


def _sources(entry: Any) -> str:
    """'2024-2025, 3/6 est.': years of the sources and how many figures are estimates."""
    srcs = list(entry.sources.values())
    if not srcs:
        return "–"
    years = sorted({s.year for s in srcs})
    span = str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"
    est = sum(s.estimate for s in srcs)
    flag = "all est." if est == len(srcs) else f"{est}/{len(srcs)} est." if est else "no est."
    return f"{span}, {flag}"


#: Narrower consoles leave out the label and country columns (``--json`` has them), so that the
#: numbers and sources keep their room.
_CATALOGUE_FULL_WIDTH = 120


def _table(kind: Kind, entries: dict[str, Any], width: int = 200) -> Table:
    t = Table(title=_TITLE[kind], title_justify="left")
    t.add_column("id", no_wrap=True, style="bold")
    full = width >= _CATALOGUE_FULL_WIDTH
    if full:
        t.add_column("label", max_width=36)
        t.add_column("country", max_width=18)
    if kind is Kind.drones:
        cols = ("speed km/h", "alt m", "endurance km", "cost USD")
        rows = [(e.speed_kmh, e.altitude_m, e.endurance_km, e.cost_usd) for e in entries.values()]
        fmts = ("{:,.0f}",) * 4
    elif kind is Kind.weapons:
        cols = ("cost USD", "pk", "range km", "max alt m", "speed m/s", "from")
        rows = [
            (
                e.cost_usd,
                e.pk,
                f"{e.min_range_km:g}-{e.max_range_km:g}",
                e.max_altitude_m,
                e.speed_mps,
                ", ".join(e.launched_from) if e.launched_from else "any",
            )
            for e in entries.values()
        ]
        fmts = ("{:,.0f}", "{:.2f}", "{}", "{:,.0f}", "{:,.0f}", "{}")
    else:
        cols = ("cruise km/h", "USD per flight h", "endurance h")
        rows = [(e.cruise_kmh, e.cost_per_flight_hour_usd, e.endurance_h) for e in entries.values()]
        fmts = ("{:,.0f}", "{:,.0f}", "{:g}")
    # Numbers are never cut ("1,500,…") nor wrapped: in a narrow terminal the text columns
    # (label, country, from, sources) wrap and give way instead. Units go on a second header
    # line so that a unit does not make a column of short numbers wide.
    for c in cols:
        if c == "from":
            t.add_column(c, justify="left")
        else:
            name, _, unit = c.rpartition(" ")
            t.add_column(f"{name}\n{unit}" if name else c, justify="right", no_wrap=True)
    t.add_column("sources")
    for (ident, e), row in zip(entries.items(), rows, strict=True):
        cells = [_n(v, f) if not isinstance(v, str) else v for v, f in zip(row, fmts, strict=True)]
        names = (e.label or "", e.country or "") if full else ()
        t.add_row(ident, *names, *cells, _sources(e))
    return t


def catalogue_cmd(
    as_json: Annotated[
        bool,
        typer.Option("--json", metavar="", help="Print the catalogue, with its sources, as JSON."),
    ] = False,
    kind: Annotated[Kind | None, typer.Option("--kind", help="Only this section.")] = None,
) -> None:
    """List the built-in drone types, weapons and platforms with costs and sources."""
    from sim.catalogue import catalogue_models, load_catalogue

    kinds = [kind] if kind is not None else list(Kind)
    if as_json:
        raw = load_catalogue()
        data = {_SECTION[k]: raw[_SECTION[k]] for k in kinds}
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        return
    models = dict(zip(_SECTION.values(), catalogue_models(), strict=True))
    console = Console(width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", 160)))
    for k in kinds:
        console.print(_table(k, models[_SECTION[k]], console.width))
    console.print(
        "sources: years of the figures, and how many are estimates or assumptions "
        "(incursion catalogue --json for every source and note"
        + (")" if console.width >= _CATALOGUE_FULL_WIDTH else ", labels and countries)"),
        style="dim",
    )


# --------------------------------------------------------------------------------------------
# Registration. Commands defined in other modules are added here, one line each.

app.command("validate")(validate_cmd)
app.command("schema")(schema_cmd)
app.command("catalogue")(catalogue_cmd)


app.command("run")(run_cmd)
from sim.cli_sweep import sweep_cmd  # noqa: E402

app.command("sweep")(sweep_cmd)


# --------------------------------------------------------------------------------------------
# Entry point


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, map errors to exit statuses.

    Exit status 0 on success, 2 for invalid input (any :class:`IncursionError`, a usage error),
    130 when interrupted (Ctrl-C).
    """
    if threading.current_thread() is threading.main_thread():
        # SIGTERM ends a run as Ctrl-C does: cleanly, leaving no half-written folder.
        signal.signal(signal.SIGTERM, _terminate)
    try:
        app(args=argv, prog_name="incursion")
    except IncursionError as exc:
        text = str(exc) if isinstance(exc, ScenarioError) else f"incursion: error: {exc}"
        print(text, file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("incursion: interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit as exc:
        if exc.code == 130:  # typer turns Ctrl-C inside a command into exit status 130
            print("incursion: interrupted", file=sys.stderr)
        raise
