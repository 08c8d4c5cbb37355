"""``artifact-store`` sub-commands for the checks: scan, check-metadata, install-hooks.

Thin faces over :mod:`~pytest_artifact_store.scan`, :mod:`~pytest_artifact_store.metadata`
and :mod:`~pytest_artifact_store.hooks.githooks`; exit 0 clean, 1 findings, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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
    scan.add_argument("paths", nargs="+", metavar="PATH")
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
    from pytest_artifact_store.scan import Scanner, iter_files

    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        print(
            f"artifact-store scan: error: no such file or directory: {missing[0]}", file=sys.stderr
        )
        return 2
    scanner = Scanner()
    findings = []
    for path in iter_files(args.paths):
        try:
            findings.extend(scanner.scan_file(path))
        except OSError as exc:
            print(f"artifact-store scan: warning: {path}: {exc.strerror}", file=sys.stderr)
    for skipped in scanner.skipped:
        print(
            f"artifact-store scan: warning: {skipped}: too large to scan, skipped", file=sys.stderr
        )
    if args.format == "json":
        print(json.dumps([f.to_dict() for f in findings], indent=2, ensure_ascii=False))
    else:
        for finding in findings:
            print(finding)
    return 1 if findings else 0


def cmd_check_metadata(args: argparse.Namespace) -> int:
    from pytest_artifact_store.metadata import check_metadata_file

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
