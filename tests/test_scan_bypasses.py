"""Ways around the scan, closed (issue 15): compressed files and archives, other text
encodings, a NUL in a text file, a key as a file name or inside the store's own metadata,
encoded blobs, CSV cells that split a key or run over lines, a PEM body without its
BEGIN/END lines -- and a decompression bomb refused, not scanned forever."""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import json
import lzma
import random
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from corpus import MAKERS
from test_secrets import RNG

from pytest_artifact_store import ArtifactStore, ArtifactStoreConfig
from pytest_artifact_store.errors import SecretDetectedError
from pytest_artifact_store.scan import Finding, ScanLimitError, Scanner

CLI = [sys.executable, "-m", "pytest_artifact_store.cli"]


def stripe() -> str:
    return MAKERS["stripe-live"](RNG)


def aws() -> str:
    return MAKERS["aws-id"](RNG)


def found(data: bytes, path: str) -> list[tuple[str, int, str]]:
    return [(f.path, f.line, f.rule) for f in Scanner().scan_bytes(data, path)]


def trades_csv(key: str) -> bytes:
    return f"ts,symbol,qty\n2024-01-02,BTCUSDT,1\n2024-01-03,ETHUSDT,2 note={key}\n".encode()


def _zip(members: dict[str, bytes], method: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "pack", "member"),
    [
        ("trades.csv.gz", lambda d: gzip.compress(d), "trades.csv.gz!trades.csv"),
        ("trades.csv.bz2", lambda d: bz2.compress(d), "trades.csv.bz2!trades.csv"),
        ("trades.csv.xz", lambda d: lzma.compress(d), "trades.csv.xz!trades.csv"),
        ("run.zip", lambda d: _zip({"out/trades.csv": d}, zipfile.ZIP_DEFLATED), None),
        ("run.zip", lambda d: _zip({"out/trades.csv": d}, zipfile.ZIP_STORED), None),
        (
            "run.tar.gz",
            lambda d: _tar_gz({"out/trades.csv": d}),
            "run.tar.gz!run.tar!out/trades.csv",
        ),
        (
            "nested.zip",
            lambda d: _zip({"inner.zip": _zip({"t.csv": d}, 8)}, 8),
            "nested.zip!inner.zip!t.csv",
        ),
    ],
)
def test_compressed_files_and_archives_are_scanned_member_by_member(
    name: str, pack: object, member: str | None
) -> None:
    data = pack(trades_csv(stripe()))  # type: ignore[operator]
    where = member or f"{name}!out/trades.csv"
    assert found(data, name) == [(where, 3, "stripe-secret-key")]


def test_a_decompression_bomb_is_refused_with_the_file_named(tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), 9)  # 64 MiB from ~64 KB
    with pytest.raises(ScanLimitError, match=r"bomb\.csv\.gz: expands more than 200x"):
        Scanner().scan_bytes(bomb, "bomb.csv.gz")
    (tmp_path / "bomb.csv.gz").write_bytes(bomb)
    (tmp_path / "ok.txt").write_text("nothing here\n")
    proc = subprocess.run(
        [*CLI, "scan", str(tmp_path)], capture_output=True, text=True, check=False, timeout=60
    )
    assert proc.returncode == 1
    assert "bomb.csv.gz: expands more than 200x its size" in proc.stderr
    assert "store it uncompressed" in proc.stderr


def test_an_encrypted_zip_member_is_refused() -> None:
    data = bytearray(_zip({"a.csv": b"x,y\n"}, zipfile.ZIP_STORED))
    data[6] |= 1  # the encrypted flag of the local header
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 1  # ... and of the central directory entry
    with pytest.raises(ScanLimitError, match=r"a\.zip!a\.csv: encrypted"):
        Scanner().scan_bytes(bytes(data), "a.zip")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_other_text_encodings_are_decoded(encoding: str) -> None:
    data = trades_csv(stripe()).decode().encode(encoding)
    assert found(data, "trades.csv") == [("trades.csv", 3, "stripe-secret-key")]


def test_a_nul_byte_does_not_make_a_text_file_binary() -> None:
    data = b"\x00" + trades_csv(stripe())
    assert found(data, "trades.csv") == [("trades.csv", 3, "stripe-secret-key")]
    # and keyword rules still apply to it (it is text)
    text = b"\x00run\npassword = 'Zq9x!Lw2vR7'\n"
    assert [f.line for f in Scanner().scan_bytes(text, "events.log")] == [2]


def test_a_key_used_as_a_file_name(tmp_path: Path) -> None:
    key = stripe()
    path = tmp_path / f"{key}.csv"
    path.write_text("a,b\n1,2\n")
    findings = Scanner().scan_file(path)
    assert [(f.line, f.rule) for f in findings] == [(0, "stripe-secret-key")]
    assert str(findings[0]).endswith("(file name) stripe-secret-key sk_l…")
    assert key not in str(findings[0])


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: base64.b64encode(s.encode()).decode(),
        lambda s: base64.urlsafe_b64encode(f"KEY={s}".encode()).decode().rstrip("="),
        lambda s: s.encode().hex(),
    ],
)
def test_encoded_keys_are_decoded(encode: object) -> None:
    key = aws()
    blob = encode(key)  # type: ignore[operator]
    data = json.dumps({"run": 7, "note": blob}, indent=2).encode()
    assert found(data, "metadata.json") == [("metadata.json", 3, "aws-access-key-id")]


def test_random_base64_and_hex_are_not_findings() -> None:
    blobs = [base64.b64encode(RNG.randbytes(48)).decode() for _ in range(20)]
    blobs += [RNG.randbytes(32).hex() for _ in range(20)]
    assert found("\n".join(f"digest={b}" for b in blobs).encode(), "events.log") == []


def test_a_key_split_over_adjacent_csv_cells() -> None:
    key = aws()
    data = f"venue,part1,part2\nbinance,{key[:9]},{key[9:]}\nkraken,abc,def\n".encode()
    assert found(data, "keys.csv") == [("keys.csv", 2, "aws-access-key-id")]
    rng = random.Random(15)
    for _ in range(20):
        secret = "".join(rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGH23456789") for _ in range(40))
        pair = f"name,value,rest\napi_secret,{secret[:20]},{secret[20:]}\n".encode()
        assert [f.line for f in Scanner().scan_bytes(pair, "creds.csv")] == [2]


def test_a_quoted_csv_cell_over_several_lines() -> None:
    key = stripe()
    data = f'id,note\n1,"rotated:\n{key[:12]}\n{key[12:]}"\n2,ok\n3,"{key}"\n'.encode()
    assert found(data, "notes.csv") == [("notes.csv", 2, "stripe-secret-key")] * 1 + [
        ("notes.csv", 6, "stripe-secret-key")
    ]


def _pem_private_key(tmp_path: Path, kind: str) -> str:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    key = tmp_path / f"k_{kind}"
    args = {
        "rsa": ["-t", "rsa", "-b", "2048", "-m", "PEM"],
        "pkcs8": ["-t", "ecdsa", "-m", "PKCS8"],
    }
    subprocess.run(
        ["ssh-keygen", "-q", *args.get(kind, ["-t", "ed25519"]), "-N", "", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return key.read_text()


@pytest.mark.parametrize("kind", ["rsa", "pkcs8", "openssh"])
def test_a_pem_body_without_its_begin_end_lines(tmp_path: Path, kind: str) -> None:
    pem = _pem_private_key(tmp_path, kind)
    body = [line for line in pem.strip().splitlines() if not line.startswith("-----")]
    data = ("signing material for the FIX session:\n" + "\n".join(body) + "\n").encode()
    assert found(data, "handoff.txt") == [("handoff.txt", 2, "private-key")]
    one_line = json.dumps({"key": "".join(body)}).encode()
    assert found(one_line, "k.json") == [("k.json", 1, "private-key")]
    # with its BEGIN line it is reported once, on that line
    assert found(pem.encode(), "id_key") == [("id_key", 1, "private-key")]


def test_public_keys_and_certificates_are_not_private_keys(tmp_path: Path) -> None:
    _pem_private_key(tmp_path, "rsa")
    pub = (tmp_path / "k_rsa.pub").read_text().split()[1]
    assert found(f"ssh-rsa {pub} ci@runner\n".encode(), "authorized_keys") == []
    spki = subprocess.run(
        ["ssh-keygen", "-e", "-m", "PKCS8", "-f", str(tmp_path / "k_rsa.pub")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    body = "\n".join(line for line in spki.splitlines() if not line.startswith("-----"))
    assert found((body + "\n").encode(), "pub.txt") == []


def test_a_working_directory_is_not_a_password() -> None:
    log = b"env PWD=/home/ci/work/output OLDPWD=/home/ci\npwd: ~/work\n"
    assert found(log, "events.log") == []


def _store(tmp_path: Path) -> ArtifactStore:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "init"],
        check=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@e",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@e",
            "PATH": "/usr/bin:/bin",
        },
    )
    return ArtifactStore(ArtifactStoreConfig(repo_path=repo, auto_push=False))


def _refs(repo: Path) -> str:
    out = subprocess.run(["git", "-C", str(repo), "for-each-ref"], capture_output=True, text=True)
    return out.stdout


@pytest.mark.parametrize("where", ["name", "metadata", "archive"])
def test_the_store_refuses_a_key_in_a_name_its_metadata_or_an_archive(
    tmp_path: Path, where: str
) -> None:
    store = _store(tmp_path)
    repo = tmp_path / "repo"
    before = _refs(repo)
    key = stripe()
    src = tmp_path / "out"
    src.mkdir()
    (src / "strategy.py").write_text("x = 1\n")
    files = [src / "strategy.py"]
    metadata: dict[str, object] = {}
    if where == "name":
        (src / f"{key}.csv").write_text("a\n1\n")
        files.append(src / f"{key}.csv")
    elif where == "metadata":
        metadata["note"] = base64.b64encode(f"STRIPE={key}".encode()).decode()
    else:
        (src / "trades.csv.gz").write_bytes(gzip.compress(trades_csv(key)))
        files.append(src / "trades.csv.gz")
    with pytest.raises(SecretDetectedError) as info:
        store.commit_artifacts("wf", "t1", files, correlation_id="c1", metadata=metadata)
    findings: list[Finding] = info.value.findings
    assert findings and all(f.rule == "stripe-secret-key" for f in findings)
    assert key not in str(info.value)
    assert _refs(repo) == before  # nothing landed
