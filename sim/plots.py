"""The run folder's pictures: ``map.png`` (one replication on the map) and ``timeline.png``.

Both are drawn from the run's own data: the tracks of one replication are rebuilt exactly
(:func:`sim.geojson_out.replication_paths`) and cut at each drone's fate; kills, shots and sorties
come from ``result.shots`` and ``result.sorties``.

The map is drawn in the scenario's own projected plane (the conformal conic of
:class:`sim.geo.Projection`, in km), the plane the simulation computes in: the sensor-cover,
battery, electronic-warfare and no-fire circles are the very circles the engine tests against, and
the scale bar holds everywhere on the map (scale error < 0.5 %). Meridians and parallels are
drawn as a light graticule, labelled at the frame.

Figures are built with :class:`matplotlib.figure.Figure` and rendered by Agg, without pyplot: no
backend is selected globally (an interactive session keeps its own), no window opens, and a figure
is freed as soon as it is no longer referenced.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from sim.geojson_out import ReplicationPaths, replication_paths

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from sim.results import RunResult

__all__ = [
    "FATE_COLORS",
    "figure_png",
    "plot_map",
    "plot_timeline",
    "weapon_styles",
    "write_figures",
]

#: Track colour per fate.
FATE_COLORS: dict[str, str] = {
    "destroyed": "#1f78b4",
    "leaked": "#e31a1c",
    "crashed": "#8c510a",
    "exited": "#7a7a7a",
    "airborne": "#ff7f00",
}
_WEAPON_COLORS = (
    "#33a02c",
    "#6a3d9a",
    "#e7298a",
    "#111111",
    "#17becf",
    "#bcbd22",
    "#d95f02",
    "#66a61e",
    "#7570b3",
    "#a6761d",
)
_WEAPON_MARKERS = ("X", "*", "P", "D", "p", "h", "s", "v", "^", "<", ">", "8")

SENSOR_COLOR = "#01665e"
BATTERY_COLOR = "#c51b7d"
#: Batteries named on the map at most (beyond, the names overprint; the report lists them).
MAP_MAX_BATTERY_LABELS = 12
AIRBASE_COLOR = "#252525"
EW_COLOR = "#762a83"
NOFIRE_COLOR = "#b2182b"
TERRITORY_FILL = "#fbf4dc"
NEIGHBOUR_FILL = "#dcdcdc"
#: Outside the shipped country outlines (sea, or countries not shipped): neutral, not "sea".
BACKGROUND = "#f6f7f8"

MAP_SIZE_IN = (12.0, 10.0)
TIMELINE_SIZE_IN = (12.0, 8.0)
DPI = 150

_DISPLAY_NAMES = {"kaliningrad": "Kaliningrad (RU)"}


def weapon_styles(names: tuple[str, ...] | list[str]) -> dict[str, tuple[str, str]]:
    """``{weapon: (colour, marker)}`` in the given (scenario) order, the same on every figure."""
    return {
        n: (_WEAPON_COLORS[i % len(_WEAPON_COLORS)], _WEAPON_MARKERS[i % len(_WEAPON_MARKERS)])
        for i, n in enumerate(names)
    }


def _new_figure(size: tuple[float, float]) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=size, dpi=DPI)


def figure_png(fig: Figure) -> bytes:
    """The figure rendered as PNG (Agg), at the module's resolution."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def _money(v: float) -> str:
    a = abs(v)
    if a >= 1e9:
        return f"${v / 1e9:,.2f} bn"
    if a >= 1e6:
        return f"${v / 1e6:,.1f} M"
    if a >= 1e3:
        return f"${v / 1e3:,.0f} k"
    return f"${v:,.0f}"


def _times(ratio: float) -> str:
    """A ratio as ``12.3×`` (two decimals below 10)."""
    return f"{ratio:,.1f}×" if abs(ratio) >= 10 else f"{ratio:.2f}×"


def _left_margin(labels: list[str], fig_width_in: float, fontsize: float) -> float:
    """Left margin (figure fraction) that fits ``labels`` as y tick labels, at least 0.09."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    if not labels:
        return 0.09
    prop = FontProperties(size=fontsize)
    measure = TextToPath().get_text_width_height_descent
    widest = max(measure(s, prop, ismath=False)[0] for s in labels)  # points
    return min(max(0.09, (widest + 12.0) / 72.0 / fig_width_in), 0.3)


def _halo(width: float = 2.5) -> list[Any]:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width, foreground="white")]


# ------------------------------------------------------------------------------------ map


def _geom_path(geom: shapely.Geometry, scale: float = 1e-3) -> Any:
    """A matplotlib Path of a (multi)polygon, holes included, scaled (m -> km)."""
    from matplotlib.path import Path as MPath

    verts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for poly in shapely.get_parts(geom):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords) * scale
            if len(xy) < 3:
                continue
            c = np.full(len(xy), MPath.LINETO, dtype=np.uint8)
            c[0] = MPath.MOVETO
            c[-1] = MPath.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    if not verts:
        return None
    return MPath(np.concatenate(verts), np.concatenate(codes))


def _add_geom(ax: Axes, geom: shapely.Geometry, **kw: Any) -> Any:
    from matplotlib.patches import PathPatch

    path = _geom_path(geom)
    if path is None:
        return None
    return ax.add_patch(PathPatch(path, **kw))


def _circle(ax: Axes, x_m: float, y_m: float, r_m: float, **kw: Any) -> Any:
    from matplotlib.patches import Circle

    return ax.add_patch(Circle((x_m / 1000.0, y_m / 1000.0), r_m / 1000.0, **kw))


def _extent(view: ReplicationPaths) -> tuple[float, float, float, float]:
    """The area of the action in metres: every scenario position, the drawn tracks and the small
    circles (batteries, EW, no-fire), padded; sensor cover is left out (it can be very wide)."""
    w = view.world
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for wave in w.waves:
        xs += [wave.launch_xy[:1], wave.route_xy[:, 0]]
        ys += [wave.launch_xy[1:], wave.route_xy[:, 1]]
    for _t, x, y in view.paths:
        xs.append(x)
        ys.append(y)
    xs += [w.sensor_x, w.bat_x, w.base_x]
    ys += [w.sensor_y, w.bat_y, w.base_y]
    rmax = np.array([w.scenario.weapons[b.weapon].max_range_km * 1e3 for b in w.batteries])
    for cx, cy, r in ((w.bat_x, w.bat_y, rmax), (w.ew_x, w.ew_y, w.ew_r)):
        xs += [cx - r, cx + r]
        ys += [cy - r, cy + r]
    xs += [w.nofire_x - w.nofire_r, w.nofire_x + w.nofire_r]
    ys += [w.nofire_y - w.nofire_r, w.nofire_y + w.nofire_r]
    for region in w.nofire_polygons:
        b = shapely.bounds(region.polygon)
        xs.append(b[[0, 2]])
        ys.append(b[[1, 3]])
    x = np.concatenate([np.ravel(a) for a in xs])
    y = np.concatenate([np.ravel(a) for a in ys])
    x0, x1, y0, y1 = float(x.min()), float(x.max()), float(y.min()), float(y.max())
    pad = 0.06 * max(x1 - x0, y1 - y0, 150e3)
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    hw = max(0.5 * (x1 - x0) + pad, 75e3)
    hh = max(0.5 * (y1 - y0) + pad, 75e3)
    return cx - hw, cy - hh, cx + hw, cy + hh


def _fit_aspect(ext: tuple[float, float, float, float], aspect: float) -> tuple[float, ...]:
    """Widen the extent so that width / height equals ``aspect`` (the axes' shape)."""
    x0, y0, x1, y1 = ext
    w, h = x1 - x0, y1 - y0
    if w / h < aspect:
        d = 0.5 * (h * aspect - w)
        return x0 - d, y0, x1 + d, y1
    d = 0.5 * (w / aspect - h)
    return x0, y0 - d, x1, y1 + d


def _nice_step(span: float, target: int) -> float:
    """A 1-2-5 step giving about ``target`` intervals over ``span``."""
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _graticule(ax: Axes, view: ReplicationPaths, ext: tuple[float, ...]) -> None:
    """Meridians and parallels as light lines, labelled where they meet the frame."""
    proj = view.world.projection
    x0, y0, x1, y1 = ext
    gx = np.linspace(x0, x1, 60)
    gy = np.linspace(y0, y1, 60)
    mx, my = np.meshgrid(gx, gy)
    lon, lat = proj.inverse(mx, my)
    lon_lo, lon_hi = float(np.nanmin(lon)), float(np.nanmax(lon))
    lat_lo, lat_hi = float(np.nanmin(lat)), float(np.nanmax(lat))
    dlon = _nice_step(lon_hi - lon_lo, 8)
    dlat = _nice_step(lat_hi - lat_lo, 7)
    kw = {"color": "#9aa5ad", "lw": 0.5, "alpha": 0.7, "zorder": 1.5}
    text = {"fontsize": 8, "color": "#52606b", "clip_on": False}
    fmt = "{:g}"
    for lo in np.arange(math.ceil(lon_lo / dlon) * dlon, lon_hi, dlon):
        la = np.linspace(lat_lo - 1, lat_hi + 1, 200)
        px, py = proj.forward(np.full_like(la, lo), la)
        ax.plot(px / 1e3, py / 1e3, **kw)
        if py.min() <= y0 <= py.max():
            xb = float(np.interp(y0, py, px))
            if x0 < xb < x1:
                ax.text(
                    xb / 1e3,
                    y0 / 1e3,
                    f"{fmt.format(round(lo, 4))}°E\n",
                    ha="center",
                    va="top",
                    **text,
                )
    for la in np.arange(math.ceil(lat_lo / dlat) * dlat, lat_hi, dlat):
        lo_ = np.linspace(lon_lo - 1, lon_hi + 1, 200)
        px, py = proj.forward(lo_, np.full_like(lo_, la))
        ax.plot(px / 1e3, py / 1e3, **kw)
        if px.min() <= x0 <= px.max():
            yb = float(np.interp(x0, px, py))
            if y0 < yb < y1:
                ax.text(
                    x0 / 1e3,
                    yb / 1e3,
                    f"{fmt.format(round(la, 4))}°N ",
                    ha="right",
                    va="center",
                    **text,
                )


def _countries(ax: Axes, view: ReplicationPaths, ext: tuple[float, ...]) -> None:
    """Neighbouring countries in grey, the defended territory light, with names."""
    from sim.geo import builtin_countries, project_geometry

    w = view.world
    proj = w.projection
    x0, y0, x1, y1 = ext
    box = shapely.box(x0, y0, x1, y1)
    grow = shapely.box(x0 - 5e4, y0 - 5e4, x1 + 5e4, y1 + 5e4)
    border = w.scenario.geography.border
    # Only countries near the view are projected (a lon/lat box around it, widened).
    bx, by = np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1])
    blon, blat = proj.inverse(bx, by)
    ll_box = shapely.box(blon.min() - 3, blat.min() - 2, blon.max() + 3, blat.max() + 2)
    labels: list[tuple[str, shapely.Geometry, bool]] = []
    for name, geom in builtin_countries().items():
        if not geom.intersects(ll_box):
            continue
        g = shapely.clip_by_rect(project_geometry(geom, proj), *grow.bounds)
        if g.is_empty:
            continue
        own = name == border
        if not own:
            _add_geom(ax, g, facecolor=NEIGHBOUR_FILL, edgecolor="white", lw=0.8, zorder=1)
        labels.append((_DISPLAY_NAMES.get(name, name.capitalize()), g, own))
    territory = shapely.clip_by_rect(w.territory.polygon, *grow.bounds)
    _add_geom(ax, territory, facecolor=TERRITORY_FILL, edgecolor="none", zorder=1.1)
    _add_geom(ax, territory, facecolor="none", edgecolor="#4d4d4d", lw=1.3, zorder=2.5)
    if border not in dict(builtin_countries()):
        labels.append(("defended territory", territory, True))
    for label, g, own in labels:
        # a neighbour's name goes where it is not the defended territory (a custom territory may
        # lie over a shipped country)
        visible = g.intersection(box) if own else g.intersection(box).difference(territory)
        if visible.is_empty or visible.area < 0.01 * box.area:
            continue
        p = visible.representative_point()
        ax.text(
            p.x / 1e3,
            p.y / 1e3,
            label.upper() if own else label,
            ha="center",
            va="center",
            fontsize=15 if own else 12,
            color="#8a7a4a" if own else "#8c8c8c",
            style="normal" if own else "italic",
            alpha=0.85,
            zorder=2,
            fontweight="bold" if own else "normal",
        )


def _scale_bar(ax: Axes, ext: tuple[float, ...]) -> None:
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    width_km = (ext[2] - ext[0]) / 1e3
    size = _nice_step(width_km / 5, 1)
    bar = AnchoredSizeBar(
        ax.transData,
        size,
        f"{size:g} km",
        loc="lower left",
        pad=0.5,
        borderpad=0.8,
        sep=4,
        frameon=True,
        size_vertical=width_km / 300,
        fontproperties={"size": 9},
    )
    bar.patch.set_alpha(0.85)
    bar.patch.set_edgecolor("#999999")
    ax.add_artist(bar)


def _label(ax: Axes, x_m: float, y_m: float, text: str, color: str, *, below: bool = False) -> None:
    """A small name beside a marker, on its left when the marker is near the right edge."""
    x0, x1 = ax.get_xlim()
    right = x_m / 1e3 > x1 - 0.15 * (x1 - x0)
    ax.annotate(
        text,
        (x_m / 1e3, y_m / 1e3),
        xytext=(-5 if right else 5, -11 if below else 4),
        textcoords="offset points",
        ha="right" if right else "left",
        fontsize=7.5,
        color=color,
        path_effects=_halo(),
        zorder=9,
        clip_on=True,
    )


def plot_map(result: RunResult, replication: int = 0) -> Figure:
    """Replication ``replication`` on the map: tracks by fate, kills by weapon, the defence.

    Parameters
    ----------
    result : RunResult
    replication : int
        A replication kept in ``result.drones`` (default 0).

    Returns
    -------
    matplotlib.figure.Figure
        12 x 10 in; save with ``fig.savefig(...)`` or :func:`figure_png`.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    view = replication_paths(result, replication)
    w = view.world
    scen = w.scenario
    fig = _new_figure(MAP_SIZE_IN)
    # Map on the left, legends in a column on the right: the legend never covers the action.
    ax = fig.add_axes((0.055, 0.05, 0.69, 0.85))
    ax_w, ax_h = fig.get_size_inches() * np.array([0.69, 0.85])
    ext = _fit_aspect(_extent(view), float(ax_w / ax_h))
    ax.set_facecolor(BACKGROUND)
    ax.set_xlim(ext[0] / 1e3, ext[2] / 1e3)
    ax.set_ylim(ext[1] / 1e3, ext[3] / 1e3)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    _countries(ax, view, ext)
    _graticule(ax, view, ext)

    # --- the defence and the environment
    alt = min(wave.altitude_m for wave in w.waves)
    handles: list[Any] = []
    if w.sensor_x.size:
        from sim.tracks import radar_horizon_m

        cover = w.sensor_k * np.minimum(w.sensor_range_m, radar_horizon_m(w.sensor_antenna_m, alt))
        for x, y, r in zip(w.sensor_x, w.sensor_y, cover, strict=True):
            _circle(
                ax,
                x,
                y,
                r,
                fill=False,
                ec=SENSOR_COLOR,
                lw=1.0,
                ls=(0, (5, 3)),
                alpha=0.85,
                zorder=6,
                gid="sensor-cover",
            )
        ax.plot(
            w.sensor_x / 1e3,
            w.sensor_y / 1e3,
            "d",
            color=SENSOR_COLOR,
            ms=6,
            mec="white",
            mew=0.7,
            zorder=8,
        )
        for s, x, y in zip(scen.sensors, w.sensor_x, w.sensor_y, strict=True):
            _label(ax, x, y, s.name, SENSOR_COLOR, below=True)
        handles.append(
            Line2D(
                [],
                [],
                color=SENSOR_COLOR,
                ls=(0, (5, 3)),
                marker="d",
                mec="white",
                label=f"sensor cover (drones at {alt:,.0f} m)",
            )
        )
    for z in w.nofire_polygons:
        _add_geom(
            ax,
            z.polygon,
            facecolor="none",
            edgecolor=NOFIRE_COLOR,
            hatch="////",
            lw=0.8,
            zorder=3.5,
        )
    for x, y, r in zip(w.nofire_x, w.nofire_y, w.nofire_r, strict=True):
        _circle(ax, x, y, r, fill=False, ec=NOFIRE_COLOR, hatch="////", lw=0.8, zorder=3.5)
    if w.nofire_r.size or w.nofire_polygons:
        handles.append(
            Patch(facecolor="none", edgecolor=NOFIRE_COLOR, hatch="////", label="no-fire zone")
        )
    for x, y, r in zip(w.ew_x, w.ew_y, w.ew_r, strict=True):
        _circle(ax, x, y, r, fc=EW_COLOR, alpha=0.08, ec="none", zorder=3)
        _circle(ax, x, y, r, fill=False, ec=EW_COLOR, lw=1.0, ls=":", zorder=6)
    for e, x, y in zip(scen.electronic_warfare, w.ew_x, w.ew_y, strict=True):
        _label(ax, x, y, e.name, EW_COLOR)
    if w.ew_x.size:
        handles.append(
            Patch(facecolor=EW_COLOR + "22", edgecolor=EW_COLOR, ls=":", label="EW area")
        )
    if w.batteries:
        point_defence = False
        # Past a dozen batteries their names overprint each other and the tracks: the report's
        # table names them instead.
        named = len(w.batteries) <= MAP_MAX_BATTERY_LABELS
        for b, x, y, k in zip(w.batteries, w.bat_x, w.bat_y, w.bat_k, strict=True):
            r = scen.weapons[b.weapon].max_range_km * 1e3 * k
            if b.defended_radius_km is None:
                _circle(ax, x, y, r, fc=BATTERY_COLOR, alpha=0.07, ec="none", zorder=3)
                _circle(
                    ax, x, y, r, fill=False, ec=BATTERY_COLOR, lw=1.2, zorder=6,
                    gid="battery-range",
                )  # fmt: skip
                if named:
                    _label(ax, x, y, f"{b.name} ({b.weapon})", BATTERY_COLOR)
                continue
            # A point defence engages only drones aimed within its guarded radius: its reach is
            # drawn faint and dashed, what it guards solid, so that a 60 km disc does not read
            # as 60 km of cover.
            point_defence = True
            _circle(
                ax, x, y, r, fill=False, ec=BATTERY_COLOR, lw=0.8, ls="--", alpha=0.6, zorder=6,
                gid="battery-range",
            )  # fmt: skip
            g = b.defended_radius_km * 1e3 * k
            _circle(ax, x, y, g, fc=BATTERY_COLOR, alpha=0.25, ec="none", zorder=3)
            _circle(
                ax, x, y, g, fill=False, ec=BATTERY_COLOR, lw=1.2, zorder=6,
                gid="battery-defended",
            )  # fmt: skip
            if named:
                _label(
                    ax, x, y, f"{b.name} ({b.weapon}; guards {b.defended_radius_km:g} km)",
                    BATTERY_COLOR,
                )  # fmt: skip
        ax.plot(
            w.bat_x / 1e3,
            w.bat_y / 1e3,
            "s",
            color=BATTERY_COLOR,
            ms=7,
            mec="white",
            mew=0.8,
            zorder=8,
        )
        handles.append(
            Line2D(
                [],
                [],
                color=BATTERY_COLOR,
                marker="s",
                mec="white",
                label="battery, max range" if named else f"{len(w.batteries)} batteries, max range",
            )
        )
        if point_defence:
            handles.append(
                Patch(
                    facecolor=BATTERY_COLOR + "40",
                    edgecolor=BATTERY_COLOR,
                    label="point defence, guarded radius",
                )
            )
    if w.airbases:
        ax.plot(
            w.base_x / 1e3,
            w.base_y / 1e3,
            "^",
            color=AIRBASE_COLOR,
            ms=9,
            mec="white",
            mew=0.8,
            zorder=8,
        )
        for a, x, y in zip(w.airbases, w.base_x, w.base_y, strict=True):
            _label(ax, x, y, f"{a.name} ({a.aircraft}× {a.platform})", AIRBASE_COLOR)
        handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker="^",
                color=AIRBASE_COLOR,
                mec="white",
                ms=9,
                label="airbase",
            )
        )

    # --- the attack: planned routes, launch points, tracks by fate
    for wave in w.waves:
        pts = np.vstack([wave.launch_xy, wave.route_xy]) / 1e3
        ax.plot(pts[:, 0], pts[:, 1], color="#555555", lw=0.8, ls=(0, (1, 2)), zorder=4)
        ax.plot(pts[-1, 0], pts[-1, 1], "x", color="#333333", ms=7, mew=1.5, zorder=7)
    launches = np.array([wave.launch_xy for wave in w.waves]) / 1e3
    ax.plot(launches[:, 0], launches[:, 1], "o", ms=8, mfc="white", mec="black", mew=1.5, zorder=8)
    for wave in w.waves:
        _label(ax, wave.launch_xy[0], wave.launch_xy[1], wave.name, "#222222")
    handles += [
        Line2D(
            [],
            [],
            ls="none",
            marker="o",
            mfc="white",
            mec="black",
            mew=1.5,
            ms=8,
            label="launch point (wave)",
        ),
        Line2D(
            [],
            [],
            color="#555555",
            lw=0.8,
            ls=(0, (1, 2)),
            marker="x",
            mec="#333333",
            label="planned route, aim point",
        ),
    ]
    fates = view.drones["fate"].astype(str).to_numpy()
    # Many tracks: thinner and more transparent, so that density shows. Tracks that end early
    # (destroyed, crashed) are drawn over those that fly on, so where drones share a route the
    # kills show and a leaker's track still shows beyond them.
    crowd = math.sqrt(50.0 / max(len(fates), 50))
    rank = {"exited": 0, "airborne": 1, "leaked": 2, "crashed": 3, "destroyed": 4}
    fate_handles = []
    for fate, color in FATE_COLORS.items():
        sel = np.flatnonzero(fates == fate)
        if sel.size:
            segs = [np.column_stack([view.paths[i][1], view.paths[i][2]]) / 1e3 for i in sel]
            ax.add_collection(
                LineCollection(
                    segs,
                    colors=color,
                    linewidths=max(0.35, 1.5 * crowd),
                    alpha=max(0.12, 0.85 * crowd),
                    zorder=5 + 0.1 * rank.get(fate, 0),
                    gid=f"tracks-{fate}",
                    capstyle="round",
                )
            )
        fate_handles.append(
            Line2D(
                [],
                [],
                color=color,
                lw=2,
                label=f"{fate} ({sel.size})",
                alpha=1 if sel.size else 0.35,
            )
        )

    # --- kills by weapon
    styles = weapon_styles(w.weapon_names)
    kills = view.shots[view.shots["hit"].astype(bool)]
    # Large markers for a few kills; for hundreds, smaller ones, so they do not bury the tracks
    # and the defence (the same total area as about 40 large ones).
    size = 90.0 * min(1.0, max(0.2, 40.0 / max(len(kills), 1)))
    weapon_handles = []
    for name, (color, marker) in styles.items():
        k = kills[kills["weapon"] == name]
        if not len(k):
            continue
        kx, ky = w.projection.forward(k["lon"].to_numpy(float), k["lat"].to_numpy(float))
        ax.scatter(
            np.asarray(kx) / 1e3,
            np.asarray(ky) / 1e3,
            s=size,
            marker=marker,
            c=color,
            edgecolors="black",
            linewidths=0.6 if size >= 45 else 0.3,
            zorder=10,
            gid=f"kills-{name}",
        )
        weapon_handles.append(
            Line2D(
                [],
                [],
                ls="none",
                marker=marker,
                mfc=color,
                mec="black",
                mew=0.6,
                ms=10,
                label=f"{name} ({len(k)})",
            )
        )
    _scale_bar(ax, ext)

    # --- legends, right column
    legend_kw = {"frameon": False, "fontsize": 9, "title_fontsize": 10, "alignment": "left"}
    leg1 = fig.legend(
        handles=fate_handles,
        title="drone tracks by fate",
        loc="upper left",
        bbox_to_anchor=(0.765, 0.90),
        **legend_kw,
    )
    fig.add_artist(leg1)
    y = 0.90 - 0.032 * (len(fate_handles) + 1.8)
    if weapon_handles:
        leg2 = fig.legend(
            handles=weapon_handles,
            title="kills by weapon",
            loc="upper left",
            bbox_to_anchor=(0.765, y),
            **legend_kw,
        )
        fig.add_artist(leg2)
        y -= 0.032 * (len(weapon_handles) + 1.8)
    fig.legend(
        handles=handles,
        title="defence and scenario",
        loc="upper left",
        bbox_to_anchor=(0.765, y),
        **legend_kw,
    )

    # --- titles
    n_rep = result.replications
    fig.text(
        0.055,
        0.965,
        f"{scen.name}: replication {view.replication} of {n_rep} (seed {result.seed})",
        fontsize=16,
        fontweight="bold",
        va="top",
    )
    counts = view.drones["fate"].astype(str).value_counts()
    fate_txt = ", ".join(f"{int(counts.get(f, 0))} {f}" for f in FATE_COLORS)
    spend = view.shots["cost_usd"].sum() + view.sorties["cost_usd"].sum()
    fig.text(
        0.055,
        0.928,
        f"{len(fates)} drones launched: {fate_txt}.  {len(view.shots)} shots, "
        f"{len(view.sorties)} sorties; defender {_money(spend)} vs attacker "
        f"{_money(view.drone_cost_usd.sum())}.",
        fontsize=10,
        va="top",
        color="#333333",
        parse_math=False,
    )
    return fig


# ------------------------------------------------------------------------------- timeline


def _inside_intervals(view: ReplicationPaths) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times of every stretch a drone spends over the defended territory."""
    from sim.geo import segment_edge_crossings

    terr = view.world.territory
    t0s, t1s, x0s, y0s, x1s, y1s = [], [], [], [], [], []
    for t, x, y in view.paths:
        if t.size < 2:
            continue
        t0s.append(t[:-1])
        t1s.append(t[1:])
        x0s.append(x[:-1])
        y0s.append(y[:-1])
        x1s.append(x[1:])
        y1s.append(y[1:])
    if not t0s:
        return np.empty(0), np.empty(0)
    t0, t1, x0, y0, x1, y1 = (np.concatenate(a) for a in (t0s, t1s, x0s, y0s, x1s, y1s))
    n = t0.size
    si, fr = segment_edge_crossings(x0, y0, x1, y1, terr.edges)
    si = np.concatenate([np.arange(n), np.arange(n), si])
    fr = np.concatenate([np.zeros(n), np.ones(n), fr])
    order = np.lexsort((fr, si))
    si, fr = si[order], fr[order]
    same = si[1:] == si[:-1]
    a, fa, fb = si[:-1][same], fr[:-1][same], fr[1:][same]
    ok = fb - fa > 1e-12
    a, fa, fb = a[ok], fa[ok], fb[ok]
    fm = 0.5 * (fa + fb)
    inside = terr.contains(x0[a] + fm * (x1[a] - x0[a]), y0[a] + fm * (y1[a] - y0[a]))
    dur = t1[a] - t0[a]
    return (t0[a] + fa * dur)[inside], (t0[a] + fb * dur)[inside]


def _count(t: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """How many of the intervals [start, end) contain each time in ``t``."""
    s = np.sort(starts)
    e = np.sort(ends)
    return np.searchsorted(s, t, side="right") - np.searchsorted(e, t, side="right")


def _cum(t: np.ndarray, times: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
    """Sum of ``values`` (or count) of events at or before each time in ``t``."""
    order = np.argsort(times)
    st = np.asarray(times)[order]
    v = np.ones(st.size) if values is None else np.asarray(values, float)[order]
    c = np.r_[0.0, np.cumsum(v)]
    return c[np.searchsorted(st, t, side="right")]


def _spread(t: np.ndarray, start: np.ndarray, end: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Cumulative cost of activities charged evenly from start to end, at each time in ``t``.

    ``sum_i c_i * clip((t - a_i) / (b_i - a_i), 0, 1)``, as ``sum rate_i * ((t - a_i)^+ -
    (t - b_i)^+)`` with prefix sums over sorted starts and ends (zero-length ones count as steps).
    """
    start, end, cost = (np.asarray(a, float) for a in (start, end, cost))
    step = end <= start
    out = _cum(t, start[step], cost[step])
    a, b, c = start[~step], end[~step], cost[~step]
    rate = c / (b - a)

    def ramp(at: np.ndarray) -> np.ndarray:
        order = np.argsort(at)
        s, r = at[order], rate[order]
        n = np.searchsorted(s, t, side="right")
        sr = np.r_[0.0, np.cumsum(r)]
        sra = np.r_[0.0, np.cumsum(r * s)]
        return t * sr[n] - sra[n]

    return out + ramp(a) - ramp(b)


def _time_grid(end_s: float, events: list[np.ndarray]) -> np.ndarray:
    """A fine grid over [0, end] with every event time and the instant before it (crisp steps)."""
    ev = np.concatenate([np.ravel(e) for e in events]) if events else np.empty(0)
    ev = ev[np.isfinite(ev) & (ev >= 0) & (ev <= end_s)]
    eps = max(end_s, 1.0) * 1e-7
    return np.unique(np.r_[np.linspace(0.0, end_s, 1500), ev, np.maximum(ev - eps, 0.0)])


def _clock_axis(ax: Axes, start: dt.datetime, end_h: float) -> None:
    """Wall-clock times (from ``scenario.start``) along the top of ``ax``, whose x is hours."""
    from matplotlib.ticker import FuncFormatter

    top = ax.secondary_xaxis("top")
    long = end_h > 20.0

    def fmt(h: float, _pos: Any) -> str:
        t = start + dt.timedelta(hours=float(h))
        return t.strftime("%d %b %H:%M") if long else t.strftime("%H:%M")

    top.xaxis.set_major_formatter(FuncFormatter(fmt))
    off = start.strftime("%z")
    zone = f" (UTC{off[:3]}:{off[3:]})" if off else ""
    top.set_xlabel(
        f"clock time{zone}; t = 0 at {start.strftime('%Y-%m-%d %H:%M')}", fontsize=9, labelpad=6
    )
    top.tick_params(labelsize=8)


def plot_timeline(result: RunResult, replication: int = 0) -> Figure:
    """Replication ``replication`` over time: drones aloft, kills and shots; the cost race.

    Top: drones airborne, airborne over the defended territory, destroyed (cumulative) and leaked
    (cumulative). Middle: every shot at its firing time, one row per weapon (a tall tick killed
    its drone, a short one missed). Bottom: cumulative defender spend (each shot's cost when
    fired, each sortie's cost spread evenly from wheels-up to landing) against cumulative attacker
    spend (each drone's cost at launch); thin dashed lines are the same averaged over every
    replication of the run.

    Returns
    -------
    matplotlib.figure.Figure
        12 x 8 in, x axis in hours from t = 0 (and clock time on top if ``scenario.start`` is set).
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MaxNLocator

    view = replication_paths(result, replication)
    w = view.world
    scen = w.scenario
    d = view.drones
    launch = d["launch_s"].to_numpy(float)
    fate_s = d["fate_s"].to_numpy(float)
    fate = d["fate"].astype(str).to_numpy()
    shots, sorties = view.shots, view.sorties
    shot_t = shots["time_s"].to_numpy(float)
    in0, in1 = _inside_intervals(view)
    landing = sorties["landing_s"].to_numpy(float)
    last = np.nanmax(np.r_[fate_s, landing, shot_t, 0.0])
    end_s = float(min(scen.duration_s, max(last * 1.03, 600.0)))
    # A sortie still flying at the horizon is charged until it lands: draw the cost race on to
    # the last landing, so that the curve ends at the replication's defender cost (the map's and
    # the tables' figure) instead of stopping short of it at the horizon.
    last_landing = float(np.nanmax(np.r_[landing, 0.0]))
    past_horizon = last_landing > scen.duration_s
    if past_horizon:
        end_s = last_landing * 1.01
    t = _time_grid(end_s, [launch, fate_s, in0, in1, shot_t, landing])
    h = t / 3600.0
    reps = result.replications

    fig = _new_figure(TIMELINE_SIZE_IN)
    weapons = [n for n in w.weapon_names if (shots["weapon"] == n).any()]
    ax1, ax_r, ax2 = fig.subplots(
        3,
        1,
        sharex=True,
        gridspec_kw={
            "height_ratios": [1.0, 0.12 + 0.07 * max(len(weapons), 1), 1.0],
            "hspace": 0.12,
        },
    )
    shot_labels = [f"{n} ({(shots['weapon'] == n).sum()})" for n in weapons]
    fig.subplots_adjust(
        left=_left_margin(shot_labels, TIMELINE_SIZE_IN[0], fontsize=8),
        right=0.79,
        top=0.85 if scen.start else 0.9,
        bottom=0.08,
    )
    legend_kw = {
        "loc": "upper left",
        "bbox_to_anchor": (1.01, 1.0),
        "frameon": False,
        "fontsize": 9,
        "title_fontsize": 9.5,
        "alignment": "left",
    }

    # --- drones
    airborne = _count(t, launch, fate_s)
    ax1.fill_between(
        h,
        _count(t, in0, in1),
        step=None,
        color=TERRITORY_FILL,
        ec="#b59b45",
        lw=1.0,
        label="airborne over the territory",
    )
    ax1.plot(h, airborne, color="#333333", lw=1.6, label="airborne", gid="airborne")
    killed = fate == "destroyed"
    ax1.plot(
        h,
        _cum(t, fate_s[killed]),
        color=FATE_COLORS["destroyed"],
        lw=2.2,
        label="destroyed (cumulative)",
        gid="destroyed",
    )
    leaked = fate == "leaked"
    if leaked.any():
        ax1.plot(
            h,
            _cum(t, fate_s[leaked]),
            color=FATE_COLORS["leaked"],
            lw=2.2,
            label="leaked (cumulative)",
        )
    ymax = max(float(airborne.max(initial=0)), float(killed.sum()), float(leaked.sum()), 1.0)
    ax1.set_ylim(0, ymax * 1.1)
    ax1.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_ylabel("drones")
    ax1.grid(color="#ebebeb", lw=0.6)
    ax1.legend(title=f"drones, replication {view.replication}", **legend_kw)

    # --- shots, one row per weapon
    styles = weapon_styles(w.weapon_names)
    for i, name in enumerate(weapons):
        color = styles[name][0]
        s = shots[shots["weapon"] == name]
        hit = s["hit"].astype(bool).to_numpy()
        x = s["time_s"].to_numpy(float) / 3600.0
        ax_r.vlines(x[hit], i - 0.42, i + 0.42, color=color, lw=2.0)
        ax_r.vlines(x[~hit], i - 0.18, i + 0.18, color=color, lw=2.0, alpha=0.6)
    ax_r.set_yticks(range(len(weapons)), shot_labels, fontsize=8)
    ax_r.set_ylim(-0.6, max(len(weapons), 1) - 0.4)
    ax_r.invert_yaxis()
    ax_r.tick_params(axis="y", length=0)
    ax_r.grid(axis="x", color="#ebebeb", lw=0.6)
    if not weapons:
        ax_r.set_yticks([])
        ax_r.text(
            0.5,
            0.5,
            "no shots",
            transform=ax_r.transAxes,
            ha="center",
            va="center",
            color="#777777",
            fontsize=9,
        )
    ax_r.legend(
        handles=[
            Line2D([], [], color="#555555", lw=2, label="killed its drone"),
            Line2D(
                [],
                [],
                color="#555555",
                lw=2,
                alpha=0.6,
                ls="-",
                marker="none",
                label="missed (short tick)",
            ),
        ],
        title="shots fired",
        **legend_kw,
    )

    # --- cost race
    defender = _cum(t, shot_t, shots["cost_usd"].to_numpy(float)) + _spread(
        t,
        sorties["wheels_up_s"].to_numpy(float),
        sorties["landing_s"].to_numpy(float),
        sorties["cost_usd"].to_numpy(float),
    )
    attacker = _cum(t, launch, view.drone_cost_usd)
    curves = [defender, attacker]
    if reps > 1:
        mean_def, mean_att, kept = _mean_spend(result, w, t)
        curves += [mean_def, mean_att]
    top = max(max(float(c.max(initial=0)) for c in curves), 1.0)
    scale, unit_label = (
        (1e6, "million US$")
        if top >= 1e6
        else ((1e3, "thousand US$") if top >= 1e3 else (1.0, "US$"))
    )
    ax2.plot(
        h,
        defender / scale,
        color="#1b4f72",
        lw=2.4,
        label="defender: shots + sorties",
        gid="spend-defender",
    )
    ax2.plot(
        h,
        attacker / scale,
        color="#c0392b",
        lw=2.4,
        label="attacker: drones launched",
        gid="spend-attacker",
    )
    if reps > 1:
        ax2.plot(
            h, mean_def / scale, color="#1b4f72", lw=1, ls="--", alpha=0.8, gid="mean-defender"
        )
        ax2.plot(
            h, mean_att / scale, color="#c0392b", lw=1, ls="--", alpha=0.8, gid="mean-attacker"
        )
        # The tables (and so these curves) hold the first replications only in a large run.
        mean_label = (
            f"mean of {reps:,} replications"
            if kept >= reps
            else f"mean of the first {kept:,} of {reps:,} replications"
        )
        ax2.plot([], [], color="#555555", lw=1, ls="--", label=mean_label)
    for curve, color in ((defender, "#1b4f72"), (attacker, "#c0392b")):
        ax2.annotate(
            _money(float(curve[-1])),
            (h[-1], curve[-1] / scale),
            xytext=(-4, 4),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=9.5,
            color=color,
            fontweight="bold",
            parse_math=False,
            annotation_clip=False,
        )
    ratio = defender[-1] / attacker[-1] if attacker[-1] > 0 else math.nan
    ax2.text(
        1.025,
        0.0,
        f"Replication {view.replication}:\ndefender spends\n{_times(ratio)} the attacker"
        if math.isfinite(ratio)
        else "no attacker spend",
        transform=ax2.transAxes,
        va="bottom",
        ha="left",
        fontsize=11,
        fontweight="bold",
        color="#1b4f72",
        linespacing=1.3,
        gid="ratio",
    )
    if past_horizon:
        horizon_h = scen.duration_s / 3600.0
        for ax in (ax1, ax_r, ax2):
            ax.axvspan(horizon_h, end_s / 3600.0, color="#d9d9d9", alpha=0.45, lw=0, zorder=0)
            ax.axvline(horizon_h, color="#777777", lw=0.9, ls=":", zorder=1)
        ax2.add_patch(
            Rectangle((0, 0), 0, 0, fc="#d9d9d9", alpha=0.45, lw=0, label="after the horizon:")
        )
        ax2.plot([], [], lw=0, label="sorties charged to landing")
    ax2.set_ylabel(f"cumulative spend ({unit_label})")
    ax2.set_xlabel("hours from t = 0")
    ax2.set_ylim(0, top / scale * 1.08)
    ax2.set_xlim(0, end_s / 3600.0)
    ax2.grid(color="#ebebeb", lw=0.6)
    ax2.legend(title="cost race", **legend_kw)
    if scen.start is not None:
        _clock_axis(ax1, scen.start, end_s / 3600.0)
    fig.suptitle(
        f"{scen.name}: replication {view.replication} of {reps} over time",
        x=0.09,
        y=0.975,
        ha="left",
        fontsize=15,
        fontweight="bold",
    )
    return fig


def _mean_spend(result: RunResult, world: Any, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Defender and attacker cumulative spend averaged over the replications in the tables.

    Returns the two curves and how many replications they average: the tables hold the first
    replications only in a large run (``sim.runner._MAX_TABLE_ROWS``), so both sums are divided
    by the replications they hold, not by the run's.
    """
    shots, sorties, drones = result.shots, result.sorties, result.drones
    defender = _cum(t, shots["time_s"].to_numpy(float), shots["cost_usd"].to_numpy(float))
    defender = defender + _spread(
        t,
        sorties["wheels_up_s"].to_numpy(float),
        sorties["landing_s"].to_numpy(float),
        sorties["cost_usd"].to_numpy(float),
    )
    cost_by_wave = {wave.name: wave.cost_usd for wave in world.waves}
    kept = int(drones["replication"].max()) + 1 if len(drones) else 1
    attacker = _cum(
        t, drones["launch_s"].to_numpy(float), drones["wave"].map(cost_by_wave).to_numpy(float)
    )
    return defender / kept, attacker / kept, kept


# ---------------------------------------------------------------------------------- files


def write_figures(result: RunResult, folder: Path, replication: int = 0) -> dict[str, bytes]:
    """Render ``map.png`` and ``timeline.png`` into ``folder``; return ``{file name: PNG}``."""
    out = {}
    for name, make in (("map.png", plot_map), ("timeline.png", plot_timeline)):
        fig = make(result, replication)
        png = figure_png(fig)
        fig.clear()
        (Path(folder) / name).write_bytes(png)
        out[name] = png
    return out
