"""Events the rest of a pipeline can act on: ``artifact.committed``, ``artifact.pushed``
and ``artifact.approved`` as CloudEvents 1.0 (structured JSON), delivered at least once
to webhooks (HMAC-signed), Redis streams and JSON-lines files through a durable outbox
in the repository's git dir.

A layer-2 package: it uses only the base modules, ``git`` (redaction) and ``scan``
(masking); the store queues each event with :func:`enqueue` as soon as what it reports
has happened (a commit, a push, an approval), then sends them with :func:`deliver`.
"""

from __future__ import annotations

from pytest_artifact_store.events.delivery import (
    DEFAULT_TIMEOUT,
    Delivery,
    Report,
    deliver,
    drop,
    enqueue,
    pending,
    publish,
)
from pytest_artifact_store.events.envelope import EVENT_TYPES, Envelope, make_envelope
from pytest_artifact_store.events.outbox import Entry, SinkState
from pytest_artifact_store.events.sink import Sink
from pytest_artifact_store.events.sinks import DEFAULT_SECRET_ENV, parse_sinks
from pytest_artifact_store.events.webhook import SIGNATURE_HEADER, signature, verify_signature

__all__ = [
    "DEFAULT_SECRET_ENV",
    "DEFAULT_TIMEOUT",
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
    "Delivery",
    "Entry",
    "Envelope",
    "Report",
    "Sink",
    "SinkState",
    "deliver",
    "drop",
    "enqueue",
    "make_envelope",
    "parse_sinks",
    "pending",
    "publish",
    "signature",
    "verify_signature",
]
