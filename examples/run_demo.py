"""`make demo`: back-test the example strategy and commit it with `pytest --artifact-store`.

Creates a throwaway demo repository (./demo-repo/project, with a bare ./demo-repo/origin.git
as its remote), fresh on every run, so nothing is ever committed into your own repository.
Then runs the example's tests with the plugin on, exactly as a CI job would, and shows
what landed in git; then runs them again with a worse parameter, which the regression gate
(``artifact_store_fail_on`` in the example's pytest.ini) refuses to commit.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "rsi_backtest"
DEMO = ROOT / "demo-repo"
PROJECT = DEMO / "project"  # artifact_store_repo in examples/rsi_backtest/pytest.ini
REMOTE = DEMO / "origin.git"
BRANCH = "ai/generated/wf_rsi_strategy/task_rsi_7_30_70"
TASK_DIR = "Backtest/codes/task_rsi_7_30_70"
# The prompt the strategy was "generated" from: its hash becomes the prompt_<hash> tag.
PROMPT = "Write a long-only RSI(7) mean-reversion strategy: buy below 30, sell above 70."


def git(*args: str, cwd: Path = PROJECT, show: bool = False) -> str:
    # A private identity and no signing: the demo must not depend on the user's git setup.
    cmd = ["git", "-c", "user.name=demo", "-c", "user.email=demo@example.com"]
    cmd += ["-c", "commit.gpgsign=false", *args]
    out = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout
    if show:
        print(f"$ git -C {PROJECT.relative_to(ROOT)} {' '.join(args)}")
        print(out.rstrip() + "\n")
    return out


def make_demo_repository() -> None:
    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    git("init", "-q", "--bare", str(REMOTE), cwd=DEMO)
    git("init", "-q", "-b", "main", str(PROJECT), cwd=DEMO)
    (PROJECT / "README.md").write_text("# A trading project whose strategies are tested by CI\n")
    git("add", "README.md")
    git("commit", "-q", "-m", "Initial commit")
    git("remote", "add", "origin", str(REMOTE))
    git("push", "-q", "origin", "main")


def run_backtest(correlation_id: str, prompt_hash: str, **env_extra: str) -> int:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--artifact-store",
        f"--artifact-correlation-id={correlation_id}",
        f"--artifact-prompt-hash={prompt_hash}",
        "-p",
        "no:cacheprovider",
    ]
    print(f"$ cd {EXAMPLE.relative_to(ROOT)} && pytest {' '.join(cmd[3:])}", flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_STORE_")}
    env.pop("RSI_OVERSOLD", None)
    env.update(env_extra)
    return subprocess.run(cmd, cwd=EXAMPLE, env=env, check=False).returncode


def run_degraded(prompt_hash: str) -> int:
    """A second run with a worse parameter: the regression gate (artifact_store_fail_on in
    the example's pytest.ini) compares it with the version just committed and refuses it."""
    before = git("rev-parse", BRANCH).strip()
    print("\n=== A second run that makes the strategy worse (RSI_OVERSOLD=20) ===\n")
    print("$ export RSI_OVERSOLD=20", flush=True)
    code = run_backtest(new_correlation_id(), prompt_hash, RSI_OVERSOLD="20")
    after = git("rev-parse", BRANCH).strip()
    if code == 1 and after == before:
        print(f"\nThe gate refused the worse version: {BRANCH} still ends at {before[:10]}.")
        return 0
    print(f"\nexpected the gate to refuse the run (exit 1), got {code}", file=sys.stderr)
    return 1


def new_correlation_id() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"demo-{stamp}-{secrets.token_hex(3)}"


def _artifact_store_command() -> str:
    """The command as the user can type it: the venv's script unless it is on PATH."""
    script = Path(sys.executable).parent / "artifact-store"
    if shutil.which("artifact-store") == str(script) or not script.exists():
        return "artifact-store"
    try:
        return str(script.relative_to(ROOT))
    except ValueError:
        return str(script)


def show_results() -> None:
    print("\n=== What landed in the demo repository ===\n")
    git("log", "--oneline", "--decorate", "--all", show=True)
    git("show", "--stat", "--format=%H%n%s%n%n%b", BRANCH, show=True)
    git("show", f"{BRANCH}:{TASK_DIR}/trades.csv", show=True)
    cli = [sys.executable, "-m", "pytest_artifact_store.cli", "--repo", str(PROJECT), "list"]
    listed = subprocess.run(cli, capture_output=True, text=True, check=False)
    if listed.returncode == 0:
        print(f"$ {_artifact_store_command()} --repo {PROJECT.relative_to(ROOT)} list")
        print(listed.stdout.rstrip() + "\n")
    rel = PROJECT.relative_to(ROOT)
    print("Look further:")
    print(f"  git -C {rel} show {BRANCH}:{TASK_DIR}/metadata.json")
    print(f"  git -C {rel} show {BRANCH}:{TASK_DIR}/test_report.json")
    print(f"  git -C {rel} tag -l 'corr_*' 'prompt_*'")
    print(f"  {_artifact_store_command()} --repo {rel} show {BRANCH}")
    print(f"  git -C {DEMO.relative_to(ROOT)}/origin.git log --oneline --all   # the pushed copy")


def main() -> int:
    make_demo_repository()
    prompt_hash = hashlib.sha256(PROMPT.encode()).hexdigest()[:16]
    code = run_backtest(new_correlation_id(), prompt_hash)
    if code != 0:
        print(f"\npytest --artifact-store exited with {code}: nothing to show.", file=sys.stderr)
        return code
    show_results()
    return run_degraded(prompt_hash)


if __name__ == "__main__":
    raise SystemExit(main())
