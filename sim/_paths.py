"""File-system helpers: where the package finds its sourced data (``seeds/``), and the
permissions of the files it writes."""

import os
from importlib.resources import files
from pathlib import Path


def seeds_dir() -> Path:
    """Folder of the sourced data: the installed copy, else the source tree's ``seeds/``."""
    installed = Path(str(files("sim"))) / "_seeds"
    return installed if installed.is_dir() else Path(__file__).resolve().parent.parent / "seeds"


def current_umask() -> int:
    """The process's umask (reading it means setting it: it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
