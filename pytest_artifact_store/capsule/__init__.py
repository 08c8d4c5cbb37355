"""The reproducibility capsule: what a version was built from, checked and re-run later.

:mod:`.capture` records it (the code's commit and dirty state, the pytest command, Python,
the installed distributions, the declared inputs' digests, seeds, the environment
variables the user lists) as ``metadata.json``'s ``capsule``; :mod:`.verify` compares it
with a checkout and an environment (``artifact-store verify``); :mod:`.reproduce` re-runs
the recorded session in a temporary worktree and compares its outputs with the stored
ones (``artifact-store reproduce``). The plugin imports only :mod:`.capture`, which
imports nothing but the standard library until it runs git.
"""

from __future__ import annotations
