"""``artifact-store events``: the event outbox -- list, deliver, drop.

``events [--json]`` lists the queued events (pending: never tried; failed: tried, with
each sink's attempts and last error; corrupt: an unreadable outbox file) and exits 0;
``events deliver [--timeout S] [--json]`` delivers them to the configured sinks
(``event_sinks``) and exits 1 if any is left; ``events drop ID... | --all`` forgets them.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from pytest_artifact_store.cli import commands
from pytest_artifact_store.errors import ArtifactStoreError

if TYPE_CHECKING:
    from pytest_artifact_store.events import Entry, Report
    from pytest_artifact_store.store import ArtifactStore

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``events`` (with ``deliver`` and ``drop``) to the ``artifact-store`` parser."""
    events = sub.add_parser(
        "events",
        help="list the events waiting in the outbox; deliver or drop them",
        description="List the events (artifact.committed, .pushed, .approved) not yet "
        "delivered to every configured sink: pending ones (never tried) and failed ones "
        "(with each sink's attempts and last error).",
    )
    events.add_argument("--json", action="store_true", help="print the events as JSON")
    events.set_defaults(func=cmd_events)
    actions = events.add_subparsers(dest="events_command", metavar="ACTION")
    deliver = actions.add_parser(
        "deliver",
        help="deliver the queued events now",
        description="Deliver every queued event to the sinks it owes, oldest first; exit 1 "
        "if any is still undelivered.",
    )
    deliver.add_argument(
        "--timeout",
        type=commands._number(float, 0),
        default=None,
        metavar="S",
        help="the time budget in seconds (default: event_timeout, "
        "ARTIFACT_STORE_EVENT_TIMEOUT, 10)",
    )
    deliver.add_argument("--json", action="store_true", help="print the report as JSON")
    deliver.set_defaults(func=cmd_deliver)
    drop = actions.add_parser(
        "drop",
        help="forget queued events without delivering them",
        description="Remove queued events from the outbox undelivered (one whose sink is "
        "no longer configured, a corrupt file).",
    )
    drop.add_argument("ids", nargs="*", metavar="ID")
    drop.add_argument("--all", action="store_true", help="every queued event")
    drop.set_defaults(func=cmd_drop)


def cmd_events(args: argparse.Namespace) -> int:
    from pytest_artifact_store.events import pending

    with commands._open(args) as store:
        entries = pending(store.repo.common_dir)
        keys = _configured(store)
    if args.json:
        commands._print_json(
            [
                {
                    **entry.as_dict(),
                    "unconfigured": [k for k in entry.owed if keys is not None and k not in keys],
                }
                for entry in entries
            ]
        )
        return 0
    if not entries:
        print("no events waiting")
        return 0
    for entry in entries:
        _print_entry(entry, keys)
    print(f"{len(entries)} event(s) waiting; 'artifact-store events deliver' sends them")
    return 0


def _configured(store: ArtifactStore) -> set[str] | None:
    """The keys of the configured sinks (None, with a warning, if they are invalid)."""
    from pytest_artifact_store.events import parse_sinks

    base = store.repo.work_tree or store.config.repo_path
    try:
        return {s.key for s in parse_sinks(store.config.event_sinks, base=base)}
    except ArtifactStoreError as exc:  # still list what is queued
        print(f"artifact-store: warning: {exc}", file=sys.stderr)
        return None


def _print_entry(entry: Entry, configured: set[str] | None) -> None:
    age = commands.fmt_age(entry.created)
    print(f"{entry.status:8} {entry.id}  {entry.type or '-'}  {entry.subject or '-'}  {age}")
    if entry.error:
        print(f"    {entry.path}: {entry.error}")
    for key, state in entry.sinks.items():
        if state.delivered:
            status = "delivered"
        elif not state.attempts:
            status = "pending"
        else:
            when = commands.fmt_age(state.last_attempt)
            status = f"failed ({state.attempts} attempt(s), last {when} ago): {state.last_error}"
        if not state.delivered and configured is not None and key not in configured:
            status += " [sink no longer configured]"
        print(f"    {key}  {status}")


def cmd_deliver(args: argparse.Namespace) -> int:
    from pytest_artifact_store.events import deliver

    with commands._open(args) as store:
        cfg = store.config
        timeout = cfg.event_timeout if args.timeout is None else args.timeout
        report = deliver(
            store.repo.common_dir,
            store.repo.work_tree or cfg.repo_path,
            cfg.event_sinks,
            timeout=timeout,
            secret_env=cfg.webhook_secret_env,
        )
    if args.json:
        commands._print_json(report.as_dict())
    else:
        _print_report(report)
    return 0 if report.ok else 1


def _print_report(report: Report) -> None:
    for d in report.deliveries:
        if d.delivered:
            print(f"delivered {d.event_id} to {d.sink}")
        else:
            print(f"not delivered {d.event_id} to {d.sink}: {d.error}", file=sys.stderr)
    for problem in report.problems:
        print(f"artifact-store: {problem}", file=sys.stderr)
    if report.busy:
        print(
            "artifact-store: another process is delivering these events; try again later",
            file=sys.stderr,
        )
    done = len({d.event_id for d in report.deliveries if d.delivered} - set(report.remaining))
    if not report.deliveries and not report.remaining:
        print("no events waiting")
    else:
        print(f"{done} event(s) delivered, {len(report.remaining)} still waiting")


def cmd_drop(args: argparse.Namespace) -> int:
    from pytest_artifact_store.events import drop

    if bool(args.ids) == bool(args.all):
        raise ArtifactStoreError("name the events to drop (ID...) or give --all, not both")
    with commands._open(args) as store:
        dropped = drop(store.repo.common_dir, None if args.all else args.ids)
    for event_id in dropped:
        print(f"dropped {event_id}")
    if not dropped:
        print("no events waiting")
    return 0
