"""``report.html``: one self-contained page about a run.

The page holds the scenario's name and description, the run's parameters, the summary table (mean
and 95 % interval of every metric), the cost breakdown by weapon and by defender, the map and the
timeline. Images are embedded as base64 ``data:`` URIs and the style sheet is inline, so the file
can be mailed or archived alone and opens without a network. Every piece of text from the scenario
or the run is escaped (:func:`html.escape`).
"""

from __future__ import annotations

import base64
import html
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.results import RunResult

__all__ = ["METRIC_LABELS", "format_value", "report_html"]

#: Label and unit kind of every metric, in the order shown (unknown metrics follow, unlabelled).
METRIC_LABELS: dict[str, tuple[str, str]] = {
    "cost_exchange_ratio": ("cost-exchange ratio (defender / attacker)", "ratio"),
    "net_cost_exchange_ratio": (
        "net cost-exchange ratio (leakers' damage on the defender)",
        "ratio",
    ),
    "defender_cost_usd": ("defender cost", "usd"),
    "shot_cost_usd": ("  of which shots", "usd"),
    "sortie_cost_usd": ("  of which sorties", "usd"),
    "attacker_cost_usd": ("attacker cost", "usd"),
    "cost_per_kill_usd": ("defender cost per kill (per replication with a kill, averaged)", "usd"),
    "drones_launched": ("drones launched", "count"),
    "drones_crossed_border": ("crossed the border", "count"),
    "drones_detected": ("detected", "count"),
    "drones_destroyed": ("destroyed", "count"),
    "leakers": ("leakers (reached the aim point)", "count"),
    "leak_fraction": ("leak fraction", "fraction"),
    "crashed": ("crashed (fuel, EW)", "count"),
    "exited": ("left the area", "count"),
    "airborne": ("still airborne at the horizon", "count"),
    "shots_fired": ("shots fired", "count"),
    "sorties": ("fighter sorties", "count"),
    "sortie_hours": ("flight hours", "hours"),
    "mean_time_border_to_kill_s": ("time from border to kill", "seconds"),
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
margin:0;color:#1f2328;background:#f6f7f9;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:28px 32px 48px;background:#fff}
h1{font-size:1.8em;margin:0 0 .2em}h2{font-size:1.25em;margin:1.6em 0 .5em;
border-bottom:1px solid #e1e4e8;padding-bottom:.2em}
p.desc{color:#444;max-width:60em}
.headline{display:flex;gap:18px;flex-wrap:wrap;margin:18px 0}
.card{border:1px solid #d9dee3;border-radius:8px;padding:10px 16px;min-width:170px}
.card .v{font-size:1.5em;font-weight:700;color:#1b4f72}.card .l{font-size:.85em;color:#555}
.card .ci{font-size:.8em;color:#777}
table{border-collapse:collapse;font-size:.92em;margin:.3em 0 1em}
th,td{padding:4px 12px;border-bottom:1px solid #eceff2;text-align:right;white-space:nowrap}
th{background:#f3f5f7;font-weight:600}
td.l,th.l{text-align:left}td.ci{color:#6a737d;font-size:.92em}
tr.sub td.l{padding-left:28px;color:#555}
dl.params{display:grid;grid-template-columns:max-content auto;gap:2px 18px;font-size:.92em}
dl.params dt{color:#555}dl.params dd{margin:0}
figure{margin:1em 0}figure img{width:100%;height:auto;border:1px solid #e1e4e8}
figcaption{font-size:.88em;color:#555;margin-top:.3em}
footer{font-size:.8em;color:#777;margin-top:2em}code{font-size:.95em}
"""


_MAP_CAPTION = (
    "Drone tracks of one replication coloured by fate, kills by weapon, sensor cover, battery "
    "envelopes, airbases, no-fire zones and electronic-warfare areas, in the scenario's projected "
    "plane."
)
_TIMELINE_CAPTION = (
    "Drones airborne, over the territory and destroyed over time; shots by weapon; cumulative "
    "defender spend (shots when fired, sorties spread over their flight) against attacker spend "
    "(drones at launch)."
)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def format_value(kind: str, value: float | None) -> str:
    """A metric value as shown in the report (``–`` for a missing value)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    v = float(value)
    if kind == "usd":
        return f"${v:,.0f}"
    if kind == "fraction":
        return f"{v:.1%}"
    if kind == "seconds":
        return f"{v:,.0f} s ({v / 60:,.1f} min)"
    return f"{v:,.2f}"


def _interval(kind: str, ci: list[Any]) -> str:
    lo, hi = (ci or [None, None])[:2]
    if lo is None or hi is None:
        return "–"
    return f"{format_value(kind, lo)} – {format_value(kind, hi)}"


def _metrics_table(metrics: dict[str, Any]) -> str:
    names = [n for n in METRIC_LABELS if n in metrics] + [
        n for n in metrics if n not in METRIC_LABELS
    ]
    rows = []
    for name in names:
        label, kind = METRIC_LABELS.get(name, (name, "count"))
        m = metrics[name]
        sub = ' class="sub"' if label.startswith("  ") else ""
        rows.append(
            f'<tr{sub}><td class=l title="{_e(name)}">{_e(label.strip())}</td>'
            f"<td>{_e(format_value(kind, m.get('mean')))}</td>"
            f"<td class=ci>{_e(_interval(kind, m.get('ci95')))}</td></tr>"
        )
    return (
        "<table><thead><tr><th class=l>metric (per replication)</th><th>mean</th>"
        "<th>95 % interval</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _group_table(result: RunResult, group: str) -> str:
    """Shots, kills and cost per weapon or defender (means per replication, with intervals)."""
    scen = result.scenario
    table = result.summary.get(f"by_{group}", {})
    if not table:
        return "<p>None.</p>"
    if group == "weapon":
        head = ["weapon", "cost per shot", "Pk", "shots", "kills", "cost"]
        keys = ["shots", "kills", "cost_usd"]
    else:
        head = ["defender", "kind", "shots", "kills", "sorties", "flight hours", "cost"]
        keys = ["shots", "kills", "sorties", "sortie_hours", "cost_usd"]
    kinds = {"cost_usd": "usd"}
    defenders = {d.name: d for d in scen.defenders}
    rows = []
    for name, v in table.items():
        if group == "weapon":
            w = scen.weapons.get(name)
            lead = [
                f"<td class=l>{_e(name)}</td>",
                f"<td>{_e(format_value('usd', w.cost_usd)) if w else '–'}</td>",
                f"<td>{_e(f'{w.pk:.2f}') if w else '–'}</td>",
            ]
        else:
            d = defenders.get(name)
            if d is None:
                what = ""
            elif getattr(d, "kind", "") == "battery":
                what = f"battery: {d.weapon}"  # type: ignore[union-attr]
            else:
                what = f"airbase: {d.aircraft}× {d.platform}"  # type: ignore[union-attr]
            lead = [f"<td class=l>{_e(name)}</td>", f"<td class=l>{_e(what)}</td>"]
        cells = []
        for key in keys:
            entry = v.get(key, {})
            kind = kinds.get(key, "count")
            cells.append(
                f"<td>{_e(format_value(kind, entry.get('mean')))}"
                f"<br><span class=ci>{_e(_interval(kind, entry.get('ci95')))}</span></td>"
            )
        rows.append("<tr>" + "".join(lead + cells) + "</tr>")
    ths = "".join(
        f"<th{' class=l' if i < (1 if group == 'weapon' else 2) else ''}>{_e(h)}</th>"
        for i, h in enumerate(head)
    )
    return (
        f"<table><thead><tr>{ths}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        "<p class=desc><small>Means per replication; below each, its 95 % interval. "
        + (
            "A defender's cost is its shots plus its sorties' flight hours."
            if group == "defender"
            else "Every shot is charged, hit or miss."
        )
        + "</small></p>"
    )


def _plural(n: Any, word: str) -> str:
    """'1 shot', '2 shots', '2,000 replications'."""
    if not isinstance(n, int):
        return f"{n} {word}s"
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _intervals_note(summary: dict[str, Any]) -> str:
    """How the 95 % intervals were computed, as sim/metrics.py does it for this engine."""
    if "clusters" in summary:
        return (
            "Means and 95 % intervals are over replications; the vectorised engine's "
            "replications share track pools within a cluster, so the intervals are "
            "cluster-robust: a cluster bootstrap (expanded percentile) for the cost ratios, a "
            "linearised cluster t interval for the other metrics."
        )
    return (
        "Means and 95 % intervals are over replications; the cost ratios use a seeded bootstrap "
        "(expanded percentile), the other metrics Student-t intervals."
    )


def _doctrine(result: RunResult) -> str:
    d = result.scenario.doctrine
    return (
        f"assignment {d.assignment}, at most {_plural(d.max_shots_per_target, 'shot')} per target, "
        f"{'shoot-look-shoot' if d.shoot_look_shoot else 'salvo'}, "
        f"{'shots over the territory only' if d.engage_only_inside_border else 'shots anywhere'}"
    )


def _img(png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(alt)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def report_html(
    result: RunResult,
    *,
    map_png: bytes,
    timeline_png: bytes,
    replication: int = 0,
    package_version: str = "",
    files: list[str] | None = None,
) -> str:
    """The report page as a string.

    Parameters
    ----------
    result : RunResult
    map_png, timeline_png : bytes
        The two pictures (PNG), embedded as data URIs.
    replication : int
        The replication the pictures show.
    package_version : str
        Written among the run parameters.
    files : list of str, optional
        The run folder's other files, listed (as relative links) at the end.
    """
    scen = result.scenario
    s = result.summary
    metrics = s.get("metrics", {})
    head = []
    for name in ("cost_exchange_ratio", "defender_cost_usd", "attacker_cost_usd", "leakers"):
        if name in metrics:
            label, kind = METRIC_LABELS[name]
            m = metrics[name]
            head.append(
                f"<div class=card><div class=l>{_e(label)}</div><div class=v>"
                f"{_e(format_value(kind, m.get('mean')))}</div><div class=ci>95 %: "
                f"{_e(_interval(kind, m.get('ci95')))}</div></div>"
            )
    from sim.results import stop_in_words

    params = [
        ("scenario", scen.name),
        ("seed", s.get("seed", result.seed)),
        ("replications", s.get("replications")),
        ("engine", s.get("engine", result.engine)),
        ("package version", f"incursion {package_version}" if package_version else "–"),
        ("horizon", f"{scen.duration_h:g} h"),
        ("t = 0", scen.start.isoformat() if scen.start is not None else "not set"),
        ("drones per replication", scen.total_drones),
        ("defenders", len(scen.defenders)),
        ("sensors", len(scen.sensors)),
        ("doctrine", _doctrine(result)),
        ("stopped by", stop_in_words(result.stop_reason)),
    ]
    if "clusters" in s:  # the vectorised engine: replications drawn by cluster
        params.insert(
            4,
            (
                "clusters",
                f"{s['clusters']:,} (templates per drone: {s.get('templates_per_drone', '–')})",
            ),
        )
    if result.wall_s:
        params.append(("run time", f"{result.wall_s:,.1f} s"))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in params)
    file_list = ""
    if files:
        items = "".join(f'<li><a href="{_e(f)}"><code>{_e(f)}</code></a></li>' for f in files)
        file_list = f"<h2>Files in this run folder</h2><ul>{items}</ul>"
    reps = s.get("replications", result.replications)
    desc = f"<p class=desc>{_e(scen.description)}</p>" if scen.description else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(scen.name)}: incursion run report</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>{_e(scen.name)}</h1>
{desc}
<div class=headline>{"".join(head)}</div>
<h2>Run</h2>
<dl class=params>{dl}</dl>
<h2>Summary over {_e(_plural(reps, "replication"))}</h2>
{_metrics_table(metrics)}
<h2>Cost by weapon</h2>
{_group_table(result, "weapon")}
<h2>Cost by defender</h2>
{_group_table(result, "defender")}
<h2>Map: replication {_e(replication)}</h2>
{_img(map_png, f"map of replication {replication}", _MAP_CAPTION)}
<h2>Timeline: replication {_e(replication)}</h2>
{_img(timeline_png, f"timeline of replication {replication}", _TIMELINE_CAPTION)}
{file_list}
<footer>Written by incursion {_e(package_version)}. {_e(_intervals_note(s))}
Times in seconds from t = 0; costs in US dollars.</footer>
</main>
</body>
</html>
"""
