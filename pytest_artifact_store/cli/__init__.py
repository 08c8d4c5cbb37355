"""The ``artifact-store`` command: parse, call the library, print.

Exit codes: 0 ok, 1 findings/failure, 2 usage. Errors are one line on stderr,
never a traceback. Each sub-command is a small function ``cmd_<name>(args) -> int``
registered in :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_artifact_store.cli import (
    approval_commands,
    capsule_commands,
    commands,
    event_commands,
    scan_commands,
)
from pytest_artifact_store.errors import ArtifactStoreError

Command = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad command-line usage (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="artifact-store",
        description="Inspect, compare, roll back and push pytest-artifact-store artifacts.",
    )
    parser.add_argument(
        "--repo", type=Path, default=None, help="the git repository (default: current directory)"
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for register in _REGISTRY:
        register(sub)
    return parser


_REGISTRY: list[Callable[[argparse._SubParsersAction[_Parser]], None]] = [
    commands.register,
    approval_commands.register,
    scan_commands.register,
    event_commands.register,
    capsule_commands.register,
]


class _VersionAction(argparse.Action):
    """``--version``: the installed version, looked up only when asked (importlib.metadata
    costs ~20 ms, a third of the command's start)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"artifact-store {_version()}")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-artifact-store")
    except PackageNotFoundError:  # a checkout on sys.path, not installed
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        func: Command = args.func
        return commands._guarded(func)(args)  # every command: a closed pipe, an OS error
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except ArtifactStoreError as exc:
        from pytest_artifact_store.scan import mask_secrets

        print(f"artifact-store: error: {mask_secrets(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("artifact-store: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
