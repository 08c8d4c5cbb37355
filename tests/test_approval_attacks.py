"""Attacks on approval before push and on the store's events (issue 18), with real git
repositories, a real bare remote and real clones: what an approval must publish, what
it must never publish, and each event once per id."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from approval_support import (
    BRANCH,
    TASK,
    WF,
    commit_version,
    make_store,
    push_cli,
    remote_refs,
)
from conftest import GitRunner

from pytest_artifact_store import ArtifactStoreError
from pytest_artifact_store.cli import main as cli_main


def _ids(*jsonl: Path) -> list[str]:
    return [json.loads(line)["id"] for f in jsonl for line in f.read_text().splitlines()]


# ---------------------------------------------------------------- approvals published


def test_an_approval_for_a_stage_named_before_one_already_pushed_is_pushed_later(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    """push_pending must see an approval made without a push whatever its stage's name
    ('dev' sorts before 'prod', whose record was pushed already)."""
    with make_store(repo, require_approval=True) as store:
        commit_version(store, artifacts, "c1")
        assert store.approve("c1", "prod")["pushed"]
        dev = store.approve("c1", "dev", push=False)
        assert f"refs/tags/{dev['tag']}" not in remote_refs(git, bare_remote)
        result = store.push_pending()
    assert result["pushed"] == [BRANCH], result
    assert f"refs/tags/{dev['tag']}" in remote_refs(git, bare_remote)


def test_push_pending_does_not_call_a_branch_pushed_when_only_holding_back(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    with make_store(repo, require_approval=True) as store:
        v1 = commit_version(store, artifacts, "c1")
        assert store.approve("c1", "prod")["pushed"]
        commit_version(store, artifacts, "c2", pnl=2)  # unapproved: held back
        result = store.push_pending()
        assert result["pushed"] == [] and result["up_to_date"] == [BRANCH], result
        assert result["awaiting_approval"] == {BRANCH: ["corr_c2"]}
    assert remote_refs(git, bare_remote)[f"refs/heads/{BRANCH}"] == v1["commit_sha"]
    cli = push_cli(repo, ARTIFACT_STORE_REQUIRE_APPROVAL="1")
    assert cli.returncode == 0, cli.stderr
    assert "0 pushed, 1 up to date, 0 failed, 1 awaiting approval" in cli.stdout


# ---------------------------------------------------------------- events once per id


def test_a_push_that_did_not_move_the_remote_branch_sends_no_pushed_event(
    tmp_path: Path, repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    """Two clones approving the same task: b's second approval catches up with the tip
    a pushed (a join of a's version and b's). b moved nothing: no second
    artifact.pushed for a's tip, from either clone."""
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare_remote), str(other))
    a_events, b_events = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with (
        make_store(repo, require_approval=True, event_sinks=[str(a_events)]) as a,
        make_store(other, require_approval=True, event_sinks=[str(b_events)]) as b,
    ):
        commit_version(b, artifacts, "b1")
        assert b.approve("b1", "prod")["pushed"]
        commit_version(a, artifacts, "a1", pnl=2)
        assert a.approve("a1", "prod")["pushed"]
        again = b.approve("b1", "staging")
        assert again["pushed"], again["push_error"]
    tip = remote_refs(git, bare_remote)[f"refs/heads/{BRANCH}"]
    ids = _ids(a_events, b_events)
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert f"artifact.pushed:origin:{tip}" in _ids(a_events)
    assert f"artifact.pushed:origin:{tip}" not in _ids(b_events)


def test_a_second_process_pushing_the_same_tip_sends_no_second_pushed_event(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    """Another process of this clone pushed the tip already (its remote-tracking ref not
    yet moved when this one looked): the remote's branch did not move again."""
    events = repo / "events.jsonl"
    with make_store(repo, event_sinks=[str(events)]) as store:
        v1 = commit_version(store, artifacts, "c1")
        assert v1["pushed"]
        git(repo, "update-ref", "-d", f"refs/remotes/origin/{BRANCH}")  # the other's view
        approval = store.approve("c1", "prod")  # pushes the branch (unchanged) and its record
        assert approval["pushed"], approval["push_error"]
    tag_sha = git(repo, "rev-parse", approval["tag"])
    assert _ids(events) == [
        f"artifact.committed:{v1['commit_sha']}",
        f"artifact.pushed:origin:{v1['commit_sha']}",
        f"artifact.approved:{tag_sha}",
    ]


def test_a_branch_a_non_atomic_server_took_before_refusing_its_tags_is_announced_once(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    """The branch landed, its tags did not: the next push_pending only sends the tags,
    and that is when the push is complete -- artifact.pushed then, once."""
    git(bare_remote, "config", "receive.advertiseAtomic", "false")
    gate = bare_remote / "refuse-tags"
    gate.write_text("")
    hook = bare_remote / "hooks" / "pre-receive"
    hook.write_text(
        f"#!/bin/sh\nwhile read old new ref; do case $ref in refs/tags/*)\n"
        f"  [ -e {gate} ] && echo 'tags are frozen' >&2 && exit 1;; esac; done\nexit 0\n"
    )
    hook.chmod(0o755)
    events = repo / "events.jsonl"
    with make_store(repo, event_sinks=[str(events)]) as store:
        v1 = commit_version(store, artifacts, "c1")
        assert v1["pushed"] is False and "tags are frozen" in v1["push_error"]
        gate.unlink()
        assert store.push_pending()["pushed"] == [BRANCH]
        assert store.push_pending()["up_to_date"] == [BRANCH]
    assert _ids(events) == [
        f"artifact.committed:{v1['commit_sha']}",
        f"artifact.pushed:origin:{v1['commit_sha']}",
    ]


# ---------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    "remote",
    ["https://ci-bot:hunter2-pass@git.example.com/x.git", "../elsewhere", "--upload-pack=x"],
)
def test_approve_to_a_url_or_path_is_refused_before_anything_and_shows_no_credential(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner, remote: str
) -> None:
    with make_store(repo, auto_push=False) as store:
        commit_version(store, artifacts, "c1")
        with pytest.raises(ArtifactStoreError, match="name of a configured git remote") as exc:
            store.approve("c1", "prod", remote=remote)
    assert "hunter2" not in str(exc.value)
    assert git(repo, "for-each-ref", "refs/tags/approval/") == ""


def test_a_signature_block_in_a_note_does_not_make_the_record_signed(
    repo: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    note = "looks fine\n-----BEGIN PGP SIGNATURE-----\n\niQEzBAAB\n-----END PGP SIGNATURE-----"
    with make_store(repo, auto_push=False) as store:
        v1 = commit_version(store, artifacts, "c1")
        approval = store.approve("c1", "prod", note=note, push=False)
        recorded = store.approvals_of(v1["commit_sha"], WF, TASK)
    assert approval["signed"] is False and recorded[0]["signed"] is False
    assert recorded[0]["note"] == note  # all of it, not cut at the fake block
    assert "Stage: prod" in git(repo, "cat-file", "tag", approval["tag"])


@pytest.mark.parametrize(
    "note",
    ["\x1b[2J\x1b[31mAPPROVED BY CEO\x1b[0m", "ok\rfaked line", "bell\x07", "c1\x9bm"],
)
def test_a_note_with_control_characters_is_refused_before_anything(
    repo: Path, artifacts: dict[str, Path], git: GitRunner, note: str
) -> None:
    with make_store(repo, auto_push=False) as store:
        commit_version(store, artifacts, "c1")
        with pytest.raises(ArtifactStoreError, match="control character"):
            store.approve("c1", "prod", note=note, push=False)
        ok = store.approve("c1", "prod", note="line one\r\nline two\twith a tab", push=False)
    assert ok["note"] == "line one\nline two\twith a tab"
    assert len(git(repo, "for-each-ref", "refs/tags/approval/").splitlines()) == 1


def test_a_huge_note_is_refused_before_anything(
    repo: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    with make_store(repo, auto_push=False, event_sinks=[str(repo / "events.jsonl")]) as store:
        commit_version(store, artifacts, "c1")
        with pytest.raises(ArtifactStoreError, match="note is too long"):
            store.approve("c1", "prod", note="why " * 500_000, push=False)
    assert git(repo, "for-each-ref", "refs/tags/approval/") == ""
    assert not list((repo / ".git" / "artifact-store" / "outbox").glob("*.json"))


def test_show_and_stages_print_a_fetched_records_control_characters_escaped(
    repo: Path, artifacts: dict[str, Path], git: GitRunner, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record made elsewhere (by hand, by another tool) can hold anything: a terminal
    must not run it."""
    with make_store(repo, auto_push=False) as store:
        v1 = commit_version(store, artifacts, "c1")
    message = "approve wf/t1 corr_c1 for prod\n\n\x1b]0;owned\x07evil\x1b[2J\n\nStage: prod\n"
    git(
        repo,
        "tag",
        "-a",
        "-m",
        message,
        "--cleanup=verbatim",
        f"approval/{WF}/{TASK}/prod/20260101T000000000000Z-abcdef",
        v1["commit_sha"],
    )
    assert cli_main(["--repo", str(repo), "show", "c1"]) == 0
    assert cli_main(["--repo", str(repo), "stages", "--history"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b]0;owned\\x07evil\\x1b[2J" in out


@pytest.mark.parametrize(
    "tagger",
    [
        b"tagger X <x@example.com> 99999999999999999999 +0000",
        b"tagger X <x@example.com> -99999999999999 +0000",
        b"tagger X <x\xff@example.com> 1700000000 +0000",
    ],
)
def test_a_malformed_record_from_elsewhere_breaks_no_command(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner, tagger: bytes
) -> None:
    """Anyone who can push a tag can put an approval/... record on the remote: a date no
    clock had, an email that is not UTF-8. Reading records must not fail on it."""
    with make_store(repo, require_approval=True) as store:
        v1 = commit_version(store, artifacts, "c1")
        name = f"approval/{WF}/{TASK}/prod/20260101T000000000000Z-abcdef"
        body = (
            f"object {v1['commit_sha']}\ntype commit\ntag {name}\n".encode()
            + tagger
            + b"\n\napprove\n\nStage: prod\n"
        )
        made = subprocess.run(
            ["git", "hash-object", "-t", "tag", "-w", "--stdin", "--literally"],
            cwd=repo,
            input=body,
            capture_output=True,
            check=True,
        )
        git(repo, "update-ref", f"refs/tags/{name}", made.stdout.decode().strip())
        store.stages(WF, TASK)
        store.approvals_of(v1["commit_sha"], WF, TASK)
        approval = store.approve("c1", "prod", note="Version: 2 beats 1\nStage: prod is next")
        assert approval["pushed"], approval["push_error"]
    assert approval["note"] == "Version: 2 beats 1\nStage: prod is next"


# ---------------------------------------------------------------- at least once, killed


_KILLED = """
import sys
import time
from pathlib import Path
from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig
repo, events, what = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
store = ArtifactStore(ArtifactStoreConfig(repo_path=repo, push_timeout=60, event_sinks=[events]))
if what == "commit":
    (repo.parent / "r.json").write_text("{}")
    store.commit_artifacts("wf", "t1", [repo.parent / "r.json"], None, "k1")
else:
    store.approve("k1", "prod")
"""


@pytest.mark.parametrize("what", ["commit", "approve"])
def test_a_process_killed_while_its_push_hangs_keeps_the_event_of_what_landed(
    repo: Path, git: GitRunner, silent_server: int, what: str
) -> None:
    """The commit (or the approval record) landed, then the push hung on a remote that
    never answers and the process was killed: the event is in the outbox, delivered by
    the next 'events deliver', once."""
    from pytest_artifact_store.events import deliver, pending

    events = repo.parent / "events.jsonl"
    if what == "approve":
        with make_store(repo, auto_push=False) as store:
            (repo.parent / "r.json").write_text("{}")
            store.commit_artifacts(WF, TASK, [repo.parent / "r.json"], None, "k1")
    git(repo, "remote", "add", "origin", f"git://127.0.0.1:{silent_server}/x.git")
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(repo), str(events), what])
    try:
        landed = "refs/tags/corr_k1" if what == "commit" else "refs/tags/approval/"
        for _ in range(400):
            if git(repo, "for-each-ref", landed):
                break
            assert proc.poll() is None
            time.sleep(0.025)
        time.sleep(0.5)  # well into the push, which waits for the silent remote
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    kind = "committed" if what == "commit" else "approved"
    waiting = [e.id for e in pending(repo / ".git")]
    assert [i.split(":")[0] for i in waiting] == [f"artifact.{kind}"], waiting
    report = deliver(repo / ".git", repo, [str(events)], timeout=5)
    assert report.ok, report.as_dict()
    assert _ids(events) == waiting


def test_an_event_too_large_for_the_outbox_is_reported_not_left_as_a_corrupt_file(
    repo: Path,
) -> None:
    from pytest_artifact_store.events import pending, publish

    report = publish(
        repo / ".git",
        repo,
        [str(repo / "events.jsonl")],
        "artifact.committed",
        event_id="artifact.committed:" + "a" * 40,
        source="/ai/generated/wf/t1",
        subject="corr_big",
        data={"metrics": {"curve": '"x",' * (2 << 20)}},  # 8 MiB; its quotes escaped twice
    )
    assert report.remaining == ["artifact.committed:" + "a" * 40]
    assert "more than an outbox entry holds" in report.problems[0]
    assert pending(repo / ".git") == []
    assert not (repo / "events.jsonl").exists()


# ---------------------------------------------------------------- archived versions


def test_approving_a_version_archived_here_pushes_the_record_when_the_remote_has_it(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path], git: GitRunner
) -> None:
    with make_store(repo, require_approval=True) as store:
        v1 = commit_version(store, artifacts, "c1")
        assert store.approve("c1", "prod")["pushed"]
        assert [a["branch"] for a in store.archive(0)] == [BRANCH]
        staging = store.approve("c1", "staging")
        assert staging["pushed"], staging["push_error"]
        assert f"refs/tags/{staging['tag']}" in remote_refs(git, bare_remote)
        later = store.approve("c1", "dev", push=False)  # recorded here only: push_pending
        result = store.push_pending()
        assert result["pushed"] == [BRANCH], result
        assert f"refs/tags/{later['tag']}" in remote_refs(git, bare_remote)
        assert store.push_pending()["pushed"] == []
        # a version the remote never had stays here, record and all
        other = store.commit_artifacts(WF, "t2", list(artifacts.values()), None, "d1")
        assert other["pushed"] is False
        store.archive(0)
        held = store.approve("d1", "prod")
        assert held["pushed"] is False and "archived" in held["push_error"]
    refs = remote_refs(git, bare_remote)
    assert f"refs/tags/{held['tag']}" not in refs and "refs/tags/corr_d1" not in refs
    assert git(bare_remote, "cat-file", "-t", other["commit_sha"], check=False) == ""
    assert refs[f"refs/heads/{BRANCH}"] == v1["commit_sha"]


def test_the_refusal_names_only_the_versions_that_lack_approval(
    repo: Path, bare_remote: Path, artifacts: dict[str, Path]
) -> None:
    with make_store(repo, require_approval=True) as store:
        commit_version(store, artifacts, "v1")
        commit_version(store, artifacts, "v2", pnl=2)
        held = store.approve("v2", "prod")
    assert held["pushed"] is False
    assert "not approved: corr_v1 (" in held["push_error"], held["push_error"]


# ---------------------------------------------------------------- secrets in sink URLs

_DISCORD_TOKEN = "Xq3-kLmN9pQrStUvWxYz1A2bC3dE4fG5hI6jK7lM8nO9pQ0rS1tU2vW3xY4zA5bC6dE7fG"


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1:9/api/webhooks/1098765432109876543/{_DISCORD_TOKEN}",
        f"http://127.0.0.1:9/hook/{_DISCORD_TOKEN}?x=1#{_DISCORD_TOKEN}",
    ],
)
def test_a_token_in_a_webhook_path_is_never_shown_nor_stored(
    repo: Path, url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discord-style webhooks carry their secret in the path, in no provider format."""
    from pytest_artifact_store.events import parse_sinks, publish

    key = parse_sinks([url], base=repo)[0].key
    assert _DISCORD_TOKEN not in key and "127.0.0.1:9" in key
    report = publish(
        repo / ".git",
        repo,
        [url],
        "artifact.committed",
        event_id="artifact.committed:" + "b" * 40,
        source="/ai/generated/wf/t1",
        subject="corr_x",
        data={},
        timeout=0.5,
    )
    assert not report.ok
    monkeypatch.setenv("ARTIFACT_STORE_EVENTS", url)
    assert cli_main(["--repo", str(repo), "events"]) == 0
    assert cli_main(["--repo", str(repo), "events", "deliver", "--timeout", "0.3"]) == 1
    out, err = capsys.readouterr()
    stored = "".join(p.read_text() for p in (repo / ".git" / "artifact-store").rglob("*.json"))
    for text in (json.dumps(report.as_dict()), out, err, stored):
        assert _DISCORD_TOKEN not in text


def test_two_webhooks_that_differ_only_in_a_masked_token_stay_two_sinks(tmp_path: Path) -> None:
    from pytest_artifact_store.events import parse_sinks

    urls = [
        "https://ci.example.com/hook?token=first-secret-value",
        "https://ci.example.com/hook?token=second-secret-value",
        f"https://discord.com/api/webhooks/1/{_DISCORD_TOKEN}",
        f"https://discord.com/api/webhooks/1/{_DISCORD_TOKEN[::-1]}",
    ]
    keys = [sink.key for sink in parse_sinks(urls, base=tmp_path)]
    assert len(set(keys)) == 4, keys
    assert not any("secret-value" in k or _DISCORD_TOKEN[5:20] in k for k in keys)


def test_a_reviewer_approving_another_machines_pushed_version_publishes_the_record(
    tmp_path: Path,
    repo: Path,
    bare_remote: Path,
    artifacts: dict[str, Path],
    git: GitRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """b fetched a's version (on the remote) and approves it while b's own branch holds
    an unapproved version of b's: the record goes to the remote, b's version does not."""
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare_remote), str(other))
    with (
        make_store(repo, require_approval=True) as a,
        make_store(other, require_approval=True) as b,
    ):
        a1 = commit_version(a, artifacts, "a1")
        assert a.approve("a1", "staging")["pushed"]
        b1 = commit_version(b, artifacts, "b1", pnl=2)  # b's own, unapproved
        b.fetch(WF, TASK)
        monkeypatch.setenv("GIT_COMMITTER_NAME", "Risk Officer")
        monkeypatch.setenv("GIT_COMMITTER_EMAIL", "risk@example.com")
        approval = b.approve("a1", "prod")
        assert approval["pushed"], approval["push_error"]
        later = b.approve("a1", "dev", push=False)
        pending = b.push_pending()
        assert pending["awaiting_approval"] == {BRANCH: ["corr_b1"]}, pending
        assert b.push_pending()["pushed"] == []
    refs = remote_refs(git, bare_remote)
    assert f"refs/tags/{approval['tag']}" in refs and f"refs/tags/{later['tag']}" in refs
    assert refs[f"refs/heads/{BRANCH}"] == a1["commit_sha"]
    assert git(bare_remote, "cat-file", "-t", b1["commit_sha"], check=False) == ""


def test_a_new_clone_owes_no_record_it_cloned_and_pushes_one_it_made(
    tmp_path: Path,
    repo: Path,
    bare_remote: Path,
    artifacts: dict[str, Path],
    git: GitRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A clone of a fleet's remote holds every task's approval records, all already
    there: its first push_pending must not push once per approved task (each push
    costs what the remote's size costs). A record it makes itself is still owed."""
    from pytest_artifact_store.remote.push import Pusher

    with make_store(repo) as store:
        for i in range(6):
            store.commit_artifacts(f"wf{i}", "t", list(artifacts.values()), None, f"v{i}")
            assert store.approve(f"v{i}", "prod")["pushed"]
    clone = tmp_path / "runner"
    git(tmp_path, "clone", "-q", str(bare_remote), str(clone))
    pushes: list[list[str]] = []
    real_push = Pusher._push

    def spy(self: Pusher, link: object, refspecs: list[str], **kw: object) -> object:
        pushes.append(refspecs)
        return real_push(self, link, refspecs, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Pusher, "_push", spy)
    with make_store(clone) as runner:
        assert runner.push_pending()["pushed"] == []
        assert pushes == []
        later = runner.approve("v3", "staging", push=False)  # a task only the remote has
        assert runner.push_pending()["pushed"] == ["ai/generated/wf3/t"]
        assert len(pushes) == 1 and f"refs/tags/{later['tag']}" in remote_refs(git, bare_remote)
        assert runner.push_pending()["pushed"] == [] and len(pushes) == 1
