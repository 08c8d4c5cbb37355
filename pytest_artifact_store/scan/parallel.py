"""Scanning many files on every core: one forked worker per CPU (up to four) takes
files in batches, in order; results come back in the order the files were given.
Small jobs (a few files, a few MB) stay in this process: forking costs more."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from pytest_artifact_store.scan.decode import ScanLimitError
from pytest_artifact_store.scan.engine import Scanner
from pytest_artifact_store.scan.findings import Finding

PARALLEL_BYTES = 8 * 1024 * 1024  # below this much in all, one process
_BATCH_BYTES = 2 * 1024 * 1024

# (path, findings, skipped as too large, the error that stopped it: OSError / ScanLimitError)
Result = tuple[str, list[Finding], bool, BaseException | None]

_WORKER: Scanner | None = None


def scan_files(scanner: Scanner, paths: Sequence[str]) -> Iterator[Result]:
    """Each file's findings, in the given order; an unreadable or unscannable file
    yields its error instead of stopping the scan."""
    sizes = []
    for path in paths:
        try:
            sizes.append(os.path.getsize(path))
        except OSError:
            sizes.append(0)
    workers = min(4, os.cpu_count() or 1)
    if workers < 2 or len(paths) < 2 or sum(sizes) < PARALLEL_BYTES:
        for path in paths:
            yield _scan_one(scanner, path)
        return
    batches: list[list[str]] = [[]]
    held = 0
    for path, size in zip(paths, sizes, strict=True):
        if batches[-1] and held + size > _BATCH_BYTES:
            batches.append([])
            held = 0
        batches[-1].append(path)
        held += size
    global _WORKER
    _WORKER = scanner  # the forked workers inherit it, compiled rules and all
    context = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for results in pool.map(_scan_batch, batches):
                yield from results
    finally:
        _WORKER = None


def _scan_batch(paths: list[str]) -> list[Result]:
    assert _WORKER is not None
    return [_scan_one(_WORKER, path) for path in paths]


def _scan_one(scanner: Scanner, path: str) -> Result:
    before = len(scanner.skipped)
    try:
        findings = scanner.scan_file(path)
    except (OSError, ScanLimitError) as exc:
        return path, [], False, exc
    return path, findings, len(scanner.skipped) > before, None
