"""The store's half of ``pytest --artifact-store``, in a process of its own.

Started when the session is configured, it imports the store and the scanner, opens the
repository, compiles the scanner's rules and starts the git processes a commit uses --
on the other CPU, while the tests run -- then waits for the one commit request. The
pytest process imports none of that, so what ``--artifact-store`` adds to a session is
a process start and the commit itself (:class:`StoreClient`, the pytest side).

It also records the costly half of the reproducibility capsule
(:func:`pytest_artifact_store.capsule.capture.capture`: git, the installed distributions,
the inputs' digests) in a thread of its own, started with the configuration.

Protocol: JSON lines. In: ``{"config": {...}, "workflow_id", "task_id", "capsule": {...} |
null}``, then ``{"capsule": true}`` (answered ``{"capsule": {...}}`` or ``{"error"}``)
and ``{"commit": {...commit_artifacts arguments...}}``. Out: ``{"ready": true}`` or
``{"ready": false, "error"}``, then ``{"result": {...}}``, ``{"error"}`` or
``{"interrupted": true, "landed": sha | null}``. End of input: the process ends.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from pytest_artifact_store.errors import ArtifactStoreError

_MODULE = "pytest_artifact_store.pytest_plugin.worker"


def main() -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return main_loop(sys.stdin.buffer, sys.stdout)


def main_loop(source: IO[bytes], sink: IO[str]) -> int:
    try:
        return _serve(source, sink)
    except KeyboardInterrupt:  # Ctrl-C while idle: the pytest side says what happened
        return 130
    except OSError:  # pytest went away
        return 1


def _send(sink: IO[str], message: dict[str, Any]) -> None:
    sink.write(json.dumps(message) + "\n")
    sink.flush()


def _serve(source: IO[bytes], sink: IO[str]) -> int:
    # what every commit needs, imported while pytest is still starting up
    from pytest_artifact_store.scan import engine
    from pytest_artifact_store.store import ArtifactStore
    from pytest_artifact_store.store.config import ArtifactStoreConfig

    engine.Scanner  # noqa: B018 -- the engine module and its rules are loaded
    line = source.readline()
    if not line:
        return 0
    request = json.loads(line)
    if request.get("environ") is not None:  # as pytest's process has it now
        os.environ.clear()
        os.environ.update(request["environ"])
    capsule = _Capsule(request.get("capsule"))
    try:
        store = ArtifactStore(ArtifactStoreConfig(**request["config"]))
    except ArtifactStoreError as exc:
        _send(sink, {"ready": False, "error": str(exc)})
        return 0
    _send(sink, {"ready": True})
    with contextlib.suppress(Exception):  # whatever fails here fails again in the commit
        store.warm_up(request.get("workflow_id"), request.get("task_id"))
    try:
        while line := source.readline():
            message = json.loads(line)
            if "capsule" in message:
                _send(sink, capsule.answer())
                continue
            try:
                result = store.commit_artifacts(**message["commit"])
            except KeyboardInterrupt:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # one interrupt is enough
                _send(sink, {"interrupted": True, "landed": store.last_commit})
                break
            except ArtifactStoreError as exc:  # SecretDetectedError's message is masked
                _send(sink, {"error": str(exc)})
            except Exception as exc:
                _send(sink, {"error": f"{type(exc).__name__}: {exc}"})
            else:
                _send(sink, {"result": result})
    finally:
        store.close()
    return 0


class _Capsule:
    """The capsule's costly half, captured in a thread while the tests run."""

    def __init__(self, wire: dict[str, Any] | None) -> None:
        self._result: dict[str, Any] = {"error": "no capsule was asked for"}
        self._thread: threading.Thread | None = None
        if wire is not None:
            self._thread = threading.Thread(target=self._run, args=(wire,), daemon=True)
            self._thread.start()

    def _run(self, wire: dict[str, Any]) -> None:
        from pytest_artifact_store.capsule.capture import Request, capture

        try:
            self._result = {"capsule": capture(Request.from_wire(wire))}
        except Exception as exc:  # an unreadable input: pytest's side says so
            self._result = {"error": f"{type(exc).__name__}: {exc}"}

    def answer(self) -> dict[str, Any]:
        if self._thread is not None:
            self._thread.join()
        return self._result


class WorkerGone(Exception):
    """The worker process ended or never started: the caller commits in process."""


class StoreClient:
    """The pytest side: starts the worker (as early as pytest lets a plugin know the
    session will commit), hands it the settings, then asks it to commit.

    On Linux the worker is a fork of pytest's process: it shares the interpreter and
    every module pytest has loaded, so it has only the store's own imports to make;
    elsewhere it is a new interpreter (``python -m``)."""

    def __init__(self) -> None:
        self.landed: str | None = None
        self._ready: bool | None = None
        self._pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._to: IO[bytes] | None = None
        self._from: IO[bytes] | None = None
        self._pending = b""  # read from the worker, not yet a whole line
        self._frozen = False
        try:
            if sys.platform.startswith("linux"):
                self._fork()
            else:
                self._spawn()
        except OSError:
            self._to = self._from = None

    def _fork(self) -> None:
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        # what pytest has built so far lives as long as the session anyway: frozen, the
        # cyclic GC of either process leaves it alone, so its pages stay shared instead
        # of being copied (copy-on-write) the first time a collection touches them
        gc.freeze()
        self._frozen = True
        try:
            pid = os.fork()
        except OSError:
            self._frozen = False
            gc.unfreeze()
            raise
        if pid == 0:  # the worker: never returns into pytest
            code = 1
            try:
                # pytest's objects (frozen above) are never collected here: one of them
                # finalised would close an fd number this process has reused ...
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                # ... and none of its files stays open: a pipe that pytest's caller
                # reads to its end would otherwise wait for this process too
                for fd in _open_fds():
                    if fd > 2 and fd not in (down_r, up_w):
                        with contextlib.suppress(OSError):
                            os.close(fd)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                with os.fdopen(down_r, "rb") as source, os.fdopen(up_w, "w") as sink:
                    code = main_loop(source, sink)
            finally:
                os._exit(code)
        os.close(down_r)
        os.close(up_w)
        self._pid = pid
        self._to = os.fdopen(down_w, "wb")
        self._from = os.fdopen(up_r, "rb")

    def _spawn(self) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", _MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._to, self._from = self._proc.stdin, self._proc.stdout

    def configure(
        self,
        config: dict[str, Any],
        workflow_id: str | None,
        task_id: str | None,
        environ: dict[str, str] | None = None,
        capsule: dict[str, Any] | None = None,
    ) -> None:
        """The store's settings (and the environment its git commands see): the worker
        opens the repository and warms up, and captures the capsule's ``capsule`` request."""
        message = {
            "config": config,
            "workflow_id": workflow_id,
            "task_id": task_id,
            "capsule": capsule,
        }
        try:
            self._write({**message, "environ": environ})
        except WorkerGone:
            self._to = self._from = None

    def answered(self) -> bool:
        """Whether the worker's first answer (ready, or why not) can be read now."""
        if self._ready is not None:
            return True
        if self._from is None:
            raise WorkerGone
        return b"\n" in self._pending or bool(select.select([self._from], [], [], 0)[0])

    def wait_ready(self) -> str | None:
        """None once the worker opened the repository; its error otherwise."""
        if self._ready is None:
            reply = self._read()
            self._ready = bool(reply.get("ready"))
            if not self._ready:
                return str(reply.get("error"))
        return None

    def capsule(self) -> dict[str, Any]:
        """The capsule's half the worker captured (waiting for it if need be);
        ArtifactStoreError when capturing failed, WorkerGone when the worker is."""
        self.wait_ready()
        self._write({"capsule": True})
        reply = self._read()
        if "error" in reply:
            raise ArtifactStoreError(str(reply["error"]))
        captured: dict[str, Any] = reply["capsule"]
        return captured

    def commit(self, **arguments: Any) -> dict[str, Any]:
        """commit_artifacts in the worker: its result, ArtifactStoreError for a refusal,
        KeyboardInterrupt (after the worker said whether the version landed)."""
        self.wait_ready()
        self._write({"commit": arguments})
        try:
            reply = self._read()
        except KeyboardInterrupt:  # SIGINT here, or SIGTERM turned into one
            self.landed = self._interrupt()
            raise
        if reply.get("interrupted"):  # a Ctrl-C reached the worker alone
            self.landed = reply.get("landed")
            raise KeyboardInterrupt
        if "error" in reply:
            raise ArtifactStoreError(str(reply["error"]))
        result: dict[str, Any] = reply["result"]
        return result

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(OSError):
            if self._pid is not None:
                os.kill(self._pid, signum)
            elif self._proc is not None:
                self._proc.send_signal(signum)

    def _interrupt(self) -> str | None:
        """Interrupt the worker's commit (a terminal's Ctrl-C reached it already) and
        learn whether the version landed."""
        self._signal(signal.SIGINT)
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            reply = self._read()
        except (WorkerGone, ValueError):
            return None
        finally:
            signal.signal(signal.SIGINT, previous)
        return reply.get("landed") if reply.get("interrupted") else None

    def close(self) -> None:
        """End of input: the worker closes the store and ends, reaped in the background
        (it needs no more than its own teardown, and pytest is about to end too); then
        what was frozen for the fork goes back to the collector (pytest may run in
        process, inside a longer-lived program)."""
        frozen, self._frozen = self._frozen, False
        to, self._to, self._from = self._to, None, None
        if to is not None:
            with contextlib.suppress(OSError):
                to.close()
        pid, proc, self._pid, self._proc = self._pid, self._proc, None, None
        if pid is not None:
            threading.Thread(
                target=_reap, args=(pid, frozen), name="artifact-store-reap", daemon=True
            ).start()
        elif proc is not None:
            threading.Thread(target=proc.wait, name="artifact-store-reap", daemon=True).start()

    def _check_alive(self) -> None:
        """A worker that was stopped (SIGSTOP, a debugger gone) would be waited for
        forever: it is killed and the caller commits in process."""
        pid = self._pid if self._pid is not None else self._proc.pid if self._proc else None
        if pid is None:
            raise WorkerGone
        try:
            done, status = os.waitpid(pid, os.WNOHANG | os.WUNTRACED)
        except ChildProcessError:
            done, status = pid, 0
        if done and os.WIFSTOPPED(status):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            _reap(pid)
        if done:
            self._pid = None
            if self._proc is not None:
                self._proc.returncode = -1
            self._proc = None
            raise WorkerGone

    def _write(self, message: dict[str, Any]) -> None:
        if self._to is None:
            raise WorkerGone
        try:
            self._to.write((json.dumps(message) + "\n").encode())
            self._to.flush()
        except OSError:
            raise WorkerGone from None

    def _read(self) -> dict[str, Any]:
        # raw reads of the descriptor (a buffered reader could hold a line that select
        # no longer sees), waiting a second at a time so a stopped worker is noticed
        while b"\n" not in self._pending:
            if self._from is None:
                raise WorkerGone
            if not select.select([self._from], [], [], 1.0)[0]:
                self._check_alive()
                continue
            chunk = os.read(self._from.fileno(), 1 << 16)
            if not chunk:
                raise WorkerGone
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        return reply


def _open_fds() -> list[int]:
    try:
        return [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))


def _reap(pid: int, unfreeze: bool = False) -> None:
    """Wait for the worker; then what was frozen for the fork goes back to the collector
    -- not before: while the worker lives, a collection touching every object would copy
    every page it shares (and a pytest run from the command line ends first anyway)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    if unfreeze:
        gc.unfreeze()


if __name__ == "__main__":
    raise SystemExit(main())
