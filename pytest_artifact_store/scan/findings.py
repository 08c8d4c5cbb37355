"""What a scan reports: a finding (path, line, rule, masked preview, confidence, why and
a fingerprint for the allowlist), how a secret is masked, and the limits and suppression
markers every part shares.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

MAX_SCAN_BYTES = 256 * 1024 * 1024


ALLOW_LINE = (b"pragma: allowlist secret", b"gitleaks:allow")


ALLOW_NEXT = b"pragma: allowlist nextline secret"


HIGH, LOW = "high", "low"


@dataclass(frozen=True)
class Finding:
    """One possible secret. ``line`` 0 means the file's NAME holds it.

    ``confidence`` is ``"high"`` (blocks a commit, a hook, a scan) or ``"low"`` (listed by
    ``--show-low``, never blocking); ``why`` says what made it a finding; ``fingerprint``
    identifies the secret (rule and value, hashed) for the allowlist file.
    """

    path: str
    line: int
    rule: str
    preview: str
    confidence: str = HIGH
    why: str = ""
    # SHA-256 of the rule and the secret: in memory only (never shown, never written);
    # the fingerprint (a slow hash of it) is worked out when first asked for
    digest: bytes = field(default=b"", repr=False, compare=False)

    @cached_property
    def fingerprint(self) -> str:
        return slow_fingerprint(self.digest) if self.digest else ""

    @property
    def blocking(self) -> bool:
        return self.confidence == HIGH

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "rule": self.rule,
            "preview": self.preview,
            "confidence": self.confidence,
            "why": self.why,
            "fingerprint": self.fingerprint,
        }

    def __str__(self) -> str:
        path = printable(self.path)
        where = f"{path}: (file name)" if self.line == 0 else f"{path}:{self.line}:"
        low = "" if self.blocking else f" [low confidence: {self.why}]"
        return f"{where} {self.rule} {self.preview}{low}"


def digest(rule: str, secret: str) -> bytes:
    return hashlib.sha256(f"{rule}\0{secret}".encode()).digest()


def slow_fingerprint(digest: bytes) -> str:
    """32 hex digits of a slow salted hash (PBKDF2-SHA256, 10,000 rounds) of the digest,
    so a short password cannot be guessed back from the allowlist or the JSON output by
    trying values fast."""
    return hashlib.pbkdf2_hmac("sha256", digest, b"artifact-store", _ROUNDS).hex()[:32]


def fingerprint(rule: str, secret: str) -> str:
    """A stable id for one secret under one rule (never the value)."""
    return slow_fingerprint(digest(rule, secret))


_ROUNDS = 10_000


def printable(path: str) -> str:
    """A path safe on one line: control characters (a newline in a file name) escaped."""
    if path.isprintable():
        return path
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in path)


def mask(secret: str) -> str:
    """The first four characters, then an ellipsis: enough to find it, never the secret.

    Short values show fewer characters (a third of them) so that the preview of a
    short password is never the password.
    """
    shown = 4 if len(secret) >= 12 else len(secret) // 3
    return secret[:shown] + "…"
