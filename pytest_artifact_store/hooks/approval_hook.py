"""The pre-push hook's approval check: under ``require_approval`` (the environment's
ARTIFACT_STORE_REQUIRE_APPROVAL, or ``git config artifactstore.requireApproval true``),
a plain ``git push`` that would publish an artifact version nobody approved is refused."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pytest_artifact_store.hooks.githooks import ZERO_SHA


def unapproved_pushed(
    updates: Sequence[str], remote: str | None, repo: str | os.PathLike[str] | None = None
) -> list[str]:
    """``corr_x (workflow/task)`` for each version the pushed refs would publish that
    lacks its approvals; empty when require_approval is off."""
    from pytest_artifact_store.remote.facts import JOIN_TRAILER
    from pytest_artifact_store.store import open_store
    from pytest_artifact_store.store.history import task_of

    with open_store(Path(repo) if repo else None, auto_push=False) as store:
        if not store.config.require_approval:
            return []
        found: dict[str, str] = {}
        approved: dict[tuple[str, str], set[str]] = {}
        for line in updates:
            parts = line.split()
            if len(parts) != 4 or parts[1] in ZERO_SHA:
                continue  # a malformed line, or a deletion
            exclude = ["--not"] + ([f"--remotes={remote}"] if remote else [])
            if parts[3] not in ZERO_SHA and store.repo.resolve([parts[3]])[0]:
                exclude.append(parts[3])
            shas = store.repo.run(["rev-list", parts[1], *exclude]).stdout.split()
            for commit in store.repo.read_commits(shas):
                ids = task_of(commit)
                if ids is None or JOIN_TRAILER in commit.trailers:
                    continue
                if ids not in approved:
                    approved[ids] = store.approved_versions(*ids)
                if commit.sha not in approved[ids]:
                    name = commit.trailers.get("Correlation-Id") or commit.sha[:12]
                    found[commit.sha] = f"{name} ({ids[0]}/{ids[1]})"
        return list(found.values())


def report_unapproved(names: list[str]) -> int:
    """Print the refusal (exit code 1), or nothing (0)."""
    import sys

    if not names:
        return 0
    first = names[0].split(" ", 1)[0]
    print(
        f"artifact-store pre-push: refusing the push: {len(names)} artifact version(s) are "
        f"not approved (require_approval is on): {', '.join(names)}. Approve a version "
        f"first: 'artifact-store approve {first} --stage NAME' records the approval and "
        "pushes it (a version is pushed with its history: approve the earlier ones too)",
        file=sys.stderr,
    )
    return 1
