"""The exception hierarchy: one root, subclasses by kind.

The library raises these; the CLI turns every one of them into a one-line (or few-line) message
and exit status 2, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class IncursionError(Exception):
    """Root of every error the package raises on purpose."""


class GeographyError(IncursionError):
    """A border or area file that cannot be used (missing, not a polygon, invalid)."""


class OutputFolderError(IncursionError):
    """An output folder (``--out``) that cannot be created or written."""


class LimitError(IncursionError):
    """A request beyond a documented limit (drones, replications, design points)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input document.

    Attributes
    ----------
    path : str
        Field path in the document, e.g. ``defenders[1].magazine`` (empty for the whole file).
    message : str
        What was expected and what was found.
    line, column : int or None
        1-based position in the file where the YAML parser knows it.
    """

    path: str
    message: str
    line: int | None = None
    column: int | None = None


@dataclass
class ScenarioError(IncursionError):
    """A scenario (or sweep) file that is not valid: every problem with its location."""

    file: Path | str | None
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        name = str(self.file) if self.file is not None else "<scenario>"
        lines = []
        for p in self.problems:
            where = name
            if p.line is not None:
                where += f":{p.line}"
                if p.column is not None:
                    where += f":{p.column}"
            field_part = f" {p.path}:" if p.path else ""
            lines.append(f"{where}:{field_part} {p.message}")
        return "\n".join(lines) if lines else f"{name}: invalid scenario"
