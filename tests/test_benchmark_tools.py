"""The benchmark folder's kernel profiler keeps up with the kernel it instruments.

``benchmarks/profile_kernel.py`` compiles a copy of ``sim/kernel.py`` with cycle counters
inserted at anchor lines; if the kernel is edited so that an anchor disappears, the profiler must
say so, not silently profile the wrong phases. Compiling the copy with numba takes about a
minute, so only the source is checked here: every anchor found once, and the result valid Python.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def profiler():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("profile_kernel", BENCH / "profile_kernel.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def test_instrumented_kernel_is_valid_python_with_every_counter(profiler):
    src = profiler.instrumented_source(profiler.KERNEL.read_text())
    ast.parse(src)
    for slot in (
        *profiler._PHASE_SLOT.values(),
        *profiler._COUNT_SLOT.values(),
        *profiler._CYCLE_SLOT.values(),
    ):
        assert f"cnt[{slot}] +=" in src, slot
    assert "cache=True" not in src  # the copy must not write into numba's cache of the package


def test_a_missing_anchor_is_reported(profiler):
    src = profiler.KERNEL.read_text().replace("        cnt[:] = 0\n", "        cnt[:] = 0  # x\n")
    with pytest.raises(profiler.KernelChangedError, match="anchor"):
        profiler.instrumented_source(src)
