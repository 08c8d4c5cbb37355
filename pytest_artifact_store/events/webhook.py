"""The HTTP webhook sink: POST the structured CloudEvent, signed GitHub-style.

``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`` when the secret's
environment variable is set; a receiver checks it with :func:`verify_signature`.
Retried: connection errors, timeouts, 5xx, 408 and 429 (``Retry-After`` honoured within
the budget); any other answer outside 2xx is final for this round. Redirects are not
followed (a POST turned into a GET would lose the event): configure the final URL.
``user:password@`` in the URL is sent as HTTP basic authentication, never shown.
Standard library only (``urllib.request``, which honours ``HTTPS_PROXY``/``NO_PROXY``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.events.envelope import CONTENT_TYPE, Envelope
from pytest_artifact_store.events.sink import SendFailed, Sink, safe_url, url_key, without_userinfo

if TYPE_CHECKING:  # urllib.request (and http, email, ssl) load on the first delivery
    import urllib.request
    from email.message import Message

SIGNATURE_HEADER = "X-Hub-Signature-256"
_RETRY_STATUS = {408, 429}
_MAX_RETRY_AFTER = 30.0
_USER_AGENT = "pytest-artifact-store-events/1"


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value of ``body``: ``sha256=`` + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """For receivers: does ``header`` sign exactly ``body`` with ``secret``?"""
    return header is not None and hmac.compare_digest(signature(secret, body), header)


class WebhookSink(Sink):
    """POST each event to ``url``; the signing secret is read from ``secret_env`` at
    each delivery (rotating it needs no restart; it is never stored)."""

    def __init__(self, url: str, secret_env: str) -> None:
        parts = urlsplit(url)
        self.key = url_key(url)
        try:
            parts.port  # noqa: B018 -- a bad port raises here
        except ValueError:
            raise ArtifactStoreError(f"event sink {self.key!r}: the port is not a number") from None
        if not parts.hostname:
            raise ArtifactStoreError(f"event sink {self.key!r}: the URL names no host")
        self._url = without_userinfo(parts)
        self._auth: str | None = None
        if parts.username is not None or parts.password is not None:
            user_pass = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            self._auth = "Basic " + base64.b64encode(user_pass.encode()).decode("ascii")
        self._secret_env = secret_env

    def attempt(self, envelope: Envelope, timeout: float) -> None:
        import http.client
        import urllib.error
        import urllib.request

        body = envelope.body.encode("utf-8")
        headers = {"Content-Type": CONTENT_TYPE, "User-Agent": _USER_AGENT}
        secret = os.environ.get(self._secret_env)
        if secret:
            headers[SIGNATURE_HEADER] = signature(secret, body)
        if self._auth:
            headers["Authorization"] = self._auth
        request = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
        try:
            with _opener().open(request, timeout=timeout) as response:
                response.read(1 << 16)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise _refused(exc.code, exc.reason, exc.headers) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise SendFailed(_failure(exc, timeout), retryable=True) from None


def _failure(exc: Exception, timeout: float) -> str:
    """Why no answer came, in words: ``Connection refused``, ``no answer within 5s``."""
    reason: Any = getattr(exc, "reason", exc)  # URLError wraps the socket's error
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:.3g}s"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(exc).__name__


def _refused(code: int, reason: str, headers: Message) -> SendFailed:
    if 300 <= code < 400:
        where = safe_url(headers.get("Location", "?"))
        return SendFailed(
            f"HTTP {code} redirect to {where} (not followed: configure the final URL)",
            retryable=False,
        )
    retryable = code >= 500 or code in _RETRY_STATUS
    return SendFailed(
        f"HTTP {code} {reason}".rstrip(),
        retryable=retryable,
        retry_after=_retry_after(headers.get("Retry-After")) if retryable else None,
    )


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the backoff decides
    return None if seconds is None or seconds < 0 else min(seconds, _MAX_RETRY_AFTER)


@functools.lru_cache(maxsize=1)
def _opener() -> urllib.request.OpenerDirector:
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # the 3xx surfaces as an HTTPError

    return urllib.request.build_opener(NoRedirect)
