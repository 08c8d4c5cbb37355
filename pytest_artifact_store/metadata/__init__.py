"""The metadata layer: metadata.json's packaged JSON Schema (``schema/``, draft 2020-12)
and the checks a schema cannot express (listed files exist, timestamps are UTC, digests
match), in :mod:`pytest_artifact_store.metadata.checks`."""

from __future__ import annotations

from pytest_artifact_store.metadata.checks import (
    SCHEMA_FILE,
    check_metadata_blob,
    check_metadata_file,
    conforms,
    declares_schema_version,
    load_schema,
    schema_version,
    validate_metadata,
)

__all__ = [
    "SCHEMA_FILE",
    "check_metadata_blob",
    "check_metadata_file",
    "conforms",
    "declares_schema_version",
    "load_schema",
    "schema_version",
    "validate_metadata",
]
