"""Fixtures: run the backtest once per session and hand its outputs to the artifact store."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import backtest
import pytest
from rsi_strategy import RsiParams

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def bars() -> list[backtest.Bar]:
    return backtest.load_prices(HERE / "prices.csv")


@pytest.fixture(scope="session")
def params() -> RsiParams:
    """The strategy's parameters; RSI_OVERSOLD overrides the entry level (the demo's
    second run uses it to make the strategy worse, and the regression gate refuses it)."""
    oversold = os.environ.get("RSI_OVERSOLD")
    return RsiParams(oversold=float(oversold)) if oversold else RsiParams()


@pytest.fixture(scope="session")
def result(bars: list[backtest.Bar], params: RsiParams) -> backtest.Result:
    return backtest.run(bars, params)


@pytest.fixture(scope="session")
def outputs(
    result: backtest.Result,
    params: RsiParams,
    artifact_store: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """trades.csv, equity_curve.csv and events.log, written outside the work tree.

    `artifact_store.add` commits them when the session passes (with --artifact-store);
    without the flag these calls are harmless.
    """
    out = tmp_path_factory.mktemp("backtest-output")
    paths = {name: out / name for name in ("trades.csv", "equity_curve.csv", "events.log")}
    backtest.write_trades(result, paths["trades.csv"])
    backtest.write_equity_curve(result, paths["equity_curve.csv"])
    backtest.write_events(result, paths["events.log"])
    for path in paths.values():
        artifact_store.add(path)
    for name, value in result.metrics().items():
        artifact_store.record_metric(name, value)
    artifact_store.set_metadata("strategy", {"name": "rsi_mean_reversion", **asdict(params)})
    return paths


# optionalhook: the conftest still loads when the plugin is removed (-p no:artifact_store).
@pytest.hookimpl(optionalhook=True)
def pytest_artifact_store_metadata(config: pytest.Config, metadata: dict[str, Any]) -> None:
    """Amend the commit's metadata.json (a hook of pytest-artifact-store)."""
    metadata["agent_version"] = "example-tester-1.0"
    metadata["data_file"] = "prices.csv"
