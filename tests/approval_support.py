"""What the approval tests share: one task, a store, a version, the remote's refs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import GitRunner

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

WF, TASK = "wf", "t1"
BRANCH = f"ai/generated/{WF}/{TASK}"


def make_store(repo: Path, **kw: Any) -> ArtifactStore:
    kw.setdefault("auto_push", True)
    return ArtifactStore(ArtifactStoreConfig(repo_path=repo, **kw))


def commit_version(
    store: ArtifactStore, artifacts: dict[str, Path], corr: str, pnl: float = 1.0
) -> Any:
    return store.commit_artifacts(
        WF,
        TASK,
        list(artifacts.values()),
        {"test_status": "passed", "test_metrics": {"pnl": pnl}},
        corr,
    )


def remote_refs(git: GitRunner, bare: Path) -> dict[str, str]:
    out = git(bare, "for-each-ref", "--format=%(objectname) %(refname)")
    return {ref: sha for sha, ref in (line.split() for line in out.splitlines())}


def push_cli(repo: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``artifact-store --repo REPO push`` in a process of its own, with ``env`` added."""
    return subprocess.run(
        [sys.executable, "-m", "pytest_artifact_store.cli", "--repo", str(repo), "push"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
