"""The one error hierarchy of pytest-artifact-store.

Every failure the library reports is an :class:`ArtifactStoreError`; messages say
what is wrong, name the field or file, and say what to do next. No message ever
contains a whole secret: secret findings carry a masked preview only.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        shown = "; ".join(f"{f.path}:{f.line}: {f.rule} {f.preview}" for f in self.findings[:5])
        more = f" (and {len(self.findings) - 5} more)" if len(self.findings) > 5 else ""
        super().__init__(
            f"refusing to commit: {len(self.findings)} possible secret(s) found: {shown}{more}. "
            "Remove them (read secrets from the environment instead), or mark a false "
            "positive with '# pragma: allowlist secret' on that line or add its fingerprint "
            "to .artifact-store-allowlist (artifact-store scan --update-allowlist PATH)."
        )


class PushError(ArtifactStoreError):
    """A push to the remote failed or timed out (the local commit is kept)."""
