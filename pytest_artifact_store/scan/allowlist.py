"""The allowlist file: finding fingerprints a team has judged not secret.

One fingerprint per line (32 hex digits), then optionally the rule and where it was
seen, for the reader; ``#`` starts a comment. ``artifact-store scan --update-allowlist``
writes it; the store, the hooks and ``artifact-store scan`` honour it. A fingerprint
names a value under a rule, wherever it appears, so moving a line does not undo it.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from pytest_artifact_store import naming
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.scan.findings import Finding, printable

FILENAME = naming.ALLOWLIST_FILENAME


_ENTRY = re.compile(r"[0-9a-f]{32}")


_HEADER = (
    "# artifact-store allowlist: fingerprints of findings judged not secret (one per line).\n"
    "# Written by `artifact-store scan --update-allowlist`; honoured by the store, the hooks\n"
    "# and `artifact-store scan`. Each line: fingerprint, rule, where it was seen.\n"
)


def load(path: str | os.PathLike[str]) -> frozenset[str]:
    """The fingerprints in an allowlist file (a missing file is an empty allowlist)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return frozenset()
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactStoreError(f"cannot read the allowlist {path}: {exc}") from None
    entries = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        first = line.split()[0]
        if not _ENTRY.fullmatch(first):
            raise ArtifactStoreError(
                f"{path}:{number}: not a finding fingerprint ({first[:40]!r}); each line "
                "starts with the 32 hex digits `artifact-store scan --update-allowlist` "
                "writes (or is a # comment)"
            )
        entries.add(first)
    return frozenset(entries)


def update(path: str | os.PathLike[str], findings: Iterable[Finding]) -> int:
    """Add the findings' fingerprints to the file (kept lines stay as they are); returns
    how many were added. Written whole, then renamed into place."""
    target = Path(path)
    have = load(target)
    try:
        old = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = _HEADER
    added: dict[str, str] = {}
    for f in findings:
        if f.fingerprint and f.fingerprint not in have and f.fingerprint not in added:
            path = printable(f.path)
            where = f"{path}:{f.line}" if f.line else f"{path} (file name)"
            added[f.fingerprint] = f"{f.fingerprint}  {f.rule}  {where}\n"
    if not added:
        return 0
    text = old + ("" if old.endswith("\n") or not old else "\n") + "".join(added.values())
    fd, tmp = tempfile.mkstemp(prefix=".allowlist-", dir=target.parent or ".")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # a file to commit: readable like any other
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(added)


def find(start: str | os.PathLike[str]) -> Path | None:
    """The allowlist at the top of the work tree holding ``start`` (or in ``start``)."""
    here = Path(start).resolve()
    if here.is_file():
        here = here.parent
    for directory in (here, *here.parents):
        candidate = directory / FILENAME
        if candidate.is_file():
            return candidate
        if (directory / ".git").exists():
            return None
    return None
