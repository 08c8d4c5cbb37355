"""The JSON-lines file sink: one structured CloudEvent per line, appended.

One ``write`` to a file opened with ``O_APPEND``, then ``fsync``: lines of concurrent
writers never interleave, and a line reported delivered is on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from pytest_artifact_store.events.envelope import Envelope
from pytest_artifact_store.events.sink import SendFailed, Sink


class JsonlSink(Sink):
    """Append events to ``path`` (its directory is made when missing)."""

    max_attempts = 1  # a local file: trying again at once would fail the same way

    def __init__(self, path: Path) -> None:
        self.path = path
        self.key = str(path)

    def attempt(self, envelope: Envelope, timeout: float) -> None:
        line = (envelope.body + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(f"short write ({written} of {len(line)} bytes)")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise SendFailed(f"cannot append: {exc.strerror or exc}", retryable=True) from None
