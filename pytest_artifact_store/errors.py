"""The one error hierarchy of pytest-artifact-store.

Every failure the library reports is an :class:`ArtifactStoreError`; messages say
what is wrong, name the field or file, and say what to do next. No message ever
contains a whole secret: secret findings carry a masked preview only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Protocol


class Finding(Protocol):
    """What an error needs of a scanner finding (see ``scan.findings.Finding``)."""

    @property
    def path(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def rule(self) -> str: ...
    @property
    def preview(self) -> str: ...


class ArtifactStoreError(Exception):
    """Any refusal or failure of the artifact store (nothing was written to refs)."""


class SecretDetectedError(ArtifactStoreError):
    """The artifacts (or their metadata) contain what looks like a hardcoded secret.

    ``findings`` lists each hit with path, line, rule id and a masked preview.
    """

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        shown = "; ".join(f"{f.path}:{f.line} ({f.rule}: {f.preview})" for f in self.findings[:5])
        more = f" and {len(self.findings) - 5} more" if len(self.findings) > 5 else ""
        super().__init__(
            f"refusing to commit: {len(self.findings)} possible secret(s) found: {shown}{more}. "
            "Remove them (read secrets from the environment instead); "
            + false_positive_hint(f.path for f in self.findings)
        )


# Files whose lines can carry a '#' comment: where the allowlist pragma can go. A CSV or
# JSON line cannot (a comment would change the data): there, only the allowlist file works.
_HASH_COMMENTS = frozenset(
    {
        ".py", ".pyi", ".pyx", ".sh", ".bash", ".zsh", ".yaml", ".yml", ".toml", ".ini",
        ".cfg", ".conf", ".env", ".r", ".rb", ".pl", ".tf", ".mk", ".properties",
    }
)  # fmt: skip


def false_positive_hint(paths: Iterable[str]) -> str:
    """How to mark a false positive, for the files these findings are in."""
    suffixes = {
        os.path.splitext(str(p).lower())[1] or os.path.basename(str(p).lower()) for p in paths
    }
    commentable = bool(suffixes & _HASH_COMMENTS) or bool({"dockerfile", "makefile"} & suffixes)
    pragma = "mark it with '# pragma: allowlist secret' on that line, or " if commentable else ""
    return (
        f"if it is a false positive, {pragma}record its fingerprint in "
        ".artifact-store-allowlist ('artifact-store scan --update-allowlist PATH' adds every "
        "finding of PATH; commit that file)."
    )


class PushError(ArtifactStoreError):
    """A push to the remote failed or timed out (the local commit is kept)."""
