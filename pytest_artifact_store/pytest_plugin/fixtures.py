"""The plugin's fixtures, ``artifact_store`` and ``artifact_baseline``: a pytest plugin of
their own (entry point ``artifact_store_fixtures``), so tests that use them still run when
the committing plugin is removed with ``-p no:artifact_store`` (they record nothing then,
and the baseline is None)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_artifact_store.pytest_plugin.keys import BASELINE, RECORDER
from pytest_artifact_store.pytest_plugin.recorder import ArtifactRecorder

if TYPE_CHECKING:  # imported only when a baseline is asked for
    from pytest_artifact_store.compare.baseline import Baseline


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """With ``-p no:artifact_store`` its ini keys stay known: a pytest.ini that sets them
    neither warns nor fails ``--strict-config``."""
    if pluginmanager.is_blocked("artifact_store"):
        from pytest_artifact_store.pytest_plugin.settings import add_ini_keys

        add_ini_keys(parser)


@pytest.fixture(scope="session")
def artifact_store(pytestconfig: pytest.Config) -> ArtifactRecorder:
    """Record files, metrics and metadata to commit when the session passes.

    ``artifact_store.add(path, name=None)``, ``artifact_store.record_metric(name, value)``,
    ``artifact_store.set_metadata(key, value)``, ``artifact_store.record_seed(name, value)``.
    Without ``--artifact-store`` the calls are still checked, but nothing is committed.
    """
    return _recorder(pytestconfig)


def _recorder(config: pytest.Config) -> ArtifactRecorder:
    recorder = config.stash.get(RECORDER, None)
    if recorder is None:  # -p no:artifact_store: the calls still work, nothing is kept
        recorder = config.stash[RECORDER] = ArtifactRecorder()
    return recorder


@pytest.fixture(scope="session")
def artifact_baseline(pytestconfig: pytest.Config) -> Baseline | None:
    """The version this run is judged against, or None when there is none (a first run).

    By default the newest version of this workflow/task; ``--artifact-baseline=REF``
    (or ``artifact_store_baseline``) names another. It has ``metrics``, ``files``,
    ``read(name)``, ``csv(name)``, ``json(name)``, ``equity_curve`` and ``trades``::

        def test_not_worse(artifact_baseline, artifact_store):
            if artifact_baseline is None:
                pytest.skip("no earlier version to compare with")
            assert sharpe >= artifact_baseline.metrics["sharpe"] * 0.9
    """
    from pytest_artifact_store.pytest_plugin.baseline import BaselineError

    if not pytestconfig.pluginmanager.has_plugin("artifact_store"):
        return None  # -p no:artifact_store: no settings, no store, no baseline
    source = pytestconfig.stash.get(BASELINE, None)
    if source is None:
        from pytest_artifact_store.pytest_plugin.resolve import resolve_store
        from pytest_artifact_store.pytest_plugin.session import baseline_source

        try:
            resolved, store_config = resolve_store(pytestconfig, committing=False)
        except pytest.UsageError as exc:
            pytest.fail(f"artifact_baseline: {exc}", pytrace=False)
        source = baseline_source(pytestconfig, resolved, store_config)
    _recorder(pytestconfig).baseline_used = True
    try:
        return source.baseline()
    except BaselineError as exc:
        pytest.fail(f"artifact_baseline: {exc}", pytrace=False)
