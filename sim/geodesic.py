"""WGS84 geodesic lengths, compiled: Vincenty's inverse formula, Karney's where it fails.

Every leg of every track is timed by its geodesic length, and a pool of track templates has
tens of thousands of legs; ``pyproj.Geod.inv`` (Karney's algorithm) spent about half a
microsecond on each, a quarter of a pool's time. Vincenty's inverse formula (Vincenty 1975,
*Survey Review* 23(176)), iterated to convergence, gives the same lengths to within 2 um for legs
up to 400 km (to within 0.1 mm on any leg it converges on; ``tests/test_geo.py`` checks both
against pyproj) in about half the time. It does not converge for nearly antipodal points; those,
and non-finite inputs, are handed to ``pyproj.Geod`` unchanged.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pyproj

__all__ = ["inverse_length_m"]

_A = 6378137.0  # WGS84 semi-major axis (m)
_F = 1.0 / 298.257223563  # WGS84 flattening
_B = _A * (1.0 - _F)
_GEOD = pyproj.Geod(ellps="WGS84")
#: Iterations before a pair counts as not converging (nearly antipodal): ordinary legs take
#: three or four.
_MAX_ITER = 60


@numba.njit(cache=True)
def _vincenty(lon1, lat1, lon2, lat2, out):  # pragma: no cover - compiled
    """Lengths into ``out``; NaN where the iteration did not converge or an input is not
    finite. Returns the number of NaNs."""
    failed = 0
    for i in range(lon1.size):
        if not (
            math.isfinite(lon1[i])
            and math.isfinite(lat1[i])
            and math.isfinite(lon2[i])
            and math.isfinite(lat2[i])
        ):
            out[i] = math.nan
            failed += 1
            continue
        big_l = math.radians(lon2[i] - lon1[i])
        u1 = math.atan((1.0 - _F) * math.tan(math.radians(lat1[i])))
        u2 = math.atan((1.0 - _F) * math.tan(math.radians(lat2[i])))
        su1, cu1, su2, cu2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
        lam = big_l
        done = False
        ss = cs = sig = c2a = c2sm = 0.0
        for _ in range(_MAX_ITER):
            sl, cl = math.sin(lam), math.cos(lam)
            ss = math.sqrt((cu2 * sl) ** 2 + (cu1 * su2 - su1 * cu2 * cl) ** 2)
            if ss == 0.0:  # the same point
                done = True
                break
            cs = su1 * su2 + cu1 * cu2 * cl
            sig = math.atan2(ss, cs)
            sa = cu1 * cu2 * sl / ss
            c2a = 1.0 - sa * sa
            c2sm = cs - 2.0 * su1 * su2 / c2a if c2a != 0.0 else 0.0  # 0 on the equator
            c = _F / 16.0 * c2a * (4.0 + _F * (4.0 - 3.0 * c2a))
            prev = lam
            lam = big_l + (1.0 - c) * _F * sa * (
                sig + c * ss * (c2sm + c * cs * (-1.0 + 2.0 * c2sm * c2sm))
            )
            if abs(lam) > math.pi:  # nearly antipodal: the iteration runs away
                break
            if abs(lam - prev) < 1e-13:
                done = True
                break
        if not done:
            out[i] = math.nan
            failed += 1
            continue
        if ss == 0.0:
            out[i] = 0.0
            continue
        usq = c2a * (_A * _A - _B * _B) / (_B * _B)
        a_ = 1.0 + usq / 16384.0 * (4096.0 + usq * (-768.0 + usq * (320.0 - 175.0 * usq)))
        b_ = usq / 1024.0 * (256.0 + usq * (-128.0 + usq * (74.0 - 47.0 * usq)))
        dsig = (
            b_
            * ss
            * (
                c2sm
                + b_
                / 4.0
                * (
                    cs * (-1.0 + 2.0 * c2sm * c2sm)
                    - b_ / 6.0 * c2sm * (-3.0 + 4.0 * ss * ss) * (-3.0 + 4.0 * c2sm * c2sm)
                )
            )
        )
        out[i] = _B * a_ * (sig - dsig)
    return failed


def inverse_length_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Geodesic length (m) from (lon1, lat1) to (lon2, lat2), WGS84 degrees, 1-d float64 arrays
    of one length."""
    out = np.empty(lon1.size)
    if _vincenty(lon1, lat1, lon2, lat2, out):
        bad = np.isnan(out)
        _, _, out[bad] = _GEOD.inv(lon1[bad], lat1[bad], lon2[bad], lat2[bad])
    return out
