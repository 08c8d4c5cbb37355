"""The version a new run is judged against, read back as a test wants it.

:func:`find_baseline` picks it (a REF any ``artifact-store show`` accepts, by default the
newest version of the run's workflow/task; fetched from the remote when this clone lacks
it); :class:`Baseline` gives its metrics, files (bytes, parsed CSV and JSON), equity
curve and trades, read lazily from git.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pytest_artifact_store.compare.diff import (
    TRADES_FILE,
    EquityCurve,
    load_equity_curve,
    numeric_metrics,
    task_files,
)
from pytest_artifact_store.errors import ArtifactStoreError

if TYPE_CHECKING:
    from pytest_artifact_store.store import ArtifactStore


class MissingBaselineData(KeyError):
    """A metric or file the baseline does not have; the message says what it has."""

    def __str__(self) -> str:  # KeyError would print the message as a quoted repr
        return str(self.args[0])


class _Metrics(dict[str, Any]):
    """The baseline's ``test_metrics``; a missing name is a readable error."""

    label = ""

    def __missing__(self, key: str) -> Any:
        have = ", ".join(sorted(map(str, self))) or "none"
        raise MissingBaselineData(
            f"the baseline {self.label} has no metric {key!r} (its metrics: {have}); "
            "use baseline.metrics.get(name) where a metric may be new"
        )


class Baseline:
    """One stored version, as the ``artifact_baseline`` fixture hands it to a test."""

    def __init__(self, store: ArtifactStore, entry: Mapping[str, Any], ref: str) -> None:
        self._store = store
        self.entry = dict(entry)
        self.ref = ref
        self.commit_sha: str = str(entry["commit_sha"])
        self.correlation_id: str | None = entry.get("correlation_id")
        self.workflow_id: str = str(entry["workflow_id"])
        self.task_id: str = str(entry["task_id"])
        self.branch: str | None = entry.get("branch")
        self.tags: list[str] = list(entry.get("tags") or [])
        self.commit_timestamp: str | None = entry.get("commit_timestamp")
        self.metrics = _Metrics(entry.get("test_metrics") or {})
        self.metrics.label = self.label

    @property
    def label(self) -> str:
        """``corr_x (1a2b3c4d5e)``: how messages name this version."""
        return f"{self.correlation_id or self.ref} ({self.commit_sha[:10]})"

    def __repr__(self) -> str:
        return f"<Baseline {self.label} of {self.workflow_id}/{self.task_id}>"

    @property
    def metadata(self) -> dict[str, Any]:
        """The version's metadata.json, as listed by ``artifact-store show``."""
        return dict(self.entry)

    @cached_property
    def numeric_metrics(self) -> dict[str, float]:
        """Every numeric metric, nested ones as ``outer.inner`` (what rules compare)."""
        return numeric_metrics(self.entry.get("test_metrics"))

    @cached_property
    def files(self) -> dict[str, int]:
        """{name in the task directory: size} (metadata.json excluded)."""
        return task_files(self._store, self.entry)

    def read(self, name: str) -> bytes:
        """The bytes of one of the version's files."""
        data = self._store.read_version_file(self.entry, name) if name in self.files else None
        if data is None:
            have = ", ".join(sorted(self.files)) or "none"
            raise MissingBaselineData(f"the baseline {self.label} has no file {name!r} ({have})")
        return data

    def text(self, name: str) -> str:
        return self.read(name).decode("utf-8")

    def json(self, name: str) -> Any:
        return json.loads(self.read(name))

    def csv(self, name: str) -> list[dict[str, str]]:
        """A CSV file's rows as dicts keyed by its header."""
        text = self.read(name).decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text)))

    @cached_property
    def equity_curve(self) -> EquityCurve | None:
        """``equity_curve.csv`` (or a ``*equity*.csv``) as ``artifact-store diff`` reads it."""
        return load_equity_curve(self._store, self.entry)

    @cached_property
    def trades(self) -> list[dict[str, str]] | None:
        """The rows of ``trades.csv``; None when the version has none."""
        return self.csv(TRADES_FILE) if TRADES_FILE in self.files else None


def default_ref(workflow_id: str, task_id: str) -> str:
    return f"{workflow_id}/{task_id}"


def find_baseline(
    store: ArtifactStore,
    ref: str | None,
    workflow_id: str | None,
    task_id: str | None,
    *,
    fetch: bool = True,
) -> tuple[dict[str, Any] | None, str]:
    """(the version's entry, the ref it was found by) or (None, why there is none).

    ``ref`` None means the newest version of ``workflow_id/task_id``. When this clone
    lacks it and a remote is configured, the task's branch and tags are fetched once.
    An explicit ``ref`` that names nothing is an error (a typo must not pass as a first
    run); a task with no version yet is not.
    """
    if ref is None:
        if workflow_id is None or task_id is None:
            raise ArtifactStoreError(
                "no baseline: give --artifact-baseline=REF, or the workflow and task ids "
                "whose newest version to compare with"
            )
        wanted = default_ref(workflow_id, task_id)
    elif ref.startswith("@") and workflow_id and task_id:
        wanted = f"{workflow_id}/{task_id}{ref}"  # @prod: the version holding prod here
    else:
        wanted = ref
    entry, partial = _lookup(store, ref, wanted, workflow_id, task_id)
    fetched = ""
    if entry is None and not partial and fetch and workflow_id and task_id:
        remote = store.config.remote_name
        if store.repo.remote_exists(remote):
            try:
                store.fetch(workflow_id, task_id, remote=remote)
            except ArtifactStoreError as exc:
                fetched = f"; fetching it from {remote} failed: {exc}"
            else:
                fetched = f" here or on {remote}"
            entry, partial = _lookup(store, ref, wanted, workflow_id, task_id)
    if entry is not None:
        return entry, wanted
    if partial:
        return None, (
            f"the newest versions of {wanted} are all partial sessions; name one with "
            "--artifact-baseline=REF to judge against it"
        )
    if ref is None:
        return None, f"no earlier version of {wanted}{fetched}: this is the first"
    raise ArtifactStoreError(
        f"baseline {ref!r} names no artifact version{fetched}: give a correlation id, a "
        "tag, a task branch or a commit (see 'artifact-store list')"
    )


_WHOLE_LOOKBACK = 50  # versions of the task looked at for the newest whole one


def _lookup(
    store: ArtifactStore,
    ref: str | None,
    wanted: str,
    workflow_id: str | None,
    task_id: str | None,
) -> tuple[dict[str, Any] | None, bool]:
    """(the version, whether only partial versions were passed over). The default is the
    newest *whole* version: a partial session (``-k``...) is no suite's last good result."""
    if ref is not None or workflow_id is None or task_id is None:
        return store.find_version(wanted), False
    entries = store.list_artifacts(workflow_id, _WHOLE_LOOKBACK, task_id=task_id)
    for entry in entries:
        if entry.get("partial") is not True:
            return entry, False
    return None, bool(entries)
