"""``artifact-store report``: one self-contained HTML page of artifact versions.

No network and no script: inline CSS, and per task an inline SVG chart of its
versions' equity curves overlaid, with each curve's drawdown (the fall from its running
peak) drawn beneath. Every version has an anchor; the chart legend, the version
tables and the "previous/next" cells link to one another.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pytest_artifact_store.compare.diff import EquityCurve, load_equity_curve, numeric_metrics
from pytest_artifact_store.compare.directions import DEFAULT, Directions

if TYPE_CHECKING:
    from pytest_artifact_store.store import ArtifactStore

PALETTE = (
    "#2563eb",
    "#dc2626",
    "#059669",
    "#d97706",
    "#7c3aed",
    "#db2777",
    "#0891b2",
    "#65a30d",
)
MAX_CURVES = len(PALETTE)
MAX_POINTS = 1200
# About the run, not the strategy: shown after every other metric.
RUN_METRICS = ("duration_seconds",)
KEY_METRICS = (
    "net_pnl",
    "sharpe",
    "sharpe_ratio",
    "max_drawdown_pct",
    "max_drawdown",
    "total_return_pct",
    "total_return",
    "win_rate",
    "total_trades",
    "final_equity",
    # backtesting.py's names (record_backtest)
    "return_pct",
    "win_rate_pct",
    "num_trades",
    "equity_final",
)

# Chart geometry (SVG user units; the SVG scales to the page width).
_W, _LEFT, _RIGHT = 960, 70, 30
_EQ_TOP, _EQ_BOTTOM = 26, 276
_DD_TOP, _DD_BOTTOM = 314, 404
_H = 432

CSS = """
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --bg:#f8fafc; --card:#fff;
  --up:#047857; --down:#b91c1c; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
header { background:#0f172a; color:#f8fafc; padding:22px 32px 18px; }
header h1 { margin:0 0 4px; font-size:22px; font-weight:650; letter-spacing:-.01em; }
header p { margin:0; color:#cbd5e1; }
header nav { margin-top:12px; display:flex; flex-wrap:wrap; gap:8px; }
header nav a { color:#e2e8f0; background:#1e293b; border-radius:999px; padding:3px 12px;
  text-decoration:none; font-size:13px; }
header nav a:hover { background:#334155; }
main { max-width:1180px; margin:0 auto; padding:24px 32px 48px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding:18px 22px; margin-bottom:24px; box-shadow:0 1px 2px rgb(15 23 42 / 5%); }
h2 { margin:0 0 12px; font-size:17px; }
h2 small { color:var(--muted); font-weight:400; font-size:13px; margin-left:8px; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; font-size:13px; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line);
  white-space:nowrap; vertical-align:top; }
th { color:var(--muted); font-weight:600; font-size:12px; white-space:normal;
  vertical-align:bottom; max-width:9em; }
td.num, th.num { text-align:right; }
tr:target td { background:#fef9c3; }
tbody tr:hover td { background:#f1f5f9; }
.scroll { overflow-x:auto; }
a { color:#1d4ed8; text-decoration:none; }
a:hover { text-decoration:underline; }
code, .sha { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12.5px; }
.muted { color:var(--muted); }
.swatch { display:inline-block; width:12px; height:12px; border-radius:3px;
  margin-right:6px; vertical-align:-1px; }
.delta { display:block; font-size:11.5px; color:var(--ink); }
.delta.better { color:var(--up); } .delta.worse { color:var(--down); }
.delta.same { color:var(--muted); }
.tags { display:block; color:var(--muted); font-size:11.5px; margin-left:18px; }
.badge { display:inline-block; font-size:11px; padding:0 6px; border-radius:4px;
  background:#e2e8f0; color:#334155; margin-left:6px; }
figure { margin:0 0 14px; }
figure svg { width:100%; height:auto; display:block; }
figcaption { color:var(--muted); font-size:12.5px; margin-top:4px; }
.legend { display:flex; flex-wrap:wrap; gap:6px 16px; margin:4px 0 10px; font-size:13px; }
.legend a { color:var(--ink); }
.empty { color:var(--muted); padding:18px 0; }
footer { color:var(--muted); font-size:12px; text-align:center; padding-bottom:24px; }
"""


@dataclass(frozen=True)
class Report:
    """The page and what it covers."""

    html: str
    versions: int
    tasks: int


@dataclass
class _Version:
    """A version as the report draws it: its entry, anchor, label, curve, colour."""

    entry: dict[str, Any]
    anchor: str
    label: str
    curve: EquityCurve | None = None
    color: str | None = None


def build_report(
    store: ArtifactStore,
    workflow_id: str | None = None,
    *,
    archived: bool = False,
    title: str | None = None,
    directions: Directions | None = None,
) -> Report:
    """The HTML page for every version (of ``workflow_id``), newest first.

    A metric's change from the previous version is coloured by its direction
    (``directions``, default: the built-in table): green better, red worse, plain
    for a metric without a direction.
    """
    entries = store.list_artifacts(workflow_id, limit=None, archived=archived)
    versions = [_Version(e, _anchor(e), _label(e)) for e in entries]
    tasks: dict[tuple[str, str], list[_Version]] = {}
    for v in versions:
        tasks.setdefault((str(v.entry["workflow_id"]), str(v.entry["task_id"])), []).append(v)
    for group in tasks.values():
        for i, v in enumerate(group[:MAX_CURVES]):
            v.curve = load_equity_curve(store, v.entry)
            v.color = PALETTE[i]
    by_sha = {str(v.entry["commit_sha"]): v for v in versions}
    name = title or f"Backtest artifacts — {store.repo.cwd.name}"
    scope = f"workflow {workflow_id}" if workflow_id else "all workflows"
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(
        f'<a href="#{_task_anchor(wf, task)}">{_e(wf)}/{_e(task)}</a>' for wf, task in tasks
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(name)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{_e(name)}</h1>",
        f"<p>{len(versions)} version{'s' if len(versions) != 1 else ''} in "
        f"{len(tasks)} task{'s' if len(tasks) != 1 else ''} · {_e(scope)} · generated {now}</p>",
        f"<nav>{nav}</nav></header><main>",
        _overview(versions),
    ]
    for (wf, task), group in tasks.items():
        parts.append(_task_section(wf, task, group, by_sha, directions or DEFAULT))
    parts.append(
        "</main><footer>Made by <code>artifact-store report</code> · pytest-artifact-store"
        "</footer></body></html>\n"
    )
    return Report("\n".join(parts), len(versions), len(tasks))


# ---------------------------------------------------------------- helpers
def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _head(name: str) -> str:
    """A column heading that may wrap after its underscores."""
    return _e(name).replace("_", "_<wbr>")


def _anchor(entry: Mapping[str, Any]) -> str:
    return "v-" + str(entry.get("correlation_id") or str(entry["commit_sha"])[:12])


def _label(entry: Mapping[str, Any]) -> str:
    return str(entry.get("correlation_id") or str(entry["commit_sha"])[:10])


def _task_anchor(workflow_id: str, task_id: str) -> str:
    return f"task-{workflow_id}--{task_id}"


def _num(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    magnitude = abs(value)
    digits = 2 if magnitude >= 100 else 4 if magnitude >= 1 else 5
    text = f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def _when(entry: Mapping[str, Any]) -> str:
    stamp = str(entry.get("commit_timestamp") or "")
    return stamp[:16].replace("T", " ") if len(stamp) >= 16 else stamp


def _metric_names(versions: Sequence[_Version], limit: int | None = None) -> list[str]:
    seen: dict[str, None] = {}
    for v in versions:
        for name in numeric_metrics(v.entry.get("test_metrics")):
            seen.setdefault(name, None)
    keyed = [m for m in KEY_METRICS if m in seen]
    rest = [m for m in seen if m not in keyed and m not in RUN_METRICS]
    names = keyed + rest + [m for m in RUN_METRICS if m in seen]  # wall time: last
    return names if limit is None else names[:limit]


def _delta_cell(name: str, value: float, before: float | None, directions: Directions) -> str:
    """The change from the previous version, its class the verdict: better/worse/neutral."""
    if before is None:
        return ""
    change = value - before
    if abs(change) <= 1e-12 * max(1.0, abs(before), abs(value)):
        return '<span class="delta same">±0</span>'
    verdict = directions.judge(name, before, value)
    sign = "+" if change > 0 else "−"
    absolute = f"{sign}{_num(abs(change))}"
    shown = f"{sign}{abs(change) / abs(before) * 100:.1f}%" if before else absolute
    title = f"{absolute} vs the previous version" + (f": {verdict}" if verdict else "")
    return f'<span class="delta {verdict or "neutral"}" title="{title}">{shown}</span>'


# ---------------------------------------------------------------- overview
def _overview(versions: Sequence[_Version]) -> str:
    if not versions:
        return '<section><h2>Versions</h2><p class="empty">No artifact versions yet.</p></section>'
    names = _metric_names(versions, limit=5)
    head = "".join(f'<th class="num">{_head(n)}</th>' for n in names)
    rows = []
    for v in versions:
        metrics = numeric_metrics(v.entry.get("test_metrics"))
        cells = "".join(
            f'<td class="num">{_num(metrics[n]) if n in metrics else "—"}</td>' for n in names
        )
        wf, task = str(v.entry["workflow_id"]), str(v.entry["task_id"])
        archived = '<span class="badge">archived</span>' if v.entry.get("archived") else ""
        rows.append(
            f'<tr><td><a href="#{_e(v.anchor)}">{_e(v.label)}</a>{archived}</td>'
            f'<td><a href="#{_e(_task_anchor(wf, task))}">{_e(wf)}/{_e(task)}</a></td>'
            f"<td>{_e(_when(v.entry))}</td>{cells}"
            f'<td class="sha">{_e(str(v.entry["commit_sha"])[:10])}</td></tr>'
        )
    return (
        f'<section id="versions"><h2>Versions<small>newest first</small></h2>'
        f'<div class="scroll"><table><thead><tr><th>Version</th><th>Task</th>'
        f"<th>Created (UTC)</th>{head}<th>Commit</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


# ---------------------------------------------------------------- per task
def _task_section(
    workflow_id: str,
    task_id: str,
    group: Sequence[_Version],
    by_sha: Mapping[str, _Version],
    directions: Directions,
) -> str:
    plotted = [v for v in group if v.curve is not None]
    count = f"{len(group)} version{'s' if len(group) != 1 else ''}"
    parts = [
        f'<section class="task" id="{_e(_task_anchor(workflow_id, task_id))}">',
        f"<h2>{_e(workflow_id)} / {_e(task_id)}<small>{count} · "
        f"<code>{_e(group[0].entry.get('branch', ''))}</code></small></h2>",
    ]
    if plotted:
        legend = "".join(
            f'<a href="#{_e(v.anchor)}"><span class="swatch" style="background:{v.color}">'
            f"</span>{_e(v.label)}</a>"
            for v in plotted
        )
        shown = (
            f"the newest {MAX_CURVES} of {len(group)} versions"
            if len(group) > MAX_CURVES
            else "each version"
        )
        parts.append(
            f'<div class="legend">{legend}</div><figure>{_chart(plotted)}'
            f"<figcaption>Equity of {shown} (top; the newest drawn boldest) and its drawdown "
            "from the running peak (bottom).</figcaption></figure>"
        )
    else:
        parts.append('<p class="empty">No equity curve in these versions.</p>')
    parts.append(_task_table(group, by_sha, directions))
    parts.append("</section>")
    return "\n".join(parts)


def _task_table(
    group: Sequence[_Version], by_sha: Mapping[str, _Version], directions: Directions
) -> str:
    names = _metric_names(group)
    head = "".join(f'<th class="num">{_head(n)}</th>' for n in names)
    rows = []
    for i, v in enumerate(group):
        older = group[i + 1] if i + 1 < len(group) else None
        newer = group[i - 1] if i > 0 else None
        base = by_sha.get(str(v.entry.get("base_commit") or ""))
        metrics = numeric_metrics(v.entry.get("test_metrics"))
        before = numeric_metrics(older.entry.get("test_metrics")) if older else {}
        cells = "".join(
            f'<td class="num">{_num(metrics[n])}'
            f"{_delta_cell(n, metrics[n], before.get(n), directions)}</td>"
            if n in metrics
            else '<td class="num muted">—</td>'
            for n in names
        )
        swatch = f'<span class="swatch" style="background:{v.color}"></span>' if v.curve else ""
        tags = " ".join(_e(t) for t in v.entry.get("tags", []) if t != v.label)
        if v.entry.get("archived"):
            tags += '<span class="badge">archived</span>'
        tags = f'<span class="tags">{tags}</span>' if tags else ""
        links = "<br>".join(
            link
            for link in (
                f'<a href="#{_e(older.anchor)}">← {_e(older.label)}</a>' if older else "",
                f'<a href="#{_e(newer.anchor)}">{_e(newer.label)} →</a>' if newer else "",
                f'based on <a href="#{_e(base.anchor)}">{_e(base.label)}</a>'
                if base is not None and base is not older
                else "",
            )
            if link
        )
        files = v.entry.get("files")
        rows.append(
            f'<tr id="{_e(v.anchor)}"><td>{swatch}<strong>{_e(v.label)}</strong>{tags}</td>'
            f"<td>{_e(_when(v.entry))}</td>{cells}"
            f'<td class="num">{len(files) if isinstance(files, list) else "—"}</td>'
            f'<td class="sha">{_e(str(v.entry["commit_sha"])[:10])}</td>'
            f"<td>{links or '<span class=muted>—</span>'}</td></tr>"
        )
    return (
        '<div class="scroll"><table><thead><tr><th>Version</th><th>Created (UTC)</th>'
        f'{head}<th class="num">Files</th><th>Commit</th><th>Older / newer</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


# ---------------------------------------------------------------- chart
def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if not high > low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * step:
            step *= factor
            break
    first = math.ceil(low / step - 1e-9) * step
    out = []
    value = first
    while value <= high + step * 1e-9:
        out.append(round(value, 10))
        value += step
    return out


def _thin(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float]]:
    """At most ~MAX_POINTS points, keeping each bucket's low and high (drawdowns survive)."""
    points = list(zip(xs, ys, strict=True))
    if len(points) <= MAX_POINTS:
        return points
    size = math.ceil(len(points) / (MAX_POINTS / 2))
    out: list[tuple[float, float]] = []
    for start in range(0, len(points), size):
        bucket = points[start : start + size]
        low = min(bucket, key=lambda p: p[1])
        high = max(bucket, key=lambda p: p[1])
        out.extend(sorted({low, high}, key=lambda p: p[0]))
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out


def _x_label(value: float, dated: bool, span: float) -> str:
    if not dated:
        return _num(value)
    when = datetime.fromtimestamp(value, timezone.utc)
    if span > 60 * _DAY:
        return when.strftime("%Y" if when.month == 1 and span > 3 * 365 * _DAY else "%b %Y")
    return when.strftime("%Y-%m-%d %H:%M" if span < 3 * _DAY else "%Y-%m-%d")


def _chart(versions: Sequence[_Version]) -> str:
    curves = [v.curve for v in versions if v.curve is not None]
    dated = all(c.dated for c in curves)
    series = []
    for v in versions:
        assert v.curve is not None
        xs = v.curve.xs if dated else [float(i) for i in range(len(v.curve.values))]
        series.append((v, xs, v.curve.values, [d * 100 for d in v.curve.drawdowns()]))
    x_low = min(min(xs) for _, xs, _, _ in series)
    x_high = max(max(xs) for _, xs, _, _ in series)
    if x_high <= x_low:
        x_high = x_low + 1
    y_low = min(min(ys) for _, _, ys, _ in series)
    y_high = max(max(ys) for _, _, ys, _ in series)
    pad = (y_high - y_low) * 0.06 or max(abs(y_high) * 0.01, 1.0)
    y_low, y_high = y_low - pad, y_high + pad
    dd_low = min(min(dd) for _, _, _, dd in series)
    dd_low = min(dd_low * 1.08, -1.0)

    def sx(x: float) -> float:
        return _LEFT + (x - x_low) / (x_high - x_low) * (_W - _LEFT - _RIGHT)

    def sy(y: float) -> float:
        return _EQ_BOTTOM - (y - y_low) / (y_high - y_low) * (_EQ_BOTTOM - _EQ_TOP)

    def sdd(d: float) -> float:
        return _DD_TOP + d / dd_low * (_DD_BOTTOM - _DD_TOP)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="Equity curves and drawdowns" font-size="11" '
        f'font-family="system-ui, sans-serif">',
        f'<rect x="{_LEFT}" y="{_EQ_TOP}" width="{_W - _LEFT - _RIGHT}" '
        f'height="{_EQ_BOTTOM - _EQ_TOP}" fill="#fcfdfe" stroke="#e2e8f0"/>',
        f'<rect x="{_LEFT}" y="{_DD_TOP}" width="{_W - _LEFT - _RIGHT}" '
        f'height="{_DD_BOTTOM - _DD_TOP}" fill="#fffbfb" stroke="#e2e8f0"/>',
    ]
    for tick in _ticks(y_low, y_high):
        y = sy(tick)
        out.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef2f7"/>'
            f'<text x="{_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#64748b">'
            f"{_e(_num(tick))}</text>"
        )
    for tick in _ticks(dd_low, 0, 3):
        y = sdd(tick)
        out.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#f3e8e8"/>'
            f'<text x="{_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#64748b">'
            f"{_e(_num(tick))}%</text>"
        )
    span = x_high - x_low
    for tick in _x_ticks(x_low, x_high, dated):
        x = sx(tick)
        anchor = "end" if x > _W - _RIGHT - 40 else "middle"
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_EQ_TOP}" y2="{_DD_BOTTOM}" stroke="#f1f5f9"/>'
            f'<text x="{x:.1f}" y="{_DD_BOTTOM + 18}" text-anchor="{anchor}" fill="#64748b">'
            f"{_e(_x_label(tick, dated, span))}</text>"
        )
    out.append(
        f'<text x="{_LEFT}" y="{_EQ_TOP - 9}" fill="#334155" font-weight="600">Equity</text>'
        f'<text x="{_LEFT}" y="{_DD_TOP - 9}" fill="#334155" font-weight="600">'
        "Drawdown from peak</text>"
    )
    # Oldest first so the newest version is drawn on top.
    for rank, (v, xs, ys, dd) in reversed(list(enumerate(series))):
        width = 2.4 if rank == 0 else 1.5
        opacity = 1 if rank == 0 else 0.8
        eq_points = _thin(xs, ys)
        dd_points = _thin(xs, dd)
        eq_path = "M" + " L".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in eq_points)
        dd_line = " L".join(f"{sx(x):.1f},{sdd(d):.1f}" for x, d in dd_points)
        first_x, last_x = sx(dd_points[0][0]), sx(dd_points[-1][0])
        dd_area = f"M{first_x:.1f},{_DD_TOP} L{dd_line} L{last_x:.1f},{_DD_TOP} Z"
        label = _e(v.label)
        tip = f"{label}: final {_num(ys[-1])}, max drawdown {_num(-min(dd))}%" if dd else label
        out.append(
            f'<g class="series" data-version="{label}"><title>{tip}</title>'
            + (
                f'<path class="drawdown-area" d="{dd_area}" fill="{v.color}" '
                'fill-opacity="0.18" stroke="none"/>'
                if rank == 0
                else ""
            )
            + f'<path class="drawdown" d="M{dd_line}" fill="none" stroke="{v.color}" '
            f'stroke-width="{width - 0.4:.1f}" stroke-opacity="{opacity}" '
            'stroke-linejoin="round"/>'
            f'<path class="equity" d="{eq_path}" fill="none" stroke="{v.color}" '
            f'stroke-width="{width}" stroke-opacity="{opacity}" stroke-linejoin="round" '
            'stroke-linecap="round"/></g>'
        )
    out.append(
        f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{_DD_TOP}" y2="{_DD_TOP}" stroke="#94a3b8"/>'
    )
    out.append("</svg>")
    return "".join(out)


_DAY = 86400
_TIME_STEPS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, _DAY, 2 * _DAY, 7 * _DAY)


def _x_ticks(low: float, high: float, dated: bool) -> list[float]:
    if not dated:
        return [t for t in _ticks(low, high, 6) if t == int(t)]
    span = high - low
    if span > 60 * _DAY:
        return _month_ticks(low, high)
    step = next((s for s in _TIME_STEPS if span / s <= 7), 14 * _DAY)
    first = math.ceil(low / step) * step
    return [float(t) for t in range(int(first), int(high) + 1, step)]


def _month_ticks(low: float, high: float) -> list[float]:
    """First days of months (every 1, 2, 3, 6 or 12 months) between two times."""
    start = datetime.fromtimestamp(low, timezone.utc)
    end = datetime.fromtimestamp(high, timezone.utc)
    months = (end.year - start.year) * 12 + end.month - start.month
    every = next((k for k in (1, 2, 3, 6, 12) if months / k <= 8), 12 * math.ceil(months / 96))
    ticks: list[float] = []
    year, month = start.year, start.month
    while True:
        when = datetime(year, month, 1, tzinfo=timezone.utc)
        if when.timestamp() > high:
            return ticks
        if when.timestamp() >= low and (month - 1) % every == 0 and year % max(1, every // 12) == 0:
            ticks.append(when.timestamp())
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
