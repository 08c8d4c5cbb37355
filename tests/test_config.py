"""ArtifactStoreConfig (SPEC §2): the seed's fields and defaults, the environment rule,
and validation at construction."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStoreConfig, ArtifactStoreError
from pytest_artifact_store.scan import default_patterns


def test_defaults_are_the_seeds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = ArtifactStoreConfig()
    assert cfg.repo_path == tmp_path
    assert cfg.remote_name == "origin"
    assert cfg.branch_prefix == "ai/generated"
    assert cfg.commit_author_name == "algo-agent-bot"
    assert cfg.commit_author_email == "algo-agent@example.com"
    assert cfg.scan_for_secrets is True
    assert cfg.secret_patterns == default_patterns() and cfg.secret_patterns
    assert cfg.include_metadata is True
    assert cfg.metadata_filename == "metadata.json"
    assert cfg.auto_push is True
    assert cfg.push_timeout == 30
    assert cfg.max_rollback_depth == 10
    assert cfg.require_test_passed is True
    assert cfg.require_correlation_id is True
    assert cfg.artifact_root == "Backtest/codes"
    assert cfg.base_ref is None
    assert cfg.sign_commits is False
    assert cfg.max_file_size == 100 * 1024 * 1024
    assert cfg.extra_secret_patterns == []


def test_environment_replaces_defaults_and_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_AUTHOR_NAME", "ci-bot")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ci@example.org")
    monkeypatch.setenv("GIT_REMOTE_NAME", "upstream")
    monkeypatch.setenv("GIT_PUSH_TIMEOUT", "12.5")
    cfg = ArtifactStoreConfig()
    assert (cfg.commit_author_name, cfg.commit_author_email) == ("ci-bot", "ci@example.org")
    assert (cfg.remote_name, cfg.push_timeout) == ("upstream", 12.5)
    explicit = ArtifactStoreConfig(
        commit_author_name="me", commit_author_email="me@x.org", remote_name="o2", push_timeout=3
    )
    assert (explicit.commit_author_name, explicit.commit_author_email) == ("me", "me@x.org")
    assert (explicit.remote_name, explicit.push_timeout) == ("o2", 3)


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_PUSH_TIMEOUT", "soon")
    with pytest.raises(ArtifactStoreError, match="GIT_PUSH_TIMEOUT"):
        ArtifactStoreConfig()
    assert ArtifactStoreConfig(push_timeout=5).push_timeout == 5  # an argument needs no env


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"push_timeout": -1}, "push_timeout"),
        ({"push_timeout": 0}, "push_timeout"),
        ({"push_timeout": float("nan")}, "push_timeout"),
        ({"branch_prefix": ""}, "branch_prefix"),
        ({"branch_prefix": "ai//generated"}, "branch_prefix"),
        ({"branch_prefix": "ai/gen erated"}, "branch_prefix"),
        ({"branch_prefix": "ai/x.lock"}, "branch_prefix"),
        ({"branch_prefix": "ai/../x"}, "branch_prefix"),
        ({"max_rollback_depth": 0}, "max_rollback_depth"),
        ({"max_file_size": -5}, "max_file_size"),
        ({"metadata_filename": "a/b.json"}, "metadata_filename"),
        ({"artifact_root": "../outside"}, "artifact_root"),
        ({"artifact_root": "x/.git/y"}, "artifact_root"),
        ({"auto_push": "no"}, "auto_push"),
        ({"commit_author_name": ""}, "commit_author_name"),
        ({"commit_author_email": "a\nb"}, "commit_author_email"),
        ({"remote_name": " "}, "remote_name"),
        ({"secret_patterns": "sk_live"}, "secret_patterns"),
        ({"base_ref": ""}, "base_ref"),
        ({"push_timeout": "soon"}, "push_timeout"),
        ({"secret_patterns": ["("]}, "secret pattern"),
        ({"extra_secret_patterns": ["[a-"]}, "secret pattern"),
    ],
)
def test_invalid_values_raise_at_construction(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ArtifactStoreError, match=field):
        ArtifactStoreConfig(**kwargs)  # type: ignore[arg-type]


def test_push_timeout_accepts_a_numeric_string() -> None:
    assert ArtifactStoreConfig(push_timeout="12.5").push_timeout == 12.5  # type: ignore[arg-type]


def test_repo_path_accepts_a_string() -> None:
    assert ArtifactStoreConfig(repo_path="/tmp").repo_path == Path("/tmp")  # type: ignore[arg-type]
