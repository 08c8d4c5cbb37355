"""``artifact-store verify`` and ``artifact-store reproduce``: a version's capsule checked
against this checkout and environment, and its session re-run and compared."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_artifact_store.cli.commands import (
    _add_common,
    _arg_type,
    _guarded,
    _open,
    _print_json,
    _rule,
)
from pytest_artifact_store.compare.text import fmt_number, table

if TYPE_CHECKING:
    from pytest_artifact_store.capsule.reproduce import Reproduction
    from pytest_artifact_store.capsule.verify import Difference, Verification


def _title(verb: str, entry: dict[str, Any]) -> str:
    name = entry.get("correlation_id") or "version"
    return (
        f"{verb} {name} ({str(entry.get('commit_sha'))[:10]}) of "
        f"{entry.get('workflow_id')}/{entry.get('task_id')}"
    )


def _differences(differences: list[Difference]) -> list[str]:
    lines = []
    counted = [d.message for d in differences if d.matters]
    notes = [d.message for d in differences if not d.matters]
    if counted:
        lines += [f"differs ({len(counted)}):", *(f"  {m}" for m in counted)]
    if notes:
        lines += ["notes (not counted):", *(f"  {m}" for m in notes)]
    return lines


# ---------------------------------------------------------------- verify
def verify_lines(result: Verification) -> list[str]:
    from pytest_artifact_store.capsule.verify import describe_python

    capsule = result.capsule
    code = capsule["code"]
    was_code = f"{str(code.get('commit') or 'no commit')[:10]} "
    was_code += "(dirty)" if code.get("dirty") else "(clean)"
    inputs = (capsule.get("inputs") or {}).get("sha256") or {}
    rows = [
        ["code", was_code, result.code.describe()],
        ["python", describe_python(capsule.get("python") or {}), describe_python(result.python)],
        ["packages", str(len(capsule.get("packages") or {})), str(result.packages)],
        ["inputs", str(len(inputs)), str(result.inputs)],
    ]
    lines = [_title("verify", result.entry), ""]
    lines += ["  " + line for line in table(["", "RECORDED", "NOW"], rows, right=set())]
    lines += ["", *_differences(result.differences)]
    if result.matches:
        lines.append("verify: this checkout and environment match the capsule")
    else:
        count = sum(d.matters for d in result.differences)
        lines.append(f"verify: {count} difference(s) that matter")
    return lines


def cmd_verify(args: argparse.Namespace) -> int:
    from pytest_artifact_store.capsule.verify import verify
    from pytest_artifact_store.compare.diff import resolve

    with _open(args) as store:
        entry = resolve(store, args.ref)
    result = verify(entry, code_dir=args.code)
    if args.json:
        _print_json(result.to_json())
    else:
        print("\n".join(verify_lines(result)))
    return 0 if result.matches else 1


# ---------------------------------------------------------------- reproduce
def reproduce_lines(result: Reproduction) -> list[str]:
    shown = ["python", *(shlex.quote(a) for a in result.command[1:])]
    lines = [
        _title("reproduce", result.entry),
        f"  code     {result.commit[:10]}, checked out in a temporary worktree",
        f"  command  {' '.join(shown)}  (in {result.cwd})",
        f"  pytest   exit {result.exit_code}: {result.summary or 'no summary line'}",
    ]
    lines += [f"  note     {note}" for note in result.notes]
    if result.kept:
        remove = f"git worktree remove --force {result.kept}/tree"
        lines.append(f"  kept     {result.kept} (the worktree and the export; {remove})")
    if result.output_tail:
        lines += ["", "pytest's last lines:", *(f"  {line}" for line in result.output_tail)]
    if result.files:
        rows = [
            [f.name, f.status + (" (ignored)" if f.ignored else ""), f.detail or ""]
            for f in result.files
        ]
        lines += ["", *table(["FILE", "RESULT", ""], rows, right=set())]
    if result.metrics:
        rows = [
            [
                m.name,
                fmt_number(m.stored),
                fmt_number(m.new),
                "" if m.delta is None else fmt_number(m.delta),
                m.status,
            ]
            for m in result.metrics
        ]
        lines += ["", *table(["METRIC", "STORED", "NEW", "DELTA", "RESULT"], rows, right={1, 2, 3})]
        lines += [f"  {m.message}" for m in result.metrics if m.message]
    if result.environment:
        lines += ["", "what the re-run ran with, against the capsule:"]
        lines += [f"  {d.message}" for d in result.environment]
    lines.append("")
    if result.reproduced:
        lines.append("reproduced: every file and metric as stored")
    else:
        lines += ["not reproduced:", *(f"  {problem}" for problem in result.problems)]
    return lines


@_arg_type
def _tolerance(text: str) -> Any:
    from pytest_artifact_store.capsule.reproduce import parse_tolerance

    return parse_tolerance(text)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from pytest_artifact_store.capsule.reproduce import reproduce

    rules = [rule for rules in args.tolerance for rule in rules] + list(args.fail_on)
    with _open(args) as store:
        result = reproduce(
            store, args.ref, code_dir=args.code, rules=rules, ignore=args.ignore, keep=args.keep
        )
    if args.json:
        _print_json(result.to_json())
    else:
        print("\n".join(reproduce_lines(result)))
    return 0 if result.reproduced else 1


def _add_code(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--code",
        type=Path,
        default=None,
        metavar="DIR",
        help="the checkout of the code under test (default: the git work tree containing "
        "the current directory)",
    )


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add verify and reproduce to the ``artifact-store`` parser."""
    p = sub.add_parser(
        "verify",
        help="compare a version's capsule with this checkout, environment and inputs",
        description="Compare what the version REF was built from (its capsule) with the "
        "checkout of the code under test (HEAD commit, uncommitted changes), this "
        "interpreter (Python, platform, installed distributions), the listed environment "
        "variables and the declared inputs (sha256, read at the same paths in the "
        "checkout). Exit 1 when anything that matters differs: the commit, uncommitted "
        "changes, an input, a recorded package's version, the Python implementation or "
        "minor version, a listed variable. A Python patch release, another platform and "
        "newly installed packages are reported without counting.",
    )
    p.add_argument("ref", metavar="REF", help="any REF show takes")
    _add_code(p)
    _add_common(p)
    p.set_defaults(func=_guarded(cmd_verify))

    p = sub.add_parser(
        "reproduce",
        help="re-run a version's pytest session in a temporary worktree and compare outputs",
        description="Check out the version's recorded code commit into a temporary linked "
        "worktree (your work tree, index and HEAD are not touched), run its recorded pytest "
        "command there with this interpreter, committing nothing, and compare the outputs "
        "with the stored ones: every file byte for byte (test_report.json by its tests' "
        "outcomes), every metric exactly unless a --tolerance or --fail-on rule allows the "
        "change. Exit 0 when reproduced. A version recorded from a dirty work tree cannot "
        "be reproduced exactly (its uncommitted changes are not stored): exit 1.",
    )
    p.add_argument("ref", metavar="REF", help="any REF show takes")
    p.add_argument(
        "--tolerance",
        type=_tolerance,
        action="append",
        default=[],
        metavar="METRIC:N%",
        help="METRIC may move N%% (or N, absolute) either way; METRIC:+N%% or :-N%% one "
        "way; * for every metric without its own (repeatable)",
    )
    p.add_argument(
        "--fail-on",
        type=_rule,
        action="append",
        default=[],
        metavar="RULE",
        help="a diff --fail-on rule (METRIC:+N%%, METRIC:-N%%, METRIC:+N, METRIC:-N): the "
        "metric may move except past it (repeatable)",
    )
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="GLOB",
        help="files that may differ (e.g. a log with timestamps): compared and shown, "
        "not counted (repeatable)",
    )
    p.add_argument("--keep", action="store_true", help="keep the worktree and the re-run's outputs")
    _add_code(p)
    _add_common(p)
    p.set_defaults(func=_guarded(cmd_reproduce))
