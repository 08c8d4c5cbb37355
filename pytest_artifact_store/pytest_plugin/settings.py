"""The plugin's settings: one table, registered as options and ini keys, resolved with sources.

Each setting has one help text, shared by its command-line option (``--artifact-<name>``)
and its ini key (``artifact_store_<name>``); ``ARTIFACT_STORE_<NAME>`` in the environment
sets it too. Precedence: command line > environment > ini file > default.

Every resolved value remembers where it came from, so that a bad value is reported as
"invalid artifact_store_task_id 'a b' from pytest.ini: ..." before a single test runs.
This module imports no git code: it is loaded on every pytest run.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError

Kind = Literal[
    "id",
    "text",
    "path",
    "bool",
    "seconds",
    "count",
    "globs",
    "words",
    "names",
    "rules",
    "sinks",
    "correlation",
    "prompt",
]

ENABLE_OPTION = "--artifact-store"
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})


@dataclass(frozen=True)
class Setting:
    """One plugin setting and the names it goes by on the command line, in env and ini."""

    name: str
    kind: Kind
    help: str
    # Per-run values (correlation id, prompt hash) have no ini key.
    in_ini: bool = True
    # The "off" spelling of a bool option; the "on" spelling is ``option``.
    negative: str | None = None
    # The ArtifactStoreConfig field it sets (None: used by the plugin itself).
    config_field: str | None = None

    @property
    def option(self) -> str:
        return "--artifact-" + self.name.replace("_", "-")

    @property
    def ini_key(self) -> str:
        return "artifact_store_" + self.name

    @property
    def env_var(self) -> str:
        return "ARTIFACT_STORE_" + self.name.upper()

    @property
    def full_help(self) -> str:
        """The help shown for both the option and the ini key."""
        return f"{self.help} [env: {self.env_var}]"

    @property
    def dest(self) -> str:
        return "artifact_store_" + self.name


def _bool(name: str, help: str, config_field: str | None, negative: str | None = None) -> Setting:
    neg = negative or "--artifact-no-" + name.replace("_", "-")
    return Setting(name, "bool", help, negative=neg, config_field=config_field)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "repo",
        "path",
        "git repository to commit into (default: the repository containing the rootdir)",
        config_field="repo_path",
    ),
    Setting("workflow_id", "id", "workflow id: the branch is <prefix>/<workflow_id>/<task_id>"),
    Setting("task_id", "id", "task id: also the artifact directory <root>/<task_id>/"),
    Setting(
        "correlation_id",
        "correlation",
        "correlation id of this run, tagged corr_<id> (command line or environment only)",
        in_ini=False,
    ),
    Setting(
        "prompt_hash",
        "prompt",
        "hash (6-64 hex) of the prompt the code came from, tagged prompt_<hash> "
        "(command line or environment only)",
        in_ini=False,
    ),
    Setting(
        "files",
        "globs",
        "files to commit, as glob patterns (one per line in the ini file, relative to its "
        "directory; the option may be repeated)",
    ),
    Setting(
        "outputs",
        "globs",
        "files the tests write, as glob patterns like artifact_store_files: each must have "
        "been written during this session (a file left by an earlier run is refused)",
    ),
    Setting(
        "inputs",
        "globs",
        "files the session reads (price data, parameter files), as glob patterns like "
        "artifact_store_files: their sha256 is recorded in the capsule, they are not committed",
    ),
    _bool(
        "capsule",
        "record the reproducibility capsule in metadata.json: the code's commit and dirty "
        "state, the command, Python, packages, inputs, seeds (default: on)",
        None,
    ),
    Setting(
        "capsule_env",
        "names",
        "environment variables whose values the capsule records (one name per line in ini; "
        "no other variable's value is ever recorded)",
    ),
    Setting(
        "export",
        "path",
        "write what a passing session would commit (its files and metadata.json) into this "
        "empty directory instead of committing anything (command line or environment only; "
        "used by 'artifact-store reproduce')",
        in_ini=False,
    ),
    _bool(
        "allow_partial",
        "commit a session that ran only part of the suite (-k, -m, --lf, node ids, "
        "paths narrower than testpaths), recorded as partial (default: off)",
        None,
    ),
    Setting(
        "baseline",
        "text",
        "the version this run is judged against: a correlation id, tag, branch or commit "
        "(default: the newest version of this workflow/task)",
    ),
    Setting(
        "fail_on",
        "rules",
        "fail the session when a metric moved past a rule against the baseline: "
        "METRIC:+N%, METRIC:-N%, METRIC:+N or METRIC:-N (repeatable; one per line in ini)",
    ),
    Setting(
        "metric_directions",
        "words",
        "directions of your own metrics, NAME:higher or NAME:lower (higher/lower is "
        "better) or NAME:magnitude (smaller magnitude is better), for rules and reports",
    ),
    Setting(
        "agent_version",
        "text",
        "version of the agent that wrote the code under test, recorded as agent_version "
        "in metadata.json and a commit trailer (default: not recorded: null)",
    ),
    Setting(
        "llm_version",
        "text",
        "model that wrote the code under test, recorded as llm_version (default: null)",
    ),
    Setting(
        "root",
        "text",
        "directory in the tree holding one sub-directory per task "
        f"(default: {naming.DEFAULT_ARTIFACT_ROOT})",
        config_field="artifact_root",
    ),
    Setting(
        "branch_prefix",
        "text",
        "prefix of the task branches (default: ai/generated)",
        config_field="branch_prefix",
    ),
    Setting(
        "remote",
        "text",
        "remote to push to (default: $GIT_REMOTE_NAME or origin)",
        config_field="remote_name",
    ),
    _bool(
        "auto_push",
        "push the branch and its tags after committing (default: on; off: --artifact-no-push)",
        "auto_push",
        negative="--artifact-no-push",
    ),
    Setting(
        "push_timeout",
        "seconds",
        "seconds before a push is abandoned (default: $GIT_PUSH_TIMEOUT or 30)",
        config_field="push_timeout",
    ),
    _bool(
        "scan_secrets",
        "refuse to commit files that look like they hold secrets (default: on)",
        "scan_for_secrets",
    ),
    _bool(
        "require_test_passed",
        "commit only when every test passed (default: on; off: failed sessions are "
        "committed too, with their real test_status)",
        "require_test_passed",
    ),
    _bool(
        "require_correlation_id",
        "refuse to run without a correlation id (default: on)",
        "require_correlation_id",
    ),
    Setting(
        "author_name",
        "text",
        "author and committer name (default: $GIT_AUTHOR_NAME or algo-agent-bot)",
        config_field="commit_author_name",
    ),
    Setting(
        "author_email",
        "text",
        "author and committer email (default: $GIT_AUTHOR_EMAIL or algo-agent@example.com)",
        config_field="commit_author_email",
    ),
    _bool(
        "sign",
        "sign commits and tags with your git signing setup (default: off)",
        "sign_commits",
    ),
    _bool(
        "require_approval",
        "keep versions local until approved ('artifact-store approve REF --stage NAME'); "
        "push only approved ones (default: off)",
        "require_approval",
    ),
    Setting(
        "required_approvals",
        "count",
        "distinct approvers a version needs before it is pushed (default: 1)",
        config_field="required_approvals",
    ),
    Setting(
        "events",
        "sinks",
        "where artifact.committed/pushed/approved events go: http(s):// webhooks, "
        "redis://HOST:PORT/DB?stream=NAME, or a .jsonl file (repeatable; one per line in ini)",
        config_field="event_sinks",
    ),
    Setting(
        "event_timeout",
        "seconds",
        "seconds event delivery may add to a commit; what is not delivered by then waits "
        "in the outbox (default: 10)",
        config_field="event_timeout",
    ),
)
BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
# list settings: the option may be repeated, the ini key takes one value per line
_LISTS = {
    "globs": "GLOB",
    "words": "NAME:DIRECTION",
    "names": "NAME",
    "rules": "RULE",
    "sinks": "URI",
}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "artifact-store", "commit a passing session's outputs to a per-task git branch"
    )
    group.addoption(
        ENABLE_OPTION,
        action="store_true",
        default=False,
        dest="artifact_store",
        help="commit this session's artifacts when it passes (settings: artifact_store_* "
        "ini keys, ARTIFACT_STORE_* environment, --artifact-* options)",
    )
    for setting in SETTINGS:
        if setting.kind == "bool":
            group.addoption(
                setting.option,
                action="store_true",
                default=None,
                dest=setting.dest,
                help=setting.full_help,
            )
            group.addoption(
                setting.negative or "",
                action="store_false",
                default=None,
                dest=setting.dest,
                help=f"the opposite of {setting.option}",
            )
        elif setting.kind in _LISTS:
            group.addoption(
                setting.option,
                action="append",
                default=None,
                dest=setting.dest,
                metavar=_LISTS[setting.kind],
                help=setting.full_help.replace("%", "%%"),
            )
        else:
            group.addoption(
                setting.option,
                default=None,
                dest=setting.dest,
                metavar=setting.name.upper(),
                help=setting.full_help,
            )
    add_ini_keys(parser)


def add_ini_keys(parser: pytest.Parser) -> None:
    """The ini keys alone (what the fixtures plugin registers when this one is removed,
    so a pytest.ini that sets them stays valid under ``--strict-config``)."""
    for setting in SETTINGS:
        if setting.in_ini:
            ini_type = "bool" if setting.kind == "bool" else "string"
            ini_type = "linelist" if setting.kind in _LISTS else ini_type
            parser.addini(setting.ini_key, setting.full_help, type=ini_type, default=None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Value:
    """A resolved setting: its value, where it came from, and the base for relative paths."""

    setting: Setting
    value: Any
    source: str  # "command line", "environment", "default", or the ini file's name
    base: Path

    @property
    def origin(self) -> str:
        """How the user set it, for messages: ``artifact_store_task_id from pytest.ini``."""
        if self.source == "command line":
            return f"{self.setting.option} from the command line"
        if self.source == "environment":
            return f"{self.setting.env_var} from the environment"
        if self.source == "default":
            return f"{self.setting.ini_key} (not set: the default)"
        return f"{self.setting.ini_key} from {self.source}"


@dataclass
class Settings:
    """Every setting, resolved and validated; built by :func:`resolve` at configure time."""

    values: dict[str, Value] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        return self.values[name].value

    def __getitem__(self, name: str) -> Value:
        return self.values[name]

    def store_config_kwargs(self) -> dict[str, Any]:
        """ArtifactStoreConfig keyword arguments for the settings the user gave."""
        kwargs: dict[str, Any] = {}
        for value in self.values.values():
            field_name = value.setting.config_field
            if field_name and value.value is not None:
                kwargs[field_name] = value.value
        return kwargs


def usage_error(value: Value, raw: object, reason: str) -> pytest.UsageError:
    where = value.origin.split(" ", 1)
    return pytest.UsageError(f"artifact-store: invalid {where[0]} {raw!r} {where[1]}: {reason}")


def _reason(exc: ArtifactStoreError) -> str:
    # naming's messages read "invalid <field> <value>: <reason>"; keep only the reason.
    text = str(exc)
    for marker in (": it ", ": use "):
        index = text.find(marker)
        if index >= 0:
            return text[index + 2 :]
    return text


def _parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("use true/false, yes/no, on/off or 1/0")


def _parse_seconds(raw: object) -> float:
    try:
        number = float(str(raw))
    except ValueError:
        raise ValueError("use a positive number of seconds") from None
    if not number > 0 or number == float("inf"):
        raise ValueError("use a positive number of seconds")
    return int(number) if number.is_integer() else number


def _convert(value: Value, raw: Any) -> Any:
    """Turn a raw command-line/env/ini value into the setting's type, or raise UsageError."""
    kind = value.setting.kind
    try:
        if kind == "bool":
            return _parse_bool(raw)
        if kind == "seconds":
            return _parse_seconds(raw)
        if kind == "count":
            if not str(raw).strip().isdigit() or int(str(raw)) < 1:
                raise ValueError("use a positive whole number")
            return int(str(raw))
        if kind == "sinks":
            from pytest_artifact_store.events import parse_sinks

            words = raw if isinstance(raw, list) else [raw]
            sinks = [w for item in words for w in re.split(r"[\s,]+", str(item)) if w]
            # a .jsonl path is relative to the ini file (or where pytest runs), as paths are
            sinks = [w if ":" in w else str(value.base / os.path.expanduser(w)) for w in sinks]
            parse_sinks(sinks, base=value.base)  # a bad sink stops the run before any test
            return sinks
        if kind in _LISTS:
            patterns = shlex.split(raw) if isinstance(raw, str) else list(raw)
            items = [p for p in (str(p).strip() for p in patterns) if p]
            if kind == "rules":
                from pytest_artifact_store.compare.diff import parse_rule

                for item in items:
                    parse_rule(item)
            if kind == "words":
                from pytest_artifact_store.compare.directions import parse_direction

                for item in items:
                    parse_direction(item)
            if kind == "names":
                from pytest_artifact_store.capsule.capture import check_env_name

                for item in items:
                    check_env_name(item)
            return items
        if kind == "path":
            return (value.base / os.path.expanduser(str(raw))).resolve()
        if kind == "id":
            return naming.check_id(value.setting.name, raw)
        if kind == "correlation":
            return naming.correlation_tag(raw)
        if kind == "prompt":
            return naming.prompt_hash(raw)
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError("it must not be empty")
        return raw
    except ArtifactStoreError as exc:
        raise usage_error(value, raw, _reason(exc)) from None
    except ValueError as exc:
        raise usage_error(value, raw, str(exc)) from None


def _ini_source(config: pytest.Config, setting: Setting) -> str:
    overrides = getattr(config.option, "override_ini", None) or []
    if any(str(o).split("=", 1)[0].strip() == setting.ini_key for o in overrides):
        return "-o"
    return config.inipath.name if config.inipath else "the ini file"


def _raw(
    config: pytest.Config, setting: Setting, environ: Mapping[str, str]
) -> tuple[Any, str, Path]:
    """The winning raw value, its source and the directory relative paths resolve against."""
    invocation_dir = config.invocation_params.dir
    cli = getattr(config.option, setting.dest, None)
    if cli is not None:
        return cli, "command line", invocation_dir
    env = environ.get(setting.env_var, "")
    if env.strip():
        return env.strip(), "environment", invocation_dir
    return _ini_raw(config, setting)


def _ini_raw(config: pytest.Config, setting: Setting) -> tuple[Any, str, Path]:
    """The ini file's raw value (None, "default" when unset), its source and directory."""
    ini_dir = config.inipath.parent if config.inipath else config.rootpath
    if setting.in_ini:
        try:
            ini = config.getini(setting.ini_key)
        except (ValueError, pytest.UsageError) as exc:
            source = _ini_source(config, setting)
            raise pytest.UsageError(
                f"artifact-store: invalid {setting.ini_key} from {source}: {exc}"
            ) from None
        if ini is not None and ini != []:
            return ini, _ini_source(config, setting), ini_dir
    return None, "default", ini_dir


def resolve(
    config: pytest.Config, environ: Mapping[str, str] | None = None, *, committing: bool = True
) -> Settings:
    """Resolve and validate every setting; raise pytest.UsageError naming the culprit.
    ``committing=False`` (a compare-only gate) does not require the ids of a commit."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    for setting in SETTINGS:
        raw, source, base = _raw(config, setting, environ)
        value = Value(setting, None, source, base)
        if raw is not None:
            value = Value(setting, _convert(value, raw), source, base)
        if setting.kind == "globs" and source in ("command line", "environment"):
            value = _with_ini(config, value)
        settings.values[setting.name] = value
    if committing:
        _require(settings)
    return settings


def _with_ini(config: pytest.Config, given: Value) -> Value:
    """File globs from the command line (or environment) ADD to the ini file's list: a
    user adds a file for one run without losing the configured ones (override the ini
    list with ``-o artifact_store_files=`` to replace it)."""
    setting = given.setting
    ini_raw, ini_source, ini_dir = _ini_raw(config, setting)
    if ini_raw is None:
        return given
    ini = _convert(Value(setting, None, ini_source, ini_dir), ini_raw)
    added = [
        p if os.path.isabs(os.path.expanduser(p)) else os.path.join(glob.escape(str(given.base)), p)
        for p in given.value
    ]
    combined = list(dict.fromkeys([*ini, *added]))
    return Value(setting, combined, f"{ini_source} and the {given.source}", ini_dir)


def _require(settings: Settings) -> None:
    for name in ("workflow_id", "task_id"):
        if settings.get(name) is None:
            setting = BY_NAME[name]
            raise pytest.UsageError(
                f"artifact-store: missing {name}: set {setting.ini_key} in pytest.ini, "
                f"{setting.env_var} in the environment, or pass {setting.option}"
            )
    required = settings["require_correlation_id"]
    if settings.get("correlation_id") is None and required.value is not False:
        setting = BY_NAME["correlation_id"]
        raise pytest.UsageError(
            f"artifact-store: missing correlation_id: pass {setting.option} or set "
            f"{setting.env_var} (or set artifact_store_require_correlation_id = false)"
        )
