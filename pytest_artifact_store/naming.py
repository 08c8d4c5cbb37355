"""Branch, tag and id rules: what may become part of a ref name.

Ids are refused, never silently rewritten: the error names the field and says
what is allowed, so the caller can fix the value at its source.
"""

from __future__ import annotations

import re

from pytest_artifact_store.errors import ArtifactStoreError

ID_MAX = 100
CORRELATION_MAX = 128
CORR_PREFIX = "corr_"
# Where the store writes (ArtifactStoreConfig's defaults), also what the metadata hook checks.
DEFAULT_ARTIFACT_ROOT = "Backtest/codes"
DEFAULT_METADATA_FILENAME = "metadata.json"

# The allowlist of finding fingerprints, at the top of a repository.
ALLOWLIST_FILENAME = ".artifact-store-allowlist"
PROMPT_PREFIX = "prompt_"
# Approval records (artifact-store approve): approval/<workflow>/<task>/<stage>/<time>-<nonce>
APPROVAL_PREFIX = "approval/"
# One ref per record made in this clone (<workflow>/<task>/<stage>/<time>-<nonce>, on the
# record's tag): what push_pending may owe a remote, whatever records a clone or fetch
# brought from it (those are there already).
APPROVALS_MADE = "refs/artifact-store/approvals-made"
# Folded tags (gc --fold-tags): one index ref per workflow, and where a fetched copy of a
# remote's index refs lives.
INDEX_SPACE = "refs/artifact-index"


def index_tracking(remote: str, prefix: str) -> str:
    # outside refs/remotes/<remote>/: a plain `git fetch --prune` would delete it there
    return f"refs/artifact-index-remotes/{remote}/{prefix}/"


_ID_RE = re.compile(r"[A-Za-z0-9._-]+\Z")
ID_CHARS = re.compile(r"[A-Za-z0-9._-]+")  # what ids and tag names are made of
_HEX_RE = re.compile(r"[0-9a-fA-F]{6,64}\Z")
# git check-ref-format: no control chars, space, ~ ^ : ? * [ \ and no "@{".
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def check_id(field: str, value: object, max_len: int = ID_MAX) -> str:
    """Return ``value`` if it is a valid workflow/task/correlation id, else raise."""
    if not isinstance(value, str):
        raise ArtifactStoreError(f"{field} must be a string, got {type(value).__name__}")
    problem = None
    if not value:
        problem = "is empty"
    elif len(value) > max_len:
        problem = f"is {len(value)} characters long (at most {max_len})"
    elif not _ID_RE.match(value):
        bad = sorted({c for c in value if not re.match(r"[A-Za-z0-9._-]", c)})
        problem = f"contains {', '.join(repr(c) for c in bad[:5])}"
    elif value[0] in ".-":
        problem = f"starts with {value[0]!r}"
    elif ".." in value:
        problem = "contains '..'"
    elif value.endswith(".lock"):
        problem = "ends with '.lock'"
    if problem:
        raise ArtifactStoreError(
            f"invalid {field} {_describe(value)}: it {problem}; use 1-{max_len} characters of "
            "A-Z a-z 0-9 . _ -, not starting with '.' or '-', without '..' or a '.lock' ending"
        )
    return value


def correlation_tag(correlation_id: object) -> str:
    """``abc`` and ``corr_abc`` both give the tag name ``corr_abc``."""
    if not isinstance(correlation_id, str):
        raise ArtifactStoreError(
            f"correlation_id must be a string, got {type(correlation_id).__name__}"
        )
    bare = (
        correlation_id[len(CORR_PREFIX) :]
        if correlation_id.startswith(CORR_PREFIX)
        else correlation_id
    )
    check_id("correlation_id", bare, CORRELATION_MAX)
    return CORR_PREFIX + bare


def prompt_hash(value: object) -> str:
    """Normalise a prompt hash: 6-64 hex characters, lower-cased (``prompt_`` prefix allowed)."""
    if not isinstance(value, str):
        raise ArtifactStoreError(f"prompt_hash must be a string, got {type(value).__name__}")
    bare = value[len(PROMPT_PREFIX) :] if value.startswith(PROMPT_PREFIX) else value
    if not _HEX_RE.match(bare):
        raise ArtifactStoreError(
            f"invalid prompt_hash {_describe(value)}: use 6-64 hexadecimal characters"
        )
    return bare.lower()


def prompt_tag(value: str) -> str:
    return PROMPT_PREFIX + prompt_hash(value)


def check_ref_prefix(field: str, value: object) -> str:
    """A '/'-separated prefix that can stand inside a ref name (e.g. ``ai/generated``)."""
    if not isinstance(value, str) or not value.strip("/"):
        raise ArtifactStoreError(f"{field} must be a non-empty string such as 'ai/generated'")
    for part in value.split("/"):
        problem = None
        if not part:
            problem = "has an empty path component ('//' or a leading/trailing '/')"
        elif _BAD_REF_CHARS.search(part) or "@{" in part or part == "@":
            problem = f"has a character git forbids in ref names in {part!r}"
        elif part.startswith(".") or part.endswith(".") or ".." in part:
            problem = f"has a component {part!r} starting/ending with '.' or containing '..'"
        elif part.endswith(".lock"):
            problem = f"has a component {part!r} ending in '.lock'"
        if problem:
            raise ArtifactStoreError(f"invalid {field} {_describe(value)}: it {problem}")
    return value


# Code points HFS+ ignores, so ".g\u200cit" would be ".git" on a Mac (git fsck checks this).
_HFS_IGNORABLE = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def is_dotgit(name: str) -> bool:
    """True for ``.git`` and the spellings other filesystems treat as ``.git``."""
    folded = _HFS_IGNORABLE.sub("", name).lower().rstrip(". ")
    return folded in (".git", "git~1")


def check_tree_path(field: str, value: object, *, allow_empty: bool = False) -> str:
    """A relative POSIX path inside the repository's tree (e.g. ``Backtest/codes``)."""
    if not isinstance(value, str):
        raise ArtifactStoreError(f"{field} must be a string")
    cleaned = value.strip("/")
    if not cleaned:
        if allow_empty:
            return ""
        raise ArtifactStoreError(f"{field} must not be empty")
    for part in cleaned.split("/"):
        if part in ("", ".", "..") or is_dotgit(part) or re.search(r"[\x00-\x1f\x7f\\]", part):
            raise ArtifactStoreError(
                f"invalid {field} {_describe(value)}: use a relative path such as "
                "'Backtest/codes' (no '.', '..', '.git', empty parts, backslashes or "
                "control characters)"
            )
    return cleaned


def check_file_name(field: str, value: object) -> str:
    """A single file name inside the task directory (no '/', not '.' or '..')."""
    if (
        not isinstance(value, str)
        or not value
        or value in (".", "..")
        or value.lower() == ".git"
        or re.search(r"[\x00-\x1f/\\]", value)
    ):
        raise ArtifactStoreError(
            f"invalid {field} {_describe(value)}: use a plain file name without '/', "
            "backslashes or control characters"
        )
    return value


def branch_name(prefix: str, workflow_id: str, task_id: str) -> str:
    return f"{prefix}/{workflow_id}/{task_id}"
