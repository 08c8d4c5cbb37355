"""What a scan reports: a finding (path, line, rule, masked preview), how a secret is
masked, and the limits and suppression markers every part shares.
"""

from __future__ import annotations

from dataclasses import dataclass

BINARY_SNIFF_BYTES = 8192


MAX_SCAN_BYTES = 256 * 1024 * 1024


ALLOW_LINE = (b"pragma: allowlist secret", b"gitleaks:allow")


ALLOW_NEXT = b"pragma: allowlist nextline secret"


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    preview: str

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "rule": self.rule, "preview": self.preview}

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule} {self.preview}"


def mask(secret: str) -> str:
    """The first four characters, then an ellipsis: enough to find it, never the secret.

    Short values show fewer characters (a third of them) so that the preview of a
    short password is never the password.
    """
    shown = 4 if len(secret) >= 12 else len(secret) // 3
    return secret[:shown] + "…"
