"""Running the real command line (`python -m sim`) from tests, the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def incursion(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sim ARGS`` in ``cwd``: wide, colourless, UTF-8 output; 120 s at most."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
