"""pytest-artifact-store: commit passing backtest artifacts to per-task git branches.

``ArtifactStore`` and ``ArtifactStoreConfig`` are imported lazily, so that importing this
package (as the pytest plugin does on every run) pays neither for GitPython nor for the
scanner's rules unless they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_artifact_store.errors import ArtifactStoreError, PushError, SecretDetectedError

if TYPE_CHECKING:
    from pytest_artifact_store.store import ArtifactStore
    from pytest_artifact_store.store.config import ArtifactStoreConfig

__all__ = [
    "ArtifactStore",
    "ArtifactStoreConfig",
    "ArtifactStoreError",
    "PushError",
    "SecretDetectedError",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "ArtifactStore":
        from pytest_artifact_store.store import ArtifactStore

        return ArtifactStore
    if name == "ArtifactStoreConfig":
        from pytest_artifact_store.store.config import ArtifactStoreConfig

        return ArtifactStoreConfig
    raise AttributeError(f"module 'pytest_artifact_store' has no attribute {name!r}")
