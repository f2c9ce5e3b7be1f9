"""An advisory lock on an output folder, so two runs never write the same folder at once.

The lock is ``flock`` on a small file beside the folder (``.<name>.lock``). The operating system
releases it when the process ends, however it ends, so a crashed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sim.errors import IncursionError, OutputFolderError

__all__ = ["FolderBusyError", "check_out_folder", "folder_lock"]

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; runs there are not locked
    fcntl = None  # type: ignore[assignment]


class FolderBusyError(IncursionError):
    """Another process is writing the same output folder."""


def _unusable(out: Path, why: str) -> OutputFolderError:
    return OutputFolderError(f"cannot use {out} as the output folder: {why}; choose another --out")


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _parent(out: str | Path) -> tuple[Path, Path]:
    """``out`` made absolute, and its parent folder, created if need be.

    Raises
    ------
    OutputFolderError
        If the parent cannot be created (a file on the way, no permission, a read-only or
        virtual file system).
    """
    given = Path(out)
    try:
        resolved = given.resolve()
    except (OSError, RuntimeError) as exc:  # a symbolic-link loop
        raise _unusable(given, str(exc)) from None
    if resolved.name == "":
        raise _unusable(given, "it is the root of the file system")
    parent = resolved.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(
            (p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None
        )
        what = f"{blocker} is not a folder" if blocker is not None else f"{parent} is not a folder"
        raise _unusable(given, what) from None
    except OSError as exc:
        raise _unusable(given, f"cannot create {parent} ({_reason(exc)})") from None
    if not parent.is_dir():
        raise _unusable(given, f"{parent} is not a folder")
    return resolved, parent


def check_out_folder(out: str | Path) -> None:
    """Fail early, with a one-line message, if files cannot be written in output folder ``out``.

    Creates the parent folder if need be and writes (then removes) a small file where the
    outputs will go: in ``out`` if it is already a folder, else beside it.

    Raises
    ------
    OutputFolderError
    """
    resolved, parent = _parent(out)
    where = resolved if resolved.is_dir() else parent
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{resolved.name}.", suffix=".probe", dir=where)
    except OSError as exc:
        raise _unusable(Path(out), f"cannot create files in {where} ({_reason(exc)})") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


@contextlib.contextmanager
def folder_lock(out: str | Path) -> Iterator[None]:
    """Hold the lock of output folder ``out`` for the duration of the block.

    Raises
    ------
    FolderBusyError
        If another process holds it.
    OutputFolderError
        If the folder's parent cannot be created or written (the lock file goes there).
    """
    resolved, parent = _parent(out)
    lock_path = parent / f".{resolved.name}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _unusable(Path(out), f"cannot create files in {parent} ({_reason(exc)})") from None
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                raise FolderBusyError(
                    f"{resolved} is being written by {holder}; wait for it to finish or choose "
                    "another --out"
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()}".encode(), 0)
        yield
    finally:
        os.close(fd)
