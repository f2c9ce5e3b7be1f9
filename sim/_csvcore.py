"""Compiled loops of :mod:`sim.csvtable` (numba): exact ``%.6f`` rounding and row assembly."""

from __future__ import annotations

import math

import numba
import numpy as np

from sim.csvtable import _FLOAT, _INT  # column kinds (the rest are codes)

_INT64_MIN = -(2**63)
_SPLIT = 134217729.0  # 2**27 + 1, Veltkamp's splitting constant for doubles
_COMMA, _NEWLINE, _DOT, _MINUS, _ZERO = 44, 10, 46, 45, 48


@numba.njit(cache=True)
def scaled(floats: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """``|x| * 10**6`` rounded to an integer as ``"%.6f" % x`` rounds it (the exact product, ties
    to even), for each finite ``|x| < limit``; and whether that was settled here (False: too
    large, or too close to a half to judge, for Python to format).

    ``a * 1e6 = p + e`` exactly, with ``p`` the rounded product and ``e`` from Dekker's
    algorithm (1e6 has 20 significant bits, so it needs no splitting). Below 2**50, halves and
    ``p``'s fraction are exact doubles, so ``p``'s distance from the half decides, and only
    where ``p`` lies on the half does ``e`` (or, if zero, evenness).
    """
    nc, n = floats.shape
    mant = np.zeros((nc, n), np.int64)
    settled = np.ones((nc, n), np.bool_)
    for c in range(nc):
        for r in range(n):
            x = floats[c, r]
            if not math.isfinite(x):
                continue
            a = abs(x)
            if a >= limit:
                settled[c, r] = False
                continue
            p = a * 1e6
            t = _SPLIT * a
            ah = t - (t - a)
            al = a - ah
            e = (ah * 1e6 - p) + al * 1e6
            whole = math.floor(p)
            d = (p - whole) - 0.5
            if d != 0.0 and abs(d) <= abs(e):
                settled[c, r] = False  # cannot happen below 2**50; kept as a guard
                continue
            up = d > 0.0 or (d == 0.0 and (e > 0.0 or (e == 0.0 and whole % 2.0 == 1.0)))
            mant[c, r] = np.int64(whole) + (1 if up else 0)
    return mant, settled


@numba.njit(cache=True, inline="always")
def _put_digits(v: int, out: np.ndarray, pos: int, width: int) -> int:
    """Decimal digits of ``v >= 0`` at ``out[pos:]``, zero-padded to ``width``; the new
    position. (All int64: numba would take a mix with uint64 as floats.)"""
    digits = 1
    t = v
    while t >= 10:
        t //= 10
        digits += 1
    if digits < width:
        digits = width
    for k in range(digits - 1, -1, -1):
        out[pos + k] = _ZERO + v % 10
        v //= 10
    return pos + digits


@numba.njit(cache=True, inline="always")
def _put_bytes(src: np.ndarray, lo: int, hi: int, out: np.ndarray, pos: int) -> int:
    for k in range(lo, hi):
        out[pos] = src[k]
        pos += 1
    return pos


@numba.njit(cache=True)
def render(kinds, slot, ints, floats, mant, codes, str_base, str_off, text, loose_row,
           loose_col, loose_off, loose_text, first, stop, out):  # fmt: skip
    """Rows ``first .. stop - 1`` of the table, comma-separated and each ending in a newline,
    into ``out``; returns the number of bytes written.

    Column ``j`` is row ``slot[j]`` of the stack of its kind (``ints``, ``floats`` with
    ``mant``, or ``codes`` into the strings ``text``); ``loose_*`` hold, in the table's order,
    the text of the floats ``mant`` does not settle.
    """
    nc = kinds.size
    n_loose = loose_row.size
    inf_text = np.array([105, 110, 102], np.uint8)  # "inf"
    int64_min = np.frombuffer(b"9223372036854775808", np.uint8)
    pos = 0
    q = np.searchsorted(loose_row, first)
    for r in range(first, stop):
        for j in range(nc):
            if j > 0:
                out[pos] = _COMMA
                pos += 1
            s = slot[j]
            kind = kinds[j]
            if kind == _INT:
                v = ints[s, r]
                if v < 0:
                    out[pos] = _MINUS
                    pos += 1
                    if v == _INT64_MIN:  # its magnitude is no int64
                        pos = _put_bytes(int64_min, 0, int64_min.size, out, pos)
                        continue
                    v = -v
                pos = _put_digits(v, out, pos, 1)
            elif kind == _FLOAT:
                x = floats[s, r]
                if math.isnan(x):
                    continue
                if q < n_loose and loose_row[q] == r and loose_col[q] == s:
                    pos = _put_bytes(loose_text, loose_off[q], loose_off[q + 1], out, pos)
                    q += 1
                    continue
                if math.copysign(1.0, x) < 0.0:
                    out[pos] = _MINUS
                    pos += 1
                if math.isinf(x):
                    pos = _put_bytes(inf_text, 0, 3, out, pos)
                    continue
                m = mant[s, r]
                pos = _put_digits(m // 1000000, out, pos, 1)
                out[pos] = _DOT
                pos += 1
                pos = _put_digits(m % 1000000, out, pos, 6)
            else:
                code = codes[s, r]
                if code >= 0:
                    k = str_base[s] + code
                    pos = _put_bytes(text, str_off[k], str_off[k + 1], out, pos)
        out[pos] = _NEWLINE
        pos += 1
    return pos
