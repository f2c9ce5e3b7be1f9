"""map.png and timeline.png: real pictures, drawn from the run's own data.

The figures' artists are checked against the run's tables (track ends at the recorded fates, kill
markers at the kill points, cover circles of the right radius, cost curves ending at the costs),
and the rendered PNGs against each other: moving the drones' route moves the picture.
"""

from __future__ import annotations

import dataclasses
import io
import sys
from pathlib import Path

import matplotlib
import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from test_outputs import raid, raid_document

import sim
from sim.errors import IncursionError
from sim.plots import figure_png, plot_map, plot_timeline
from sim.scenario import Scenario
from sim.tracks import radar_horizon_m
from sim.world import build_world

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result() -> sim.RunResult:
    return sim.run(raid(), replications=3, workers=1)


@pytest.fixture(scope="module")
def folder(result: sim.RunResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return result.to_dir(tmp_path_factory.mktemp("plots") / "run", fmt="csv")


@pytest.fixture(scope="module")
def map_figure(result: sim.RunResult) -> Figure:
    return plot_map(result, 1)


def _pixels(png: bytes) -> np.ndarray:
    return mpimg.imread(io.BytesIO(png), format="png")[..., :3]


# ---------------------------------------------------------------------------- the files


@pytest.mark.parametrize(("name", "size_px"), [("map.png", (1500, 1800)), ("timeline.png", None)])
def test_pictures_are_real_pngs(folder: Path, name: str, size_px: tuple[int, int] | None) -> None:
    data = (folder / name).read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 20_000
    px = mpimg.imread(folder / name)[..., :3]
    if size_px is not None:
        assert px.shape[:2] == size_px  # 12 x 10 in at 150 dpi: readable on a slide
    assert px.shape[0] >= 1000
    assert px.shape[1] >= 1500
    # not blank: real contrast, and no single colour covers almost everything
    assert px.std() > 0.05
    assert (px < 0.9).any(axis=2).mean() > 0.03  # ink on more than 3 % of the picture
    q = np.rint(px * 15).astype(int)
    assert np.unique(q[..., 0] * 256 + q[..., 1] * 16 + q[..., 2]).size > 20  # many colours


def test_map_moves_with_the_route(result: sim.RunResult, map_figure: Figure) -> None:
    north = sim.run(raid(aim=(52.8, 21.5)), replications=1, workers=1)
    a = _pixels(figure_png(plot_map(result, 0)))
    b = _pixels(figure_png(plot_map(north, 0)))
    assert a.shape == b.shape
    changed = np.abs(a - b).max(axis=2) > 0.1
    assert changed.mean() > 0.01
    # and the same run draws the same picture
    assert np.array_equal(a, _pixels(figure_png(plot_map(result, 0))))


# ------------------------------------------------------------------ the map's own data


def _by_gid(fig: Figure, prefix: str) -> list:
    return [a for a in fig.findobj() if (a.get_gid() or "").startswith(prefix)]


def test_tracks_end_at_the_recorded_fates(result: sim.RunResult, map_figure: Figure) -> None:
    world = build_world(result.scenario)
    drones = result.drones[result.drones["replication"] == 1]
    ends, starts = [], []
    for coll in _by_gid(map_figure, "tracks-"):
        fate = coll.get_gid().removeprefix("tracks-")
        paths = coll.get_segments()
        assert len(paths) == (drones["fate"] == fate).sum()
        ends += [p[-1] for p in paths]
        starts += [p[0] for p in paths]
    assert len(ends) == len(drones)
    x, y = world.projection.forward(drones["fate_lon"].to_numpy(), drones["fate_lat"].to_numpy())
    want = np.column_stack([x, y]) / 1e3
    got = np.array(ends)
    assert np.allclose(np.sort(got, axis=0), np.sort(want, axis=0), atol=1e-3)  # 1 m
    lx, ly = world.waves[0].launch_xy / 1e3
    assert np.allclose(starts, [[lx, ly]] * len(starts), atol=1e-6)


def test_kill_markers_are_at_the_kill_points(result: sim.RunResult, map_figure: Figure) -> None:
    world = build_world(result.scenario)
    shots = result.shots[(result.shots["replication"] == 1) & result.shots["hit"]]
    for weapon, kills in shots.groupby("weapon"):
        (marks,) = _by_gid(map_figure, f"kills-{weapon}")
        x, y = world.projection.forward(kills["lon"].to_numpy(), kills["lat"].to_numpy())
        want = np.sort(np.column_stack([x, y]) / 1e3, axis=0)
        assert np.allclose(np.sort(marks.get_offsets(), axis=0), want, atol=1e-3)


def test_cover_and_envelope_circles(result: sim.RunResult, map_figure: Figure) -> None:
    # The radar reaches 200 km, but a drone at 500 m is below its horizon beyond ~115 km. The
    # circles are the model's: ground ranges times the projection's scale at their centre.
    world = build_world(result.scenario)
    (cover,) = _by_gid(map_figure, "sensor-cover")
    horizon_km = float(radar_horizon_m(30.0, 500.0)) / 1e3
    assert cover.get_radius() == pytest.approx(horizon_km * world.sensor_k[0], rel=1e-12)
    assert horizon_km < 200
    (envelope,) = _by_gid(map_figure, "battery-range")
    assert envelope.get_radius() == pytest.approx(30.0 * world.bat_k[0], rel=1e-12)
    assert abs(world.bat_k[0] - 1) > 1e-5  # the scale is not 1 there: the test tells them apart
    assert _by_gid(map_figure, "battery-defended") == []


def test_a_point_defence_is_drawn_by_what_it_guards(result: sim.RunResult) -> None:
    guarded = result.scenario.with_changes({"defenders.0.defended_radius_km": 5})
    fig = plot_map(sim.run(guarded, replications=1, workers=1), 0)
    world = build_world(guarded)
    (disc,) = _by_gid(fig, "battery-defended")
    assert disc.get_radius() == pytest.approx(5.0 * world.bat_k[0], rel=1e-12)
    (reach,) = _by_gid(fig, "battery-range")
    assert reach.get_linestyle() == "--"
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert any(label.startswith("point defence") for label in labels)


def test_map_of_another_replication_differs(result: sim.RunResult, map_figure: Figure) -> None:
    other = plot_map(result, 2)
    a = np.concatenate([c.get_segments()[0] for c in _by_gid(map_figure, "tracks-")])
    b = np.concatenate([c.get_segments()[0] for c in _by_gid(other, "tracks-")])
    assert a.shape != b.shape or not np.allclose(a, b)


# ---------------------------------------------------------------------------- timeline


def test_timeline_curves_come_from_the_replication(result: sim.RunResult) -> None:
    k = 2
    fig = result.plot_timeline(k)
    assert isinstance(fig, Figure)
    drones = result.drones[result.drones["replication"] == k]
    shots = result.shots[result.shots["replication"] == k]
    sorties = result.sorties[result.sorties["replication"] == k]
    (destroyed,) = _by_gid(fig, "destroyed")
    assert destroyed.get_ydata()[-1] == (drones["fate"] == "destroyed").sum()
    (airborne,) = _by_gid(fig, "airborne")
    assert airborne.get_ydata().max() <= len(drones)
    (defender,) = _by_gid(fig, "spend-defender")
    (attacker,) = _by_gid(fig, "spend-attacker")
    ratio = defender.get_ydata()[-1] / attacker.get_ydata()[-1]
    spend = shots["cost_usd"].sum() + sorties["cost_usd"].sum()
    assert ratio == pytest.approx(spend / (len(drones) * 20_000))
    (text,) = _by_gid(fig, "ratio")
    assert f"{ratio:,.1f}×" in text.get_text()
    # the cost curves never go down
    assert (np.diff(defender.get_ydata()) >= -1e-9).all()
    assert (np.diff(attacker.get_ydata()) >= -1e-9).all()


def test_timeline_cost_race_runs_on_to_the_last_landing() -> None:
    # A sortie still flying at the horizon is charged until it lands: the curve, its label and
    # the ratio must reach the replication's whole defender cost (as the map and tables give it),
    # not stop at the horizon with part of the sortie left out.
    doc = raid_document()
    doc["duration_h"] = 2
    res = sim.run(Scenario.model_validate(doc), replications=3, workers=1)
    horizon = res.scenario.duration_s
    late = res.sorties[res.sorties["landing_s"] > horizon]
    assert len(late), "the test needs a sortie landing after the horizon"
    k = int(late["replication"].iloc[0])
    fig = res.plot_timeline(k)
    sorties = res.sorties[res.sorties["replication"] == k]
    shots = res.shots[res.shots["replication"] == k]
    drones = res.drones[res.drones["replication"] == k]
    spend = shots["cost_usd"].sum() + sorties["cost_usd"].sum()
    (defender,) = _by_gid(fig, "spend-defender")
    (attacker,) = _by_gid(fig, "spend-attacker")
    assert defender.get_xdata()[-1] * 3600 >= sorties["landing_s"].max()
    ratio = defender.get_ydata()[-1] / attacker.get_ydata()[-1]
    assert ratio == pytest.approx(spend / (len(drones) * 20_000))
    (text,) = _by_gid(fig, "ratio")
    assert f"{ratio:.2f}×" in text.get_text() or f"{ratio:,.1f}×" in text.get_text()


def test_timeline_mean_is_over_the_replications_the_tables_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A large run keeps the first replications only in its tables; the dashed mean averages
    # those, and says so, rather than dividing their sum by every replication of the run.
    import sim.runner

    monkeypatch.setattr(sim.runner, "_MAX_TABLE_ROWS", 2 * 5)  # 5 drones: 2 replications kept
    res = sim.run(raid(), replications=4, workers=1)
    assert res.drones["replication"].max() == 1
    fig = res.plot_timeline(1)  # its end comes after every kept replication's last landing
    spend = [
        res.shots.loc[res.shots["replication"] == i, "cost_usd"].sum()
        + res.sorties.loc[res.sorties["replication"] == i, "cost_usd"].sum()
        for i in (0, 1)
    ]
    (defender,) = _by_gid(fig, "spend-defender")
    (mean,) = _by_gid(fig, "mean-defender")
    assert mean.get_ydata()[-1] / defender.get_ydata()[-1] == pytest.approx(
        (spend[0] + spend[1]) / 2 / spend[1]
    )
    legend = [t.get_text() for t in fig.findobj(Text)]
    assert "mean of the first 2 of 4 replications" in legend


def test_timeline_has_a_clock_axis_when_start_is_set(result: sim.RunResult) -> None:
    def texts(fig: Figure) -> list[str]:
        return [t.get_text() for t in fig.findobj(Text)]

    fig = plot_timeline(result, 0)
    figure_png(fig)  # tick labels are made when drawn
    assert any("clock time (UTC+02:00)" in s for s in texts(fig))
    assert "23:30" in texts(fig)
    no_start = result.scenario.model_copy(update={"start": None})
    fig = plot_timeline(dataclasses.replace(result, scenario=no_start, world=None), 0)
    assert not any("clock" in s for s in texts(fig))


# ------------------------------------------------------------------------------ the API


def test_methods_return_figures_without_touching_pyplot(result: sim.RunResult) -> None:
    backend = matplotlib.get_backend()
    figs = [result.plot_map(0), result.plot_timeline(1)]
    assert all(isinstance(f, Figure) for f in figs)
    assert matplotlib.get_backend() == backend
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        assert all(f.number not in plt.get_fignums() for f in figs if hasattr(f, "number"))


def test_a_replication_the_run_does_not_have_is_an_error(result: sim.RunResult) -> None:
    for bad in (3, -1, 1.5):
        with pytest.raises(IncursionError, match="replication"):
            result.plot_map(bad)  # type: ignore[arg-type]
    with pytest.raises(IncursionError, match="replication"):
        result.plot_timeline(7)


def test_a_crowded_map_stays_legible() -> None:
    # 14 batteries on one route and 60 drones: battery names are left out (they would overprint)
    # and the kill markers shrink, so that hundreds of kills do not bury the tracks.
    doc = raid_document()
    bat = doc["defenders"][0]
    doc["defenders"] = [
        {**bat, "name": f"b{i}", "lat": bat["lat"] + 0.02 * i, "magazine": 40} for i in range(14)
    ]
    doc["waves"][0]["count"] = 60
    r = sim.run(Scenario.model_validate(doc), replications=1, workers=1)
    fig = plot_map(r, 0)
    names = [t.get_text() for t in fig.axes[0].texts]
    assert not any(n.startswith("b1 (") for n in names)
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert "14 batteries, max range" in labels
    kills = int(r.shots["hit"].sum())
    assert kills > 40
    sizes = np.concatenate([c.get_sizes() for c in _by_gid(fig, "kills-")])
    assert sizes.max() == pytest.approx(90.0 * max(0.2, 40.0 / kills))
