"""The run folder's CSV tables, byte for byte as ``DataFrame.to_csv(path, index=False,
float_format="%.6f", lineterminator="\\n")`` writes them, from compiled code.

pandas formats every float of a table in Python: the three tables of a run that keeps the most
rows (a million drone rows, from 47,619 replications of the reference night) took 6.5 s to write,
three times as long as the vectorised engine takes to simulate those replications. Here
each column is turned into arrays once (integers, floats, and codes into a table of the distinct
strings, each quoted as Python's ``csv`` module quotes it) and a compiled loop writes the rows.

Floats are rounded exactly as ``"%.6f" % x`` rounds them (the correctly rounded decimal, ties to
even): ``x * 1e6`` is computed with its exact rounding error (Dekker's product), which decides
the rounding wherever ``x * 1e6`` itself lies on or next to a half; the few values the compiled
path cannot settle (magnitudes of 1e9 or more, or a rounding error too close to a half to judge)
are formatted by Python. A table with a column of any other kind, or few rows (where pandas is
quick and nothing needs compiling), goes to pandas.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["FLOAT_FORMAT", "write_csv"]

FLOAT_FORMAT = "%.6f"
#: Fewer rows than this go to pandas (a few hundredths of a second there, and the compiled
#: writer need not be loaded).
MIN_ROWS = 20_000
# |x| below this is formatted in compiled code: x * 1e6 stays below 2**50, where halves and
# the product's rounding error are exact doubles.
_LIMIT = 2.0**50 / 1e6
_INT, _FLOAT, _CODE = 0, 1, 2  # column kinds, shared with sim._csvcore
_CHUNK_ROWS = 65536  # rows rendered at a time, so the text of a table is never held whole


def _csv_field(value: str) -> bytes:
    """``value`` as pandas' CSV writer (Python's ``csv``, minimal quoting) writes a field."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([value, ""])
    return buf.getvalue()[:-2].encode()


def _columns(frame: pd.DataFrame) -> list[tuple[int, np.ndarray, list[bytes]]] | None:
    """Each column as (kind, values, strings), or None if one is of a kind left to pandas."""
    out: list[tuple[int, np.ndarray, list[bytes]]] = []
    for _, col in frame.items():
        dtype = col.dtype
        if dtype == np.bool_:
            out.append((_CODE, col.to_numpy(np.int64), [b"False", b"True"]))
        elif isinstance(dtype, np.dtype) and dtype.kind in "iu":
            values = col.to_numpy()
            if dtype.kind == "u" and values.size and values.max() > np.iinfo(np.int64).max:
                return None
            out.append((_INT, values.astype(np.int64), []))
        elif isinstance(dtype, np.dtype) and dtype.kind == "f":
            out.append((_FLOAT, col.to_numpy(np.float64), []))
        elif isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
            codes, uniques = pd.factorize(col, use_na_sentinel=True)
            if not all(isinstance(u, str) for u in uniques):
                return None
            out.append((_CODE, codes.astype(np.int64), [_csv_field(u) for u in uniques]))
        else:
            return None
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, *, min_rows: int = MIN_ROWS) -> None:
    """Write ``frame`` to ``path`` as ``frame.to_csv(path, index=False, float_format="%.6f",
    lineterminator="\\n")`` would (the same bytes), faster for large tables.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns of integers, floats (NaN as an empty field), booleans, strings or categories of
        strings (missing as an empty field); a frame with any other column goes to pandas.
    path : str or Path
    min_rows : int
        Frames with fewer rows go to pandas.
    """
    cols = _columns(frame) if len(frame) >= min_rows and frame.shape[1] > 0 else None
    if cols is None:
        frame.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
        return
    from sim import _csvcore  # compiled on first use, not when the package is imported

    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([str(c) for c in frame.columns])
    n = len(frame)
    kinds = np.array([kind for kind, _, _ in cols], np.int64)
    # each column's row in the stack of its kind
    slot = np.array(
        [sum(k == kind for k, _, _ in cols[:j]) for j, (kind, _, _) in enumerate(cols)], np.int64
    )
    ints = np.stack([v for k, v, _ in cols if k == _INT] or [np.zeros(n, np.int64)])
    floats = np.stack([v for k, v, _ in cols if k == _FLOAT] or [np.zeros(n)])
    codes = np.stack([v for k, v, _ in cols if k == _CODE] or [np.zeros(n, np.int64)])
    # every column's distinct strings in one byte array: string s of code column c is
    # text[str_off[str_base[c] + s] : str_off[str_base[c] + s + 1]]
    strings = [s for k, _, table in cols if k == _CODE for s in table]
    str_base = np.cumsum([0] + [len(t) for k, _, t in cols if k == _CODE], dtype=np.int64)
    str_off = np.cumsum([0] + [len(s) for s in strings], dtype=np.int64)
    text = np.frombuffer(b"".join(strings), np.uint8) if strings else np.zeros(1, np.uint8)
    # floats the compiled path leaves to Python: their text, in row-major order of the table
    mantissa, settled = _csvcore.scaled(floats, _LIMIT)
    loose_col, loose_row = np.nonzero(~settled)
    order = np.lexsort((loose_col, loose_row))
    loose_col, loose_row = loose_col[order].astype(np.int64), loose_row[order].astype(np.int64)
    loose = [
        (FLOAT_FORMAT % floats[c, r]).encode() for c, r in zip(loose_col, loose_row, strict=True)
    ]
    loose_off = np.cumsum([0] + [len(s) for s in loose], dtype=np.int64)
    loose_text = np.frombuffer(b"".join(loose), np.uint8) if loose else np.zeros(1, np.uint8)
    widest = max([len(s) for s in strings] + [0])
    loosest = max([len(s) for s in loose] + [0])
    # a bound on a row: an integer takes at most 20 bytes, a settled float at most 18
    # ("-1125899906.842624"), and a comma or the newline follows each field
    row_max = sum(20 if k == _INT else max(18, loosest) if k == _FLOAT else widest for k in kinds)
    out = np.empty(min(n, _CHUNK_ROWS) * (row_max + len(kinds)), np.uint8)
    with open(path, "wb") as fh:
        fh.write(header.getvalue().encode())
        for first in range(0, n, _CHUNK_ROWS):
            size = _csvcore.render(
                kinds, slot, ints, floats, mantissa, codes, str_base, str_off, text, loose_row,
                loose_col, loose_off, loose_text, first, min(first + _CHUNK_ROWS, n), out,
            )  # fmt: skip
            fh.write(memoryview(out[:size]))
