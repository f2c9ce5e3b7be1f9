"""Run metrics: per-replication values and their confidence intervals (spec section 3).

Pure numpy over a structure of arrays (:class:`Outcomes`); no SimPy, no file I/O. pandas is
imported only by :func:`metrics_frame`, at the edge.

Input
-----
One :class:`Outcomes` holds R replications of one scenario with N launched drones each, plus flat
arrays of every shot (S) and every fighter sortie (F) in any replication. Every row of the drone
arrays is a launched drone: ``drones_launched`` is N in every replication and the attacker cost
counts all N drones.

Per-replication metrics (:func:`replication_metrics`, arrays of shape (R,))
---------------------------------------------------------------------------
Costs are in US dollars, times in seconds, hours in hours.

==============================  =================================================================
``cost_exchange_ratio``         defender cost / attacker cost (dimensionless)
``defender_cost_usd``           every shot's ``cost_usd`` (hit or miss) + every sortie's cost
``attacker_cost_usd``           sum of ``drone_cost_usd`` over the N launched drones
``cost_per_kill_usd``           defender cost / drones destroyed; NaN where nothing was destroyed
``drones_launched``             N
``drones_crossed_border``       drones with ``crossed`` true
``drones_detected``             drones with ``detected`` true
``drones_destroyed``            drones with fate ``destroyed``
``leakers``                     drones with fate ``leaked`` (reached their aim point)
``shots_fired``                 shots in the replication
``net_cost_exchange_ratio``     (defender cost + sum of ``drone_damage_usd`` of the leakers)
                                / attacker cost
``shot_cost_usd``               every shot's cost
``sortie_cost_usd``             every sortie's cost (flight hours x cost per flight hour)
``sortie_hours``                every sortie's flight hours, wheels-up to landing
``sorties``                     fighter sorties flown
``crashed``                     drones with fate ``crashed``
``exited``                      drones with fate ``exited``
``airborne``                    drones with fate ``airborne``
``mean_time_border_to_kill_s``  mean of ``fate_s - border_cross_s`` over the drones destroyed
                                that had crossed the border; NaN where there is none
``leak_fraction``               leakers / N; NaN when N == 0
==============================  =================================================================

NaN rules: a ratio whose denominator is zero is NaN, never inf or 0. So the two exchange ratios
are NaN in a replication whose attacker cost is 0 (no drones, or drones of zero cost), and
``cost_per_kill_usd`` is NaN in a replication with no kill.

Per-group values (:func:`by_group`): per weapon or per defender, per replication, ``shots``
(shots fired), ``kills`` (shots with ``hit`` true: the engine marks only the shot that destroyed
its drone as a hit, so kills sum to ``drones_destroyed``) and ``cost_usd`` (the cost of those
shots). Per defender, ``cost_usd`` also includes the cost of its sorties, so that it sums over the
defenders to ``defender_cost_usd``, and there are ``sorties`` and ``sortie_hours`` as well.

Summaries (:func:`summarize`)
-----------------------------
The point estimate is always the plain mean of the per-replication values, leaving out NaN (and
other non-finite) values; ``n`` counts the finite values. So ``cost_exchange_ratio`` is "computed
per replication, then averaged" (spec) and the mean of ``cost_per_kill_usd`` leaves out the
replications with no kill (spec). With no finite value the mean and both bounds are NaN (None in
JSON).

The interval is a confidence interval of that mean over replications. Without ``clusters``
replications are taken as independent and identically distributed, so the mean is their sample
mean:

- ``kind="mean"`` (counts, costs, times, fractions): Student-t interval,
  ``mean +- t_{(1+c)/2, n-1} * s / sqrt(n)`` with ``s`` the sample standard deviation (ddof=1).
  These per-replication quantities are sums over many drones and shots, so their mean is close to
  normal at the replication counts used.
- ``kind="ratio"`` (``cost_exchange_ratio``, ``net_cost_exchange_ratio``, ``cost_per_kill_usd``):
  *expanded* percentile bootstrap of the mean (Hesterberg, "What teachers should know about the
  bootstrap", The American Statistician 69(4), 2015), ``n_boot`` resamples with replacement
  drawn with ``numpy.random.default_rng(rng_seed)``. A ratio per replication is skewed (a
  replication where an expensive missile is fired at a cheap drone is far out in the right
  tail), and a symmetric t interval would misplace the interval; the percentile bootstrap
  follows the skew. The plain percentile interval is too narrow at small n (a resample's mean
  has variance ``(n - 1) / n * s^2 / n`` and the quantiles are normal, not t: about 6 % narrower
  than the t interval at n = 30, covering about 93 % of normal samples), so the quantiles taken
  are ``Phi(-+ sqrt(n / (n - 1)) * t_{(1+c)/2, n-1})`` instead of ``(1 -+ c) / 2``: for
  symmetric values the interval is then as wide as the t interval, and it still follows the
  skew. It is deterministic for a given seed, number of finite values and ``n_boot`` (the
  resamples are drawn in chunks to bound memory, and the result does not depend on the chunk
  size).

Measured coverage (tests/test_metrics.py checks the t interval and the expanded bootstrap; the
other figures from a script of 3,000 samples each, 26 Nov 2026): the t interval covers the true
mean in 95.5 % of 2,000 normal samples of 30, the expanded bootstrap about 95 % of normal
samples of 20 (the plain one 92.6 %); for normal samples of 32 the plain
percentile bootstrap covers 93.4 %, the expanded one 94.8 %, the t interval 95.1 %. Every interval
of a mean under-covers for strongly right-skewed values at small n: for lognormal(0, 0.5) samples
of 30 the plain percentile bootstrap covers 92.8 %, the t interval 93.8 %, the expanded
percentile 94.2 %; for lognormal(0, 1) samples of 50, 90.4 %, 90.2 % and 91.3 % (BCa does about
the same). ``cost_per_kill_usd`` is such a skewed ratio: run a few hundred replications for it.

Clustered replications (``clusters=``)
--------------------------------------
The vectorised engine may run replications in clusters: all replications of one cluster draw
their drone tracks from one shared pool of pre-computed tracks. Every replication is still
exactly distributed as the model, so the plain mean over all replications stays the point
estimate (unchanged), but replications of one cluster are correlated (they share tracks) while
clusters are independent and identically distributed. An i.i.d. interval would then be too
narrow (by about the square root of the design effect ``1 + (m - 1) * rho`` for clusters of
``m`` replications with intra-cluster correlation ``rho``), so with a label per replication
(``clusters``, any integers) the interval treats the cluster as the independent unit. With
``S_g`` and ``n_g`` the sum and the count of the finite values of cluster ``g``, over the ``G``
clusters with ``n_g > 0``, and ``N = sum n_g``, the mean is ``sum S_g / N`` (the plain mean) and:

- ``kind="mean"``: cluster-robust (linearised ratio-estimator) t interval,
  ``z_g = S_g - mean * n_g``, ``var = G / (G - 1) * sum z_g^2 / N^2``,
  ``mean +- t_{(1+c)/2, G-1} * sqrt(var)``. With one replication per cluster this is exactly the
  Student-t interval above (``var = s^2 / n``).
- ``kind="ratio"``: cluster bootstrap, ``n_boot`` resamples of the ``G`` clusters with
  replacement (``numpy.random.default_rng(rng_seed)``), each resample's estimate
  ``sum S / sum n`` over the clusters drawn; expanded percentile interval with ``n = G`` (the
  same small-sample correction as above: with 32 clusters the plain percentile interval is
  about 5 % narrower than the cluster t interval). Its cost depends on ``G``, not on the number
  of replications (the values are first reduced to ``S_g`` and ``n_g``).

With one cluster (``G == 1``) the bounds are NaN (None in JSON): one cluster of correlated
replications says nothing about the spread between clusters, and ``[mean, mean]`` would claim
certainty. The rule for equal values below comes first: when all finite values are equal
(including a single value) the interval is ``[mean, mean]`` whatever the clusters, as for a count
that cannot vary.

Measured coverage, 10,000 datasets of 30 clusters of 50 replications, value = cluster effect
N(0, 1) + noise N(0, 1) (intra-cluster correlation 0.5): the cluster t interval covers the true
mean in 94.7 % of them, the plain percentile cluster bootstrap in 93.0 % (it is narrow with few
clusters, which the expanded percentile interval corrects), the i.i.d. t interval
(``clusters=None``) in only 29 %. Run a few dozen clusters or more: with few clusters every
interval is wide, and the bootstrap under-covers.

:class:`ClusterMoments` is the streaming counterpart of :class:`RunningMoments` for the
per-weapon and per-defender figures: it keeps ``S_g`` and ``n_g`` per key and cluster (memory
grows with clusters, not replications) and gives the cluster-robust t interval.

In ``summary.json`` the lower bound is cut at zero: every metric is a count, a cost, a time or
a ratio of costs, whose mean cannot be negative, and a t interval of a count that is almost always
zero would otherwise reach below it.

With one finite value, or when all finite values are equal, the interval is ``[mean, mean]``: no
spread has been observed, so there is nothing to estimate a width from (a deterministic scenario,
or a count such as ``drones_launched`` that cannot vary). It is not a claim of certainty; run more
replications for a real interval.

``summary.json`` (:func:`summary_dict`) has the spec's structure: ``scenario``, ``seed``,
``replications``, ``engine``, ``metrics`` (every metric above as ``{"mean", "ci95"}``, the spec's
ten first), ``by_weapon`` and, in addition, ``by_defender`` (``{name: {value: {"mean",
"ci95"}}}``), and ``replication_seeds`` when given. Floats are plain Python floats and NaN is
written as ``None`` (JSON has no NaN). The bootstrap is seeded with the run's ``seed``, so the
same run gives the same file.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import pandas as pd

__all__ = [
    "AIRBORNE",
    "CRASHED",
    "DESTROYED",
    "EXITED",
    "FATES",
    "LEAKED",
    "METRIC_KINDS",
    "METRIC_NAMES",
    "SPEC_METRICS",
    "ClusterMoments",
    "GroupMoments",
    "Outcomes",
    "RunningMoments",
    "by_group",
    "metrics_frame",
    "replication_metrics",
    "summarize",
    "summary_dict",
    "summary_from_parts",
]

#: Drone fates, in code order: ``Outcomes.fate`` holds the index into this tuple.
FATES: tuple[str, ...] = ("destroyed", "leaked", "crashed", "exited", "airborne")
DESTROYED, LEAKED, CRASHED, EXITED, AIRBORNE = range(len(FATES))

#: The ten metrics the spec requires in ``summary.json``, in the spec's order.
SPEC_METRICS: tuple[str, ...] = (
    "cost_exchange_ratio",
    "defender_cost_usd",
    "attacker_cost_usd",
    "cost_per_kill_usd",
    "drones_launched",
    "drones_crossed_border",
    "drones_detected",
    "drones_destroyed",
    "leakers",
    "shots_fired",
)

#: Every metric :func:`replication_metrics` returns, in output order (the spec's ten first).
METRIC_NAMES: tuple[str, ...] = (
    *SPEC_METRICS,
    "net_cost_exchange_ratio",
    "shot_cost_usd",
    "sortie_cost_usd",
    "sortie_hours",
    "sorties",
    "crashed",
    "exited",
    "airborne",
    "mean_time_border_to_kill_s",
    "leak_fraction",
)

_RATIO_METRICS = frozenset({"cost_exchange_ratio", "net_cost_exchange_ratio", "cost_per_kill_usd"})

#: The interval used for each metric in :func:`summary_dict` (see :func:`summarize`).
METRIC_KINDS: dict[str, Literal["mean", "ratio"]] = {
    name: "ratio" if name in _RATIO_METRICS else "mean" for name in METRIC_NAMES
}

#: Bootstrap resamples are drawn in chunks of about this many indices (8 MB of int64).
_BOOT_CHUNK_ELEMENTS = 1 << 20


# --------------------------------------------------------------------------------------- input


def _as_int(name: str, value: Any, shape: tuple[int, ...] | None, ndim: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != ndim:
        raise ValueError(f"Outcomes.{name}: expected a {ndim}-D array, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"Outcomes.{name}: expected shape {shape}, got {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"Outcomes.{name}: expected integers, got dtype {arr.dtype}")
    return arr.astype(np.intp, copy=False)


def _as_bool(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(value)
    if arr.shape != shape:
        raise ValueError(f"Outcomes.{name}: expected shape {shape}, got {arr.shape}")
    if arr.dtype.kind != "b":
        if arr.size and (arr.dtype.kind not in "iu" or not np.isin(arr, (0, 1)).all()):
            raise ValueError(f"Outcomes.{name}: expected booleans, got dtype {arr.dtype}")
        arr = arr.astype(bool)
    return arr


def _as_float(name: str, value: Any, shape: tuple[int, ...], *, cost: bool = False) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"Outcomes.{name}: expected shape {shape}, got {arr.shape}")
    if cost and not (np.isfinite(arr).all() and (arr >= 0).all()):
        bad = arr[~(np.isfinite(arr) & (arr >= 0))][0]
        raise ValueError(f"Outcomes.{name}: expected finite values >= 0, found {bad}")
    return arr


def _check_index(name: str, arr: np.ndarray, upper: int, what: str) -> None:
    if arr.size and (arr.min() < 0 or arr.max() >= upper):
        bad = arr[(arr < 0) | (arr >= upper)][0]
        raise ValueError(f"Outcomes.{name}: index {bad} out of range 0..{upper - 1} ({what})")


def _names(name: str, value: Any) -> tuple[str, ...]:
    names = tuple(value)
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"Outcomes.{name}: expected a tuple of str, got {names!r}")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"Outcomes.{name}: duplicate names {dup}")
    return names


@dataclass(frozen=True, eq=False)
class Outcomes:
    """Everything metrics need, for R replications of one scenario with N drones each.

    Drone arrays have shape (R, N): row r is replication r, column i drone i (the same drone,
    with the same cost, in every replication). Shot and sortie arrays are flat, one entry per
    shot (S) or sortie (F) in any replication, tagged with the replication index.

    On construction the arrays are checked (shapes, index ranges, fate codes, costs finite and
    >= 0, ``border_cross_s`` finite exactly where ``crossed``) and converted to canonical dtypes
    (indices ``intp``, flags ``bool``, ``fate`` ``int8``, the rest ``float64``); a
    :class:`ValueError` names the field and what was expected. Empty shot or sortie arrays may
    have any dtype (``np.array([])`` is fine).

    Attributes
    ----------
    fate : (R, N) int8
        Index into :data:`FATES`.
    crossed, detected : (R, N) bool
        Crossed the border into the territory; was detected.
    border_cross_s : (R, N) float
        Time of the (first) border crossing, s; NaN if never crossed.
    fate_s : (R, N) float
        Time of the fate, s.
    drone_cost_usd, drone_damage_usd : (N,) float
        Cost of each drone; damage if it leaks (0 when the scenario gives none).
    shot_rep, shot_weapon, shot_defender : (S,) int
        Replication, index into ``weapon_names`` and into ``defender_names`` of each shot.
    shot_hit : (S,) bool
        The shot destroyed its drone (at most one hit per destroyed drone).
    shot_cost_usd : (S,) float
    sortie_rep, sortie_defender : (F,) int
        Replication and index into ``defender_names`` (the airbase) of each sortie.
    sortie_cost_usd, sortie_hours : (F,) float
        Flight hours x cost per flight hour; flight hours, wheels-up to landing.
    weapon_names, defender_names : tuple of str
        Unique names.
    """

    fate: np.ndarray
    crossed: np.ndarray
    detected: np.ndarray
    border_cross_s: np.ndarray
    fate_s: np.ndarray
    drone_cost_usd: np.ndarray
    drone_damage_usd: np.ndarray
    shot_rep: np.ndarray
    shot_weapon: np.ndarray
    shot_defender: np.ndarray
    shot_hit: np.ndarray
    shot_cost_usd: np.ndarray
    sortie_rep: np.ndarray
    sortie_defender: np.ndarray
    sortie_cost_usd: np.ndarray
    sortie_hours: np.ndarray
    weapon_names: tuple[str, ...]
    defender_names: tuple[str, ...]

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        fate = _as_int("fate", self.fate, None, ndim=2)
        if fate.size and (fate.min() < 0 or fate.max() >= len(FATES)):
            bad = fate[(fate < 0) | (fate >= len(FATES))][0]
            raise ValueError(f"Outcomes.fate: code {bad} is not one of 0..4 {FATES}")
        put("fate", fate.astype(np.int8))
        rn = fate.shape
        n_rep, n_drones = rn
        put("crossed", _as_bool("crossed", self.crossed, rn))
        put("detected", _as_bool("detected", self.detected, rn))
        put("border_cross_s", _as_float("border_cross_s", self.border_cross_s, rn))
        put("fate_s", _as_float("fate_s", self.fate_s, rn))
        if not np.array_equal(np.isfinite(self.border_cross_s), self.crossed):
            r, i = np.argwhere(np.isfinite(self.border_cross_s) != self.crossed)[0]
            raise ValueError(
                f"Outcomes.border_cross_s: must be finite exactly where crossed is true; "
                f"replication {r}, drone {i} has crossed={bool(self.crossed[r, i])} and "
                f"border_cross_s={self.border_cross_s[r, i]}"
            )
        for name in ("drone_cost_usd", "drone_damage_usd"):
            put(name, _as_float(name, getattr(self, name), (n_drones,), cost=True))

        put("weapon_names", _names("weapon_names", self.weapon_names))
        put("defender_names", _names("defender_names", self.defender_names))

        shot_rep = _as_int("shot_rep", self.shot_rep, None, ndim=1)
        s = shot_rep.shape
        put("shot_rep", shot_rep)
        put("shot_weapon", _as_int("shot_weapon", self.shot_weapon, s, ndim=1))
        put("shot_defender", _as_int("shot_defender", self.shot_defender, s, ndim=1))
        put("shot_hit", _as_bool("shot_hit", self.shot_hit, s))
        put("shot_cost_usd", _as_float("shot_cost_usd", self.shot_cost_usd, s, cost=True))
        _check_index("shot_rep", self.shot_rep, n_rep, "replications")
        _check_index("shot_weapon", self.shot_weapon, len(self.weapon_names), "weapon_names")
        _check_index("shot_defender", self.shot_defender, len(self.defender_names), "defenders")

        sortie_rep = _as_int("sortie_rep", self.sortie_rep, None, ndim=1)
        f = sortie_rep.shape
        put("sortie_rep", sortie_rep)
        put("sortie_defender", _as_int("sortie_defender", self.sortie_defender, f, ndim=1))
        put("sortie_cost_usd", _as_float("sortie_cost_usd", self.sortie_cost_usd, f, cost=True))
        put("sortie_hours", _as_float("sortie_hours", self.sortie_hours, f, cost=True))
        _check_index("sortie_rep", self.sortie_rep, n_rep, "replications")
        _check_index("sortie_defender", self.sortie_defender, len(self.defender_names), "defenders")

    @property
    def n_replications(self) -> int:
        """R, the number of replications."""
        return int(self.fate.shape[0])

    @property
    def n_drones(self) -> int:
        """N, the number of launched drones per replication."""
        return int(self.fate.shape[1])


# ------------------------------------------------------------------------ per replication


def _sums(index: np.ndarray, weights: np.ndarray, length: int) -> np.ndarray:
    """Sum of ``weights`` per ``index`` value in ``0..length-1``, as float64.

    (``np.bincount`` returns int64 for empty input even with weights; this does not.)
    """
    return np.bincount(index, weights=weights, minlength=length).astype(np.float64, copy=False)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise, NaN where ``den`` is 0."""
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def replication_metrics(o: Outcomes) -> dict[str, np.ndarray]:
    """Every per-replication metric (see the module docstring), each an array of shape (R,).

    Counts are int64 arrays, everything else float64 (costs in USD, times in s). Keys are
    :data:`METRIC_NAMES`, in that order.
    """
    n_rep, n_drones = o.fate.shape
    fate_counts = np.bincount(
        (o.fate.astype(np.intp) + len(FATES) * np.arange(n_rep)[:, None]).ravel(),
        minlength=len(FATES) * n_rep,
    ).reshape(n_rep, len(FATES))
    destroyed = fate_counts[:, DESTROYED]
    leakers = fate_counts[:, LEAKED]

    shot_cost = _sums(o.shot_rep, o.shot_cost_usd, n_rep)
    sortie_cost = _sums(o.sortie_rep, o.sortie_cost_usd, n_rep)
    defender_cost = shot_cost + sortie_cost
    attacker_cost = np.full(n_rep, o.drone_cost_usd.sum())
    leak_damage = np.where(o.fate == LEAKED, o.drone_damage_usd, 0.0).sum(axis=1)

    killed_inside = (o.fate == DESTROYED) & o.crossed
    n_killed_inside = killed_inside.sum(axis=1)
    time_to_kill = np.where(killed_inside, o.fate_s - o.border_cross_s, 0.0).sum(axis=1)

    values = {
        "cost_exchange_ratio": _ratio(defender_cost, attacker_cost),
        "defender_cost_usd": defender_cost,
        "attacker_cost_usd": attacker_cost,
        "cost_per_kill_usd": _ratio(defender_cost, destroyed),
        "drones_launched": np.full(n_rep, n_drones, dtype=np.int64),
        "drones_crossed_border": o.crossed.sum(axis=1),
        "drones_detected": o.detected.sum(axis=1),
        "drones_destroyed": destroyed,
        "leakers": leakers,
        "shots_fired": np.bincount(o.shot_rep, minlength=n_rep),
        "net_cost_exchange_ratio": _ratio(defender_cost + leak_damage, attacker_cost),
        "shot_cost_usd": shot_cost,
        "sortie_cost_usd": sortie_cost,
        "sortie_hours": _sums(o.sortie_rep, o.sortie_hours, n_rep),
        "sorties": np.bincount(o.sortie_rep, minlength=n_rep),
        "crashed": fate_counts[:, CRASHED],
        "exited": fate_counts[:, EXITED],
        "airborne": fate_counts[:, AIRBORNE],
        "mean_time_border_to_kill_s": _ratio(time_to_kill, n_killed_inside),
        "leak_fraction": _ratio(leakers, np.full(n_rep, n_drones)),
    }
    return {
        name: values[name].astype(np.float64 if values[name].dtype.kind == "f" else np.int64)
        for name in METRIC_NAMES
    }


def by_group(
    o: Outcomes, group: Literal["weapon", "defender"] = "weapon"
) -> dict[str, dict[str, np.ndarray]]:
    """Shots, kills and cost per weapon or per defender, per replication.

    Parameters
    ----------
    o : Outcomes
    group : {"weapon", "defender"}

    Returns
    -------
    dict
        ``{name: {"shots": (R,) int64, "kills": (R,) int64, "cost_usd": (R,) float64}}`` for
        every name in ``o.weapon_names`` (or ``o.defender_names``), in that order, including
        names that never fired. Per defender, ``cost_usd`` is its shots' cost plus its sorties'
        cost, and ``"sorties"`` (int64) and ``"sortie_hours"`` (float64) are added.
    """
    if group == "weapon":
        index, names = o.shot_weapon, o.weapon_names
    elif group == "defender":
        index, names = o.shot_defender, o.defender_names
    else:
        raise ValueError(f"by_group: group must be 'weapon' or 'defender', got {group!r}")
    n_rep, n_groups = o.n_replications, len(names)
    size = n_rep * n_groups

    def count(rep: np.ndarray, idx: np.ndarray) -> np.ndarray:
        flat = rep * n_groups + idx
        return np.bincount(flat, minlength=size).astype(np.int64).reshape(n_rep, n_groups)

    def total(rep: np.ndarray, idx: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return _sums(rep * n_groups + idx, weights, size).reshape(n_rep, n_groups)

    table = {
        "shots": count(o.shot_rep, index),
        "kills": count(o.shot_rep[o.shot_hit], index[o.shot_hit]),
        "cost_usd": total(o.shot_rep, index, o.shot_cost_usd),
    }
    if group == "defender":
        table["cost_usd"] += total(o.sortie_rep, o.sortie_defender, o.sortie_cost_usd)
        table["sorties"] = count(o.sortie_rep, o.sortie_defender)
        table["sortie_hours"] = total(o.sortie_rep, o.sortie_defender, o.sortie_hours)
    return {
        name: {key: np.ascontiguousarray(arr[:, g]) for key, arr in table.items()}
        for g, name in enumerate(names)
    }


# ------------------------------------------------------------------------------ intervals


def _cluster_labels(where: str, clusters: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``clusters`` checked (shape ``shape``, integer dtype) and as int64 labels.

    Any integers are labels; uint64 labels above the int64 range wrap, which keeps them distinct.
    """
    arr = np.asarray(clusters)
    if arr.shape != shape:
        raise ValueError(
            f"{where}: clusters must have the shape of the values {shape}, got {arr.shape}"
        )
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{where}: clusters must be integer labels, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _cluster_sums(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct labels (sorted), and the sum and count of ``x`` per label."""
    if labels.size and labels.min() >= 0 and labels.max() <= 4 * labels.size + 1024:
        # Small non-negative labels (the usual 0..G-1): bincount on the labels, no sort.
        counts = np.bincount(labels)
        sums = np.bincount(labels, weights=x, minlength=counts.size)
        uniq = np.flatnonzero(counts)
        return uniq, sums[uniq].astype(np.float64, copy=False), counts[uniq].astype(np.float64)
    uniq, inverse = np.unique(labels, return_inverse=True)
    sums = np.bincount(inverse, weights=x, minlength=uniq.size).astype(np.float64, copy=False)
    counts = np.bincount(inverse, minlength=uniq.size).astype(np.float64, copy=False)
    return uniq, sums, counts


@functools.lru_cache(maxsize=256)
def _t_quantile(q: float, dof: float) -> float:
    """Student-t quantile: scipy's, cached, since a summary asks for the same few hundreds of
    times (a millisecond of a small run each time)."""
    return float(stats.t.ppf(q, dof))


def _cluster_t_half(mean: float, sums: np.ndarray, counts: np.ndarray, confidence: float) -> float:
    """Half-width of the cluster-robust t interval (``G >= 2`` clusters with ``counts > 0``)."""
    g = sums.size
    z = sums - mean * counts
    var = g / (g - 1) * float(np.dot(z, z)) / float(counts.sum()) ** 2
    return _t_quantile(0.5 + confidence / 2, g - 1) * math.sqrt(var)


def _expanded(n: int, confidence: float) -> list[float]:
    """Quantiles of the expanded percentile interval of ``n`` (>= 2) independent units:
    ``Phi(-+ sqrt(n / (n - 1)) t_{(1+c)/2, n-1})`` (see the module docstring)."""
    tail = float(stats.norm.cdf(-math.sqrt(n / (n - 1)) * _t_quantile(0.5 + confidence / 2, n - 1)))
    return [tail, 1.0 - tail]


def _bootstrap_ratios(
    sums: np.ndarray, counts: np.ndarray | None, n_boot: int, rng_seed: Any
) -> np.ndarray:
    """``sum S / sum n`` of ``n_boot`` resamples of the units with replacement, drawn in bounded
    chunks; ``counts`` None means one value per unit (the resample's mean)."""
    rng = np.random.default_rng(rng_seed)
    g = sums.size
    rows = max(1, _BOOT_CHUNK_ELEMENTS // g)
    ratios = np.empty(n_boot)
    for start in range(0, n_boot, rows):
        stop = min(start + rows, n_boot)
        idx = rng.integers(0, g, size=(stop - start, g))
        if counts is None:
            ratios[start:stop] = sums[idx].mean(axis=1)
        else:
            ratios[start:stop] = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    return ratios


def summarize(
    values: np.ndarray | Sequence[float],
    *,
    kind: Literal["mean", "ratio"] = "mean",
    rng_seed: int | Sequence[int] | np.random.SeedSequence = 0,
    n_boot: int = 2000,
    confidence: float = 0.95,
    clusters: np.ndarray | Sequence[int] | None = None,
) -> dict[str, Any]:
    """Mean over replications and its confidence interval.

    Parameters
    ----------
    values : (R,) array_like of float
        One value per replication; NaN (and other non-finite) values are left out.
    kind : {"mean", "ratio"}
        ``"mean"``: Student-t interval. ``"ratio"``: seeded expanded percentile bootstrap of the
        mean, for skewed per-replication ratios (see the module docstring).
    rng_seed : int, sequence of int or SeedSequence
        Seed of the bootstrap generator (``numpy.random.default_rng``); unused for ``"mean"``.
    n_boot : int
        Bootstrap resamples.
    confidence : float
        Confidence level in (0, 1). The key stays ``"ci95"`` whatever the level.
    clusters : (R,) array_like of int, optional
        Cluster label of each replication (any integers). When given, the interval treats the
        cluster as the independent unit: cluster-robust t interval for ``"mean"``, cluster
        bootstrap for ``"ratio"`` (see the module docstring); the mean is unchanged. ``None``:
        replications are independent.

    Returns
    -------
    dict
        ``{"mean": float, "ci95": [low, high], "n": int}``, ``n`` the number of finite values.
        With ``n == 0`` the mean and bounds are NaN; with ``n == 1`` or all values equal the
        interval is ``[mean, mean]`` (no spread observed). Otherwise, with ``clusters`` whose
        finite values all lie in one cluster, the bounds are NaN.
    """
    if kind not in ("mean", "ratio"):
        raise ValueError(f"summarize: kind must be 'mean' or 'ratio', got {kind!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"summarize: confidence must be in (0, 1), got {confidence}")
    if kind == "ratio" and (not isinstance(n_boot, int | np.integer) or n_boot < 1):
        raise ValueError(f"summarize: n_boot must be a positive integer, got {n_boot!r}")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"summarize: expected a 1-D array of replications, got shape {x.shape}")
    labels = None if clusters is None else _cluster_labels("summarize", clusters, x.shape)
    finite = np.isfinite(x)
    x = x[finite]
    n = int(x.size)
    if n == 0:
        return {"mean": math.nan, "ci95": [math.nan, math.nan], "n": 0}
    mean = float(x.mean())
    if n == 1 or bool((x == x[0]).all()):
        return {"mean": mean, "ci95": [mean, mean], "n": n}
    if labels is not None:
        _, sums, counts = _cluster_sums(x, labels[finite])
        if sums.size == 1:
            return {"mean": mean, "ci95": [math.nan, math.nan], "n": n}
        if kind == "mean":
            half = _cluster_t_half(mean, sums, counts, confidence)
            low, high = mean - half, mean + half
        else:
            ratios = _bootstrap_ratios(sums, counts, int(n_boot), rng_seed)
            low, high = (float(q) for q in np.quantile(ratios, _expanded(sums.size, confidence)))
        return {"mean": mean, "ci95": [low, high], "n": n}
    if kind == "mean":
        half = _t_quantile(0.5 + confidence / 2, n - 1) * float(x.std(ddof=1)) / n**0.5
        low, high = mean - half, mean + half
    else:
        means = _bootstrap_ratios(x, None, int(n_boot), rng_seed)
        low, high = (float(q) for q in np.quantile(means, _expanded(n, confidence)))
    return {"mean": mean, "ci95": [low, high], "n": n}


# --------------------------------------------------------------------------- summary.json


def _json_float(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _entry(
    values: np.ndarray,
    kind: Literal["mean", "ratio"],
    seed: int,
    clusters: np.ndarray | None = None,
) -> dict[str, Any]:
    s = summarize(values, kind=kind, rng_seed=seed, clusters=clusters)
    low, high = s["ci95"]
    finite = np.asarray(values, float)
    finite = finite[np.isfinite(finite)]
    if finite.size and (finite >= 0).all() and np.isfinite(low):
        # Every metric here is a count, cost, time or ratio: its mean cannot be negative, so the
        # symmetric t interval is cut at zero rather than reported below it.
        low = max(low, 0.0)
    return {"mean": _json_float(s["mean"]), "ci95": [_json_float(low), _json_float(high)]}


def summary_dict(
    o: Outcomes,
    *,
    scenario: str,
    seed: int,
    engine: str,
    replication_seeds: list[int] | None = None,
) -> dict[str, Any]:
    """The content of ``summary.json`` (spec section 3), ready for ``json.dump(allow_nan=False)``.

    Parameters
    ----------
    o : Outcomes
    scenario, engine : str
        Scenario name and engine (``"des"`` or ``"vectorised"``).
    seed : int
        The run's seed (>= 0); it also seeds the bootstrap intervals.
    replication_seeds : list of int, optional
        The seed of each replication; written as ``replication_seeds`` when given (length R).

    Returns
    -------
    dict
        ``scenario, seed, replications, engine, metrics, by_weapon, by_defender`` (and
        ``replication_seeds``). Every value is ``{"mean": float|None, "ci95": [low, high]}``.
    """
    n_rep = o.n_replications
    moments = RunningMoments()
    moments.add_groups(o)
    out = summary_from_parts(
        scenario=scenario,
        seed=seed,
        engine=engine,
        per_rep=replication_metrics(o),
        moments=moments,
        weapon_names=o.weapon_names,
        defender_names=o.defender_names,
    )
    if replication_seeds is not None:
        seeds = [int(s) for s in replication_seeds]
        if len(seeds) != n_rep:
            raise ValueError(
                f"summary_dict: {len(seeds)} replication_seeds for {n_rep} replications"
            )
        out["replication_seeds"] = seeds
    return out


def metrics_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per metric of a :func:`summary_dict` result (``summary["metrics"]``).

    Columns ``metric, mean, ci95_low, ci95_high`` (float64, NaN where the summary has None), in
    the summary's metric order.
    """
    import pandas as pd

    rows = [
        (name, entry["mean"], entry["ci95"][0], entry["ci95"][1])
        for name, entry in summary["metrics"].items()
    ]
    frame = pd.DataFrame(rows, columns=["metric", "mean", "ci95_low", "ci95_high"])
    value_columns = ["mean", "ci95_low", "ci95_high"]
    frame[value_columns] = frame[value_columns].astype(np.float64)
    return frame


def _group_items(o: Outcomes) -> Iterator[tuple[str, np.ndarray]]:
    """Every per-weapon and per-defender figure of :func:`by_group`, per replication, keyed
    ``"<group>\\0<name>\\0<column>"`` (the keys of the streamed moments)."""
    for group in ("weapon", "defender"):
        for name, table in by_group(o, group).items():
            for col, values in table.items():
                yield f"{group}\0{name}\0{col}", np.asarray(values, float)


class RunningMoments:
    """Streaming count, mean and sum of squared deviations per key (Chan, Golub and LeVeque's
    pairwise update), so that a long run's per-group means and t intervals need no array of every
    replication. ``entry`` gives the same ``{"mean", "ci95"}`` as :func:`summarize` with
    ``kind="mean"``, the lower bound cut at zero.

    Values are folded in blocks of :attr:`BLOCK` in the order they were added, and a partial block
    waits for the next call, so the figures do not depend on how the values were split into calls:
    a run's batches depend on its number of workers, its summary must not (bit for bit)."""

    BLOCK = 256

    def __init__(self) -> None:
        #: per key: count, sum and sum of squared deviations of the blocks folded so far
        self._state: dict[str, tuple[float, float, float]] = {}
        self._held: dict[str, np.ndarray] = {}
        #: per key: smallest and largest value added (to recognise values that are all equal
        #: exactly as :func:`summarize` does, whatever the rounding of the folded moments)
        self._range: dict[str, tuple[float, float]] = {}

    def add_groups(self, o: Outcomes) -> None:
        """Add the per-weapon and per-defender figures of some replications (:func:`by_group`),
        keyed ``"<group>\\0<name>\\0<column>"``."""
        for key, values in _group_items(o):
            self.add(key, values)

    def add(self, key: str, x: np.ndarray) -> None:
        """Add the finite values of ``x`` under ``key``."""
        x = x[np.isfinite(x)]
        if x.size:
            low, high = float(x.min()), float(x.max())
            if key in self._range:
                low, high = min(low, self._range[key][0]), max(high, self._range[key][1])
            self._range[key] = (low, high)
        held = self._held.get(key)
        if held is not None:
            x = np.concatenate([held, x])
        full = x.size - x.size % self.BLOCK
        for lo in range(0, full, self.BLOCK):
            self._state[key] = _fold(self._state.get(key), x[lo : lo + self.BLOCK])
        self._held[key] = x[full:]

    def entry(self, key: str) -> dict[str, Any]:
        state = self._state.get(key)
        held = self._held.get(key)
        if held is not None and held.size:
            state = _fold(state, held)
        if state is None:
            return {"mean": None, "ci95": [None, None]}
        n, total, m2 = state
        mean = total / n
        low, high = self._range[key]
        if n == 1 or low == high:
            return {"mean": mean, "ci95": [mean, mean]}
        half = _t_quantile(0.975, n - 1) * (m2 / (n - 1)) ** 0.5 / n**0.5
        return {"mean": mean, "ci95": [max(mean - half, 0.0), mean + half]}


def _fold(state: tuple[float, float, float] | None, x: np.ndarray) -> tuple[float, float, float]:
    """Count, sum and sum of squared deviations after adding the values ``x`` (finite, at least
    one) to ``state`` (Chan, Golub and LeVeque's pairwise update; None: nothing yet)."""
    nb, sb = float(x.size), float(x.sum())
    m2b = float(((x - sb / nb) ** 2).sum())
    if state is None:
        return nb, sb, m2b
    na, sa, m2a = state
    delta = sb / nb - sa / na
    n = na + nb
    return n, sa + sb, m2a + m2b + delta * delta * na * nb / n


class GroupMoments(Protocol):
    """What :func:`summary_from_parts` needs of the per-group moments."""

    def entry(self, key: str) -> dict[str, Any]: ...


class ClusterMoments:
    """Streaming per-key sums and counts per cluster, for per-group means and cluster-robust t
    intervals without an array of every replication (the counterpart of :class:`RunningMoments`
    for clustered replications, see the module docstring).

    Per key it holds the distinct cluster labels (sorted) with the sum ``S_g`` and count ``n_g``
    of the finite values added for each, plus the smallest and largest value (to recognise
    values that are all equal); memory grows with clusters, not replications. ``entry`` gives
    the same mean and interval as :func:`summarize` with ``kind="mean"`` and the same
    ``clusters``, the lower bound cut at zero, and None bounds for a single cluster."""

    def __init__(self) -> None:
        self.labels: dict[str, np.ndarray] = {}
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, np.ndarray] = {}
        self.low: dict[str, float] = {}
        self.high: dict[str, float] = {}

    def add_groups(self, o: Outcomes, clusters: np.ndarray) -> None:
        """Add the per-weapon and per-defender figures of some replications (:func:`by_group`),
        keyed ``"<group>\\0<name>\\0<column>"``; ``clusters`` (R,) labels each replication."""
        labels = _cluster_labels("ClusterMoments.add_groups", clusters, (o.n_replications,))
        for key, values in _group_items(o):
            self.add(key, values, labels)

    def add(self, key: str, x: np.ndarray, clusters: np.ndarray) -> None:
        """Add the finite values of ``x`` under ``key``, ``clusters`` labelling each value."""
        x = np.asarray(x, dtype=np.float64)
        labels = _cluster_labels("ClusterMoments.add", clusters, x.shape)
        finite = np.isfinite(x)
        x, labels = x[finite], labels[finite]
        if x.size == 0:
            return
        uniq, sums, counts = _cluster_sums(x, labels)
        self._combine(key, uniq, sums, counts, float(x.min()), float(x.max()))

    def merge(self, other: ClusterMoments) -> None:
        """Add everything ``other`` holds (the same as adding its values here)."""
        for key, labels in other.labels.items():
            self._combine(
                key, labels, other.sums[key], other.counts[key], other.low[key], other.high[key]
            )

    def _combine(
        self,
        key: str,
        labels: np.ndarray,
        sums: np.ndarray,
        counts: np.ndarray,
        low: float,
        high: float,
    ) -> None:
        if key not in self.labels:
            self.labels[key], self.sums[key], self.counts[key] = labels, sums, counts
            self.low[key], self.high[key] = low, high
            return
        uniq, inverse = np.unique(np.concatenate([self.labels[key], labels]), return_inverse=True)
        self.labels[key] = uniq
        self.sums[key] = np.bincount(
            inverse, weights=np.concatenate([self.sums[key], sums]), minlength=uniq.size
        )
        self.counts[key] = np.bincount(
            inverse, weights=np.concatenate([self.counts[key], counts]), minlength=uniq.size
        )
        self.low[key] = min(self.low[key], low)
        self.high[key] = max(self.high[key], high)

    def mean(self, key: str) -> float:
        """Mean of the finite values added under ``key``: sum of ``S_g`` / sum of ``n_g``."""
        return float(self.sums[key].sum()) / float(self.counts[key].sum())

    def entry(self, key: str) -> dict[str, Any]:
        if key not in self.labels:
            return {"mean": None, "ci95": [None, None]}
        mean = self.mean(key)
        if self.low[key] == self.high[key]:
            return {"mean": mean, "ci95": [mean, mean]}
        if self.labels[key].size == 1:
            return {"mean": mean, "ci95": [None, None]}
        half = _cluster_t_half(mean, self.sums[key], self.counts[key], 0.95)
        return {"mean": mean, "ci95": [max(mean - half, 0.0), mean + half]}


def summary_from_parts(
    *,
    scenario: str,
    seed: int,
    engine: str,
    per_rep: dict[str, np.ndarray],
    moments: GroupMoments,
    weapon_names: Sequence[str],
    defender_names: Sequence[str],
    clusters: np.ndarray | None = None,
) -> dict[str, Any]:
    """``summary.json`` from per-replication metric arrays and streamed per-group moments.

    The same structure and interval rules as :func:`summary_dict`, for runs assembled chunk by
    chunk. ``moments`` (a :class:`RunningMoments` or a :class:`ClusterMoments`) keys are
    ``"<group>\\0<name>\\0<column>"`` with group ``weapon`` or ``defender``. ``clusters``, the
    cluster label of each replication (the order of ``per_rep``), makes every metric's interval
    cluster-robust (:func:`summarize`); the per-group intervals are those of ``moments``, so pass
    a :class:`ClusterMoments` fed with the same labels.
    """
    first = next(iter(per_rep.values()))
    out: dict[str, Any] = {
        "scenario": str(scenario),
        "seed": int(seed),
        "replications": int(first.size),
        "engine": str(engine),
        "metrics": {
            name: _entry(np.asarray(values, float), METRIC_KINDS[name], seed, clusters)
            for name, values in per_rep.items()
        },
    }
    for group, names in (("weapon", weapon_names), ("defender", defender_names)):
        cols = ("shots", "kills", "cost_usd") + (
            ("sorties", "sortie_hours") if group == "defender" else ()
        )
        out[f"by_{group}"] = {
            name: {c: moments.entry(f"{group}\0{name}\0{c}") for c in cols} for name in names
        }
    return out
