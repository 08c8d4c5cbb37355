"""The remote layer (SPEC §6): push first, join a remote branch that moved, retry;
``push_pending`` for what a remote lacks.

``push`` (the Pusher), ``join`` (fetch and join), ``outgoing`` (what a push publishes,
and what it refuses to), ``link`` (one remote: commands under a deadline, errors in
words, credentials redacted), ``facts`` (what it needs of the store, as protocols: this
package never imports the store)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_artifact_store.remote.push import Pusher, PushOutcome

__all__ = ["PushOutcome", "Pusher"]


def __getattr__(name: str) -> Any:
    # imported on first use: reading history needs only ``facts``, never the pusher
    if name in __all__:
        from pytest_artifact_store.remote import push

        return getattr(push, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
