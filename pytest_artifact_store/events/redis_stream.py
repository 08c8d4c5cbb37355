"""The Redis stream sink: ``XADD`` each event to a stream.

``redis://[[user]:password@]host[:port][/db][?stream=NAME][&maxlen=N]`` (``rediss://`` for
TLS). Each entry has the fields ``id``, ``type``, ``subject`` and ``event`` (the
structured CloudEvent's JSON), so a consumer can de-duplicate on ``id`` without parsing;
``maxlen`` trims the stream approximately (``MAXLEN ~ N``). Needs the ``redis`` package:
``pip install 'pytest-artifact-store[redis]'``.
"""

from __future__ import annotations

import importlib.util
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.events.envelope import Envelope
from pytest_artifact_store.events.sink import SendFailed, Sink, url_key

DEFAULT_STREAM = "artifact-store"
_PARAMS = ("stream", "maxlen")


class RedisSink(Sink):
    """XADD events to the stream named by the URL's ``stream`` parameter."""

    def __init__(self, url: str) -> None:
        self.key = url_key(url)
        parts = urlsplit(url)
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - set(_PARAMS))
        if unknown:
            raise ArtifactStoreError(
                f"event sink {self.key!r}: unknown parameter(s) {', '.join(unknown)}; "
                f"a Redis sink takes {' and '.join(_PARAMS)} (?stream=NAME&maxlen=N)"
            )
        self.stream = _single(query, "stream", self.key) or DEFAULT_STREAM
        maxlen = _single(query, "maxlen", self.key)
        if maxlen is not None and not (maxlen.isdigit() and int(maxlen) > 0):
            raise ArtifactStoreError(
                f"event sink {self.key!r}: maxlen must be a positive whole number, got {maxlen!r}"
            )
        self.maxlen = int(maxlen) if maxlen else None
        if not parts.hostname:
            raise ArtifactStoreError(f"event sink {self.key!r}: the URL names no host")
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise ArtifactStoreError(
                f"event sink {self.key!r}: the database is a number (redis://host:6379/0)"
            )
        if importlib.util.find_spec("redis") is None:
            raise ArtifactStoreError(
                f"event sink {self.key!r} needs the redis package: "
                "pip install 'pytest-artifact-store[redis]'"
            )
        self._url = urlunsplit(parts._replace(query="", fragment=""))
        self._client: Any = None
        self._timeout = 0.0

    def attempt(self, envelope: Envelope, timeout: float) -> None:
        import redis

        fields = {
            "id": envelope.id,
            "type": envelope.type,
            "subject": envelope.subject,
            "event": envelope.body,
        }
        try:
            client = self._connect(timeout)
            client.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self.close()
            raise SendFailed(str(exc) or type(exc).__name__, retryable=True) from None
        except redis.RedisError as exc:
            raise SendFailed(str(exc) or type(exc).__name__, retryable=False) from None

    def _connect(self, timeout: float) -> Any:
        """The client, made again when the budget left is shorter than its timeouts."""
        if self._client is None or self._timeout > timeout:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self.close()
            self._client = redis.Redis.from_url(
                self._url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),  # ours: within the budget, counted
            )
            self._timeout = timeout
        return self._client

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            client.close()


def _single(query: dict[str, list[str]], name: str, key: str) -> str | None:
    values = query.get(name)
    if values is None:
        return None
    if len(values) > 1 or not values[0]:
        raise ArtifactStoreError(f"event sink {key!r}: give {name} once, with a value")
    return values[0]
