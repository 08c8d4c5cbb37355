"""A version's capsule against a checkout and an environment (``artifact-store verify``).

Each difference says what was recorded, what is there now, and whether it *matters*:
whether the same tests could give other numbers because of it. What matters: the code's
commit, its uncommitted state, an input's content, a recorded package's version (or its
absence), the Python implementation and minor version, a listed environment variable.
Reported without counting: a Python patch release, another platform or machine, and a
package installed now that was not then (``artifact-store reproduce`` tells whether they
change the numbers).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_artifact_store.capsule.capture import (
    CAPSULE_KEY,
    CodeState,
    code_state,
    environment,
    file_sha256,
    glob_files,
    installed_packages,
    python_info,
    relative_to,
)
from pytest_artifact_store.errors import ArtifactStoreError


@dataclass(frozen=True)
class Difference:
    """One thing that is not as the capsule recorded it."""

    kind: str  # code, dirty, python, platform, package, input, env
    name: str
    recorded: Any
    current: Any
    matters: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def short(digest: object, size: int = 12) -> str:
    return str(digest)[:size] if digest else "-"


def version_summary(entry: Mapping[str, Any]) -> dict[str, Any]:
    """How a report names the version it is about."""
    return {
        "ref": entry.get("correlation_id") or entry.get("commit_sha"),
        "commit_sha": entry.get("commit_sha"),
        "workflow_id": entry.get("workflow_id"),
        "task_id": entry.get("task_id"),
    }


def capsule_of(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The version's capsule, or an error saying why it has none."""
    capsule = entry.get(CAPSULE_KEY)
    if not isinstance(capsule, Mapping) or not isinstance(capsule.get("code"), Mapping):
        name = entry.get("correlation_id") or str(entry.get("commit_sha", ""))[:10]
        raise ArtifactStoreError(
            f"version {name} has no capsule: it was committed before capsules were recorded, "
            "by the library, or with artifact_store_capsule = false"
        )
    return dict(capsule)


# ---------------------------------------------------------------- code
def compare_code(recorded: Mapping[str, Any], now: CodeState) -> list[Difference]:
    was = recorded.get("commit")
    if now.problem:
        message = f"code: {now.problem}; pass --code DIR, the checkout of the code under test"
        return [Difference("code", "commit", was, None, True, message)]
    out = []
    if was != now.commit:
        message = f"code: commit {short(was, 10)} → {short(now.commit, 10)}"
        out.append(Difference("code", "commit", was, now.commit, True, message))
    was_dirty, was_digest = bool(recorded.get("dirty")), recorded.get("diff_sha256")
    if (was_dirty, was_digest if was_dirty else None) == (now.dirty, now.diff_sha256):
        return out
    counts = f"{now.changed_files} changed, {now.untracked_files} untracked"
    digest = short(now.diff_sha256)
    if not was_dirty:
        message = f"code: uncommitted changes now ({counts}; diff sha256 {digest}); it was clean"
    elif not now.dirty:
        message = (
            f"code: the version was built from uncommitted changes (diff sha256 "
            f"{short(was_digest)}); the work tree is clean now"
        )
    else:
        message = (
            f"code: uncommitted changes differ (diff sha256 {short(was_digest)} → {digest}; "
            f"now {counts})"
        )
    out.append(Difference("dirty", "work tree", was_digest, now.diff_sha256, True, message))
    return out


# ---------------------------------------------------------------- interpreter, packages
def _where(info: Mapping[str, Any]) -> str:
    return "/".join(str(info[k]) for k in ("platform", "machine") if info.get(k))


def describe_python(info: Mapping[str, Any]) -> str:
    """``CPython 3.11.7 linux/x86_64``."""
    return f"{info.get('implementation', '?')} {info.get('version', '?')} {_where(info)}".strip()


def describe_capsule(capsule: Mapping[str, Any]) -> str:
    """One line for ``artifact-store show``: ``05a1bc3e0e (clean), CPython 3.11.7
    linux/x86_64, 64 packages, 1 input``."""
    code = capsule.get("code") or {}
    state = "dirty" if code.get("dirty") else "clean"
    inputs = len((capsule.get("inputs") or {}).get("sha256") or {})
    return (
        f"{str(code.get('commit') or 'no commit')[:10]} ({state}), "
        f"{describe_python(capsule.get('python') or {})}, "
        f"{len(capsule.get('packages') or {})} packages, {inputs} input{'s' * (inputs != 1)}"
    )


def compare_python(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[Difference]:
    """Another implementation or minor version matters; a patch release or another
    platform is reported without counting."""
    out = []
    was, current = recorded.get("implementation"), now.get("implementation")
    if was and was != current:
        out.append(
            Difference("python", "implementation", was, current, True, f"python: {was} → {current}")
        )
    was, current = recorded.get("version"), now.get("version")
    if was and was != current:
        minor = str(was).split(".")[:2] != str(current).split(".")[:2]
        out.append(
            Difference("python", "version", was, current, minor, f"python: {was} → {current}")
        )
    was, current = _where(recorded), _where(now)
    if was and was != current:
        out.append(
            Difference("platform", "platform", was, current, False, f"platform: {was} → {current}")
        )
    return out


def changed(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """(key, recorded value, value now) of each key whose values differ, in key order."""
    for key in sorted(set(recorded) | set(now)):
        was, current = recorded.get(key), now.get(key)
        if was != current:
            yield key, was, current


def compare_packages(recorded: Mapping[str, Any], now: Mapping[str, str]) -> list[Difference]:
    out = []
    for name, was, current in changed(recorded, now):
        if current is None:
            message, matters = f"package {name}: {was} → not installed", True
        elif was is None:
            message, matters = f"package {name}: not recorded → {current} (added)", False
        else:
            message, matters = f"package {name}: {was} → {current}", True
        out.append(Difference("package", name, was, current, matters, message))
    return out


# ---------------------------------------------------------------- inputs, environment
def current_inputs(recorded: Mapping[str, Any], root: Path) -> dict[str, str | None]:
    """{path: sha256 now, None when missing} of the recorded inputs, plus the files the
    recorded patterns match now (in ``root``, the checkout's top)."""
    digests: dict[str, str | None] = {}
    for key in recorded.get("sha256") or {}:
        path = Path(key) if os.path.isabs(key) else root / key
        digests[key] = file_sha256(path) if path.is_file() else None
    base = str(recorded.get("base") or ".")
    for pattern in recorded.get("patterns") or []:
        for _name, path in glob_files(
            str(pattern), Path(base) if os.path.isabs(base) else root / base
        ):
            key = relative_to(path, root)
            if digests.get(key) is None:  # also a name recorded escaped (not UTF-8)
                digests[key] = file_sha256(path)
    return digests


def compare_inputs(recorded: Mapping[str, Any], now: Mapping[str, str | None]) -> list[Difference]:
    """The recorded inputs' digests against ``now`` ({path: sha256, None: missing})."""
    out = []
    for key, was, current in changed(recorded.get("sha256") or {}, now):
        if current is None:
            message = f"input {key}: missing (recorded sha256 {short(was)})"
        elif was is None:
            message = f"input {key}: new, not recorded (sha256 {short(current)})"
        else:
            message = f"input {key}: sha256 {short(was)} → {short(current)}"
        out.append(Difference("input", key, was, current, True, message))
    return out


def compare_env(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[Difference]:
    from pytest_artifact_store.scan import mask_secrets

    out = []
    for name, was in sorted(recorded.items()):
        current = now.get(name)
        if was != current:
            shown = None if current is None else mask_secrets(str(current))
            message = f"env {name}: {was!r} → {shown!r}"
            out.append(Difference("env", name, was, shown, True, message))
    return out


# ---------------------------------------------------------------- the whole
@dataclass
class Verification:
    """A capsule checked against this checkout and environment."""

    entry: dict[str, Any]
    capsule: dict[str, Any]
    code: CodeState
    python: dict[str, str]
    packages: int
    inputs: int  # the recorded inputs found now
    differences: list[Difference] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not any(d.matters for d in self.differences)

    def to_json(self) -> dict[str, Any]:
        return {
            **version_summary(self.entry),
            "matches": self.matches,
            "checkout": None if self.code.root is None else os.fspath(self.code.root),
            "differences": [d.to_json() for d in self.differences if d.matters],
            "notes": [d.to_json() for d in self.differences if not d.matters],
        }


def verify(
    entry: Mapping[str, Any],
    *,
    code_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Verification:
    """Compare the version's capsule with the checkout containing ``code_dir`` (default:
    the current directory), this interpreter's distributions and ``environ``."""
    capsule = capsule_of(entry)
    state = code_state(code_dir or Path.cwd())
    root = state.root or (code_dir or Path.cwd())
    packages = installed_packages()
    python = python_info()
    differences = compare_code(capsule["code"], state)
    differences += compare_python(capsule.get("python") or {}, python)
    differences += compare_packages(capsule.get("packages") or {}, packages)
    inputs = capsule.get("inputs")
    found: dict[str, str | None] = {}
    if isinstance(inputs, Mapping):
        found = current_inputs(inputs, root)
        differences += compare_inputs(inputs, found)
    recorded_env = capsule.get("env") or {}
    differences += compare_env(recorded_env, environment(list(recorded_env), environ))
    present = sum(digest is not None for digest in found.values())
    return Verification(dict(entry), capsule, state, python, len(packages), present, differences)
