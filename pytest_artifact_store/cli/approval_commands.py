"""``artifact-store approve`` and ``artifact-store stages``: promotion by approval records."""

from __future__ import annotations

import argparse
from typing import Any

from pytest_artifact_store.cli.commands import (
    _add_common,
    _add_remote_options,
    _guarded,
    _open,
    _print_json,
    approval_line,
    printable,
)


def cmd_approve(args: argparse.Namespace) -> int:
    with _open(args) as store:
        result = store.approve(
            args.ref,
            args.stage,
            args.note,
            push=not args.no_push,
            remote=args.remote,
            timeout=args.timeout,
        )
    if args.json:
        _print_json(result)
    else:
        name = result.get("correlation_id") or str(result["commit_sha"])[:12]
        count = f"{result['approvers']} distinct approver(s)"
        state = "approved" if result["approved"] else f"not yet approved: {count}"
        print(f"approved {name} for {result['stage']}: {result['tag']}")
        print(f"  {state}; " + ("holds " + result["stage"] if result["holds_stage"] else ""))
        if result["pushed"]:
            print(f"  pushed to {args.remote or store.config.remote_name}")
        elif result["push_error"]:
            print(f"  not pushed: {result['push_error']}")
    return 0


def cmd_stages(args: argparse.Namespace) -> int:
    with _open(args) as store:
        tasks = store.stages(args.workflow, args.task)
    if args.json:
        _print_json(tasks)
        return 0
    if not tasks:
        print("no approvals yet ('artifact-store approve REF --stage NAME' records one)")
        return 0
    for task in tasks:
        print(f"{task['workflow_id']}/{task['task_id']}")
        for stage, held in task["stages"].items():
            name = held["correlation_id"] or held["commit_sha"][:12]
            who = printable(", ".join(held["approvers"]))
            print(f"  {stage:<12} {name:<24} since {held['since']}  by {who}")
        if args.history:
            for record in task["history"]:
                name = record["correlation_id"] or record["commit_sha"][:12]
                print(f"    {name}: {approval_line(record)}")
    return 0


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add approve and stages to the ``artifact-store`` parser."""
    p = sub.add_parser(
        "approve",
        help="approve a version for a stage (an annotated tag by you), and push it",
        description="Record that you (your git identity) approve the version REF names for "
        "STAGE: an annotated tag approval/<workflow>/<task>/<stage>/<time>-<nonce>, signed "
        "when signing is configured, never moved (approving again makes a new record). The "
        "stage is then held by this version (once it has required_approvals distinct "
        "approvers). The version and its approvals are pushed unless --no-push.",
    )
    p.add_argument("ref", metavar="REF", help="any REF show takes, or WORKFLOW/TASK@STAGE")
    p.add_argument("--stage", required=True, metavar="NAME", help="e.g. staging, prod")
    p.add_argument("--note", default=None, metavar="TEXT", help="why (kept in the record)")
    p.add_argument("--no-push", action="store_true", help="record the approval only")
    _add_remote_options(p)
    _add_common(p)
    p.set_defaults(func=_guarded(cmd_approve))

    p = sub.add_parser(
        "stages",
        help="which version holds each stage, per task, and who approved it",
        description="Per task with approvals: the version holding each stage (the newest "
        "to reach required_approvals distinct approvers for it), since when and by whom; "
        "--history adds every approval record.",
    )
    p.add_argument("--workflow", default=None, help="only this workflow id")
    p.add_argument("--task", default=None, help="only this task id (with --workflow)")
    p.add_argument("--history", action="store_true", help="list every approval record too")
    _add_common(p)
    p.set_defaults(func=_guarded(cmd_stages))
