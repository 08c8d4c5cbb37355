"""Events (issue 18): CloudEvents delivered at least once through the outbox, to a real
HTTP receiver on 127.0.0.1, a real redis-server and a JSON-lines file; the CLI faces."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fleet_support import free_port, wait_port

from pytest_artifact_store.cli import main
from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.events import (
    Report,
    deliver,
    drop,
    parse_sinks,
    pending,
    publish,
)

SOURCE = "https://git.example.com/org/backtests"
SECRET = "whsec-test-hmac-value"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A webhook receiver: answers each POST as ``plan`` says (a status, or "hang": no
    answer until ``release`` is set), 200 when the plan is empty; ``accepted`` holds the
    ids it answered with a 2xx."""

    def __init__(self) -> None:
        self.plan: list[int | str] = []
        self.delay = 0.0
        self.requests: list[Received] = []
        self.accepted: list[str] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(Received(self.path, dict(self.headers), body))
                with receiver._lock:
                    action = receiver.plan.pop(0) if receiver.plan else 200
                if action == "hang":
                    receiver.release.wait(30)
                    self.close_connection = True
                    return  # no answer at all
                assert isinstance(action, int)
                time.sleep(receiver.delay)
                if 200 <= action < 300:
                    receiver.accepted.append(json.loads(body)["id"])
                self.send_response(action)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def wait_requests(self, count: int, timeout: float = 10) -> None:
        until = time.monotonic() + timeout
        while len(self.requests) < count:
            assert time.monotonic() < until, f"{len(self.requests)} of {count} requests came"
            time.sleep(0.01)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.thread.start()
    yield rec
    rec.release.set()
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture
def git_dir(repo: Path) -> Path:
    return repo / ".git"


def _publish(
    repo: Path, sinks: list[str], n: int = 1, *, timeout: float = 5, kind: str = "committed"
) -> Report:
    return publish(
        repo / ".git",
        repo,
        sinks,
        f"artifact.{kind}",
        event_id=f"artifact.{kind}:{n:040x}",
        source=SOURCE,
        subject="ai/generated/wf1/task1",
        data={"branch": "ai/generated/wf1/task1", "commit_sha": f"{n:040x}", "sharpe": 1.5},
        timeout=timeout,
        secret_env="TEST_EVENTS_SECRET",
    )


def _deliver(repo: Path, sinks: list[str], timeout: float = 5) -> Report:
    return deliver(repo / ".git", repo, sinks, timeout=timeout, secret_env="TEST_EVENTS_SECRET")


def _id(n: int = 1, kind: str = "committed") -> str:
    return f"artifact.{kind}:{n:040x}"


# ---------------------------------------------------------------- webhook
def test_webhook_gets_a_signed_structured_cloudevent(
    repo: Path, git_dir: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_EVENTS_SECRET", SECRET)
    report = _publish(repo, [receiver.url])
    assert report.ok and report.queued == _id()
    [got] = receiver.requests
    assert got.headers["Content-Type"] == "application/cloudevents+json"
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Hub-Signature-256"] == expected
    event = got.event
    assert event["specversion"] == "1.0"
    assert event["id"] == _id()
    assert event["type"] == "artifact.committed"
    assert event["source"] == SOURCE
    assert event["subject"] == "ai/generated/wf1/task1"
    assert event["datacontenttype"] == "application/json"
    assert event["data"] == {
        "branch": "ai/generated/wf1/task1",
        "commit_sha": f"{1:040x}",
        "sharpe": 1.5,
    }
    assert event["time"].endswith("Z") and "T" in event["time"]
    # any CloudEvents reader takes it back
    from cloudevents.core.formats.json import JSONFormat

    parsed = JSONFormat().read(None, got.body)
    assert parsed.get_id() == _id() and parsed.get_time() is not None
    assert pending(git_dir) == []  # delivered everywhere: the outbox file is gone
    assert list((git_dir / "artifact-store" / "outbox").glob("*.json")) == []


def test_without_the_secret_no_signature_header(repo: Path, receiver: Receiver) -> None:
    assert _publish(repo, [receiver.url]).ok
    assert "X-Hub-Signature-256" not in receiver.requests[0].headers


def test_5xx_then_success_is_retried_and_delivered_once(
    repo: Path, git_dir: Path, receiver: Receiver
) -> None:
    receiver.plan = [503, 502, 200]
    report = _publish(repo, [receiver.url])
    assert report.ok
    [delivery] = report.deliveries
    assert delivery.delivered and delivery.attempts == 3
    assert len(receiver.requests) == 3
    assert receiver.accepted == [_id()]
    assert pending(git_dir) == []


def test_other_4xx_is_not_retried_and_the_event_is_kept(
    repo: Path, git_dir: Path, receiver: Receiver
) -> None:
    receiver.plan = [400]
    report = _publish(repo, [receiver.url])
    assert not report.ok and report.remaining == [_id()]
    assert len(receiver.requests) == 1
    [entry] = pending(git_dir)
    assert entry.status == "failed"
    state = entry.sinks[receiver.url]
    assert (state.delivered, state.attempts) == (False, 1)
    assert state.last_error == "HTTP 400 Bad Request"
    # the next publish retries it (after its own event)
    assert _publish(repo, [receiver.url], n=2).ok
    assert receiver.accepted == [_id(2), _id(1)]


def test_hanging_receiver_does_not_hold_the_caller_past_the_budget(
    repo: Path, git_dir: Path, receiver: Receiver
) -> None:
    receiver.plan = ["hang"]
    started = time.monotonic()
    report = _publish(repo, [receiver.url], timeout=1.0)
    assert time.monotonic() - started < 1.0 + 3  # the budget and generous slack
    assert report.remaining == [_id()]
    [entry] = pending(git_dir)
    assert entry.status == "failed"
    assert "no answer" in str(entry.sinks[receiver.url].last_error)
    assert receiver.accepted == []
    # the receiver comes back: the next delivery sends it, once
    receiver.release.set()
    assert _deliver(repo, [receiver.url]).ok
    assert receiver.accepted == [_id()]
    assert pending(git_dir) == []


def test_unreachable_receiver_is_retried_then_kept(repo: Path, git_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens
    report = _publish(repo, [url], timeout=2)
    [delivery] = report.deliveries
    assert not delivery.delivered and delivery.attempts >= 2
    assert "Connection refused" in str(delivery.error)
    assert [e.id for e in pending(git_dir)] == [_id()]


_PUBLISH_SCRIPT = """
import sys
from pathlib import Path
from pytest_artifact_store.events import publish

publish(Path(sys.argv[1]) / ".git", Path(sys.argv[1]), [sys.argv[2]], "artifact.committed",
        event_id="artifact.committed:killed", source="test", subject="b", data={},
        timeout=60)
"""


def test_outbox_survives_a_killed_process(repo: Path, git_dir: Path, receiver: Receiver) -> None:
    receiver.plan = ["hang"]
    proc = subprocess.Popen([sys.executable, "-c", _PUBLISH_SCRIPT, str(repo), receiver.url])
    try:
        receiver.wait_requests(1)  # queued, and being delivered
    finally:
        proc.kill()
        proc.wait()
    [entry] = pending(git_dir)
    assert entry.id == "artifact.committed:killed" and entry.status == "pending"
    receiver.release.set()
    report = _deliver(repo, [receiver.url])  # the dead process's lock is gone with it
    assert report.ok and [d.event_id for d in report.deliveries] == [entry.id]
    assert receiver.accepted == [entry.id]


_DELIVER_SCRIPT = """
import json, sys
from pathlib import Path
from pytest_artifact_store.events import deliver

report = deliver(Path(sys.argv[1]) / ".git", Path(sys.argv[1]), [sys.argv[2]], timeout=20)
print(json.dumps(report.as_dict()))
"""


def test_concurrent_deliverers_send_each_event_once(
    repo: Path, git_dir: Path, receiver: Receiver
) -> None:
    for n in (1, 2, 3):  # queued only: a budget of 0 sends nothing
        assert _publish(repo, [receiver.url], n=n, timeout=0).remaining
    assert receiver.requests == []
    receiver.delay = 0.2
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _DELIVER_SCRIPT, str(repo), receiver.url],
            stdout=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    reports = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(r["ok"] for r in reports)
    assert sorted(receiver.accepted) == [_id(1), _id(2), _id(3)]
    assert len(receiver.requests) == 3
    delivered = [d["id"] for r in reports for d in r["deliveries"]]
    assert sorted(delivered) == [_id(1), _id(2), _id(3)]
    assert pending(git_dir) == []


def test_a_deliverer_at_work_gets_the_new_event_left_to_it(
    repo: Path, git_dir: Path, receiver: Receiver
) -> None:
    from pytest_artifact_store.events.outbox import Outbox

    with Outbox(git_dir).locked(0) as held:  # another deliverer at work
        assert held
        report = _publish(repo, [receiver.url])
    assert report.busy and report.remaining == [_id()]
    assert receiver.requests == []
    assert _deliver(repo, [receiver.url]).ok
    assert receiver.accepted == [_id()]


# ---------------------------------------------------------------- the outbox
def test_corrupt_and_forged_outbox_files_are_reported_and_skipped(
    repo: Path, git_dir: Path, receiver: Receiver
) -> None:
    _publish(repo, [receiver.url], timeout=0)
    outbox = git_dir / "artifact-store" / "outbox"
    (outbox / "garbage.json").write_text("{not json")
    good = json.loads((outbox / f"{_id()}.json").read_text())
    (outbox / "forged.json").write_text(json.dumps(good))  # the id is not the file's name
    report = _deliver(repo, [receiver.url])
    assert receiver.accepted == [_id()]
    assert len(report.problems) == 2
    assert any(str(outbox / "garbage.json") in p for p in report.problems)
    assert any("forged.json" in p and "not the file's name" in p for p in report.problems)
    assert report.remaining == [] and not report.ok
    statuses = {e.id: e.status for e in pending(git_dir)}
    assert statuses == {"garbage": "corrupt", "forged": "corrupt"}
    assert drop(git_dir, ["garbage", "forged"]) == ["garbage", "forged"]
    assert pending(git_dir) == []


def test_publishing_the_same_event_again_keeps_its_record(repo: Path, git_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    _publish(repo, [url], timeout=0)
    [first] = pending(git_dir)
    _publish(repo, [url], timeout=0)
    [again] = pending(git_dir)
    assert again.created == first.created and again.envelope == first.envelope


@pytest.mark.parametrize(
    "event_id", ["artifact.pushed:origin/mirror:abc", "../../escape", ".hidden", "é" * 200]
)
def test_any_event_id_is_one_file_in_the_outbox(repo: Path, git_dir: Path, event_id: str) -> None:
    outbox = git_dir / "artifact-store" / "outbox"
    publish(
        git_dir, repo, [f"http://127.0.0.1:{free_port()}/"], "artifact.pushed",
        event_id=event_id, source="s", subject="s", data={}, timeout=0,
    )  # fmt: skip
    [path] = outbox.glob("*.json")
    assert path.parent == outbox and not path.name.startswith(".")
    assert [e.id for e in pending(git_dir)] == [event_id]
    assert drop(git_dir, [event_id]) == [event_id]
    assert list(outbox.iterdir()) == [outbox / ".lock"]


def test_without_sinks_nothing_is_written(repo: Path, git_dir: Path) -> None:
    report = _publish(repo, [])
    assert report.ok and report.queued is None
    assert not (git_dir / "artifact-store").exists()


def test_a_sink_no_longer_configured_is_reported_not_dropped(
    repo: Path, git_dir: Path, receiver: Receiver
) -> None:
    receiver.plan = [400]
    _publish(repo, [receiver.url, "events.jsonl"])
    report = _deliver(repo, ["events.jsonl"])
    assert report.remaining == [_id()]
    [problem] = report.problems
    assert receiver.url in problem and "no longer configured" in problem
    [entry] = pending(git_dir)
    assert entry.owed == [receiver.url]
    assert len((repo / "events.jsonl").read_text().splitlines()) == 1  # not sent twice


# ---------------------------------------------------------------- JSON lines
def test_jsonl_sink_appends_one_event_per_line(
    repo: Path, git_dir: Path, tmp_path: Path, receiver: Receiver
) -> None:
    absolute = tmp_path / "abs" / "events.jsonl"
    sinks = ["out/events.jsonl", absolute.as_uri(), receiver.url]
    for n in (1, 2):
        assert _publish(repo, sinks, n=n).ok
    relative = (repo / "out" / "events.jsonl").read_text().splitlines()
    assert relative == absolute.read_text().splitlines()
    assert relative == [r.body.decode() for r in receiver.requests]  # the same bytes
    assert [json.loads(line)["id"] for line in relative] == [_id(1), _id(2)]
    assert {s.key for s in parse_sinks(sinks, base=repo)} == {
        str(repo / "out" / "events.jsonl"),
        str(absolute),
        receiver.url,
    }


# ---------------------------------------------------------------- secrets
def test_credentials_and_the_secret_never_reach_the_outbox_or_messages(
    repo: Path,
    git_dir: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TEST_EVENTS_SECRET", SECRET)
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"http://bot:tok3n-PRIVATE@127.0.0.1:{port}/hook?access_token=QUERY-PRIVATE"
    receiver.plan = [500, 500, 500, 500]
    report = _publish(repo, [url], timeout=3)
    assert not report.ok
    # the credentials were used, as basic authentication ...
    auth = receiver.requests[0].headers["Authorization"]
    assert base64.b64decode(auth.split()[1]) == b"bot:tok3n-PRIVATE"
    assert receiver.requests[0].path == "/hook?access_token=QUERY-PRIVATE"
    # ... and are nowhere to be read
    monkeypatch.setenv("ARTIFACT_STORE_EVENTS", url)
    assert main(["--repo", str(repo), "events"]) == 0
    assert main(["--repo", str(repo), "events", "--json"]) == 0
    out, err = capsys.readouterr()
    stored = "".join(p.read_text() for p in (git_dir / "artifact-store").rglob("*") if p.is_file())
    for text in (stored, json.dumps(report.as_dict()), out, err):
        for secret in ("tok3n-PRIVATE", "QUERY-PRIVATE", SECRET):
            assert secret not in text
    assert "http://***@127.0.0.1" in stored and "HTTP 500" in stored


def test_urls_in_the_event_are_redacted(repo: Path) -> None:
    report = publish(
        repo / ".git", repo, ["events.jsonl"], "artifact.pushed", event_id="artifact.pushed:1",
        source="https://bot:tok3n-PRIVATE@git.example.com/r.git", subject="s",
        data={"push_error": "to https://bot:tok3n-PRIVATE@git.example.com/r.git: refused"},
    )  # fmt: skip
    assert report.ok
    event = json.loads((repo / "events.jsonl").read_text())
    assert event["source"] == "https://***@git.example.com/r.git"
    assert event["data"] == {"push_error": "to https://***@git.example.com/r.git: refused"}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("ftp://host/x", "is not understood"),
        ("events.txt", "is not understood"),
        ("redis://h:6379/0?stream=s&strem=t", "unknown parameter(s) strem"),
        ("redis://h:6379/0?maxlen=0", "maxlen must be a positive whole number"),
        ("redis://h:6379/zero", "the database is a number"),
        ("file://server/share/e.jsonl", "absolute local path"),
        ("http:///hook", "names no host"),
        ("https://u:s3cr3t-VALUE@h:x/hook", "the port is not a number"),
    ],
)
def test_parse_sinks_names_the_bad_entry(entry: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(ArtifactStoreError) as info:
        parse_sinks(["events.jsonl", entry], base=tmp_path)
    message = str(info.value)
    assert expected in message
    assert "s3cr3t-VALUE" not in message
    if "not understood" in message:
        assert entry in message and "redis://" in message and ".jsonl" in message


def test_an_invalid_event_is_refused_before_anything_is_queued(repo: Path, git_dir: Path) -> None:
    with pytest.raises(ArtifactStoreError, match="not one of"):
        _publish(repo, ["events.jsonl"], kind="deleted")
    with pytest.raises(ArtifactStoreError, match="event id"):
        publish(
            git_dir, repo, ["events.jsonl"], "artifact.committed", event_id="two words",
            source="s", subject="s", data={},
        )  # fmt: skip
    with pytest.raises(ArtifactStoreError, match="JSON cannot carry"):
        publish(
            git_dir, repo, ["events.jsonl"], "artifact.committed", event_id="x",
            source="s", subject="s", data={"when": object()},
        )  # fmt: skip
    assert pending(git_dir) == []


# ---------------------------------------------------------------- Redis
@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    pytest.importorskip("redis", reason="the redis package is not installed (the 'redis' extra)")
    port = free_port()
    work = tmp_path / "redis"
    work.mkdir()
    log = work / "redis.log"
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "--dir", str(work)], stdout=out, stderr=subprocess.STDOUT, cwd=work
        )
    try:
        wait_port(port, proc, "redis-server", log)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_redis_consumer_reads_the_same_events(
    repo: Path, git_dir: Path, receiver: Receiver, redis_url: str
) -> None:
    import redis

    sinks = [f"{redis_url}?stream=backtests&maxlen=1000", receiver.url]
    for n in (1, 2):
        assert _publish(repo, sinks, n=n).ok
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with contextlib.closing(client):
        entries = client.xrange("backtests")
    assert [fields["id"] for _, fields in entries] == [_id(1), _id(2)]
    assert [fields["type"] for _, fields in entries] == ["artifact.committed"] * 2
    assert [fields["event"] for _, fields in entries] == [
        r.body.decode() for r in receiver.requests
    ]
    assert pending(git_dir) == []


def test_redis_down_is_kept_for_later(repo: Path, git_dir: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens yet
    pytest.importorskip("redis", reason="the redis package is not installed (the 'redis' extra)")
    report = _publish(repo, [url], timeout=1.5)
    [delivery] = report.deliveries
    assert not delivery.delivered and "onnect" in str(delivery.error)
    assert [e.status for e in pending(git_dir)] == ["failed"]


def test_default_stream_name(repo: Path, redis_url: str) -> None:
    import redis

    assert _publish(repo, [redis_url]).ok
    with contextlib.closing(redis.Redis.from_url(redis_url, decode_responses=True)) as client:
        [(_, fields)] = client.xrange("artifact-store")
    assert json.loads(fields["event"])["id"] == _id()


# ---------------------------------------------------------------- the CLI
def _cli(capsys: pytest.CaptureFixture[str], repo: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--repo", str(repo), "events", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_events_and_deliver(
    repo: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ARTIFACT_STORE_EVENTS", f"{receiver.url}, events.jsonl")
    monkeypatch.setenv("ARTIFACT_STORE_EVENT_TIMEOUT", "3")
    assert _cli(capsys, repo) == (0, "no events waiting\n", "")

    receiver.plan = [404]
    _publish(repo, [receiver.url, "events.jsonl"])
    code, out, err = _cli(capsys, repo)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"failed   {_id()}  artifact.committed  ai/generated/wf1/task1  ")
    assert f"    {receiver.url}  failed (1 attempt(s), last " in lines[1]
    assert lines[1].endswith("ago): HTTP 404 Not Found")
    assert lines[2] == f"    {repo / 'events.jsonl'}  delivered"
    assert lines[3].startswith("1 event(s) waiting")

    code, out, _ = _cli(capsys, repo, "--json")
    [entry] = json.loads(out)
    assert entry["id"] == _id() and entry["status"] == "failed"
    assert entry["sinks"][receiver.url]["attempts"] == 1
    assert entry["unconfigured"] == []

    receiver.plan = [404]
    code, out, err = _cli(capsys, repo, "deliver")
    assert code == 1
    assert f"not delivered {_id()} to {receiver.url}: HTTP 404 Not Found" in err
    assert out == "0 event(s) delivered, 1 still waiting\n"

    code, out, err = _cli(capsys, repo, "deliver", "--timeout", "5")
    assert (code, err) == (0, "")
    assert out == f"delivered {_id()} to {receiver.url}\n1 event(s) delivered, 0 still waiting\n"
    assert receiver.accepted == [_id()]
    assert _cli(capsys, repo, "deliver", "--json")[:2] == (
        0,
        json.dumps(
            {
                "ok": True,
                "queued": None,
                "deliveries": [],
                "remaining": [],
                "problems": [],
                "busy": False,
            },
            indent=2,
        )
        + "\n",
    )
    assert _cli(capsys, repo) == (0, "no events waiting\n", "")


def test_cli_unconfigured_sink_and_drop(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = f"http://127.0.0.1:{free_port()}/old-hook"
    _publish(repo, [gone], timeout=0)
    code, out, _ = _cli(capsys, repo)  # no sinks configured now
    assert code == 0 and f"    {gone}  pending [sink no longer configured]" in out
    code, out, err = _cli(capsys, repo, "deliver")
    assert code == 1 and "no longer configured" in err
    assert _cli(capsys, repo, "drop")[0] == 1  # neither ids nor --all
    assert _cli(capsys, repo, "drop", "nope")[:2] == (1, "")
    assert _cli(capsys, repo, "drop", "--all") == (0, f"dropped {_id()}\n", "")
    assert _cli(capsys, repo) == (0, "no events waiting\n", "")


def test_cli_bad_sink_configuration_is_an_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARTIFACT_STORE_EVENTS", "smtp://mail.example.com")
    code, out, err = _cli(capsys, repo, "deliver")
    assert code == 1 and out == ""
    assert "event sink 'smtp://mail.example.com' is not understood" in err
    code, out, err = _cli(capsys, repo)  # listing still works, with a warning
    assert (code, out) == (0, "no events waiting\n")
    assert err.startswith("artifact-store: warning: event sink 'smtp://mail.example.com'")


# ---------------------------------------------------------------- the store's events
def _store_events(received: list[Received]) -> list[tuple[str, str]]:
    return [(r.event["type"], r.event["id"]) for r in received]


def test_the_store_publishes_committed_pushed_and_approved_once_each(
    repo: Path,
    bare_remote: Path,
    artifacts: dict[str, Path],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

    monkeypatch.setenv("TEST_EVENTS_SECRET", SECRET)
    config = ArtifactStoreConfig(
        repo_path=repo,
        event_sinks=[receiver.url, "events.jsonl"],
        webhook_secret_env="TEST_EVENTS_SECRET",
    )
    with ArtifactStore(config) as store:
        result = store.commit_artifacts(
            "wf",
            "t1",
            list(artifacts.values()),
            {"test_status": "passed", "test_metrics": {"sharpe": 1.25}},
            "c1",
            "abcdef12",
        )
        again = store.commit_artifacts(  # an idempotent repeat: nothing new to say
            "wf",
            "t1",
            list(artifacts.values()),
            {"test_status": "passed", "test_metrics": {"sharpe": 1.25}},
            "c1",
            "abcdef12",
        )
        approval = store.approve("c1", "prod")
    sha = result["commit_sha"]
    assert result["pushed"] and not again["created"]
    assert result["events"]["pending"] == [] and len(result["events"]["delivered"]) == 2
    tag_sha = subprocess.run(
        ["git", "rev-parse", approval["tag"]], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    assert _store_events(receiver.requests) == [
        ("artifact.committed", f"artifact.committed:{sha}"),
        ("artifact.pushed", f"artifact.pushed:origin:{sha}"),
        ("artifact.approved", f"artifact.approved:{tag_sha}"),
    ]  # the approval's push had nothing new for the branch: it still landed, once more
    committed = receiver.requests[0]
    expected = hmac.new(SECRET.encode(), committed.body, hashlib.sha256).hexdigest()
    assert committed.headers["X-Hub-Signature-256"] == f"sha256={expected}"
    event = committed.event
    assert event["specversion"] == "1.0" and event["source"] == "/ai/generated/wf/t1"
    assert event["subject"] == "corr_c1"
    assert event["data"] == {
        "branch": "ai/generated/wf/t1",
        "commit_sha": sha,
        "tags": ["corr_c1", "prompt_abcdef12"],
        "pushed": True,
        "correlation_id": "corr_c1",
        "workflow_id": "wf",
        "task_id": "t1",
        "prompt_hash": "abcdef12",
        "metrics": {"sharpe": 1.25},
    }
    approved = receiver.requests[2].event["data"]
    assert approved["approval"]["stage"] == "prod" and approved["approved"] is True
    lines = (repo / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [r.event["id"] for r in receiver.requests]
    assert pending(repo / ".git") == []


def test_a_receiver_outage_keeps_the_commit_and_delivers_later_exactly_once(
    repo: Path, artifacts: dict[str, Path], receiver: Receiver
) -> None:
    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

    receiver.plan = [503] * 8  # down for every retry within the budget
    config = ArtifactStoreConfig(
        repo_path=repo, auto_push=False, event_sinks=[receiver.url], event_timeout=1.5
    )
    started = time.monotonic()
    with ArtifactStore(config) as store:
        result = store.commit_artifacts("wf", "t1", list(artifacts.values()), None, "c1")
    assert time.monotonic() - started < 1.5 + 5  # the budget, with slack for a slow machine
    event_id = f"artifact.committed:{result['commit_sha']}"
    assert result["success"] and result["events"]["pending"] == [event_id]
    assert [e.status for e in pending(repo / ".git")] == ["failed"]
    receiver.plan = []  # back up
    with ArtifactStore(config) as store:  # the next commit retries the waiting event first
        second = store.commit_artifacts("wf", "t1", list(artifacts.values())[:2], None, "c2")
    assert second["events"]["pending"] == []
    assert sorted(receiver.accepted) == sorted(
        [event_id, f"artifact.committed:{second['commit_sha']}"]
    )  # each once
    assert pending(repo / ".git") == []


def test_a_bad_sink_refuses_the_commit_before_anything_lands(
    repo: Path, artifacts: dict[str, Path]
) -> None:
    from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig

    config = ArtifactStoreConfig(repo_path=repo, auto_push=False, event_sinks=["smtp://x"])
    with ArtifactStore(config) as store, pytest.raises(ArtifactStoreError, match="smtp://x"):
        store.commit_artifacts("wf", "t1", list(artifacts.values()), None, "c1")
    out = subprocess.run(["git", "for-each-ref"], cwd=repo, capture_output=True, text=True).stdout
    assert "corr_c1" not in out and "ai/generated" not in out


def test_the_plugin_publishes_the_sessions_version_to_a_jsonl_file_beside_the_ini(
    pytester_git: None, pytester: pytest.Pytester, repo: Path, receiver: Receiver
) -> None:
    pytester.makeini(
        f"[pytest]\nartifact_store_repo = {repo}\nartifact_store_workflow_id = wf\n"
        f"artifact_store_task_id = t1\nartifact_store_events =\n    {receiver.url}\n"
        "    out/events.jsonl\n"
    )
    pytester.makepyfile(
        "def test_ok(artifact_store):\n    artifact_store.record_metric('sharpe', 2)\n"
    )
    result = pytester.runpytest_subprocess("--artifact-store", "--artifact-correlation-id=p1")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*events: 1 delivered*"])
    line = json.loads((pytester.path / "out" / "events.jsonl").read_text())
    assert line["type"] == "artifact.committed" and line["data"]["metrics"]["sharpe"] == 2
    assert [r.event["id"] for r in receiver.requests] == [line["id"]]
    bad = pytester.runpytest_subprocess("--artifact-store", "--artifact-events=smtp://x")
    assert bad.ret == 4 and "smtp://x" in bad.stderr.str()
