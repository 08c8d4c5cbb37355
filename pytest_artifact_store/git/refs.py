"""Moving refs: one long-lived ``git update-ref --stdin`` per reflog message, each
call ONE transaction (start/prepare/commit) with compare-and-swap.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Sequence

from pytest_artifact_store.git.process import LongLivedGit, end_process


class RefUpdater(LongLivedGit):
    """A long-lived ``git update-ref --stdin``: each transaction is start, updates,
    prepare, commit on the same process, so a commit pays for no process start.

    The reflog message is fixed per process (``-m``): another message starts a new
    one. git ends the process when a transaction fails (a ref moved, is locked, ...),
    and its reason is on stderr; the next transaction starts a new process.
    """

    _message = ""

    def run(self, commands: Sequence[str], reflog: str) -> str | None:
        """None once git says ``commit: ok``; otherwise git's reason."""
        with self._lock:
            proc = self._process(reflog)
            assert proc.stdin is not None and proc.stdout is not None
            answer = b""
            with contextlib.suppress(OSError):
                proc.stdin.write("".join(c + "\n" for c in commands).encode())
                proc.stdin.flush()
                while not answer.endswith(b"commit: ok\n"):
                    chunk = os.read(proc.stdout.fileno(), 4096)
                    if not chunk:
                        break
                    answer += chunk
            if answer.endswith(b"commit: ok\n"):
                return None
            self._proc = None
            assert proc.stderr is not None
            with contextlib.suppress(OSError):
                proc.stdin.close()  # git is ending (or has): let it
            error = proc.stderr.read().decode("utf-8", "replace").strip()
            end_process(proc, self._pid)
            return error or f"git update-ref exited {proc.returncode}"

    def ready(self, reflog: str) -> None:
        """Start the process for ``reflog`` now, so the next :meth:`run` finds it."""
        with self._lock:
            self._process(reflog)

    def _process(self, reflog: str) -> subprocess.Popen[bytes]:
        if self._message != reflog:
            self.close_locked()
        proc = self._alive()
        if proc is None:
            proc = self._start(["update-ref", "-m", reflog, "--stdin"], subprocess.PIPE)
            self._message = reflog
        return proc
