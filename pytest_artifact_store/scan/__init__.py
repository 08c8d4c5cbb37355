"""The scan layer: the secret scanner the store, the hooks and the CLI all call.

``findings`` (what a scan reports), ``rules`` (provider formats as data), ``values``
(judging names and values in the syntax of the file at hand) and ``engine`` (one pass
over a file's bytes, suppression, findings).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_artifact_store.scan.decode import ScanLimitError
    from pytest_artifact_store.scan.engine import Scanner, iter_files, mask_secrets
    from pytest_artifact_store.scan.findings import Finding, mask
    from pytest_artifact_store.scan.rules import default_patterns

# Imported on first use: the engine's regexes (and RE2, Aho-Corasick) cost tens of
# milliseconds, which a command that only lists versions should not pay.
_HOME = {
    "Finding": "findings",
    "ScanLimitError": "decode",
    "Scanner": "engine",
    "default_patterns": "rules",
    "iter_files": "engine",
    "mask": "findings",
    "mask_secrets": "engine",
}
__all__ = [
    "Finding",
    "ScanLimitError",
    "Scanner",
    "default_patterns",
    "iter_files",
    "mask",
    "mask_secrets",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
