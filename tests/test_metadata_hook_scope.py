"""artifact-store-metadata checks the store's files only (issue 25), for real.

The store's files: ``metadata.json`` under the artifact root (``Backtest/codes`` unless
``--artifact-root``, ``ARTIFACT_STORE_ROOT`` or the pytest configuration's
``artifact_store_root`` says otherwise), and any file that declares the store's
``"schema_version": 1``. Every other file, such as ``docs/_static/metadata.json``, is left
alone. Each test runs the hook as a subprocess in a real git repository: directly, as the
plain git hook on a real ``git commit``, and through the real pre-commit with the manifest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import GitRunner

from pytest_artifact_store import naming
from pytest_artifact_store.hooks import metadata_hook
from pytest_artifact_store.pytest_plugin.settings import BY_NAME
from pytest_artifact_store.store.config import ArtifactStoreConfig

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOOK = str(BIN / "artifact-store-metadata")

UNRELATED = "docs/_static/metadata.json"  # e.g. Sphinx's, nothing to do with the store
SPHINX = {"project": "demo", "version": "1.0", "release": "1.0.3"}
UNDER_ROOT = "Backtest/codes/x/metadata.json"
ELSEWHERE = "docs/examples/metadata.json"
CUSTOM = "results/artifacts/t1/metadata.json"


def meta(path: str, *, drop: str | None = None, **extra: object) -> dict[str, Any]:
    """Metadata as the store writes it for ``path`` (its artifact directory holds strategy.py)."""
    directory = path.rsplit("/", 1)[0]
    content: dict[str, Any] = {
        "schema_version": 1,
        "workflow_id": "wf",
        "task_id": directory.rsplit("/", 1)[-1],
        "commit_timestamp": "2025-11-07T14:30:00.123456Z",
        "files": [f"{directory}/strategy.py", path],
        **extra,
    }
    if drop:
        del content[drop]
    return content


def write(repo: Path, path: str, content: object) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content if isinstance(content, str) else json.dumps(content, indent=2))
    (target.parent / "strategy.py").write_text("print('hi')\n")


def hook(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HOOK, *args],
        cwd=cwd,
        env=env if env is not None else dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def invalid_without_version(path: str) -> dict[str, Any]:
    """Invalid, and not declaring the store's version: only its place makes it the store's."""
    return meta(path, drop="schema_version") | {"task_id": "no spaces allowed"}


def task_id_problem(path: str) -> str:
    return (
        f"{path}: task_id: must be 1-100 characters of [A-Za-z0-9._-], not starting with '.' "
        "or '-', without '..', not ending in '.lock', got 'no spaces allowed'"
    )


# --------------------------------------------------------------------- the default scope


@pytest.mark.parametrize(
    "content",
    [
        SPHINX,
        {"schema_version": 2, "name": "another tool's file"},
        {"schema_version": "1", "name": "a string is not the store's version"},
        {"schema_version": True},
        ["not", "an", "object"],
        "not JSON at all",
    ],
    ids=["sphinx", "other-version", "string-version", "bool-version", "array", "not-json"],
)
def test_an_unrelated_metadata_json_is_left_alone(repo: Path, content: object) -> None:
    write(repo, UNRELATED, content)
    proc = hook(repo, UNRELATED)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    verbose = hook(repo, "--verbose", UNRELATED)
    assert verbose.returncode == 0
    assert verbose.stdout == ""
    assert verbose.stderr == (
        f"{UNRELATED}: skipped: not metadata.json under Backtest/codes/ (the default), "
        'and no "schema_version": 1\n'
    )


def test_an_invalid_file_under_the_artifact_root_fails_naming_the_field(repo: Path) -> None:
    write(repo, UNRELATED, SPHINX)
    write(repo, UNDER_ROOT, meta(UNDER_ROOT, drop="commit_timestamp"))
    nested = "Backtest/codes/y/deeper/metadata.json"  # <root>/**/metadata.json
    write(repo, nested, invalid_without_version(nested))
    proc = hook(repo, UNRELATED, UNDER_ROOT, nested)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        f"{UNDER_ROOT}: commit_timestamp: required field is missing",
        task_id_problem(nested),
    ]
    write(repo, UNDER_ROOT, meta(UNDER_ROOT))
    assert hook(repo, UNDER_ROOT).returncode == 0


def test_the_root_is_anchored_at_the_top_of_the_repository(repo: Path) -> None:
    path = "vendor/Backtest/codes/x/metadata.json"
    write(repo, path, invalid_without_version(path))
    assert hook(repo, path).returncode == 0
    # a relative path from a subdirectory still names the repository path
    write(repo, UNDER_ROOT, invalid_without_version(UNDER_ROOT))
    proc = hook(repo / "Backtest", "codes/x/metadata.json")
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [task_id_problem("codes/x/metadata.json")]


def test_a_file_declaring_the_schema_version_is_validated_anywhere(repo: Path) -> None:
    write(repo, ELSEWHERE, meta(ELSEWHERE, drop="task_id"))
    proc = hook(repo, ELSEWHERE)
    assert proc.returncode == 1
    assert proc.stdout == f"{ELSEWHERE}: task_id: required field is missing\n"
    write(repo, ELSEWHERE, meta(ELSEWHERE))
    assert hook(repo, ELSEWHERE).returncode == 0
    # another name too, when pre-commit's files: (or the caller) passes it
    other = "fixtures/sample.json"
    write(repo, other, meta(other, commit_timestamp="2025-11-07T14:30:00+01:00"))
    proc = hook(repo, other)
    assert proc.returncode == 1
    assert "fixtures/sample.json: commit_timestamp: must be UTC" in proc.stdout


def test_an_artifact_directory_outside_any_repository(tmp_path: Path) -> None:
    """A copied-out artifact directory: the root may appear anywhere in its path."""
    outside = tmp_path / "copy"
    write(outside, UNDER_ROOT, "not JSON at all")
    path = str(outside / UNDER_ROOT)
    proc = hook(tmp_path, path)
    assert proc.returncode == 1
    assert proc.stdout.startswith(f"{path}: not valid JSON")
    write(outside, UNRELATED, "not JSON at all")
    assert hook(tmp_path, str(outside / UNRELATED)).returncode == 0


# --------------------------------------------------------------------- --artifact-root


@pytest.fixture
def three(repo: Path) -> Path:
    """An invalid store file at the default root and at results/artifacts, plus Sphinx's."""
    write(repo, UNDER_ROOT, invalid_without_version(UNDER_ROOT))
    write(repo, CUSTOM, invalid_without_version(CUSTOM))
    write(repo, UNRELATED, SPHINX)
    return repo


@pytest.mark.parametrize(
    ("args", "reported"),
    [
        ([], [UNDER_ROOT]),
        (["--artifact-root", "results/artifacts"], [CUSTOM]),
        (["--artifact-root=results/artifacts/"], [CUSTOM]),
        (["--artifact-root", "results/artifacts,Backtest/codes"], [UNDER_ROOT, CUSTOM]),
        (["--artifact-root", "results", "--artifact-root", "Backtest"], [UNDER_ROOT, CUSTOM]),
        (["--artifact-root", ""], [UNDER_ROOT, CUSTOM, UNRELATED]),
        (["--artifact-root", "."], [UNDER_ROOT, CUSTOM, UNRELATED]),
    ],
)
def test_artifact_root_argument(three: Path, args: list[str], reported: list[str]) -> None:
    proc = hook(three, *args, UNDER_ROOT, CUSTOM, UNRELATED)
    assert proc.returncode == 1, proc.stderr
    assert list(dict.fromkeys(line.split(": ", 1)[0] for line in proc.stdout.splitlines())) == (
        reported
    )


@pytest.mark.parametrize("root", ["../elsewhere", "a/../b", ".git/x"])
def test_a_bad_artifact_root_is_a_usage_error(three: Path, root: str) -> None:
    proc = hook(three, "--artifact-root", root, UNDER_ROOT)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("artifact-store-metadata: error: invalid --artifact-root")


# ------------------------------------------------- the root the plugin is configured with


def test_the_hook_reads_the_plugins_own_setting_and_default() -> None:
    setting = BY_NAME["root"]
    assert setting.config_field == "artifact_root"
    assert (
        setting.ini_key,
        setting.env_var,
    ) == (metadata_hook.ROOT_INI_KEY, metadata_hook.ROOT_ENV_VAR)
    assert ArtifactStoreConfig().artifact_root == naming.DEFAULT_ARTIFACT_ROOT
    assert ArtifactStoreConfig().metadata_filename == metadata_hook.DEFAULT_NAME


CONFIGS = {
    "pyproject.toml": '[tool.pytest.ini_options]\nartifact_store_root = "results/artifacts"\n',
    "pyproject.toml (native)": '[tool.pytest]\nartifact_store_root = "results/artifacts"\n',
    "pytest.ini": "[pytest]\naddopts = -ra\nartifact_store_root = results/artifacts\n",
    "pytest.toml": '[pytest]\nartifact_store_root = "results/artifacts"\n',
    "tox.ini": "[tox]\nenvlist = py\n[pytest]\nartifact_store_root = results/artifacts\n",
    "setup.cfg": "[metadata]\nname = x\n[tool:pytest]\nartifact_store_root = results/artifacts\n",
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_the_root_from_the_pytest_configuration(three: Path, config: str) -> None:
    (three / config.split(" ")[0]).write_text(CONFIGS[config])
    proc = hook(three, "-v", UNDER_ROOT, CUSTOM, UNRELATED)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [task_id_problem(CUSTOM)]
    source = f"artifact_store_root in {config.split(' ')[0]}"
    assert f"{UNDER_ROOT}: skipped: not metadata.json under results/artifacts/ ({source})" in (
        proc.stderr
    )


def test_argument_beats_environment_beats_configuration(three: Path) -> None:
    (three / "pyproject.toml").write_text(CONFIGS["pyproject.toml"])
    env = dict(os.environ, ARTIFACT_STORE_ROOT="Backtest/codes")
    assert hook(three, UNDER_ROOT, CUSTOM, env=env).stdout.splitlines() == [
        task_id_problem(UNDER_ROOT)
    ]
    args = ["--artifact-root", "results", UNDER_ROOT, CUSTOM]
    assert hook(three, *args, env=env).stdout.splitlines() == [task_id_problem(CUSTOM)]
    env["ARTIFACT_STORE_ROOT"] = "  "  # blank: not set, as the plugin reads it
    assert hook(three, UNDER_ROOT, CUSTOM, env=env).stdout.splitlines() == [task_id_problem(CUSTOM)]


def test_the_configuration_file_pytest_would_pick_decides(three: Path) -> None:
    """pytest.ini wins over pyproject.toml even without the key: then the default applies."""
    (three / "pyproject.toml").write_text(CONFIGS["pyproject.toml"])
    (three / "pytest.ini").write_text("[pytest]\naddopts = -ra\n")
    assert hook(three, UNDER_ROOT, CUSTOM).stdout.splitlines() == [task_id_problem(UNDER_ROOT)]
    # a pyproject.toml without pytest settings is passed over, like pytest does
    (three / "pytest.ini").unlink()
    (three / "tox.ini").write_text(CONFIGS["tox.ini"])
    (three / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert hook(three, UNDER_ROOT, CUSTOM).stdout.splitlines() == [task_id_problem(CUSTOM)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[pytest]\nartifact_store_root = ../out\n", "invalid artifact_store_root '../out'"),
        ("[pytest]\nartifact_store_root =\n", "artifact_store_root must not be empty"),
    ],
)
def test_a_bad_configured_root_is_a_usage_error(three: Path, content: str, message: str) -> None:
    (three / "pytest.ini").write_text(content)
    proc = hook(three, UNDER_ROOT)
    assert proc.returncode == 2
    assert message in proc.stderr and "pytest.ini" in proc.stderr


def test_an_unreadable_configuration_is_read_only_when_a_file_needs_it(three: Path) -> None:
    (three / "pyproject.toml").write_text("[tool.pytest.ini_options\n")
    assert hook(three).returncode == 0  # nothing to decide: the file is not read
    proc = hook(three, UNDER_ROOT)
    assert proc.returncode == 2
    assert "cannot read artifact_store_root from" in proc.stderr
    assert hook(three, "--artifact-root", "Backtest/codes", UNDER_ROOT).returncode == 1


# --------------------------------------------------------------------- --staged, plain hook


def run_git(
    repo: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture
def hooked(repo: Path) -> Path:
    """``repo`` with the plain git hooks installed by the real command."""
    proc = subprocess.run(
        [str(BIN / "artifact-store"), "install-hooks", "--repo", str(repo), "--hook", "pre-commit"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return repo


def test_staged_commit_of_an_unrelated_metadata_json_succeeds(hooked: Path, git: GitRunner) -> None:
    write(hooked, UNRELATED, SPHINX)
    git(hooked, "add", "docs")
    proc = run_git(hooked, "commit", "-q", "-m", "docs")
    assert proc.returncode == 0, proc.stderr
    assert git(hooked, "rev-list", "--count", "HEAD") == "2"


@pytest.mark.parametrize(
    ("path", "content", "problem"),
    [
        (UNDER_ROOT, invalid_without_version(UNDER_ROOT), task_id_problem(UNDER_ROOT)),
        (
            ELSEWHERE,
            meta(ELSEWHERE, drop="workflow_id"),
            f"{ELSEWHERE}: workflow_id: required field is missing",
        ),
    ],
    ids=["under-root", "declares-version"],
)
def test_staged_commit_of_a_store_file_is_checked(
    hooked: Path, git: GitRunner, path: str, content: object, problem: str
) -> None:
    write(hooked, UNRELATED, SPHINX)
    write(hooked, path, content)
    git(hooked, "add", "-A")
    proc = run_git(hooked, "commit", "-q", "-m", "artifacts")
    assert proc.returncode != 0
    assert problem in proc.stderr.splitlines()
    assert UNRELATED not in proc.stderr
    assert git(hooked, "rev-list", "--count", "HEAD") == "1"
    write(hooked, path, meta(path))  # fixed and staged: the commit goes through
    git(hooked, "add", "-A")
    assert run_git(hooked, "commit", "-q", "-m", "artifacts").returncode == 0


def test_staged_mode_honours_the_configured_root(hooked: Path, git: GitRunner) -> None:
    write(hooked, UNDER_ROOT, invalid_without_version(UNDER_ROOT))
    write(hooked, CUSTOM, invalid_without_version(CUSTOM))
    git(hooked, "add", "-A")
    direct = hook(hooked, "--staged", "--artifact-root", "results/artifacts")
    assert (direct.returncode, direct.stdout.splitlines()) == (1, [task_id_problem(CUSTOM)])
    env = dict(os.environ, ARTIFACT_STORE_ROOT="results/artifacts")
    proc = run_git(hooked, "commit", "-q", "-m", "artifacts", env=env)
    assert proc.returncode != 0
    assert task_id_problem(CUSTOM) in proc.stderr.splitlines()
    assert UNDER_ROOT not in proc.stderr
    (hooked / "pyproject.toml").write_text(CONFIGS["pyproject.toml"])
    git(hooked, "rm", "-q", "--cached", CUSTOM)
    proc = run_git(hooked, "commit", "-q", "-m", "only the unconfigured directory")
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------- pre-commit


def _manifest_entry() -> dict[str, Any]:
    hooks = yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    (entry,) = [h for h in hooks if h["id"] == "artifact-store-metadata"]
    return dict(entry)


def test_the_manifest_matches_metadata_json_anywhere() -> None:
    entry = _manifest_entry()
    assert entry["files"] == r"(^|/)metadata\.json$"
    assert entry["types"] == ["json"]
    assert entry["entry"] == "artifact-store-metadata"


def pre_commit(repo: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


@pytest.mark.parametrize(
    ("args", "reported"),
    [
        (None, [UNDER_ROOT, ELSEWHERE]),
        (["--artifact-root", "results/artifacts"], [CUSTOM, ELSEWHERE]),
    ],
)
def test_pre_commit_run_with_the_manifest_entry(
    three: Path, tmp_path: Path, git: GitRunner, args: list[str] | None, reported: list[str]
) -> None:
    """`pre-commit run` with the manifest's own entry, files: and types: (run from this
    checkout's environment), and a user's `args:`."""
    hook_config = _manifest_entry() | {"language": "system"}
    if args:
        hook_config["args"] = args
    config = {"repos": [{"repo": "local", "hooks": [hook_config]}]}
    (three / ".pre-commit-config.yaml").write_text(json.dumps(config, indent=2))
    write(three, ELSEWHERE, meta(ELSEWHERE, drop="workflow_id"))
    git(three, "add", "-A")
    proc = pre_commit(three, tmp_path, "run", "artifact-store-metadata", "--all-files")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    problems = sorted(
        line.split(": ", 1)[0]
        for line in proc.stdout.splitlines()
        if line.endswith(("required field is missing", "got 'no spaces allowed'"))
    )
    assert problems == sorted(reported), proc.stdout
    assert UNRELATED not in proc.stdout


def test_pre_commit_try_repo_leaves_unrelated_files_alone(
    repo: Path, tmp_path: Path, git: GitRunner
) -> None:
    """The packaged hook, installed by the real pre-commit from this repository."""
    write(repo, UNRELATED, SPHINX)
    write(repo, UNDER_ROOT, meta(UNDER_ROOT))
    git(repo, "add", "-A")
    args = ["try-repo", str(PROJECT), "artifact-store-metadata", "--all-files"]
    passed = pre_commit(repo, tmp_path, *args)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    write(repo, ELSEWHERE, meta(ELSEWHERE, drop="task_id"))
    git(repo, "add", "-A")
    failed = pre_commit(repo, tmp_path, *args)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"{ELSEWHERE}: task_id: required field is missing" in failed.stdout
    assert UNRELATED not in failed.stdout
