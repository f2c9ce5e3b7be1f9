"""When a round fired from a battery can first strike a drone on one straight piece of its track.

One plain function, so that both engines do the same arithmetic: the SimPy engine calls it as it
is, and :mod:`sim.kernel` compiles it (``numba.njit``) into its battery plans.
"""

from __future__ import annotations

import math

__all__ = ["first_strike"]


def first_strike(
    ta: float, tb: float, xa: float, ya: float, xb: float, yb: float, sx: float, sy: float,
    h2: float, v2: float, ready: float,
) -> float:  # fmt: skip
    """Earliest t in [ta, tb] with ``|P(t) - S|^2 + h2 <= v2 (t - ready)^2``; inf if none.

    ``P`` moves linearly from (xa, ya) at ``ta`` to (xb, yb) at ``tb`` (``ta >= ready``), ``S`` is
    the battery at (sx, sy), ``h2`` the drone's altitude squared and ``v2`` the round's speed
    squared: the first impact of a round fired at ``ready`` or later, time of flight = slant
    range / speed exactly, however fast the drone.
    """
    wx, wy = xa - sx, ya - sy
    c0 = ta - ready
    qc = wx * wx + wy * wy + h2 - v2 * c0 * c0
    if qc <= 0.0:
        return ta
    span = tb - ta
    if not span > 0.0:
        return math.inf
    ux, uy = (xb - xa) / span, (yb - ya) / span
    qa = ux * ux + uy * uy - v2
    qb = 2.0 * (wx * ux + wy * uy - v2 * c0)
    # F(tau) = qa tau^2 + qb tau + qc, F(0) = qc > 0: its first root in (0, span]
    tol = 1e-9 * max(1.0, span)
    best = math.inf
    if abs(qa) > 1e-12 * v2:
        disc = qb * qb - 4.0 * qa * qc
        if disc >= 0.0:
            sq = math.sqrt(disc)
            q = -0.5 * (qb + sq) if qb >= 0.0 else -0.5 * (qb - sq)
            r = q / qa
            if 0.0 <= r <= span + tol and r < best:
                best = r
            r = qc / q if q != 0.0 else math.inf
            if 0.0 <= r <= span + tol and r < best:
                best = r
    elif qb < 0.0:
        best = -qc / qb
        if best > span + tol:
            best = math.inf
    if best < math.inf:
        return ta + min(best, span)
    return math.inf
