"""Hook entry points, each a module with ``main(argv) -> int`` and a console script.

``secrets_hook``  -> ``artifact-store-secrets``  (pre-commit id ``artifact-store-secrets``)
``metadata_hook`` -> ``artifact-store-metadata`` (pre-commit id ``artifact-store-metadata``)

The plain git hooks ``pre-commit`` and ``pre-push`` beside them are installed by
``artifact-store install-hooks`` (see :mod:`pytest_artifact_store.hooks.githooks`).
"""

from __future__ import annotations
