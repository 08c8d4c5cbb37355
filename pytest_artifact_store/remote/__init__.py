"""The remote layer (SPEC §6): push first, join a remote branch that moved, retry;
``push_pending`` for what a remote lacks.

``push`` (the Pusher), ``join`` (fetch and join), ``outgoing`` (what a push publishes,
and what it refuses to), ``link`` (one remote: commands under a deadline, errors in
words, credentials redacted), ``facts`` (what it needs of the store, as protocols: this
package never imports the store)."""

from __future__ import annotations

from pytest_artifact_store.remote.push import Pusher, PushOutcome

__all__ = ["PushOutcome", "Pusher"]
