"""One remote as a push sees it: its name and URLs (credentials redacted), git commands
that talk to it under one deadline, and what git and ssh said when they failed -- in
words that name the real cause and what to do (SPEC §6)."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git import GitResult, Repository, deadline_left, git_env, redact


class PushFailed(ArtifactStoreError):
    """A push step failed; the push turns it into ``pushed: False`` and its reason."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable  # the remote never answered about our refs


def check_remote_name(remote: object) -> str:
    """A configured remote's name, or an ArtifactStoreError that says what to pass."""
    if not isinstance(remote, str) or not remote.strip():
        raise ArtifactStoreError("the remote must be the name of a configured git remote")
    if (
        "://" in remote
        or ":" in remote
        or remote.startswith(("/", ".", "~", "-"))
        or any(c.isspace() or ord(c) < 32 for c in remote)
    ):
        raise ArtifactStoreError(
            f"the remote must be the name of a configured git remote, not a URL, path or "
            f"option ({redact(remote)!r}); add it with 'git remote add NAME URL' and pass NAME"
        )
    return remote


@functools.lru_cache(maxsize=64)
def _may_multiplex(probe: str) -> bool:
    """Whether ssh's effective settings (``ssh -G``; asked once per command and host in
    a process) leave ControlMaster off, so the store may share a connection."""
    try:
        said = subprocess.run(
            probe,
            shell=True,
            capture_output=True,
            text=True,
            timeout=5,
            env=git_env(),
            start_new_session=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    setting = re.search(r"^controlmaster (\S+)", said, re.M)
    return setting is not None and setting.group(1) in ("false", "no")


def _control_dir() -> str | None:
    """A private directory for the shared connection's socket, whose path fits a Unix
    socket's limit (about 100 bytes): under TMPDIR, else /tmp, else none."""
    for parent in dict.fromkeys([tempfile.gettempdir(), "/tmp"]):
        with contextlib.suppress(OSError):
            path = tempfile.mkdtemp(prefix="artifact-store-ssh-", dir=parent)
            if len(path.encode()) + 2 <= 96:
                return path
            os.rmdir(path)
    return None


def _remove_stale_controls() -> None:
    """Socket directories of pushes killed before they could clean up: their master has
    exited (no socket left) and they are over a minute old."""
    for parent in dict.fromkeys([tempfile.gettempdir(), "/tmp"]):
        _remove_stale_in(parent)


def _remove_stale_in(parent: str) -> None:
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            if entry.name.startswith("artifact-store-ssh-") and entry.is_dir():
                with contextlib.suppress(OSError):
                    if time.time() - entry.stat().st_mtime > 60 and not os.listdir(entry.path):
                        os.rmdir(entry.path)


def _ssh_destination(url: str) -> list[str] | None:
    """ssh's arguments for the host of an SSH URL (``[-p PORT] [user@]host``), None for
    any other transport."""
    if url.startswith(("ssh://", "git+ssh://", "ssh+git://")):
        parts = urlsplit(url)
        if not parts.hostname:
            return None
        user = f"{parts.username}@" if parts.username else ""
        port = ["-p", str(parts.port)] if parts.port else []
        return [*port, f"{user}{parts.hostname}"]
    match = re.match(r"([A-Za-z0-9._-]+@)?([A-Za-z0-9._-]+):(?!//)", url)  # scp-like
    return [f"{match.group(1) or ''}{match.group(2)}"] if match else None


def later(remote: str) -> str:
    """What a push that ran out of time says about the limit and the way on."""
    return (
        "(the limit is push_timeout: artifact_store_push_timeout or --artifact-push-timeout "
        "under pytest, --timeout for artifact-store; the commit is kept locally: run "
        f"'artifact-store push --remote {redact(remote)}' later)"
    )


def no_remote(remote: str) -> str:
    name = redact(remote)
    return f"no remote named {name!r}; add it with 'git remote add {name} URL'"


@dataclass
class Link:
    """Git commands against one remote, all within one deadline."""

    repo: Repository
    remote: str
    limit: float  # seconds: push_timeout, or the timeout given to this push
    deadline: float = 0.0
    _urls: dict[str, str] = field(default_factory=dict)
    _ssh: dict[str, str] | None = None  # GIT_SSH_COMMAND sharing one connection
    _control: str | None = None  # the private directory of that connection's socket
    _ssh_base: str = "ssh"

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.limit

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the shared SSH connection, if one was opened, and remove its socket."""
        if self._control is None:
            return
        control, self._control = self._control, None
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                f"{self._ssh_base} -o ControlPath={shlex.quote(control)}/m -O exit x",
                shell=True,
                capture_output=True,
                timeout=5,
                env=git_env(),
                start_new_session=True,
            )
        shutil.rmtree(control, ignore_errors=True)

    def _ssh_env(self) -> dict[str, str] | None:
        """Over SSH, the steps of one push (push, fetch, push again) share one connection
        and one key exchange (``ControlMaster``, a private socket directory, closed when
        the push is done) -- unless the user's own ssh setup multiplexes or says
        otherwise (GIT_SSH, ControlMaster/ControlPath in the command or ssh config)."""
        if self._ssh is not None or self._control is not None:
            return self._ssh or None
        self._ssh = {}
        host = _ssh_destination(self.url())
        if host is None or (os.environ.get("GIT_SSH") and not os.environ.get("GIT_SSH_COMMAND")):
            return None
        base = os.environ.get("GIT_SSH_COMMAND") or ""
        if not base:
            res = self.repo.run(["config", "--get", "core.sshCommand"], check=False)
            base = res.stdout.strip() or "ssh"
        if re.search(r"control(master|path|persist)|(^|\s)-S\b", base, re.I):
            return None
        if not _may_multiplex(f"{base} -G {' '.join(shlex.quote(arg) for arg in host)}"):
            return None  # their own multiplexing (or an ssh that cannot say)
        _remove_stale_controls()
        self._control = _control_dir()
        if self._control is None:
            return None  # no short enough place for a socket: one connection a step
        self._ssh_base = base
        self._ssh = {
            "GIT_SSH_COMMAND": f"{base} -o ControlMaster=auto "
            f"-o ControlPath={shlex.quote(self._control)}/m -o ControlPersist=10 "
            "-o ServerAliveInterval=5 -o ServerAliveCountMax=3"
        }
        return self._ssh

    @property
    def name(self) -> str:
        return repr(redact(self.remote))

    def url(self, key: str = "pushurl") -> str:
        """The push URL (``pushurl``, else ``url``) as configured, unredacted: for git."""
        if not self._urls:
            url, pushurl = self.repo.remote_urls(self.remote)
            self._urls.update(url=url, pushurl=pushurl or url)
        return self._urls[key]

    def where(self) -> str:
        """``'origin' (<push URL, credentials redacted>)`` for messages."""
        url = self.url()
        return f"{self.name} ({redact(url)})" if url else self.name

    def source(self) -> str:
        """Where the state around a push is read: the push URL when one is set (a mirror
        to fetch from must not hide what the primary has), else the remote."""
        self.url()
        return self.remote if self._urls["pushurl"] == self._urls["url"] else self._urls["pushurl"]

    def run(self, step: str, args: list[str]) -> GitResult:
        """A git command that talks to the remote, killed (its process group) at the
        deadline; a timeout names the step, the remote, its URL and the limit."""
        left = deadline_left(self.deadline)
        env = self._ssh_env()
        res = (
            self.repo.run(args, timeout=left, check=False, env=env, die_with_parent=True)
            if left > 0
            else None
        )
        if res is None or res.timed_out:
            raise PushFailed(
                f"{step} {self.where()} timed out after {self.limit:g} s {later(self.remote)}",
                unreachable=True,
            )
        return res

    def receive_pack(self) -> tuple[list[str], dict[str, str]] | None:
        """The command (and environment) that runs ``git receive-pack`` for the push
        URL -- on this machine for a path or ``file://`` URL, over ssh for an SSH URL
        (the same ssh command and connection git uses) -- or None for another transport
        (HTTP: only git's own push speaks it)."""
        res = self.repo.run(["remote", "get-url", "--push", self.remote], check=False)
        url = res.stdout.strip() if res.returncode == 0 else ""
        if not url:
            return None
        env = git_env()
        if url.startswith("file://"):
            return ["git", "receive-pack", url.removeprefix("file://")], env
        host = _ssh_destination(url)
        if host is None:
            if "://" in url:
                return None
            path = url if os.path.isabs(url) else os.path.join(self.repo.cwd, url)
            return ["git", "receive-pack", path], env
        if os.environ.get("GIT_SSH") and not os.environ.get("GIT_SSH_COMMAND"):
            return None  # a program, not a command line: only git knows how to call it
        ssh = (self._ssh_env() or {}).get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH_COMMAND")
        if not ssh:
            res = self.repo.run(["config", "--get", "core.sshCommand"], check=False)
            ssh = res.stdout.strip() or "ssh"
        if url.startswith(("ssh://", "git+ssh://", "ssh+git://")):
            path = urlsplit(url).path
            path = path[1:] if path.startswith("/~") else path
        else:
            path = url.split(":", 1)[1]
        remote_command = f"git-receive-pack {shlex.quote(path)}"
        line = f"{ssh} {' '.join(shlex.quote(a) for a in host)} {shlex.quote(remote_command)}"
        return ["sh", "-c", line], env

    def fetch(
        self, step: str, refspecs: list[str], *, prune: bool = False, tips: Sequence[str] = ()
    ) -> GitResult:
        """``tips``: the local commits to negotiate from (the task's own history), so a
        fetch from a fleet's remote does not offer every ref this clone has; none: HEAD."""
        # --refmap= : only the refspecs given here are written (a mirror clone's
        # +refs/*:refs/* would otherwise force the local task branch too)
        args = ["fetch", "--refmap=", "--no-tags", "--no-write-fetch-head"]
        args += ["--recurse-submodules=no"] + (["--prune"] if prune else [])
        known = [t for t in tips if t] or [h for h in self.repo.resolve(["HEAD"]) if h]
        args += [f"--negotiation-tip={t}" for t in known]
        return self.run(step, [*args, self.source(), *refspecs])

    def failed(self, step: str, res: GitResult) -> PushFailed:
        """The error for a git command that failed talking to the remote."""
        cause = diagnose(res.stderr)
        words = failure_words(res.stderr, res.stdout)
        if cause is None or cause.startswith(_UNREACHABLE_CAUSES):
            return PushFailed(
                f"cannot reach remote {self.name}: {cause + ' -- ' if cause else ''}{words} "
                f"(url: {redact(self.url())})",
                unreachable=True,
            )
        return PushFailed(f"{step} {self.where()} failed: {cause} -- {words}", unreachable=True)


# What git and ssh say, and what it means. First match wins; the server's and ssh's own
# lines are always shown after it (credentials redacted).
_CAUSES: tuple[tuple[str, str], ...] = (
    (
        r"could not read (username|password)|authentication failed|returned error: 401|"
        r"http basic: access denied|invalid username or password",
        "credentials missing or refused (HTTP 401): give the runner a token through a "
        "credential helper (git config credential.helper ...) or an SSH deploy key",
    ),
    (
        r"returned error: 403|write access to repository not granted|permission to \S+ denied",
        "these credentials lack the access this needs (HTTP 403): use a token or deploy key "
        "with write access",
    ),
    (
        r"host key verification failed|no \S+ host key is known",
        "the server's SSH host key is unknown: add it to known_hosts "
        "(ssh-keyscan -p PORT HOST >> ~/.ssh/known_hosts) or let ssh accept it once "
        "(core.sshCommand 'ssh -o StrictHostKeyChecking=accept-new')",
    ),
    (
        r"(key|deploy)[^\n]*read[- ]only|read[- ]only[^\n]*(key|deploy)|"
        r"deploy keys? (are|is) not allowed to push",
        "the deploy key is read-only: give it write access on the server",
    ),
    (
        r"permission denied \((publickey|keyboard|password)",
        "the SSH server refused the key: check the key core.sshCommand uses "
        "('ssh -i KEY') and that it is a deploy key of this repository",
    ),
    (
        r"hook declined|protected branch|pre-receive|gh006|not allowed to push",
        "the server's hooks declined the push (branch protection or a policy); its words follow",
    ),
    (
        r"returned error: 413|request entity too large|body.*too large",
        "the server refused the request as too large (HTTP 413): raise its limit (e.g. "
        "nginx client_max_body_size) or push fewer versions at once",
    ),
    (
        r"repository not found|does not appear to be a git repository|returned error: 404|"
        r"not found|no such repository|does not exist",
        "repository not found: check the remote's URL and that these credentials can see it",
    ),
    (
        r"returned error: 50[015-9]|rpc failed; http 50[015-9]",
        "the server failed (HTTP 500): look at its logs, then push again",
    ),
    (r"could not resolve host|name or service not known", "the server's host name is unknown"),
    (r"connection refused", "the server refused the connection (is it up, is the port right?)"),
    (r"connection timed out|operation timed out", "the connection timed out"),
)
_CAUSE_RX = [(re.compile(rx, re.I), what) for rx, what in _CAUSES]
_UNREACHABLE_CAUSES = (
    "repository not found",
    "the server's host",
    "the server refused the c",
    "the connection",
)
_NOISE = re.compile(
    r"^(hint:|To |Done$|Everything up-to-date|Pushing to |POST |"
    r"Enumerating|Counting|Compressing|Writing|Total )"
)


def transient(stderr: str) -> bool:
    """The connection failed before the server said a word (reset, dropped at the
    handshake, HTTP 502/503/504): worth another try."""
    return bool(TRANSIENT.search(stderr)) and diagnose(stderr) is None


def diagnose(stderr: str) -> str | None:
    """What a failed git command's stderr means, or None when it says nothing known."""
    for rx, what in _CAUSE_RX:
        if rx.search(stderr):
            return what
    return None


def failure_words(stderr: str, stdout: str = "") -> str:
    """git's, ssh's and the server's own words for a failure: the server's ``remote:``
    lines, the refs it rejected, then the other lines (no hints, no progress)."""
    said = [ln[7:].strip() for ln in stderr.splitlines() if ln.startswith("remote:")]
    rejected = []
    for line in stdout.splitlines():
        if line.startswith("!"):
            parts = line.split("\t")
            if len(parts) >= 3 and FILLER not in parts[2]:
                rejected.append(f"{parts[1].split(':')[-1]} {parts[2]}")
    other = [
        ln.strip()
        for ln in stderr.splitlines()
        if ln.strip() and not ln.startswith("remote:") and not _NOISE.match(ln.strip())
    ]
    words = [s for s in said if s][-6:] + rejected[:3] + other[-4:]
    return redact(" / ".join(words)) if words else "git said nothing"


# A lost race, as git's --porcelain push output words it: the branch moved under us
# (client side), or the server's ref transaction lost to a concurrent push.
RACE = (
    "fetch first",
    "non-fast-forward",
    "stale info",
    "cannot lock ref",
    "atomic transaction failed",
    "failed to update ref",
    "failed to lock",
    "unable to lock",
    "incorrect old value",
    "reference already exists",
    "remote failed to report status",
)
FILLER = "atomic push failed"  # the refs that were fine when another one was rejected
TAG_TAKEN = "already exists"  # a tag of that name, pointing elsewhere, is on the remote
# The connection failed before the server said anything about our refs: try again.
TRANSIENT = re.compile(
    r"connection reset|kex_exchange_identification|connection closed by remote|"
    r"returned error: 50[234]|rpc failed; http 50[234]|early eof|broken pipe|"
    r"connection closed by \S+ port",
    re.I,
)
NO_ATOMIC = "does not support --atomic"


def porcelain(stdout: str) -> dict[str, tuple[str, str]]:
    """{destination ref: (flag, summary)} from ``git push --porcelain``."""
    status = {}
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and len(parts[0]) == 1:
            status[parts[1].rsplit(":", 1)[-1]] = (parts[0], parts[2])
    return status
