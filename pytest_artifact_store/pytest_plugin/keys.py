"""The plugin's entries in ``config.stash``, shared by its modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_artifact_store.pytest_plugin.baseline import BaselineSource
    from pytest_artifact_store.pytest_plugin.recorder import ArtifactRecorder
    from pytest_artifact_store.pytest_plugin.worker import StoreClient

RECORDER: pytest.StashKey[ArtifactRecorder] = pytest.StashKey()
CLIENT: pytest.StashKey[StoreClient] = pytest.StashKey()
BASELINE: pytest.StashKey[BaselineSource] = pytest.StashKey()
