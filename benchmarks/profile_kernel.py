#!/usr/bin/env python
"""Where a replication's time goes in the vectorised engine's compiled kernel.

A sampling profiler cannot see into numba's compiled code, so this script compiles an
instrumented copy of :mod:`sim.kernel` (in a temporary folder, never the package itself): the
CPU's cycle counter (``llvm.readcyclecounter``, the TSC on x86) is read at the boundaries of the
kernel's phases, and calls are counted. The copy runs the same chunks as the engine does, on a
pool built as the engine builds it, and prints per replication:

- cycles in each phase: *setup* (templates, launch times, detection draws, windows), *reset*
  (the defence's state), *events* (picking the next event and handling it, battery engagements
  included), *assign* (C2 looking at waiting drones; inside it the fighter plans and intercepts,
  also shown alone), *tick* (C2 cycles and their skipping), *outputs*;
- counts: event-loop iterations, C2 passes, drones looked at, fighter and battery plans,
  intercepts;
- the same with a pool of 8 templates per drone, which fits in cache: the difference is what
  memory latency costs.

The counter adds a few cycles per read, so phases are slightly overstated; the shares are what
matter. Timings are wall-clock per replication of the uninstrumented kernel, measured in the
same run.

    python benchmarks/profile_kernel.py [SCENARIO] [--chunks N]

Defaults to the reference night. Writes ``benchmarks/results/kernel_profile.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from machine_info import machine

import sim
from sim import vectorised as v
from sim.pools import build_pool

ROOT = Path(__file__).resolve().parent.parent
KERNEL = ROOT / "sim" / "kernel.py"

PHASES = ("setup", "reset", "events", "assign", "tick", "outputs")
# slots of the instrumented kernel's counter array (its first 3 are the kernel's own)
_PHASE_SLOT = dict(zip(PHASES, range(10, 16), strict=True))
_COUNT_SLOT = {
    "iterations": 20,
    "fighter_plans": 21,
    "battery_plans": 22,
    "intercepts": 23,
    "c2_passes": 24,
    "drones_looked_at": 25,
}
_CYCLE_SLOT = {"fighter_plan_cycles": 26, "intercept_cycles": 27}

_RDTSC = """
@intrinsic
def _rdtsc(typingctx):
    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(64), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.readcyclecounter")
        return builder.call(fn, [])

    return types.int64(), codegen

"""


class KernelChangedError(RuntimeError):
    """The kernel no longer has a line this script instruments."""


def instrumented_source(src: str) -> str:
    """``sim/kernel.py``'s source with cycle counters at its phases (see the module docstring).

    Raises :class:`KernelChangedError` if an anchor line is not found exactly once.
    """

    def sub(old: str, new: str) -> None:
        nonlocal src
        if src.count(old) != 1:
            raise KernelChangedError(f"anchor found {src.count(old)} times, not once: {old!r}")
        src = src.replace(old, new)

    s = _PHASE_SLOT
    sub("_GOLDEN = np.uint64(", _RDTSC + "_GOLDEN = np.uint64(")
    # the counters live in the kernel's own small counter array, made longer and kept
    sub("cnt = np.zeros(3, np.int64)", "cnt = PROFILE")
    sub("from sim.strike import first_strike\n", "from sim.strike import first_strike\n"
        "PROFILE = np.zeros(40, np.int64)\n")  # fmt: skip
    sub("        cnt[:] = 0\n", "        cnt[:3] = 0\n")
    sub(
        "        state[0] = _stream_start(stream_key, rep)\n",
        "        state[0] = _stream_start(stream_key, rep)\n        T0 = _rdtsc()\n",
    )
    sub(
        "        # ---------------------------------------------------------- reset the defence\n",
        f"        T1 = _rdtsc()\n        cnt[{s['setup']}] += T1 - T0\n",
    )
    sub(
        "        while True:\n            t_det = ",
        f"        T2 = _rdtsc()\n        cnt[{s['reset']}] += T2 - T1\n"
        "        while True:\n            T2 = _rdtsc()\n"
        f"            cnt[{_COUNT_SLOT['iterations']}] += 1\n            t_det = ",
    )
    sub(
        "            if do_assign:\n",
        f"            T3 = _rdtsc()\n            cnt[{s['events']}] += T3 - T2\n"
        f"            if do_assign:\n                cnt[{_COUNT_SLOT['c2_passes']}] += 1\n",
    )
    sub(
        "            tick_at = now  # when the next cycle is scheduled\n",
        f"            T4 = _rdtsc()\n            cnt[{s['assign']}] += T4 - T3\n"
        "            tick_at = now  # when the next cycle is scheduled\n",
    )
    sub(
        "                tick_new = False\n\n        # ------",
        f"                tick_new = False\n            cnt[{s['tick']}] += _rdtsc() - T4\n\n"
        "        # ------",
    )
    sub(
        "        for i in range(n):\n            if not math.isnan(killed[i]):\n",
        "        T5 = _rdtsc()\n"
        "        for i in range(n):\n            if not math.isnan(killed[i]):\n",
    )
    sub(
        "            out_shots_at[rr, i] = shots_at[i]\n    return True",
        "            out_shots_at[rr, i] = shots_at[i]\n"
        f"        cnt[{s['outputs']}] += _rdtsc() - T5\n"
        "    return True",
    )
    sub(
        "                for q in range(n_targets):\n                    d = snapshot[q]\n",
        "                for q in range(n_targets):\n"
        f"                    cnt[{_COUNT_SLOT['drones_looked_at']}] += 1\n"
        "                    d = snapshot[q]\n",
    )
    # count (and time) the plans and intercepts called from the replication loop itself
    core = src.index("def _run_chunk_core(")
    core_end = src.index("\n@numba.njit", core)
    head, body, tail = src[:core], src[core:core_end], src[core_end:]
    out: list[str] = []
    closing: str | None = None
    for line in body.split("\n"):
        m = re.match(r"^(\s*)\S.*= (_fighter_plan|_battery_plan|_intercept)\(", line)
        if m:
            ind, fn = m.groups()
            out.append(f"{ind}cnt[{_COUNT_SLOT[fn.strip('_') + 's']}] += 1")
            if fn != "_battery_plan":
                out.append(f"{ind}TT = _rdtsc()")
                closing = f"{ind}cnt[{_CYCLE_SLOT[fn.strip('_') + '_cycles']}] += _rdtsc() - TT"
        out.append(line)
        if closing is not None and line.strip().startswith(")"):
            out.append(closing)
            closing = None
    src = head + "\n".join(out) + tail
    # no cache: the copy must not share numba's cache with the package; the Python wrapper
    # passes the module-level counter array in
    src = src.replace("cache=True", "cache=False")
    sub("@numba.njit(cache=False)\ndef run_chunk(", "def run_chunk(")
    return src


def _load_instrumented(folder: Path):
    path = folder / "kernel_profiled.py"
    path.write_text(instrumented_source(KERNEL.read_text()))
    spec = importlib.util.spec_from_file_location("kernel_profiled", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pools(world, k: int, chunks: int) -> list:
    """``chunks`` pools of ``k`` templates per drone, as the engine builds them."""
    return [build_pool(world, k, np.random.default_rng(c + 1)) for c in range(chunks)]


def _run(pools: list, sc, run_chunk, reps: int = v.CHUNK_REPLICATIONS) -> float:
    """Seconds per replication of ``run_chunk`` over ``reps`` replications on each pool."""
    real = v.kernel.run_chunk
    try:
        v.kernel.run_chunk = run_chunk
        t = time.perf_counter()
        for c, tp in enumerate(pools):
            v._run_kernel(tp, sc, v._kernel_key(1), c * reps, reps)
        return (time.perf_counter() - t) / (len(pools) * reps)
    finally:
        v.kernel.run_chunk = real


def _profile(pools: list, sc, module) -> dict[str, float]:
    """The instrumented kernel's counters per replication over one chunk on each pool."""
    _run(pools[:1], sc, module.run_chunk, reps=8)  # compiles it
    module.PROFILE[:] = 0
    _run(pools, sc, module.run_chunk)
    per = module.PROFILE.astype(float) / (len(pools) * v.CHUNK_REPLICATIONS)
    out = {f"{p}_cycles": per[slot] for p, slot in _PHASE_SLOT.items()}
    out.update({name: per[slot] for name, slot in {**_COUNT_SLOT, **_CYCLE_SLOT}.items()})
    out["total_cycles"] = sum(out[f"{p}_cycles"] for p in PHASES)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios/poland-2025-09-10.yaml"))
    ap.add_argument("--chunks", type=int, default=4, help="chunks of 4096 replications (4)")
    args = ap.parse_args()
    scenario = sim.load_scenario(args.scenario)
    world, sc = v._worker_world(scenario)
    _, k = v.plan_chunks(v.MIN_CLUSTERS * v.CHUNK_REPLICATIONS, world.n_drones)
    pools = _pools(world, k, args.chunks)
    with tempfile.TemporaryDirectory() as tmp:
        module = _load_instrumented(Path(tmp))
        prof = {str(k): _profile(pools, sc, module)}
        prof["8"] = _profile(_pools(world, 8, args.chunks), sc, module)
    _run(pools[:1], sc, v.kernel.run_chunk, reps=8)  # compiled, or loaded from numba's cache
    wall = _run(pools, sc, v.kernel.run_chunk)
    t0 = time.perf_counter()
    _pools(world, k, 3)
    pool_s = (time.perf_counter() - t0) / 3
    pool_per_rep = pool_s / v.CHUNK_REPLICATIONS
    print(f"{scenario.name}: {world.n_drones} drones, pools of {k} templates per drone")
    print(f"kernel {wall * 1e6:.1f} us per replication (wall); pool {pool_s * 1e3:.1f} ms, "
          f"{pool_per_rep * 1e6:.1f} us per replication of a cluster of "
          f"{v.CHUNK_REPLICATIONS}")  # fmt: skip
    big, small = prof[str(k)], prof["8"]
    print(f"\n{'phase':10s} {'cycles/rep':>11s} {'share':>6s} {'in cache (8)':>13s}")
    for p in PHASES:
        c, c8 = big[f"{p}_cycles"], small[f"{p}_cycles"]
        print(f"{p:10s} {c:11,.0f} {c / big['total_cycles']:6.1%} {c8:13,.0f}")
    print(f"{'total':10s} {big['total_cycles']:11,.0f} {'':6s} {small['total_cycles']:13,.0f}")
    print("\nper replication: " + ", ".join(
        f"{name.replace('_', ' ')} {big[name]:,.1f}" for name in (*_COUNT_SLOT, *_CYCLE_SLOT)
    ))  # fmt: skip
    out = ROOT / "benchmarks" / "results" / "kernel_profile.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "scenario": scenario.name,
                "templates_per_drone": k,
                "kernel_s_per_replication": wall,
                "pool_s": pool_s,
                "pool_s_per_replication": pool_per_rep,
                "profile": prof,
                "machine": machine(),
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
