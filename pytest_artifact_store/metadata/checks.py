"""Validate metadata.json: the packaged JSON Schema plus what a schema cannot say.

:func:`validate_metadata` checks a decoded object (the store calls it on the dict it is
about to write; the problems name the field). :func:`check_metadata_file` checks a
metadata.json on disk for the CLI and the hooks: it also requires that the listed files
live in the same artifact directory as the metadata.json and exist there.

"The same artifact directory": the store writes repository paths such as
``Backtest/codes/<task_id>/strategy.py``. The directory prefix of those paths is taken
from the entry naming the metadata file itself (``.../metadata.json``), else from the
``task_id`` path component, else from the entries' common directory; each entry must
start with that prefix and the rest of it must exist under the directory holding the
metadata.json. This works wherever the repository is checked out, in any working
directory, and also for an artifact directory copied out of the repository.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # jsonschema (with attrs and referencing) costs ~100 ms to import
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

__all__ = [
    "SCHEMA_FILE",
    "check_metadata_blob",
    "check_metadata_file",
    "declares_schema_version",
    "load_schema",
    "schema_version",
    "validate_metadata",
]

SCHEMA_FILE = "metadata.schema.json"

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})"
)


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The packaged JSON Schema (draft 2020-12) for metadata.json."""
    resource = resources.files("pytest_artifact_store.metadata") / "schema" / SCHEMA_FILE
    text = resource.read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_version() -> int:
    """The ``schema_version`` the store writes: the packaged schema's ``const``."""
    version: int = load_schema()["properties"]["schema_version"]["const"]
    return version


def declares_schema_version(obj: object) -> bool:
    """True when ``obj`` is a JSON object whose ``schema_version`` is the store's.

    The metadata hook validates such an object wherever its file lives; a file that
    declares another ``schema_version`` (or none) is some other tool's business.
    """
    if not isinstance(obj, dict):
        return False
    value = obj.get("schema_version")
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (value == schema_version())
    )


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def conforms(obj: object) -> bool:
    """A fast yes to "does ``obj`` satisfy the packaged schema and the UTC rule?".

    It interprets the handful of keywords the schema uses, without importing jsonschema;
    False means "not sure": ask :func:`validate_metadata` for the verdict and the
    problems. The store calls this on every commit (its own metadata always passes);
    tests check that it never says yes where jsonschema says no.
    """
    if not _conforms(obj, load_schema()):
        return False
    timestamp = obj.get("commit_timestamp") if isinstance(obj, dict) else None
    return (
        isinstance(timestamp, str) and timestamp.endswith("Z") and not _check_timestamp(timestamp)
    )


_JSON_TYPES: dict[str, Callable[[object], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description"})


def _conforms(value: object, schema: Mapping[str, Any]) -> bool:
    for key, want in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key == "type":
            kinds = [want] if isinstance(want, str) else want
            if not any(_JSON_TYPES[k](value) for k in kinds):
                return False
        elif key == "const":
            if value != want or type(value) is not type(want):
                return False
        elif key == "pattern":
            if isinstance(value, str) and not re.search(want, value):
                return False
        elif key == "minLength":
            if isinstance(value, str) and len(value) < want:
                return False
        elif key == "minItems":
            if isinstance(value, list) and len(value) < want:
                return False
        elif key == "uniqueItems":
            if (
                want
                and isinstance(value, list)
                and len({json.dumps(v, sort_keys=True) for v in value}) != len(value)
            ):
                return False
        elif key == "items":
            if isinstance(value, list) and not all(_conforms(v, want) for v in value):
                return False
        elif key == "required":
            if isinstance(value, dict) and any(k not in value for k in want):
                return False
        elif key == "properties":
            if isinstance(value, dict) and not all(
                _conforms(value[k], sub) for k, sub in want.items() if k in value
            ):
                return False
        elif key == "additionalProperties":
            if isinstance(value, dict):
                known = schema.get("properties", {})
                extra = [v for k, v in value.items() if k not in known]
                if want is False and extra:
                    return False
                if isinstance(want, dict) and not all(_conforms(v, want) for v in extra):
                    return False
        else:
            return False  # a keyword this fast path does not know: not sure
    return True


def validate_metadata(obj: object) -> list[str]:
    """Problems with a decoded metadata object, each ``"<field>: <what is wrong>"``.

    An empty list means valid. Values are shown shortened, never in full, so a
    problem line cannot leak a long secret that ended up in metadata.
    """
    if not isinstance(obj, dict):
        return [f"(top level): must be a JSON object, got {_type_name(obj)}"]
    errors = sorted(
        _validator().iter_errors(obj), key=lambda e: (list(map(str, e.path)), e.message)
    )
    problems = [_describe(error) for error in errors]
    timestamp = obj.get("commit_timestamp")
    if isinstance(timestamp, str) and not any(p.startswith("commit_timestamp:") for p in problems):
        problems.extend(_check_timestamp(timestamp))
    return problems


def check_metadata_file(path: str | Path) -> list[str]:
    """Problems with the metadata.json at ``path`` (schema, UTC timestamp, listed files).

    Each problem names the field; the caller prefixes it with the path.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [f"cannot read the file: {exc.strerror or exc}"]
    obj, problems = _decode(raw)
    if isinstance(obj, dict):
        problems.extend(_check_files(obj, path.name, lambda rest: (path.parent / rest).is_file()))
        problems.extend(_check_digests(obj, path))
    return problems


def check_metadata_blob(data: bytes, repo_path: str, *, exists: Callable[[str], bool]) -> list[str]:
    """Problems with metadata content staged at ``repo_path`` ('/'-separated).

    ``exists(path)`` says whether a repository path is present in the tree being
    committed (for a hook: the index), so that the listed files are checked there.
    """
    obj, problems = _decode(data)
    if isinstance(obj, dict):
        where = PurePosixPath(repo_path)
        problems.extend(
            _check_files(obj, where.name, lambda rest: exists(str(where.parent / rest)))
        )
    return problems


def _decode(raw: bytes) -> tuple[object, list[str]]:
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        return None, ["not UTF-8 text: metadata.json must be UTF-8 JSON"]
    except ValueError as exc:
        return None, [f"not valid JSON: {exc}"]
    return obj, validate_metadata(obj)


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not allowed in metadata.json (use null or a number)")


def _describe(error: ValidationError) -> str:
    field = _field_name(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    expected = schema.get("description")
    if error.validator == "required":
        missing = re.match(r"'([^']*)'", error.message)
        name = missing.group(1) if missing else "a required field"
        prefix = f"{field}." if field != "(top level)" else ""
        return f"{prefix}{name}: required field is missing"
    if error.validator == "uniqueItems":
        return f"{field}: lists the same path more than once"
    if error.validator == "minItems":
        return f"{field}: must not be empty"
    if expected:
        return f"{field}: must be {expected}, got {_short(error.instance)}"
    return f"{field}: {error.message}"


def _field_name(path: Iterable[object]) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "(top level)"


def _short(value: object) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 24 else value[:20] + "…"
        return repr(shown)
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return _type_name(value)


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, int | float) else type(value).__name__


def _check_timestamp(value: str) -> list[str]:
    m = _TIMESTAMP.fullmatch(value)
    if m is None:  # the schema reported the shape already
        return []
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        return [f"commit_timestamp: not a real date and time ({exc}), got {_short(value)}"]
    if m.group(8) != "Z":
        return [
            f"commit_timestamp: must be UTC written with a trailing 'Z' "
            f"(YYYY-MM-DDTHH:MM:SS.ffffffZ), got offset {m.group(8)}"
        ]
    return []


def _check_files(
    obj: Mapping[str, object], metadata_name: str, exists: Callable[[PurePosixPath], bool]
) -> list[str]:
    """Each listed file is under this artifact directory and exists there."""
    entries = _entries(obj)
    prefix = _artifact_prefix(entries, metadata_name, obj.get("task_id"))
    problems = []
    for index, entry in enumerate(entries):
        if ".." in entry.parts or entry.is_absolute():
            continue  # the schema reported it
        if entry.parts[: len(prefix)] != prefix or len(entry.parts) == len(prefix):
            where = "/".join(prefix) or "."
            problems.append(
                f"files[{index}]: {str(entry)!r} is not in this artifact directory ({where}/)"
            )
            continue
        rest = PurePosixPath(*entry.parts[len(prefix) :])
        if not exists(rest):
            problems.append(
                f"files[{index}]: {str(entry)!r} does not exist next to this metadata file"
            )
    return problems


def _entries(obj: Mapping[str, object]) -> list[PurePosixPath]:
    files = obj.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        return []  # the schema reported it
    return [PurePosixPath(f) for f in files]


def _artifact_prefix(
    entries: list[PurePosixPath], metadata_name: str, task_id: object
) -> tuple[str, ...]:
    for entry in entries:
        if entry.name == metadata_name:
            return entry.parent.parts
    if isinstance(task_id, str) and task_id:
        for entry in entries:
            if task_id in entry.parts[:-1]:
                return entry.parts[: entry.parts.index(task_id) + 1]
    parents = [e.parent.parts for e in entries]
    common: tuple[str, ...] = parents[0] if parents else ()
    for parts in parents[1:]:
        n = 0
        while n < min(len(common), len(parts)) and common[n] == parts[n]:
            n += 1
        common = common[:n]
    return common


def _check_digests(obj: Mapping[str, object], metadata_path: Path) -> list[str]:
    """A digest whose file is present must match it.

    Keys may be names in the artifact directory or repository paths under it.
    """
    digests = obj.get("file_sha256")
    prefix = _artifact_prefix(_entries(obj), metadata_path.name, obj.get("task_id"))
    if not isinstance(digests, dict):
        return []
    problems = []
    for name, digest in digests.items():
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            continue  # the schema reported it
        key = PurePosixPath(name)
        if key.is_absolute() or ".." in key.parts or not key.parts:
            continue
        if prefix and key.parts[: len(prefix)] == prefix and len(key.parts) > len(prefix):
            key = PurePosixPath(*key.parts[len(prefix) :])
        target = metadata_path.parent / key
        if target == metadata_path or not target.is_file():
            continue
        if _sha256(target) != digest:
            problems.append(f"file_sha256.{name}: does not match the file's content")
    return problems


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
