"""The command line against the contract (spec sections 1-2): wrong types, unusable output
folders, bad --replications, tags on the whole file. Each failure is one message and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cli_runner import incursion

SWEEP = """\
scenario: tiny.yaml
replications: 1
design: {kind: grid}
parameters:
  - path: defenders.piorun-1.magazine
    values: [2]
"""


def _one_line_error(r, *needles: str) -> str:
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("old", "new", "col_and_message"),
    [
        ("count: 5", 'count: "3"', ":12: waves[0].count: expected an integer, got '3'"),
        ("seed: 7", "seed: true", ":7: seed: expected an integer, got true"),
        ("seed: 7", 'seed: "5"', ":7: seed: expected an integer, got '5'"),
        (
            "seed: 7",
            'seed: 7\nreplications: "2"',
            ":15: replications: expected an integer, got '2'",
        ),
        (
            "cost_usd: 15000",
            'cost_usd: "1e4"',
            ":15: drone_types.gerbera.cost_usd: expected a number, got '1e4'",
        ),
    ],
)
def test_validate_refuses_converted_types(
    tiny_scenario_yaml: str, tmp_path: Path, old: str, new: str, col_and_message: str
) -> None:
    text = tiny_scenario_yaml.replace(old, new, 1)
    (tmp_path / "s.yaml").write_text(text)
    last = new.splitlines()[-1]
    line = next(i + 1 for i, s in enumerate(text.splitlines()) if s.strip() == last)
    r = incursion("validate", "s.yaml", cwd=tmp_path)
    _one_line_error(r, f"s.yaml:{line}{col_and_message}")
    assert r.stdout == ""


@pytest.mark.parametrize("value", ['"yes"', "1"])
def test_validate_refuses_non_booleans(tmp_path: Path, tiny_scenario_yaml: str, value: str) -> None:
    text = tiny_scenario_yaml + f"\ndoctrine:\n  shoot_look_shoot: {value}\n"
    (tmp_path / "s.yaml").write_text(text)
    line = len(text.splitlines())
    r = incursion("validate", "s.yaml", cwd=tmp_path)
    _one_line_error(r, f"s.yaml:{line}:21: doctrine.shoot_look_shoot: expected true or false")


def test_validate_names_a_tag_on_the_whole_file(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "evil.yaml").write_text(f'!!python/object/apply:os.system ["touch {marker}"]\n')
    r = incursion("validate", "evil.yaml", cwd=tmp_path)
    _one_line_error(r, "evil.yaml:1:1: the YAML tag !!python/object/apply:os.system is not allowed")
    assert "got a list" not in r.stderr
    assert not marker.exists()


def test_validate_accepts_names_starting_with_underscore(
    tmp_path: Path, tiny_scenario_yaml: str
) -> None:
    (tmp_path / "s.yaml").write_text(tiny_scenario_yaml.replace("name: tiny", "name: _abc"))
    r = incursion("validate", "s.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"


def _unusable_dirs(tmp_path: Path) -> list[tuple[str, str]]:
    (tmp_path / "a-file").write_text("x")
    dirs = [(str(tmp_path / "a-file" / "x"), f"{tmp_path / 'a-file'} is not a folder")]
    if sys.platform != "win32":
        dirs.append(("/dev/null/x", "/dev/null is not a folder"))
    if Path("/proc/self").is_dir():
        dirs.append(("/proc/x", "cannot create files in /proc"))
    return dirs


def test_run_out_unusable_folder(tmp_path: Path, tiny_scenario_path: Path) -> None:
    for out, why in _unusable_dirs(tmp_path):
        r = incursion("run", "tiny.yaml", "-n", "1", "-q", "--out", out, cwd=tmp_path)
        line = _one_line_error(r, f"cannot use {out} as the output folder", why)
        assert line.startswith("incursion: error: ")


def test_sweep_out_unusable_folder(tmp_path: Path, tiny_scenario_path: Path) -> None:
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    for out, why in _unusable_dirs(tmp_path):
        r = incursion("sweep", "sweep.yaml", "-q", "-w", "1", "--out", out, cwd=tmp_path)
        _one_line_error(r, f"cannot use {out} as the output folder", why)


@pytest.mark.parametrize("n", ["0", "-1", "-5"])
def test_run_replications_at_least_one(tmp_path: Path, tiny_scenario_path: Path, n: str) -> None:
    r = incursion("run", "tiny.yaml", "--replications", n, "-q", cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    text = " ".join(r.stderr.replace("│", " ").split())
    assert f"Invalid value for --replications: must be at least 1, got {n}" in text
    assert "map-replication" not in r.stderr
    assert not (tmp_path / "runs").exists()
