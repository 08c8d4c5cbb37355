"""Hooks the plugin calls, for conftest.py files and other plugins to implement.

Added to pytest's hook registry in ``pytest_addhooks``; both are called only on the
xdist controller (or the main process), at the end of a session run with ``--artifact-store``.
Mark implementations ``@pytest.hookimpl(optionalhook=True)`` if the conftest must also load
when the plugin is removed with ``-p no:artifact_store``.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookspec
def pytest_artifact_store_metadata(config: pytest.Config, metadata: dict[str, Any]) -> None:
    """Amend the metadata of the commit about to be made (change ``metadata`` in place).

    ``metadata`` already holds ``test_metrics`` (everything recorded with
    ``artifact_store.record_metric``), ``test_status`` and the keys given to
    ``artifact_store.set_metadata``. Values must be JSON. Raising an exception refuses
    the commit (the session then exits non-zero with a one-line reason).

    Example ``conftest.py``::

        import os

        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_artifact_store_metadata(config, metadata):
            metadata["agent_version"] = "tester-v1.0"
            metadata["llm_version"] = os.environ.get("LLM_VERSION", "unknown")
            metadata["test_metrics"]["python_tests"] = True
    """


@pytest.hookspec
def pytest_artifact_store_committed(config: pytest.Config, result: dict[str, Any]) -> None:
    """Called after the artifacts were committed, with the store's result.

    ``result`` is what ``ArtifactStore.commit_artifacts`` returned: ``branch``,
    ``commit_sha``, ``tags``, ``pushed``, ``push_error``, ``created`` and ``files``.
    Use it to tell the rest of the pipeline, as the orchestrator's
    ARTIFACT_COMMITTED event does. An exception raised here makes the session exit
    non-zero with a one-line reason (the commit stays).

    Example ``conftest.py``::

        import json
        import os

        import pytest

        @pytest.hookimpl(optionalhook=True)
        def pytest_artifact_store_committed(config, result):
            event = {
                "event_type": "ARTIFACT_COMMITTED",
                "correlation_id": os.environ.get("ARTIFACT_STORE_CORRELATION_ID"),
                "data": {k: result[k] for k in ("branch", "commit_sha", "tags", "pushed")},
            }
            with open("events.jsonl", "a", encoding="utf-8") as out:
                out.write(json.dumps(event) + "\\n")
    """
