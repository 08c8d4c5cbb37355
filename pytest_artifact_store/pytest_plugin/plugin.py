"""pytest hook implementations of pytest-artifact-store (the ``artifact_store`` plugin).

Inert unless ``--artifact-store`` is given: then the store's worker process is started
(:mod:`.worker`: the store lives there, not in pytest's process), the settings are
validated, and the repository is known good before any test runs.
``--artifact-fail-on`` alone judges the run against its baseline and commits nothing;
``--artifact-export=DIR`` writes what would be committed into DIR and commits nothing.
``-p no:artifact_store`` removes the plugin; its fixtures (:mod:`.fixtures`, a plugin of
their own) stay, recording nothing.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from pytest_artifact_store.pytest_plugin import hookspecs, settings
from pytest_artifact_store.pytest_plugin.keys import CLIENT, RECORDER
from pytest_artifact_store.pytest_plugin.recorder import WORKER_OUTPUT_KEY, ArtifactRecorder


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("artifact_store", default=False))


def _exporting(config: pytest.Config) -> bool:
    setting = settings.BY_NAME["export"]
    given = getattr(config.option, setting.dest, None)
    return bool(given or os.environ.get(setting.env_var, "").strip())


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _gate_only(config: pytest.Config) -> bool:
    """``--artifact-fail-on`` (or ARTIFACT_STORE_FAIL_ON) without ``--artifact-store``:
    judge the run against its baseline, commit nothing. Rules in the ini file alone wait
    for ``--artifact-store``, so a plain ``pytest`` stays a plain pytest."""
    setting = settings.BY_NAME["fail_on"]
    given = getattr(config.option, setting.dest, None)
    return bool(given or os.environ.get(setting.env_var, "").strip())


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
    export = settings.BY_NAME["export"]
    if getattr(namespace, export.dest, None) or os.environ.get(export.env_var, "").strip():
        return  # an export opens no store
    if getattr(namespace, "help", False) or getattr(namespace, "version", False):
        return
    from pytest_artifact_store.pytest_plugin.worker import StoreClient

    client = early_config.stash[CLIENT] = StoreClient()
    early_config.add_cleanup(client.close)  # also when pytest stops before configure


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RECORDER] = ArtifactRecorder()
    client = config.stash.get(CLIENT, None)
    if _is_worker(config):
        return
    if config.getoption("help", default=False) or config.getoption("version", default=False):
        return
    if _exporting(config):
        from pytest_artifact_store.pytest_plugin.export import start_export

        start_export(config, config.stash[RECORDER])
    elif _enabled(config):
        from pytest_artifact_store.pytest_plugin.session import start

        start(config, config.stash[RECORDER], client)
    elif _gate_only(config):
        from pytest_artifact_store.pytest_plugin.session import start_gate

        start_gate(config, config.stash[RECORDER])


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    client = config.stash.get(CLIENT, None)
    if client is not None:  # started early, and perhaps never configured
        client.close()
    recorder = config.stash.get(RECORDER, None)
    if recorder is not None:  # a worker of a committing session leaves its files for the controller
        committing = _enabled(config) or _exporting(config)
        recorder.cleanup(keep_own=_is_worker(config) and committing)


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Counted on every process: under xdist the workers deselect, not the controller."""
    if items:
        config = items[0].config
        if RECORDER in config.stash:
            config.stash[RECORDER].deselected += len(items)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Whether --lf narrowed the suite, known now (an xdist controller collects nothing:
    its workers tell it)."""
    config = session.config
    if RECORDER in config.stash and config.getoption("lf", False):  # else nothing to import
        from pytest_artifact_store.pytest_plugin.selection import last_failed_narrowed

        config.stash[RECORDER].last_failed = last_failed_narrowed(config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _is_worker(config) and RECORDER in config.stash:
        workeroutput: dict[str, Any] = config.workeroutput  # type: ignore[attr-defined]
        workeroutput[WORKER_OUTPUT_KEY] = config.stash[RECORDER].to_wire()
