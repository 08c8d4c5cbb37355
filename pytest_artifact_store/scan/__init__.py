"""The scan layer: the secret scanner the store, the hooks and the CLI all call.

``findings`` (what a scan reports), ``rules`` (provider formats as data), ``values``
(judging names and values in the syntax of the file at hand) and ``engine`` (one pass
over a file's bytes, suppression, findings).
"""

from __future__ import annotations

from pytest_artifact_store.scan.decode import ScanLimitError
from pytest_artifact_store.scan.engine import Scanner, iter_files, mask_secrets
from pytest_artifact_store.scan.findings import Finding, mask
from pytest_artifact_store.scan.rules import default_patterns

__all__ = [
    "Finding",
    "ScanLimitError",
    "Scanner",
    "default_patterns",
    "iter_files",
    "mask",
    "mask_secrets",
]
