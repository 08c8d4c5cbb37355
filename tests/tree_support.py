"""Trees made with git plumbing, and what ``git diff-tree -r`` says of two of them (for
the tests of what a push publishes)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

TASK_DIR = "Backtest/codes/t1/"
BASE = {
    "README.md": "hello\n",
    "Backtest/codes/t1/a.csv": "a\n",
    "Backtest/codes/t1/sub/deep.txt": "deep\n",
    "Backtest/codes/t2/b.csv": "b\n",
}


def tree_of(repo: Path, files: dict[str, str], executable: frozenset[str] = frozenset()) -> str:
    index = repo / ".git" / f"tmp-index-{os.getpid()}"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    index.unlink(missing_ok=True)
    for path, text in files.items():
        blob = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=repo,
            input=text.encode(),
            capture_output=True,
            check=True,
        ).stdout.decode()
        mode = "100755" if path in executable else "100644"
        subprocess.run(
            ["git", "update-index", "--add", "--cacheinfo", f"{mode},{blob.strip()},{path}"],
            cwd=repo,
            env=env,
            check=True,
        )
    tree = subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, capture_output=True, check=True
    ).stdout
    index.unlink(missing_ok=True)
    return tree.decode().strip()


def diff_tree_says(repo: Path, new: str, base: str) -> bool:
    out = subprocess.run(
        ["git", "diff-tree", "-r", "--no-renames", "--name-only", "-z", base, new],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    return any(p and not p.decode().startswith(TASK_DIR) for p in out)
