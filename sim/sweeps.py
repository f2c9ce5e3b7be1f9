"""Batch parameter sweeps: designed experiments with replications (spec section 4).

A sweep file names a base scenario, a design and the parameters it varies::

    scenario: ../poland-2025-09-10.yaml   # the base, relative to this file
    replications: 50                       # per design point (default: the scenario's)
    seed: 1                                # default: the scenario's
    crn: true                              # common random numbers (default true)
    engine: des                            # des (default) | vectorised
    design: {kind: lhs, samples: 64}       # grid | lhs | sobol | nolh
    parameters:
      - path: defenders.narew-1.magazine   # dotted path; list items by name
        range: [4, 16]                     # lhs / sobol / nolh bounds
      - name: idt_magazine                 # one parameter setting several fields at once
        path: [defenders.idt-1.magazine, defenders.idt-2.magazine]
        range: [0, 24]

A ``grid`` design takes levels: ``values: [10, 50, 200]``, or ``range: [10, 200]`` with
``levels: k`` (default 5), which stands for ``k`` evenly spaced levels from low to high, both
included (``levels: 3`` gives ``[10, 105, 200]``); a parameter with a single level is a fixed
change applied at every point (it still gets its column). A range is of integers when the base
value at the path is an integer (else of numbers): a grid range's levels are then rounded to the
nearest integer (half to even), and repeated levels dropped.

:func:`plan_sweep` reads and checks it (every level, both ends of every range and every design
point are applied to the base with :func:`sim.loader.with_changes` before anything runs) and
builds the design (:mod:`sim.designs`); :func:`sweep` runs the points and writes:

- ``DIR/results.parquet``: one row per design point: ``point``, one column per parameter (its
  path, or its ``name``), ``seed`` (the run seed of the point) and, for every metric of the run
  summary, ``<metric>_mean``, ``<metric>_ci95_low``, ``<metric>_ci95_high``;
- ``DIR/replications.parquet``: one row per point and replication: ``point``, the parameters,
  ``replication``, ``rng_seed`` (engine ``des``) or ``cluster`` (engine ``vectorised``) and every
  per-replication metric;
- ``DIR/sweep.json``: what ran (with the engine), and the fingerprint that guards ``--resume``;
- ``DIR/sensitivity.csv``: first-order sensitivity of the cost-exchange ratio to each
  parameter (see :func:`first_order_indices`);
- ``DIR/sweep.png``: the headline metrics against the parameters;
- ``DIR/points/point-NNNNNN.json``: each point's result, written atomically when it completes.

Random numbers. Point ``p`` runs :func:`sim.run` with ``workers=1`` and a run seed ``S_p``, so its
replication ``i`` draws from ``SeedSequence(S_p, spawn_key=(i,))``. With ``crn: true`` (common
random numbers, the default) ``S_p`` is the sweep seed ``S`` at every point: replication ``i``
sees the same random stream (launch times, route offsets, detections, shot outcomes as far as
the scenarios consume the stream alike) at every point, so differences between points are not
masked by sampling noise. With ``crn: false``, ``S_p = SeedSequence(S, spawn_key=(p,))
.generate_state(1)[0]``: independent streams. ``S_p`` is the ``seed`` column.

Engines. ``engine:`` (or ``sweep(engine=)``, ``incursion sweep --engine``, which override the
file) chooses the engine of every point: ``des`` (the SimPy engine, the default) or
``vectorised`` (:mod:`sim.vectorised`: the same model, much faster; its streams, hence its
results, differ draw for draw, and its replications come in clusters). A point whose scenario
the vectorised engine does not model fails like any other failing point.

Executors. By default the points run on a process pool of every local core (``workers``); with
``dask`` on a new ``distributed.LocalCluster`` (loopback only); with ``scheduler`` on an existing
Dask cluster. Each point runs in one process, and the parent writes each point's file as it
completes (so a remote cluster needs no shared file system).

Resuming. ``sweep.json`` holds a sha256 fingerprint of the sweep file's content, the resolved base
scenario, the package version and the engine; ``resume`` reuses the point files of the same
fingerprint only (so never mixes engines).
Without ``resume`` a finished sweep in the folder is replaced; an unfinished one is refused unless
``overwrite`` (``resume`` and ``overwrite`` together are refused). The folder must be new, empty,
or hold a sweep's files and nothing else (a ``sweep.json`` of a sweep's, see
:func:`check_sweep_out`): a sweep never writes into, or deletes files of, a run folder or a
folder of the user's.

Parameters. Paths are resolved in the base scenario (:func:`sim.loader.set_path`), list items to
their index: no two parameters (nor two paths of one) may set the same field, however spelled, or
one a field inside the other; nor may a parameter set ``replications`` or ``seed`` (the sweep's
own, at every point) or ``name`` or ``description`` (which change nothing).

The tables do not depend on the executor, the number of workers, the order in which points
complete, or on whether the sweep was interrupted and resumed: each point's result is a function
of the base scenario, its values and its seed only, and the tables are assembled in point order.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import difflib
import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim import designs
from sim._paths import current_umask
from sim.errors import IncursionError, LimitError, OutputFolderError, Problem, ScenarioError
from sim.scenario import MAX_REPLICATIONS, Bool, Int, Scenario

__all__ = [
    "HEADLINE_METRICS",
    "MAX_POINTS",
    "DesignSpec",
    "ParameterSpec",
    "SweepOutcome",
    "SweepPlan",
    "SweepSpec",
    "SweepWarning",
    "execute",
    "first_order_indices",
    "load_sweep",
    "plan_sweep",
    "sweep",
]

#: Most design points in one sweep.
MAX_POINTS = 100_000
#: Most parameters in one sweep.
MAX_PARAMETERS = 50
#: Most times the local process pool is replaced after a worker process died, in one sweep.
POOL_RESTARTS = 3
#: Metrics drawn in ``sweep.png``.
HEADLINE_METRICS: tuple[str, ...] = (
    "cost_exchange_ratio",
    "leakers",
    "drones_destroyed",
    "defender_cost_usd",
)
#: Levels a grid parameter given by ``range`` takes when it gives no ``levels``.
GRID_LEVELS = 5
#: Version of the point-file layout.
POINT_FORMAT = 1
_RESERVED = ("point", "seed", "replication", "rng_seed", "cluster")
#: Scenario fields a parameter may not set: the sweep sets them itself at every point, or they
#: change nothing in the simulation (every point would be the same, with a column saying not).
_NOT_PARAMETERS = {
    "replications": "the sweep sets the replications of every point itself ({replications}, the "
    "sweep file's replications: or else the base scenario's), so this parameter would change "
    "nothing but its column: set replications: in the sweep file instead",
    "seed": "the sweep sets the seed of every point itself ({seed}, the sweep file's seed: or "
    "else the base scenario's; with crn: false, a different one drawn from it at each point), so"
    " this parameter would change nothing but its column: set seed: in the sweep file instead",
    "name": "the scenario's name is a label and changes nothing in the simulation: every point "
    "would give the same results",
    "description": "the scenario's description changes nothing in the simulation: every point "
    "would give the same results",
}
#: The engines a sweep can run its points on (:func:`sim.run`'s ``engine``).
ENGINES = ("des", "vectorised")
_LARGEST_FILE = 1_000_000

log = logging.getLogger(__name__)


class SweepWarning(UserWarning):
    """Something about a sweep that the user should know (e.g. a design size rounded up)."""


# --------------------------------------------------------------------------------------------
# The sweep file


def _no_bool(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError(f"expected a number, got {'true' if v else 'false'}")
    return v


_Number = Annotated[float, BeforeValidator(_no_bool), Field(allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DesignSpec(_Model):
    """``design:``: which experimental design, and its size."""

    kind: Literal["grid", "lhs", "sobol", "nolh"] = Field(
        default="grid",
        description="grid (full factorial of the levels), lhs (Latin hypercube), sobol "
        "(scrambled Sobol'), nolh (Ye's orthogonal Latin hypercube)",
    )
    samples: Int | None = Field(
        default=None,
        ge=1,
        le=MAX_POINTS,
        description="design points (lhs, sobol: required; sobol rounds up to a power of 2; "
        "nolh: the minimum, rounded up to 2**m + 1)",
    )


class ParameterSpec(_Model):
    """One entry of ``parameters:``."""

    path: str | list[str] = Field(
        description="dotted path into the scenario (list items by name), or a list of paths "
        "that all take the same value"
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="column name in the results (default: the path); required for a list",
    )
    values: list[Any] | None = Field(
        default=None, min_length=1, max_length=MAX_POINTS, description="grid levels"
    )
    range: tuple[_Number, _Number] | None = Field(
        default=None,
        description="[low, high] bounds for lhs, sobol and nolh; for grid, the ends of the "
        "evenly spaced levels (see levels)",
    )
    levels: Int | None = Field(
        default=None,
        ge=2,
        le=MAX_POINTS,
        description=f"grid with range: the number of evenly spaced levels from low to high, both "
        f"included (default {GRID_LEVELS})",
    )

    @field_validator("levels")
    @classmethod
    def _levels_with_range(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is not None and info.data.get("values") is not None:
            raise ValueError(
                "levels goes with range: [low, high] (how many evenly spaced grid levels "
                "between them); values: [...] are the levels themselves: drop levels, or give "
                "range instead of values"
            )
        return v

    @model_validator(mode="after")
    def _one_of(self) -> ParameterSpec:
        if (self.values is None) == (self.range is None):
            raise ValueError(
                "give either values: [...] (grid levels) or range: [low, high] (bounds; a grid "
                f"takes levels: N evenly spaced between them, default {GRID_LEVELS})"
                + (", not both" if self.values is not None else "")
            )
        if self.range is not None and self.range[0] > self.range[1]:
            raise ValueError(f"range [{self.range[0]:g}, {self.range[1]:g}] must have low <= high")
        if isinstance(self.path, list):
            if not self.path:
                raise ValueError("path: give at least one path")
            if self.name is None:
                raise ValueError("a parameter with several paths needs a name: (its column)")
        return self

    @property
    def paths(self) -> tuple[str, ...]:
        """The paths this parameter sets."""
        return tuple(self.path) if isinstance(self.path, list) else (self.path,)

    @property
    def label(self) -> str:
        """The parameter's column name."""
        if self.name is not None:
            return self.name
        return self.path if isinstance(self.path, str) else ",".join(self.path)


class SweepSpec(_Model):
    """A sweep file (spec section 4)."""

    scenario: str = Field(min_length=1, description="base scenario, relative to the sweep file")
    description: str = ""
    replications: Int | None = Field(
        default=None, ge=1, le=MAX_REPLICATIONS, description="per design point"
    )
    seed: Int | None = Field(default=None, ge=0, lt=2**63)
    crn: Bool = Field(
        default=True,
        description="common random numbers: replication i uses the same stream at every point",
    )
    engine: Literal["des", "vectorised"] = Field(
        default="des",
        description="engine of every point: des (SimPy) or vectorised (much faster, refuses "
        "what it does not model); incursion sweep --engine overrides it",
    )
    design: DesignSpec = Field(default_factory=DesignSpec)
    parameters: list[ParameterSpec] = Field(min_length=1, max_length=MAX_PARAMETERS)


# --------------------------------------------------------------------------------------------
# Reading, with positions (the scenario loader's YAML reader)


def _loader() -> Any:
    from sim import loader

    return loader


def _type_along(loc: tuple[Any, ...], data: Any) -> Any:
    ld = _loader()
    tp: Any = SweepSpec
    for seg in loc:
        tp = ld._step(tp, seg, data)
        data = ld._child(data, seg)
        if tp is None:
            return None
    return tp


def _model_at(loc: tuple[Any, ...], data: Any) -> type[BaseModel] | None:
    tp = _type_along(loc, data)
    if tp is None:
        return None
    return _loader()._pick_model(tp, _loader()._child_at(data, loc))


def _spec_problems(exc: ValidationError, data: Any, doc: Any) -> list[Problem]:
    """pydantic's errors on a sweep document as problems with field paths and positions."""
    ld = _loader()
    issues: dict[tuple[tuple[Any, ...], bool], Any] = {}
    expected: dict[tuple[tuple[Any, ...], bool], list[str]] = {}
    listed = False
    for err in exc.errors(include_url=False):
        etype = err["type"]
        loc: list[Any] = []
        node = data
        segs = err["loc"]
        for n, seg in enumerate(segs):
            if (isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node)) or (
                isinstance(node, dict) and isinstance(seg, str) and seg in node
            ):
                loc.append(seg)
                node = node[seg]
            elif n == len(segs) - 1 and etype == "missing":
                loc.append(seg)
        at = tuple(loc)
        at_key = etype == "extra_forbidden"
        if etype == "extra_forbidden":
            model = _model_at(at[:-1], data)
            allowed = list(model.model_fields) if model is not None else []
            key = str(at[-1]) if at else "?"
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hints = [f"did you mean '{close[0]}'?"] if close else []
            if allowed and not listed:
                hints.append(f"allowed: {', '.join(allowed)}")
                listed = True
            message = f"unknown field '{key}'" + (f" ({' '.join(hints)})" if hints else "")
        elif etype == "missing":
            message = "required field is missing"
        elif etype in ("value_error", "assertion_error"):
            message = re.sub(r"^(Value|Assertion) error, ", "", str(err.get("msg", "")))
        else:
            what = ld._expected(err, _type_along(at, data))
            got = ld._got(err)
            prior = expected.setdefault((at, at_key), [])
            if what not in prior:
                prior.append(what)
            message = f"expected {' or '.join(prior)}, got {got}"
        issues[(at, at_key)] = ld._Issue(at, message, at_key=at_key)
    problems = [ld._place(issue, doc) for issue in issues.values()]
    return ld._sorted(list(dict.fromkeys(problems)))


def _parse_text(text: str, file: str) -> Any:
    ld = _loader()
    try:
        return ld._parse(text, file)
    except ScenarioError as exc:
        fixed = [
            dataclasses.replace(
                p,
                message=p.message.replace(
                    "a mapping of scenario fields (name, duration_h, waves, ...)",
                    "a mapping of sweep fields (scenario, replications, design, parameters)",
                ).replace("a mapping of scenario fields", "a mapping of sweep fields"),
            )
            for p in exc.problems
        ]
        raise ScenarioError(file, fixed) from None


@dataclasses.dataclass
class _Source:
    """A sweep document with where it came from."""

    spec: SweepSpec
    data: Any
    doc: Any  # the loader's _Doc (positions) or None
    file: str
    base_dir: Path
    content: bytes
    name: str

    def problem(self, loc: tuple[Any, ...], message: str) -> Problem:
        return _loader()._place(_loader()._Issue(loc, message), self.doc)

    def error(self, problems: list[Problem]) -> ScenarioError:
        return ScenarioError(self.file, _loader()._sorted(problems))


def _source(sweep_or_path: Any) -> _Source:
    ld = _loader()
    if isinstance(sweep_or_path, str | os.PathLike):
        path = Path(sweep_or_path)
        file = str(sweep_or_path)
        try:
            with path.open("rb") as f:
                raw = f.read(_LARGEST_FILE + 1)
        except FileNotFoundError:
            raise ScenarioError(file, [Problem("", "no such sweep file")]) from None
        except IsADirectoryError:
            raise ScenarioError(file, [Problem("", "is a folder, not a sweep file")]) from None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ScenarioError(file, [Problem("", f"cannot read: {reason}")]) from None
        if len(raw) > _LARGEST_FILE:
            raise ScenarioError(
                file, [Problem("", f"larger than {_LARGEST_FILE:,} bytes, the limit for a sweep")]
            )
        doc = _parse_text(ld._decode(raw, file), file)
        data, base_dir, content, name = doc.data, path.absolute().parent, raw, path.stem
    elif isinstance(sweep_or_path, SweepSpec | Mapping):
        data = (
            sweep_or_path.model_dump(mode="json", exclude_none=True)
            if isinstance(sweep_or_path, SweepSpec)
            else copy.deepcopy(dict(sweep_or_path))
        )
        doc, file, base_dir, name = None, "<sweep>", Path.cwd(), "sweep"
        content = json.dumps(data, sort_keys=True, default=str).encode()
    else:
        raise IncursionError(
            f"sweep: expected a sweep file path, a mapping or a SweepSpec, "
            f"got {type(sweep_or_path).__name__}"
        )
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(file, _spec_problems(exc, data, doc)) from None
    return _Source(spec, data, doc, file, base_dir, content, name)


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file's structure (not yet against its scenario).

    Raises
    ------
    ScenarioError
        Naming the file, line, column and field of every problem.
    """
    return _source(path).spec


# --------------------------------------------------------------------------------------------
# The plan: parameters checked against the scenario, the design built


@dataclasses.dataclass
class Parameter:
    """A parameter of a planned sweep."""

    name: str
    paths: tuple[str, ...]
    integer: bool
    #: The grid levels (for a grid parameter given by ``range``, the levels it turned into);
    #: None in a sampled design.
    values: list[Any] | None
    #: The bounds (a sampled design, or a grid parameter given by ``range``), else None.
    range: tuple[float, float] | None
    dtype: str


@dataclasses.dataclass
class SweepPlan:
    """A checked sweep, ready to run: the design points, their seeds and the fingerprint."""

    spec: SweepSpec
    file: str
    name: str
    base: Scenario
    scenario_file: Path | None
    parameters: list[Parameter]
    points: list[dict[str, Any]]
    seeds: list[int]
    replications: int
    seed: int
    drones: list[int]
    notes: list[str]
    fingerprint: dict[str, str]
    unit_design: np.ndarray | None = None
    engine: str = "des"
    #: Every point is within the vectorised engine's model (whichever engine the plan uses).
    vectorisable: bool = False

    @property
    def kind(self) -> str:
        """The design kind."""
        return self.spec.design.kind

    @property
    def n_points(self) -> int:
        """Number of design points."""
        return len(self.points)

    def changes(self, p: int) -> dict[str, Any]:
        """The scenario changes of point ``p`` (path -> value)."""
        return {path: self.points[p][par.name] for par in self.parameters for path in par.paths}

    def describe(self, p: int) -> str:
        """``name=value, ...`` of point ``p``."""
        return ", ".join(f"{par.name}={self.points[p][par.name]!r}" for par in self.parameters)


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


def _is_num(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float | np.floating)) and not isinstance(v, bool)


def _locate(document: dict[str, Any], path: str) -> tuple[Any, Any, tuple[Any, ...]]:
    """(base value at ``path`` or None, the model type there, its location: list items as their
    index); ScenarioError if no such path, or an ambiguous one."""
    ld = _loader()
    loc = ld._resolve(document, path)
    tp, _ = ld._type_at(loc, document)
    return ld._child_at(document, loc), tp, loc


def _path_loc(i: int, j: int | None) -> tuple[Any, ...]:
    """The sweep-file location of parameter ``i``'s path (its ``j``-th, for a list)."""
    return ("parameters", i, "path") if j is None else ("parameters", i, "path", j)


def _type_is_int(tp: Any) -> bool:
    if tp is None:
        return False
    members = _loader()._members(tp)
    return int in members and float not in members


def _type_is_num(tp: Any) -> bool:
    if tp is None:
        return False
    members = _loader()._members(tp)
    return int in members or float in members


def _plain_level(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def _column_dtype(levels: list[Any]) -> str:
    if all(isinstance(v, bool) for v in levels):
        return "bool"
    if all(_is_int(v) for v in levels):
        return "int64"
    if all(_is_num(v) for v in levels):
        return "float64"
    if all(isinstance(v, str) for v in levels):
        return "str"
    return "json"


def _range_levels(rng: tuple[float, float], k: int, *, integer: bool) -> list[Any]:
    """``k`` evenly spaced levels from ``rng[0]`` to ``rng[1]``, both included (a grid range).

    Integers (rounded to the nearest, half to even) when ``integer``; else numbers, the inner ones
    to 15 significant digits, which drops the last bit of binary noise (``[0.3, 0.9]`` gives
    0.6, not 0.6000000000000001). A level equal to an earlier one is dropped, so there may be
    fewer than ``k``.
    """
    lo, hi = rng
    flo, fhi = float(lo), float(hi)  # (integer bounds may be beyond int64)
    with np.errstate(over="ignore", invalid="ignore"):
        levels = np.linspace(flo, fhi, k)
    if not np.isfinite(levels).all():  # hi - lo overflows (ends near the largest float)
        t = np.linspace(0.0, 1.0, k)
        levels = flo * (1.0 - t) + fhi * t
    # The ends are the bounds as given; the inner levels stay within them.
    if integer:
        inner = [min(max(int(v), int(lo)), int(hi)) for v in np.rint(levels[1:-1])]
        return list(dict.fromkeys([int(lo), *inner, int(hi)]))
    inner_f = [min(max(float(f"{v:.15g}"), flo), fhi) for v in levels[1:-1]]
    return list(dict.fromkeys([flo, *inner_f, fhi]))


def _why(exc: ScenarioError) -> str:
    parts = []
    for p in exc.problems:
        msg = p.message.removeprefix("invalid after the change: ")
        parts.append(msg)
    return "; ".join(dict.fromkeys(parts)) or str(exc)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plan_sweep(
    sweep_or_path: str | Path | SweepSpec | Mapping[str, Any],
    *,
    engine: str | None = None,
    replications: int | None = None,
) -> SweepPlan:
    """Read a sweep, check it against its base scenario and build the design.

    Every parameter path must exist in the base scenario; every grid level and both ends of every
    range must give a valid scenario (applied one parameter at a time), and so must every design
    point (all parameters at once). Nothing is run.

    Parameters
    ----------
    sweep_or_path : path, mapping or SweepSpec
        A sweep file, or its content (relative scenario paths then resolve against the working
        directory).
    engine : {"des", "vectorised"}, optional
        The engine of every point, instead of the file's ``engine:`` (None: the file's).
    replications : int, optional
        Replications per point, instead of the file's ``replications:`` (None: the file's, else
        the base scenario's): to try a sweep quickly. Part of the fingerprint when given.

    Returns
    -------
    SweepPlan

    Raises
    ------
    ScenarioError
        The sweep file, or its base scenario, is not valid; each problem names the field
        (``parameters[1].values[2]``) and the parameter.
    LimitError
        The design has more than :data:`MAX_POINTS` points.
    IncursionError
        ``engine`` is not one of :data:`ENGINES`.
    LimitError
        ``replications`` is not a whole number from 1 to ``MAX_REPLICATIONS``.
    """
    from sim.loader import dump_resolved_yaml, load_scenario, scenario_to_document, with_changes
    from sim.outputs import package_version

    if engine is not None and engine not in ENGINES:
        raise IncursionError(f"unknown engine {engine!r}: choose 'des' (SimPy) or 'vectorised'")
    override = None
    if replications is not None:
        from sim.runner import whole_number

        override = whole_number("replications", replications, 1, MAX_REPLICATIONS)
    src = _source(sweep_or_path)
    spec = src.spec
    engine = engine if engine is not None else spec.engine
    kind = spec.design.kind
    problems: list[Problem] = []

    # Structure: the design and the parameters agree.
    if kind == "grid" and spec.design.samples is not None:
        problems.append(
            src.problem(
                ("design", "samples"),
                "a grid design takes no samples: its size is the product of the numbers of "
                "levels (use lhs, sobol or nolh for a sampled design)",
            )
        )
    if kind in ("lhs", "sobol") and spec.design.samples is None:
        problems.append(
            src.problem(("design",), f"{_an(kind)} design needs samples: N (the number of points)")
        )
    labels: dict[str, int] = {}
    for i, par in enumerate(spec.parameters):
        if kind != "grid" and par.levels is not None:
            problems.append(
                src.problem(
                    ("parameters", i, "levels"),
                    f"{_an(kind)} design samples between the bounds and takes no levels (its "
                    "size is design.samples): drop levels, or use design kind grid",
                )
            )
        if kind != "grid" and par.range is None:
            problems.append(
                src.problem(
                    ("parameters", i, "values"),
                    f"{_an(kind)} design samples between bounds: give range: [low, high] "
                    "instead of values (or use design kind grid)",
                )
            )
        label = par.label
        if label in labels:
            problems.append(
                src.problem(
                    ("parameters", i),
                    f"the parameter '{label}' is already parameters[{labels[label]}]: give "
                    "each a different name",
                )
            )
        labels.setdefault(label, i)
        if label in _RESERVED or re.search(r"_(mean|ci95_low|ci95_high)$", label):
            problems.append(
                src.problem(
                    ("parameters", i, "name" if par.name is not None else "path"),
                    f"'{label}' would clash with a results column: give the parameter a name:",
                )
            )
    if problems:
        raise src.error(problems)

    # The base scenario.
    scen_path = Path(spec.scenario)
    if not scen_path.is_absolute():
        scen_path = Path(os.path.normpath(src.base_dir / scen_path))
    try:
        found = scen_path.is_file()
    except OSError:  # e.g. a name longer than the file system allows
        found = False
    if not found:
        raise src.error(
            [
                src.problem(
                    ("scenario",),
                    f"no scenario file at {scen_path} (the path is relative to the sweep "
                    "file's folder)",
                )
            ]
        )
    base = load_scenario(scen_path)
    document = scenario_to_document(base)
    replications = spec.replications if spec.replications is not None else base.replications
    if override is not None:
        replications = override
    seed = spec.seed if spec.seed is not None else base.seed

    # Each parameter's paths: they exist, are not fields the sweep sets itself, and no two set
    # the same field (however spelled) or one a field inside the other.
    located: list[tuple[int, int | None, str, tuple[Any, ...]]] = []
    kinds: dict[int, tuple[bool, bool]] = {}  # parameter -> (integer, numeric)
    refused: set[int] = set()
    ld = _loader()
    for i, par in enumerate(spec.parameters):
        label = par.label
        integer = numeric = True
        for j, path in enumerate(par.paths):
            jj = j if isinstance(par.path, list) else None
            ploc = _path_loc(i, jj)
            who = f"parameter '{label}': " if label != path else ""
            try:
                value, tp, loc = _locate(document, path)
            except ScenarioError as exc:
                if isinstance(exc, ld._AmbiguousPathError):
                    message = f"{who}{_why(exc)}"
                else:
                    message = f"{who}the scenario has no field '{path}': {_why(exc)}"
                problems.append(src.problem(ploc, message))
                refused.add(i)
                continue
            if len(loc) == 1 and loc[0] in _NOT_PARAMETERS:
                why = _NOT_PARAMETERS[loc[0]].format(replications=replications, seed=seed)
                problems.append(src.problem(ploc, f"{who}{why}"))
                refused.add(i)
                continue
            located.append((i, jj, path, loc))
            integer &= _is_int(value) if value is not None else _type_is_int(tp)
            numeric &= _is_num(value) if value is not None else _type_is_num(tp)
        kinds[i] = (integer, numeric)
    for a, b in ld._overlaps([loc for *_, loc in located]):
        # reported at the one written later, naming the other
        (i, j, path, loc), (oi, oj, other, oloc) = sorted((located[a], located[b]))[::-1]
        ref = ld.format_path(_path_loc(oi, oj))
        text = ld._overlap_text(path, loc, other, oloc, ref)
        problems.append(
            src.problem(
                _path_loc(i, j),
                f"{text}: one would overwrite the other at every point; drop one of them",
            )
        )
        refused.update((i, oi))

    # Each parameter: its levels or ends are valid values.
    params: list[Parameter] = []
    notes: list[str] = []
    for i, par in enumerate(spec.parameters):
        if i in refused:
            continue
        label = par.label
        integer, numeric = kinds[i]
        rng: tuple[float, float] | None = None
        grid_levels: list[Any] | None = None
        checks: list[tuple[tuple[Any, ...], Any, str]] = []
        if par.range is not None:
            if not numeric:
                problems.append(
                    src.problem(
                        ("parameters", i, "range"),
                        f"parameter '{label}': a range needs a numeric field; give grid levels "
                        "(values) for this one",
                    )
                )
                continue
            lo, hi = par.range
            if integer and not (float(lo).is_integer() and float(hi).is_integer()):
                problems.append(
                    src.problem(
                        ("parameters", i, "range"),
                        f"parameter '{label}' is an integer in the scenario: give integer "
                        f"bounds, got [{lo:g}, {hi:g}]",
                    )
                )
                continue
            rng = (int(lo), int(hi)) if integer else (float(lo), float(hi))
            checks = [
                (("parameters", i, "range", 0), rng[0], "the low end"),
                (("parameters", i, "range", 1), rng[1], "the high end"),
            ]
            dtype = "int64" if integer else "float64"
            if kind == "grid":
                asked = par.levels if par.levels is not None else GRID_LEVELS
                grid_levels = _range_levels(rng, asked, integer=integer)
                if len(grid_levels) < asked:
                    notes.append(
                        f"parameter '{label}': {asked} levels over [{_show(rng[0])}, "
                        f"{_show(rng[1])}] give {len(grid_levels)} different "
                        f"{'integers' if integer else 'values'}: "
                        f"{', '.join(_show(v) for v in grid_levels)}"
                    )
        else:
            grid_levels = [_plain_level(v) for v in par.values or []]
            checks = [
                (("parameters", i, "values", j), v, f"the level {_show(v)}")
                for j, v in enumerate(grid_levels)
            ]
            dtype = _column_dtype(grid_levels)
        bad = False
        for loc, v, what in checks:
            try:
                with_changes(base, dict.fromkeys(par.paths, v))
            except ScenarioError as exc:
                bad = True
                problems.append(
                    src.problem(loc, f"parameter '{label}': {what} is not valid: {_why(exc)}")
                )
        if not bad:
            params.append(Parameter(label, par.paths, integer, grid_levels, rng, dtype))
    if problems:
        raise src.error(problems)

    # The design.
    k = len(params)
    unit: np.ndarray | None = None
    if kind == "grid":
        n = math.prod(len(p.values or ()) for p in params)
        if n > MAX_POINTS:
            raise LimitError(
                f"{src.file}: the grid has {n:,} points, over the limit of {MAX_POINTS:,}: use "
                "fewer levels, or a sampled design (lhs, sobol, nolh)"
            )
        rows = designs.full_factorial([p.values or [] for p in params])
    else:
        samples = spec.design.samples
        if kind == "lhs":
            unit = designs.unit_lhs(samples or 1, k, seed)
        elif kind == "sobol":
            rounded = 1 << ((samples or 1) - 1).bit_length()  # the next power of 2
            if rounded > MAX_POINTS:
                raise LimitError(
                    f"{src.file}: sobol: {samples:,} samples round up to {rounded:,} points (a "
                    f"power of 2), over the limit of {MAX_POINTS:,}: use at most "
                    f"{1 << (MAX_POINTS.bit_length() - 1):,} samples, or lhs"
                )
            unit, used = designs.unit_sobol(samples or 1, k, seed)
            if used != samples:
                notes.append(
                    f"sobol: {samples} samples rounded up to {used}, the next power of 2 (a "
                    "Sobol' sequence is balanced only for powers of 2)"
                )
        else:
            try:
                unit = designs.nolh(k, samples)
            except ValueError as exc:
                raise src.error([src.problem(("design",), str(exc))]) from None
            runs = unit.shape[0]
            m = designs.nolh_runs(k, samples)
            if samples is not None and runs != samples:
                notes.append(
                    f"nolh: {samples} samples rounded up to {runs} runs (Ye's orthogonal Latin "
                    f"hypercube of order {m}: 2**{m} + 1 runs for up to {2 * m - 2} parameters)"
                )
        columns = []
        for j, p in enumerate(params):
            lo, hi = p.range or (0.0, 0.0)
            col = designs.scale(unit[:, j], lo, hi, integer=p.integer, rounded=kind == "nolh")
            columns.append([_plain_level(v) for v in col])
        rows = list(zip(*columns, strict=True)) if columns else []
    points = [dict(zip([p.name for p in params], row, strict=True)) for row in rows]

    # Every point is a valid scenario.
    from sim.vectorised import unsupported_features as unsupported

    refused: list[int] = []
    refused_why: dict[str, None] = {}
    drones: list[int] = []
    failures: list[str] = []
    for p, point in enumerate(points):
        changes = {path: point[par.name] for par in params for path in par.paths}
        try:
            s = with_changes(base, changes)
        except ScenarioError as exc:
            shown = ", ".join(f"{name}={_show(v)}" for name, v in point.items())
            failures.append(f"point {p} ({shown}): {_why(exc)}")
            if len(failures) >= 5:
                break
            continue
        drones.append(s.total_drones)
        why = unsupported(s)
        if why:
            refused.append(p)
            refused_why.update(dict.fromkeys(why))
    if failures:
        more = " (and possibly more)" if len(failures) >= 5 else ""
        raise src.error(
            [
                src.problem(("parameters",), f"a design point is not valid{more}: {f}")
                for f in failures
            ]
        )

    if refused and engine == "vectorised":
        # Not refused here: those points fail when they run, like any failing point; this says
        # so before anything runs.
        notes.append(
            f"the vectorised engine does not model {'; '.join(refused_why)}: {len(refused)} of "
            f"{len(points)} design points will fail (the first: point {refused[0]}, "
            f"{', '.join(f'{k}={_show(v)}' for k, v in points[refused[0]].items())}); "
            "use --engine des for this sweep"
        )
    if spec.crn:
        seeds = [seed] * len(points)
    else:
        seeds = [
            int(np.random.SeedSequence(seed, spawn_key=(p,)).generate_state(1)[0])
            for p in range(len(points))
        ]
    fingerprint = {
        "sweep_sha256": _sha256(src.content),
        "scenario_sha256": _sha256(dump_resolved_yaml(base).encode("utf-8")),
        "package_version": package_version(),
    }
    # The des engine is left out of the hash, as before sweeps could choose an engine: a sweep
    # started then still resumes.
    hashed = dict(fingerprint) if engine == "des" else {**fingerprint, "engine": engine}
    if override is not None:
        # (only when given, so that a sweep started without it still resumes)
        hashed["replications"] = fingerprint["replications"] = str(override)
    fingerprint["engine"] = engine
    fingerprint["sha256"] = _sha256(json.dumps(hashed, sort_keys=True).encode())
    return SweepPlan(
        spec=spec,
        file=src.file,
        name=src.name,
        base=base,
        scenario_file=scen_path,
        parameters=params,
        points=points,
        seeds=seeds,
        replications=replications,
        seed=seed,
        drones=drones,
        notes=notes,
        fingerprint=fingerprint,
        unit_design=unit,
        engine=engine,
        vectorisable=not refused,
    )


def _an(kind: str) -> str:
    return f"an {kind}" if kind in ("lhs", "nolh") else f"a {kind}"


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return json.dumps(v, default=str) if not isinstance(v, str) else repr(v)


# --------------------------------------------------------------------------------------------
# Time estimate


@dataclasses.dataclass
class Timing:
    """Measured costs for the time estimate (seconds)."""

    fixed_s: float  # per point: building the world, summarising (a run minus its replication)
    rep_s: float  # one replication of the base
    drones: int  # drones of the base
    rep_s_max: float  # one replication of the largest design point (by drones)
    drones_max: int
    engine: str = "des"
    #: Why the estimate is unknown (NaN timings), or what was timed instead of the base.
    note: str = ""

    def per_replication(self, drones: int) -> float:
        """Seconds of one replication with ``drones`` drones (linear between the two timings)."""
        if self.drones_max == self.drones:
            return self.rep_s * max(drones, 1) / max(self.drones, 1)
        slope = (self.rep_s_max - self.rep_s) / (self.drones_max - self.drones)
        return max(self.rep_s + slope * (drones - self.drones), 0.2 * self.rep_s)


#: Replications of the timing run of the vectorised engine (at most).
TIMING_REPLICATIONS = 64


def time_base(plan: SweepPlan) -> Timing:
    """Time one replication of the base scenario (and of the design point with most drones),
    with the plan's engine."""
    if plan.engine == "vectorised":
        return _time_vectorised(plan)
    from sim.loader import with_changes
    from sim.runner import run, run_replication
    from sim.world import build_world

    world = build_world(plan.base)  # warms the territory and catalogue caches
    run_replication(world, plan.seed, 0)
    t0 = time.perf_counter()
    run(plan.base, replications=1, seed=plan.seed, workers=1, tables=False)
    t_run = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_replication(world, plan.seed, 1)
    t_rep = time.perf_counter() - t0
    base_drones = plan.base.total_drones
    big = max(range(plan.n_points), key=plan.drones.__getitem__) if plan.n_points else None
    t_max, d_max = t_rep, base_drones
    if big is not None and abs(plan.drones[big] - base_drones) > 0.2 * base_drones:
        world_big = build_world(with_changes(plan.base, plan.changes(big)))
        t0 = time.perf_counter()
        run_replication(world_big, plan.seed, 0)
        t_max, d_max = time.perf_counter() - t0, plan.drones[big]
    return Timing(max(t_run - t_rep, 0.0), t_rep, base_drones, t_max, d_max)


def _time_vectorised(plan: SweepPlan) -> Timing:
    """:func:`time_base` for the vectorised engine: a run of 1 replication (the cost of a point
    besides its replications) and one of ``min(replications, TIMING_REPLICATIONS)`` (the cost
    per replication, its clusters' track pools included), after a first run that loads the
    compiled kernel. Where the engine refuses the base, the largest point is timed instead; if
    it refuses that too, the timings are NaN and ``note`` says why."""
    from sim.loader import with_changes
    from sim.runner import run
    from sim.vectorised import clear_pool_cache, unsupported_features

    def timed(scenario: Scenario, reps: int) -> float:
        # cold: a point whose tracks another point already flew costs less (kept pools), so
        # the estimate is an upper bound for sweeps that vary the defence only
        clear_pool_cache()
        t0 = time.perf_counter()
        run(
            scenario, replications=reps, seed=plan.seed, workers=1, engine="vectorised",
            tables=False,
        )  # fmt: skip
        return time.perf_counter() - t0

    big = max(range(plan.n_points), key=plan.drones.__getitem__) if plan.n_points else None
    subject, drones, note = plan.base, plan.base.total_drones, ""
    refused = unsupported_features(subject)
    big_scenario = with_changes(plan.base, plan.changes(big)) if big is not None else None
    if refused:
        what = "; ".join(refused)
        if big_scenario is None or unsupported_features(big_scenario):
            nan = float("nan")
            note = (
                f"the vectorised engine does not model {what} (in the base scenario and the "
                "largest design point): the points that keep it will fail; use --engine des"
            )
            return Timing(nan, nan, drones, nan, drones, engine="vectorised", note=note)
        assert big is not None
        subject, drones = big_scenario, plan.drones[big]
        note = f"timed design point {big}: the vectorised engine does not model {what} in the base"
    r = max(1, min(plan.replications, TIMING_REPLICATIONS))
    timed(subject, 1)  # loads the compiled kernel, warms the territory and catalogue caches
    t_one = timed(subject, 1)
    rep_s = max((timed(subject, r) - t_one) / (r - 1), 0.0) if r > 1 else t_one
    fixed_s = max(t_one - rep_s, 0.0)
    t_max, d_max = rep_s, drones
    if (
        big is not None
        and big_scenario is not None
        and subject is plan.base
        and abs(plan.drones[big] - drones) > 0.2 * drones
        and not unsupported_features(big_scenario)
    ):
        t_max = max((timed(big_scenario, r) - fixed_s) / r, 0.0)
        d_max = plan.drones[big]
    return Timing(fixed_s, rep_s, drones, t_max, d_max, engine="vectorised", note=note)


def estimate_seconds(plan: SweepPlan, points: Iterable[int], timing: Timing) -> float:
    """Serial seconds to run ``points``: a fixed cost per point plus its replications, whose
    cost is interpolated in the number of drones between the base and the largest point."""
    return sum(
        timing.fixed_s + plan.replications * timing.per_replication(plan.drones[p]) for p in points
    )


# --------------------------------------------------------------------------------------------
# Running one point (in a worker)

_BASE: Scenario | None = None


def _compute_point(
    base: Scenario,
    p: int,
    changes: dict[str, Any],
    seed: int,
    replications: int,
    fingerprint: str,
    engine: str = "des",
) -> str:
    """Run design point ``p`` with ``engine``; its record as JSON text."""
    from sim.loader import with_changes
    from sim.runner import run

    scenario = with_changes(base, changes) if changes else base
    # a point's record holds its summary and per-replication metrics: no tables to build
    result = run(
        scenario, replications=replications, seed=seed, workers=1, engine=engine, tables=False
    )
    per = result.per_replication
    assert per is not None
    record = {
        "format": POINT_FORMAT,
        "fingerprint": fingerprint,
        "point": p,
        "seed": int(seed),
        "replications": int(replications),
        "engine": engine,
        "changes": changes,
        "metrics": result.summary["metrics"],
        "per_replication": {
            "columns": [str(c) for c in per.columns],
            "dtypes": [str(per[c].dtype) for c in per.columns],
            "data": [per[c].tolist() for c in per.columns],
        },
    }
    return json.dumps(record, allow_nan=True, default=_json_default)


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def _init_worker(base: Scenario) -> None:
    global _BASE
    _BASE = base
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C


def _pool_point(
    p: int, changes: dict[str, Any], seed: int, reps: int, fp: str, engine: str = "des"
) -> str:
    assert _BASE is not None
    return _compute_point(_BASE, p, changes, seed, reps, fp, engine)


# --------------------------------------------------------------------------------------------
# The output folder


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); the sweep's files get the usual permissions, as a
    # run folder's do
    os.chmod(tmp, 0o666 & ~current_umask())
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda t: t.write_text(text, encoding="utf-8"))


def _point_file(out: Path, p: int) -> Path:
    return out / "points" / f"point-{p:06d}.json"


_POINT_RE = re.compile(r"^point-(\d{6,})\.json$")


def _read_point(path: Path, plan: SweepPlan, p: int) -> dict[str, Any] | None:
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = (
        isinstance(rec, dict)
        and rec.get("format") == POINT_FORMAT
        and rec.get("fingerprint") == plan.fingerprint["sha256"]
        and rec.get("point") == p
        and rec.get("seed") == plan.seeds[p]
        and rec.get("replications") == plan.replications
        and rec.get("engine", "des") == plan.engine
        and isinstance(rec.get("metrics"), dict)
        and isinstance(rec.get("per_replication"), dict)
    )
    return rec if ok else None


def _sweep_json(plan: SweepPlan, *, complete: bool, extra: Mapping[str, Any] | None = None) -> str:
    doc = {
        "sweep": plan.file,
        "name": plan.name,
        "scenario": str(plan.scenario_file) if plan.scenario_file else None,
        "scenario_name": plan.base.name,
        "fingerprint": plan.fingerprint,
        "design": {"kind": plan.kind, "samples": plan.spec.design.samples},
        "points": plan.n_points,
        "replications": plan.replications,
        "seed": plan.seed,
        "crn": plan.spec.crn,
        "engine": plan.engine,
        "parameters": [
            {
                "name": p.name,
                "paths": list(p.paths),
                "integer": p.integer,
                **({"values": p.values} if p.values is not None else {}),
                **({"range": list(p.range)} if p.range is not None else {}),
            }
            for p in plan.parameters
        ],
        "notes": plan.notes,
        "complete": complete,
        **dict(extra or {}),
    }
    return json.dumps(doc, indent=2, default=_json_default) + "\n"


def _diff_fingerprint(old: Mapping[str, Any], new: Mapping[str, str]) -> str:
    changed = []
    if old.get("sweep_sha256") != new.get("sweep_sha256"):
        changed.append("the sweep file")
    if old.get("scenario_sha256") != new.get("scenario_sha256"):
        changed.append("the base scenario (as resolved)")
    if old.get("package_version") != new.get("package_version"):
        changed.append(
            f"the incursion version ({old.get('package_version')} -> {new.get('package_version')})"
        )
    if old.get("engine", "des") != new.get("engine", "des"):
        changed.append(f"the engine ({old.get('engine', 'des')} -> {new.get('engine', 'des')})")
    if old.get("replications") != new.get("replications"):
        was, now = (x.get("replications") or "the file's" for x in (old, new))
        changed.append(f"the replications per point ({was} -> {now})")
    return ", ".join(changed) or "the fingerprint"


@dataclasses.dataclass
class SweepOutcome:
    """What :func:`execute` did."""

    results: Any  # pandas.DataFrame
    replications: Any  # pandas.DataFrame
    sensitivity: Any  # pandas.DataFrame or None
    out: Path
    reused: int
    ran: int
    discarded: int
    wall_s: float
    files: list[str]


def default_out(plan: SweepPlan) -> Path:
    """``runs/sweeps/<sweep file name>/``."""
    return Path("runs") / "sweeps" / plan.name


def _complete(meta_path: Path) -> bool:
    """Whether ``sweep.json`` says its sweep finished (a finished sweep is simply replaced)."""
    try:
        return json.loads(meta_path.read_text(encoding="utf-8")).get("complete") is True
    except (OSError, ValueError, AttributeError):
        return False


#: What a sweep writes in its folder (``points`` is the folder of point files).
SWEEP_FILES = frozenset(
    {"sweep.json", "results.parquet", "replications.parquet", "sensitivity.csv", "sweep.png"}
)
#: A file being written atomically (``_atomic_write``), left behind if the process was killed.
_TMP_RE = re.compile(rf"^\.({'|'.join(map(re.escape, sorted(SWEEP_FILES)))})\..+\.tmp$")
_POINT_TMP_RE = re.compile(r"^\.point-\d{6,}\.json\..+\.tmp$")
#: The message for resume and overwrite together (the CLI's and the API's).
RESUME_AND_OVERWRITE = (
    "choose one of --resume (resume=True: finish the sweep in the output folder) and --overwrite "
    "(overwrite=True: start it again)"
)


def _not_a_sweep_folder(out: Path) -> str | None:
    """Why the existing folder ``out`` is not one a sweep may write in, or None if it may be:
    it is empty, or holds a sweep's files (a ``sweep.json`` of a sweep's) and nothing else."""
    try:
        own_name = out.resolve().name
        names = sorted(p.name for p in out.iterdir())
        points = out / "points"
        in_points = sorted(p.name for p in points.iterdir()) if points.is_dir() else []
    except (OSError, RuntimeError) as exc:
        return f"cannot be read ({(getattr(exc, 'strerror', None) or str(exc)).lower()})"
    if "summary.json" in names:
        return "is a run folder (incursion run's: it holds summary.json)"
    probe = re.compile(rf"^\.{re.escape(own_name)}\..+\.probe$")  # check_out_folder's
    others = [
        n
        for n in names
        if n not in SWEEP_FILES and n != "points" and not _TMP_RE.match(n) and not probe.match(n)
    ]
    if "points" in names and not points.is_dir():
        others.append("points")
    others += [
        f"points/{n}" for n in in_points if not _POINT_RE.match(n) and not _POINT_TMP_RE.match(n)
    ]
    if others:
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        return f"holds files a sweep does not write ({shown}): it is not a sweep folder"
    meta = out / "sweep.json"
    if "sweep.json" not in names:
        results = [n for n in names if n in SWEEP_FILES] + [
            f"points/{n}" for n in in_points if _POINT_RE.match(n)
        ]
        if results:
            return (
                f"holds {', '.join(results[:3])}{', ...' if len(results) > 3 else ''} but no "
                "sweep.json (what ran): it is not a sweep folder"
            )
        return None  # empty but for an empty points/ or temporary files of a killed sweep
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "is not a sweep folder (its sweep.json is not readable JSON)"
    if not (isinstance(doc, dict) and isinstance(doc.get("fingerprint"), dict)):
        return "is not a sweep folder (its sweep.json is not a sweep's)"
    return None


def check_sweep_out(out: str | Path) -> None:
    """Refuse an output folder ``out`` that exists and is neither empty nor a sweep's own.

    A sweep replaces and deletes its own files in ``out`` (``--overwrite``, a finished sweep run
    again): in a folder that is not a sweep's (an ``incursion run`` folder, a user's) it would
    mix its files with, and may delete, files it did not write.

    Raises
    ------
    OutputFolderError
    """
    out = Path(out)
    if not out.exists():
        return
    why = "is a file, not a folder" if not out.is_dir() else _not_a_sweep_folder(out)
    if why is not None:
        raise OutputFolderError(
            f"{out} exists and {why}; choose another --out (a sweep writes into a new or empty "
            "folder, or one of its own)"
        )


def prepare_out(
    plan: SweepPlan, out: Path, *, resume: bool, overwrite: bool
) -> tuple[dict[int, dict[str, Any]], int]:
    """Check ``out`` against the plan; the point records to reuse and how many were discarded.

    ``out`` must not exist, or be empty, or hold a sweep's files and nothing else (see
    :func:`check_sweep_out`). Without ``resume``, a finished sweep in ``out`` is replaced (as
    ``incursion run`` replaces a run folder); an unfinished one is kept unless ``overwrite``.

    Raises
    ------
    IncursionError
        ``resume`` and ``overwrite`` together; ``out`` is not a sweep's folder, holds another
        sweep (resume), or an unfinished sweep (neither ``resume`` nor ``overwrite``).
    """
    if resume and overwrite:
        raise IncursionError(RESUME_AND_OVERWRITE)
    check_sweep_out(out)
    meta_path = out / "sweep.json"
    points_dir = out / "points"
    existing = sorted(points_dir.glob("point-*.json")) if points_dir.is_dir() else []
    has_meta = meta_path.is_file()
    if resume and has_meta:
        try:
            old = json.loads(meta_path.read_text(encoding="utf-8"))
            old_fp = old["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError):
            raise IncursionError(
                f"cannot resume: {meta_path} is unreadable; run without --resume (and with "
                "--overwrite) to start again"
            ) from None
        if old_fp.get("sha256") != plan.fingerprint["sha256"]:
            raise IncursionError(
                f"cannot resume: {out} holds the results of a different sweep "
                f"({_diff_fingerprint(old_fp, plan.fingerprint)} changed since it ran); "
                "choose another --out, or pass --overwrite instead of --resume to start again"
            )
    elif resume and existing:
        raise IncursionError(
            f"cannot resume: {out} has point results but no sweep.json to check them against; "
            "choose another --out or pass --overwrite to start again"
        )
    elif not resume and (existing or has_meta):
        if not overwrite and existing and not _complete(meta_path):
            # An interrupted sweep is kept unless asked: its points may be hours of work.
            raise IncursionError(
                f"{out} holds an unfinished sweep ({len(existing)} point result(s)): pass "
                "--resume (resume=True) to finish it, --overwrite (overwrite=True) to start "
                "again, or choose another --out"
            )
        for f in existing:
            f.unlink()
        for name in ("results.parquet", "replications.parquet", "sensitivity.csv", "sweep.png"):
            with contextlib.suppress(FileNotFoundError):
                (out / name).unlink()
        existing = []
    records: dict[int, dict[str, Any]] = {}
    discarded = 0
    for f in existing:
        m = _POINT_RE.match(f.name)
        p = int(m.group(1)) if m else -1
        rec = _read_point(f, plan, p) if 0 <= p < plan.n_points else None
        if rec is None:
            discarded += 1
            with contextlib.suppress(OSError):
                f.unlink()
            continue
        records[p] = rec
    for tmp in points_dir.glob(".point-*.tmp") if points_dir.is_dir() else []:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return records, discarded


# --------------------------------------------------------------------------------------------
# Executors


def _terminate_pool(pool: ProcessPoolExecutor) -> None:
    pool.shutdown(wait=False, cancel_futures=True)
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14
    if terminate is not None:
        with contextlib.suppress(Exception):
            terminate()
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            proc.terminate()
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(Exception):
            proc.join(timeout=5)


def _run_serial(plan: SweepPlan, todo: list[int], on_done: Callable[[int, str], None]) -> None:
    fp = plan.fingerprint["sha256"]
    for p in todo:
        try:
            text = _compute_point(
                plan.base, p, plan.changes(p), plan.seeds[p], plan.replications, fp, plan.engine
            )
        except IncursionError as exc:
            raise _point_error(plan, p, exc) from exc
        on_done(p, text)


def _point_error(plan: SweepPlan, p: int, exc: BaseException) -> IncursionError:
    reason = str(exc) if isinstance(exc, IncursionError) else f"{type(exc).__name__}: {exc}"
    reason = reason.rstrip(". ")  # one full stop before the advice below
    return IncursionError(
        f"design point {p} ({plan.describe(p)}) failed: {reason}. The points finished so far "
        "are saved; fix the cause and run again with --resume"
    )


def _run_pool(
    plan: SweepPlan,
    todo: list[int],
    n_workers: int,
    on_done: Callable[[int, str], None],
    on_started: Callable[[], None],
) -> None:
    fp = plan.fingerprint["sha256"]
    finished: set[int] = set()
    for attempt in range(POOL_RESTARTS + 1):
        # A pool breaks as a whole when one of its processes dies (killed, out of memory): its
        # unfinished points then run again on a fresh pool, a few times at most.
        remaining = [p for p in todo if p not in finished]
        pool = ProcessPoolExecutor(
            max_workers=min(n_workers, len(remaining)),
            initializer=_init_worker,
            initargs=(plan.base,),
        )
        clean = False
        broken = False
        try:
            futures = {}
            try:
                for p in remaining:
                    args = (p, plan.changes(p), plan.seeds[p], plan.replications, fp, plan.engine)
                    futures[pool.submit(_pool_point, *args)] = p
            except BrokenProcessPool:  # it broke before every point was handed over
                broken = True
            if attempt == 0:
                on_started()
            pending = set(futures)
            while pending and not broken:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=futures.__getitem__):
                    p = futures[fut]
                    try:
                        text = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    except Exception as exc:
                        raise _point_error(plan, p, exc) from exc
                    on_done(p, text)
                    finished.add(p)
            clean = not broken
        finally:
            if clean:
                pool.shutdown(wait=True)
            else:
                _terminate_pool(pool)
        if not broken:
            return
        left = len(todo) - len(finished)
        if attempt == POOL_RESTARTS:
            raise IncursionError(
                f"a worker process died (out of memory, or killed) {attempt + 1} times; "
                f"{left} point(s) did not finish; the points finished so far are saved: run "
                "again with --resume (perhaps with fewer --workers)"
            )
        msg = (
            f"a worker process died (out of memory, or killed): running the {left} unfinished "
            f"point(s) again on new worker processes (restart {attempt + 1} of {POOL_RESTARTS})"
        )
        warnings.warn(msg, SweepWarning, stacklevel=3)


def _run_dask(
    plan: SweepPlan,
    todo: list[int],
    client: Any,
    on_done: Callable[[int, str], None],
    on_started: Callable[[], None],
) -> None:
    from distributed import as_completed

    fp = plan.fingerprint["sha256"]
    base = client.scatter(plan.base, broadcast=True, hash=False)
    futures = {}
    for p in todo:
        fut = client.submit(
            _compute_point,
            base,
            p,
            plan.changes(p),
            plan.seeds[p],
            plan.replications,
            fp,
            plan.engine,
            key=f"incursion-point-{fp[:16]}-{p}",
            pure=False,
            retries=0,
        )
        futures[fut.key] = (fut, p)
    on_started()
    clean = False
    try:
        for fut in as_completed([f for f, _ in futures.values()]):
            _, p = futures[fut.key]
            try:
                text = fut.result()
            except Exception as exc:
                raise _point_error(plan, p, exc) from exc
            on_done(p, text)
        clean = True
    finally:
        if not clean:
            with contextlib.suppress(Exception):
                client.cancel([f for f, _ in futures.values()], force=True)


@contextlib.contextmanager
def dask_client(scheduler: Any = None, *, workers: int | None = None) -> Any:
    """A ``distributed.Client``: to ``scheduler`` (an address or a Client), else to a new
    ``LocalCluster`` of ``workers`` single-threaded processes on the loopback interface."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - a declared dependency
        raise IncursionError(
            "the Dask executor needs dask[distributed]: pip install 'dask[distributed]'"
        ) from None
    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler  # a Client the caller owns
        return
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise IncursionError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


# --------------------------------------------------------------------------------------------
# Tables


def _level_array(values: list[Any], dtype: str) -> Any:
    if dtype == "int64":
        return np.asarray(values, dtype=np.int64)
    if dtype == "float64":
        return np.asarray(values, dtype=np.float64)
    if dtype == "bool":
        return np.asarray(values, dtype=bool)
    if dtype == "str":
        return np.asarray(values, dtype=object)
    return np.asarray([json.dumps(v, sort_keys=True, default=str) for v in values], dtype=object)


def _nan(v: Any) -> float:
    return float("nan") if v is None else float(v)


def build_tables(plan: SweepPlan, records: Mapping[int, Mapping[str, Any]]) -> tuple[Any, Any]:
    """(results, replications) DataFrames from every point's record, in point order.

    The replications table has every per-replication column of the records (the des engine's
    ``rng_seed``, the vectorised engine's ``cluster``); a column some records lack is NaN there.
    """
    import pandas as pd

    n = plan.n_points
    order = range(n)
    metric_names: list[str] = []
    for p in order:
        for name in records[p]["metrics"]:
            if name not in metric_names:
                metric_names.append(name)
    cols: dict[str, Any] = {"point": np.arange(n, dtype=np.int64)}
    for par in plan.parameters:
        cols[par.name] = _level_array([plan.points[p][par.name] for p in order], par.dtype)
    cols["seed"] = np.asarray(plan.seeds, dtype=np.int64)
    for name in metric_names:
        entries = [records[p]["metrics"].get(name) or {} for p in order]
        cols[f"{name}_mean"] = np.array([_nan(e.get("mean")) for e in entries], dtype=np.float64)
        lows = [_nan((e.get("ci95") or [None, None])[0]) for e in entries]
        highs = [_nan((e.get("ci95") or [None, None])[1]) for e in entries]
        cols[f"{name}_ci95_low"] = np.array(lows, dtype=np.float64)
        cols[f"{name}_ci95_high"] = np.array(highs, dtype=np.float64)
    results = pd.DataFrame(cols)

    rep_cols: list[str] = []
    rep_dtypes: dict[str, str] = {}
    for p in order:
        per = records[p]["per_replication"]
        for c, d in zip(per["columns"], per["dtypes"], strict=True):
            if c not in rep_dtypes:
                rep_cols.append(c)
                rep_dtypes[c] = d
    counts = [len(records[p]["per_replication"]["data"][0]) for p in order]
    reps: dict[str, Any] = {"point": np.repeat(np.arange(n, dtype=np.int64), counts)}
    for par in plan.parameters:
        reps[par.name] = np.repeat(cols[par.name], counts)
    for c in rep_cols:
        dtype = np.dtype(rep_dtypes[c])
        parts = []
        for p, count in zip(order, counts, strict=True):
            per = records[p]["per_replication"]
            vals = dict(zip(per["columns"], per["data"], strict=True)).get(c)
            if vals is None:  # another version or engine (rng_seed vs cluster): NaN there
                dtype = np.dtype(np.float64)
                vals = [float("nan")] * count
            parts.append(vals)
        reps[c] = np.concatenate([np.asarray(v, dtype=dtype) for v in parts])
    replications = pd.DataFrame(reps)
    return results, replications


# --------------------------------------------------------------------------------------------
# Sensitivity


def _numeric(x: Any) -> np.ndarray | None:
    arr = np.asarray(x)
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64)
    if arr.dtype.kind == "b":
        return arr.astype(np.float64)
    return None


def _correlation_ratio(groups: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Between-group share of the variance of ``y`` and the number of groups."""
    labels, inv = np.unique(groups, return_inverse=True)
    k = labels.size
    total = float(np.sum((y - y.mean()) ** 2))
    if total <= 0 or k < 2:
        return float("nan"), k
    sums = np.bincount(inv, weights=y, minlength=k)
    counts = np.bincount(inv, minlength=k)
    means = sums / counts
    between = float(np.sum(counts * (means - y.mean()) ** 2))
    return between / total, k


def first_order_indices(x: Any, y: Any, *, design: str, names: list[str] | None = None) -> Any:
    """First-order sensitivity of ``y`` to each column of ``x``, estimated from one design.

    Parameters
    ----------
    x : DataFrame
        One column per parameter (the design points).
    y : array
        The response at each point (here the mean cost-exchange ratio of the point).
    design : str
        ``grid`` or a sampled design (``lhs``, ``sobol``, ``nolh``).

    Returns
    -------
    DataFrame
        ``parameter, first_order, method``. For a grid, one row per parameter, method
        ``anova_main_effect``: the variance of the level means of ``y`` (averaged over every
        combination of the other parameters) over the variance of ``y`` -- exact for a full
        factorial, main effect over the design's levels. For a sampled design, two rows per
        parameter:

        - ``correlation_ratio``: ``Var(E[y | x_i]) / Var(y)`` with ``E[y | x_i]`` estimated by
          the means of ``y`` in ``k = round(sqrt(n))`` equal-count bins of ``x_i`` (or one bin per
          distinct value if there are at most ``k``), bias-corrected like an adjusted R**2:
          ``1 - (1 - eta2) (n - 1) / (n - k)``, clipped to [0, 1]. It captures non-linear,
          non-monotone main effects; noise of order ``1/sqrt(n)``.
        - ``src2``: squared standardized regression coefficient of ``x_i`` in a linear regression
          of ``y`` on all parameters; equal to the first-order index when ``y`` is close to
          linear in the parameters (the regression's R**2 says how close). Orthogonal designs
          (nolh) make it exact for the linear part.

        NaN where ``y`` does not vary or a parameter is constant.
    """
    import pandas as pd

    names = list(x.columns) if names is None else names
    yv = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(yv)
    yv = yv[keep]
    n = yv.size
    rows: list[dict[str, Any]] = []
    if design == "grid":
        for name in names:
            col = np.asarray(x[name])[keep]
            groups = np.unique(col.astype(str), return_inverse=True)[1]
            eta2, _ = _correlation_ratio(groups, yv) if n >= 2 else (float("nan"), 0)
            rows.append({"parameter": name, "first_order": eta2, "method": "anova_main_effect"})
        return pd.DataFrame(rows, columns=["parameter", "first_order", "method"])
    k_bins = max(2, round(math.sqrt(n))) if n else 2
    for name in names:
        col = _numeric(np.asarray(x[name])[keep])
        if col is None or n < 3:
            rows.append(
                {"parameter": name, "first_order": float("nan"), "method": "correlation_ratio"}
            )
            continue
        distinct = np.unique(col)
        if distinct.size <= k_bins:
            groups = np.searchsorted(distinct, col)
        else:
            rank = np.argsort(np.argsort(col, kind="stable"), kind="stable")
            groups = (rank * k_bins) // n
        eta2, k = _correlation_ratio(groups, yv)
        if math.isfinite(eta2) and n > k:
            eta2 = min(1.0, max(0.0, 1.0 - (1.0 - eta2) * (n - 1) / (n - k)))
        elif math.isfinite(eta2):
            eta2 = float("nan")
        rows.append({"parameter": name, "first_order": eta2, "method": "correlation_ratio"})
    # Standardized regression coefficients.
    mats = [_numeric(np.asarray(x[name])[keep]) for name in names]
    usable = [i for i, m in enumerate(mats) if m is not None and np.std(m) > 0]
    src = {names[i]: float("nan") for i in range(len(names))}
    if usable and n > len(usable) + 1 and np.std(yv) > 0:
        z = np.column_stack([(mats[i] - mats[i].mean()) / mats[i].std() for i in usable])
        zy = (yv - yv.mean()) / yv.std()
        beta, *_ = np.linalg.lstsq(np.column_stack([np.ones(n), z]), zy, rcond=None)
        for j, i in enumerate(usable):
            src[names[i]] = float(beta[j + 1] ** 2)
    rows += [{"parameter": name, "first_order": src[name], "method": "src2"} for name in names]
    return pd.DataFrame(rows, columns=["parameter", "first_order", "method"])


def _src_r2(x: Any, y: Any, names: list[str]) -> float:
    yv = np.asarray(y, dtype=np.float64)
    keep = np.isfinite(yv)
    yv = yv[keep]
    mats = [_numeric(np.asarray(x[name])[keep]) for name in names]
    cols = [m for m in mats if m is not None and np.std(m) > 0]
    if not cols or yv.size <= len(cols) + 1 or np.std(yv) == 0:
        return float("nan")
    a = np.column_stack([np.ones(yv.size), *cols])
    beta, *_ = np.linalg.lstsq(a, yv, rcond=None)
    resid = yv - a @ beta
    return float(1.0 - np.sum(resid**2) / np.sum((yv - yv.mean()) ** 2))


# --------------------------------------------------------------------------------------------
# The figure

_LABELS = {
    "cost_exchange_ratio": "cost-exchange ratio",
    "leakers": "leakers",
    "drones_destroyed": "drones destroyed",
    "defender_cost_usd": "defender cost (million USD)",
}
#: Metrics whose axis ticks read in millions (labelled so in _LABELS), not with a '1e6' offset.
_MILLIONS = {"defender_cost_usd"}


def _millions(axis: Any) -> None:
    """Tick labels of ``axis`` in millions: 2.5 for 2,500,000 (the data stay in units)."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v / 1e6:g}"))


def _axis_values(col: Any) -> tuple[np.ndarray, list[str] | None]:
    num = _numeric(col)
    if num is not None:
        return num, None
    cats = list(dict.fromkeys(str(v) for v in col))
    return np.array([cats.index(str(v)) for v in col], dtype=np.float64), cats


def plot_sweep(plan: SweepPlan, results: Any, path: Path) -> None:
    """Write ``sweep.png``: the headline metrics against the parameters."""
    from matplotlib.colors import TwoSlopeNorm  # no pyplot: the caller's backend is untouched
    from matplotlib.figure import Figure

    metrics = [m for m in HEADLINE_METRICS if f"{m}_mean" in results.columns]
    names = [p.name for p in plan.parameters]
    varying = [n for n in names if results[n].astype(str).nunique() > 1] or names[:1]
    title = (
        f"{plan.name}: {plan.kind} design, {plan.n_points} points x {plan.replications} "
        f"replications, base {plan.base.name}"
    )

    def cer_line(ax: Any, metric: str) -> None:
        if metric == "cost_exchange_ratio":
            ax.axhline(1.0, color="0.3", lw=0.8, ls="--")
            ax.text(
                0.99,
                1.0,
                "break-even (1)",
                transform=ax.get_yaxis_transform(),
                ha="right",
                va="bottom",
                fontsize=7,
                color="0.3",
            )

    if plan.kind == "grid" and len(varying) == 2:
        a, b = varying
        fig = Figure(figsize=(12, 9.5), layout="constrained")
        axes = fig.subplots(2, 2).ravel()
        xa = list(dict.fromkeys(results[a].tolist()))
        xb = list(dict.fromkeys(results[b].tolist()))
        for ax, metric in zip(axes, metrics, strict=False):
            mean = results.groupby([b, a], sort=False)[f"{metric}_mean"].mean()
            grid = np.array([[mean.get((vb, va), np.nan) for va in xa] for vb in xb])
            norm = None
            cmap = "viridis"
            if metric == "cost_exchange_ratio":
                finite = grid[np.isfinite(grid)]
                if finite.size and finite.min() < 1.0 < finite.max():
                    norm = TwoSlopeNorm(vcenter=1.0, vmin=finite.min(), vmax=finite.max())
                cmap = "RdYlGn_r"
            im = ax.imshow(grid, origin="lower", aspect="auto", cmap=cmap, norm=norm)
            bar = fig.colorbar(im, ax=ax, shrink=0.85)
            if metric in _MILLIONS:
                _millions(bar.ax.yaxis)
            ax.set_xticks(range(len(xa)), [_tick(v) for v in xa])
            ax.set_yticks(range(len(xb)), [_tick(v) for v in xb])
            ax.set_xlabel(a)
            ax.set_ylabel(b)
            ax.set_title("mean " + _LABELS.get(metric, metric))
            if grid.size <= 144:
                for (r, c), v in np.ndenumerate(grid):
                    if np.isfinite(v):
                        ax.text(
                            c,
                            r,
                            _fmt(v),
                            ha="center",
                            va="center",
                            fontsize=8,
                            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.7},
                        )
        fig.suptitle(title)
    else:
        ncols = len(varying)
        fig = Figure(figsize=(max(4.0, 3.6 * ncols), 2.8 * len(metrics)), layout="constrained")
        axes = np.atleast_2d(fig.subplots(len(metrics), ncols, squeeze=False))
        sampled = plan.kind != "grid"
        for r, metric in enumerate(metrics):
            for c, name in enumerate(varying):
                ax = axes[r, c]
                if sampled:
                    xv, cats = _axis_values(results[name])
                    yv = results[f"{metric}_mean"].to_numpy()
                    lo = results[f"{metric}_ci95_low"].to_numpy()
                    hi = results[f"{metric}_ci95_high"].to_numpy()
                    err = np.vstack([yv - lo, hi - yv])
                    err = np.where(np.isfinite(err), np.maximum(err, 0), 0)
                    ax.errorbar(xv, yv, yerr=err, fmt="o", ms=3, lw=0.6, alpha=0.7)
                elif len(varying) == 1:
                    xv, cats = _axis_values(results[name])
                    order = np.argsort(xv, kind="stable")
                    yv = results[f"{metric}_mean"].to_numpy()[order]
                    lo = results[f"{metric}_ci95_low"].to_numpy()[order]
                    hi = results[f"{metric}_ci95_high"].to_numpy()[order]
                    ax.plot(xv[order], yv, "o-", ms=4)
                    ax.fill_between(xv[order], lo, hi, alpha=0.25, label="95 % interval")
                else:
                    g = results.groupby(name, sort=False)[f"{metric}_mean"]
                    levels = list(g.groups)
                    xv, cats = _axis_values(np.asarray(levels))
                    order = np.argsort(xv, kind="stable")
                    mean = g.mean().to_numpy()[order]
                    ax.plot(xv[order], mean, "o-", ms=4)
                    ax.fill_between(
                        xv[order],
                        g.min().to_numpy()[order],
                        g.max().to_numpy()[order],
                        alpha=0.2,
                    )
                cer_line(ax, metric)
                if metric in _MILLIONS:
                    _millions(ax.yaxis)
                if cats is not None:
                    ax.set_xticks(range(len(cats)), cats)
                elif not sampled and len(np.unique(xv)) <= 10:
                    ax.set_xticks(np.unique(xv))  # a grid's levels, not 1.5 between 1 and 2
                if r == len(metrics) - 1:
                    ax.set_xlabel(name)
                if c == 0:
                    ax.set_ylabel(_LABELS.get(metric, metric))
                ax.grid(alpha=0.3)
        how = {
            True: "points: mean and 95 % interval at each design point",
            False: "line: mean, band: 95 % interval"
            if len(varying) == 1
            else "main effects: line = mean over the other parameters' levels, "
            "band = lowest to highest of those point means",
        }[sampled]
        fig.suptitle(f"{title}\n{how}", fontsize=10)
    _atomic_write(path, lambda t: fig.savefig(t, dpi=100, format="png"))


def _tick(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _fmt(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e3:
        return f"{v / 1e3:.0f}k"
    if a >= 10:
        return f"{v:.0f}"
    return f"{v:.2f}"


# --------------------------------------------------------------------------------------------
# Running a plan


def execute(
    plan: SweepPlan,
    out: str | Path | None = None,
    *,
    workers: int | None = None,
    scheduler: Any = None,
    dask: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    on_start: Callable[[int, int, int], None] | None = None,
    plot: bool = True,
) -> SweepOutcome:
    """Run a planned sweep and write its folder (see :func:`sweep`).

    ``on_start(to_run, reused, discarded)`` is called once the output folder is checked, before
    any point runs.
    """
    import pandas as pd

    started = time.perf_counter()
    target = Path(out) if out is not None else default_out(plan)
    records, discarded = prepare_out(plan, target, resume=resume, overwrite=overwrite)
    reused = len(records)
    todo = [p for p in range(plan.n_points) if p not in records]
    if on_start is not None:
        on_start(len(todo), reused, discarded)
    fresh = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    # sweep.json first: it is what makes the folder recognisably a sweep's
    _write_text(target / "sweep.json", _sweep_json(plan, complete=False))
    (target / "points").mkdir(exist_ok=True)

    done = 0

    def on_done(p: int, text: str) -> None:
        nonlocal done
        _write_text(_point_file(target, p), text)
        records[p] = json.loads(text)
        done += 1
        if progress is not None:
            progress(done, len(todo))

    def on_started() -> None:
        if progress is not None:
            progress(0, len(todo))

    if todo:
        try:
            if scheduler is not None or dask:
                with dask_client(scheduler, workers=workers) as client:
                    _run_dask(plan, todo, client, on_done, on_started)
            else:
                n = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
                n = min(n, len(todo))
                if n == 1:
                    on_started()
                    _run_serial(plan, todo, on_done)
                else:
                    _run_pool(plan, todo, n, on_done, on_started)
        except BaseException:
            # A folder this call made and no point finished in (an unreachable scheduler, a
            # Ctrl-C at once) holds nothing worth resuming: leave no half-made sweep behind.
            if fresh and done == 0:
                shutil.rmtree(target, ignore_errors=True)
            raise
    elif progress is not None:
        progress(0, 0)

    results, replications = build_tables(plan, records)
    _atomic_write(target / "results.parquet", lambda t: results.to_parquet(t, index=False))
    _atomic_write(
        target / "replications.parquet", lambda t: replications.to_parquet(t, index=False)
    )
    names = [p.name for p in plan.parameters]
    sens = None
    extra: dict[str, Any] = {}
    if "cost_exchange_ratio_mean" in results.columns and plan.n_points >= 2:
        sens = first_order_indices(
            results[names], results["cost_exchange_ratio_mean"], design=plan.kind
        )
        _atomic_write(target / "sensitivity.csv", lambda t: sens.to_csv(t, index=False))
        if plan.kind != "grid":
            extra["src2_r2"] = _src_r2(results[names], results["cost_exchange_ratio_mean"], names)
    try:
        if plot:
            plot_sweep(plan, results, target / "sweep.png")
    except Exception as exc:  # a figure must not lose the results
        log.warning("could not draw sweep.png: %s", exc)
        warnings.warn(f"could not draw sweep.png: {exc}", SweepWarning, stacklevel=2)
    wall = time.perf_counter() - started
    if plan.unit_design is not None and plan.unit_design.shape[1] >= 2:
        extra["max_abs_column_correlation"] = designs.max_abs_correlation(plan.unit_design)
    extra["reused_points"] = reused
    _write_text(target / "sweep.json", _sweep_json(plan, complete=True, extra=extra))
    files = sorted(f.name for f in target.iterdir() if not f.name.startswith("."))
    return SweepOutcome(
        results=results,
        replications=replications,
        sensitivity=sens if sens is not None else pd.DataFrame(),
        out=target,
        reused=reused,
        ran=len(todo),
        discarded=discarded,
        wall_s=wall,
        files=files,
    )


def sweep(
    sweep_or_path: str | Path | SweepSpec | Mapping[str, Any],
    out: str | Path | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
    *,
    dask: bool = False,
    overwrite: bool = False,
    plot: bool = True,
    engine: str | None = None,
    replications: int | None = None,
) -> Any:
    """Run a parameter sweep and return its results table.

    Parameters
    ----------
    sweep_or_path : path, mapping or SweepSpec
        The sweep file (spec section 4), or its content.
    out : path, optional
        Output folder (default ``runs/sweeps/<sweep file name>/``; ``runs/sweeps/sweep/`` for a
        mapping or SweepSpec). If it exists it must be empty or a sweep's folder (holding only a
        sweep's files); anything else is refused (``OutputFolderError``).
    workers : int, optional
        Local processes (default: every core); with ``dask``, the LocalCluster's worker
        processes. Each design point runs in one process (``sim.run(..., workers=1)``).
    scheduler : str or distributed.Client, optional
        Run on an existing ``dask.distributed`` cluster (``"tcp://host:8786"``). Its workers need
        this package installed.
    resume : bool
        Reuse the point results already in ``out`` (refused if they come from a different sweep
        file, base scenario or package version) and run only the missing points.
    progress : callable, optional
        ``progress(done, total)`` as points complete (``total`` excludes reused points).
    dask : bool
        Start a ``LocalCluster`` (``workers`` processes, loopback only) and run on it.
    overwrite : bool
        Replace an unfinished earlier sweep in ``out`` (a finished one is always replaced unless
        ``resume``; an unfinished one is otherwise refused, to keep its points). Not with
        ``resume``.
    plot : bool
        Draw ``sweep.png`` (default true).
    engine : {"des", "vectorised"}, optional
        The engine of every point (:func:`sim.run`), instead of the sweep file's ``engine:``
        (None, the default: the file's, itself ``des`` by default). Part of the fingerprint:
        ``resume`` refuses points another engine computed.
    replications : int, optional
        Replications per point instead of the sweep file's ``replications:`` (to try a sweep
        quickly). Part of the fingerprint: ``resume`` refuses points run with another count.

    Returns
    -------
    pandas.DataFrame
        One row per design point: ``point``, the parameters, ``seed``, and
        ``<metric>_mean / _ci95_low / _ci95_high`` for every metric. The same table, bit for bit,
        whatever the executor or worker count.
    """
    plan = plan_sweep(sweep_or_path, engine=engine, replications=replications)
    for note in plan.notes:
        warnings.warn(note, SweepWarning, stacklevel=2)
    return execute(
        plan,
        out,
        workers=workers,
        scheduler=scheduler,
        dask=dask,
        resume=resume,
        overwrite=overwrite,
        progress=progress,
        plot=plot,
    ).results
