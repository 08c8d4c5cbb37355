"""sign_commits (SPEC §2): commits and tags signed with the user's git signing setup."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig, ArtifactStoreError

needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen (openssh-client) is not installed"
)


def _store(repo: Path, **kw: object) -> ArtifactStore:
    return ArtifactStore(
        ArtifactStoreConfig(
            repo_path=repo, auto_push=False, commit_author_email="bot@example.com", **kw
        )  # type: ignore[arg-type]
    )


@pytest.fixture
def ssh_signing(repo: Path, git, tmp_path: Path) -> Path:
    key = tmp_path / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"bot@example.com {key.with_suffix('.pub').read_text()}")
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "user.signingkey", str(key))
    git(repo, "config", "gpg.ssh.allowedSignersFile", str(allowed))
    return key


@needs_ssh_keygen
def test_ssh_signed_commit_and_tags_verify(repo, git, ssh_signing, artifacts):
    result = _store(repo, sign_commits=True).commit_artifacts(
        "wf", "t1", list(artifacts.values()), correlation_id="c1", prompt_hash="abcdef"
    )
    sha = result["commit_sha"]
    assert "gpgsig -----BEGIN SSH SIGNATURE-----" in git(repo, "cat-file", "commit", sha)
    git(repo, "verify-commit", sha)
    git(repo, "verify-tag", "corr_c1")
    git(repo, "verify-tag", "prompt_abcdef")
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


@needs_ssh_keygen
def test_commit_gpgsign_in_user_config_is_ignored_when_signing_is_off(
    repo, git, ssh_signing, artifacts
):
    git(repo, "config", "commit.gpgsign", "true")
    git(repo, "config", "tag.gpgSign", "true")
    git(repo, "config", "user.signingkey", "/nonexistent/key")  # would fail if used
    result = _store(repo).commit_artifacts(
        "wf", "t1", list(artifacts.values()), correlation_id="c1"
    )
    assert "gpgsig" not in git(repo, "cat-file", "commit", result["commit_sha"])
    assert "SIGNATURE" not in git(repo, "cat-file", "tag", "corr_c1")


def test_signing_without_a_usable_key_refuses_and_changes_nothing(repo, git, artifacts):
    git(repo, "config", "gpg.format", "ssh")
    before = git(repo, "for-each-ref")
    with pytest.raises(ArtifactStoreError, match=r"user\.signingkey"):
        _store(repo, sign_commits=True).commit_artifacts(
            "wf", "t1", list(artifacts.values()), correlation_id="c1"
        )
    assert git(repo, "for-each-ref") == before


@needs_ssh_keygen
def test_an_approval_is_signed_when_git_signs_tags(repo, git, ssh_signing, artifacts):
    store = _store(repo)
    store.commit_artifacts("wf", "t1", list(artifacts.values()), correlation_id="c1")
    allowed = Path(git(repo, "config", "gpg.ssh.allowedSignersFile"))
    allowed.write_text(
        allowed.read_text() + f"test@example.com {ssh_signing.with_suffix('.pub').read_text()}"
    )
    git(repo, "config", "tag.gpgSign", "true")  # the approver's own setup, not the bot's
    approval = store.approve("c1", "prod", note="signed off", push=False)
    assert approval["signed"] is True
    git(repo, "verify-tag", approval["tag"])
    assert store.stages("wf", "t1")[0]["history"][0]["note"] == "signed off"
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""
