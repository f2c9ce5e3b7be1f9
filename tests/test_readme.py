"""Every Python snippet of the README's research walkthrough runs, in order, as written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _snippets() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Research walkthrough", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_walkthrough_has_snippets() -> None:
    assert len(_snippets()) >= 4


@pytest.mark.slow
def test_walkthrough_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for code in _snippets():
        exec(compile(code, "README.md", "exec"), namespace)
    assert (tmp_path / "reference-map.png").stat().st_size > 20_000
    assert (tmp_path / "runs" / "walkthrough-sweep" / "results.parquet").exists()
