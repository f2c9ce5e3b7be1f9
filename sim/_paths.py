"""Where the package finds its sourced data (``seeds/``)."""

from importlib.resources import files
from pathlib import Path


def seeds_dir() -> Path:
    """Folder of the sourced data: the installed copy, else the source tree's ``seeds/``."""
    installed = Path(str(files("sim"))) / "_seeds"
    return installed if installed.is_dir() else Path(__file__).resolve().parent.parent / "seeds"
