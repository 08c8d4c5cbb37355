"""``artifact-store`` sub-commands for the checks: scan, check-metadata, install-hooks.

Thin faces over :mod:`~pytest_artifact_store.scan`, :mod:`~pytest_artifact_store.metadata`
and :mod:`~pytest_artifact_store.hooks.githooks`; exit 0 clean, 1 findings, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from pytest_artifact_store.errors import ArtifactStoreError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    scan = sub.add_parser(
        "scan",
        help="scan files and directories for secrets",
        description="Scan files (directories are walked, .git skipped) for hardcoded secrets.",
    )
    scan.add_argument("--format", choices=("text", "json"), default="text")
    scan.add_argument(
        "--json", dest="format", action="store_const", const="json", help="same as --format json"
    )
    from pytest_artifact_store.hooks.options import add_scanner_options

    add_scanner_options(scan)
    scan.add_argument(
        "--update-allowlist",
        action="store_true",
        help="record every finding's fingerprint in the allowlist file (created if missing) "
        "and exit 0: for a first run on an existing repository, after reading the findings",
    )
    scan.add_argument(
        "--list-rules", action="store_true", help="print the rule ids (for --disable-rule)"
    )
    scan.add_argument("paths", nargs="*", metavar="PATH")
    scan.set_defaults(func=cmd_scan)

    check = sub.add_parser(
        "check-metadata",
        help="validate metadata.json files",
        description="Validate metadata.json files against the packaged JSON Schema, check that "
        "commit_timestamp is UTC and that the listed files exist beside them.",
    )
    check.add_argument("--json", action="store_true", help="print problems as a JSON array")
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.set_defaults(func=cmd_check_metadata)

    install = sub.add_parser(
        "install-hooks",
        help="install the plain git pre-commit and pre-push hooks",
        description="Install hooks that scan staged blobs (pre-commit) and pushed commits "
        "(pre-push) into a repository that does not use the pre-commit framework.",
    )
    install.add_argument(
        "--repo",
        dest="hook_repo",
        default=None,
        metavar="PATH",
        help="the repository (default: --repo before the command, or .)",
    )
    install.add_argument(
        "--hook",
        dest="hooks",
        action="append",
        choices=("pre-commit", "pre-push"),
        help="install only this hook (repeatable; default: both)",
    )
    mode = install.add_mutually_exclusive_group()
    mode.add_argument(
        "--chain", action="store_true", help="keep an existing hook and run it before ours"
    )
    mode.add_argument(
        "--force",
        action="store_true",
        help="replace an existing hook (a copy is kept as <hook>.bak)",
    )
    install.set_defaults(func=cmd_install_hooks)


def cmd_scan(args: argparse.Namespace) -> int:
    from pytest_artifact_store.hooks.secrets_hook import build_scanner
    from pytest_artifact_store.scan import (
        ScanLimitError,
        allowlist,
        iter_files,
        parallel,
    )
    from pytest_artifact_store.scan.rules import rule_ids

    if args.list_rules:
        print("\n".join(rule_ids()))
        return 0
    if not args.paths:
        print("artifact-store scan: error: give one or more PATHs to scan", file=sys.stderr)
        return 2
    if _missing(args.paths, "scan"):
        return 2
    if args.update_allowlist:
        args.show_low = True  # record what --show-low would list too
    try:
        scanner = build_scanner(args.pattern, args.extra_pattern, args, start=args.paths[0])
    except ArtifactStoreError as exc:  # a bad allowlist or rule id: a usage error
        print(f"artifact-store scan: error: {exc}", file=sys.stderr)
        return 2
    findings = []
    unscannable = 0
    for path, found, skipped, error in parallel.scan_files(scanner, list(iter_files(args.paths))):
        findings += found
        shown = scanner.masked_path(path)
        if skipped:  # it cannot be shown clean
            print(
                f"artifact-store scan: error: {shown}: too large to scan "
                f"(over {scanner.max_bytes // (1024 * 1024)} MiB)",
                file=sys.stderr,
            )
            unscannable += 1
        if isinstance(error, ScanLimitError):  # a bomb: it cannot be shown clean
            print(f"artifact-store scan: error: {error}", file=sys.stderr)
            unscannable += 1
        elif isinstance(error, OSError):
            print(f"artifact-store scan: warning: {shown}: {error.strerror}", file=sys.stderr)
    if args.update_allowlist:
        target = args.allowlist or allowlist.find(args.paths[0]) or _allowlist_home(args.paths[0])
        added = allowlist.update(target, findings)
        print(f"{target}: {added} fingerprint(s) added ({len(findings)} finding(s))")
        return 0
    if args.format == "json":
        print(json.dumps([f.to_dict() for f in findings], indent=2, ensure_ascii=False))
    else:
        for finding in findings:
            print(finding)
    return 1 if unscannable or any(f.blocking for f in findings) else 0


def _allowlist_home(path: str) -> str:
    """Where a new allowlist goes: the top of the work tree holding ``path``, else its
    directory."""
    from pytest_artifact_store.scan import allowlist

    here = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
    probe = here
    while True:
        if os.path.exists(os.path.join(probe, ".git")):
            return os.path.join(probe, allowlist.FILENAME)
        parent = os.path.dirname(probe)
        if parent == probe:
            return os.path.join(here, allowlist.FILENAME)
        probe = parent


def cmd_check_metadata(args: argparse.Namespace) -> int:
    from pytest_artifact_store.metadata import check_metadata_file

    if _missing(args.paths, "check-metadata"):
        return 2  # as scan: a missing path is a usage error, not a finding

    problems = [(path, p) for path in args.paths for p in check_metadata_file(path)]
    if args.json:
        print(json.dumps([{"path": path, "problem": p} for path, p in problems], indent=2))
    else:
        for path, problem in problems:
            print(f"{path}: {problem}")
    return 1 if problems else 0


def cmd_install_hooks(args: argparse.Namespace) -> int:
    from pytest_artifact_store.hooks import githooks

    repo = args.hook_repo or args.repo or os.getcwd()
    if not os.path.isdir(repo):
        raise ArtifactStoreError(f"--repo {repo}: no such directory")
    names = tuple(dict.fromkeys(args.hooks)) if args.hooks else githooks.HOOK_NAMES
    for line in githooks.install_hooks(repo, names=names, force=args.force, chain=args.chain):
        print(line)
    return 0


def _missing(paths: Sequence[str], command: str) -> bool:
    """Say so (usage error, exit 2) when a path given does not exist."""
    from pytest_artifact_store.scan import mask_secrets

    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        print(
            f"artifact-store {command}: error: no such file or directory: "
            f"{mask_secrets(missing[0])}",
            file=sys.stderr,
        )
    return bool(missing)
