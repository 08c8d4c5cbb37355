"""The allowlist file, confidence and rule switches, end to end: ``artifact-store scan
--update-allowlist`` writes fingerprints that the scan, the pre-commit hook (real
``pre-commit``), the plain git hook and the store honour; ``--show-low`` lists what
never blocks; ``--disable-rule`` switches a rule off by id, and a typo is an error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import MAKERS
from test_secrets import RNG

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig
from pytest_artifact_store.errors import ArtifactStoreError, SecretDetectedError
from pytest_artifact_store.scan import Scanner, allowlist
from pytest_artifact_store.scan.findings import fingerprint

BIN = Path(sys.executable).parent
CLI = [str(BIN / "artifact-store")]
HOOK = [str(BIN / "artifact-store-secrets")]


def run(cmd: list[str], cwd: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for args in (
        ["init", "-q", "-b", "main"],
        ["config", "user.name", "t"],
        ["config", "user.email", "t@example.com"],
        ["commit", "-q", "--allow-empty", "-m", "init"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    return root


def test_update_allowlist_then_scan_is_clean(repo: Path) -> None:
    key = MAKERS["stripe-live"](RNG)
    fixture = repo / "tests" / "fixtures"
    fixture.mkdir(parents=True)
    (fixture / "feed.json").write_text(json.dumps({"note": "sample", "stripe": key}, indent=1))
    (repo / "notes.py").write_text("api_key = 'abc123'\n")  # low confidence
    first = run([*CLI, "scan", "--json", "."], repo)
    assert first.returncode == 1
    findings = json.loads(first.stdout)
    assert [(f["path"], f["line"], f["confidence"]) for f in findings] == [
        ("./tests/fixtures/feed.json", 3, "high")
    ]
    assert findings[0]["fingerprint"] == fingerprint("stripe-secret-key", key)
    low = run([*CLI, "scan", "--show-low", "."], repo)
    assert low.returncode == 1
    assert "./notes.py:1: api-key-assignment ab… [low confidence:" in low.stdout

    made = run([*CLI, "scan", "--update-allowlist", "tests"], repo)
    assert made.returncode == 0, made.stderr
    listed = repo / allowlist.FILENAME
    assert made.stdout.strip() == f"{listed}: 1 fingerprint(s) added (1 finding(s))"
    text = listed.read_text()
    assert key not in text and fingerprint("stripe-secret-key", key) in text
    assert "stripe-secret-key  tests/fixtures/feed.json:3" in text

    again = run([*CLI, "scan", "."], repo)
    assert (again.returncode, again.stdout) == (0, "")
    # running it again adds nothing and keeps the file as it was
    assert run([*CLI, "scan", "--update-allowlist", "."], repo).returncode == 0
    assert listed.read_text().startswith(text)
    assert fingerprint("api-key-assignment", "abc123") in listed.read_text()  # low ones too

    # the hook honours it from the top of the work tree, also when run from a subdirectory
    assert run([*HOOK, "tests/fixtures/feed.json"], repo).returncode == 0
    assert run([*HOOK, "fixtures/feed.json"], repo / "tests").returncode == 0
    other = run([*HOOK, "--allowlist", str(repo / "none.txt"), "tests/fixtures/feed.json"], repo)
    assert other.returncode == 2 and "no such file" in other.stderr


def test_a_broken_allowlist_names_the_line(repo: Path) -> None:
    (repo / allowlist.FILENAME).write_text("# ok\n" + "0" * 32 + "\nnot-a-fingerprint\n")
    (repo / "a.txt").write_text("hello\n")
    proc = run([*CLI, "scan", "a.txt"], repo)
    assert proc.returncode == 2
    assert f"{allowlist.FILENAME}:3: not a finding fingerprint ('not-a-fingerprint')" in (
        proc.stderr
    )


def test_disable_rule_by_id_and_a_typo_is_refused(repo: Path) -> None:
    key = MAKERS["stripe-live"](RNG)
    (repo / "a.py").write_text(f"charge('{key}')\n")
    assert run([*CLI, "scan", "a.py"], repo).returncode == 1
    off = run([*CLI, "scan", "--disable-rule", "stripe-secret-key", "a.py"], repo)
    assert (off.returncode, off.stdout) == (0, "")
    hook = run([*HOOK, "--disable-rule", "jwt,stripe-secret-key", "a.py"], repo)
    assert hook.returncode == 0
    typo = run([*CLI, "scan", "--disable-rule", "stripe-secret", "a.py"], repo)
    assert typo.returncode == 2
    assert "unknown secret rule id 'stripe-secret'" in typo.stderr
    rules = run([*CLI, "scan", "--list-rules"], repo).stdout.split()
    assert {"stripe-secret-key", "private-key", "password-assignment", "binance-api-key"} <= set(
        rules
    )
    with pytest.raises(ArtifactStoreError, match="unknown secret rule id 'nope'"):
        Scanner(disabled_rules=["nope"])


def test_the_store_honours_allowlist_and_disabled_rules(repo: Path) -> None:
    key = MAKERS["stripe-live"](RNG)
    out = repo.parent / "out"
    out.mkdir()
    (out / "strategy.py").write_text(f"FIXTURE = '{key}'\n")
    files = [out / "strategy.py"]
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    with pytest.raises(SecretDetectedError, match="artifact-store scan --update-allowlist"):
        store.commit_artifacts("wf", "t1", files, correlation_id="c1")
    (repo / allowlist.FILENAME).write_text(fingerprint("stripe-secret-key", key) + "\n")
    store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))
    result = store.commit_artifacts("wf", "t1", files, correlation_id="c1")
    shown = subprocess.run(
        ["git", "show", f"{result['commit_sha']}:Backtest/codes/t1/strategy.py"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == f"FIXTURE = '{key}'\n"
    (repo / allowlist.FILENAME).unlink()
    off = ArtifactStoreConfig(
        repo_path=repo, auto_push=False, disabled_secret_rules=["stripe-secret-key"]
    )
    assert ArtifactStore(off).commit_artifacts("wf", "t2", files, correlation_id="c2")["created"]
    with pytest.raises(ArtifactStoreError, match="unknown secret rule id 'stripe'"):
        ArtifactStoreConfig(repo_path=repo, disabled_secret_rules=["stripe"])


def test_pre_commit_honours_the_allowlist_and_rule_arguments(repo: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git missing")
    project = Path(__file__).resolve().parents[1]
    key = MAKERS["stripe-live"](RNG)
    (repo / "cfg.py").write_text(f"K = '{key}'\n")
    subprocess.run(["git", "add", "cfg.py"], cwd=repo, check=True)
    cmd = [
        sys.executable,
        "-m",
        "pre_commit",
        "try-repo",
        str(project),
        "artifact-store-secrets",
        "--files",
        "cfg.py",
    ]
    blocked = run(cmd, repo)
    assert blocked.returncode == 1, blocked.stdout
    assert "cfg.py:1: stripe-secret-key sk_l…" in blocked.stdout
    assert key not in blocked.stdout
    (repo / allowlist.FILENAME).write_text(fingerprint("stripe-secret-key", key) + "\n")
    passed = run(cmd, repo)
    assert passed.returncode == 0, passed.stdout
