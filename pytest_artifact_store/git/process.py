"""Running git: the environment our git calls get, one command in its own process group
(killed whole at a deadline), long-lived git processes, and what may be shown of
git's words (credentials redacted).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_artifact_store.errors import ArtifactStoreError

# Inherited variables that would redirect git away from the repository we opened
# (git exports them to hooks). Kept: transport, auth and config-isolation settings.
_KEEP_GIT_ENV = {
    "GIT_EXEC_PATH",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_SSH_VARIANT",
    "GIT_SSL_CAINFO",
    "GIT_SSL_NO_VERIFY",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_HTTP_PROXY_AUTHMETHOD",
    "GIT_ALLOW_PROTOCOL",
    "GIT_PROTOCOL_FROM_USER",
    "GIT_ASKPASS",
    "GIT_TERMINAL_PROMPT",
    "GIT_TRACE",
    "GIT_TRACE_PACKET",
    "GIT_CEILING_DIRECTORIES",
}


# Credentials in URLs: any user:password@, and for http(s)/ftp any userinfo at all (CI
# tokens ride as the user part: https://<token>@host/...); token-like query parameters.
_CREDENTIALS_IN_URL = re.compile(r"(://)[^/@\s:]*:[^/@\s]*@")


_USERINFO_IN_WEB_URL = re.compile(r"(\b(?:https?|ftps?)://)[^/@\s]+@", re.I)


_TOKEN_IN_QUERY = re.compile(
    r"([?&;][\w.-]*(?:token|secret|passw|pwd|key|auth|sig|session|jwt|credential|"
    r"x-amz-[\w-]+)[\w.-]*=)[^&\s#'\"]+",
    re.I,
)


def git_env(
    environ: Mapping[str, str] | None = None, *, keep_index: bool = False
) -> dict[str, str]:
    """The environment for our git calls: inherited ``GIT_*`` variables that point git
    elsewhere are dropped (git exports them to hooks); transport, auth and config
    isolation settings are kept. ``keep_index`` keeps ``GIT_INDEX_FILE`` (absolute),
    which a pre-commit hook needs: during ``git commit -a`` it names the index being
    committed."""
    source = os.environ if environ is None else environ
    env = {
        k: v
        for k, v in source.items()
        if not k.startswith("GIT_")
        or k in _KEEP_GIT_ENV
        or k.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))
    }
    if keep_index and source.get("GIT_INDEX_FILE"):
        env["GIT_INDEX_FILE"] = os.path.abspath(source["GIT_INDEX_FILE"])
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"
    return env


def redact(text: str) -> str:
    """Hide credentials embedded in URLs (git and ssh print remote URLs in their errors)."""
    text = _CREDENTIALS_IN_URL.sub(r"\1***@", text)
    text = _USERINFO_IN_WEB_URL.sub(r"\1***@", text)
    return _TOKEN_IN_QUERY.sub(r"\1***", text)


def last_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return redact(" / ".join(lines[-n:])) or "no message"


@dataclass
class GitResult:
    """What one git command left: exit code, stdout bytes, stderr text."""

    returncode: int
    raw: bytes  # stdout as git wrote it
    stderr: str
    timed_out: bool = False

    @property
    def stdout(self) -> str:
        return self.raw.decode("utf-8", "replace")


class LongLivedGit:
    """One git process kept for many requests (started on first use, again after it
    died or in a forked child), serialised by a lock."""

    def __init__(self, cwd: Path) -> None:
        self._cwd = cwd
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid = 0

    def _alive(self) -> subprocess.Popen[bytes] | None:
        proc = self._proc
        if proc is not None and (self._pid != os.getpid() or proc.poll() is not None):
            self.close_locked()
            proc = None
        return proc

    def _start(self, args: list[str], stderr: int) -> subprocess.Popen[bytes]:
        self._proc = proc = subprocess.Popen(
            ["git", *args],
            cwd=self._cwd,
            bufsize=0,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=git_env(),
        )
        self._pid = os.getpid()
        # A store that is never closed still ends its git process when collected.
        weakref.finalize(self, end_process, proc, self._pid)
        return proc

    def close_locked(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            end_process(proc, self._pid)

    def close(self) -> None:
        with self._lock:
            self.close_locked()


# git started in its own session (so a timeout kills its whole group) is out of reach of
# the signals that kill its caller's group: where possible it dies with its caller.
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None
_PDEATHSIG: tuple[str, ...] = (_SETPRIV, "--pdeathsig", "KILL", "--") if _SETPRIV else ()


def run_git(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None,
    input: bytes | None = None,
    timeout: float | None = None,
    check: bool = True,
    keep_index: bool = False,
    env: Mapping[str, str] | None = None,
    die_with_parent: bool = False,
) -> GitResult:
    """Run git in its own process group; on timeout the whole group is killed.
    ``env``: variables set for this command on top of :func:`git_env`.
    ``die_with_parent``: git is killed if this process dies first (Linux, through
    util-linux ``setpriv --pdeathsig``): a command that talks to a server must not
    outlive a caller killed by a signal it could not catch.

    With ``check``, a failure is an ArtifactStoreError naming the command and git's
    last words."""
    try:
        proc = subprocess.Popen(
            [*(_PDEATHSIG if die_with_parent else ()), "git", *args],
            cwd=cwd,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**git_env(keep_index=keep_index), **(env or {})},
            start_new_session=True,
        )
    except OSError as exc:
        raise ArtifactStoreError(f"cannot run git ({exc}); is git installed and on PATH?") from exc
    timed_out = False
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        out, err = _drain(proc)
    except BaseException:  # Ctrl-C, a CI cancel: git, in its own group, goes too
        _kill_group(proc)
        with contextlib.suppress(BaseException):
            proc.wait(timeout=2)
        raise
    result = GitResult(proc.returncode, out, err.decode("utf-8", "replace"), timed_out)
    if check and (result.returncode or timed_out):
        what = f"timed out after {timeout} s" if timed_out else f"exit {result.returncode}"
        raise ArtifactStoreError(f"git {args[0]} failed ({what}): {last_lines(result.stderr)}")
    return result


def end_process(proc: subprocess.Popen[bytes], owner: int) -> None:
    """Close a long-lived git's pipes (it then exits) and reap it; not in a forked child."""
    if owner != os.getpid():
        return
    with contextlib.suppress(OSError):
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def widen_pipe(fd: int) -> None:
    """Let git run ahead of the reader: a 1 MiB pipe instead of 64 KiB (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)


def _drain(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """What a killed git wrote. Something outside its group may still hold our pipes
    (an ssh ControlMaster is handed git's stderr): then stop reading, git is gone."""
    try:
        return proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()
        return b"", b""


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def deadline_left(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())
