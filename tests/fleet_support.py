"""Real processes and a real server for the many-machines tests (SPEC §6): a `git daemon`
on 127.0.0.1, and a fleet of runner processes, each with its own clone."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path | None = None) -> None:
    """Until ``port`` on 127.0.0.1 accepts; ``what`` failed if ``proc`` ends first."""
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                text = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
                raise RuntimeError(f"{what} did not start: {text}") from None
            time.sleep(0.05)


@contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """`git daemon` serving every repository under ``base`` (pushes allowed); yields
    the ``git://127.0.0.1:<port>`` prefix. Stopped by PID."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={base}",
            "--export-all",
            "--enable=receive-pack",
            "--max-connections=0",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc, "git daemon")
        yield f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# One runner of the fleet: commits `rounds` versions of its task and prints one JSON line
# per returned result, as an orchestrator would publish it. "api": auto-push inside
# commit_artifacts, as users run it; "measure": the same push made by the Pusher after the
# commit, to report its tries, joins and seconds (benchmarks/bench_fleet.py).
RUNNER = textwrap.dedent(
    """
    import hashlib, json, sys, time
    from pathlib import Path
    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig
    from pytest_artifact_store.remote.push import Pusher

    clone, name, task, rounds, mode = sys.argv[1:6]
    clone, measure = Path(clone), mode == "measure"
    config = ArtifactStoreConfig(repo_path=clone, push_timeout=90, auto_push=not measure)
    store = ArtifactStore(config)
    for i in range(int(rounds)):
        src = clone.parent / f"{name}-out"
        src.mkdir(exist_ok=True)
        (src / "strategy.py").write_text(f"# {name} round {i}\\n")
        (src / "trades.csv").write_text(f"time,side\\n{i},buy\\n")
        r = store.commit_artifacts(
            "wf", task, [src / "strategy.py", src / "trades.csv"],
            correlation_id=f"{name}-{i}", prompt_hash=hashlib.sha1(task.encode()).hexdigest()[:12],
        )
        report = {"runner": name, "task": task, "corr": f"corr_{name}-{i}",
                  "sha": r["commit_sha"], "pushed": r["pushed"], "error": r["push_error"]}
        if measure:
            start = time.monotonic()
            out = Pusher(store).push_branch("origin", r["branch"], 90)
            report.update(pushed=out.pushed, error=out.error, attempts=out.attempts,
                          joins=out.joins, seconds=time.monotonic() - start)
        print(json.dumps(report), flush=True)
    """
)


@dataclass
class Fleet:
    """Runners (name -> task), their clones, and what each reported."""

    clones: dict[str, Path]
    tasks: dict[str, str]
    reports: list[dict[str, object]] = field(default_factory=list)
    killed: set[str] = field(default_factory=set)
    seconds: float = 0.0


def run_fleet(
    tmp: Path,
    url: str,
    tasks: dict[str, str],
    rounds: int,
    *,
    kill: int = 0,
    seed: int = 0,
    mode: str = "api",
    clone_config: tuple[str, ...] = (),
) -> Fleet:
    """Clone ``url`` once per runner (``clone_config``: ``key=value`` settings each clone
    keeps, e.g. core.sshCommand), start every runner at once, SIGKILL ``kill`` of them at
    random moments (mid-commit or mid-push), and wait for the rest."""
    rng = random.Random(seed)
    clones = {}
    for name in tasks:
        clone = tmp / name / "clone"
        clone.parent.mkdir(parents=True)
        options = [arg for kv in clone_config for arg in ("-c", kv)]  # kept by the clone
        subprocess.run(["git", "clone", "-q", *options, url, str(clone)], check=True)
        clones[name] = clone
    fleet = Fleet(clones, dict(tasks))
    start = time.monotonic()
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(clones[name]), name, task, str(rounds), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, task in tasks.items()
    }
    victims = rng.sample(sorted(procs), kill)
    for name in victims:
        time.sleep(rng.uniform(0.3, 1.5))
        procs[name].send_signal(signal.SIGKILL)
        fleet.killed.add(name)
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        if name not in fleet.killed and proc.returncode != 0:
            raise AssertionError(f"runner {name} failed: {err.decode()[-2000:]}")
        for line in out.decode().splitlines():
            try:
                fleet.reports.append(json.loads(line))
            except ValueError:  # a line cut short by SIGKILL: never returned to anyone
                assert name in fleet.killed, line
    fleet.seconds = time.monotonic() - start
    return fleet


def git_processes_in(repo: Path) -> list[str]:
    """Command lines of git processes working in ``repo`` (the store runs git there)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if cwd == str(repo) and cmd.startswith(b"git"):
                found.append(cmd.decode(errors="replace"))
    return found


def wait_for_quiet(repo: Path, timeout: float = 60) -> None:
    """Until no git process works in ``repo`` (the store's detached maintenance ends)."""
    deadline = time.monotonic() + timeout
    while git_processes_in(repo) and time.monotonic() < deadline:
        time.sleep(0.05)
