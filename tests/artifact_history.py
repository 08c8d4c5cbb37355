"""A repository with several backtest versions, made through the library, at set times.

Shared by test_cli.py, test_compare.py and test_report.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig
from pytest_artifact_store.store import commit as store_module  # where versions are stamped

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
PROMPT = "abcdef012345"


def equity_csv(values: list[float], start: str = "2024-01-02") -> str:
    day = datetime.fromisoformat(start)
    rows = ["date,equity"]
    for value in values:
        rows.append(f"{day:%Y-%m-%d},{value:.2f}")
        day += timedelta(days=1)
    return "\n".join(rows) + "\n"


def trades_csv(pnls: list[float]) -> str:
    rows = ["entry_date,exit_date,side,qty,pnl"]
    rows += [f"2024-01-0{i + 2},2024-01-0{i + 3},buy,1,{p:.2f}" for i, p in enumerate(pnls)]
    return "\n".join(rows) + "\n"


# name -> (workflow, task, days after T0, metrics, files)
VERSIONS: dict[str, tuple[str, str, int, dict[str, Any], dict[str, str]]] = {
    "v1": (
        "momentum",
        "rsi",
        0,
        {"net_pnl": 1000.0, "max_drawdown_pct": 10.0, "sharpe": 0.8, "total_trades": 3},
        {
            "strategy.py": "PERIOD = 14\n",
            "equity_curve.csv": equity_csv([10000, 10100, 10050, 10200, 11000]),
            "trades.csv": trades_csv([400, -100, 700]),
            "events.log": "START\nEND\n",
        },
    ),
    "v2": (
        "momentum",
        "rsi",
        1,
        {"net_pnl": 1200.5, "max_drawdown_pct": 12.0, "sharpe": 0.9, "total_trades": 4},
        {
            "strategy.py": "PERIOD = 7\n",
            "equity_curve.csv": equity_csv([10000, 10100, 10150, 9900, 11200.5]),
            "trades.csv": trades_csv([400, 50, -250, 1000.5]),
            "notes.md": "shorter period\n",
        },
    ),
    "b1": (
        "momentum",
        "breakout",
        2,
        {"net_pnl": -250.0, "max_drawdown_pct": 7.5, "sharpe": -0.2, "total_trades": 2},
        {
            "strategy.py": "LOOKBACK = 20\n",
            "equity_curve.csv": equity_csv([10000, 9800, 9750, 9900, 9750]),
            "trades.csv": trades_csv([-100, -150]),
        },
    ),
    "v3": (
        "momentum",
        "rsi",
        3,
        {"net_pnl": 1100.0, "max_drawdown_pct": 9.0, "sharpe": 1.1, "total_trades": 4},
        {
            "strategy.py": "PERIOD = 9\n",
            "equity_curve.csv": equity_csv([10000, 10080, 10160, 10240, 11100]),
            "trades.csv": trades_csv([300, 200, 100, 500]),
            "notes.md": "shorter period\n",
        },
    ),
}


@dataclass
class History:
    repo: Path
    made: dict[str, dict[str, Any]] = field(default_factory=dict)

    def sha(self, name: str) -> str:
        return str(self.made[name]["commit_sha"])

    def store(self, **kw: Any) -> ArtifactStore:
        kw.setdefault("auto_push", False)
        return ArtifactStore(ArtifactStoreConfig(repo_path=self.repo, **kw))


def build_history(repo: Path, src: Path, start: datetime = T0) -> History:
    """Commit VERSIONS in order, ``v1`` at ``start``, each a set number of days later."""
    return commit_versions(History(repo), src, VERSIONS, start)


def commit_versions(
    history: History,
    src: Path,
    versions: dict[str, tuple[str, str, int, dict[str, Any], dict[str, str]]],
    start: datetime = T0,
) -> History:
    """Commit ``versions`` (shaped like VERSIONS) in order, each at its day after ``start``."""
    with history.store() as store, pytest.MonkeyPatch.context() as mp:
        for name, (workflow, task, days, metrics, files) in versions.items():
            folder = src / name
            folder.mkdir(parents=True)
            for fname, text in files.items():
                (folder / fname).write_text(text)
            when = start + timedelta(days=days)
            mp.setattr(store_module, "utc_now", lambda when=when: when)
            history.made[name] = store.commit_artifacts(
                workflow,
                task,
                [folder / f for f in files],
                metadata={
                    "test_status": "passed",
                    "test_metrics": metrics,
                    "agent_version": "coder-1.4",
                },
                correlation_id=name,
                prompt_hash=PROMPT if name == "b1" else None,
            )
    return history


def metric_pair(
    history: History, src: Path, a: dict[str, Any], b: dict[str, Any], task: str = "sma"
) -> History:
    """Two versions, TASK_a then TASK_b, of workflow ``bt`` with these metrics."""
    return commit_versions(
        history,
        src,
        {
            f"{task}_a": ("bt", task, 10, a, {"strategy.py": "FAST = 10\n"}),
            f"{task}_b": ("bt", task, 11, b, {"strategy.py": "FAST = 5\n"}),
        },
    )
