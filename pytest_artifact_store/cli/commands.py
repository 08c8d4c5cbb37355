"""``artifact-store`` sub-commands over the library: list, show, diff, revert, push, gc, report.

Each command parses, makes one library call (:mod:`~pytest_artifact_store.store`,
:mod:`~pytest_artifact_store.compare.diff`, :mod:`~pytest_artifact_store.cli.report`) and
prints. ``--json`` prints exactly one JSON document. Failures raise
:class:`ArtifactStoreError`, which ``cli.main`` prints as one line (exit 1).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_artifact_store import naming
from pytest_artifact_store.compare.text import fmt_number, table
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.timestamps import parse_utc, utc_now

if TYPE_CHECKING:
    from pytest_artifact_store.compare.directions import Directions
    from pytest_artifact_store.store import ArtifactStore

Handler = Callable[[argparse.Namespace], int]
DEFAULT_REPORT = "artifact-store-report.html"
LIST_METRICS = 3


# ---------------------------------------------------------------- argument types
def _arg_type(func: Callable[[str], Any]) -> Callable[[str], Any]:
    """Turn an ArtifactStoreError/ValueError from ``func`` into a usage error (exit 2)."""

    @functools.wraps(func)
    def convert(text: str) -> Any:
        try:
            return func(text)
        except (ArtifactStoreError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


@_arg_type
def _workflow(text: str) -> str:
    return naming.check_id("workflow_id", text)


@_arg_type
def _task(text: str) -> str:
    return naming.check_id("task_id", text)


@_arg_type
def _prompt(text: str) -> str:
    return naming.prompt_hash(text)


def _number(kind: type[int] | type[float], low: float, inclusive: bool = True) -> Any:
    @_arg_type
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"invalid {kind.__name__} value: {text!r}") from None
        if value != value or (value < low if inclusive else value <= low):  # NaN or too low
            raise ValueError(f"must be {'>=' if inclusive else '>'} {low:g}, got {text!r}")
        return value

    return parse


@_arg_type
def _rule(text: str) -> Any:
    from pytest_artifact_store.compare.diff import parse_rule

    return parse_rule(text)


@_arg_type
def _direction(text: str) -> Any:
    from pytest_artifact_store.compare.directions import parse_direction

    return parse_direction(text)


def _directions(args: argparse.Namespace) -> Directions:
    """The built-in directions plus ``--direction`` declarations (already parsed)."""
    from pytest_artifact_store.compare.directions import Directions

    return Directions(tuple(args.direction))


# ---------------------------------------------------------------- plumbing
def _guarded(func: Handler) -> Handler:
    """OS errors become one-line failures; a closed pipe (``| head``) ends quietly."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            code = func(args)
            sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
            return code
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 1
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise ArtifactStoreError(f"{exc.strerror or exc}{where}") from exc
        except (ArtifactStoreError, KeyboardInterrupt):
            raise
        except Exception as exc:  # a library bug must still end in one line, not a traceback
            text = " ".join(str(exc).split()) or "no message"
            raise ArtifactStoreError(
                f"unexpected {type(exc).__name__}: {text} (please report this)"
            ) from exc

    return run


def _open(args: argparse.Namespace, *, auto_push: bool = False) -> ArtifactStore:
    from pytest_artifact_store.store import open_store

    return open_store(getattr(args, "repo", None), auto_push=auto_push)


def _progress() -> Callable[[str], None] | None:
    """On a terminal, what a long operation is doing, as it starts (stderr)."""
    if not sys.stderr.isatty():
        return None
    return lambda text: print(f"artifact-store: {text}", file=sys.stderr, flush=True)


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def fmt_age(stamp: object, now: datetime | None = None) -> str:
    """How long ago: 45s, 3m, 2h, 5d (``?`` without a readable timestamp)."""
    when = parse_utc(stamp)
    if when is None:
        return "?"
    seconds = max(0, int(((now or utc_now()) - when).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def key_metrics(entry: Mapping[str, Any], count: int = LIST_METRICS) -> str:
    """``name=value`` for the entry's most telling metrics (net pnl, sharpe, drawdown ...)."""
    from pytest_artifact_store.cli.report import KEY_METRICS, RUN_METRICS
    from pytest_artifact_store.compare.diff import numeric_metrics

    metrics = numeric_metrics(entry.get("test_metrics"))
    names = [m for m in KEY_METRICS if m in metrics]
    names += [m for m in metrics if m not in names and m not in RUN_METRICS]
    return " ".join(f"{n}={fmt_number(metrics[n])}" for n in names[:count])


def _version_name(entry: Mapping[str, Any]) -> str:
    return str(entry.get("correlation_id") or str(entry["commit_sha"])[:10])


def _add_remote_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--remote", default=None, metavar="R", help="default: the configured remote")
    p.add_argument("--timeout", type=_number(float, 0, inclusive=False), default=None, metavar="S")


def _add_direction(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--direction",
        type=_direction,
        action="append",
        default=[],
        metavar="NAME:DIR",
        help="which way is better for a metric: DIR is higher, lower, magnitude (smaller "
        "absolute value, whatever the sign) or none, e.g. turnover:lower (repeatable; "
        "beats the built-in table)",
    )


def _add_common(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    parser.add_argument(
        "--repo",
        type=Path,
        default=argparse.SUPPRESS,
        help="the git repository (default: current directory)",
    )
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")


# ---------------------------------------------------------------- list
def cmd_list(args: argparse.Namespace) -> int:
    with _open(args) as store:
        entries = store.list_artifacts(
            args.workflow,
            None if args.limit == 0 else args.limit,
            task_id=args.task,
            prompt_hash=args.prompt,
            archived=args.archived,
        )
    if args.json:
        _print_json(entries)
        return 0
    if not entries:
        print("no artifact versions" + (" match" if _filtered(args) else " yet"))
        return 0
    now = utc_now()
    rows = [
        [
            str(e.get("correlation_id") or "-"),
            f"{e.get('workflow_id')}/{e.get('task_id')}",
            fmt_age(e.get("commit_timestamp"), now),
            key_metrics(e) or "-",
            str(e["commit_sha"])[:10]
            + (" (archived)" if e.get("archived") else "")
            + (" (partial)" if e.get("partial") is True else ""),
        ]
        for e in entries
    ]
    header = ["CORRELATION ID", "WORKFLOW/TASK", "AGE", "METRICS", "SHA"]
    print("\n".join(table(header, rows, right={2})))
    return 0


def _filtered(args: argparse.Namespace) -> bool:
    return any((args.workflow, args.task, args.prompt))


# ---------------------------------------------------------------- show
def describe(store: ArtifactStore, ref: str) -> tuple[dict[str, Any], dict[str, int], bool | None]:
    """The §2 entry of the version ``ref`` names, its file sizes and its push state."""
    from pytest_artifact_store.compare.diff import resolve

    entry = resolve(store, ref)  # find_version marks versions only an archive holds
    return entry, store.version_files(entry), store.push_state(entry)


_SHOWN = (
    "workflow_id",
    "task_id",
    "correlation_id",
    "prompt_hash",
    "commit_timestamp",
    "agent_version",
    "llm_version",
    "test_metrics",
    "files",
    "file_sha256",
    "base_commit",
    "schema_version",
    "branch",
    "commit_sha",
    "tags",
    "archived",
    "baseline",
    "partial",
    "selection",
    "approvals",
    "capsule",
)


def _judged_against(entry: Mapping[str, Any]) -> str | None:
    """``corr_x (1a2b3c4d5e), rules: sharpe:-10% ok`` for a version judged by the gate."""
    baseline = entry.get("baseline")
    if not isinstance(baseline, Mapping):
        return None
    name = baseline.get("correlation_id") or baseline.get("ref") or "?"
    text = f"{name} ({str(baseline.get('commit_sha') or '')[:10]})"
    rules = [r for r in baseline.get("rules") or [] if isinstance(r, Mapping)]
    if rules:
        text += ", rules: " + ", ".join(f"{r.get('rule')} {r.get('status', 'ok')}" for r in rules)
    return text


def _partial(entry: Mapping[str, Any]) -> str | None:
    if entry.get("partial") is not True:
        return None
    selection = entry.get("selection")
    why = selection.get("narrowed_by") if isinstance(selection, Mapping) else None
    return "yes: " + "; ".join(map(str, why)) if why else "yes"


def printable(text: object) -> str:
    """``text`` on one line, fit for a terminal: what an approval record made elsewhere
    holds is shown, never run (control characters escaped, lines joined by `` / ``)."""
    lines = str(text).split("\n")
    return " / ".join(
        "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in line)
        for line in lines
    )


def _built_from(entry: Mapping[str, Any]) -> str | None:
    """The capsule in one line (``artifact-store verify`` compares it in full)."""
    capsule = entry.get("capsule")
    if not isinstance(capsule, Mapping):
        return None
    from pytest_artifact_store.capsule.verify import describe_capsule

    return describe_capsule(capsule)


def approval_line(record: Mapping[str, Any]) -> str:
    """``prod by Ann <ann@x> 2026-12-07T05:50:00Z (signed): note`` for one record."""
    signed = " (signed)" if record.get("signed") else ""
    note = f": {printable(record['note'])}" if record.get("note") else ""
    return f"{record['stage']} by {printable(record['approver'])} {record['time']}{signed}{note}"


def cmd_show(args: argparse.Namespace) -> int:
    with _open(args) as store:
        entry, sizes, pushed = describe(store, args.ref)
        remote = store.config.remote_name
        approvals = store.approvals_of(
            str(entry["commit_sha"]), str(entry["workflow_id"]), str(entry["task_id"])
        )
    if approvals:
        entry["approvals"] = approvals
    if args.json:  # SPEC §10: the JSON is the §2 entry; sizes and push state are text only
        _print_json(entry)
        return 0
    push = (
        f"no remote {remote!r}"
        if pushed is None
        else f"on {remote}"
        if pushed
        else f"not on {remote} (run 'artifact-store push')"
    )
    stamp = entry.get("commit_timestamp")
    fields = [
        ("workflow/task", f"{entry.get('workflow_id')}/{entry.get('task_id')}"),
        ("branch", entry.get("branch")),
        ("commit", entry.get("commit_sha")),
        ("created", f"{stamp} ({fmt_age(stamp)} ago)"),
        ("tags", ", ".join(entry.get("tags", [])) or "-"),
        ("folded tags", ", ".join(entry.get("folded_tags", [])) or None),
        ("prompt hash", entry.get("prompt_hash")),
        ("agent", entry.get("agent_version")),
        ("llm", entry.get("llm_version")),
        ("based on", entry.get("base_commit")),
        ("baseline", _judged_against(entry)),
        ("partial", _partial(entry)),
        ("built from", _built_from(entry)),
        ("push", push),
        (
            "archived",
            f"yes (refs/archive/{entry.get('branch')})" if entry.get("archived") else None,
        ),
    ]
    lines = [_version_name(entry)]
    lines += [f"  {k:<15}{v}" for k, v in fields if v not in (None, "")]
    if approvals:
        lines.append("approved")
        lines += [f"  {approval_line(a)}" for a in approvals]
    metrics = entry.get("test_metrics")
    if isinstance(metrics, Mapping) and metrics:
        lines.append("metrics")
        width = max(len(str(k)) for k in metrics)
        for name, value in metrics.items():
            shown = (
                fmt_number(value)
                if isinstance(value, int | float)
                else json.dumps(value, ensure_ascii=False)
            )
            lines.append(f"  {name!s:<{width}}  {shown}")
    if sizes:
        lines.append("files")
        width = max(len(p) for p in sizes)
        digits = max(len(f"{s:,}") for s in sizes.values())
        lines += [f"  {p:<{width}}  {f'{s:,}':>{digits}} B" for p, s in sizes.items()]
    extra = {k: v for k, v in entry.items() if k not in _SHOWN}
    if extra:
        lines.append("metadata")
        width = max(len(k) for k in extra)
        lines += [
            f"  {k:<{width}}  {json.dumps(v, ensure_ascii=False, sort_keys=True)}"
            for k, v in extra.items()
        ]
    print("\n".join(lines))
    return 0


# ---------------------------------------------------------------- diff
def _signed(value: object) -> str:
    if value is None:
        return "-"
    text = fmt_number(value)
    return text if text.startswith("-") or text == "0" else "+" + text


def _rel(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    return f"{value * 100:+.2f}%"


def format_diff(diff: Mapping[str, Any]) -> list[str]:
    """The text form of :func:`~pytest_artifact_store.compare.diff.diff_versions`."""
    sides = [
        [
            side,
            str(diff[side].get("correlation_id") or diff[side]["ref"]),
            f"{diff[side]['workflow_id']}/{diff[side]['task_id']}",
            str(diff[side]["commit_sha"])[:10],
            str(diff[side].get("commit_timestamp") or ""),
        ]
        for side in ("a", "b")
    ]
    lines = table(sides[0], sides[1:], right=set())
    metrics: Mapping[str, Mapping[str, Any]] = diff["metrics"]
    lines.append("")
    if metrics:
        rows = [
            [
                name,
                fmt_number(m["a"]),
                fmt_number(m["b"]),
                _signed(m["delta"]),
                _rel(m["rel"]),
                m.get("verdict") or "-",
            ]
            for name, m in metrics.items()
        ]
        lines += table(["METRIC", "A", "B", "DELTA", "REL", "VERDICT"], rows, right={1, 2, 3, 4})
    else:
        lines.append("no numeric test metrics")
    files = diff["files"]
    counts = ", ".join(f"{len(files[k])} {k}" for k in ("added", "removed", "changed"))
    lines += ["", f"files: {counts}"]
    for key, mark in (("added", "+"), ("removed", "-"), ("changed", "~")):
        lines += [f"  {mark} {name}" for name in files[key]]
    eq = diff["equity"]
    if eq:
        lines.append("")
        lines.append(
            f"equity: final {fmt_number(eq['a_final'])} -> {fmt_number(eq['b_final'])} "
            f"({_signed(eq['delta_final'])}{_verdict(eq.get('final_verdict'))})"
        )
        gap = eq.get("max_gap")
        if gap:
            lines.append(
                f"  largest gap {fmt_number(gap['value'])} at {gap['at']} "
                f"({fmt_number(gap['a'])} vs {fmt_number(gap['b'])})"
            )
        first = eq.get("first_divergence")
        lines.append(
            f"  first divergence at {first['at']} ({fmt_number(first['a'])} vs "
            f"{fmt_number(first['b'])})"
            if first
            else "  the curves do not diverge"
        )
        lines.append(
            f"  max drawdown {eq['a_max_drawdown_pct']:.2f}% -> {eq['b_max_drawdown_pct']:.2f}%"
            + (f" ({eq['max_drawdown_verdict']})" if eq.get("max_drawdown_verdict") else "")
        )
    trades = diff["trades"]
    if trades:
        lines.append("")
        lines.append(f"trades: {trades['a']} -> {trades['b']} ({_signed(trades['delta'])})")
    return lines


def _verdict(word: object) -> str:
    return f", {word}" if word else ""


def cmd_diff(args: argparse.Namespace) -> int:
    from pytest_artifact_store.compare.diff import diff_versions, evaluate_rules

    directions = _directions(args)
    with _open(args) as store:
        diff = diff_versions(store, args.a, args.b, directions=directions)
    verdicts = evaluate_rules(diff, args.fail_on, directions=directions)
    failures = [v.message for v in verdicts if v.message is not None]
    if args.json:
        _print_json({**diff, "fail_on": [v.to_json() for v in verdicts]})
    else:
        print("\n".join(format_diff(diff)))
        if args.fail_on and not failures:
            n = len(args.fail_on)
            print(f"\nfail-on: {'the rule holds' if n == 1 else f'all {n} rules hold'}")
    for failure in failures:
        print(f"artifact-store: fail-on: {failure}", file=sys.stderr)
    return 1 if failures else 0


# ---------------------------------------------------------------- revert
def cmd_revert(args: argparse.Namespace) -> int:
    with _open(args) as store:
        if args.max_rollback_depth is not None:
            store.config.max_rollback_depth = args.max_rollback_depth
        result = store.revert_to_tag(args.tag, target_branch=args.target)
    if args.json:
        _print_json(result)
    elif not result["changed"]:
        print(
            f"nothing to revert: {result['branch']} already holds {result['reverted_to']} "
            f"(at {str(result['commit_sha'])[:10]}; no commit made)"
        )
    else:
        print(
            f"reverted {result['branch']} to {result['reverted_to']}: "
            f"new commit {str(result['commit_sha'])[:10]}"
        )
    return 0


# ---------------------------------------------------------------- push
def cmd_push(args: argparse.Namespace) -> int:
    with _open(args, auto_push=True) as store:
        result = store.push_pending(
            args.remote, args.timeout, verify=args.verify, progress=_progress()
        )
    if args.json:
        _print_json(result)
        return 0 if result["success"] else 1
    remote = result["remote"]
    for branch in result["pushed"]:
        print(f"pushed {branch}")
    for branch in result["up_to_date"]:
        print(f"up to date {branch}")
    for branch, notes in result.get("notes", {}).items():
        for note in notes:
            print(f"note for {branch}: {note}")
    waiting = result.get("awaiting_approval", {})
    for branch, names in waiting.items():
        print(f"awaiting approval {branch}: {', '.join(names)}")
    for branch, error in result["errors"].items():
        print(f"artifact-store: push failed for {branch}: {error}", file=sys.stderr)
    total = len(result["pushed"]) + len(result["up_to_date"]) + len(result["errors"])
    if total + len(waiting) == 0:
        print(f"{remote}: no artifact branches to push")
    else:
        print(
            f"{remote}: {len(result['pushed'])} pushed, {len(result['up_to_date'])} up to date, "
            f"{len(result['errors'])} failed"
            + (
                f", {len(waiting)} awaiting approval ('artifact-store approve REF --stage NAME')"
                if waiting
                else ""
            )
        )
    return 0 if result["success"] else 1


# ---------------------------------------------------------------- gc
def cmd_gc(args: argparse.Namespace) -> int:
    if args.push and not args.fold_tags:
        raise ArtifactStoreError("--push goes with --fold-tags (archiving itself stays local)")
    with _open(args) as store:
        moves = store.archive(args.older_than, keep_last=args.keep_last, dry_run=args.dry_run)
        fold = (
            store.fold_tags(
                dry_run=args.dry_run,
                push=args.push,
                remote=args.remote,
                timeout=args.timeout,
                assume_archived=[m["branch"] for m in moves] if args.dry_run else (),
            )
            if args.fold_tags
            else None
        )
    if args.json:
        _print_json(moves if fold is None else {"archived": moves, "fold": fold})
        return 0
    verb = "would archive" if args.dry_run else "archived"
    for move in moves:
        print(
            f"{verb} {move['branch']} -> {move['archive_ref']} "
            f"(newest version {move['age_days']:g} days old)"
        )
    if not moves:
        kept = (
            f" (or it holds one of its workflow's newest {args.keep_last}: --keep-last)"
            if args.keep_last
            else ""
        )
        print(
            f"nothing to archive: no task branch's newest version is "
            f"{args.older_than:g}+ days old{kept}"
        )
    if fold is not None:
        _print_fold(fold, args.dry_run)
    if args.dry_run:
        print(f"dry run: {len(moves)} branch{'es' if len(moves) != 1 else ''} would move")
    return 0


def _print_fold(fold: Mapping[str, Any], dry_run: bool) -> None:
    verb = "would fold" if dry_run else "folded"
    if not fold["workflows"]:
        print("nothing to fold: no archived version holds a tag")
    for workflow_id, info in sorted(fold["workflows"].items()):
        print(
            f"{verb} {info['tags']} tag(s) of {workflow_id} into {info['ref']} "
            f"({info['tasks']} archived task(s))"
        )
    pushed = fold.get("push")
    if pushed:
        print(
            f"{pushed['remote']}: {len(pushed['indexes'])} index ref(s) updated, "
            f"{pushed['tags_deleted']} tag(s) and {len(pushed['branches_deleted'])} archived "
            "task branch(es) deleted"
        )


# ---------------------------------------------------------------- report
def cmd_report(args: argparse.Namespace) -> int:
    from pytest_artifact_store.cli.report import build_report

    with _open(args) as store:
        report = build_report(
            store, args.workflow, archived=args.archived, directions=_directions(args)
        )
    if args.workflow and not report.versions:
        raise ArtifactStoreError(f"no artifact versions of workflow {args.workflow!r} to report")
    if args.out == "-":
        sys.stdout.write(report.html)
        return 0
    out = Path(args.out)
    out.write_text(report.html, encoding="utf-8")
    print(
        f"wrote {out}: {report.versions} version{'s' if report.versions != 1 else ''} "
        f"in {report.tasks} task{'s' if report.tasks != 1 else ''}"
    )
    return 0


# ---------------------------------------------------------------- fetch
def cmd_fetch(args: argparse.Namespace) -> int:
    with _open(args) as store:
        result = store.fetch(args.workflow, args.task, remote=args.remote, timeout=args.timeout)
    if args.json:
        _print_json(result)
        return 0
    for branch in result["branches"]:
        print(f"fetched {branch}")
    print(
        f"{result['remote']}: {len(result['branches'])} task branches, "
        f"{len(result['tags'])} new tags"
    )
    return 0


# ---------------------------------------------------------------- unlock
def cmd_unlock(args: argparse.Namespace) -> int:
    with _open(args) as store:
        locks = store.repo.lock_files()
    stale = [(p, age) for p, age, held in locks if not held and age >= args.older_than]
    for path, age, held in locks:
        if held or age < args.older_than:
            why = "held by a running git process" if held else f"only {age:.0f} s old"
            print(f"kept {path} ({why})")
    for path, age in stale:
        if not args.dry_run:
            path.unlink(missing_ok=True)
        print(f"{'would remove' if args.dry_run else 'removed'} {path} ({age:.0f} s old)")
    if not locks:
        print("no ref locks")
    return 0


# ---------------------------------------------------------------- registration
def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add list, show, diff, revert, push, gc and report to the ``artifact-store`` parser."""
    p = sub.add_parser(
        "list",
        help="list artifact versions, newest first",
        description="List artifact versions, newest first: a table, or the entries as JSON.",
    )
    p.add_argument("--workflow", type=_workflow, help="only this workflow id")
    p.add_argument("--task", type=_task, help="only this task id")
    p.add_argument("--prompt", type=_prompt, metavar="HASH", help="only versions of this prompt")
    p.add_argument(
        "--limit",
        type=_number(int, 0),
        default=50,
        metavar="N",
        help="at most N versions (default 50; 0 = all)",
    )
    p.add_argument("--archived", action="store_true", help="include archived task branches")
    _add_common(p)
    p.set_defaults(func=_guarded(cmd_list))

    p = sub.add_parser(
        "show",
        help="show one version: metadata, files, tags, push state",
        description="Show one artifact version. REF is a correlation id (with or without "
        "corr_), a tag, a task branch (full or WORKFLOW/TASK) or a commit sha.",
    )
    p.add_argument("ref", metavar="REF")
    _add_common(p)
    p.set_defaults(func=_guarded(cmd_show))

    p = sub.add_parser(
        "diff",
        help="compare two versions: metrics, files, equity curves, trades",
        description="Compare version B against version A. Each metric is judged better, "
        "worse or same by its direction (built in for drawdown, sharpe, return, pnl, win "
        "rate ...; --direction for others). With --fail-on, exit 1 when B moved past a "
        "bound: METRIC:+N% (rose more than N %), METRIC:-N% (fell more than N %), "
        "METRIC:+N / METRIC:-N (absolute); on a drawdown-like (magnitude) metric the bound "
        "is on its absolute value, so max_drawdown_pct:+10% fails for -33.9 -> -56.6 and "
        'for 33.9 -> 56.6 alike. --json adds the rules\' verdicts as "fail_on"; the '
        "equity curves' max drawdowns are percentages (*_max_drawdown_pct).",
    )
    p.add_argument("a", metavar="A", help="the baseline version (any REF, as for show)")
    p.add_argument("b", metavar="B", help="the version to judge")
    p.add_argument(
        "--fail-on",
        type=_rule,
        action="append",
        nargs="+",
        default=[],
        metavar="RULE",
        help="e.g. max_drawdown:+10%% or net_pnl:-5%% (repeatable)",
    )
    _add_direction(p)
    _add_common(p)
    p.set_defaults(func=_guarded(_flatten_rules(cmd_diff)))

    p = sub.add_parser(
        "revert",
        help="restore a tagged version's task directory on a branch",
        description="Make one new commit on the target branch whose task directory is the "
        "tagged version's, authored by you (your git identity). Nothing is committed when "
        "the branch already holds that version's directory. Never pushes.",
    )
    p.add_argument("tag", metavar="TAG", help="corr_ID, ID, prompt_HASH or any artifact tag")
    p.add_argument(
        "--max-rollback-depth",
        type=_number(int, 1),
        default=None,
        metavar="N",
        help="how far back a version may be (default: 10 versions of its task)",
    )
    p.add_argument(
        "--target",
        default=None,
        metavar="BRANCH",
        help="default: the repository's default branch (origin/HEAD, else main or master, "
        "else the checked-out branch)",
    )
    _add_common(p)
    p.set_defaults(func=_guarded(cmd_revert))

    p = sub.add_parser(
        "push",
        help="push every artifact branch and tag the remote lacks",
        description="Push every artifact branch and corr_/prompt_ tag the remote lacks "
        "(never forced; joins a remote branch that moved, keeping every version's commit id).",
    )
    _add_remote_options(p)
    p.add_argument(
        "--verify",
        action="store_true",
        help="ask the remote about every local task branch, not only those the remote-"
        "tracking branches show as unpushed (restores a branch deleted on the remote)",
    )
    _add_common(p)
    p.set_defaults(func=_guarded(cmd_push))

    p = sub.add_parser(
        "fetch",
        help="fetch one workflow's (or task's) versions and tags from the remote",
        description="Fetch the task branches of one workflow (--workflow), one task "
        "(--workflow and --task) or all, and their versions' tags, from the remote: what "
        "a runner of a big fleet needs, no more. They are then listed and found like "
        "local versions.",
    )
    p.add_argument("--workflow", type=_workflow, help="only this workflow id")
    p.add_argument("--task", type=_task, help="only this task id (with --workflow)")
    _add_remote_options(p)
    _add_common(p)
    p.set_defaults(func=_guarded(cmd_fetch))

    p = sub.add_parser(
        "unlock",
        help="remove stale ref locks a killed git process left behind",
        description="Remove ref lock files (refs/**/*.lock, packed-refs.lock) that no live "
        "process holds and that are older than --older-than seconds (default 60): what a "
        "git process killed mid-transaction leaves. A lock in use is never touched.",
    )
    p.add_argument(
        "--older-than", type=_number(float, 0), default=60.0, metavar="S", dest="older_than"
    )
    p.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    _add_common(p, json_flag=False)
    p.set_defaults(func=_guarded(cmd_unlock))

    p = sub.add_parser(
        "gc",
        help="archive task branches whose newest version is old",
        description="Move task branches whose newest version is older than DAYS to "
        "refs/archive/<branch_prefix>/... (tags kept, still found by correlation id, "
        "listed with 'list --archived').",
    )
    p.add_argument(
        "--older-than", type=_number(float, 0), required=True, metavar="DAYS", dest="older_than"
    )
    p.add_argument(
        "--keep-last",
        type=_number(int, 0),
        default=None,
        metavar="N",
        help="keep the branches of each workflow's newest N versions",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would move, move nothing")
    p.add_argument(
        "--fold-tags",
        action="store_true",
        help="fold the archived versions' corr_/prompt_ tags into one index ref per workflow "
        "(still found by correlation id and prompt hash)",
    )
    p.add_argument(
        "--push",
        action="store_true",
        help="with --fold-tags: publish the indexes, then delete the folded tags and archived "
        "task branches on the remote (one atomic transaction, each deletion leased)",
    )
    _add_remote_options(p)
    _add_common(p)
    p.set_defaults(func=_guarded(cmd_gc))

    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report with equity charts",
        description="Write one self-contained HTML file (inline CSS and SVG, no network): "
        "every version with its metrics, and per task its versions' equity curves and "
        "drawdowns overlaid. Each metric's change from the previous version is green when "
        "better and red when worse by the metric's direction (see diff --help).",
    )
    p.add_argument("--workflow", type=_workflow, help="only this workflow id")
    p.add_argument(
        "--out",
        default=DEFAULT_REPORT,
        metavar="FILE",
        help=f"where to write it (default: {DEFAULT_REPORT}; - for stdout)",
    )
    p.add_argument("--archived", action="store_true", help="include archived task branches")
    _add_direction(p)
    _add_common(p, json_flag=False)
    p.set_defaults(func=_guarded(cmd_report))


def _flatten_rules(func: Handler) -> Handler:
    """``--fail-on A B --fail-on C`` arrives as [[A, B], [C]]; commands want [A, B, C]."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        args.fail_on = [rule for group in args.fail_on for rule in group]
        return func(args)

    return run
