"""The command line, through the real entry point (``python -m sim``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import incursion

from sim import cli
from sim.errors import IncursionError


def test_validate_ok(tiny_scenario_path: Path) -> None:
    r = incursion("validate", tiny_scenario_path.name, cwd=tiny_scenario_path.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"  # spec section 2: prints `ok`
    assert r.stderr == "tiny.yaml: 5 drones in 1 wave, 2 defenders\n"


def test_validate_several_files_one_line_each(tiny_scenario_path: Path) -> None:
    other = tiny_scenario_path.with_name("other.yaml")
    other.write_text(tiny_scenario_path.read_text().replace("count: 5", "count: 7"))
    r = incursion("validate", "tiny.yaml", "other.yaml", cwd=other.parent)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "tiny.yaml: ok\nother.yaml: ok\n"
    assert "tiny.yaml: 5 drones in 1 wave, 2 defenders" in r.stderr
    assert "other.yaml: 7 drones in 1 wave, 2 defenders" in r.stderr


def test_validate_bad_file(tiny_scenario_path: Path) -> None:
    text = tiny_scenario_path.read_text().replace("magazine: 6", "magazine: -3")
    bad = tiny_scenario_path.with_name("bad.yaml")
    bad.write_text(text)
    line = next(i + 1 for i, s in enumerate(text.splitlines()) if "magazine: -3" in s)
    r = incursion("validate", "tiny.yaml", "bad.yaml", cwd=bad.parent)
    assert r.returncode == 2
    assert r.stdout == "tiny.yaml: ok\n"
    assert f"bad.yaml:{line}:15: defenders[0].magazine: expected an integer >= 0, got -3" in (
        r.stderr
    )
    assert "Traceback" not in r.stderr + r.stdout


def test_validate_yaml_error_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    r = incursion("validate", "broken.yaml", "missing.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert "broken.yaml:2:1: YAML syntax error" in r.stderr
    assert "missing.yaml: no such file" in r.stderr
    assert "Traceback" not in r.stderr


def test_validate_python_tag_is_refused(tmp_path: Path, tiny_scenario_yaml: str) -> None:
    marker = tmp_path / "pwned"
    (tmp_path / "evil.yaml").write_text(
        tiny_scenario_yaml.replace(
            "seed: 7", f'seed: !!python/object/apply:os.system ["touch {marker}"]'
        )
    )
    r = incursion("validate", "evil.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert "evil.yaml:3:7: seed: the YAML tag !!python/object/apply:os.system" in r.stderr
    assert not marker.exists()


def test_schema_prints_json(tmp_path: Path) -> None:
    r = incursion("schema", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    schema = json.loads(r.stdout)
    assert "waves" in schema["properties"]
    assert schema["$schema"].endswith("2020-12/schema")


def test_schema_to_file(tmp_path: Path) -> None:
    r = incursion("schema", "--out", "scenario.schema.json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert "waves" in json.loads((tmp_path / "scenario.schema.json").read_text())["properties"]


def test_catalogue_table(tmp_path: Path) -> None:
    r = incursion("catalogue", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for word in ("gerbera", "aim9x", "piorun", "f16", "Drone types", "Weapons", "Platforms"):
        assert word in r.stdout
    assert "est." in r.stdout


def test_catalogue_json_one_kind(tmp_path: Path) -> None:
    r = incursion("catalogue", "--json", "--kind", "weapons", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert list(data) == ["weapons"]
    assert data["weapons"]["aim9x"]["sources"]["cost_usd"]["year"] >= 2000


def test_version_and_usage_error(tmp_path: Path) -> None:
    r = incursion("--version", cwd=tmp_path)
    assert r.returncode == 0
    assert r.stdout.startswith("incursion ")
    r = incursion("catalogue", "--kind", "tanks", cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


# In-process: how main() maps errors and interrupts to exit statuses.


def test_main_maps_incursion_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sim.catalogue

    def broken() -> None:
        raise IncursionError("the built-in catalogue is broken")

    monkeypatch.setattr(sim.catalogue, "catalogue_models", broken)
    with pytest.raises(SystemExit) as info:
        cli.main(["catalogue"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip() == "incursion: error: the built-in catalogue is broken"


def test_main_maps_keyboard_interrupt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import sim.loader

    def interrupted(path: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sim.loader, "load_scenario", interrupted)
    with pytest.raises(SystemExit) as info:
        cli.main(["validate", str(tmp_path / "x.yaml")])
    assert info.value.code == 130
    assert "interrupted" in capsys.readouterr().err


def test_sweep_best_table_shows_what_varies_and_the_leakers_out_of_the_launched() -> None:
    """The sweep's trade-off table: parameters held at one level are named under it, not given
    a column each (in an 80-column terminal the columns were cut to 'fight…' twice); leakers are
    shown against the drones launched, and a cheap but leaky point no longer comes first."""
    from types import SimpleNamespace

    import pandas as pd
    from rich.console import Console

    from sim.cli_sweep import _best_table

    plan = SimpleNamespace(
        parameters=[SimpleNamespace(name=n) for n in ("idt_magazine", "fighter_aim120c")]
    )
    results = pd.DataFrame(
        {
            "point": [0, 1],
            "idt_magazine": [0, 48],
            "fighter_aim120c": [0, 0],
            "cost_exchange_ratio_mean": [0.65, 0.70],
            "cost_exchange_ratio_ci95_low": [0.64, 0.64],
            "cost_exchange_ratio_ci95_high": [0.66, 0.75],
            "leakers_mean": [38.25, 11.375],
            "drones_launched_mean": [420.0, 420.0],
        }
    )
    console = Console(record=True, width=80)
    console.print(_best_table(plan, results))
    text = console.export_text()
    assert "idt_magazine" in text
    assert "held fixed: fighter_aim120c = 0" in text
    assert "38.25 / 420" in text
    assert "0.64–0.66" in text
    assert "no other point beats on both the ratio" in text
    # the point that leaks least comes first
    assert text.index("11.38 / 420") < text.index("38.25 / 420")


def test_sweep_trade_off_front() -> None:
    """The points no other point beats on both the cost-exchange ratio and the leak fraction,
    most protective first; a cheap but leaky defence stays, a dominated one goes."""
    import numpy as np

    from sim.cli_sweep import trade_off_front

    cer = np.array([0.65, 0.70, 2.0, 1.0, 3.0, np.nan, 0.70])
    leak = np.array([0.09, 0.03, 0.00, 0.05, 0.00, 0.0, 0.03])
    # 4 (dominated by 2), 3 (by 1), 6 (equal to 1, not better) and 5 (NaN) go
    assert trade_off_front(cer, leak).tolist() == [2, 1, 0]
    rng = np.random.default_rng(3)
    c, f = rng.random(300), rng.random(300)
    front = set(trade_off_front(c, f).tolist())
    for i in range(300):  # the slow definition
        dominated = any(
            c[j] <= c[i] and f[j] <= f[i] and (c[j] < c[i] or f[j] < f[i]) for j in range(300)
        )
        assert (i not in front) == dominated
