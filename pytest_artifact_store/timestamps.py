"""metadata.json's commit_timestamp: UTC, microseconds, "YYYY-MM-DDTHH:MM:SS.ffffffZ".

Readers also accept the form without the fraction (SPEC §3).
"""

from __future__ import annotations

from datetime import datetime, timezone

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_FORMATS = (FORMAT, "%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def format_utc(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime(FORMAT)


def parse_utc(text: object) -> datetime | None:
    """The UTC datetime of a commit_timestamp, or None if it is not one."""
    if not isinstance(text, str):
        return None
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None
