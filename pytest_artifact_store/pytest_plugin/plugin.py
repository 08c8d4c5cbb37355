"""pytest hook implementations of pytest-artifact-store (the ``artifact_store`` plugin).

Inert unless ``--artifact-store`` is given: then :mod:`pytest_artifact_store.pytest_plugin.session`
(and with it the store) is imported, the settings are validated and the repository is
opened before any test runs. ``-p no:artifact_store`` removes the plugin.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_artifact_store.pytest_plugin import hookspecs, settings
from pytest_artifact_store.pytest_plugin.recorder import WORKER_OUTPUT_KEY, ArtifactRecorder

RECORDER = pytest.StashKey[ArtifactRecorder]()


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("artifact_store", default=False))


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_addoption(parser: pytest.Parser) -> None:
    settings.add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RECORDER] = ArtifactRecorder()
    if not _enabled(config) or _is_worker(config):
        return
    if config.getoption("help", default=False) or config.getoption("version", default=False):
        return
    from pytest_artifact_store.pytest_plugin.session import start

    start(config, config.stash[RECORDER])


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _enabled(config) and _is_worker(config) and RECORDER in config.stash:
        workeroutput: dict[str, Any] = config.workeroutput  # type: ignore[attr-defined]
        workeroutput[WORKER_OUTPUT_KEY] = config.stash[RECORDER].to_wire()


@pytest.fixture(scope="session")
def artifact_store(pytestconfig: pytest.Config) -> ArtifactRecorder:
    """Record files, metrics and metadata to commit when the session passes.

    ``artifact_store.add(path, name=None)``, ``artifact_store.record_metric(name, value)``,
    ``artifact_store.set_metadata(key, value)``. Without ``--artifact-store`` the calls
    are still checked, but nothing is committed.
    """
    return pytestconfig.stash[RECORDER]
