"""The remote layer (SPEC §6): push first, join a remote branch that moved, retry;
``push_pending`` for what a remote lacks. Works on any store-like object that offers the
few version facts it needs (see :class:`~pytest_artifact_store.remote.push.VersionFacts`)."""

from __future__ import annotations

from pytest_artifact_store.remote.push import Pusher, PushOutcome

__all__ = ["PushOutcome", "Pusher"]
