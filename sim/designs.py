"""Designs of experiments for parameter sweeps: full factorial, Latin hypercube, Sobol, NOLH.

Every function here is pure numpy/scipy, with no knowledge of scenarios. A design is first built
in the unit cube (one column per parameter, values in [0, 1]) and then mapped to each parameter's
bounds by :func:`scale`, or, for the full factorial, taken directly from the given levels.

Designs
-------
``grid``
    Full factorial of the given levels (:func:`full_factorial`); the first parameter varies
    slowest, as in :func:`itertools.product`.
``lhs``
    Latin hypercube of ``n`` points (:class:`scipy.stats.qmc.LatinHypercube`: one point in each
    of the ``n`` equal strata of every axis, uniform within its stratum), seeded.
``sobol``
    Scrambled Sobol' sequence (:class:`scipy.stats.qmc.Sobol`), seeded. Its balance properties
    hold for a power of 2 points, so ``n`` is rounded up to the next power of 2
    (:func:`unit_sobol` reports the number used).
``nolh``
    The orthogonal Latin hypercube of Ye (1998), the construction that the nearly orthogonal Latin
    hypercubes of Cioppa and Lucas (2007) used in military data farming extend: ``2**m + 1`` runs
    for up to ``2m - 2`` factors, levels ``-2**(m-1) .. 2**(m-1)`` (each used exactly once per
    column), every pair of columns exactly uncorrelated, and every column uncorrelated with the
    squares and pairwise products of the columns (so main effects are not confounded with
    quadratic effects or two-way interactions). See :func:`ye_olh`.

    K. Q. Ye, "Orthogonal column Latin hypercubes and their application in computer experiments",
    Journal of the American Statistical Association 93 (1998) 1430-1439.
    T. M. Cioppa and T. W. Lucas, "Efficient nearly orthogonal and space-filling Latin hypercubes",
    Technometrics 49 (2007) 45-55.

Integer parameters
------------------
:func:`scale` maps a unit value ``u`` to an integer range ``[lo, hi]`` as
``lo + floor(u * (hi - lo + 1))`` (capped at ``hi``), so that every integer in the range gets an
equal share of the unit interval: an LHS or Sobol' design stays uniform over the integers, and the
ends are as likely as the middle. Design levels that sit on a lattice including the ends (NOLH)
use ``rounded=True``: ``round(lo + u * (hi - lo))``, which keeps the ends and centre exact.
Points are never deduplicated: the design keeps its point count.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Sequence
from functools import reduce
from typing import Any

import numpy as np

__all__ = [
    "DESIGN_KINDS",
    "MAX_NOLH_M",
    "full_factorial",
    "max_abs_correlation",
    "nolh",
    "nolh_runs",
    "scale",
    "unit_lhs",
    "unit_sobol",
    "ye_olh",
]

#: The design kinds a sweep file may name.
DESIGN_KINDS: tuple[str, ...] = ("grid", "lhs", "sobol", "nolh")

#: Largest order of Ye's construction offered: 2**12 + 1 = 4097 runs, up to 22 factors.
MAX_NOLH_M = 12


def full_factorial(levels: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Every combination of the levels, the first factor varying slowest.

    Parameters
    ----------
    levels : sequence of sequences
        The levels of each factor.

    Returns
    -------
    list of tuple
        ``prod(len(l) for l in levels)`` points.
    """
    return list(itertools.product(*levels))


def _qmc_rng_kw(cls: type) -> str:
    """scipy >= 1.15 takes ``rng=``; older versions ``seed=``."""
    return "rng" if "rng" in inspect.signature(cls.__init__).parameters else "seed"


def unit_lhs(n: int, d: int, seed: int) -> np.ndarray:
    """A Latin hypercube of ``n`` points in ``[0, 1)**d``, reproducible for ``seed``.

    Drawn with :class:`scipy.stats.qmc.LatinHypercube` from
    ``numpy.random.default_rng(seed)``.
    """
    from scipy.stats import qmc

    if n < 1 or d < 1:
        raise ValueError(f"unit_lhs: need n >= 1 and d >= 1, got n={n}, d={d}")
    gen = np.random.default_rng(seed)
    sampler = qmc.LatinHypercube(d=d, **{_qmc_rng_kw(qmc.LatinHypercube): gen})
    return np.asarray(sampler.random(n), dtype=np.float64)


def unit_sobol(n: int, d: int, seed: int) -> tuple[np.ndarray, int]:
    """A scrambled Sobol' sample in ``[0, 1)**d`` of at least ``n`` points.

    The number of points is rounded up to the next power of 2 (the sequence's balance properties
    hold only for powers of 2). Scrambled from ``numpy.random.default_rng(seed)``.

    Returns
    -------
    (ndarray, int)
        The ``(2**m, d)`` sample and ``2**m``.
    """
    from scipy.stats import qmc

    if n < 1 or d < 1:
        raise ValueError(f"unit_sobol: need n >= 1 and d >= 1, got n={n}, d={d}")
    m = max(0, math.ceil(math.log2(n)))
    gen = np.random.default_rng(seed)
    sampler = qmc.Sobol(d=d, scramble=True, **{_qmc_rng_kw(qmc.Sobol): gen})
    return np.asarray(sampler.random_base2(m), dtype=np.float64), 2**m


def ye_olh(m: int) -> np.ndarray:
    """Ye's (1998) orthogonal Latin hypercube of order ``m``.

    Parameters
    ----------
    m : int
        2 <= m <= :data:`MAX_NOLH_M`.

    Returns
    -------
    ndarray of int64, shape (2**m + 1, 2*m - 2)
        Levels ``-q .. q`` with ``q = 2**(m-1)``; each column holds every level once. Rows are
        ``T``, the centre point ``0`` and ``-T``.

    Notes
    -----
    With ``I`` the 2x2 identity, ``R`` the 2x2 reversal and ``e = (1, ..., q)``:
    ``A_k = I x ... x I x R x ... x R`` (``m-1-k`` factors ``I``, then ``k`` factors ``R``;
    Kronecker products), ``M = [e, A_1 e, ..., A_{m-1} e, A_{m-1} A_1 e, ...,
    A_{m-1} A_{m-2} e]``; sign vectors ``a_k = B_1 x ... x B_{m-1}`` with ``B_{m-k} = (-1, 1)``
    and ``B_j = (1, 1)`` otherwise, ``S = [1, a_1, ..., a_{m-1}, a_1 a_2, ..., a_1 a_{m-1}]``
    (elementwise products); ``T = M * S`` elementwise; the design is ``[T; 0; -T]``.
    """
    if not 2 <= m <= MAX_NOLH_M:
        raise ValueError(f"ye_olh: m must be between 2 and {MAX_NOLH_M}, got {m}")
    q = 2 ** (m - 1)
    eye = np.eye(2, dtype=np.int64)
    rev = np.array([[0, 1], [1, 0]], dtype=np.int64)

    def kron(mats: list[np.ndarray]) -> np.ndarray:
        return reduce(np.kron, mats, np.ones((1, 1), dtype=np.int64))

    a_perm = {k: kron([eye] * (m - 1 - k) + [rev] * k) for k in range(1, m)}
    e = np.arange(1, q + 1, dtype=np.int64)
    cols = [e, *(a_perm[k] @ e for k in range(1, m))]
    cols += [a_perm[m - 1] @ (a_perm[k] @ e) for k in range(1, m - 1)]

    def sign(k: int) -> np.ndarray:
        minus_plus = np.array([[-1], [1]], dtype=np.int64)
        ones = np.ones((2, 1), dtype=np.int64)
        return kron([minus_plus if j == m - k else ones for j in range(1, m)]).ravel()

    signs = [np.ones(q, dtype=np.int64), *(sign(k) for k in range(1, m))]
    signs += [sign(1) * sign(k) for k in range(2, m)]
    t = np.column_stack(cols) * np.column_stack(signs)
    return np.vstack([t, np.zeros((1, t.shape[1]), dtype=np.int64), -t])


def nolh_runs(k: int, samples: int | None = None) -> int:
    """The order ``m`` of the smallest Ye design with at least ``k`` columns and ``samples`` runs.

    Raises
    ------
    ValueError
        If no design up to :data:`MAX_NOLH_M` is large enough.
    """
    if k < 1:
        raise ValueError(f"nolh: need at least one factor, got {k}")
    m = max(2, math.ceil((k + 2) / 2))
    if samples is not None:
        while 2**m + 1 < samples:
            m += 1
    if m > MAX_NOLH_M:
        raise ValueError(
            f"nolh: {k} factors and {samples or 0} runs need a design of order {m}; the largest "
            f"offered is {2**MAX_NOLH_M + 1} runs for {2 * MAX_NOLH_M - 2} factors (use lhs)"
        )
    return m


def nolh(k: int, samples: int | None = None) -> np.ndarray:
    """A ``(2**m + 1, k)`` orthogonal Latin hypercube in ``[0, 1]`` (ends and centre included).

    The first ``k`` columns of :func:`ye_olh` for the smallest ``m`` with ``2m - 2 >= k`` and
    ``2**m + 1 >= samples``, mapped from levels ``-q .. q`` to ``(level + q) / (2q)``.
    """
    m = nolh_runs(k, samples)
    q = 2 ** (m - 1)
    levels = ye_olh(m)[:, :k]
    return (levels + q) / (2.0 * q)


def scale(
    unit: np.ndarray, lo: float, hi: float, *, integer: bool = False, rounded: bool = False
) -> np.ndarray:
    """Map unit-interval values to ``[lo, hi]``.

    Parameters
    ----------
    unit : ndarray
        Values in ``[0, 1]``.
    lo, hi : float
        Bounds (``lo <= hi``).
    integer : bool
        Return integers (int64): ``lo + floor(u * (hi - lo + 1))`` capped at ``hi`` (equal share
        per integer), or with ``rounded`` ``round(lo + u * (hi - lo))`` (lattice designs).
    rounded : bool
        See ``integer``.

    Returns
    -------
    ndarray
        float64, or int64 when ``integer``.
    """
    u = np.asarray(unit, dtype=np.float64)
    if not integer:
        out = lo + u * (hi - lo)
        return np.clip(out, min(lo, hi), max(lo, hi))
    ilo, ihi = int(lo), int(hi)
    vals = np.rint(ilo + u * (ihi - ilo)) if rounded else ilo + np.floor(u * (ihi - ilo + 1))
    return np.clip(vals, ilo, ihi).astype(np.int64)


def max_abs_correlation(x: np.ndarray) -> float:
    """Largest absolute Pearson correlation between two different columns of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        return 0.0
    c = np.corrcoef(x, rowvar=False)
    np.fill_diagonal(c, 0.0)
    return float(np.nanmax(np.abs(c)))
