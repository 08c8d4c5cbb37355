"""ArtifactStoreConfig: every field of the seed with its default, plus the added ones.

The seed's environment variables (GIT_AUTHOR_NAME, GIT_AUTHOR_EMAIL, GIT_REMOTE_NAME,
GIT_PUSH_TIMEOUT) replace the *defaults*; a value passed to the constructor wins.
Everything is validated at construction, naming the field (or variable) at fault.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError

MIB = 1024 * 1024


def default_patterns() -> list[str]:
    """The scanner's built-in rules (imported on first use: compiling them is not free)."""
    from pytest_artifact_store.scan import default_patterns as builtin

    return builtin()


def _env_str(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value else default


def _env_number(name: str, default: float, kind: str = "a number of seconds") -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ArtifactStoreError(f"invalid {name} {raw!r} in the environment: use {kind}") from None
    return int(value) if value.is_integer() else value


def _env_timeout() -> float:
    return _env_number("GIT_PUSH_TIMEOUT", 30)


def _bool_word(raw: str, where: str) -> bool:
    word = raw.strip().lower()
    if word in ("", "0", "false", "no", "off", "n", "f"):
        return False
    if word in ("1", "true", "yes", "on", "y", "t"):
        return True
    raise ArtifactStoreError(f"invalid {where} {raw!r}: use true or false")


def _env_bool(name: str) -> bool:
    return _bool_word(os.environ.get(name, ""), f"{name} in the environment")


def _env_list(name: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", os.environ.get(name, "")) if w]


@dataclass
class ArtifactStoreConfig:
    """The store's settings (SPEC §2): the seed's ArtifactStoreConfig plus additions."""

    # Git repository settings
    repo_path: Path = field(default_factory=Path.cwd)
    remote_name: str = field(default_factory=lambda: _env_str("GIT_REMOTE_NAME", "origin"))
    # Branch naming
    branch_prefix: str = "ai/generated"
    # Commit settings
    commit_author_name: str = field(
        default_factory=lambda: _env_str("GIT_AUTHOR_NAME", "algo-agent-bot")
    )
    commit_author_email: str = field(
        default_factory=lambda: _env_str("GIT_AUTHOR_EMAIL", "algo-agent@example.com")
    )
    # Security: a list given here REPLACES the built-in rules (seed, troubleshooting).
    scan_for_secrets: bool = True
    secret_patterns: list[str] = field(default_factory=default_patterns)
    # Metadata
    include_metadata: bool = True
    metadata_filename: str = naming.DEFAULT_METADATA_FILENAME
    # Push settings
    auto_push: bool = True
    push_timeout: float = field(default_factory=_env_timeout)
    # Rollback
    max_rollback_depth: int = 10
    # Validation
    require_test_passed: bool = True
    require_correlation_id: bool = True
    # Added by SPEC §2
    artifact_root: str = naming.DEFAULT_ARTIFACT_ROOT
    base_ref: str | None = None
    sign_commits: bool = False
    max_file_size: int = 100 * MIB
    # Patterns added to the built-in rules (or to secret_patterns) instead of replacing them.
    extra_secret_patterns: list[str] = field(default_factory=list)
    # Rule ids switched off (``artifact-store scan --list-rules`` names them).
    disabled_secret_rules: list[str] = field(default_factory=list)
    # Finding fingerprints judged not secret: this file, relative to repo_path (None: none).
    secret_allowlist: str | None = naming.ALLOWLIST_FILENAME
    # Approval (README "Approval before push"): versions stay local until approved.
    require_approval: bool = field(
        default_factory=lambda: _env_bool("ARTIFACT_STORE_REQUIRE_APPROVAL")
    )
    required_approvals: int = field(
        default_factory=lambda: int(
            _env_number("ARTIFACT_STORE_REQUIRED_APPROVALS", 1, "a positive whole number")
        )
    )
    # Events (README "Events"): sinks as URIs -- http(s):// webhooks, redis://, a .jsonl file.
    event_sinks: list[str] = field(default_factory=lambda: _env_list("ARTIFACT_STORE_EVENTS"))
    event_timeout: float = field(
        default_factory=lambda: _env_number("ARTIFACT_STORE_EVENT_TIMEOUT", 10)
    )
    # The environment variable holding the webhooks' HMAC secret (never the secret itself).
    webhook_secret_env: str = "ARTIFACT_STORE_WEBHOOK_SECRET"

    def __post_init__(self) -> None:
        if isinstance(self.repo_path, str):
            self.repo_path = Path(self.repo_path)
        if not isinstance(self.repo_path, os.PathLike):
            raise ArtifactStoreError("repo_path must be a path")
        self.repo_path = Path(self.repo_path)
        for name in (
            "scan_for_secrets",
            "include_metadata",
            "auto_push",
            "require_test_passed",
            "require_correlation_id",
            "sign_commits",
            "require_approval",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ArtifactStoreError(
                    f"{name} must be True or False, got {getattr(self, name)!r}"
                )
        self._check_text("remote_name", self.remote_name)
        self._check_text("commit_author_name", self.commit_author_name, forbid="<>")
        self._check_text("commit_author_email", self.commit_author_email, forbid="<>")
        naming.check_ref_prefix("branch_prefix", self.branch_prefix)
        self.branch_prefix = self.branch_prefix.strip("/")
        if self.branch_prefix.split("/")[0] == "HEAD":  # refs/remotes/<remote>/HEAD is taken
            raise ArtifactStoreError(
                f"invalid branch_prefix {self.branch_prefix!r}: it starts with 'HEAD', which "
                "git reserves (refs/remotes/<remote>/HEAD); use e.g. 'ai/generated'"
            )
        self.artifact_root = naming.check_tree_path(
            "artifact_root", self.artifact_root, allow_empty=True
        )
        naming.check_file_name("metadata_filename", self.metadata_filename)
        if isinstance(self.push_timeout, str):  # "30", as the environment spells it
            try:
                self.push_timeout = float(self.push_timeout)
            except ValueError:
                raise ArtifactStoreError(
                    f"push_timeout must be a positive number of seconds, got {self.push_timeout!r}"
                ) from None
        self._check_number("push_timeout", self.push_timeout, integer=False)
        self._check_number("max_rollback_depth", self.max_rollback_depth, integer=True)
        self._check_number("max_file_size", self.max_file_size, integer=True)
        self._check_number("required_approvals", self.required_approvals, integer=True)
        self._check_number("event_timeout", self.event_timeout, integer=False)
        self._check_text("webhook_secret_env", self.webhook_secret_env)
        sinks = self.event_sinks
        if isinstance(sinks, str | bytes) or not all(isinstance(s, str) for s in sinks):
            raise ArtifactStoreError("event_sinks must be a list of sink URIs")
        self.event_sinks = list(sinks)
        if self.base_ref is not None and (
            not isinstance(self.base_ref, str) or not self.base_ref.strip()
        ):
            raise ArtifactStoreError("base_ref must be None or a non-empty revision string")
        for name in ("secret_patterns", "extra_secret_patterns"):
            value = getattr(self, name)
            if isinstance(value, str | bytes) or not all(isinstance(p, str) for p in value):
                raise ArtifactStoreError(f"{name} must be a list of regular-expression strings")
            setattr(self, name, list(value))
        custom = [] if self.secret_patterns == default_patterns() else self.secret_patterns
        rules = self.disabled_secret_rules
        if isinstance(rules, str | bytes) or not all(isinstance(r, str) for r in rules):
            raise ArtifactStoreError("disabled_secret_rules must be a list of rule ids")
        customs = [f"custom-{i + 1}" for i in range(len(custom))]
        customs += [f"extra-{i + 1}" for i in range(len(self.extra_secret_patterns))]
        if rules:
            from pytest_artifact_store.scan.rules import check_rule_ids

            self.disabled_secret_rules = sorted(check_rule_ids(rules, customs))
        if self.secret_allowlist is not None and (
            not isinstance(self.secret_allowlist, str) or not self.secret_allowlist.strip()
        ):
            raise ArtifactStoreError("secret_allowlist must be None or a file path")
        for pattern in [*custom, *self.extra_secret_patterns]:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ArtifactStoreError(
                    f"invalid secret pattern {pattern!r} in secret_patterns/extra_secret_patterns: "
                    f"{exc}"
                ) from None

    @staticmethod
    def _check_text(name: str, value: object, forbid: str = "") -> None:
        if (
            not isinstance(value, str)
            or not value.strip()
            or any(c in value for c in "\n\r\x00" + forbid)
        ):
            raise ArtifactStoreError(
                f"{name} must be a non-empty single-line string"
                + (f" without {' '.join(forbid)}" if forbid else "")
                + f", got {value!r}"
            )

    @staticmethod
    def _check_number(name: str, value: object, *, integer: bool) -> None:
        ok_types = (int,) if integer else (int, float)
        if (
            isinstance(value, bool)
            or not isinstance(value, ok_types)
            or not math.isfinite(value)
            or value <= 0
        ):
            kind = "a positive integer" if integer else "a positive number of seconds"
            raise ArtifactStoreError(f"{name} must be {kind}, got {value!r}")


# Settings the command line and the git hooks find beside the environment, for those it
# leaves unset: the clone's git config (`git config artifactstore.requireApproval true`),
# then the project's pytest configuration at the top of the work tree (the plugin's own
# ini keys), so `artifact-store push` and a plain `git push` honour what pytest.ini says.
# {field: (environment variable, git config key, ini key)}
PROJECT_SETTINGS = {
    "require_approval": (
        "ARTIFACT_STORE_REQUIRE_APPROVAL",
        "artifactstore.requireapproval",
        "artifact_store_require_approval",
    ),
    "required_approvals": (
        "ARTIFACT_STORE_REQUIRED_APPROVALS",
        "artifactstore.requiredapprovals",
        "artifact_store_required_approvals",
    ),
    "event_sinks": ("ARTIFACT_STORE_EVENTS", "artifactstore.events", "artifact_store_events"),
    "event_timeout": (
        "ARTIFACT_STORE_EVENT_TIMEOUT",
        "artifactstore.eventtimeout",
        "artifact_store_event_timeout",
    ),
}


def project_overrides(repo_path: Path) -> dict[str, object]:
    """ArtifactStoreConfig keyword arguments from the clone's git config
    (``artifactstore.*``) and the project's pytest configuration, for the settings the
    environment leaves unset (git config wins over the ini file)."""
    from pytest_artifact_store.git import run_git
    from pytest_artifact_store.pytestini import pytest_options

    res = run_git(
        ["rev-parse", "--show-toplevel"], cwd=repo_path, check=False
    )  # a bare repository has no pytest configuration
    top = Path(res.stdout.strip()) if not res.returncode and res.stdout.strip() else None
    ini: dict[str, object] = {}
    found = pytest_options(top, "the artifact-store settings", "the environment") if top else None
    if found is not None:
        ini, filename = found[0], found[1]
    cfg = run_git(["config", "--get-regexp", r"^artifactstore\."], cwd=repo_path, check=False)
    given: dict[str, list[tuple[str, str]]] = {}
    for line in cfg.stdout.splitlines():
        key, _, value = line.partition(" ")
        given.setdefault(key.lower(), []).append((value, f"git config {key}"))
    out: dict[str, object] = {}
    for field_name, (env, git_key, ini_key) in PROJECT_SETTINGS.items():
        if os.environ.get(env, "").strip():
            continue
        values = given.get(git_key)
        if values is None and ini_key in ini:
            raw = ini[ini_key]
            values = [(raw if isinstance(raw, str) else str(raw), f"{ini_key} in {filename}")]
        if values:
            out[field_name] = _project_value(field_name, values)
    return out


def _project_value(field_name: str, values: list[tuple[str, str]]) -> object:
    raw, where = values[-1]
    if field_name == "require_approval":
        return _bool_word(raw, where)
    if field_name == "event_sinks":
        return [w for raw, _ in values for w in re.split(r"[\s,]+", raw) if w]
    kind = "a positive whole number" if field_name == "required_approvals" else "seconds"
    try:
        number = float(raw)
    except ValueError:
        raise ArtifactStoreError(f"invalid {where} {raw!r}: use {kind}") from None
    if field_name == "required_approvals":
        if not number.is_integer():
            raise ArtifactStoreError(f"invalid {where} {raw!r}: use {kind}")
        return int(number)
    return number
