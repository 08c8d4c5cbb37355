"""pytest hook implementations of pytest-artifact-store (the ``artifact_store`` plugin).

Inert unless ``--artifact-store`` is given: then the store's worker process is started
(:mod:`.worker`: the store lives there, not in pytest's process), the settings are
validated, and the repository is known good before any test runs.
``-p no:artifact_store`` removes the plugin.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from pytest_artifact_store.pytest_plugin import hookspecs, settings
from pytest_artifact_store.pytest_plugin.recorder import WORKER_OUTPUT_KEY, ArtifactRecorder

if TYPE_CHECKING:  # imported only when --artifact-store is given
    from pytest_artifact_store.pytest_plugin.worker import StoreClient

RECORDER = pytest.StashKey[ArtifactRecorder]()
CLIENT: pytest.StashKey[StoreClient] = pytest.StashKey()


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("artifact_store", default=False))


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_addoption(parser: pytest.Parser) -> None:
    settings.add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(trylast=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """The earliest moment the options are known: with --artifact-store, start the
    store's worker process now, so its imports overlap pytest's own start-up."""
    namespace = early_config.known_args_namespace
    if not getattr(namespace, "artifact_store", False) or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if getattr(namespace, "help", False) or getattr(namespace, "version", False):
        return
    from pytest_artifact_store.pytest_plugin.worker import StoreClient

    client = early_config.stash[CLIENT] = StoreClient()
    early_config.add_cleanup(client.close)  # also when pytest stops before configure


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RECORDER] = ArtifactRecorder()
    client = config.stash.get(CLIENT, None)
    if not _enabled(config) or _is_worker(config):
        return
    if config.getoption("help", default=False) or config.getoption("version", default=False):
        return
    from pytest_artifact_store.pytest_plugin.session import start

    start(config, config.stash[RECORDER], client)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    client = config.stash.get(CLIENT, None)
    if client is not None:  # started early, and perhaps never configured
        client.close()


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
