"""The compiled CSV writer (sim.csvtable) writes the bytes pandas writes, on every kind of column
it takes, and hands the rest to pandas."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import csvtable
from sim.csvtable import write_csv

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# x * 1e6 lands exactly on a half for x = j / 128 with j odd (the ties "%.6f" rounds to even)
TIES = [j / 128 for j in range(1, 40, 2)] + [-(j / 128) for j in range(1, 12, 2)]
EDGE_FLOATS = [
    0.0, -0.0, 1e-9, -1e-9, 5e-7, -5e-7, 4.9999999e-7, 5e-324, -5e-324, 0.1, 2.675, 1 / 3,
    123456.0000005, 1125899906.842624, 1125899906.8426241, -1125899906.842624, 2.0**50 / 1e6,
    np.nextafter(2.0**50 / 1e6, 0), 4.2e6, 1e15, -1e15, 1e300, -1e300, np.inf, -np.inf, np.nan,
    sys.float_info.max, 9007199254.740993, 0.0000015, 0.0000025, 0.9999995, 999999.9999995,
]  # fmt: skip


def pandas_bytes(frame: pd.DataFrame, path: Path) -> bytes:
    frame.to_csv(path, index=False, float_format="%.6f", lineterminator="\n")
    return path.read_bytes()


def fast_bytes(frame: pd.DataFrame, path: Path) -> bytes:
    write_csv(frame, path, min_rows=0)
    return path.read_bytes()


def assert_same(frame: pd.DataFrame, tmp_path: Path) -> None:
    want = pandas_bytes(frame, tmp_path / "pandas.csv")
    got = fast_bytes(frame, tmp_path / "fast.csv")
    if got != want:
        lines = zip(want.decode().splitlines(), got.decode().splitlines(), strict=False)
        diff = next((w, g) for w, g in lines if w != g)
        pytest.fail(f"first differing line: pandas {diff[0]!r}, fast {diff[1]!r}")


def test_edge_values_of_every_kind(tmp_path: Path) -> None:
    floats = np.array(TIES + EDGE_FLOATS)
    n = floats.size
    ints = np.resize(np.array([0, 1, -1, 9, 10, -10, 99, 100, INT64_MIN, INT64_MAX]), n)
    text = np.resize(
        np.array(
            ["plain", "with,comma", 'with"quote', "line\nbreak", "", "ünïcode ✈", "cr\rhere", None],
            dtype=object,
        ),
        n,
    )
    with np.errstate(over="ignore"):  # the largest doubles become inf in float32, as intended
        f32 = floats.astype(np.float32)
    frame = pd.DataFrame(
        {
            "i": ints,
            "u": np.arange(n, dtype=np.uint32),
            "x": floats,
            "f32": f32,
            "b": np.resize([True, False, False], n),
            "s": pd.Series(text, dtype="str"),
            "o": pd.Series(text, dtype=object),
            "c": pd.Categorical(np.resize(["destroyed", "leaked", None], n)),
            "name, with comma": floats[::-1].copy(),
        }
    )
    assert_same(frame, tmp_path)
    # the compiled path ran, not pandas: this frame has only kinds it takes
    assert csvtable._columns(frame) is not None


def test_ties_round_to_even_as_percent_format(tmp_path: Path) -> None:
    """A check that does not lean on pandas: the tie values against Python's own formatting."""
    frame = pd.DataFrame({"x": TIES})
    lines = fast_bytes(frame, tmp_path / "t.csv").decode().splitlines()[1:]
    assert lines == [f"{x:.6f}" for x in TIES]  # the same rounding as "%.6f" % x
    assert lines[0] == "0.007812"  # 7812.5 -> 7812, even
    assert lines[1] == "0.023438"  # 23437.5 -> 23438, even


@settings(max_examples=60, deadline=None)
@given(
    floats=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=40),
    scale=st.sampled_from([1e-9, 1e-3, 1.0, 1e3, 1e5, 1e9, 1e12]),
    ints=st.lists(st.integers(INT64_MIN, INT64_MAX), min_size=1, max_size=40),
)
def test_random_tables_match_pandas(
    tmp_path_factory: pytest.TempPathFactory, floats: list[float], scale: float, ints: list[int]
) -> None:
    n = max(len(floats), len(ints))
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.resize(np.array(floats), n) * scale
    frame = pd.DataFrame({"a": np.resize(np.array(ints, np.int64), n), "x": scaled})
    assert_same(frame, tmp_path_factory.mktemp("csv"))


def test_rows_split_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are rendered a chunk at a time; values Python formats fall on chunk boundaries."""
    monkeypatch.setattr(csvtable, "_CHUNK_ROWS", 7)
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1e4, 60)
    x[[0, 6, 7, 13, 14, 59]] = 3e12  # formatted by Python (too large for the compiled path)
    frame = pd.DataFrame({"r": np.arange(60), "x": x, "w": np.resize(["a", "b,c"], 60)})
    assert_same(frame, tmp_path)


def test_empty_and_small_tables(tmp_path: Path) -> None:
    assert_same(pd.DataFrame({"a": np.array([], np.int64), "x": np.array([])}), tmp_path)
    small = pd.DataFrame({"a": [1, 2], "x": [0.5, np.nan]})
    write_csv(small, tmp_path / "small.csv")  # below MIN_ROWS: pandas writes it
    assert (tmp_path / "small.csv").read_bytes() == b"a,x\n1,0.500000\n2,\n"


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(pd.to_datetime(["2025-09-10", "2025-09-11"])),
        pd.Series([1, "mixed"], dtype=object),
        pd.Series([True, None], dtype=object),
        pd.Series(pd.Categorical([1, 2])),
        pd.Series(np.array([2**64 - 1, 0], dtype=np.uint64)),
        pd.Series([1, None], dtype="Int64"),
    ],
)
def test_other_kinds_go_to_pandas(tmp_path: Path, column: pd.Series) -> None:
    frame = pd.DataFrame({"v": column, "x": [1.25, -0.5]})
    assert csvtable._columns(frame) is None
    assert_same(frame, tmp_path)


def test_run_tables_match_pandas(tmp_path: Path) -> None:
    """The tables of a real run: drones, shots and sorties of the vectorised engine."""
    import sim

    scenario = sim.load_scenario(
        Path(__file__).parent.parent / "scenarios" / "poland-2025-09-10.yaml"
    )
    result = sim.run(scenario, replications=64, seed=3, engine="vectorised", workers=1)
    for frame in (result.drones, result.shots, result.sorties):
        assert len(frame) > 0
        assert csvtable._columns(frame) is not None
        assert_same(frame, tmp_path)
