"""The machine a benchmark ran on, recorded beside its figures (shared by the scripts here)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        return ""


def machine(*, watched: tuple[str, ...] = ("sim",)) -> dict[str, Any]:
    """CPU model, cores, RAM, Python, platform, git head, whether ``watched`` folders have
    uncommitted changes (``dirty``), and the date."""
    cpu, mem = platform.processor() or "unknown", 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "nproc": os.cpu_count() or 0,
        "mem_total_bytes": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_head": _git("rev-parse", "--short", "HEAD") or "unknown",
        "dirty": bool(_git("status", "--porcelain", "--", *watched)),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, rounded (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
