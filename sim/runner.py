"""Running a scenario: replications with independent, reproducible random streams.

Replication ``i`` of a run with seed ``s`` always draws from
``numpy.random.default_rng(numpy.random.SeedSequence(s, spawn_key=(i,)))`` (the ``i``-th child of
``SeedSequence(s).spawn``), so its result does not depend on how many processes ran the
replications or in which order.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from sim.engine import ReplicationResult, Simulation
from sim.errors import IncursionError, LimitError
from sim.metrics import (
    Outcomes,
    RunningMoments,
    replication_metrics,
    summarize,
    summary_from_parts,
)
from sim.results import RunResult, drone_table, empty_tables, shot_table, sortie_table
from sim.scenario import MAX_REPLICATIONS, Scenario
from sim.tracks import build_tracks
from sim.world import World, build_world

__all__ = ["replication_rng", "run", "run_replication"]

#: Drone and shot tables keep the first replications up to this many drone rows (the summary
#: always covers every replication): tables of a million-replication run would not fit memory.
_MAX_TABLE_ROWS = 1_000_000


def replication_rng(seed: int, i: int) -> np.random.Generator:
    """The generator of replication ``i`` of a run with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,)))


def replication_seed_word(seed: int, i: int) -> int:
    """A 64-bit fingerprint of replication ``i``'s stream, recorded in the outputs."""
    return int(np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(1, np.uint64)[0])


def run_replication(world: World, seed: int, i: int) -> ReplicationResult:
    """Run replication ``i`` of ``world``'s scenario with run seed ``seed``."""
    rng = replication_rng(seed, i)
    tracks = build_tracks(world, rng)
    result = Simulation(world, tracks, rng).run()
    # Keep only what the results need: a long run must not hold every replication's tracks.
    result.tracks = result.tracks.summary()
    return result


def _run_chunk(scenario: Scenario, seed: int, indices: list[int]) -> list[ReplicationResult]:
    world = build_world(scenario)
    return [run_replication(world, seed, i) for i in indices]


def _chunks(indices: list[int], size: int) -> Iterable[list[int]]:
    for k in range(0, len(indices), size):
        yield indices[k : k + size]


def _run_indices(
    world: World,
    scenario: Scenario,
    seed: int,
    indices: list[int],
    n_workers: int,
) -> Iterator[list[ReplicationResult]]:
    """Replication results in order of ``indices``, a batch at a time."""
    if n_workers == 1:
        batch = max(1, min(256, len(indices) // 100))
        for chunk in _chunks(indices, batch):
            yield [run_replication(world, seed, i) for i in chunk]
        return
    size = max(1, min(256, len(indices) // (4 * n_workers)))
    pool = ProcessPoolExecutor(max_workers=n_workers)
    try:
        futures = [pool.submit(_run_chunk, scenario, seed, c) for c in _chunks(indices, size)]
        for fut in futures:  # in submission order, so the result does not depend on timing
            yield fut.result()
    except BaseException:
        # Interrupted or failed: drop the queued work instead of waiting for it.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


class _Collector:
    """Absorbs replication results batch by batch, keeping only what the outputs need.

    Per replication it keeps the metric values (for means and intervals) and, for the tables,
    the full results of the first replications only; per-group (weapon, defender) figures are
    streamed as moments. So a long run's memory does not grow with every replication's details.
    """

    def __init__(self, world: World, seed: int, keep: int | None = None) -> None:
        self.world = world
        self.seed = seed
        self.per_rep: dict[str, list[np.ndarray]] = {}
        self.moments = RunningMoments()
        self.kept: list[ReplicationResult] = []
        # replications whose tables are kept (None: as many as _MAX_TABLE_ROWS allows)
        self.keep = max(1, _MAX_TABLE_ROWS // max(world.n_drones, 1)) if keep is None else keep
        self.count = 0
        self.events = 0

    def add(self, results: list[ReplicationResult]) -> None:
        if not results:
            return
        o = _outcomes(self.world, results)
        for key, values in replication_metrics(o).items():
            self.per_rep.setdefault(key, []).append(np.asarray(values, float))
        self.moments.add_groups(o)
        room = self.keep - len(self.kept)
        if room > 0:
            self.kept.extend(results[:room])
        self.count += len(results)
        self.events += sum(r.events for r in results)

    def metric(self, name: str) -> np.ndarray:
        return np.concatenate(self.per_rep[name])


def _outcomes(world: World, results: list[ReplicationResult]) -> Outcomes:
    """The results of some replications as one :class:`Outcomes` (replications 0..len-1)."""

    def cat(key: str, part: str) -> np.ndarray:
        return np.concatenate([getattr(r, part)[key] for r in results])

    border = np.stack([r.tracks.border_cross_s for r in results])
    detect = np.stack([r.tracks.detect_s for r in results])
    return Outcomes(
        fate=np.stack([r.fate for r in results]),
        crossed=np.isfinite(border),
        detected=np.isfinite(detect),
        border_cross_s=border,
        fate_s=np.stack([r.fate_s for r in results]),
        drone_cost_usd=np.concatenate([np.full(w.count, w.cost_usd) for w in world.waves]),
        drone_damage_usd=np.concatenate([np.full(w.count, w.damage_usd) for w in world.waves]),
        shot_rep=np.concatenate([np.full(r.shots["drone"].size, i) for i, r in enumerate(results)]),
        shot_weapon=cat("weapon", "shots"),
        shot_defender=cat("defender", "shots"),
        shot_hit=cat("hit", "shots"),
        shot_cost_usd=cat("cost_usd", "shots"),
        sortie_rep=np.concatenate(
            [np.full(r.sorties["defender"].size, i) for i, r in enumerate(results)]
        ),
        sortie_defender=cat("defender", "sorties"),
        sortie_cost_usd=cat("cost_usd", "sorties"),
        sortie_hours=cat("hours", "sorties"),
        weapon_names=world.weapon_names,
        defender_names=world.defender_names,
    )


#: ``until_ci`` stops on no interval resting on fewer replications (vectorised engine: clusters):
#: one replication gives an interval of zero width, and a handful of equal draws may too.
MIN_CI_UNITS = 10


def ci_stop_reason(
    width: float, until_ci: float, units: int, done: int, max_replications: int
) -> str | None:
    """Why an ``until_ci`` run stops after ``done`` replications in ``units`` independent units
    whose CER interval is ``width`` of its mean wide, or None to go on."""
    shown = "undefined (a mean of 0)" if math.isinf(width) else f"{width:.2%} of the mean"
    if width < until_ci and units >= MIN_CI_UNITS:
        return f"ci: 95 % interval width {shown} < {until_ci:.2%}"
    if done >= max_replications:
        return f"max_replications: {max_replications} reached with interval width {shown}"
    return None


def whole_number(name: str, value: object, lo: int, hi: int) -> int:
    """``value`` as an int in ``[lo, hi]``, refusing what is not a whole number (2.5, True, "3")
    instead of converting it without a word."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise IncursionError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, float | np.floating) and not float(value).is_integer():
        raise IncursionError(f"{name} must be a whole number, got {value!r}")
    out = int(value)
    if not lo <= out <= hi:
        raise LimitError(f"{name} must be between {lo} and {hi}, got {out}")
    return out


def relative_width(summary: dict[str, Any]) -> float:
    """Width of a metric's 95 % interval relative to its mean (:func:`sim.metrics.summarize`'s
    output); inf without a finite interval or with a mean of 0."""
    lo, hi = summary["ci95"]
    mean = summary["mean"]
    if not (math.isfinite(mean) and math.isfinite(lo) and math.isfinite(hi)) or mean == 0:
        return math.inf
    return (hi - lo) / abs(mean)


def _ci_relative_width(collector: _Collector, seed: int) -> float:
    """Width of the 95 % interval of the cost-exchange ratio relative to its mean."""
    return relative_width(
        summarize(collector.metric("cost_exchange_ratio"), kind="ratio", rng_seed=seed)
    )


def run(
    scenario: Scenario | str | os.PathLike[str],
    *,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = 1,
    engine: str = "des",
    until_ci: float | None = None,
    max_replications: int = 10_000,
    progress: Callable[[int, int], None] | None = None,
    tables: bool = True,
) -> RunResult:
    """Run a scenario's replications and summarise them.

    Parameters
    ----------
    scenario : Scenario or path
        A validated scenario (:func:`sim.load_scenario`), or the path of a scenario file.
    replications : int, optional
        Number of replications (default: the scenario's ``replications``). With ``until_ci``,
        the size of the first batch and of each further batch.
    seed : int, optional
        Run seed (default: the scenario's ``seed``).
    workers : int or None
        Processes to spread the replications over; ``None`` means every core. The result is the
        same, bit for bit, whatever the number.
    engine : {"des", "vectorised"}
        ``"des"``: the SimPy discrete-event engine. ``"vectorised"``: shared track pools and a
        compiled C2 kernel (:mod:`sim.vectorised`; the same model, checked, much faster).
    until_ci : float, optional
        Keep adding batches of replications until the 95 % interval of the cost-exchange ratio
        is narrower than this fraction of its mean (e.g. 0.05), or ``max_replications`` is
        reached. ``RunResult.stop_reason`` says which. The interval counts only once it rests on
        :data:`MIN_CI_UNITS` replications (vectorised engine: clusters) at least.
    max_replications : int
        Cap for ``until_ci``.
    progress : callable, optional
        Called as ``progress(done, total)`` as replications complete.
    tables : bool
        Keep the drone, shot and sortie tables (and the vectorised engine's flight paths) of
        the first replications, as the run folder needs (default). False leaves them empty and
        saves their time and memory; the summary and the per-replication metrics are the same.
        Sweeps run their points so.

    Returns
    -------
    RunResult
    """
    if isinstance(scenario, str | os.PathLike):
        from sim.loader import load_scenario

        scenario = load_scenario(scenario)
    if not isinstance(scenario, Scenario):
        raise IncursionError(
            f"scenario must be a Scenario (sim.load_scenario) or a file path, got "
            f"{type(scenario).__name__}"
        )
    if engine not in ("des", "vectorised"):
        raise IncursionError(f"unknown engine {engine!r}: choose 'des' (SimPy) or 'vectorised'")
    reps = whole_number(
        "replications",
        scenario.replications if replications is None else replications,
        1,
        MAX_REPLICATIONS,
    )
    seed = whole_number("seed", scenario.seed if seed is None else seed, 0, 2**63 - 1)
    if workers is not None:
        workers = whole_number("workers", workers, 1, 4096)
    if until_ci is not None:
        if isinstance(until_ci, bool) or not isinstance(until_ci, int | float | np.floating):
            raise IncursionError(f"until_ci must be a number such as 0.05, got {until_ci!r}")
        if not 0 < until_ci < 10:  # also refuses NaN
            raise IncursionError(
                f"--until-ci must be a positive fraction such as 0.05, got {until_ci}"
            )
    max_replications = whole_number("max_replications", max_replications, 1, MAX_REPLICATIONS)
    if progress is not None and not callable(progress):
        raise IncursionError(f"progress must be callable, got {type(progress).__name__}")
    if not isinstance(tables, bool | np.bool_):
        raise IncursionError(f"tables must be True or False, got {tables!r}")
    if engine == "vectorised":
        from sim.vectorised import run_vectorised

        return run_vectorised(
            scenario, replications=reps, seed=seed, workers=workers, progress=progress,
            until_ci=until_ci, max_replications=max_replications, tables=bool(tables),
        )  # fmt: skip
    started = time.perf_counter()
    world = build_world(scenario)
    n_workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    total = reps if until_ci is None else max_replications
    done = 0

    def tick(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None:
            progress(done, total)

    collector = _Collector(world, seed, keep=None if tables else 0)

    def absorb(indices: list[int]) -> None:
        for batch in _run_indices(world, scenario, seed, indices, min(n_workers, len(indices))):
            collector.add(batch)
            tick(len(batch))

    absorb(list(range(min(reps, total))))
    stop_reason = "replications"
    if until_ci is not None:
        while True:
            width = _ci_relative_width(collector, seed)
            done = collector.count
            reason = ci_stop_reason(width, until_ci, done, done, max_replications)
            if reason is not None:
                stop_reason = reason
                break
            absorb(list(range(collector.count, min(collector.count + reps, max_replications))))
    out = collect(collector, engine=engine)
    out.stop_reason = stop_reason
    out.wall_s = time.perf_counter() - started
    return out


def collect(collector: _Collector, *, engine: str) -> RunResult:
    """The run's summary (every replication) and tables (the first replications kept)."""
    world = collector.world
    seed = collector.seed
    scen = world.scenario
    reps = collector.count
    per_rep = {k: np.concatenate(v) for k, v in collector.per_rep.items()}
    summary = summary_from_parts(
        scenario=scen.name,
        seed=seed,
        engine=engine,
        per_rep=per_rep,
        moments=collector.moments,
        weapon_names=world.weapon_names,
        defender_names=world.defender_names,
    )
    rep_seeds = [replication_seed_word(seed, i) for i in range(reps)]
    drones, shots, sorties = _kept_tables(world, collector.kept)
    summary["replication_seeds"] = rep_seeds
    per_rep_frame = pd.DataFrame(
        {"replication": np.arange(reps), "rng_seed": np.array(rep_seeds, dtype=np.uint64)} | per_rep
    )
    return RunResult(
        scenario=scen,
        seed=seed,
        engine=engine,
        summary=summary,
        drones=drones,
        shots=shots,
        sorties=sorties,
        replication_seeds=rep_seeds,
        events=int(collector.events),
        world=world,
        per_replication=per_rep_frame,
    )


def _kept_tables(
    world: World, results: list[ReplicationResult]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Drone, shot and sortie tables of the replications kept (empty if none were)."""
    if not results:
        return empty_tables(world)
    n = world.n_drones
    outcomes = _outcomes(world, results)
    fate, border, fate_s = outcomes.fate, outcomes.border_cross_s, outcomes.fate_s
    detect = np.stack([r.tracks.detect_s for r in results])
    shot_rep, sortie_rep = outcomes.shot_rep, outcomes.sortie_rep

    def cat(key: str, part: str) -> np.ndarray:
        return np.concatenate([getattr(r, part)[key] for r in results])

    # Tables: long format, one row per replication and drone, per shot, per sortie.
    keep = len(results)
    drones = drone_table(
        world,
        np.repeat(np.arange(keep), n),
        np.tile(results[0].tracks.wave, keep),
        launch_s=np.concatenate([r.tracks.launch_s for r in results]),
        border_cross_s=border.ravel(),
        detected_s=detect.ravel(),
        fate=fate.ravel(),
        fate_s=fate_s.ravel(),
        fate_x=np.concatenate([r.fate_x for r in results]),
        fate_y=np.concatenate([r.fate_y for r in results]),
        killed_by=np.concatenate([r.killed_by for r in results]),
        killed_weapon=np.concatenate([r.killed_weapon for r in results]),
        shots_at=np.concatenate([r.shots_at for r in results]),
    )
    shots = shot_table(
        world,
        shot_rep,
        time_s=cat("time_s", "shots"),
        impact_s=cat("impact_s", "shots"),
        defender=outcomes.shot_defender,
        weapon=outcomes.shot_weapon,
        drone=cat("drone", "shots"),
        hit=outcomes.shot_hit,
        cost_usd=outcomes.shot_cost_usd,
        x=cat("x", "shots"),
        y=cat("y", "shots"),
    ).sort_values(["replication", "impact_s", "drone"], kind="stable", ignore_index=True)
    # The event log lists shots striking at one instant in the order SimPy ran the engagements;
    # the vectorised engine in drone order. One order for both, so that their tables compare row
    # by row (a salvo's rounds keep their order: the sort is stable).
    sorties = sortie_table(
        world,
        sortie_rep,
        defender=outcomes.sortie_defender,
        aircraft=cat("aircraft", "sorties"),
        wheels_up_s=cat("wheels_up_s", "sorties"),
        landing_s=cat("landing_s", "sorties"),
        hours=outcomes.sortie_hours,
        cost_usd=outcomes.sortie_cost_usd,
    ).sort_values(["replication", "wheels_up_s"], kind="stable", ignore_index=True)
    return drones, shots, sorties
