"""The durable outbox: one JSON file per undelivered event in the repository's git dir.

``<git common dir>/artifact-store/outbox/<event id>.json`` holds the event's envelope
(the exact text sent), when it was queued, and for each sink it owes delivery to (those
configured when it was published, by their secret-free keys) whether it was delivered,
the attempts and the last error. Files are written whole (temporary file, fsync, rename),
so a reader sees an old or a new state, never half of one; a file whose every sink has
the event is removed. One deliverer at a time holds ``.lock`` (``flock``; released by the
kernel when a process dies), so no event is sent twice at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from pytest_artifact_store.events.envelope import Envelope, read_envelope
from pytest_artifact_store.timestamps import format_utc, parse_utc, utc_now

FORMAT = 1
MAX_ENTRY_BYTES = 16 << 20  # a larger file is not one of ours
_NAME_MAX = 240  # bytes of a file name, below the usual 255
STALE_TEMP = 3600.0  # a temporary file this old was left by a killed writer


@dataclass(frozen=True)
class SinkState:
    """An event at one sink: delivered or not, attempts so far, the last error (redacted)
    and when it was last tried (UTC, the metadata timestamp format)."""

    delivered: bool = False
    attempts: int = 0
    last_error: str | None = None
    last_attempt: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "last_attempt": self.last_attempt,
        }


@dataclass(frozen=True)
class Entry:
    """An event in the outbox. ``status``: ``pending`` (never tried), ``failed`` (tried,
    not delivered everywhere) or ``corrupt`` (the file is unreadable: ``error`` says why;
    it is left for a person to look at, and never sent)."""

    id: str
    path: Path
    created: str = ""
    envelope: Envelope | None = None
    sinks: Mapping[str, SinkState] = field(default_factory=dict)
    error: str | None = None

    @property
    def type(self) -> str:
        return self.envelope.type if self.envelope else ""

    @property
    def subject(self) -> str:
        return self.envelope.subject if self.envelope else ""

    @property
    def status(self) -> str:
        if self.error is not None:
            return "corrupt"
        return "failed" if any(s.attempts for s in self.sinks.values()) else "pending"

    @property
    def owed(self) -> list[str]:
        """The keys of the sinks that have not got the event yet."""
        return [key for key, state in self.sinks.items() if not state.delivered]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "type": self.type,
            "subject": self.subject,
            "created": self.created,
            "sinks": {key: state.as_dict() for key, state in self.sinks.items()},
            "error": self.error,
            "file": str(self.path),
        }


class Outbox:
    """The outbox directory of the repository whose git common dir is ``git_dir``."""

    def __init__(self, git_dir: Path) -> None:
        self.dir = Path(git_dir) / "artifact-store" / "outbox"

    def add(self, envelope: Envelope, sinks: list[str]) -> Entry:
        """Queue ``envelope`` for ``sinks``; an event already queued under its id is kept
        as it is (the same event: its delivery record stands)."""
        entry = Entry(
            envelope.id,
            self._path(envelope.id),
            format_utc(utc_now()),
            envelope,
            {key: SinkState() for key in sinks},
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        temp = self._write_temp(entry)
        try:
            os.link(temp, entry.path)  # create-if-absent: never replaces a queued event
        except FileExistsError:
            try:
                existing: Entry | None = self.read(entry.path)
            except FileNotFoundError:  # delivered and removed meanwhile: queue it again
                existing = None
            if existing is not None and existing.error is None:
                return existing
            os.replace(temp, entry.path)  # the real event, over an unreadable file
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        self._sync_dir()
        return entry

    def refresh(self, envelope: Envelope) -> bool:
        """Put ``envelope`` in place of the queued event of the same id while no sink has
        been tried with it (a truer picture of the same event, made later); True if it
        was. The caller holds the deliverers' lock, so no deliverer has read it."""
        path = self._path(envelope.id)
        try:
            entry = self.read(path)
        except FileNotFoundError:
            return False  # delivered already: never queued twice
        if entry.error is not None or any(s.attempts or s.delivered for s in entry.sinks.values()):
            return False
        os.replace(self._write_temp(replace(entry, envelope=envelope)), path)
        self._sync_dir()
        return True

    def save(self, entry: Entry) -> None:
        """Record ``entry``'s new state, or remove it once every sink has it."""
        if not entry.owed:
            with contextlib.suppress(FileNotFoundError):
                entry.path.unlink()
            return
        os.replace(self._write_temp(entry), entry.path)
        self._sync_dir()

    def entries(self) -> list[Entry]:
        """Every queued event, oldest first; unreadable files as ``corrupt`` entries."""
        try:
            paths = [p for p in self.dir.glob("*.json") if not p.name.startswith(".")]
        except OSError:
            return []
        found = []
        for path in paths:
            with contextlib.suppress(FileNotFoundError):  # delivered meanwhile
                found.append(self.read(path))
        return sorted(found, key=lambda e: (e.created, e.id))

    def read(self, path: Path) -> Entry:
        """The entry in ``path``; a corrupt entry (with ``error``) if it is not valid."""
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_ENTRY_BYTES + 1)
            if len(raw) > MAX_ENTRY_BYTES:
                raise ValueError(f"larger than {MAX_ENTRY_BYTES} bytes")
            entry = _parse(path, json.loads(raw))
            if self._path(entry.id) != path:
                raise ValueError(f"the event's id {entry.id!r} is not the file's name")
            return entry
        except FileNotFoundError:
            raise
        except (OSError, ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return Entry(_event_id(path), path, error=f"not a valid outbox entry: {text[:200]}")

    def remove(self, entry: Entry) -> bool:
        """Forget ``entry`` (delivered or not); False if it was gone already."""
        try:
            entry.path.unlink()
        except FileNotFoundError:
            return False
        return True

    @contextlib.contextmanager
    def locked(self, wait: float) -> Iterator[bool]:
        """Hold the deliverers' lock; yields False if another process held it for
        ``wait`` seconds (0: do not wait)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            until = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= until:
                        yield False
                        return
                    time.sleep(0.02)
            self._sweep()
            yield True
        finally:
            os.close(fd)  # releases the lock

    def _path(self, event_id: str) -> Path:
        """The file of ``event_id``: percent-encoded where the id has ``/``, ``%`` or
        a leading dot, so any id makes one plain file name (a long one is shortened
        and made unique with a hash)."""
        name = quote(event_id, safe="_.-~:@+=,")
        if name.startswith("."):
            name = "%2E" + name[1:]
        if len(name) > _NAME_MAX:
            digest = hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:16]
            name = f"{name[: _NAME_MAX - 17]}~{digest}"
        return self.dir / f"{name}.json"

    def _write_temp(self, entry: Entry) -> str:
        assert entry.envelope is not None
        record = {
            "format": FORMAT,
            "created": entry.created,
            "event": entry.envelope.body,
            "sinks": {key: state.as_dict() for key, state in entry.sinks.items()},
        }
        data = json.dumps(record, indent=1).encode("utf-8")
        if len(data) > MAX_ENTRY_BYTES:  # a reader would call it corrupt: never written
            raise OSError(
                errno.EFBIG,
                f"the event takes {len(data)} bytes, more than an outbox entry holds "
                f"({MAX_ENTRY_BYTES})",
            )
        fd, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            os.unlink(temp)
            raise
        return temp

    def _sync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _sweep(self) -> None:
        """Remove temporary files over an hour old: writers that were killed left them."""
        cutoff = time.time() - STALE_TEMP
        for temp in self.dir.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()


def _parse(path: Path, record: Any) -> Entry:
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"not a format-{FORMAT} outbox record")
    envelope = read_envelope(record.get("event"))
    created = record.get("created")
    if parse_utc(created) is None:
        raise ValueError("'created' is not a UTC timestamp")
    sinks = record.get("sinks")
    if not isinstance(sinks, dict) or not sinks:
        raise ValueError("'sinks' is not a non-empty object")
    return Entry(
        envelope.id,
        path,
        str(created),
        envelope,
        {str(key): _state(key, value) for key, value in sinks.items()},
    )


def _event_id(path: Path) -> str:
    """The id a file's name stands for (what an unreadable file is listed under)."""
    return unquote(path.name.removesuffix(".json"))


def _state(key: str, value: Any) -> SinkState:
    if not isinstance(value, dict):
        raise ValueError(f"sink {key!r}: not an object")
    delivered, attempts = value.get("delivered"), value.get("attempts")
    error, when = value.get("last_error"), value.get("last_attempt")
    if (
        not isinstance(delivered, bool)
        or not isinstance(attempts, int)
        or isinstance(attempts, bool)
        or attempts < 0
        or not isinstance(error, str | None)
        or not isinstance(when, str | None)
    ):
        raise ValueError(f"sink {key!r}: delivered/attempts/last_error have the wrong types")
    return SinkState(delivered, attempts, error, when)


def updated(entry: Entry, key: str, *, delivered: bool, attempts: int, error: str | None) -> Entry:
    """``entry`` after a delivery to sink ``key``."""
    old = entry.sinks[key]
    state = SinkState(delivered, old.attempts + attempts, error, format_utc(utc_now()))
    return replace(entry, sinks={**entry.sinks, key: state})
