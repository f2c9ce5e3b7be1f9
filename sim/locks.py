"""An advisory lock on an output folder, so two runs never write the same folder at once.

The lock is ``flock`` on a small file beside the folder (``.<name>.lock``). The operating system
releases it when the process ends, however it ends, so a crashed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sim.errors import IncursionError

__all__ = ["FolderBusyError", "folder_lock"]

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; runs there are not locked
    fcntl = None  # type: ignore[assignment]


class FolderBusyError(IncursionError):
    """Another process is writing the same output folder."""


@contextlib.contextmanager
def folder_lock(out: str | Path) -> Iterator[None]:
    """Hold the lock of output folder ``out`` for the duration of the block.

    Raises
    ------
    FolderBusyError
        If another process holds it.
    """
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out.parent / f".{out.name}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                raise FolderBusyError(
                    f"{out} is being written by {holder}; wait for it to finish or choose "
                    "another --out"
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)
