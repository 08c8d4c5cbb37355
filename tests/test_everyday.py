"""Everyday use (issue 20): what a new user trips over -- messages, exit codes, defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GitRunner

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig, SecretDetectedError
from pytest_artifact_store.scan import Scanner

STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_artifact_store.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_missing_path_is_a_usage_error_for_every_checker(tmp_path: Path) -> None:
    gone = str(tmp_path / "nonexist")
    for args in (["scan", gone], ["check-metadata", gone]):
        res = _cli(*args)
        assert res.returncode == 2, args
        assert f"error: no such file or directory: {gone}" in res.stderr
    hook = subprocess.run(
        [sys.executable, "-m", "pytest_artifact_store.hooks.metadata_hook", gone],
        capture_output=True,
        text=True,
        check=False,
    )
    assert hook.returncode == 2 and "no such file or directory" in hook.stderr


def test_secret_key_is_reported_as_a_secret_not_an_api_key() -> None:
    findings = Scanner().scan_bytes(b'secret_key = "Zx9kQ2mP7vL4nR8tW1yB6cD3fG5hJ0aS"\n', "s.py")
    assert [f.rule for f in findings] == ["secret-assignment"]
    findings = Scanner().scan_bytes(b'api_key = "Zx9kQ2mP7vL4nR8tW1yB6cD3fG5hJ0aS"\n', "s.py")
    assert [f.rule for f in findings] == ["api-key-assignment"]


@pytest.mark.parametrize(
    ("name", "pragma"), [("trades.csv", False), ("report.json", False), ("strategy.py", True)]
)
def test_a_secret_refusal_offers_what_works_for_that_file(
    repo: Path, tmp_path: Path, name: str, pragma: bool
) -> None:
    src = tmp_path / name
    src.write_text(f"x = 1\nkey = {STRIPE}\n")
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    with pytest.raises(SecretDetectedError) as caught:
        store.commit_artifacts("wf", "t1", [src], None, "c1")
    text = str(caught.value)
    assert f"{src}:2 (stripe-secret-key: sk_l…)." in text  # no "sk_l…." run-on
    assert ".artifact-store-allowlist" in text and "--update-allowlist" in text
    assert ("pragma: allowlist secret" in text) is pragma
    assert STRIPE not in text


def test_unknown_tag_error_reads_right_for_both_spellings(repo: Path) -> None:
    assert (
        "no tag corr_nope in this repository"
        in _cli("--repo", str(repo), "revert", "corr_nope").stderr
    )
    assert "no tag nope or corr_nope in" in _cli("--repo", str(repo), "revert", "nope").stderr


def test_the_pre_push_refusal_says_the_secret_is_in_local_history(
    repo: Path, bare_remote: Path, git: GitRunner
) -> None:
    assert _cli("--repo", str(repo), "install-hooks").returncode == 0
    (repo / "settings.py").write_text(f"KEY = '{STRIPE}'  # pragma: allowlist secret\n")
    git(repo, "add", "settings.py")
    git(repo, "commit", "-q", "--no-verify", "-m", "oops")
    (repo / "settings.py").write_text(f"KEY = '{STRIPE}'\n")
    git(repo, "commit", "-qam", "oops again", "--no-verify")
    push = subprocess.run(
        ["git", "push", "origin", "main"],
        cwd=repo,
        env={**os.environ, "ARTIFACT_STORE_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
    )
    assert push.returncode != 0
    assert "already in your local history" in push.stderr and "rotate" in push.stderr
    assert STRIPE not in push.stderr + push.stdout
