"""``artifact-store-secrets``: refuse files that contain secrets.

    artifact-store-secrets [--pattern RE ...] [--extra-pattern RE ...] FILE ...
    artifact-store-secrets --staged           (plain pre-commit hook: the index blobs)
    artifact-store-secrets --pre-push REMOTE  (plain pre-push hook: stdin as git gives it)
    ... [--disable-rule ID ...] [--allowlist FILE] [--show-low]

Prints one ``path:line: rule preview`` line per finding (the preview is masked) and
returns 0 when clean, 1 on high-confidence findings, 2 on bad usage or configuration.
Low-confidence findings are listed with ``--show-low`` and never fail the hook. The
allowlist (default: ``.artifact-store-allowlist`` at the top of the work tree) holds
fingerprints of findings judged not secret.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence

from pytest_artifact_store.errors import ArtifactStoreError, false_positive_hint
from pytest_artifact_store.hooks import githooks
from pytest_artifact_store.hooks.approval_hook import report_unapproved, unapproved_pushed
from pytest_artifact_store.hooks.options import add_scanner_options
from pytest_artifact_store.scan import Finding, Scanner, allowlist, mask_secrets, parallel


def build_scanner(
    patterns: Sequence[str] | None,
    extra: Sequence[str],
    args: argparse.Namespace | None = None,
    *,
    start: str = ".",
) -> Scanner:
    """``--pattern`` replaces the built-in rules (as secret_patterns does); extra ones add;
    ``args`` carries the shared options (:func:`add_scanner_options`)."""
    if args is None:
        return Scanner(patterns or None, extra)
    disabled = [r for raw in args.disable_rule for r in raw.split(",")]
    file = args.allowlist or allowlist.find(start)
    if args.allowlist and not os.path.isfile(args.allowlist):
        raise ArtifactStoreError(f"--allowlist {args.allowlist}: no such file")
    return Scanner(
        patterns or None,
        extra,
        disabled_rules=disabled,
        allowlist=allowlist.load(file) if file else (),
        show_low=args.show_low,
    )


def scan_files(scanner: Scanner, filenames: Iterable[str]) -> list[Finding]:
    findings: list[Finding] = []
    for path, found, skipped, error in parallel.scan_files(scanner, list(filenames)):
        if error is not None:
            raise error
        if skipped:  # it cannot be shown clean
            raise ArtifactStoreError(
                f"{path}: too large to scan (over {scanner.max_bytes // (1024 * 1024)} MiB); "
                "keep files this large out of the repository"
            )
        findings += found
    return findings


def _scan_blobs(scanner: Scanner, blobs: Sequence[githooks.Blob]) -> list[Finding]:
    findings = [f for blob in blobs for f in scanner.scan_name(blob.path)]
    for blob, data in githooks.read_blobs(blobs):
        findings += scanner.scan_bytes(data, blob.path)
    return findings


def scan_staged(scanner: Scanner) -> list[Finding]:
    return _scan_blobs(scanner, githooks.staged_blobs())


def scan_pushed(scanner: Scanner, remote: str | None, updates: Sequence[str]) -> list[Finding]:
    return _scan_blobs(scanner, githooks.pushed_blobs(updates, remote))


def report(findings: Sequence[Finding], *, where: str, pushed: bool = False) -> int:
    for finding in findings:
        print(finding)
    blocking = [f for f in findings if f.blocking]
    if blocking:
        remove = "Remove them (read secrets from the environment)"
        if pushed:
            remove = (
                "They are already in your local history, so a new commit that deletes them "
                "is not enough: rewrite the commits before pushing (e.g. 'git rebase -i' onto "
                "the remote's branch and edit them, or 'git reset --soft' to it and commit "
                "again), and rotate each secret"
            )
        print(
            f"artifact-store-secrets: {len(blocking)} possible secret(s) in {where}. {remove}; "
            + false_positive_hint(f.path for f in blocking),
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
    add_scanner_options(parser)
    args = parser.parse_args(argv)
    try:
        scanner = build_scanner(args.pattern, args.extra_pattern, args)
        if args.staged:
            return report(scan_staged(scanner), where="the staged changes")
        if args.pre_push is not None:
            updates = sys.stdin.read().splitlines()
            remote = args.pre_push or None
            found = report(
                scan_pushed(scanner, remote, updates), where="the pushed commits", pushed=True
            )
            return found or report_unapproved(unapproved_pushed(updates, remote))
        return report(scan_files(scanner, args.filenames), where="the files")
    except ArtifactStoreError as exc:
        print(f"artifact-store-secrets: error: {mask_secrets(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        name = mask_secrets(str(exc.filename))
        print(f"artifact-store-secrets: error: {name}: {exc.strerror}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
