"""A refused secret leaves no trace: not in objects, refs, reflogs, logs or the error.

SPEC §4 and §7.
"""

from __future__ import annotations

import logging
import subprocess
import traceback
from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig, SecretDetectedError


def _secrets() -> dict[str, str]:
    # assembled at run time so that no whole secret sits in this file
    return {
        "stripe": "sk_live_" + "51HqLyjWDarjtT1zdp7dc0a9f",
        "aws": "AKIA" + "QX7NZ2KD4RW5TYUV",
        "github": "ghp_" + "R4nd0mT0k3nV4lu3F0rT3st1ngPurp0s3s12",
        "password": "Tr0ub4dor" + "&3-horse-battery",
    }


def _everything_in(repo: Path) -> bytes:
    def run(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True).stdout

    gitdir = repo / ".git"
    logs = (
        b"".join(p.read_bytes() for p in (gitdir / "logs").rglob("*") if p.is_file())
        if (gitdir / "logs").exists()
        else b""
    )
    return b"\n".join(
        [
            run("cat-file", "--batch-all-objects", "--batch"),
            run("for-each-ref"),
            run("reflog", "--all"),
            logs,
            (gitdir / "packed-refs").read_bytes() if (gitdir / "packed-refs").exists() else b"",
        ]
    )


@pytest.mark.parametrize("where", ["strategy", "csv", "log", "metadata"])
@pytest.mark.parametrize("kind", ["stripe", "aws", "github", "password"])
def test_refused_secret_leaves_no_trace(repo, git, artifacts, caplog, where, kind):
    secret = _secrets()[kind]
    metadata = {"agent_version": "v1"}
    if where == "strategy":
        artifacts["strategy.py"].write_text(
            f"BROKER_PASSWORD = '{secret}'\n" if kind == "password" else f"KEY = '{secret}'\n"
        )
    elif where == "csv":
        artifacts["trades.csv"].write_text(f"time,side,api_key\n1,buy,{secret}\n")
    elif where == "log":
        artifacts["events.log"].write_text(
            f"2025-01-01 INFO connect password={secret} token={secret}\n"
        )
    else:
        metadata["broker"] = {"password": secret, "api_key": secret}
    caplog.set_level(logging.DEBUG)
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    before = git(repo, "for-each-ref")
    with pytest.raises(SecretDetectedError) as info:
        store.commit_artifacts(
            "wf", "t1", list(artifacts.values()), metadata=metadata, correlation_id="c1"
        )
    assert git(repo, "for-each-ref") == before
    err = info.value
    rendered = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    for text in (
        str(err),
        repr(err),
        rendered,
        caplog.text,
        repr([f.to_dict() for f in err.findings]),
    ):
        assert secret not in text
        assert secret[5:] not in text
    assert err.findings, "the secret must be found"
    assert all(f.preview.endswith("…") and len(f.preview) <= 5 for f in err.findings)
    assert secret.encode() not in _everything_in(repo)
