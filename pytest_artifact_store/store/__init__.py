"""The store layer: ``ArtifactStore``, the library API of SPEC §2-§6.

A thin façade over the parts: committing (:mod:`.commit`), history (:mod:`.history`),
rollback (:mod:`.revert`) and archive (:mod:`.archive`), all on the common ground of
:mod:`.base`; pushes go through the remote layer (:mod:`pytest_artifact_store.remote`).
Git access goes through :class:`~pytest_artifact_store.git.Repository`: the store decides
*what* to write and when to retry, never *how* git stores it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_artifact_store.store.config import ArtifactStoreConfig
    from pytest_artifact_store.store.facade import ArtifactStore, open_store

__all__ = ["ArtifactStore", "ArtifactStoreConfig", "open_store"]


def __getattr__(name: str) -> Any:
    # imported on first use: importing store.config (the pytest plugin validates its
    # settings with it) must not load the whole store
    if name == "ArtifactStoreConfig":
        from pytest_artifact_store.store.config import ArtifactStoreConfig

        return ArtifactStoreConfig
    if name in ("ArtifactStore", "open_store"):
        from pytest_artifact_store.store import facade

        return getattr(facade, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
