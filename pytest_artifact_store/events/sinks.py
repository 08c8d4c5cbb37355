"""The configured sinks: ``event_sinks`` entries (URI strings) parsed into sinks.

Accepted forms: ``http(s)://host/path`` (a webhook), ``redis://host:port/db?stream=NAME``
(a Redis stream; ``rediss://`` for TLS) and ``file:///abs/path.jsonl`` or a path ending in
``.jsonl`` (a JSON-lines file; relative to the repository's work tree). An entry given
twice (the same key) counts once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.events.jsonl import JsonlSink
from pytest_artifact_store.events.redis_stream import RedisSink
from pytest_artifact_store.events.sink import Sink, safe_url
from pytest_artifact_store.events.webhook import WebhookSink

DEFAULT_SECRET_ENV = "ARTIFACT_STORE_WEBHOOK_SECRET"
FORMS = (
    "http(s)://host/path (a webhook), redis://host:port/db?stream=NAME (a Redis stream), "
    "or file:///abs/path.jsonl or a path ending in .jsonl (a JSON-lines file)"
)


def parse_sinks(
    entries: Sequence[str], *, base: Path, secret_env: str = DEFAULT_SECRET_ENV
) -> list[Sink]:
    """The sinks ``entries`` name, in order; ArtifactStoreError names a bad entry.

    ``base`` is the directory relative ``.jsonl`` paths start from (the work tree);
    ``secret_env`` the environment variable holding the webhooks' HMAC secret.
    """
    if isinstance(entries, str) or not isinstance(entries, Sequence):
        raise ArtifactStoreError("event_sinks must be a list of sink URIs, e.g. " + FORMS)
    sinks: dict[str, Sink] = {}
    for entry in entries:
        sink = parse_sink(entry, base=base, secret_env=secret_env)
        sinks.setdefault(sink.key, sink)
    return list(sinks.values())


def parse_sink(entry: object, *, base: Path, secret_env: str = DEFAULT_SECRET_ENV) -> Sink:
    """One sink; see :func:`parse_sinks`."""
    if not isinstance(entry, str) or not entry.strip():
        raise ArtifactStoreError(f"event sink {entry!r} is not a URI: use {FORMS}")
    text = entry.strip()
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if scheme in ("http", "https"):
        return WebhookSink(text, secret_env)
    if scheme in ("redis", "rediss"):
        return RedisSink(text)
    if scheme == "file":
        return JsonlSink(_file_path(text))
    if not scheme and text.endswith(".jsonl"):
        return JsonlSink(Path(os.path.abspath(base / Path(text).expanduser())))
    raise ArtifactStoreError(f"event sink {safe_url(text)!r} is not understood: use {FORMS}")


def _file_path(uri: str) -> Path:
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ArtifactStoreError(
            f"event sink {safe_url(uri)!r}: a file URI names an absolute local path "
            "(file:///abs/path.jsonl); write a relative path without file://"
        )
    return Path(os.path.abspath(unquote(parts.path)))
