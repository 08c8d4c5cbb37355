"""What an attack on the scanner found, fixed: leaks through names and messages,
archives that used to fall back to raw bytes, escapes and ids that hid keys, inputs that
made the scan quadratic or crash, and false alarms on ordinary data."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import string
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig
from pytest_artifact_store.errors import ArtifactStoreError, SecretDetectedError
from pytest_artifact_store.scan import ScanLimitError, Scanner, allowlist
from pytest_artifact_store.scan.findings import fingerprint

RNG = random.Random(77)
CLI = [sys.executable, "-m", "pytest_artifact_store.cli"]


def rand(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def aws() -> str:
    return "AKIA" + rand(16, string.ascii_uppercase + string.digits)


def stripe() -> str:
    return "sk_live_" + rand(24)


def rules(data: bytes, path: str) -> list[tuple[int, str]]:
    return [(f.line, f.rule) for f in Scanner().scan_bytes(data, path)]


def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def test_an_archive_member_named_after_a_key_is_found_and_masked() -> None:
    key = aws()
    findings = Scanner().scan_bytes(zipped({f"keys/{key}.txt": b"clean\n"}), "run.zip")
    assert [(f.line, f.rule) for f in findings] == [(0, "aws-access-key-id")]
    assert all(key not in str(f) and key not in f.path for f in findings)


def test_a_refusal_naming_a_member_masks_the_key_in_it() -> None:
    key = stripe()
    data = bytearray(zipped({f"{key}.txt": b"x\n"}))
    data[6] |= 1
    data[data.rfind(b"PK\x01\x02") + 8] |= 1  # encrypted
    with pytest.raises(ScanLimitError) as info:
        Scanner().scan_bytes(bytes(data), "a.zip")
    assert "encrypted" in str(info.value) and key not in str(info.value)


def test_a_truncated_gzip_is_scanned_as_far_as_it_decodes() -> None:
    key = stripe()
    filler = "".join(f"row={rand(30)}\n" for _ in range(3000))
    body = gzip.compress(f"x=1\nSTRIPE={key}\n{filler}".encode())
    assert rules(body[: len(body) // 2], "app.env.gz") == [(2, "stripe-secret-key")]


@pytest.mark.parametrize("damage", ["deflate64", "directory"])
def test_an_unreadable_zip_is_refused_not_a_traceback(damage: str) -> None:
    data = bytearray(zipped({"a.env": f"KEY={aws()}\n".encode()}))
    if damage == "deflate64":
        data[8] = 9
        data[data.rfind(b"PK\x01\x02") + 10] = 9
    else:
        data[-6] += 100  # the central directory's offset
    with pytest.raises(ScanLimitError, match="cannot be"):
        Scanner().scan_bytes(bytes(data), "bundle.zip")


def test_overlapping_zip_entries_are_refused() -> None:
    data = bytearray(zipped({"a.txt": b"a" * 100, "b.txt": b"b" * 100}))
    second = data.rfind(b"PK\x01\x02")
    data[second + 42 : second + 46] = (0).to_bytes(4, "little")  # b.txt's header -> a.txt's
    with pytest.raises(ScanLimitError, match="overlap"):
        Scanner().scan_bytes(bytes(data), "x.zip")


def test_escapes_do_not_hide_a_key() -> None:
    key = aws()
    quoted = json.dumps({"note": f"rotated key \u201c{key}\u201d"})  # ensure_ascii: \u201c
    assert rules(quoted.encode(), "m.json") == [(1, "aws-access-key-id")]
    url = f"GET /login?next=%3Fkey%3D{key}%26t%3D1 200\n"
    assert rules(url.encode(), "access.log") == [(1, "aws-access-key-id")]


def test_wrapped_base64_and_prefixed_hex() -> None:
    key = stripe()
    text = ("x" * 40 + f"\nSTRIPE_KEY={key}\n").encode()
    wrapped = subprocess.run(["base64"], input=text, capture_output=True, check=True).stdout
    assert rules(wrapped, "blob.txt") == [(1, "stripe-secret-key")]
    assert rules(f"v=0x{key.encode().hex()}\n".encode(), "x.log") == [(1, "stripe-secret-key")]


def test_utf16_without_a_bom_and_with_non_latin_lines() -> None:
    key = aws()
    data = f"# Ключи API для теста\nAWS_ACCESS_KEY_ID={key}\n".encode("utf-16-le")
    assert rules(data, "keys.env") == [(2, "aws-access-key-id")]


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("client = Spot('{a}', '{b}')", "bot.py"),
        ("const c = new Spot('{a}', '{b}');", "bot.ts"),
        ('c := binance.NewClient("{a}", "{b}")', "main.go"),
        ('var c = new ApiCredentials("{a}", "{b}");', "Auth.cs"),
        ("rest = RESTClient('{a}')", "data.py"),
    ],
)
def test_keys_given_to_a_client_constructor(line: str, path: str) -> None:
    text = line.format(a=rand(64), b=rand(64)) + "\n"
    found = rules(text.encode(), path)
    assert found and all(f == (1, "hardcoded-credential") for f in found)


@pytest.mark.parametrize(
    "line",
    [
        "assert exchange_prop(exchange, 'httpProxyCallback') is None",
        "res = client.futures_cancel_order('5bd6e9286d99522a52e458de')",
        'return await self._request_futures_api("get", "convert/exchangeInfo", signed=False)',
    ],
)
def test_an_id_or_a_name_passed_to_a_method_is_not_a_key(line: str) -> None:
    assert rules((line + "\n").encode(), "client.py") == []


def test_netrc_and_tsv_pairs() -> None:
    netrc = f"machine api.example.com login bot password Tr0ub4dor&{rand(6)}\n"
    assert rules(netrc.encode(), ".netrc") == [(1, "password-assignment")]
    tsv = f"name\tvalue\napi_secret\t{rand(40)}\n"
    assert rules(tsv.encode(), "creds.tsv") == [(2, "secret-assignment")]


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ('"password_mismatch": "Passwords don\'t match!",', "en.json"),
        ('"password_too_short": "Password must be at least 8 characters.",', "en.json"),
        ('PASSWORD_RE = r"^(?=.*[A-Z])(?=.*\\d).{8,}$"', "validators.py"),
        ('{"password": "$2b$12$KIXQJ7n1VhUOx5k0wU9z4eJ9m6Q1qk2YVgJ3f3sWmPq0hW4lqYx2e"}', "u.json"),
        ('{"listenKey": "' + rand(60) + '"}', "stream_response.json"),
        ('API_SECRET = "test-key-8f3a9c2d1e"', "test_client.py"),
        ('FAKE_API_SECRET = "' + rand(20) + '"', "test_client.py"),
        ('<input type="hidden" name="csrf_token" value="' + rand(20) + '">', "page.html"),
    ],
)
def test_not_secrets_found_by_the_attack(line: str, path: str) -> None:
    assert rules((line + "\n").encode(), path) == []


def test_a_listen_key_assigned_in_code_is_a_secret() -> None:
    assert rules(f'listenKey = "{rand(60)}"\n'.encode(), "stream.py") == [(1, "api-key-assignment")]


@pytest.mark.parametrize(
    "data",
    [
        b"key=" * 65536,
        b'"use strict";' + b"this.apiKey=e.apiKey,this.sessionToken=e.sessionToken," * 5000,
        b'{"token": "' + base64.urlsafe_b64encode(bytes(range(256)) * 3000) + b'"}',
        b"pass" * 25000 + b"=abcd1234",
        " ".join(aws() for _ in range(20000)).encode(),
        (
            (",".join(f"api_key_{i}" for i in range(600)) + "\n" + '"1",' * 599 + '"1"\n') * 20
        ).encode(),
        (",".join(f"c{i}" for i in range(1101)) + ",api_key\n" + "1," * 1101 + "1\n").encode(),
    ],
    ids=["key=", "minified", "long-base64", "pass", "keys-on-one-line", "600-cols", "1102-cols"],
)
def test_hostile_shapes_finish(tmp_path: Path, data: bytes) -> None:
    """Each took minutes (or crashed) before: scanned in a subprocess with a hang guard."""
    path = tmp_path / ("data.csv" if b"api_key_" in data or b"c1101" in data else "data.js")
    path.write_bytes(data)
    proc = subprocess.run(
        [*CLI, "scan", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr and "DFA out of memory" not in proc.stderr


def test_fingerprints_are_slow_salted_hashes(tmp_path: Path) -> None:
    value = "kx7#Q"
    fp = fingerprint("password-assignment", value)
    fast = hashlib.sha256(f"artifact-store\0password-assignment\0{value}".encode()).hexdigest()
    assert fp != fast[:32]
    inner = hashlib.sha256(f"password-assignment\0{value}".encode()).digest()
    assert fp == hashlib.pbkdf2_hmac("sha256", inner, b"artifact-store", 10_000).hex()[:32]
    found = Scanner(show_low=True).scan_bytes(f'password = "{value}"\n'.encode(), "a.py")
    assert [f.fingerprint for f in found] == [fp]
    assert value not in repr(found) and "digest" not in json.dumps(found[0].to_dict())


def test_a_newline_in_a_file_name_cannot_break_the_allowlist(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    odd = tmp_path / "new\nline.env"
    odd.write_text(f"password = 'Xk9#mQ2vLp7w{rand(4)}'\n")
    made = subprocess.run(
        [*CLI, "scan", "--update-allowlist", str(tmp_path)], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    text = (tmp_path / allowlist.FILENAME).read_text()
    assert "new\\nline.env:1" in text
    again = subprocess.run([*CLI, "scan", str(tmp_path)], capture_output=True, text=True)
    assert (again.returncode, again.stdout) == (0, "")


def _store(tmp_path: Path, **kw: object) -> ArtifactStore:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "i",
        ],
        check=True,
    )
    return ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False, **kw))  # type: ignore[arg-type]


def _refs(tmp_path: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(tmp_path / "repo"), "for-each-ref"], capture_output=True, text=True
    ).stdout


@pytest.mark.parametrize("where", ["correlation_id", "workflow_id", "metadata-unicode"])
def test_the_store_scans_ids_and_the_metadata_it_writes(tmp_path: Path, where: str) -> None:
    key = "ghp_" + rand(36) if where == "correlation_id" else aws()
    store = _store(tmp_path, include_metadata=where == "metadata-unicode")
    before = _refs(tmp_path)
    src = tmp_path / "strategy.py"
    src.write_text("x = 1\n")
    kwargs: dict[str, object] = {"correlation_id": "c1"}
    workflow = "wf"
    if where == "correlation_id":
        kwargs["correlation_id"] = key
    elif where == "workflow_id":
        workflow = key
    else:
        kwargs["metadata"] = {"notes": f"rotated key \u201c{key}\u201d"}
    with pytest.raises(SecretDetectedError) as info:
        store.commit_artifacts(workflow, "t1", [src], **kwargs)  # type: ignore[arg-type]
    assert key not in str(info.value)
    assert _refs(tmp_path) == before


def test_a_store_error_naming_a_file_masks_the_key(tmp_path: Path) -> None:
    store = _store(tmp_path)
    key = aws()
    empty = tmp_path / f"{key}.txt"
    empty.write_text("")
    with pytest.raises(ArtifactStoreError) as info:
        store.commit_artifacts("wf", "t1", [empty], correlation_id="c1")
    assert key not in str(info.value) and "AKIA…" in str(info.value)


def test_paths_are_masked_also_when_custom_patterns_replace_the_rules() -> None:
    key = aws()
    scanner = Scanner(patterns=["corp-[0-9]{12}"])
    assert scanner.masked_path(f"out/{key}.csv") == "out/AKIA….csv"
    found = scanner.scan_bytes(b"id=corp-123456789012\n", f"{key}.txt")
    assert [f.rule for f in found] == ["custom-1"] and all(key not in f.path for f in found)
