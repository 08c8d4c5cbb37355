"""``--artifact-export=DIR``: a session that writes what it would commit, and commits nothing.

``artifact-store reproduce`` re-runs a version's pytest command with
``ARTIFACT_STORE_EXPORT`` set and compares DIR with the stored version. The files are
chosen as for a commit (the ini globs, the fixture's files, ``test_report.json``) and the
metadata is built as for a commit (the metadata hook and the capsule included), but no
store is opened, no baseline is looked up, no gate judges and nothing is pushed. The
export is written whatever the tests' outcome (``test_status`` and the report say it) and
for a partial session too: a re-run is compared, not kept.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_artifact_store.naming import DEFAULT_METADATA_FILENAME
from pytest_artifact_store.pytest_plugin import settings as settings_mod
from pytest_artifact_store.pytest_plugin.recorder import ArtifactRecorder
from pytest_artifact_store.pytest_plugin.resolve import resolve_store
from pytest_artifact_store.pytest_plugin.session import (
    PLUGIN_NAME,
    ArtifactSession,
    CommitRefused,
    baseline_source,
    capsule_request,
    register_xdist,
)
from pytest_artifact_store.pytest_plugin.settings import Value

SETTING = settings_mod.BY_NAME["export"]


def start_export(config: pytest.Config, recorder: ArtifactRecorder) -> ExportSession:
    resolved, store_config = resolve_store(config, committing=False)
    target = resolved[SETTING.name]
    if target.value is None:  # set, but blank: resolve() skipped it
        raise settings_mod.usage_error(target, "", "give a directory")
    path = Path(target.value)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise settings_mod.usage_error(target, str(path), "give an empty or a new directory")
    for name in ("fail_on", "baseline"):  # nothing is judged: no baseline is decided
        value = resolved[name]
        resolved.values[name] = Value(value.setting, None, "default", value.base)
    source = baseline_source(config, resolved, store_config)
    session = ExportSession(config, resolved, store_config, None, recorder, source)
    session.target = path
    session.capsule_request = capsule_request(config, resolved)
    config.pluginmanager.register(session, PLUGIN_NAME)
    register_xdist(config, recorder, source)
    return session


class ExportSession(ArtifactSession):
    """An :class:`ArtifactSession` whose "commit" writes files into a directory."""

    target: Path

    def pytest_runtestloop(self, session: pytest.Session) -> None:
        """No repository to wait for."""

    @property
    def require_test_passed(self) -> bool:
        return False

    def partial_reason(self) -> str | None:
        return None

    def judge(self, metrics: dict[str, Any]) -> None:
        return None

    def store_commit(
        self, files: dict[str, Path], metadata: dict[str, Any], volatile: list[str]
    ) -> dict[str, Any]:
        if DEFAULT_METADATA_FILENAME in files:
            raise CommitRefused(
                f"{files[DEFAULT_METADATA_FILENAME]} would be exported as "
                f"{DEFAULT_METADATA_FILENAME}, which holds the metadata: rename it"
            )
        try:
            for name, source in files.items():
                destination = self.target / name
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)
            text = json.dumps(metadata, indent=2, ensure_ascii=False, allow_nan=False)
            (self.target / DEFAULT_METADATA_FILENAME).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise CommitRefused(f"cannot export to {self.target}: {exc}") from None
        return {"files": sorted(files), "exported_to": os.fspath(self.target)}

    def announce(self, session: pytest.Session, result: dict[str, Any]) -> None:
        self.summary.lines.append(
            f"exported {len(result['files'])} files and {DEFAULT_METADATA_FILENAME} to "
            f"{result['exported_to']} (an export: nothing committed)"
        )
