"""Randomised quasi-Monte Carlo point sets (Sobol' nets with a random digital shift), numpy.

The vectorised engine's track pools draw the random inputs of their templates (route spread,
electronic-warfare outcomes) from these sets instead of independent uniforms. A *digitally
shifted* Sobol' set (L'Ecuyer and Lemieux 2002; Dick and Pillichshammer 2010, ch. 13) XORs every
point's binary digits with one uniform random shift per coordinate:

- every point of the set is uniform on the unit cube (on the grid of ``2**-52``, centred), and
  its coordinates are independent, since each coordinate has its own shift;
- sets drawn with different shifts are independent of each other;
- the set keeps the Sobol' net's stratification (each of its first ``2**m`` points falls in its
  own elementary box), so the average of a function over the set varies less from draw to draw
  than the average over as many independent points. For the reference night, the variance of a
  cluster's mean cost-exchange ratio falls about ninefold: 0.69 times that of as many independent
  replications, against 6.4 times with independent templates (templates dealt evenly to the
  replications in both cases, ``benchmarks/README.md``).

Beyond Sobol's direction-number table (:data:`MAX_DIM` coordinates) or :data:`MAX_VALUES` values,
the sets are plain independent uniforms (still exact, only without the gain).
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from scipy.stats import qmc

__all__ = ["MAX_DIM", "MAX_VALUES", "shifted_sobol"]

#: Most coordinates of scipy's Sobol' direction numbers (Joe and Kuo 2008).
MAX_DIM = 21201
#: Largest net (points x coordinates) kept; larger sets fall back to independent uniforms.
MAX_VALUES = 1 << 22
_BITS = 52


@functools.lru_cache(maxsize=32)
def _net(d: int, m: int) -> np.ndarray:
    """The first ``2**m`` points of the unscrambled ``d``-dimensional Sobol' sequence, as
    integers on the ``2**-52`` grid (read-only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's notes on unscrambled sets: wanted here
        pts = qmc.Sobol(d, scramble=False).random_base2(m)
    net = np.ldexp(pts, _BITS).astype(np.uint64)  # exact: Sobol' points have 30 bits
    net.flags.writeable = False
    return net


def shifted_sobol(n: int, d: int, rng: np.random.Generator, *, sets: int = 1) -> np.ndarray:
    """``sets`` independent digitally shifted Sobol' sets of ``n`` points in ``d`` dimensions.

    Parameters
    ----------
    n, d : int
        Points per set (the first ``n`` of the sequence; a power of two keeps the net's full
        balance) and coordinates per point.
    rng : numpy.random.Generator
        Draws the shifts (one per set and coordinate).
    sets : int
        Number of independent sets.

    Returns
    -------
    ndarray, shape (sets, n, d)
        Points strictly inside (0, 1).
    """
    if n < 1 or d < 0 or sets < 0:
        raise ValueError(f"need n >= 1, d >= 0, sets >= 0; got n={n}, d={d}, sets={sets}")
    m = max(0, math.ceil(math.log2(n)))
    if d == 0:
        return np.empty((sets, n, 0))
    if d > MAX_DIM or (1 << m) * d > MAX_VALUES:
        return rng.random((sets, n, d))
    net = _net(d, m)[:n]
    shift = rng.integers(0, 1 << _BITS, size=(sets, 1, d), dtype=np.uint64)
    return np.ldexp((net[None] ^ shift).astype(np.float64) + 0.5, -_BITS)
