"""Publishing the store's events (``artifact.committed``, ``artifact.pushed``,
``artifact.approved``) to the configured sinks, through :mod:`pytest_artifact_store.events`.

Each event's id is fixed by what it reports (the commit, the remote, the approval tag),
so a receiver de-duplicates a repeat. One budget (``event_timeout``) covers what one
call of the library publishes: an event not delivered by then waits in the outbox.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_artifact_store.store.base import StoreBase


class Publishing(StoreBase):
    """Events: queued while an operation runs, published when it ends."""

    def _queue(self) -> list[tuple[str, str, str, str, dict[str, Any]]]:
        """This thread's queue (a store may commit from several threads at once)."""
        local = self.__dict__.setdefault("_events_local", threading.local())
        if not hasattr(local, "queue"):
            local.queue = []
        queue: list[tuple[str, str, str, str, dict[str, Any]]] = local.queue
        return queue

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
        first: bool = False,
    ) -> None:
        """Queue an event for :meth:`publish_queued` (``first``: before those queued)."""
        if not self.config.event_sinks:
            return
        event = (kind, event_id, branch, subject, data)
        self._queue().insert(0 if first else len(self._queue()), event)

    def publish_queued(self, result: dict[str, Any]) -> None:
        """Publish what was queued, within ``event_timeout``; the result gains
        ``events``: ``{'delivered': [ids], 'pending': [ids], 'problems': [...]}``."""
        queue = self._queue()
        queued = list(queue)
        queue.clear()
        if not queued:
            return
        from pytest_artifact_store.events import publish

        deadline = time.monotonic() + self.config.event_timeout
        delivered: list[str] = []
        waiting: list[str] = []
        problems: list[str] = []
        for kind, event_id, branch, subject, data in queued:
            report = publish(
                self.repo.common_dir,
                self.events_base,
                self.config.event_sinks,
                kind,
                event_id=event_id,
                source=f"/{branch}",
                subject=subject,
                data=data,
                timeout=max(0.0, deadline - time.monotonic()),
                secret_env=self.config.webhook_secret_env,
            )
            summary = report.as_dict()
            waiting = list(summary["remaining"])
            delivered += [d["id"] for d in summary["deliveries"] if d["id"] not in waiting]
            problems += [p for p in summary["problems"] if p not in problems]
        result["events"] = {
            "delivered": sorted(set(delivered)),
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
