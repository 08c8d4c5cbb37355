"""metadata.json validation: the packaged schema, the UTC and listed-file checks, the CLI/hook."""

from __future__ import annotations

import copy
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pytest_artifact_store.cli import main as cli_main
from pytest_artifact_store.hooks.metadata_hook import main as hook_main
from pytest_artifact_store.metadata import (
    check_metadata_blob,
    check_metadata_file,
    conforms,
    load_schema,
    validate_metadata,
)

TASK = "Backtest/codes/task_coder_001"
GOOD: dict[str, Any] = {
    "schema_version": 1,
    "workflow_id": "wf_rsi_strategy",
    "task_id": "task_coder_001",
    "correlation_id": "corr_abc123",
    "prompt_hash": "7a8b9c0d1e2f3a4b",
    "commit_timestamp": "2025-11-07T14:30:00.123456Z",
    "agent_version": "coder-v1.0",
    "llm_version": None,
    "test_metrics": {"total_trades": 12, "net_pnl": 120.5},
    "test_status": "passed",
    "files": [f"{TASK}/strategy.py", f"{TASK}/trades.csv", f"{TASK}/metadata.json"],
    "file_sha256": {"strategy.py": hashlib.sha256(b"print('hi')\n").hexdigest()},
    "base_commit": "0" * 40,
    "prompt": "Generate an RSI strategy",  # a caller key, kept verbatim
}


def with_(**changes: object) -> dict[str, Any]:
    meta = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is ...:
            del meta[key]
        else:
            meta[key] = value
    return meta


def test_the_schema_is_draft_2020_12_and_valid() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert sorted(schema["required"]) == ["commit_timestamp", "files", "task_id", "workflow_id"]


@pytest.mark.parametrize(
    "meta",
    [
        GOOD,
        with_(commit_timestamp="2025-11-07T14:30:00Z"),  # readers accept no fraction
        with_(schema_version=..., file_sha256=..., base_commit=..., correlation_id=None),
        {
            "workflow_id": "w",
            "task_id": "t",
            "commit_timestamp": "2025-01-01T00:00:00Z",
            "files": ["Backtest/codes/t/metadata.json"],
        },
    ],
)
def test_valid_metadata_has_no_problems(meta: dict[str, Any]) -> None:
    assert validate_metadata(meta) == []


@pytest.mark.parametrize(
    ("meta", "problem"),
    [
        (with_(workflow_id=...), "workflow_id: required field is missing"),
        (with_(files=...), "files: required field is missing"),
        (with_(task_id="../etc"), "task_id: must be 1-100 characters"),
        (with_(workflow_id="x.lock"), "workflow_id: must be"),
        (with_(correlation_id="abc123"), "correlation_id: must be null or a tag name"),
        (with_(prompt_hash="7A8B9C"), "prompt_hash: must be null or 6-64 lowercase hex"),
        (with_(commit_timestamp="2025-11-07 14:30:00"), "commit_timestamp: must be an RFC 3339"),
        (with_(commit_timestamp="2025-11-07T14:30:00+02:00"), "commit_timestamp: must be UTC"),
        (with_(commit_timestamp="2025-02-30T14:30:00Z"), "commit_timestamp: not a real date"),
        (with_(files=[]), "files: must not be empty"),
        (with_(files=["/abs/strategy.py"]), "files[0]: must be a relative repository path"),
        (with_(files=["a/../b.py"]), "files[0]: must be a relative repository path"),
        (with_(files=["a.py", "a.py"]), "files: lists the same path more than once"),
        (with_(file_sha256={"strategy.py": "abc"}), "file_sha256.strategy.py: must be a SHA-256"),
        (with_(base_commit="abc"), "base_commit: must be null or a commit id"),
        (with_(schema_version=2), "schema_version: must be the integer 1"),
        (with_(test_metrics=[1, 2]), "test_metrics: must be an object"),
        (with_(agent_version=3), "agent_version: must be a string or null"),
        (with_(test_status=""), "test_status: must be a non-empty string"),
        ([GOOD], "(top level): must be a JSON object"),
    ],
)
def test_each_problem_names_the_field(meta: object, problem: str) -> None:
    problems = validate_metadata(meta)
    assert any(p.startswith(problem) for p in problems), problems


def test_problems_never_show_a_long_value_whole() -> None:
    value = "sk_live_" + "Ab3" * 40  # too long for an id
    problems = validate_metadata(with_(workflow_id=value))
    assert problems and value not in "".join(problems)


def write_artifact(root: Path, meta: object, files: dict[str, bytes] | None = None) -> Path:
    directory = root / TASK
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in (
        files if files is not None else {"strategy.py": b"print('hi')\n", "trades.csv": b"t,p\n"}
    ).items():
        (directory / name).write_bytes(data)
    path = directory / "metadata.json"
    path.write_text(json.dumps(meta, indent=2) + "\n" if not isinstance(meta, str) else meta)
    return path


def test_a_good_metadata_file(tmp_path: Path) -> None:
    assert check_metadata_file(write_artifact(tmp_path, GOOD)) == []


def test_listed_files_must_exist_beside_it(tmp_path: Path) -> None:
    path = write_artifact(tmp_path, GOOD, {"strategy.py": b"print('hi')\n"})
    assert check_metadata_file(path) == [
        f"files[1]: '{TASK}/trades.csv' does not exist next to this metadata file"
    ]


def test_listed_files_must_be_in_the_same_artifact_directory(tmp_path: Path) -> None:
    meta = with_(files=[*GOOD["files"], "Backtest/codes/other_task/x.py"])
    problems = check_metadata_file(write_artifact(tmp_path, meta))
    assert problems == [
        "files[3]: 'Backtest/codes/other_task/x.py' is not in this artifact directory "
        "(Backtest/codes/task_coder_001/)"
    ]


def test_digests_must_match_present_files(tmp_path: Path) -> None:
    path = write_artifact(tmp_path, GOOD, {"strategy.py": b"changed\n", "trades.csv": b""})
    assert check_metadata_file(path) == [
        "file_sha256.strategy.py: does not match the file's content"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not valid JSON: "),
        ('{"x": NaN}', "not valid JSON: NaN is not allowed"),
        ("", "not valid JSON: "),
    ],
)
def test_non_json_metadata(tmp_path: Path, text: str, problem: str) -> None:
    problems = check_metadata_file(write_artifact(tmp_path, text))
    assert len(problems) == 1 and problems[0].startswith(problem)


def test_staged_metadata_is_checked_against_the_index_paths() -> None:
    data = json.dumps(GOOD).encode()
    present = {f"{TASK}/strategy.py", f"{TASK}/metadata.json"}
    problems = check_metadata_blob(data, f"{TASK}/metadata.json", exists=present.__contains__)
    assert problems == [f"files[1]: '{TASK}/trades.csv' does not exist next to this metadata file"]


def test_check_metadata_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_artifact(tmp_path / "a", GOOD)
    bad = write_artifact(tmp_path / "b", with_(prompt_hash="XYZ", commit_timestamp=...))
    assert cli_main(["check-metadata", str(good)]) == 0
    assert capsys.readouterr().out == ""
    assert cli_main(["check-metadata", str(good), str(bad)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{bad}: commit_timestamp: required field is missing",
        f"{bad}: prompt_hash: must be null or 6-64 lowercase hex characters, got 'XYZ'",
    ]
    assert cli_main(["check-metadata"]) == 2


@pytest.mark.parametrize(
    ("content", "code", "output"),
    [
        (GOOD, 0, ""),
        (with_(task_id=...), 1, "{path}: task_id: required field is missing\n"),
        (
            "not json at all",
            1,
            "{path}: not valid JSON: Expecting value: line 1 column 1 (char 0)\n",
        ),
    ],
)
def test_metadata_hook_main(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: object, code: int, output: str
) -> None:
    path = write_artifact(tmp_path, content)
    assert hook_main([str(path)]) == code
    assert capsys.readouterr().out == output.format(path=path)


# The store's fast path (metadata.conforms) must never accept what jsonschema rejects.
_ODD_VALUES: list[object] = [
    None,
    True,
    False,
    0,
    1,
    -2,
    1.5,
    "",
    "wf",
    "corr_x1",
    "abcdef12",
    "ABCDEF12",
    "2025-01-01T00:00:00Z",
    "2025-01-01T00:00:00.123456Z",
    "2025-01-01T00:00:00+01:00",
    "2025-13-01T00:00:00Z",
    "Backtest/codes/t/a.csv",
    "a" * 40,
    "0" * 64,
    "g" * 40,
    [],
    ["Backtest/codes/t/a.csv"],
    ["x", "x"],
    [""],
    {},
    {"a.csv": "0" * 64},
    {"a.csv": "z"},
    {"pnl": 1},
    {"": None},
]
_KEYS = [
    "schema_version",
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
    "test_status",
    "extra",
]


def test_fast_check_never_accepts_what_jsonschema_rejects() -> None:
    rng = random.Random(7)
    accepted = 0
    for _ in range(1500):
        doc: dict[str, object] = {
            "schema_version": 1,
            "workflow_id": "wf",
            "task_id": "t",
            "correlation_id": "corr_x",
            "prompt_hash": "abcdef12",
            "commit_timestamp": "2025-01-01T00:00:00.000001Z",
            "agent_version": "a",
            "llm_version": None,
            "test_metrics": {"pnl": 1.5},
            "files": ["Backtest/codes/t/a.csv", "Backtest/codes/t/metadata.json"],
            "file_sha256": {"a.csv": "0" * 64},
            "base_commit": None,
        }
        for key in rng.sample(_KEYS, rng.randint(0, 3)):
            if rng.random() < 0.2:
                doc.pop(key, None)
            else:
                doc[key] = copy.deepcopy(rng.choice(_ODD_VALUES))
        if conforms(doc):
            accepted += 1
            assert validate_metadata(doc) == [], doc
    assert accepted >= 100  # the fast path is not a check that always says "not sure"


def test_fast_check_accepts_the_stores_own_metadata():
    doc = {
        "schema_version": 1,
        "workflow_id": "wf",
        "task_id": "t",
        "correlation_id": None,
        "prompt_hash": None,
        "commit_timestamp": "2025-01-01T00:00:00.000001Z",
        "agent_version": None,
        "llm_version": None,
        "test_metrics": {},
        "files": ["Backtest/codes/t/a.csv", "Backtest/codes/t/metadata.json"],
        "file_sha256": {"a.csv": "0" * 64},
        "base_commit": "a" * 40,
        "custom": {"k": [1]},
    }
    assert validate_metadata(doc) == [] and conforms(doc)
