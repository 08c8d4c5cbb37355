"""Many machines, one remote: a fleet of runner processes, each with its own clone,
committing and pushing to one `git daemon` on 127.0.0.1 at once, half of them to the same
task. Prints, per fleet size: versions, pushes, tries, joins, `pushed: False` by cause,
push latency, and the time until the remote held every version (convergence).

    python benchmarks/bench_fleet.py [--runners 12,25,50] [--rounds 3] [--transport daemon|http|ssh]

The baseline beside it: one runner alone, the same rounds (the cost of a push nobody
races). These machines have 2 cores, so a big fleet measures CPU contention as much as
the protocol; the tries and joins are what a real server would see.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fleet_support import git_daemon, run_fleet
from servers import http_git_server, ssh_git_server


def _origin(base: Path) -> None:
    work = base / "seed"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "README.md").write_text("fleet\n")
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(work), "-c", "user.name=b", "-c", "user.email=b@e", "commit", "-qm", "x"],
        check=True,
    )
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(work), str(base / "remote.git")], check=True
    )


def _fleet(transport: str, tmp: Path, base: Path, tasks: dict[str, str], rounds: int) -> tuple:
    """Run the fleet against one server; returns (fleet, connections the server saw)."""
    where = Path(tmp) / "fleet"
    if transport == "ssh":
        with ssh_git_server(Path(tmp) / "sshd") as server:
            key = server.new_key("fleet")
            config = (f"core.sshCommand={server.ssh_command(key)}",)
            before = server.log.read_text().count("Accepted publickey")
            fleet = run_fleet(
                where,
                server.url(base / "remote.git"),
                tasks,
                rounds,
                mode="measure",
                clone_config=config,
            )
            seen = server.log.read_text().count("Accepted publickey") - before - len(tasks)
        return fleet, seen
    if transport == "http":
        with http_git_server(Path(tmp) / "nginx", base) as server:
            fleet = run_fleet(where, server.url("remote.git"), tasks, rounds, mode="measure")
            # one connection = one service request (info/refs); clones made one each
            seen = server.access_log.read_text().count("info/refs?service=") - len(tasks)
        return fleet, seen
    with git_daemon(base) as prefix:
        return run_fleet(where, f"{prefix}/remote.git", tasks, rounds, mode="measure"), None


def one(runners: int, rounds: int, transport: str = "daemon") -> str:
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        base = Path(tmp) / "served"
        base.mkdir()
        _origin(base)
        tasks = {f"r{i:02d}": "hot" if i % 2 == 0 else f"t{i % 7}" for i in range(runners)}
        fleet, connections = _fleet(transport, Path(tmp), base, tasks, rounds)
        reports = fleet.reports
        causes = Counter(
            "timeout"
            if "timed out" in str(r["error"])
            else "race"
            if "losing" in str(r["error"])
            else "other"
            for r in reports
            if not r["pushed"]
        )
        tries = sum(int(r["attempts"]) for r in reports)
        joins = sum(int(r["joins"]) for r in reports)
        secs = [float(r["seconds"]) for r in reports]
        bare = base / "remote.git"
        on_remote = sum(
            subprocess.run(
                [
                    "git",
                    "merge-base",
                    "--is-ancestor",
                    str(r["sha"]),
                    f"ai/generated/wf/{r['task']}",
                ],
                cwd=bare,
            ).returncode
            == 0
            for r in reports
        )
        failed = ", ".join(f"{k} {v}" for k, v in sorted(causes.items())) or "0"
        return (
            f"  {runners:3d} runners  {len(reports):4d} versions  {len(reports):4d} pushes  "
            f"{tries - len(reports):4d} retries  {joins:4d} joins  pushed False: {failed:10s}  "
            f"push median {statistics.median(secs):6.2f} s  max {max(secs):6.2f} s  "
            f"on remote {on_remote}/{len(reports)}  converged in {fleet.seconds:6.1f} s"
            + (
                f"  connections/push {connections / len(reports):.2f}"
                if connections is not None
                else ""
            )
        )


def run(
    quick: bool, sizes: list[int] | None = None, rounds: int = 3, transport: str = "daemon"
) -> list[str]:
    sizes = sizes or ([4, 12] if quick else [1, 12, 25, 50])
    lines = [f"fleet: runners with their own clones pushing over {transport}, {rounds} rounds each"]
    for size in sizes:
        start = time.monotonic()
        lines.append(one(size, rounds, transport))
        print(lines[-1], f"({time.monotonic() - start:.0f} s)", file=sys.stderr, flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", default="1,12,25,50")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transport", choices=["daemon", "http", "ssh"], default="daemon")
    args = parser.parse_args()
    sizes = [int(n) for n in args.runners.split(",")]
    print("\n".join(run(False, sizes, args.rounds, args.transport)))


if __name__ == "__main__":
    main()
