"""The regression gate: a new run's metrics against a baseline version, rule by rule.

The same rules and verdicts as ``artifact-store diff --fail-on`` (one implementation:
:mod:`~pytest_artifact_store.compare.diff`); this module adds what a session needs: the
table for the terminal summary and the record kept in the new version's metadata.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_artifact_store.compare.diff import Rule, Verdict, evaluate_rule, metric_rows
from pytest_artifact_store.compare.directions import Directions
from pytest_artifact_store.compare.text import fmt_number, table


@dataclass(frozen=True)
class Judged:
    """One rule's outcome in a session: ``ok``, ``failed``, or ``skipped`` (the baseline
    predates the metric: the run that first records it cannot be held to it)."""

    verdict: Verdict
    status: str
    message: str | None

    def to_json(self) -> dict[str, Any]:
        return {**self.verdict.to_json(), "status": self.status, "message": self.message}


@dataclass(frozen=True)
class GateResult:
    """The baseline a run was judged against, every metric's change and each rule's outcome."""

    baseline: Mapping[str, Any]  # the baseline version's entry
    ref: str
    rows: dict[str, dict[str, Any]]
    judged: list[Judged]

    @property
    def broken(self) -> list[Judged]:
        return [j for j in self.judged if j.status == "failed"]

    @property
    def notes(self) -> list[str]:
        return [j.message for j in self.judged if j.status == "skipped" and j.message]

    def table(self) -> list[str]:
        """metric, baseline, new, change, rule, verdict: one line per rule."""
        rows = [
            [
                j.verdict.rule.metric,
                "missing" if j.verdict.a is None else fmt_number(j.verdict.a),
                "missing" if j.verdict.b is None else fmt_number(j.verdict.b),
                j.verdict.change,
                str(j.verdict.rule),
                {"ok": "ok", "failed": "FAILED", "skipped": "skipped"}[j.status],
            ]
            for j in self.judged
        ]
        header = ["metric", "baseline", "new", "change", "rule", "verdict"]
        return table(header, rows, right={1, 2, 3})

    def record(self) -> dict[str, Any]:
        """What the new version's metadata keeps under ``baseline``."""
        return {
            "ref": self.ref,
            "correlation_id": self.baseline.get("correlation_id"),
            "commit_sha": self.baseline.get("commit_sha"),
            "deltas": {
                name: {
                    "baseline": row["a"],
                    "new": row["b"],
                    "delta": row["delta"],
                    "rel": row["rel"],
                    "verdict": row.get("verdict"),
                }
                for name, row in self.rows.items()
                if row["a"] is not None and row["b"] is not None
            },
            "rules": [j.to_json() for j in self.judged],
        }


def judge(
    baseline: Mapping[str, Any],
    ref: str,
    metrics: Mapping[str, Any],
    rules: Sequence[Rule],
    directions: Directions | None = None,
) -> GateResult:
    """Judge ``metrics`` (a run's ``test_metrics``) against the ``baseline`` entry's."""
    rows = metric_rows(baseline.get("test_metrics"), metrics, directions=directions)
    judged = [
        _judged(evaluate_rule(rule, rows, directions=directions), baseline, rows) for rule in rules
    ]
    return GateResult(baseline, ref, rows, judged)


def _judged(
    verdict: Verdict, baseline: Mapping[str, Any], rows: Mapping[str, Mapping[str, Any]]
) -> Judged:
    """A metric this run lacks fails the rule; one the baseline lacks skips it, said aloud."""
    if verdict.a is not None and verdict.b is not None:
        return Judged(verdict, "ok" if verdict.holds else "failed", verdict.message)
    name, rule = verdict.rule.metric, verdict.rule
    if verdict.b is None:
        recorded = sorted(n for n, row in rows.items() if row["b"] is not None)
        close = difflib.get_close_matches(name, recorded, n=1, cutoff=0.5)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else f"it recorded: {', '.join(recorded) or 'none'}"
        )
        message = (
            f"{name}: this run recorded no numeric metric {name!r}, so rule {rule} fails ({hint})"
        )
        return Judged(verdict, "failed", message)
    label = baseline.get("correlation_id") or str(baseline.get("commit_sha", ""))[:10]
    message = (
        f"{name}: the baseline {label} has no numeric metric {name!r}; rule {rule} "
        "is checked from the next version on"
    )
    return Judged(verdict, "skipped", message)
