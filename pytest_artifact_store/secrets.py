"""Secret scanner (interface; issue 3 replaces the rules with the real scanner).

The contract every caller relies on: ``Scanner(patterns, extra_patterns).scan_bytes(data,
path)`` returns :class:`Finding` objects whose ``preview`` is masked; nothing here ever
returns, logs or raises with a whole secret in it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# The seed's documented families, as assignments with a literal value.
_SEED_RULES: dict[str, str] = {
    "stripe-key": r"\b[sr]k_(?:live|test)_[0-9A-Za-z]{16,}",
    "aws-access-key-id": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "keyword-assignment": (
        r"(?i)(?:api_?key|secret_?key|passw(?:or)?d|pwd|token|aws_secret_access_key)"
        r"[\"']?\s*[:=]\s*[\"']([^\"'\s]{8,})[\"']"
    ),
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    preview: str

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "rule": self.rule, "preview": self.preview}


def mask(secret: str) -> str:
    """First four characters, then an ellipsis: enough to find it, never the secret."""
    return secret[:4] + "…"


def default_patterns() -> list[str]:
    """The built-in rules' patterns (ArtifactStoreConfig.secret_patterns' default)."""
    return list(_SEED_RULES.values())


class Scanner:
    def __init__(
        self, patterns: Sequence[str] | None = None, extra_patterns: Sequence[str] = ()
    ) -> None:
        if patterns is None or list(patterns) == default_patterns():
            rules = dict(_SEED_RULES)
        else:
            rules = {f"custom-{i + 1}": p for i, p in enumerate(patterns)}
        rules.update({f"extra-{i + 1}": p for i, p in enumerate(extra_patterns)})
        self._rules = [(rid, re.compile(p)) for rid, p in rules.items()]

    def scan_bytes(self, data: bytes, path: str) -> list[Finding]:
        if b"\x00" in data[:8192]:
            return []
        text = data.decode("utf-8", "replace")
        findings = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if "pragma: allowlist secret" in line or "gitleaks:allow" in line:
                continue
            for rid, rx in self._rules:
                m = rx.search(line)
                if m:
                    hit = m.group(m.lastindex or 0)
                    findings.append(Finding(path, lineno, rid, mask(hit)))
        return findings

    def scan_file(self, path: Path, display: str | None = None) -> list[Finding]:
        return self.scan_bytes(Path(path).read_bytes(), display or str(path))
