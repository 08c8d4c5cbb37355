"""The CloudEvents 1.0 envelope of an artifact event, in the structured JSON mode.

Made with the CloudEvents SDK (``cloudevents.core``, a small typed package): it checks
the attributes (required ones present and non-empty, ``time`` a datetime) and writes the
JSON event format, so a receiver reading it with any CloudEvents SDK gets it back. The SDK
is used only when an event is made: the outbox keeps the envelope's text, so every
delivery of an event, retries included, carries the same bytes (and signature), and
reading the outbox needs nothing but :mod:`json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.git import redact
from pytest_artifact_store.timestamps import utc_now

EVENT_TYPES = ("artifact.committed", "artifact.pushed", "artifact.approved")
CONTENT_TYPE = "application/cloudevents+json"  # the structured mode's media type
DATA_CONTENT_TYPE = "application/json"

ID_MAX = 200


@dataclass(frozen=True)
class Envelope:
    """One event as it travels: its ``id``, ``type`` and ``subject`` (for the sinks and
    listings that show them) and ``body``, the exact structured-mode JSON sent."""

    id: str
    type: str
    subject: str
    body: str


def check_event_id(value: object) -> str:
    """``value`` if it can be an event id: 1-200 printable characters, no spaces."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= ID_MAX
        or not value.isprintable()
        or any(c.isspace() for c in value)
    ):
        raise ArtifactStoreError(
            f"event id {value!r} is not valid: use 1-{ID_MAX} printable characters without "
            "spaces, the same each time the same event is published "
            "(e.g. 'artifact.committed:<commit sha>')"
        )
    return value


def check_event_type(value: object) -> str:
    if value not in EVENT_TYPES:
        raise ArtifactStoreError(f"event type {value!r} is not one of {', '.join(EVENT_TYPES)}")
    return str(value)


def make_envelope(
    kind: str,
    *,
    event_id: str,
    source: str,
    subject: str,
    data: Mapping[str, Any],
    time: datetime | None = None,
) -> Envelope:
    """The structured CloudEvent for an artifact event.

    ``data`` becomes plain JSON: mappings and sequences as objects and arrays, a
    non-finite number (a NaN Sharpe ratio) as ``null`` (JSON has no NaN), credentials in
    URLs redacted in every string, as in ``source`` and ``subject``.
    """
    from cloudevents.core.exceptions import BaseCloudEventException
    from cloudevents.core.formats.json import JSONFormat
    from cloudevents.core.v1.event import CloudEvent

    subject = redact(subject)
    attributes = {
        "id": check_event_id(event_id),
        "type": check_event_type(kind),
        "source": redact(source),
        "subject": subject,
        "time": time or utc_now(),
        "datacontenttype": DATA_CONTENT_TYPE,
    }
    if not isinstance(data, Mapping):
        raise ArtifactStoreError(f"event data must be a mapping, got {type(data).__name__}")
    try:
        event = CloudEvent(attributes, _plain(data, "data"))
    except BaseCloudEventException as exc:
        raise ArtifactStoreError(f"event {event_id!r} is not a valid CloudEvent: {exc}") from exc
    body = JSONFormat().write(event).decode("utf-8")
    return Envelope(event_id, kind, subject, body)


def read_envelope(body: object) -> Envelope:
    """The envelope of a stored ``body``; ValueError says what is wrong with it."""
    if not isinstance(body, str):
        raise ValueError("the event is not a JSON text")
    event = json.loads(body)
    if not isinstance(event, dict) or event.get("specversion") != "1.0":
        raise ValueError("the event is not a CloudEvents 1.0 object")
    try:
        event_id = check_event_id(event.get("id"))
        kind = check_event_type(event.get("type"))
    except ArtifactStoreError as exc:
        raise ValueError(str(exc)) from None
    subject = event.get("subject", "")
    if not isinstance(subject, str) or not isinstance(event.get("data"), dict):
        raise ValueError("the event's subject or data has the wrong type")
    return Envelope(event_id, kind, subject, body)


def _plain(value: Any, where: str) -> Any:
    """``value`` as JSON values, strings redacted; what JSON cannot carry is refused."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ArtifactStoreError(
        f"event {where} is a {type(value).__name__}, which JSON cannot carry: "
        "pass strings, numbers, booleans, None, lists and mappings"
    )
