"""What every event sink shares: a secret-free name, one delivery with retries and
exponential backoff inside a deadline, and the outcome the outbox records."""

from __future__ import annotations

import hashlib
import random
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

from pytest_artifact_store.events.envelope import Envelope
from pytest_artifact_store.git import redact

REQUEST_TIMEOUT = 5.0  # one request's limit, clipped to what is left of the budget
MAX_ATTEMPTS = 4  # per event and sink in one delivery round
BACKOFF = 0.25  # seconds before the first retry; doubled each time, with jitter
MAX_BACKOFF = 4.0
MIN_TRY = 0.05  # no request is started with less time than this left
# a path segment no person chose: one run of 16+ letters and digits, both (a webhook's
# secret; 'artifact-store-2024' is words, a long hex id is masked too, harmlessly)
_TOKEN = re.compile(r"(?=[A-Za-z%]*[0-9])(?=[0-9%]*[A-Za-z])[A-Za-z0-9%]{16,}")


class SendFailed(Exception):
    """One attempt failed. ``retryable``: the sink may take it later (a connection error,
    a timeout, a 5xx/408/429); ``retry_after``: the seconds the receiver asked to wait."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outcome:
    """One event at one sink after a delivery: delivered or not, the attempts it took,
    the last error (redacted), and whether the sink itself is out of reach (its other
    events are then left for the next round rather than spending the budget)."""

    delivered: bool
    attempts: int
    error: str | None = None
    unreachable: bool = False


class Sink(ABC):
    """A destination for events. ``key`` names it without any credential: the outbox
    records, under this key, which sinks an event still owes delivery to."""

    key: str
    max_attempts = MAX_ATTEMPTS

    @abstractmethod
    def attempt(self, envelope: Envelope, timeout: float) -> None:
        """Send ``envelope`` once within ``timeout`` seconds; SendFailed if it did not land."""

    def close(self) -> None:  # noqa: B027 -- optional: most sinks hold nothing open
        """Release what the sink holds open (a connection), after a delivery round."""

    def deliver(self, envelope: Envelope, deadline: float) -> Outcome:
        """Send ``envelope``, retrying with backoff, before ``deadline`` (monotonic)."""
        attempts, delay, error = 0, BACKOFF, "not tried: the delivery budget was spent"
        while deadline - time.monotonic() >= MIN_TRY:
            attempts += 1
            try:
                self.attempt(envelope, min(REQUEST_TIMEOUT, deadline - time.monotonic()))
                return Outcome(True, attempts)
            except SendFailed as exc:
                error = safe_text(str(exc))
                if not exc.retryable or attempts >= self.max_attempts:
                    return Outcome(False, attempts, error, unreachable=exc.retryable)
                wait = max(delay * random.uniform(0.75, 1.25), exc.retry_after or 0.0)
                if time.monotonic() + wait + MIN_TRY > deadline:
                    break
                time.sleep(wait)
                delay = min(delay * 2, MAX_BACKOFF)
        if attempts:
            error += " (delivery budget spent)"
        return Outcome(False, attempts, error, unreachable=True)


def safe_text(text: str) -> str:
    """A message fit to show and store: credentials in URLs and secret literals masked."""
    return _mask(redact(text))


def _mask(text: str) -> str:
    from pytest_artifact_store.scan import mask_secrets  # the scanner loads on first use

    return mask_secrets(text)


def without_userinfo(parts: SplitResult) -> str:
    """The URL of ``parts`` without its ``user:password@``."""
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _unmasked(url: str, *, redacted: bool = True) -> str:
    """``url`` without its userinfo and its fragment (never sent: nothing to show),
    ``redacted`` (token-like query values masked) unless told otherwise."""
    parts = urlsplit(url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2])
    bare = urlunsplit(parts._replace(fragment=""))
    return redact(bare) if redacted else bare


def _masked(url: str) -> str:
    """:func:`_unmasked`, then secret literals masked, and a token in the path that no
    provider format catches (a Discord-style webhook's)."""
    parts = urlsplit(_unmasked(url))
    path = "/".join(
        "***" if any(_TOKEN.fullmatch(run) for run in re.split(r"[-_.~]", seg)) else seg
        for seg in parts.path.split("/")
    )
    return _mask(urlunsplit(parts._replace(path=path)))


def safe_url(url: str) -> str:
    """``url`` fit to show: userinfo replaced by ``***``, token-like query values and
    secret literals (a Slack webhook's path, a token in the path) masked."""
    return _masked(url)


def url_key(url: str) -> str:
    """The name a URL sink is shown and recorded under: :func:`safe_url`, plus a short
    fingerprint when a secret was masked (two masked webhooks stay two sinks; 32 bits of
    a hash tell nothing about a secret)."""
    plain = _unmasked(url, redacted=False)
    shown = _masked(url)
    if shown != plain:
        shown += " #" + hashlib.sha256(url.encode()).hexdigest()[:8]
    return shown
