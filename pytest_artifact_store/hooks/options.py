"""Options shared by every scanning command (the secrets hook and ``artifact-store scan``),
kept apart from the scanner so that registering them costs no scanner import."""

from __future__ import annotations

import argparse

from pytest_artifact_store import naming


def add_scanner_options(parser: argparse.ArgumentParser) -> None:
    """The options every scanning command shares (the hook and ``artifact-store scan``)."""
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
    parser.add_argument(
        "--disable-rule",
        action="append",
        default=[],
        metavar="ID",
        help="switch a rule off by its id (repeatable, or comma-separated)",
    )
    parser.add_argument(
        "--allowlist",
        metavar="FILE",
        default=None,
        help=f"finding fingerprints judged not secret (default: {naming.ALLOWLIST_FILENAME} at the "
        "top of the work tree)",
    )
    parser.add_argument(
        "--show-low",
        action="store_true",
        help="also list low-confidence findings (they never fail the scan)",
    )
