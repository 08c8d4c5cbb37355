"""Publishing the store's events (``artifact.committed``, ``artifact.pushed``,
``artifact.approved``) to the configured sinks, through :mod:`pytest_artifact_store.events`.

Each event's id is fixed by what it reports (the commit, the remote, the approval tag),
so a receiver de-duplicates a repeat. Each is queued in the outbox as soon as what it
reports has happened, before the operation goes on (a push may hang, the process may be
killed: the event waits in the outbox); one budget (``event_timeout``) covers what one
call of the library then sends: an event not delivered by then waits in the outbox.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_artifact_store.store.base import StoreBase


class Publishing(StoreBase):
    """Events: queued in the outbox as soon as what they report has happened (a process
    killed in a push that hangs loses none), delivered when the operation ends."""

    def _queue(self) -> threading.local:
        """This thread's queued ids and problems (a store may commit from several
        threads at once)."""
        local: threading.local = self.__dict__.setdefault("_events_local", threading.local())
        if not hasattr(local, "ids"):
            local.ids, local.problems = [], []
        return local

    @property
    def events_base(self) -> Path:
        """Where relative ``.jsonl`` sinks start (the CLI and the store agree)."""
        return self.repo.work_tree or self.config.repo_path

    def check_sinks(self) -> None:
        """Refuse a bad sink list before an operation that publishes, not after a
        commit landed (checked once per store)."""
        if self.config.event_sinks and not self.__dict__.get("_sinks_checked"):
            from pytest_artifact_store.events import parse_sinks

            cfg = self.config
            parse_sinks(cfg.event_sinks, base=self.events_base, secret_env=cfg.webhook_secret_env)
            self.__dict__["_sinks_checked"] = True

    def pushed(self, remote: str, branch: str, tip: str, tags: list[str]) -> None:
        """A push landed (called by the remote layer): queue ``artifact.pushed``."""
        if not self.config.event_sinks:
            return
        commit = self.repo.read_commit(tip)
        trailers = commit.trailers if commit else {}
        workflow_id, _, task_id = branch.removeprefix(self.config.branch_prefix + "/").partition(
            "/"
        )
        data = {
            "branch": branch,
            "commit_sha": tip,
            "tags": tags,
            "pushed": True,
            "remote": remote,
            "correlation_id": trailers.get("Correlation-Id") or None,
            "workflow_id": workflow_id,
            "task_id": task_id,
        }
        subject = str(data["correlation_id"] or tip)
        self.queue_event(
            "artifact.pushed", f"artifact.pushed:{remote}:{tip}", branch, subject, data
        )

    def queue_event(
        self,
        kind: str,
        event_id: str,
        branch: str,
        subject: str,
        data: dict[str, Any],
        *,
        refresh: bool = False,
    ) -> None:
        """Queue an event in the outbox now (durable), for :meth:`publish_queued` to
        send; ``refresh``: a later picture of an event queued before, put in its place
        while no sink has been tried with it."""
        if not self.config.event_sinks:
            return
        from pytest_artifact_store.events import enqueue

        report = enqueue(
            self.repo.common_dir,
            self.events_base,
            self.config.event_sinks,
            kind,
            event_id=event_id,
            source=f"/{branch}",
            subject=subject,
            data=data,
            secret_env=self.config.webhook_secret_env,
            refresh=refresh,
        )
        local = self._queue()
        if event_id not in local.ids:
            local.ids.append(event_id)
        local.problems += [p for p in report.problems if p not in local.problems]

    def publish_queued(self, result: dict[str, Any]) -> None:
        """Send what was queued (first, in order), then older events still waiting,
        within ``event_timeout``; the result gains ``events``: ``{'delivered': [ids],
        'pending': [ids], 'problems': [...]}``."""
        local = self._queue()
        ids, problems = list(local.ids), list(local.problems)
        local.ids.clear()
        local.problems.clear()
        if not ids:
            return
        from pytest_artifact_store.events import deliver

        report = deliver(
            self.repo.common_dir,
            self.events_base,
            self.config.event_sinks,
            timeout=self.config.event_timeout,
            secret_env=self.config.webhook_secret_env,
            first=ids,
        )
        summary = report.as_dict()
        waiting = list(summary["remaining"])
        delivered = {d["id"] for d in summary["deliveries"] if d["id"] not in waiting}
        problems += [p for p in summary["problems"] if p not in problems]
        result["events"] = {
            "delivered": sorted(delivered),
            "pending": waiting,
            "problems": problems,
        }


def version_data(result: Mapping[str, Any], metadata: Mapping[str, Any]) -> dict[str, Any]:
    """An event's data for a version: where it is, its ids and its metrics."""
    metrics = metadata.get("test_metrics")
    return {
        "branch": result["branch"],
        "commit_sha": result["commit_sha"],
        "tags": list(result.get("tags", [])),
        "pushed": bool(result.get("pushed")),
        "correlation_id": metadata.get("correlation_id"),
        "workflow_id": metadata.get("workflow_id"),
        "task_id": metadata.get("task_id"),
        "prompt_hash": metadata.get("prompt_hash"),
        "metrics": dict(metrics) if isinstance(metrics, Mapping) else {},
    }
