"""``artifact-store-secrets``: refuse files that contain secrets.

    artifact-store-secrets [--pattern RE ...] [--extra-pattern RE ...] FILE ...
    artifact-store-secrets --staged           (plain pre-commit hook: the index blobs)
    artifact-store-secrets --pre-push REMOTE  (plain pre-push hook: stdin as git gives it)

Prints one ``path:line: rule preview`` line per finding (the preview is masked) and
returns 0 when clean, 1 on findings, 2 on bad usage or configuration.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.hooks import githooks
from pytest_artifact_store.scan import Finding, Scanner


def build_scanner(patterns: Sequence[str] | None, extra: Sequence[str]) -> Scanner:
    """``--pattern`` replaces the built-in rules (as secret_patterns does); extra ones add."""
    return Scanner(patterns or None, extra)


def scan_files(scanner: Scanner, filenames: Iterable[str]) -> list[Finding]:
    findings: list[Finding] = []
    for name in filenames:
        findings.extend(scanner.scan_file(name))
    return findings


def scan_staged(scanner: Scanner) -> list[Finding]:
    blobs = githooks.staged_blobs()
    return [
        f for blob, data in githooks.read_blobs(blobs) for f in scanner.scan_bytes(data, blob.path)
    ]


def scan_pushed(scanner: Scanner, remote: str | None, updates: Sequence[str]) -> list[Finding]:
    blobs = githooks.pushed_blobs(updates, remote)
    return [
        f for blob, data in githooks.read_blobs(blobs) for f in scanner.scan_bytes(data, blob.path)
    ]


def report(findings: Sequence[Finding], *, where: str) -> int:
    for finding in findings:
        print(finding)
    if findings:
        print(
            f"artifact-store-secrets: {len(findings)} possible secret(s) in {where}. Remove them "
            "(read secrets from the environment), or mark a false positive with "
            "'# pragma: allowlist secret' on that line.",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="artifact-store-secrets", description=__doc__.splitlines()[0]
    )
    parser.add_argument("filenames", nargs="*", help="files to scan")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--staged", action="store_true", help="scan the staged index blobs")
    mode.add_argument(
        "--pre-push",
        metavar="REMOTE",
        nargs="?",
        const="",
        default=None,
        help="scan blobs of the pushed commits the remote lacks (ref lines on stdin)",
    )
    parser.add_argument(
        "--pattern",
        action="append",
        default=[],
        metavar="RE",
        help="a regex that REPLACES the built-in rules (repeatable)",
    )
    parser.add_argument(
        "--extra-pattern",
        action="append",
        default=[],
        metavar="RE",
        help="a regex added to the rules in force (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        scanner = build_scanner(args.pattern, args.extra_pattern)
        if args.staged:
            return report(scan_staged(scanner), where="the staged changes")
        if args.pre_push is not None:
            updates = sys.stdin.read().splitlines()
            return report(
                scan_pushed(scanner, args.pre_push or None, updates), where="the pushed commits"
            )
        return report(scan_files(scanner, args.filenames), where="the files")
    except ArtifactStoreError as exc:
        print(f"artifact-store-secrets: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"artifact-store-secrets: error: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
