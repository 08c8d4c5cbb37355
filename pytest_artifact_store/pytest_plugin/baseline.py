"""The ``artifact_baseline`` fixture's source and the session's ``--artifact-fail-on`` gate.

The baseline is decided once per session, by the main process or the xdist controller
(workers get its commit through ``workerinput``), so every test and the gate judge
against the same version even if another run commits meanwhile. The store is opened in
this process only when a baseline is needed (read-only; the commit stays in the worker).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.pytest_plugin.settings import Settings
from pytest_artifact_store.store.config import ArtifactStoreConfig

if TYPE_CHECKING:
    from pytest_artifact_store.compare.baseline import Baseline
    from pytest_artifact_store.compare.gate import GateResult
    from pytest_artifact_store.store import ArtifactStore

WORKERINPUT_KEY = "artifact_store_baseline"


@dataclass(frozen=True)
class Choice:
    """What the controller decided: the baseline's commit (and the ref it was found by),
    or why there is none."""

    ref: str | None
    commit_sha: str | None
    reason: str | None

    def to_wire(self) -> dict[str, Any]:
        return {"ref": self.ref, "commit_sha": self.commit_sha, "reason": self.reason}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> Choice:
        return cls(wire.get("ref"), wire.get("commit_sha"), wire.get("reason"))


class BaselineError(Exception):
    """The baseline cannot be used: a bad REF, or a repository that cannot be read."""


class BaselineSource:
    """The session's baseline: decided once, read lazily."""

    def __init__(
        self,
        resolved: Settings,
        store_config: ArtifactStoreConfig,
        decided: Choice | None = None,
    ) -> None:
        self.settings = resolved
        self.store_config = store_config
        self._choice = decided
        self._store: ArtifactStore | None = None
        self._baseline: Baseline | None = None
        self._entry: dict[str, Any] | None = None  # the version, when decided here
        self.used = False  # the fixture or the gate asked for it

    @property
    def ref(self) -> str | None:
        value = self.settings.get("baseline")
        return None if value is None else str(value)

    def store(self) -> ArtifactStore:
        if self._store is None:
            from pytest_artifact_store.store import ArtifactStore

            try:
                self._store = ArtifactStore(self.store_config)
            except ArtifactStoreError as exc:
                raise BaselineError(str(exc)) from None
        return self._store

    @property
    def eager(self) -> bool:
        """Rules or an explicit REF: the baseline is needed, so decide before the tests."""
        return bool(self.settings.get("fail_on")) or self.ref is not None

    def choice(self, *, fetch: bool = True) -> Choice | None:
        """Decide the baseline (once): BaselineError when an explicit REF names nothing.
        ``fetch=False`` looks in this clone only and returns None (undecided) when it
        has no version: the remote is asked only by someone who needs the baseline."""
        if self._choice is None:
            from pytest_artifact_store.compare.baseline import find_baseline

            get = self.settings.get
            try:
                entry, said = find_baseline(
                    self.store(), self.ref, get("workflow_id"), get("task_id"), fetch=fetch
                )
            except ArtifactStoreError as exc:
                origin = self.settings["baseline"].origin if self.ref else "the baseline"
                raise BaselineError(f"{origin}: {exc}") from None
            if entry is None:
                if not fetch:
                    return None
                self._choice = Choice(self.ref, None, said)
            else:
                self._choice = Choice(said, str(entry["commit_sha"]), None)
                self._entry = entry
        return self._choice

    def decided(self) -> Choice:
        choice = self.choice()
        assert choice is not None  # fetch=True always decides
        return choice

    def baseline(self) -> Baseline | None:
        """The baseline version, or None on a first run (``reason`` says why)."""
        self.used = True
        choice = self.decided()
        if choice.commit_sha is None:
            return None
        if self._baseline is None:
            from pytest_artifact_store.compare.baseline import Baseline

            entry = self._entry or self.store().find_version(choice.commit_sha)
            if entry is None:  # the controller saw it; gone here (a gc'd forced update)
                raise BaselineError(
                    f"the baseline {choice.commit_sha[:10]} ({choice.ref}) is no longer "
                    "in this repository"
                )
            self._baseline = Baseline(self.store(), entry, choice.ref or choice.commit_sha)
        return self._baseline

    @property
    def reason(self) -> str | None:
        """Why there is no baseline (None when there is one)."""
        return self.decided().reason

    def judge(self, metrics: Mapping[str, Any], rules: list[str]) -> GateResult | None:
        """This run's metrics against the baseline; None when there is no baseline."""
        from pytest_artifact_store.compare.diff import parse_rule
        from pytest_artifact_store.compare.directions import Directions
        from pytest_artifact_store.compare.gate import judge

        baseline = self.baseline()
        if baseline is None:
            return None
        parsed = [parse_rule(rule) for rule in rules]
        directions = Directions.from_strings(self.settings.get("metric_directions") or [])
        return judge(baseline.entry, baseline.ref, metrics, parsed, directions)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def gate_lines(result: GateResult | None, reason: str | None) -> list[str]:
    """The terminal summary's account of the gate."""
    if result is None:
        return [f"fail-on: no baseline ({reason}); the rules are checked from the next run on"]
    baseline = result.baseline
    label = baseline.get("correlation_id") or result.ref
    lines = [f"fail-on: judged against {label} ({str(baseline.get('commit_sha'))[:10]})"]
    lines += ["  " + line for line in result.table()]
    lines += [f"  note: {note}" for note in result.notes]
    return lines


def for_worker(config: pytest.Config) -> Choice | None:
    """The controller's decision, on an xdist worker."""
    wire = getattr(config, "workerinput", {}).get(WORKERINPUT_KEY)
    return Choice.from_wire(wire) if isinstance(wire, Mapping) else None
