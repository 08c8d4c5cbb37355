"""Publishing and delivering events: at least once, within a time budget.

:func:`publish` first queues the event in the outbox (durable before anything is sent),
then delivers everything queued, the new event first, within ``timeout`` seconds: each
sink in its own thread (a hanging receiver holds only itself), each request limited to
what is left. What is not delivered stays queued with its attempts and last error, and
is tried again by the next :func:`publish` and by :func:`deliver`. Delivery failures are
reported, never raised; only a bad configuration raises :class:`ArtifactStoreError`.

An event owes delivery to the sinks configured when it was published. A sink removed
from the configuration afterwards is reported for the events that still owe it (they
stay queued until it is configured again or they are dropped with :func:`drop`); a sink
added afterwards gets only the events published from then on.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.events.envelope import Envelope, make_envelope
from pytest_artifact_store.events.outbox import Entry, Outbox, updated
from pytest_artifact_store.events.sink import MIN_TRY, Outcome, Sink, safe_text
from pytest_artifact_store.events.sinks import DEFAULT_SECRET_ENV, parse_sinks

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Delivery:
    """What one call did for one event at one sink: delivered or not, the attempts it
    took and the last error."""

    event_id: str
    sink: str
    delivered: bool
    attempts: int
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "sink": self.sink,
            "delivered": self.delivered,
            "attempts": self.attempts,
            "error": self.error,
        }


@dataclass
class Report:
    """What :func:`publish` or :func:`deliver` did. ``queued``: the event publish added;
    ``remaining``: the ids still owed to some sink; ``problems``: what needs a person
    (an unreadable outbox file, a sink no longer configured); ``busy``: another process
    was delivering, and the work was left to it."""

    queued: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    busy: bool = False

    @property
    def ok(self) -> bool:
        """Nothing is left undelivered and nothing needs a look."""
        return not self.remaining and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "queued": self.queued,
            "deliveries": [d.as_dict() for d in self.deliveries],
            "remaining": self.remaining,
            "problems": self.problems,
            "busy": self.busy,
        }


def publish(
    git_dir: Path,
    base: Path,
    sinks: Sequence[str],
    kind: str,
    *,
    event_id: str,
    source: str,
    subject: str,
    data: Mapping[str, Any],
    timeout: float = DEFAULT_TIMEOUT,
    secret_env: str = DEFAULT_SECRET_ENV,
) -> Report:
    """Queue the event ``kind`` (one of ``EVENT_TYPES``) and deliver what is queued.

    ``git_dir`` is the repository's git common dir (the outbox lives there), ``base``
    the directory relative ``.jsonl`` sinks start from. ``event_id`` must be the same
    each time the same event is published (receivers de-duplicate on it). Returns
    within ``timeout`` seconds; if another process is delivering, the event is left to
    it. With no sinks, does nothing.
    """
    if not sinks:
        return Report()
    deadline = time.monotonic() + _budget(timeout)
    configured = parse_sinks(sinks, base=base, secret_env=secret_env)
    report = _enqueue(git_dir, configured, kind, event_id, source, subject, data, refresh=False)
    if report.problems:
        return report
    return _deliver(
        Outbox(git_dir), configured, deadline, wait=0.0, first=[event_id], report=report
    )


def enqueue(
    git_dir: Path,
    base: Path,
    sinks: Sequence[str],
    kind: str,
    *,
    event_id: str,
    source: str,
    subject: str,
    data: Mapping[str, Any],
    secret_env: str = DEFAULT_SECRET_ENV,
    refresh: bool = False,
) -> Report:
    """Queue the event ``kind`` in the outbox without sending it: durable at once, sent
    by the next :func:`deliver` or :func:`publish` (what an operation that has more to do
    before it delivers calls, so a process killed meanwhile loses no event). ``refresh``:
    the same event is queued already; put this picture of it in place while no sink has
    been tried with it (else it is left as it is). With no sinks, does nothing."""
    if not sinks:
        return Report()
    configured = parse_sinks(sinks, base=base, secret_env=secret_env)
    return _enqueue(git_dir, configured, kind, event_id, source, subject, data, refresh=refresh)


def _enqueue(
    git_dir: Path,
    sinks: list[Sink],
    kind: str,
    event_id: str,
    source: str,
    subject: str,
    data: Mapping[str, Any],
    *,
    refresh: bool,
) -> Report:
    envelope = make_envelope(kind, event_id=event_id, source=source, subject=subject, data=data)
    outbox = Outbox(git_dir)
    report = Report(queued=envelope.id)
    try:
        if not refresh:
            outbox.add(envelope, [sink.key for sink in sinks])
        else:
            with outbox.locked(0.0) as held:  # a deliverer at work has read it: as it was
                if held:
                    outbox.refresh(envelope)
    except OSError as exc:
        report.remaining.append(envelope.id)
        report.problems.append(
            f"event {envelope.id} was not queued nor sent: cannot write {outbox.dir}: "
            f"{exc.strerror or exc}"
        )
    return report


def deliver(
    git_dir: Path,
    base: Path,
    sinks: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    secret_env: str = DEFAULT_SECRET_ENV,
    first: Sequence[str] = (),
) -> Report:
    """Deliver every queued event within ``timeout`` seconds: those named in ``first``
    (in that order), then the others, oldest first (waiting for another deliverer to
    finish, within the same budget)."""
    deadline = time.monotonic() + _budget(timeout)
    configured = parse_sinks(sinks, base=base, secret_env=secret_env)
    return _deliver(Outbox(git_dir), configured, deadline, wait=timeout, first=first)


def pending(git_dir: Path) -> list[Entry]:
    """The queued events, oldest first: ``pending``, ``failed`` and ``corrupt`` ones."""
    return Outbox(git_dir).entries()


def drop(git_dir: Path, ids: Sequence[str] | None = None, *, wait: float = 10.0) -> list[str]:
    """Remove the named queued events (all of them with ``ids=None``) undelivered;
    returns the ids removed. Unknown ids raise before anything is removed."""
    outbox = Outbox(git_dir)
    with outbox.locked(wait) as held:
        if not held:
            raise ArtifactStoreError(
                f"another process is delivering the events in {outbox.dir}; try again"
            )
        queued = {entry.id: entry for entry in outbox.entries()}
        wanted = list(queued) if ids is None else list(dict.fromkeys(ids))
        unknown = [i for i in wanted if i not in queued]
        if unknown:
            raise ArtifactStoreError(
                f"no queued event {', '.join(map(repr, unknown))} "
                "(artifact-store events lists them)"
            )
        return [i for i in wanted if outbox.remove(queued[i])]


def _budget(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ArtifactStoreError(f"event timeout must be a number of seconds, got {timeout!r}")
    if not math.isfinite(timeout) or timeout < 0:
        raise ArtifactStoreError(f"event timeout must be 0 or more seconds, got {timeout!r}")
    return float(timeout)


def _deliver(
    outbox: Outbox,
    sinks: list[Sink],
    deadline: float,
    *,
    wait: float,
    first: Sequence[str],
    report: Report | None = None,
) -> Report:
    report = report or Report()
    try:
        with outbox.locked(wait) as held:
            if held:
                _rounds(outbox, {sink.key: sink for sink in sinks}, deadline, first, report)
            else:
                report.busy = True
            report.remaining = [e.id for e in outbox.entries() if e.error is None]
    except OSError as exc:
        report.problems.append(f"cannot use the event outbox {outbox.dir}: {exc.strerror or exc}")
    return report


def _rounds(
    outbox: Outbox, sinks: dict[str, Sink], deadline: float, first: Sequence[str], report: Report
) -> None:
    """Deliver what is queued; again for events queued meanwhile, while time is left."""
    seen: set[str] = set()
    unconfigured: Counter[str] = Counter()
    while deadline - time.monotonic() >= MIN_TRY:
        batch = []
        for entry in outbox.entries():
            if entry.id in seen:
                continue
            seen.add(entry.id)
            if entry.error is not None:
                report.problems.append(
                    f"outbox file {entry.path} is skipped: {entry.error} (look at it, then "
                    f"remove it: artifact-store events drop {entry.id})"
                )
            else:
                unconfigured.update(key for key in entry.owed if key not in sinks)
                batch.append(entry)
        if not batch:
            break
        rank = {event_id: i for i, event_id in enumerate(first)}
        batch.sort(key=lambda e: rank.get(e.id, len(rank)))  # stable: new ones, then oldest
        _round(outbox, batch, sinks, deadline, report)
    for key, count in unconfigured.items():
        report.problems.append(
            f"{count} event(s) owe delivery to {key}, which is no longer configured: they "
            "stay queued (configure the sink again, or artifact-store events drop ID)"
        )


def _round(
    outbox: Outbox, batch: list[Entry], sinks: dict[str, Sink], deadline: float, report: Report
) -> None:
    work: dict[str, list[Envelope]] = {}
    for entry in batch:
        assert entry.envelope is not None
        for key in entry.owed:
            if key in sinks:
                work.setdefault(key, []).append(entry.envelope)
    outcomes = _run([(sinks[key], envelopes) for key, envelopes in work.items()], deadline)
    for entry in batch:
        new = entry
        for key in entry.owed:
            outcome = outcomes.get((entry.id, key))
            if outcome is None or not (outcome.delivered or outcome.attempts):
                continue  # not tried this time
            new = updated(
                new,
                key,
                delivered=outcome.delivered,
                attempts=outcome.attempts,
                error=outcome.error,
            )
            report.deliveries.append(
                Delivery(entry.id, key, outcome.delivered, outcome.attempts, outcome.error)
            )
        if new is not entry:
            try:
                outbox.save(new)
            except OSError as exc:
                report.problems.append(
                    f"cannot record the delivery of {entry.id} in {entry.path}: "
                    f"{exc.strerror or exc} (it will be delivered again)"
                )


class _Worker(threading.Thread):
    """One sink's deliveries, in order; stops at the first sign the sink is out of reach."""

    def __init__(
        self,
        sink: Sink,
        envelopes: list[Envelope],
        deadline: float,
        results: dict[tuple[str, str], Outcome],
        lock: threading.Lock,
    ) -> None:
        super().__init__(name=f"artifact-store-events {sink.key}", daemon=True)
        self.sink, self.envelopes, self.deadline = sink, envelopes, deadline
        self.results, self.lock = results, lock
        self.current: str | None = None

    def run(self) -> None:
        try:
            for envelope in self.envelopes:
                self.current = envelope.id
                outcome = self._deliver(envelope)
                with self.lock:
                    self.results[(envelope.id, self.sink.key)] = outcome
                if not outcome.delivered and outcome.unreachable:
                    break
            self.current = None
        finally:
            with contextlib.suppress(Exception):
                self.sink.close()

    def _deliver(self, envelope: Envelope) -> Outcome:
        try:
            return self.sink.deliver(envelope, self.deadline)
        except Exception as exc:  # a sink's bug must not end delivery to the others
            error = safe_text(f"{type(exc).__name__}: {exc}")
            return Outcome(False, 1, error, unreachable=True)


def _run(
    work: list[tuple[Sink, list[Envelope]]], deadline: float
) -> dict[tuple[str, str], Outcome]:
    """Each sink's events in a thread of its own, until ``deadline``: a receiver that
    does not answer is left behind (its thread is a daemon), not waited for."""
    results: dict[tuple[str, str], Outcome] = {}
    lock = threading.Lock()
    workers = [_Worker(sink, envelopes, deadline, results, lock) for sink, envelopes in work]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    with lock:
        for worker in workers:
            current = worker.current
            if worker.is_alive() and current and (current, worker.sink.key) not in results:
                error = "no answer within the delivery budget"
                results[(current, worker.sink.key)] = Outcome(False, 1, error, unreachable=True)
        return dict(results)
