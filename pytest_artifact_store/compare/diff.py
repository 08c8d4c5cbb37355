"""Backtest-aware comparison of two artifact versions (``artifact-store diff``).

A diff covers every numeric test metric (a, b, delta = b - a, relative change), the
files of the two task directories, the equity curves (final equity, largest gap, first
divergence) and the trade counts. :func:`parse_rule` and :func:`evaluate_rules` turn
``METRIC:+N%`` style bounds into a CI gate. Every metric row and every rule is judged by
the metric's direction (:mod:`~pytest_artifact_store.compare.directions`): a drawdown is
compared on its magnitude whichever sign the library gives it.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pytest_artifact_store.compare.directions import DEFAULT, Direction, Directions, judge
from pytest_artifact_store.errors import ArtifactStoreError

if TYPE_CHECKING:
    from pytest_artifact_store.store import ArtifactStore

EQUITY_FILE = "equity_curve.csv"
TRADES_FILE = "trades.csv"
_EQUITY_NAMES = ("equity", "value", "balance", "nav", "portfolio_value", "total_equity")
_TIME_NAMES = ("time", "date", "datetime", "timestamp", "ts", "day", "bar", "index")
_RULE_RE = re.compile(
    r"(?P<metric>[^:\s]+):(?P<sign>[+-])(?P<amount>\d+(?:\.\d*)?|\.\d+)(?P<pct>%?)"
)


# ---------------------------------------------------------------- numbers
def _number(value: object) -> float | None:
    """A finite float from a JSON number or a CSV field, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value.strip().replace("_", ""))
        except ValueError:
            return None
    else:
        return None
    return out if math.isfinite(out) else None


def _clean(value: float) -> float | int:
    """Drop float noise (0.1 + 0.2) so deltas print and serialise as people expect."""
    out = float(f"{value:.12g}")
    return int(out) if out.is_integer() and abs(out) < 2**53 else out


def numeric_metrics(metrics: object, prefix: str = "") -> dict[str, float]:
    """Every numeric value of ``test_metrics``; nested mappings become ``outer.inner``."""
    found: dict[str, float] = {}
    if not isinstance(metrics, Mapping):
        return found
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.update(numeric_metrics(value, name + "."))
            continue
        number = None if isinstance(value, str) else _number(value)
        if number is not None:
            found[name] = number
    return found


def _as_given(value: object) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def metric_rows(
    a_metrics: object, b_metrics: object, *, directions: Directions | None = None
) -> dict[str, dict[str, Any]]:
    """``{name: {"a", "b", "delta", "rel", "direction", "verdict"}}`` over both metrics.

    ``rel`` is the relative change ``(b - a) / |a|`` (0.1 = +10 %); None when a is 0
    or either side lacks the metric. ``direction`` is the metric's (``higher``,
    ``lower``, ``magnitude`` or None) from ``directions`` (default: the built-in
    table); ``verdict`` judges B by it: ``better``, ``worse``, ``same``, or None for a
    metric without a direction or a side.
    """
    directions = directions or DEFAULT
    a_num = numeric_metrics(a_metrics)
    b_num = numeric_metrics(b_metrics)
    rows: dict[str, dict[str, Any]] = {}
    for name in sorted(set(a_num) | set(b_num)):
        a, b = a_num.get(name), b_num.get(name)
        delta = rel = None
        if a is not None and b is not None:
            delta = _clean(b - a)
            rel = _clean((b - a) / abs(a)) if a != 0 else None
        direction = directions.of(name)
        rows[name] = {
            "a": None if a is None else _clean(a),
            "b": None if b is None else _clean(b),
            "delta": delta,
            "rel": rel,
            "direction": direction,
            "verdict": judge(direction, a, b),
        }
    return rows


# ---------------------------------------------------------------- CSV
def _rows(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8-sig", errors="replace")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:4096], delimiters=",;\t|"
        )
    except csv.Error:
        dialect = csv.excel
    return [row for row in csv.reader(io.StringIO(text), dialect) if any(f.strip() for f in row)]


def _has_header(rows: Sequence[Sequence[str]]) -> bool:
    """A first row with no number in it is a header (data rows always carry numbers)."""
    return bool(rows) and all(_number(field) is None for field in rows[0])


def count_rows(data: bytes) -> int:
    """Data rows of a CSV file (the header, when there is one, is not counted)."""
    rows = _rows(data)
    return len(rows) - 1 if _has_header(rows) else len(rows)


@dataclass(frozen=True)
class EquityCurve:
    """A parsed equity curve: labels (as written), x positions and equity values."""

    labels: list[str]
    xs: list[float]
    values: list[float]
    time_column: str | None
    equity_column: str
    dated: bool

    @property
    def final(self) -> float:
        return self.values[-1]

    def drawdowns(self) -> list[float]:
        """Drawdown from the running peak at every point, as a fraction (-0.1 = 10 % down)."""
        peak = -math.inf
        out = []
        for value in self.values:
            peak = max(peak, value)
            out.append((value - peak) / abs(peak) if peak not in (0, -math.inf) else 0.0)
        return out

    def max_drawdown(self) -> float:
        return -min(self.drawdowns(), default=0.0)


def _parse_time(text: str) -> float | None:
    """Seconds since the epoch for an ISO date or date-time, else None."""
    value = text.strip()
    if not value or value[0] not in "0123456789":
        return None
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(value.replace(" ", "T", 1) if len(value) > 10 else value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _pick_equity_column(header: Sequence[str], numeric: Sequence[bool]) -> int | None:
    names = [h.strip().lower() for h in header]
    for wanted in _EQUITY_NAMES:
        if wanted in names and numeric[names.index(wanted)]:
            return names.index(wanted)
    for i, name in enumerate(names):
        if numeric[i] and ("equity" in name or name.endswith(("_value", "_balance", "_nav"))):
            return i
    candidates = [i for i, ok in enumerate(numeric) if ok]
    return candidates[-1] if candidates else None


def _pick_time_column(header: Sequence[str], equity: int, rows: Sequence[Sequence[str]]) -> int:
    names = [h.strip().lower() for h in header]
    for wanted in _TIME_NAMES:
        if wanted in names and names.index(wanted) != equity:
            return names.index(wanted)
    if equity != 0 and rows and _parse_time(rows[0][0]) is not None:
        return 0
    return -1


def parse_equity_curve(data: bytes) -> EquityCurve | None:
    """Read an equity curve CSV; None if it holds no numeric column.

    The equity column is the one named equity/value/balance/nav (or containing
    "equity"), else the last numeric column. The time column is one named
    time/date/timestamp..., else a first column of dates; without one, the row number.
    Rows whose equity field is not a number are skipped.
    """
    rows = _rows(data)
    header: list[str] = []
    if _has_header(rows):
        header, rows = list(rows[0]), rows[1:]
    if not rows:
        return None
    width = max(len(r) for r in rows)
    header += [f"column{i + 1}" for i in range(len(header), width)]
    numeric = [
        sum(_number(r[i]) is not None for r in rows if i < len(r)) * 2 > len(rows)
        for i in range(width)
    ]
    equity = _pick_equity_column(header, numeric)
    if equity is None:
        return None
    time_col = _pick_time_column(header, equity, rows)
    labels: list[str] = []
    values: list[float] = []
    for n, row in enumerate(rows):
        value = _number(row[equity]) if equity < len(row) else None
        if value is None:
            continue
        labels.append(row[time_col].strip() if 0 <= time_col < len(row) else str(n))
        values.append(value)
    if not values:
        return None
    times = [_parse_time(label) for label in labels]
    dated = time_col >= 0 and all(t is not None for t in times)
    if dated:
        xs = [t for t in times if t is not None]
    else:
        plain = [_number(label) for label in labels] if time_col >= 0 else []
        ok = plain and all(p is not None for p in plain)
        xs = [p for p in plain if p is not None] if ok else [float(i) for i in range(len(values))]
    return EquityCurve(
        labels=labels,
        xs=xs,
        values=values,
        time_column=header[time_col] if time_col >= 0 else None,
        equity_column=header[equity],
        dated=dated,
    )


def _find_equity_name(names: Iterable[str]) -> str | None:
    names = list(names)
    if EQUITY_FILE in names:
        return EQUITY_FILE
    others = sorted(n for n in names if "equity" in n.lower() and n.lower().endswith(".csv"))
    return others[0] if others else None


def load_equity_curve(store: ArtifactStore, entry: Mapping[str, Any]) -> EquityCurve | None:
    """The version's equity curve (``equity_curve.csv``, else a ``*equity*.csv``)."""
    data = store.read_version_file(entry, EQUITY_FILE)
    if data is None:
        name = _find_equity_name(task_files(store, entry))
        data = store.read_version_file(entry, name) if name else None
    return parse_equity_curve(data) if data else None


def task_files(store: ArtifactStore, entry: Mapping[str, Any]) -> dict[str, int]:
    """{name inside the task directory: size} of a version (its metadata file excluded)."""
    task_dir = store.task_dir(str(entry["task_id"])) + "/"
    skip = store.config.metadata_filename
    return {
        path.removeprefix(task_dir): size
        for path, size in store.version_files(entry).items()
        if path.removeprefix(task_dir) != skip
    }


# ---------------------------------------------------------------- diff
def compare_curves(a: EquityCurve, b: EquityCurve) -> dict[str, Any]:
    """Final equity of each, the largest absolute gap, the first divergence, max drawdowns.

    Points are matched by time label when the curves share labels, else by position.
    ``a_max_drawdown_pct``/``b_max_drawdown_pct`` are percentages of the running peak,
    positive (25 = a fall of 25 %); ``final_verdict`` and ``max_drawdown_verdict`` judge
    B's final equity (higher is better) and max drawdown (smaller is better).
    """
    b_index = {label: i for i, label in enumerate(b.labels)}
    pairs: list[tuple[str, float, float]]
    shared = [
        (lbl, v, b_index[lbl]) for lbl, v in zip(a.labels, a.values, strict=True) if lbl in b_index
    ]
    if shared and not (a.time_column is None and b.time_column is None):
        pairs = [(lbl, v, b.values[i]) for lbl, v, i in shared]
        aligned = "time"
    else:
        pairs = [
            (str(i), va, vb) for i, (va, vb) in enumerate(zip(a.values, b.values, strict=False))
        ]
        aligned = "position"
    gap: dict[str, Any] | None = None
    first: dict[str, Any] | None = None
    for label, va, vb in pairs:
        diff = abs(vb - va)
        if first is None and diff > 1e-9 * max(1.0, abs(va), abs(vb)):
            first = {"at": label, "a": _clean(va), "b": _clean(vb)}
        if gap is None or diff > gap["value"]:
            gap = {"value": _clean(diff), "at": label, "a": _clean(va), "b": _clean(vb)}
    return {
        "a_final": _clean(a.final),
        "b_final": _clean(b.final),
        "delta_final": _clean(b.final - a.final),
        "final_verdict": judge("higher", a.final, b.final),
        "a_max_drawdown_pct": _clean(a.max_drawdown() * 100),
        "b_max_drawdown_pct": _clean(b.max_drawdown() * 100),
        "max_drawdown_verdict": judge("magnitude", a.max_drawdown(), b.max_drawdown()),
        "max_gap": gap,
        "first_divergence": first,
        "points": {"a": len(a.values), "b": len(b.values), "compared": len(pairs)},
        "aligned_by": aligned,
    }


def _summary(ref: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ref": ref,
        "correlation_id": entry.get("correlation_id"),
        "workflow_id": entry.get("workflow_id"),
        "task_id": entry.get("task_id"),
        "branch": entry.get("branch"),
        "commit_sha": entry.get("commit_sha"),
        "commit_timestamp": entry.get("commit_timestamp"),
        "tags": list(entry.get("tags", [])),
    }


def resolve(store: ArtifactStore, ref: str) -> dict[str, Any]:
    """The version ``ref`` names, or an ArtifactStoreError saying what to try."""
    entry = store.find_version(ref)
    if entry is None:
        raise ArtifactStoreError(
            f"no artifact version named {ref!r}: give a correlation id, a tag, a task "
            "branch or a commit sha (see 'artifact-store list')"
        )
    return entry


def _sums(entry: Mapping[str, Any]) -> dict[str, Any]:
    sums = entry.get("file_sha256")
    return dict(sums) if isinstance(sums, Mapping) else {}


def _file_changes(
    store: ArtifactStore, a: Mapping[str, Any], b: Mapping[str, Any]
) -> dict[str, list[str]]:
    a_files, b_files = task_files(store, a), task_files(store, b)
    a_sums = _sums(a)
    b_sums = _sums(b)
    changed = []
    for name in sorted(set(a_files) & set(b_files)):
        if a_files[name] != b_files[name]:
            changed.append(name)
        elif name in a_sums and name in b_sums:
            if a_sums[name] != b_sums[name]:
                changed.append(name)
        elif store.read_version_file(a, name) != store.read_version_file(b, name):
            changed.append(name)
    return {
        "added": sorted(set(b_files) - set(a_files)),
        "removed": sorted(set(a_files) - set(b_files)),
        "changed": changed,
    }


def _trades(store: ArtifactStore, a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    a_data = store.read_version_file(a, TRADES_FILE)
    b_data = store.read_version_file(b, TRADES_FILE)
    if a_data is None or b_data is None:
        return {}
    a_count, b_count = count_rows(a_data), count_rows(b_data)
    return {"a": a_count, "b": b_count, "delta": b_count - a_count}


def diff_versions(
    store: ArtifactStore, a_ref: str, b_ref: str, *, directions: Directions | None = None
) -> dict[str, Any]:
    """Compare version ``b_ref`` against ``a_ref`` (SPEC §10 ``diff``).

    Returns ``{"a", "b", "metrics", "files", "equity", "trades"}``; ``equity`` and
    ``trades`` are empty when either version lacks the file. ``metrics`` is
    :func:`metric_rows` judged by ``directions`` (default: the built-in table).
    """
    a, b = resolve(store, a_ref), resolve(store, b_ref)
    a_curve, b_curve = load_equity_curve(store, a), load_equity_curve(store, b)
    return {
        "a": _summary(a_ref, a),
        "b": _summary(b_ref, b),
        "metrics": metric_rows(a.get("test_metrics"), b.get("test_metrics"), directions=directions),
        "files": _file_changes(store, a, b),
        "equity": compare_curves(a_curve, b_curve) if a_curve and b_curve else {},
        "trades": _trades(store, a, b),
    }


# ---------------------------------------------------------------- gate
@dataclass(frozen=True)
class Rule:
    """``METRIC:+N%`` and friends: B may not move more than N (percent) up or down.

    For a metric whose direction is ``magnitude`` (drawdowns, losses) the bound is on the
    absolute value: ``max_drawdown_pct:+10%`` holds -33.9 -> -56.6 to a 10 % rise of 33.9.
    """

    metric: str
    sign: int
    amount: float
    percent: bool

    def __str__(self) -> str:
        return f"{self.metric}:{'+' if self.sign > 0 else '-'}{self.amount:g}" + (
            "%" if self.percent else ""
        )


def parse_rule(text: str) -> Rule:
    """Parse ``METRIC:+N%``, ``METRIC:-N%``, ``METRIC:+N`` or ``METRIC:-N``."""
    match = _RULE_RE.fullmatch(text.strip())
    if match is None:
        raise ArtifactStoreError(
            f"invalid rule {text!r}: expected METRIC:+N%, METRIC:-N%, METRIC:+N or METRIC:-N "
            "(e.g. max_drawdown:+10%)"
        )
    return Rule(
        metric=match["metric"],
        sign=1 if match["sign"] == "+" else -1,
        amount=float(match["amount"]),
        percent=bool(match["pct"]),
    )


def _fmt(value: float) -> str:
    return f"{_clean(value):,}" if isinstance(_clean(value), int) else f"{_clean(value):,.6g}"


@dataclass(frozen=True)
class Verdict:
    """One rule judged against a metric row: the numbers, the change and the outcome.

    ``a`` and ``b`` are the metric's values as reported; ``change`` is in the rule's
    unit and, for a ``magnitude`` metric, the change of the absolute value.
    """

    rule: Rule
    a: float | int | None
    b: float | int | None
    change: str  # "+12.50%", "-0.3", or "-" when it cannot be computed
    message: str | None  # why the rule is broken; None when it holds
    direction: Direction | None = None

    @property
    def holds(self) -> bool:
        return self.message is None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": str(self.rule),
            "metric": self.rule.metric,
            "a": self.a,
            "b": self.b,
            "direction": self.direction,
            "compared": "magnitude" if self.direction == "magnitude" else "value",
            "change": self.change,
            "holds": self.holds,
            "message": self.message,
        }


def evaluate_rule(
    rule: Rule,
    metrics: Mapping[str, Mapping[str, Any]],
    *,
    directions: Directions | None = None,
) -> Verdict:
    """Judge ``rule`` on the metric rows of :func:`metric_rows`.

    ``directions`` (default: the built-in table) decides how: a ``magnitude`` metric's
    bound is on its absolute value ("worsened"/"improved"), any other's on its value
    ("rose"/"fell"). A metric missing from either version breaks the rule: a gate that
    cannot be evaluated must not pass silently.
    """
    direction = (directions or DEFAULT).of(rule.metric)
    row = metrics.get(rule.metric)
    a = None if row is None else row.get("a")
    b = None if row is None else row.get("b")
    if a is None or b is None:
        where = "either version" if row is None else ("A" if a is None else "B")
        message = f"{rule.metric}: not a numeric test metric of {where} (rule {rule})"
        return Verdict(rule, a, b, "-", message, direction)
    magnitude = direction == "magnitude"
    x, y = (abs(a), abs(b)) if magnitude else (a, b)
    change = _change(rule, x, y)
    moved = (y - x) * rule.sign  # > 0: B moved in the rule's direction
    if moved <= 0:
        return Verdict(rule, a, b, change, None, direction)
    if magnitude:
        word = "worsened" if rule.sign > 0 else "improved"
    else:
        word = "rose" if rule.sign > 0 else "fell"
    if rule.percent:
        if x == 0:
            message = f"{rule.metric}: {word} from 0 to {_fmt(b)} (rule {rule})"
            return Verdict(rule, a, b, change, message, direction)
        pct = moved / abs(x) * 100
        if pct <= rule.amount + 1e-9:
            return Verdict(rule, a, b, change, None, direction)
        message = f"{rule.metric}: {word} {pct:.2f}% from {_fmt(a)} to {_fmt(b)} (rule {rule})"
        return Verdict(rule, a, b, change, message, direction)
    if moved <= rule.amount + 1e-12 * max(1.0, abs(x)):
        return Verdict(rule, a, b, change, None, direction)
    message = f"{rule.metric}: {word} by {_fmt(moved)} from {_fmt(a)} to {_fmt(b)} (rule {rule})"
    return Verdict(rule, a, b, change, message, direction)


def _change(rule: Rule, a: float, b: float) -> str:
    """The change from a to b in the rule's unit (percent or absolute)."""
    if rule.percent:
        return "-" if a == 0 else f"{(b - a) / abs(a) * 100:+.2f}%"
    delta = _clean(b - a)
    return f"{'+' if delta >= 0 else '-'}{_fmt(abs(delta))}"


def check_rule(
    rule: Rule,
    metrics: Mapping[str, Mapping[str, Any]],
    *,
    directions: Directions | None = None,
) -> str | None:
    """Why B broke the rule (one line naming the metric), or None if it holds."""
    return evaluate_rule(rule, metrics, directions=directions).message


def evaluate_rules(
    diff: Mapping[str, Any], rules: Sequence[Rule], *, directions: Directions | None = None
) -> list[Verdict]:
    """Every rule's verdict, in the order given (``directions``: see :func:`evaluate_rule`)."""
    metrics = diff.get("metrics", {})
    return [evaluate_rule(rule, metrics, directions=directions) for rule in rules]
