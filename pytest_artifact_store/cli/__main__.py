"""``python -m pytest_artifact_store.cli``: the ``artifact-store`` command."""

from __future__ import annotations

from pytest_artifact_store.cli import main

raise SystemExit(main())
