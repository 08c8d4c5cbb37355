"""A third, outside-in corpus for the secret scanner: a quant/backtest repository as an AI agent
and its CI would leave it, written from how public secret scanners are tested (gitleaks' rule
true/false-positive lists and its per-syntax sample matrix, detect-secrets' keyword and
heuristic-filter tests, trufflehog's private-key normalisation cases) and never from this
project's scanner.

``build(root, seed)`` writes the files and returns a :class:`Truth`. Every secret value is
synthesised at run time from the seed, with its provider's real shape and a random body (GitHub
and npm tokens carry a valid CRC32 checksum, PEM blocks hold real DER keys made here in pure
Python). Nothing here is a live credential.

Scoring rules (shared by tests/test_scanner_external.py and benchmarks/scan_external.py):

* A location is ``(relative posix path, 1-based line)`` of the line that holds the secret text.
* Lines that belong to the same secret (the other lines of a PEM block, the key line of a YAML
  block scalar or of a multi-line XML element, the opening line of a quoted multi-line CSV
  cell, a key-name line right next to its private key) are listed in ``Truth.spans`` and count
  as that secret's location: a finding there is neither a second hit nor a false alarm.
* Containers (``.gz``, ``.zip``, ``.tar.gz``) that hold a secret are one location
  ``(container, 1)``. A finding whose path equals the container path or starts with
  ``container + "!"`` (the scanner names members ``outer.zip!inner/file.csv``) is a hit on it.
  A container without a secret is not a location: any finding in it is a false alarm.
* recall = distinct true locations found / all true locations; precision = distinct true
  locations found / (those + distinct false-alarm (path, line) pairs).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import math
import random
import string
import struct
import tarfile
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from urllib.parse import quote

Loc = tuple[str, int]
Words = tuple[str, ...]

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
# Random bodies must never read like a placeholder by chance.
_STOP = ("example", "test", "fake", "dummy", "xxxx", "sample", "demo", "your", "changeme", "redact")


@dataclass
class Truth:
    locations: set[Loc] = field(default_factory=set)
    values: list[str] = field(default_factory=list)
    spans: dict[Loc, Loc] = field(default_factory=dict)
    containers: set[str] = field(default_factory=set)
    kinds: dict[Loc, str] = field(default_factory=dict)
    files: int = 0

    def canonical(self, path: str, line: int) -> Loc:
        """The location a finding at (path, line) counts for (itself when it is no secret's)."""
        for outer in self.containers:
            if (path == outer or path.startswith(outer + "!")) and (outer, 1) in self.locations:
                return (outer, 1)
        return self.spans.get((path, line), (path, line))


@dataclass
class Quality:
    recall: float
    precision: float
    hits: int
    misses: list[Loc]
    false_alarms: list[Loc]


def judge(found: Iterable[Loc], truth: Truth) -> Quality:
    hit: set[Loc] = set()
    false: set[Loc] = set()
    for path, line in found:
        loc = truth.canonical(path, line)
        (hit if loc in truth.locations else false).add(loc)
    misses = sorted(truth.locations - hit)
    total = len(hit) + len(false)
    return Quality(
        recall=len(hit) / len(truth.locations) if truth.locations else 1.0,
        precision=len(hit) / total if total else 1.0,
        hits=len(hit),
        misses=misses,
        false_alarms=sorted(false),
    )


# --------------------------------------------------------------------------- value factories


def _words_ok(value: str) -> bool:
    low = value.lower()
    return not any(stop in low for stop in _STOP)


def _b62(number: int) -> str:
    out = ""
    while number:
        number, digit = divmod(number, 62)
        out = BASE62[digit] + out
    return out.rjust(6, "0")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def _der_int(n: int) -> bytes:
    raw = n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big")
    return _der(0x02, raw)


def _der_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.insert(0, 0x80 | (part & 0x7F))
            part >>= 7
        body += bytes(chunk)
    return _der(0x06, body)


def _seq(*items: bytes) -> bytes:
    return _der(0x30, b"".join(items))


_SMALL_PRIMES = [p for p in range(3, 3000) if all(p % q for q in range(2, int(p**0.5) + 1))]
_PRIMORIAL = 1
for _p in _SMALL_PRIMES:
    _PRIMORIAL *= _p


def _is_prime(n: int, rng: random.Random) -> bool:
    if math.gcd(n, _PRIMORIAL) != 1:
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(8):
        x = pow(rng.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if candidate % 65537 != 1 and _is_prime(candidate, rng):
            return candidate


# NIST P-256, for real SEC1 EC private keys.
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)
Jac = tuple[int, int, int]


def _jac_double(p: Jac) -> Jac:
    x, y, z = p
    if y == 0:
        return (0, 1, 0)
    ysq = y * y % _P
    s = 4 * x * ysq % _P
    m = (3 * x * x + _A * pow(z, 4, _P)) % _P
    nx = (m * m - 2 * s) % _P
    return (nx, (m * (s - nx) - 8 * ysq * ysq) % _P, 2 * y * z % _P)


def _jac_add(p: Jac, q: Jac) -> Jac:
    if p[2] == 0:
        return q
    if q[2] == 0:
        return p
    z1z1, z2z2 = p[2] * p[2] % _P, q[2] * q[2] % _P
    u1, u2 = p[0] * z2z2 % _P, q[0] * z1z1 % _P
    s1, s2 = p[1] * z2z2 * q[2] % _P, q[1] * z1z1 * p[2] % _P
    if u1 == u2:
        return _jac_double(p) if s1 == s2 else (0, 1, 0)
    h, r = (u2 - u1) % _P, (s2 - s1) % _P
    hh = h * h % _P
    hhh, v = h * hh % _P, u1 * hh % _P
    nx = (r * r - hhh - 2 * v) % _P
    return (nx, (r * (v - nx) - s1 * hhh) % _P, h * p[2] * q[2] % _P)


def _ec_mul(k: int) -> tuple[int, int]:
    result: Jac = (0, 1, 0)
    addend: Jac = (_G[0], _G[1], 1)
    while k:
        if k & 1:
            result = _jac_add(result, addend)
        addend = _jac_double(addend)
        k >>= 1
    zinv = pow(result[2], _P - 2, _P)
    return (result[0] * zinv * zinv % _P, result[1] * zinv * zinv * zinv % _P)


def _wrap(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


class Gen:
    """Seeded factories: provider-shaped secrets and look-alike non-secrets."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    # primitives
    def pick(self, alphabet: str, n: int) -> str:
        while True:
            out = "".join(self.rng.choice(alphabet) for _ in range(n))
            if _words_ok(out):
                return out

    def alnum(self, n: int) -> str:
        while True:
            out = self.pick(ALNUM, n)
            if any(c.isdigit() for c in out) and any(c.isupper() for c in out):
                return out

    def hex(self, n: int) -> str:
        return self.pick(HEX, n)

    def b64(self, nbytes: int) -> str:
        while True:
            out = base64.b64encode(self.rng.randbytes(nbytes)).decode()
            if _words_ok(out):
                return out

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def choice(self, items: Sequence[str]) -> str:
        return self.rng.choice(items)

    # providers
    def aws_key_id(self) -> str:
        return self.choice(["AKIA", "AKIA", "AKIA", "ASIA"]) + self.pick(
            string.ascii_uppercase + "234567", 16
        )

    def aws_secret(self) -> str:
        return self.pick(B64, 40)

    def gh_classic(self, prefix: str = "ghp") -> str:
        body = self.alnum(30)
        return f"{prefix}_{body}{_b62(zlib.crc32(body.encode()))}"

    def gh_fine(self) -> str:
        return f"github_pat_{self.alnum(22)}_{self.alnum(59)}"

    def npm(self) -> str:
        body = self.alnum(30)
        return f"npm_{body}{_b62(zlib.crc32(body.encode()))}"

    def gitlab(self) -> str:
        return "glpat-" + self.pick(URLSAFE, 20)

    def slack_bot(self) -> str:
        return (
            f"xoxb-{self.pick(string.digits, 12)}-{self.pick(string.digits, 13)}-{self.alnum(24)}"
        )

    def slack_user(self) -> str:
        d = string.digits
        return f"xoxp-{self.pick(d, 12)}-{self.pick(d, 12)}-{self.pick(d, 13)}-{self.hex(32)}"

    def slack_hook(self) -> tuple[str, str]:
        token = self.alnum(24)
        url = (
            f"https://hooks.slack.com/services/T{self.pick(UPPER_ALNUM, 8)}"
            f"/B{self.pick(UPPER_ALNUM, 10)}/{token}"
        )
        return url, token

    def stripe(self, prefix: str = "sk_live_") -> str:
        return prefix + (self.alnum(24) if self.rng.random() < 0.4 else "51" + self.alnum(97))

    def stripe_webhook(self) -> str:
        return "whsec_" + self.alnum(32)

    def openai(self) -> str:
        if self.rng.random() < 0.6:
            return f"sk-proj-{self.pick(URLSAFE, 74)}T3BlbkFJ{self.pick(URLSAFE, 74)}"
        return f"sk-{self.alnum(20)}T3BlbkFJ{self.alnum(20)}"

    def anthropic(self) -> str:
        return f"sk-ant-api03-{self.pick(URLSAFE, 93)}AA"

    def hf(self) -> str:
        return "hf_" + self.pick(string.ascii_letters, 34)

    def sendgrid(self) -> str:
        return f"SG.{self.pick(URLSAFE, 22)}.{self.pick(URLSAFE, 43)}"

    def twilio_key(self) -> str:
        return "SK" + self.hex(32)

    def telegram(self) -> str:
        return f"{self.rng.randint(100000000, 7999999999)}:AA{self.pick(URLSAFE, 33)}"

    def google(self) -> str:
        return "AIza" + self.pick(URLSAFE, 35)

    def pypi(self) -> str:
        return "pypi-AgEIcHlwaS5vcmc" + _b64url(self.rng.randbytes(120))

    def jwt(self) -> str:
        header = {"alg": self.choice(["HS256", "RS256"]), "typ": "JWT"}
        now = self.rng.randint(1_700_000_000, 1_730_000_000)
        payload = {"sub": self.uuid(), "iat": now, "exp": now + 3600, "scope": "trade:write"}
        sig = self.rng.randbytes(32 if header["alg"] == "HS256" else 256)
        parts = [json.dumps(x, separators=(",", ":")).encode() for x in (header, payload)]
        return ".".join([*(_b64url(p) for p in parts), _b64url(sig)])

    def fernet(self) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(32)).decode()

    def wallet_key(self) -> str:
        return self.hex(64)

    def password(self) -> str:
        words = [
            "Trading", "Desk", "Alpha", "Hedge", "Falcon", "Harbor", "Quant", "Orchid",
            "Granite", "Maple", "Copper", "Summit", "Velvet", "Pioneer", "Nimbus", "Atlas",
            "Cobalt", "Ember", "Lantern", "Meadow", "Raven", "Tundra", "Willow", "Zephyr",
        ]  # fmt: skip
        leet = {"a": "4", "e": "3", "o": "0", "i": "1"}
        while True:
            first, second = self.rng.sample(words, 2)
            first = "".join(leet.get(c, c) if self.rng.random() < 0.45 else c for c in first)
            sym = self.rng.choice("!#*-_.@+")
            sym2 = self.rng.choice("!#*-_.@+")
            tail = str(self.rng.choice([self.rng.randint(1990, 2025), self.rng.randint(7, 999)]))
            out = f"{first}{sym}{second}{sym2}{tail}"
            if any(c.isdigit() for c in out) and _words_ok(out):
                return out

    def url_password(self) -> str:
        return quote(self.password(), safe="!*-_.+")

    def generic(self) -> str:
        shape = self.rng.randrange(5)
        if shape == 0:
            return self.alnum(self.rng.choice([32, 40, 48, 64]))
        if shape == 1:
            return self.hex(self.rng.choice([32, 40, 64]))
        if shape == 2:
            return self.b64(self.rng.choice([30, 33, 48]))
        if shape == 3:
            return _b64url(self.rng.randbytes(32))
        return self.alnum(self.rng.randint(24, 44))

    # exchange pairs: (key, secret) or (key, secret, passphrase)
    def binance(self) -> tuple[str, str]:
        return self.alnum(64), self.alnum(64)

    def alpaca_key(self) -> str:
        return self.choice(["PK", "AK"]) + self.pick(UPPER_ALNUM, 18)

    def alpaca(self) -> tuple[str, str]:
        return self.alpaca_key(), self.alnum(40)

    def kraken(self) -> tuple[str, str]:
        return self.b64(42), self.b64(64)

    def coinbase(self) -> tuple[str, str, str]:
        return self.hex(32), self.b64(64), self.pick(LOWER_ALNUM, 11)

    def bybit(self) -> tuple[str, str]:
        return self.alnum(18), self.alnum(36)

    def okx(self) -> tuple[str, str, str]:
        return self.uuid(), self.pick("0123456789ABCDEF", 32), self.password()

    def kucoin(self) -> tuple[str, str, str]:
        return self.hex(24), self.uuid(), self.password()

    # look-alikes that are not secrets
    def sha1(self) -> str:
        return self.hex(40)

    def sha256(self) -> str:
        return self.hex(64)

    def eth_address(self) -> str:
        return "0x" + self.hex(40)

    def tx_hash(self) -> str:
        return "0x" + self.hex(64)

    def page_token(self, symbol: str) -> str:
        r = self.rng
        stamp = f"{r.randint(2019, 2024)}-0{r.randint(1, 9)}-1{r.randint(0, 9)}T14:30:00Z"
        cursor = f"{symbol}|{stamp}|{r.randint(10**8, 10**9)}"
        return base64.b64encode(cursor.encode()).decode()

    # keys
    def rsa_der(self, bits: int) -> tuple[bytes, bytes, bytes]:
        """(PKCS#1 private, PKCS#8 private, SubjectPublicKeyInfo) DER of a real RSA key."""
        e = 65537
        while True:
            p, q = _prime(bits // 2, self.rng), _prime(bits // 2, self.rng)
            phi = (p - 1) * (q - 1)
            if p != q and phi % e:
                break
        n, d = p * q, pow(e, -1, phi)
        pkcs1 = _seq(
            *(_der_int(x) for x in (0, n, e, d, p, q, d % (p - 1), d % (q - 1), pow(q, -1, p)))
        )
        alg = _seq(_der_oid("1.2.840.113549.1.1.1"), b"\x05\x00")
        pkcs8 = _seq(_der_int(0), alg, _der(0x04, pkcs1))
        spki = _seq(alg, _der(0x03, b"\x00" + _seq(_der_int(n), _der_int(e))))
        return pkcs1, pkcs8, spki

    def ec_der(self) -> bytes:
        d = self.rng.randrange(1, _N)
        x, y = _ec_mul(d)
        point = b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")
        return _seq(
            _der_int(1),
            _der(0x04, d.to_bytes(32, "big")),
            _der(0xA0, _der_oid("1.2.840.10045.3.1.7")),
            _der(0xA1, _der(0x03, b"\x00" + point)),
        )

    def openssh_der(self) -> bytes:
        def s(b: bytes) -> bytes:
            return struct.pack(">I", len(b)) + b

        seed, pub = self.rng.randbytes(32), self.rng.randbytes(32)
        pub_blob = s(b"ssh-ed25519") + s(pub)
        check = self.rng.randbytes(4)
        private = check + check + s(b"ssh-ed25519") + s(pub) + s(seed + pub) + s(b"ci@runner")
        private += bytes(range(1, 1 + (-len(private)) % 8))
        return (
            b"openssh-key-v1\x00"
            + s(b"none")
            + s(b"none")
            + s(b"")
            + struct.pack(">I", 1)
            + s(pub_blob)
            + s(private)
        )

    def pem(self, kind: str, rsa: tuple[bytes, bytes, bytes] | None = None) -> list[str]:
        if kind == "RSA":
            der, label, width = (rsa or self.rsa_der(1024))[0], "RSA PRIVATE KEY", 64
        elif kind == "PKCS8":
            der, label, width = self.rsa_der(1024)[1], "PRIVATE KEY", 64
        elif kind == "EC":
            der, label, width = self.ec_der(), "EC PRIVATE KEY", 64
        else:
            der, label, width = self.openssh_der(), "OPENSSH PRIVATE KEY", 70
        body = _wrap(base64.b64encode(der).decode(), width)
        return [f"-----BEGIN {label}-----", *body, f"-----END {label}-----"]

    def cert_pem(self) -> list[str]:
        tbs = _seq(
            _der(0xA0, _der_int(2)),
            _der_int(self.rng.getrandbits(120)),
            _seq(_der_oid("1.2.840.113549.1.1.11"), b"\x05\x00"),
            _der(0x04, self.rng.randbytes(420)),
        )
        der = _seq(
            tbs,
            _seq(_der_oid("1.2.840.113549.1.1.11"), b"\x05\x00"),
            _der(0x03, b"\x00" + self.rng.randbytes(256)),
        )
        body = _wrap(base64.b64encode(der).decode(), 64)
        return ["-----BEGIN CERTIFICATE-----", *body, "-----END CERTIFICATE-----"]

    def png_b64(self) -> str:
        w, h = 48, 24
        rows = b"".join(b"\x00" + self.rng.randbytes(w * 3) for _ in range(h))

        def chunk(tag: bytes, data: bytes) -> bytes:
            return (
                struct.pack(">I", len(data))
                + tag
                + data
                + struct.pack(">I", zlib.crc32(tag + data))
            )

        png = (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b"")
        )
        return base64.b64encode(png).decode()


# --------------------------------------------------------------------------- documents


@dataclass
class Doc:
    """A text file built line by line; ``hot`` lines hold secrets, ``span`` maps companions."""

    path: str
    lines: list[str] = field(default_factory=list)
    hot: dict[int, tuple[str, list[str]]] = field(default_factory=dict)
    span: dict[int, int] = field(default_factory=dict)
    used: set[Words] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.path = PurePosixPath(self.path).as_posix()

    def n(self, *lines: str) -> None:
        for line in lines:
            self.lines.extend(line.split("\n"))

    def s(self, line: str, kind: str, *values: str) -> int:
        assert "\n" not in line
        assert all(v in line for v in values), (kind, line)
        self.lines.append(line)
        self.hot[len(self.lines)] = (kind, list(values))
        return len(self.lines)

    def block(self, lines: Sequence[str], kind: str, values: Sequence[str], hot: int = 0) -> None:
        """A secret spread over lines; ``lines[hot]`` is its location, the rest are spans."""
        start = len(self.lines) + 1
        self.lines.extend(lines)
        anchor = start + hot
        self.hot[anchor] = (kind, list(values))
        for i in range(len(lines)):
            if start + i != anchor:
                self.span[start + i] = anchor

    def mix(self, rng: random.Random, items: list[Callable[[Doc], object]]) -> None:
        rng.shuffle(items)
        for item in items:
            item(self)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class Corpus:
    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.g = Gen(seed)
        self.rng = self.g.rng
        self.truth = Truth()

    def _record(self, path: str, line: int, kind: str, values: Iterable[str]) -> None:
        self.truth.locations.add((path, line))
        self.truth.kinds[(path, line)] = kind
        self.truth.values.extend(values)

    def write_bytes(self, path: str, data: bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.truth.files += 1

    def doc(
        self, doc: Doc, encoding: str = "utf-8", newline: str = "\n", prefix: bytes = b""
    ) -> None:
        self.write_bytes(doc.path, prefix + doc.text().replace("\n", newline).encode(encoding))
        for line, (kind, values) in doc.hot.items():
            self._record(doc.path, line, kind, values)
        for line, anchor in doc.span.items():
            self.truth.spans[(doc.path, line)] = (doc.path, anchor)

    def found_text(self, path: str, text: str, secrets: Sequence[tuple[str, str]]) -> None:
        """Write serialised text (JSON, notebooks) and locate each secret by searching for it."""
        path = PurePosixPath(path).as_posix()
        self.write_bytes(path, text.encode())
        lines = text.split("\n")
        for kind, value in secrets:
            where = [i for i, line in enumerate(lines, 1) if value in line]
            assert where, (path, kind)
            for line in where:
                self._record(path, line, kind, [value])

    def container(self, path: str, data: bytes, kind: str, values: Sequence[str]) -> None:
        self.write_bytes(path, data)
        self.truth.containers.add(path)
        if values:
            self._record(path, 1, kind, values)


# --------------------------------------------------------------------------- naming & syntax


def snake(w: Words) -> str:
    return "_".join(w)


def upper(w: Words) -> str:
    return "_".join(w).upper()


def camel(w: Words) -> str:
    return w[0] + "".join(x.capitalize() for x in w[1:])


def pascal(w: Words) -> str:
    return "".join(x.capitalize() for x in w)


def dotted(w: Words) -> str:
    return ".".join(w)


PLACEHOLDERS = [
    "your-api-key", "<API_KEY>", "xxx", "xxxxxxxxxxxxxxxxxxxxxxxx", "********", "changeme",
    "dummy", "test", "YOUR_SECRET_HERE", "<your-secret>", "REPLACE_ME", "TODO", "placeholder",
    "<redacted>", "***", "none", "",
]  # fmt: skip

GENERIC_NAMES: list[Words] = [
    ("api", "secret"), ("client", "secret"), ("signing", "secret"), ("webhook", "secret"),
    ("hmac", "key"), ("secret", "key"), ("app", "secret"), ("session", "secret"),
    ("master", "key"), ("private", "token"), ("refresh", "token"), ("access", "token"),
    ("auth", "token"), ("consumer", "secret"), ("encryption", "key"), ("api", "key"),
]  # fmt: skip
PASSWORD_NAMES: list[Words] = [
    ("db", "password"), ("password",), ("postgres", "password"), ("broker", "password"),
    ("smtp", "password"), ("redis", "password"), ("mysql", "root", "password"), ("passwd",),
]  # fmt: skip

# kind, the names it goes by, and a factory for its value.
Spec = tuple[str, list[Words], Callable[[Gen], str]]
SPECS: list[Spec] = [
    ("aws-key-id", [("aws", "access", "key", "id")], Gen.aws_key_id),
    ("aws-secret", [("aws", "secret", "access", "key")], Gen.aws_secret),
    ("github-classic", [("github", "token"), ("gh", "token")], Gen.gh_classic),
    ("github-app", [("github", "app", "token")], lambda g: g.gh_classic(g.choice(["ghs", "gho"]))),
    ("github-fine-grained", [("github", "pat")], Gen.gh_fine),
    ("gitlab", [("gitlab", "token")], Gen.gitlab),
    ("slack-bot", [("slack", "bot", "token")], Gen.slack_bot),
    ("slack-user", [("slack", "token")], Gen.slack_user),
    ("stripe-live", [("stripe", "secret", "key")], Gen.stripe),
    ("stripe-test", [("stripe", "api", "key")], lambda g: g.stripe("sk_test_")),
    ("stripe-restricted", [("stripe", "restricted", "key")], lambda g: g.stripe("rk_live_")),
    ("stripe-webhook", [("stripe", "webhook", "secret")], Gen.stripe_webhook),
    ("openai", [("openai", "api", "key")], Gen.openai),
    ("anthropic", [("anthropic", "api", "key")], Gen.anthropic),
    ("huggingface", [("hf", "token"), ("huggingface", "token")], Gen.hf),
    ("sendgrid", [("sendgrid", "api", "key")], Gen.sendgrid),
    ("twilio-auth-token", [("twilio", "auth", "token")], lambda g: g.hex(32)),
    ("twilio-api-key", [("twilio", "api", "key")], Gen.twilio_key),
    ("telegram", [("telegram", "bot", "token")], Gen.telegram),
    ("jwt", [("access", "token"), ("jwt", "token"), ("bearer", "token")], Gen.jwt),
    ("google-api-key", [("google", "api", "key")], Gen.google),
    ("npm", [("npm", "token")], Gen.npm),
    ("fernet", [("fernet", "key"), ("encryption", "key")], Gen.fernet),
    (
        "wallet-private-key",
        [("private", "key"), ("wallet", "private", "key"), ("eth", "private", "key")],
        lambda g: g.choice(["", "0x"]) + g.wallet_key(),
    ),
    ("binance-key", [("binance", "api", "key")], lambda g: g.alnum(64)),
    (
        "binance-secret",
        [("binance", "api", "secret"), ("binance", "secret")],
        lambda g: g.alnum(64),
    ),
    ("alpaca-key-id", [("alpaca", "api", "key"), ("apca", "api", "key", "id")], Gen.alpaca_key),
    (
        "alpaca-secret",
        [("alpaca", "secret", "key"), ("apca", "api", "secret", "key")],
        lambda g: g.alnum(40),
    ),
    ("kraken-key", [("kraken", "api", "key")], lambda g: g.b64(42)),
    ("kraken-private", [("kraken", "private", "key")], lambda g: g.b64(64)),
    ("coinbase-key", [("coinbase", "api", "key")], lambda g: g.hex(32)),
    ("coinbase-secret", [("coinbase", "api", "secret")], lambda g: g.b64(64)),
    ("coinbase-passphrase", [("coinbase", "passphrase")], lambda g: g.pick(LOWER_ALNUM, 11)),
    ("bybit-key", [("bybit", "api", "key")], lambda g: g.alnum(18)),
    ("bybit-secret", [("bybit", "api", "secret")], lambda g: g.alnum(36)),
    ("okx-uuid-key", [("okx", "api", "key")], Gen.uuid),
    ("okx-secret", [("okx", "secret", "key")], lambda g: g.pick("0123456789ABCDEF", 32)),
    ("okx-passphrase", [("okx", "passphrase")], Gen.password),
    ("kucoin-key", [("kucoin", "api", "key")], lambda g: g.hex(24)),
    ("kucoin-uuid-secret", [("kucoin", "api", "secret")], Gen.uuid),
    ("kucoin-passphrase", [("kucoin", "api", "passphrase")], Gen.password),
    ("polygon", [("polygon", "api", "key")], lambda g: g.alnum(32)),
    ("alphavantage-short", [("alphavantage", "api", "key")], lambda g: g.pick(UPPER_ALNUM, 16)),
    ("tiingo-hex", [("tiingo", "token")], lambda g: g.hex(40)),
    ("fred-hex", [("fred", "api", "key")], lambda g: g.hex(32)),
    ("datadog-hex", [("dd", "api", "key")], lambda g: g.hex(32)),
    ("password", PASSWORD_NAMES, Gen.password),
    ("password", PASSWORD_NAMES, Gen.password),
    ("generic", GENERIC_NAMES, Gen.generic),
    ("generic", GENERIC_NAMES, Gen.generic),
    ("generic", GENERIC_NAMES, Gen.generic),
]
ALL_NAMES: list[Words] = sorted({words for _, names, _ in SPECS for words in names})

MenuItem = tuple[str, Words, str]


def draw(g: Gen, k: int, doc: Doc | None = None) -> list[MenuItem]:
    """k named secrets with distinct names (distinct kinds where possible), fresh values.

    With ``doc``, names already used in it are avoided and the new ones are reserved, so that
    a file never assigns the same key twice."""
    out: list[MenuItem] = []
    seen: set[Words] = set() if doc is None else doc.used
    while len(out) < k:
        specs = list(SPECS)
        g.rng.shuffle(specs)
        for kind, names, factory in specs:
            words = g.rng.choice(names)
            if words not in seen:
                seen.add(words)
                out.append((kind, words, factory(g)))
            if len(out) == k:
                break
    return out


# Positive shapes per language: (name style, template). {n} is the styled name, {u} the
# UPPER_SNAKE name, {v} the value. A template may carry context lines around the secret line
# so that every file stays well-formed in its language.
POS: dict[str, list[tuple[Callable[[Words], str], str]]] = {
    "py": [
        (upper, '{n} = "{v}"'),
        (snake, "{n} = '{v}'"),
        (snake, 'CREDENTIALS = {{\n    "{n}": "{v}",\n}}'),
        (upper, 'os.environ.setdefault("{n}", "{v}")'),
        (upper, '{n} = os.getenv("{n}", "{v}")'),
        (snake, "\n@dataclass\nclass {p}Config:\n    {n}: str = '{v}'\n"),
        (snake, 'session = connect(\n    {n}="{v}",\n    timeout=30,\n)'),
        (upper, "# rotated 2024-03-02, old {n} was {v}"),
    ],
    "ts": [
        (camel, 'const {n}: string = "{v}";'),
        (camel, "export const {n} = '{v}';"),
        (camel, 'export const venue = {{\n  {n}: "{v}",\n  timeoutMs: 5000,\n}};'),
        (upper, "const {n} = `{v}`;"),
        (camel, "class {p}Client {{\n  private readonly {n} = '{v}';\n}}"),
        (camel, 'const {n} = process.env.{u} ?? "{v}";'),
    ],
    "js": [
        (camel, 'const {n} = "{v}";'),
        (camel, "let {n} = '{v}';"),
        (camel, "const opts = {{\n  {n}: '{v}',\n  retries: 3,\n}};"),
        (upper, 'module.exports.{n} = "{v}";'),
        (upper, "process.env.{n} = '{v}';"),
    ],
    "go": [
        (camel, '\t{n} := "{v}"'),
        (camel, '\tvar {n} = "{v}"'),
        (pascal, '\tconst {n} = "{v}"'),
        (camel, "\t{n} := `{v}`"),
        (pascal, '\tcfg := Config{{\n\t\t{n}: "{v}",\n\t\tTimeout: 10 * time.Second,\n\t}}'),
        (camel, '\tvar {n} string = "{v}"'),
    ],
    "rust": [
        (upper, '    const {n}: &str = "{v}";'),
        (snake, '    let {n} = "{v}";'),
        (snake, '    let {n}: &str = "{v}";'),
        (upper, '    static {n}: &str = "{v}";'),
        (snake, '    let cfg = Config {{\n        {n}: "{v}".to_string(),\n    }};'),
        (snake, '    let creds = Creds {{\n        {n}: String::from("{v}"),\n    }};'),
    ],
    "java": [
        (upper, '    private static final String {n} = "{v}";'),
        (camel, '    String {n} = "{v}";'),
        (
            camel,
            "    private final Client client = Client.builder()\n"
            '            .{n}("{v}")\n'
            "            .build();",
        ),
        (dotted, '    static {{\n        PROPS.setProperty("{n}", "{v}");\n    }}'),
        (camel, '    private String {n} = "{v}";'),
    ],
    "kotlin": [
        (camel, '    val {n} = "{v}"'),
        (upper, '    const val {n} = "{v}"'),
        (camel, '    private val {n}: String = "{v}"'),
        (camel, '    var {n} = "{v}"'),
    ],
    "cs": [
        (pascal, '        private const string {n} = "{v}";'),
        (camel, '        private string {n} = "{v}";'),
        (camel, '        public void Init()\n        {{\n            var {n} = "{v}";\n        }}'),
        (
            pascal,
            "        static readonly Options {n}Defaults = new Options\n"
            '        {{\n            {n} = "{v}",\n        }};',
        ),
        (pascal, '        public string {n} {{ get; set; }} = "{v}";'),
    ],
    "yaml": [
        (snake, "  {n}: {v}"),
        (snake, '  {n}: "{v}"'),
        (snake, "  {n}: '{v}'"),
        (camel, "  {n}: {v}"),
        (upper, "  {n}: {v}"),
    ],
    "toml": [(snake, '{n} = "{v}"'), (snake, "{n} = '{v}'"), (camel, '{n} = "{v}"')],
    "ini": [(snake, "{n} = {v}"), (snake, "{n}={v}"), (camel, "{n} = {v}")],
    "env": [
        (upper, "{n}={v}"),
        (upper, '{n}="{v}"'),
        (upper, "export {n}={v}"),
        (upper, "{n}='{v}'"),
    ],
    "properties": [(dotted, "{n}={v}"), (dotted, "{n} = {v}"), (dotted, "{n}: {v}")],
    "hcl": [(snake, '  {n} = "{v}"'), (snake, '  {n}    = "{v}"')],
    "shell": [
        (upper, "export {n}='{v}'"),
        (upper, '{n}="{v}" python -m backtest.run --live'),
        (upper, 'export {n}="{v}"'),
        (upper, "{n}={v} ./scripts/sync.sh"),
    ],
    "xml": [
        (camel, "    <{n}>{v}</{n}>"),
        (pascal, '    <add key="{n}" value="{v}" />'),
        (snake, '    <entry name="{n}" value="{v}"/>'),
        (dotted, '    <property name="{n}">{v}</property>'),
        (camel, '    <credential {n}="{v}" />'),
    ],
    "docker": [(upper, "ENV {n}={v}"), (upper, "ENV {n} {v}"), (upper, "ARG {n}={v}")],
    "make": [(upper, "{n} ?= {v}"), (upper, "{n} := {v}"), (upper, "{n} = {v}")],
}


def put(doc: Doc, g: Gen, lang: str, item: MenuItem) -> None:
    """Plant one named secret in ``lang`` syntax; its context lines are plain lines."""
    kind, words, value = item
    style, template = g.rng.choice(POS[lang])
    doc.used.add(words)
    text = template.format(n=style(words), u=upper(words), p=pascal(words), v=value)
    for line in text.split("\n"):
        if value in line:
            doc.s(line, kind, value)
        else:
            doc.n(line)


def neg(g: Gen, lang: str, words: Words) -> str:
    """Lines naming a secret without holding one (an env lookup, a placeholder, a type...)."""
    r = g.rng
    ph = r.choice(PLACEHOLDERS)
    sn, up, cm, pc, dt = snake(words), upper(words), camel(words), pascal(words), dotted(words)
    kb = "-".join(words)
    table: dict[str, list[str]] = {
        "py": [
            f'{up} = os.getenv("{up}")',
            f'{sn} = os.environ["{up}"]',
            f'{sn} = os.environ.get("{up}", "")',
            f"{sn}: str | None = None",
            f"session = connect(\n    {sn}=creds.{sn},\n    timeout=30,\n)",
            f"{sn} = settings.{up}",
            f'{sn} = "{ph}"',
            f"\ndef login_with_{sn}({sn}: str) -> None:\n    session.auth({sn})\n",
            f'{sn} = config["exchange"]["{sn}"]',
            f'{sn} = keyring.get_password("backtest", "{sn}")',
            f'{sn} = get_secret("prod/{kb}")',
            f'if not {sn}:\n    raise SystemExit("{up} is not set")',
            f'{up}_ENV = "{up}"',
            f"{sn}_len = 64",
            f'\nclass {pc}Settings(BaseSettings):\n    {sn}: str = Field(default="", repr=False)\n',
            f"\ndef use_{sn}(client: Client, {sn}: str) -> None:\n    client.{sn} = {sn}\n",
        ],
        "ts": [
            f"const {cm} = process.env.{up};",
            f'const {cm} = process.env.{up} ?? "";',
            f"interface {pc}Creds {{\n  {cm}: string;\n}}",
            f"type {pc}Options = {{\n  {cm}?: string;\n}};",
            f"class {pc}Venue {{\n  constructor(private readonly {cm}: string) {{}}\n}}",
            f"const forwarded = {{\n  {cm}: this.{cm},\n}};",
            f"const merged = {{ {cm}: config.{cm} }};",
            f'const {cm} = "{ph}";',
            f"const {{ {cm} }} = await loadSecrets();",
            f'const {up}_HEADER = "X-{pc}";',
        ],
        "js": [
            f"const {cm} = process.env.{up};",
            f"const fromEnv = {{\n  {cm}: process.env.{up},\n}};",
            f"const passed = {{ {cm}: opts.{cm} }};",
            f"const {cm} = fs.readFileSync('/run/secrets/{sn}', 'utf8').trim();",
            f"let {cm} = '{ph}';",
        ],
        "go": [
            f'\t{cm} := os.Getenv("{up}")',
            f'\ttype {cm}Holder struct {{\n\t\t{pc} string `json:"{sn}" yaml:"{sn}"`\n\t}}',
            f'\t{cm}, ok := os.LookupEnv("{up}")',
            f'\tflag.StringVar(&{cm}, "{kb}", "", "exchange credential")',
            f"\t{cm} := cfg.{pc}",
            f'\t{cm} := ""',
        ],
        "rust": [
            f'    let {sn} = std::env::var("{up}")?;',
            f'    let {sn} = env::var("{up}").expect("{up} must be set");',
            f"    struct {pc}Opt {{\n        pub {sn}: Option<String>,\n    }}",
            f"    struct {pc}Req {{\n        pub {sn}: String,\n    }}",
            f"    let copy = Creds {{\n        {sn}: cfg.{sn}.clone(),\n    }};",
            f'    const {up}_ENV: &str = "{up}";',
        ],
        "java": [
            f'    String {cm} = System.getenv("{up}");',
            f"    private String {cm};",
            f'    @Value("${{{dt}}}") private String {cm};',
            f"    public void set{pc}(String {cm}) {{ this.{cm} = {cm}; }}",
            f'    String {cm} = PROPS.getProperty("{dt}");',
        ],
        "kotlin": [
            f'    val {cm} = System.getenv("{up}") ?: ""',
            f"    data class {pc}Opt(\n        val {cm}: String?,\n    )",
            f"    val {cm} = BuildConfig.{up}",
            f"    data class {pc}Creds(val {cm}: String)",
        ],
        "cs": [
            f'        private readonly string {cm} = Environment.GetEnvironmentVariable("{up}");',
            f"        public string {pc} {{ get; set; }}",
            f'        private string {cm} => configuration["Exchange:{pc}"];',
            f"        private string? {cm} = null;",
        ],
        "yaml": [
            f"  {sn}: ${{{up}}}",
            f'  {sn}: "${{{up}}}"',
            f"  {sn}: ${{{up}:-}}",
            f'  {sn}: "{ph}"',
            f"  {sn}: null",
            f'  {sn}: ""',
            f"  {sn}_env: {up}",
            f"  {sn}_file: /run/secrets/{sn}",
            f'  {sn}: "{{{{ vault_{sn} }}}}"',
            f"  {sn}: !ENV ${{{up}}}",
        ],
        "toml": [
            f'{sn} = "${{{up}}}"',
            f'{sn} = "{ph}"',
            f'{sn}_env = "{up}"',
            f'# {sn} = "<set via {up}>"',
        ],
        "ini": [f"{sn} = %(env_{sn})s", f"{sn} = <set me>", f"{sn} =", f"; {sn} = see vault"],
        "env": [
            f"{up}=",
            f"{up}=${{{up}_PROD}}",
            f'{up}="{ph}"',
            f"# {up}=",
            f"{up}=${{{up}:?missing}}",
        ],
        "properties": [f"{dt}=${{{up}}}", f"{dt}=${{{up}:}}", f"{dt}=", f"#{dt}={ph}"],
        "hcl": [
            f"  {sn} = var.{sn}",
            f"  {sn} = random_password.{sn}.result",
            f"  {sn} = data.aws_secretsmanager_secret_version.{sn}.secret_string",
            f'  {sn} = "${{var.{sn}}}"',
        ],
        "shell": [
            f'export {up}="${{{up}:?set {up} first}}"',
            f"export {up}=$(aws secretsmanager get-secret-value --secret-id {kb}"
            " --query SecretString --output text)",
            f"read -rs {up}",
            f'echo "{up} set: ${{{up}:+yes}}"',
            f'export {up}="${{{up}}}"',
        ],
        "xml": [
            f"    <{cm}>${{{up}}}</{cm}>",
            f'    <add key="{pc}" value="" />',
            f"    <{cm}/>",
            f"    <{cm}>{ph}</{cm}>",
        ],
        "docker": [
            f"ARG {up}",
            f"ENV {up}=${{{up}}}",
            f"RUN --mount=type=secret,id={sn} {up}=$(cat /run/secrets/{sn}) python -m bt.fetch",
        ],
        "make": [f"{up} ?= $(shell cat .secrets/{sn})", f"{up} ?=", f"export {up}"],
    }
    return r.choice(table[lang])


def negs(doc: Doc, g: Gen, lang: str, count: int) -> None:
    for _ in range(count):
        free = [w for w in ALL_NAMES if w not in doc.used]
        words = g.rng.choice(free)
        doc.used.add(words)
        doc.n(neg(g, lang, words))


# --------------------------------------------------------------------------- file builders
# Each builder writes one or more files into the corpus.


def py_strategy(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        '"""Momentum strategy with live execution hooks."""',
        "from __future__ import annotations",
        "",
        "import os",
        "from dataclasses import dataclass",
        "",
        "import numpy as np",
        "import pandas as pd",
        "from binance.client import Client",
        "",
        f'RUN_ID = "{g.uuid()}"',
        f'GIT_SHA = "{g.sha1()}"',
        f'DATA_SHA256 = "{g.sha256()}"',
        "MAX_TOKENS = 4096",
        'BASE_TOKEN = "USDC"',
        'QUOTE_TOKEN = "ETH"',
        "",
    )
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(5, 8), d):
        items.append(partial(put, g=g, lang="py", item=item))
    for _ in range(r.randint(6, 9)):
        items.append(lambda doc: negs(doc, g, "py", 1))
    key, secret = g.binance()
    items.append(
        lambda doc: doc.s(
            f'client = Client(api_key="{key}", api_secret="{secret}")', "binance-pair", key, secret
        )
    )
    items.append(
        lambda doc: doc.n("client = Client(api_key=creds.api_key, api_secret=creds.api_secret)")
    )
    items.append(lambda doc: doc.n(f'ORDER_ID = "{g.uuid()}"  # last fill, for reconciliation'))
    items.append(lambda doc: doc.n(f'TX_HASH = "{g.tx_hash()}"'))
    items.append(lambda doc: doc.n(f'TOKEN_ADDRESS = "{g.eth_address()}"'))
    d.mix(r, items)
    d.n(
        "",
        "",
        "@dataclass",
        "class Signal:",
        "    symbol: str",
        "    lookback: int = 20",
        '    token: str = "ETH"',
        "",
        "    def score(self, bars: pd.DataFrame) -> pd.Series:",
        "        ret = bars['close'].pct_change(self.lookback)",
        "        return (ret - ret.rolling(60).mean()) / ret.rolling(60).std()",
    )
    c.doc(d)


def py_llm(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        '"""LLM-assisted news signal: summarise headlines, score sentiment."""',
        "import os",
        "",
        "import anthropic",
        "from openai import OpenAI",
        "",
        'MODEL = "claude-3-5-sonnet-latest"',
        "MAX_TOKENS = 1024",
        "max_tokens_per_call = 4096",
        "token_budget = 250_000",
        "",
    )
    oa, an, hf = g.openai(), g.anthropic(), g.hf()
    items: list[Callable[[Doc], object]] = [
        lambda doc: doc.s(f'openai_client = OpenAI(api_key="{oa}")', "openai", oa),
        lambda doc: doc.s(f"claude = anthropic.Anthropic(api_key='{an}')", "anthropic", an),
        lambda doc: doc.s(f'HF_TOKEN = "{hf}"', "huggingface", hf),
        lambda doc: doc.n('client = OpenAI(api_key=os.environ["OPENAI_API_KEY"])'),
        lambda doc: doc.n("claude = anthropic.Anthropic()  # reads ANTHROPIC_API_KEY"),
        lambda doc: doc.n(
            "usage = {'input_tokens': 1532, 'output_tokens': 211, 'max_tokens': 4096}"
        ),
        lambda doc: doc.n("tokens = tokenizer.encode(headline)"),
        lambda doc: doc.n("n_tokens = len(tokens)"),
        lambda doc: doc.n('api_key = os.getenv("OPENAI_API_KEY", "")'),
        lambda doc: doc.n('token = "ETH"'),
    ]
    for item in draw(g, r.randint(2, 3), d):
        items.append(partial(put, g=g, lang="py", item=item))
    for _ in range(4):
        items.append(lambda doc: negs(doc, g, "py", 1))
    d.mix(r, items)
    d.n(
        "",
        "def summarise(headlines: list[str]) -> str:",
        "    msg = claude.messages.create(",
        "        model=MODEL, max_tokens=MAX_TOKENS,",
        '        messages=[{"role": "user", "content": "\\n".join(headlines)}],',
        "    )",
        "    return msg.content[0].text",
    )
    c.doc(d)


def py_settings(c: Corpus, path: str) -> None:
    """A settings module with a dict of venue credentials, pydantic fields and a DSN."""
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        "from pydantic import Field",
        "from pydantic_settings import BaseSettings",
        "",
        "",
        "class Settings(BaseSettings):",
        '    env: str = "paper"',
        "    password_min_length: int = 12",
        '    api_key_header: str = "X-MBX-APIKEY"',
        '    secret_name: str = "prod/exchange/api-credentials"',
    )
    for _ in range(r.randint(3, 5)):
        d.n(f'    {snake(r.choice(ALL_NAMES))}: str = Field(default="", repr=False)')
    d.n("", "", "VENUES = {")
    ok, osec, op = g.okx()
    d.n('    "okx": {')
    d.s(f'        "api_key": "{ok}",', "okx-uuid-key", ok)
    d.s(f'        "secret_key": "{osec}",', "okx-secret", osec)
    d.s(f'        "passphrase": "{op}",', "okx-passphrase", op)
    d.n("    },")
    kk, ks, kp = g.kucoin()
    d.n('    "kucoin": {')
    d.s(f'        "key": "{kk}",', "kucoin-key", kk)
    d.s(f'        "secret": "{ks}",', "kucoin-uuid-secret", ks)
    d.s(f'        "passphrase": "{kp}",', "kucoin-passphrase", kp)
    d.n(f'        "last_order_id": "{g.uuid()}",', "    },")
    yk, ys = g.bybit()
    d.s(
        f'    "bybit": {{"api_key": "{yk}", "api_secret": "{ys}", "testnet": False}},',
        "bybit-pair",
        yk,
        ys,
    )
    d.n('    "paper": {"api_key": "dummy", "api_secret": "test", "testnet": True},', "}", "")
    pw = g.url_password()
    d.s(f'DATABASE_URL = "postgresql://quant:{pw}@db.internal:5432/ticks"', "db-url", pw)
    d.n('READONLY_URL = "postgresql://reader@db.internal:5432/ticks"')
    d.n('LOCAL_URL = "postgresql://postgres:${PGPASSWORD}@localhost:5432/ticks"')
    d.n('CACHE_URL = "redis://localhost:6379/0"')
    pw2 = g.url_password()
    d.s(f'BROKER_URL = "amqp://backtest:{pw2}@mq.internal:5672/jobs"', "amqp-url", pw2)
    fk = g.fernet()
    d.s(f"FERNET_KEY = b'{fk}'", "fernet", fk)
    dj = g.pick(string.ascii_lowercase + string.digits + "!@#%^&*(-_=+)", 50)
    d.s(f"SECRET_KEY = '{dj}'", "django-secret-key", dj)
    d.n(
        "SECRET_KEY_FALLBACKS: list[str] = []",
        "SESSION_COOKIE_NAME = 'bt_session'",
        "CSRF_COOKIE_NAME = 'bt_csrftoken'",
        "AUTH_PASSWORD_VALIDATORS = [",
        "    {'NAME': 'django.contrib.auth.password_validation.MinimumLengthValidator'},",
        "]",
    )
    c.doc(d)


def lang_file(c: Corpus, path: str, lang: str, head: list[str], tail: list[str], k: int) -> None:
    """A source file in ``lang`` mixing k named secrets with about twice as many look-alikes."""
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(*head)
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, k, d):
        items.append(partial(put, g=g, lang=lang, item=item))
    for _ in range(2 * k):
        items.append(lambda doc: negs(doc, g, lang, 1))
    d.mix(r, items)
    d.n(*tail)
    c.doc(d)


def rust_file(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        "use std::env;",
        "use serde::Deserialize;",
        "",
        "#[derive(Debug, Deserialize)]",
        "pub struct ExchangeConfig {",
        "    pub api_key: String,",
        "    pub api_secret: String,",
        "    pub password: Option<String>,",
        '    #[serde(rename = "apiKey")]',
        "    pub key_alias: Option<String>,",
        "}",
        "",
    )
    key, secret = g.bybit()
    d.used.update({("api", "key"), ("api", "secret"), ("password",)})
    d.s(f'const API_KEY: &str = "{key}";', "bybit-key", key)
    d.s(f'const API_SECRET: &str = "{secret}";', "bybit-secret", secret)
    d.n('const RECV_WINDOW: &str = "5000";', 'const BASE_URL: &str = "https://api.bybit.com";')
    d.n("", "fn main() -> Result<(), Box<dyn std::error::Error>> {")
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(3, 5), d):
        items.append(partial(put, g=g, lang="rust", item=item))
    for _ in range(6):
        items.append(lambda doc: negs(doc, g, "rust", 1))
    items.append(
        lambda doc: doc.n('    let token: String = env::var("BYBIT_TOKEN").unwrap_or_default();')
    )
    items.append(lambda doc: doc.n(f'    let order_id = "{g.uuid()}";'))
    items.append(lambda doc: doc.n(f'    let digest = "{g.sha256()}";'))
    d.mix(r, items)
    d.n(
        "    Ok(())",
        "}",
        "",
        "pub fn sign(secret: &str, payload: &str) -> String {",
        "    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap();",
        "    mac.update(payload.as_bytes());",
        "    hex::encode(mac.finalize().into_bytes())",
        "}",
    )
    c.doc(d)


def go_file(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        "package gateway",
        "",
        "import (",
        '\t"os"',
        '\t"time"',
        ")",
        "",
        "type Credentials struct {",
        '\tAPIKey    string `json:"api_key"`',
        '\tAPISecret string `json:"api_secret"`',
        '\tPassword  string `json:"password,omitempty"`',
        "}",
        "",
        "func Load() Credentials {",
    )
    kk, ks = g.kraken()
    d.used.update({("api", "key"), ("api", "secret")})
    d.s(f'\tapiKey := "{kk}"', "kraken-key", kk)
    d.s(f'\tapiSecret := "{ks}"', "kraken-private", ks)
    d.n('\tif v := os.Getenv("KRAKEN_API_SECRET"); v != "" {', "\t\tapiSecret = v", "\t}")
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(3, 5), d):
        items.append(partial(put, g=g, lang="go", item=item))
    for _ in range(6):
        items.append(lambda doc: negs(doc, g, "go", 1))
    items.append(lambda doc: doc.n(f'\tcommit := "{g.sha1()}"'))
    items.append(lambda doc: doc.n("\ttimeout := 30 * time.Second"))
    d.mix(r, items)
    d.n("\treturn Credentials{APIKey: apiKey, APISecret: apiSecret}", "}")
    c.doc(d)


def ts_file(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        'import { API_KEY_HEADER, SIGNATURE_HEADER } from "./constants";',
        'import type { Credentials } from "./types";',
        "",
        "export interface ExchangeOptions {",
        "  apiKey: string;",
        "  token: string;",
        "  password?: string;",
        "  maxTokens: number;",
        "}",
        "",
    )
    ak, asec = g.alpaca()
    d.used.update({("api", "key"), ("secret", "key")})
    d.s(f'const apiKey: string = "{ak}";', "alpaca-key-id", ak)
    d.s(f'const secretKey: string = "{asec}";', "alpaca-secret", asec)
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(3, 5), d):
        items.append(partial(put, g=g, lang="ts", item=item))
    for _ in range(6):
        items.append(lambda doc: negs(doc, g, "ts", 1))
    items.append(
        lambda doc: doc.n("const req = {\n  headers: { Authorization: `Bearer ${token}` },\n};")
    )
    items.append(lambda doc: doc.n('const baseToken = "USDC";'))
    d.mix(r, items)
    d.n(
        "",
        "export function headers(creds: Credentials): Record<string, string> {",
        '  return { "APCA-API-KEY-ID": creds.apiKey, "APCA-API-SECRET-KEY": creds.secretKey };',
        "}",
    )
    c.doc(d)


def js_file(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n("'use strict';", "const Stripe = require('stripe');", "const fs = require('fs');", "")
    sk = g.stripe()
    d.s(f"const stripe = Stripe('{sk}');", "stripe-live", sk)
    d.n("const stripeFromEnv = Stripe(process.env.STRIPE_SECRET_KEY);")
    d.n("const stripeDocs = Stripe('sk_test_XXXXXXXXXXXXXXXXXXXXXXXX');")
    tok = g.jwt()
    d.s(f"const authHeader = 'Bearer {tok}';", "jwt", tok)
    d.n("const authFromEnv = `Bearer ${process.env.API_TOKEN}`;")
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(2, 4), d):
        items.append(partial(put, g=g, lang="js", item=item))
    for _ in range(5):
        items.append(lambda doc: negs(doc, g, "js", 1))
    d.mix(r, items)
    d.n("", "module.exports = { stripe, authHeader };")
    c.doc(d)


def java_file(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        "package com.quant.risk;",
        "",
        "import org.springframework.beans.factory.annotation.Value;",
        "",
        "public class RiskConfig {",
        "    private String password;",
        '    private static final String PASSWORD_FIELD = "password";',
    )
    pw = g.password()
    d.used.add(("password",))
    d.s(f'    String adminPassword = "{pw}";', "password", pw)
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(3, 5), d):
        items.append(partial(put, g=g, lang="java", item=item))
    for _ in range(6):
        items.append(lambda doc: negs(doc, g, "java", 1))
    d.mix(r, items)
    pw2 = g.password()
    d.s(
        f'    private static final String JDBC = "jdbc:postgresql://db:5432/risk?user=risk&password={pw2}";',
        "jdbc-url",
        pw2,
    )
    d.n('    private static final String JDBC_ENV = System.getenv("JDBC_URL");', "}")
    c.doc(d)


def kotlin_file(c: Corpus, path: str) -> None:
    lang_file(
        c,
        path,
        "kotlin",
        ["package com.quant.alerts", "", "object AlertConfig {"],
        ["", "    fun enabled() = true", "}"],
        c.rng.randint(3, 5),
    )


def cs_file(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        "using System;",
        "",
        "namespace Quant.Reporting",
        "{",
        "    public class ReportSettings",
        "    {",
    )
    pw = g.password()
    conn = f"Server=sql01;Database=pnl;User Id=reporter;Password={pw};"
    line = f'        private const string Conn = "{conn}";'
    d.s(line, "sql-connection-string", pw)
    d.n('        private readonly string connEnv = Environment.GetEnvironmentVariable("PNL_DB");')
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(3, 4), d):
        items.append(partial(put, g=g, lang="cs", item=item))
    for _ in range(5):
        items.append(lambda doc: negs(doc, g, "cs", 1))
    d.mix(r, items)
    d.n("    }", "}")
    c.doc(d)


def config_file(
    c: Corpus,
    path: str,
    lang: str,
    head: list[str],
    k: int,
    negatives: int,
    tail: Sequence[str] = (),
) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(*head)
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, k, d):
        items.append(partial(put, g=g, lang=lang, item=item))
    for _ in range(negatives):
        items.append(lambda doc: negs(doc, g, lang, 1))
    d.mix(r, items)
    d.n(*tail)
    c.doc(d)


def yaml_settings(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        "# backtest settings (generated by the research agent)",
        "run:",
        f"  id: {g.uuid()}",
        f"  git_sha: {g.sha1()}",
        f"  data_checksum: sha256:{g.sha256()}",
        "  max_tokens: 4096",
        "  token: ETH",
        "  base_token: USDC",
        "universe: [BTCUSDT, ETHUSDT, SOLUSDT]",
        "exchanges:",
        "  binance:",
    )
    bk, bs = g.binance()
    d.s(f"    api_key: {bk}", "binance-key", bk)
    d.s(f"    api_secret: {bs}", "binance-secret", bs)
    d.n("  coinbase:")
    ck, cs, cp = g.coinbase()
    d.s(f'    key: "{ck}"', "coinbase-key", ck)
    d.s(f'    secret: "{cs}"', "coinbase-secret", cs)
    d.s(f"    passphrase: {cp}", "coinbase-passphrase", cp)
    d.n("  paper:", "    api_key: ${PAPER_API_KEY}", "    api_secret: ${PAPER_API_SECRET:-}")
    d.n("  sandbox:", '    api_key: "your-api-key"', '    api_secret: "<API_SECRET>"')
    d.n("database:", "  host: db.internal", "  user: quant")
    pw = g.password()
    d.s(f"  password: {pw}", "password", pw)
    d.n("  password_min_length: 12", "  password_env: DB_PASSWORD")
    d.n("notifications:")
    url, tok = g.slack_hook()
    d.s(f"  slack_webhook: {url}", "slack-webhook", tok)
    d.n('  slack_channel: "#backtests"')
    items: list[Callable[[Doc], object]] = []
    d.n("extra:")
    for item in draw(g, r.randint(3, 5), d):
        items.append(partial(put, g=g, lang="yaml", item=item))
    for _ in range(7):
        items.append(lambda doc: negs(doc, g, "yaml", 1))
    d.mix(r, items)
    d.n("signing:")
    pem = g.pem(r.choice(["RSA", "EC", "PKCS8"]))
    lines = ["  private_key: |", *("    " + line for line in pem)]
    d.block(lines, "pem-yaml-block", [pem[len(pem) // 2]], hot=1)
    d.n(
        "  public_key: |",
        *("    " + line for line in g.cert_pem()),
    )
    c.doc(d)


def toml_file(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n("[strategy]", 'name = "pairs"', "lookback = 60", 'token = "SOL"', "", "[alpaca]")
    ak, asec = g.alpaca()
    d.s(f'key_id = "{ak}"', "alpaca-key-id", ak)
    d.s(f'secret_key = "{asec}"', "alpaca-secret", asec)
    d.n('base_url = "https://paper-api.alpaca.markets"', "", "[data]")
    d.n('polygon_api_key = "${POLYGON_API_KEY}"')
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(3, 5), d):
        items.append(partial(put, g=g, lang="toml", item=item))
    for _ in range(5):
        items.append(lambda doc: negs(doc, g, "toml", 1))
    d.mix(r, items)
    d.n("", "[wallet]", f'address = "{g.eth_address()}"')
    wk = "0x" + g.wallet_key()
    d.s(f'private_key = "{wk}"', "wallet-private-key", wk)
    d.n(f'last_tx_hash = "{g.tx_hash()}"', f'public_key = "0x04{g.hex(128)}"')
    c.doc(d)


def json_config(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    secrets: list[tuple[str, str]] = []
    venues: dict[str, object] = {}
    for item in draw(g, r.randint(5, 8)):
        kind, words, value = item
        venues[r.choice([snake, camel])(words)] = value
        secrets.append((kind, value))
    for words in r.sample(ALL_NAMES, r.randint(4, 7)):
        venues[snake(words) + "_env"] = upper(words)
    escaped_key = g.alnum(40)
    doc = {
        "run_id": g.uuid(),
        "commit": g.sha1(),
        "credentials": venues,
        "placeholders": {"api_key": "<API_KEY>", "api_secret": "********", "token": None},
        "llm": {"model": "gpt-4o-mini", "max_tokens": 4096, "temperature": 0.2},
        "tokens": ["ETH", "USDC", "WBTC"],
        "page": {"next_page_token": g.page_token("AAPL")},
        "embedded": json.dumps({"exchange": "gate", "api_secret": escaped_key}),
    }
    secrets.append(("json-in-json", escaped_key))
    c.found_text(path, json.dumps(doc, indent=2) + "\n", secrets)


def gcp_service_account(c: Corpus, path: str) -> None:
    g = c.g
    pem = g.pem("PKCS8")
    key = "\n".join(pem) + "\n"
    doc = {
        "type": "service_account",
        "project_id": "quant-research-" + g.pick(LOWER_ALNUM, 6),
        "private_key_id": g.hex(40),
        "private_key": key,
        "client_email": "backtest-runner@quant-research.iam.gserviceaccount.com",
        "client_id": str(g.rng.randint(10**20, 10**21 - 1)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    c.found_text(path, json.dumps(doc, indent=2) + "\n", [("pem-one-line-json", pem[2])])


def ini_file(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n("[DEFAULT]", "timeout = 30", "", "[kraken]")
    kk, ks = g.kraken()
    d.s(f"api_key = {kk}", "kraken-key", kk)
    d.s(f"private_key = {ks}", "kraken-private", ks)
    d.n("", "[aws]")
    ak, sk = g.aws_key_id(), g.aws_secret()
    d.s(f"aws_access_key_id = {ak}", "aws-key-id", ak)
    d.s(f"aws_secret_access_key = {sk}", "aws-secret", sk)
    d.n("", "[aws-docs]", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE")
    d.n("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    d.n(f"aws_access_key_id_2 = AKIA{g.pick(string.ascii_uppercase + '234567', 9)}EXAMPLE", "")
    d.n("[misc]")
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(2, 4), d):
        items.append(partial(put, g=g, lang="ini", item=item))
    for _ in range(5):
        items.append(lambda doc: negs(doc, g, "ini", 1))
    d.mix(r, items)
    c.doc(d)


def dotenv(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n("# local overrides -- do not commit", "ENV=paper", "LOG_LEVEL=INFO", "MAX_TOKENS=4096")
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(8, 12), d):
        items.append(partial(put, g=g, lang="env", item=item))
    for _ in range(8):
        items.append(lambda doc: negs(doc, g, "env", 1))
    pw = g.url_password()
    items.append(
        lambda doc: doc.s(f"DATABASE_URL=postgres://quant:{pw}@127.0.0.1:5432/bt", "db-url", pw)
    )
    items.append(
        lambda doc: doc.n(
            "TEST_DATABASE_URL=postgres://postgres@localhost:5432/bt_test?sslmode=disable"
        )
    )
    items.append(lambda doc: doc.n("PWD=/home/ci/work/output"))
    d.mix(r, items)
    c.doc(d)


def dotenv_example(c: Corpus, path: str) -> None:
    g = c.g
    d = Doc(path)
    d.n("# copy to .env and fill in")
    for words in ALL_NAMES:
        value = g.choice(["", f"<{upper(words)}>", "changeme", "your-key-here", "xxx"])
        d.n(f"{upper(words)}={value}")
    c.doc(d)


def properties_file(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        "spring.application.name=risk-service",
        "spring.datasource.url=jdbc:postgresql://db:5432/risk",
    )
    d.n("spring.datasource.username=risk")
    pw = g.password()
    d.s(f"spring.datasource.password={pw}", "password", pw)
    d.n(
        "spring.datasource.hikari.maximum-pool-size=10",
        "management.endpoint.health.show-details=always",
    )
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(3, 5), d):
        items.append(partial(put, g=g, lang="properties", item=item))
    for _ in range(6):
        items.append(lambda doc: negs(doc, g, "properties", 1))
    d.mix(r, items)
    c.doc(d)


def xml_file(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n('<?xml version="1.0" encoding="utf-8"?>', "<configuration>", "  <appSettings>")
    pw = g.password()
    d.s(f"    <password>{pw}</password>", "password", pw)
    d.n("    <passwordPolicy>min-length=12</passwordPolicy>")
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(3, 5), d):
        items.append(partial(put, g=g, lang="xml", item=item))
    for _ in range(6):
        items.append(lambda doc: negs(doc, g, "xml", 1))
    d.mix(r, items)
    secret = g.alnum(48)
    d.block(
        ["    <apiSecret>", f"      {secret}", "    </apiSecret>"], "xml-multiline", [secret], hot=1
    )
    d.n(f'    <add key="UserSecretsId" value="{g.uuid()}" />', "  </appSettings>")
    d.n(f'  <runtime build="{g.sha1()}" tokenCount="4096" />', "</configuration>")
    c.doc(d)


def terraform(c: Corpus, path: str, tfvars: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n('provider "aws" {', '  region     = "us-east-1"')
    ak, sk = g.aws_key_id(), g.aws_secret()
    d.s(f'  access_key = "{ak}"', "aws-key-id", ak)
    d.s(f'  secret_key = "{sk}"', "aws-secret", sk)
    d.n("}", "", 'variable "db_password" {', "  type      = string", "  sensitive = true", "}", "")
    d.n('resource "aws_db_instance" "ticks" {', '  engine   = "postgres"', '  username = "quant"')
    pw = g.password()
    d.s(f'  password = "{pw}"', "password", pw)
    d.n("}", "", 'resource "aws_db_instance" "replica" {', "  password = var.db_password", "}", "")
    d.n('resource "aws_secretsmanager_secret_version" "exchange" {')
    d.n("  secret_id     = aws_secretsmanager_secret.exchange.id")
    d.n(
        "  secret_string = jsonencode({",
        "    api_key    = var.binance_api_key",
        "    api_secret = var.binance_api_secret",
        "  })",
    )
    d.n("}", "", 'module "ops" {', '  source = "./modules/ops"')
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(2, 4), d):
        items.append(partial(put, g=g, lang="hcl", item=item))
    for _ in range(5):
        items.append(lambda doc: negs(doc, g, "hcl", 1))
    d.mix(r, items)
    d.n(
        "}",
        "",
        'output "kms_key_arn" {',
        f'  value = "arn:aws:kms:us-east-1:123456789012:key/{g.uuid()}"',
        "}",
    )
    c.doc(d)
    v = Doc(tfvars)
    for item in draw(g, r.randint(3, 5), v):
        kind, words, value = item
        v.s(f'{snake(words)} = "{value}"', kind, value)
    v.n('region = "us-east-1"', 'instance_class = "db.t3.medium"')
    c.doc(v)


def dockerfile(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(f"FROM python:3.11-slim@sha256:{g.sha256()}", "WORKDIR /app", "COPY requirements.txt .")
    d.n(
        "RUN --mount=type=secret,id=pip_token \\",
        "    PIP_INDEX_URL=https://__token__:$(cat /run/secrets/pip_token)@pypi.internal/simple \\",
        "    pip install -r requirements.txt",
    )
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(2, 4), d):
        items.append(partial(put, g=g, lang="docker", item=item))
    for _ in range(4):
        items.append(lambda doc: negs(doc, g, "docker", 1))
    d.mix(r, items)
    d.n("COPY . .", 'CMD ["python", "-m", "backtest.run"]')
    c.doc(d)


def compose(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        "services:",
        "  db:",
        "    image: postgres:16",
        "    environment:",
        "      POSTGRES_USER: quant",
    )
    pw = g.password()
    d.s(f"      POSTGRES_PASSWORD: {pw}", "password", pw)
    d.n("  worker:", "    build: .", "    environment:")
    d.n(
        "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}",
        "      BINANCE_API_KEY: ${BINANCE_API_KEY:?}",
    )
    for item in draw(g, r.randint(3, 5), d):
        kind, words, value = item
        d.s(f"      {upper(words)}: {value}", kind, value)
    d.n(
        "    secrets:",
        "      - exchange_key",
        "secrets:",
        "  exchange_key:",
        "    file: ./secrets/exchange_key.txt",
    )
    c.doc(d)


def workflow(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        "name: nightly-backtest",
        "on:",
        "  schedule: [{cron: '0 2 * * *'}]",
        "jobs:",
        "  backtest:",
        "    runs-on: ubuntu-latest",
        "    env:",
        "      GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
        "      BINANCE_API_SECRET: ${{ secrets.BINANCE_API_SECRET }}",
        "      OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}",
        "      MAX_TOKENS: 4096",
    )
    for item in draw(g, r.randint(2, 4), d):
        kind, words, value = item
        d.s(f"      {upper(words)}: {value}", kind, value)
    url, tok = g.slack_hook()
    d.s(f"      SLACK_WEBHOOK_URL: {url}", "slack-webhook", tok)
    d.n(
        "    steps:",
        f"      - uses: actions/checkout@{g.sha1()}",
        "      - uses: actions/setup-python@v5",
        "        with: {python-version: '3.11'}",
        "      - run: pytest --artifact-store",
        "        env:",
        "          PGPASSWORD: ${{ secrets.PGPASSWORD }}",
        "          token: ${{ github.token }}",
    )
    gh = g.gh_classic()
    d.s(
        f"      - run: git push https://x-access-token:{gh}@github.com/quant/results.git HEAD",
        "github-classic",
        gh,
    )
    c.doc(d)


def shell_script(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n("#!/usr/bin/env bash", "set -euo pipefail", 'cd "$(dirname "$0")/.."')
    items: list[Callable[[Doc], object]] = []
    for item in draw(g, r.randint(4, 6), d):
        items.append(partial(put, g=g, lang="shell", item=item))
    for _ in range(6):
        items.append(lambda doc: negs(doc, g, "shell", 1))
    pw = g.password()
    items.append(
        lambda doc: doc.s(
            f"PGPASSWORD='{pw}' psql -h db.internal -U quant -c 'select 1'", "password", pw
        )
    )
    items.append(
        lambda doc: doc.n('PGPASSWORD="$DB_PASSWORD" psql -h db.internal -U quant -f schema.sql')
    )
    gl = g.gitlab()
    items.append(
        lambda doc: doc.s(
            f"git clone https://oauth2:{gl}@gitlab.com/quant/research.git", "gitlab", gl
        )
    )
    items.append(
        lambda doc: doc.n(
            'git clone "https://oauth2:${GITLAB_TOKEN}@gitlab.com/quant/research.git"'
        )
    )
    d.mix(r, items)
    c.doc(d)


def curl_file(c: Corpus, path: str) -> None:
    g = c.g
    d = Doc(path)
    d.n("# handy requests captured while debugging the execution layer")
    key = g.alnum(64)
    d.s(
        f'curl -H "X-MBX-APIKEY: {key}" "https://api.binance.com/api/v3/account?timestamp=1709251200000&signature={g.sha256()}"',
        "binance-key",
        key,
    )
    d.n('curl -H "X-MBX-APIKEY: $BINANCE_API_KEY" "https://api.binance.com/api/v3/openOrders"')
    d.n(
        f'curl "https://api.binance.com/api/v3/order?symbol=BTCUSDT&orderId=28&timestamp=1709251200000&signature={g.sha256()}"'
    )
    ak, asec = g.alpaca()
    d.s(f'curl -H "APCA-API-KEY-ID: {ak}" \\', "alpaca-key-id", ak)
    d.s(f'     -H "APCA-API-SECRET-KEY: {asec}" \\', "alpaca-secret", asec)
    d.n("     https://paper-api.alpaca.markets/v2/account")
    av = g.pick(UPPER_ALNUM, 16)
    d.s(
        f'curl "https://www.alphavantage.co/query?function=TIME_SERIES_DAILY&symbol=IBM&apikey={av}"',
        "alphavantage-short",
        av,
    )
    d.n(
        'curl "https://www.alphavantage.co/query?function=TIME_SERIES_DAILY&symbol=IBM&apikey=demo"'
    )
    pg = g.alnum(32)
    d.s(
        f"curl 'https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/2023-01-01/2023-12-31?apiKey={pg}'",
        "polygon",
        pg,
    )
    pw = g.password()
    d.s(f"curl -u 'quant:{pw}' https://grafana.internal/api/dashboards/home", "password", pw)
    d.n('curl -u "quant:$GRAFANA_PASSWORD" https://grafana.internal/api/dashboards/home')
    tok = g.jwt()
    d.s(f'curl -H "Authorization: Bearer {tok}" https://risk.internal/v1/limits', "jwt", tok)
    d.n('curl -H "Authorization: Bearer ${RISK_TOKEN}" https://risk.internal/v1/limits')
    d.n('curl -H "Authorization: Bearer <token>" https://risk.internal/v1/limits')
    cs = g.alnum(40)
    d.s(
        f"curl -d 'grant_type=client_credentials&client_id=backtest-runner&client_secret={cs}' https://auth.internal/oauth/token",
        "oauth-client-secret",
        cs,
    )
    tg = g.telegram()
    d.s(
        f'curl "https://api.telegram.org/bot{tg}/sendMessage?chat_id=-1001234567&text=done"',
        "telegram",
        tg,
    )
    c.doc(d)


def http_dump(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    for _ in range(r.randint(3, 5)):
        ak, asec = g.alpaca()
        d.n("> GET /v2/positions HTTP/1.1", "> Host: paper-api.alpaca.markets")
        d.s(f"> APCA-API-KEY-ID: {ak}", "alpaca-key-id", ak)
        d.s(f"> APCA-API-SECRET-KEY: {asec}", "alpaca-secret", asec)
        d.n(
            "> User-Agent: python-requests/2.31.0",
            "> Accept: */*",
            ">",
            "< HTTP/1.1 200 OK",
            f"< X-Request-ID: {g.hex(32)}",
            f'< ETag: W/"{g.hex(40)}"',
            "< Content-Type: application/json",
            "",
        )
    user, pw = "quant", g.password()
    basic = base64.b64encode(f"{user}:{pw}".encode()).decode()
    d.n("POST /api/v1/orders HTTP/1.1", "Host: broker.internal")
    d.s(f"Authorization: Basic {basic}", "basic-auth", basic)
    d.n("Content-Type: application/json", f"Idempotency-Key: {g.uuid()}", "")
    tok = g.jwt()
    d.n("GET /v1/limits HTTP/1.1")
    d.s(f"Authorization: Bearer {tok}", "jwt", tok)
    d.n("Cookie: theme=dark; tz=UTC", f"X-Correlation-ID: {g.uuid()}", "")
    d.n("GET /v1/limits HTTP/1.1", "Authorization: Bearer ***", "")
    c.doc(d)


def ipynb(c: Corpus, path: str, llm: bool) -> None:
    g, r = c.g, c.rng
    secrets: list[tuple[str, str]] = []
    cells: list[dict[str, object]] = []

    def code(src: list[str], outputs: list[dict[str, object]] | None = None) -> None:
        cells.append(
            {
                "cell_type": "code",
                "execution_count": len(cells) + 1,
                "id": g.hex(8),
                "metadata": {},
                "outputs": outputs or [],
                "source": [line + "\n" for line in src[:-1]] + src[-1:],
            }
        )

    cells.append(
        {
            "cell_type": "markdown",
            "id": g.hex(8),
            "metadata": {},
            "source": ["# Exploration\n", "Pull bars, fit, plot."],
        }
    )
    if llm:
        oa = g.openai()
        secrets.append(("openai", oa))
        code(["from openai import OpenAI", f'client = OpenAI(api_key="{oa}")', "MAX_TOKENS = 4096"])
        an = g.anthropic()
        secrets.append(("anthropic", an))
        code([f"%env ANTHROPIC_API_KEY={an}", "import anthropic", "claude = anthropic.Anthropic()"])
        code(
            ["resp.usage"],
            [
                {
                    "output_type": "execute_result",
                    "execution_count": 3,
                    "metadata": {},
                    "data": {"text/plain": ["Usage(input_tokens=1532, output_tokens=211)"]},
                }
            ],
        )
    else:
        ak, asec = g.alpaca()
        secrets += [("alpaca-key-id", ak), ("alpaca-secret", asec)]
        code(
            [
                "import alpaca_trade_api as tradeapi",
                f"api = tradeapi.REST('{ak}', '{asec}', 'https://paper-api.alpaca.markets')",
            ]
        )
        code(
            [
                "api = tradeapi.REST(",
                "    os.environ['APCA_API_KEY_ID'], os.environ['APCA_API_SECRET_KEY']",
                ")",
            ]
        )
    bk, bs = g.binance()
    secrets += [("binance-key", bk), ("binance-secret", bs)]
    code(
        ["cfg = load_config()", "print(cfg)"],
        [
            {
                "name": "stdout",
                "output_type": "stream",
                "text": [
                    f"{{'venue': 'binance', 'api_key': '{bk}', "
                    f"'api_secret': '{bs}', 'token': 'ETH'}}\n"
                ],
            }
        ],
    )
    for item in draw(g, r.randint(2, 4)):
        kind, words, value = item
        secrets.append((kind, value))
        code([f"{upper(words)} = '{value}'", f"# {snake(words)} pasted for a quick check"])
    code(
        ["ax = equity.plot()", "ax.figure"],
        [
            {
                "output_type": "display_data",
                "metadata": {},
                "data": {
                    "image/png": g.png_b64(),
                    "text/plain": ["<Figure size 640x480 with 1 Axes>"],
                },
            }
        ],
    )
    code(
        ["trades.head()"],
        [
            {
                "output_type": "execute_result",
                "execution_count": 9,
                "metadata": {},
                "data": {
                    "text/plain": [
                        "   order_id                              token  qty\n"
                        f"0  {g.uuid()}  ETH    1.5\n"
                        f"1  {g.uuid()}  USDC   900\n"
                    ]
                },
            }
        ],
    )
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    c.found_text(path, json.dumps(nb, indent=1) + "\n", secrets)


def markdown_doc(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        "# Setup",
        "",
        "Export your credentials before running the live paper test:",
        "",
        "```bash",
        'export OPENAI_API_KEY="sk-..."',
        'export BINANCE_API_KEY="<your-api-key>"',
        'export BINANCE_API_SECRET="<your-api-secret>"',
        "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "export SLACK_BOT_TOKEN=xoxb-xxxxxxxxxxxx-xxxxxxxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx",
        "```",
        "",
        "| column | meaning |",
        "| --- | --- |",
        "| token | traded asset, e.g. ETH |",
        "| base_token | quote asset, e.g. USDC |",
        "| max_tokens | LLM output cap (4096) |",
        "",
        "The agent used these while debugging (rotate them!):",
        "",
        "```python",
    )
    for item in draw(g, r.randint(3, 5), d):
        put(d, g, "py", item)
    d.n("```", "", "Config excerpt:", "", "```yaml")
    for item in draw(g, r.randint(2, 3), d):
        put(d, g, "yaml", item)
    for _ in range(3):
        negs(d, g, "yaml", 1)
    d.n("```", "", f"Fixed in commit {g.sha1()[:12]} (full: {g.sha1()}).")
    c.doc(d)


def csv_trades(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n(
        "ts,order_id,client_order_id,symbol,side,qty,price,token,base_token,fee_token,tx_hash,wallet"
    )
    for i in range(r.randint(40, 70)):
        d.n(
            f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,{g.uuid()},bt-{g.hex(16)},ETHUSDC,"
            f"{r.choice(['buy', 'sell'])},{r.uniform(0.1, 5):.4f},{r.uniform(2800, 3900):.2f},"
            f"ETH,USDC,BNB,{g.tx_hash()},{g.eth_address()}"
        )
    c.doc(d)


def csv_equity(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n("date,equity,drawdown,sharpe_60d,run_id,git_sha")
    run, sha = g.uuid(), g.sha1()
    eq = 100_000.0
    for i in range(120):
        eq *= 1 + r.gauss(0.0004, 0.01)
        day = f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}"
        d.n(f"{day},{eq:.2f},{r.uniform(0, 0.2):.4f},{r.gauss(1, 0.4):.3f},{run},{sha}")
    c.doc(d)


def csv_key_export(c: Corpus, path: str) -> None:
    """Exchange key export: one key/secret row per line, plus a split key and a multi-line cell."""
    g, r = c.g, c.rng
    d = Doc(path)
    d.n("exchange,label,api_key,api_secret,passphrase,created")
    for i in range(r.randint(14, 22)):
        venue = r.choice(["binance", "bybit", "kraken", "okx", "coinbase", "kucoin"])
        if venue == "binance":
            k, s, p = *g.binance(), ""
        elif venue == "bybit":
            k, s, p = *g.bybit(), ""
        elif venue == "kraken":
            k, s, p = *g.kraken(), ""
        elif venue == "okx":
            k, s, p = g.okx()
        elif venue == "coinbase":
            k, s, p = g.coinbase()
        else:
            k, s, p = g.kucoin()
        vals = [v for v in (k, s, p) if v]
        d.s(f"{venue},bot-{i},{k},{s},{p},2024-0{1 + i % 9}-15", f"{venue}-csv-row", *vals)
    d.n("binance,paper,<API_KEY>,<API_SECRET>,,2024-01-01", "okx,disabled,,,,2024-01-02")
    key = g.alnum(64)
    half = len(key) // 2
    d.s(
        f"binance,split,{key[:half]},{key[half:]},,2024-02-02",
        "csv-split-key",
        key[:half],
        key[half:],
    )
    secret = g.alnum(64)
    d.block(
        ['bybit,multiline,"note: rotated', f'{secret}",,,2024-02-03'],
        "csv-multiline-cell",
        [secret],
        hot=1,
    )
    c.doc(d)


def _log_secret(g: Gen, ts: str) -> tuple[str, str, str]:
    """One log line that leaks a credential: (line, kind, value)."""
    r = g.rng
    shape = r.randrange(7)
    if shape == 0:
        key = g.alnum(64)
        return f"{ts} INFO exchange.connect venue=binance api_key={key} recv=5000", "log-kv", key
    if shape == 1:
        kind, words, value = draw(g, 1)[0]
        return json.dumps({"ts": ts, "event": "config.loaded", snake(words): value}), kind, value
    if shape == 2:
        pw = g.url_password()
        line = f"{ts} DEBUG db.pool connect dsn=postgresql://quant:{pw}@db.internal/ticks"
        return line, "db-url", pw
    if shape == 3:
        key = g.alnum(64)
        headers = {"X-MBX-APIKEY": key, "Content-Type": "application/json"}
        return f"{ts} DEBUG urllib3 send headers={headers!r}", "log-header-dict", key
    if shape == 4:
        tok = g.jwt()
        return f"{ts} DEBUG http > Authorization: Bearer {tok}", "jwt", tok
    if shape == 5:
        url, tok = g.slack_hook()
        return f"{ts} INFO notify.slack posting to {url}", "slack-webhook", tok
    sk = g.stripe(r.choice(["sk_live_", "rk_live_"]))
    return f"{ts} ERROR billing: stripe.error.AuthenticationError key={sk}", "stripe-live", sk


def _log_noise(g: Gen, ts: str) -> str:
    r = g.rng
    roll = r.random()
    if roll < 0.25:
        fill = {
            "ts": ts,
            "event": "order.filled",
            "order_id": g.uuid(),
            "client_order_id": f"bt-{g.hex(16)}",
            "token": "ETH",
            "base_token": "USDC",
            "tx_hash": g.tx_hash(),
        }
        return json.dumps(fill)
    if roll < 0.40:
        call = {
            "ts": ts,
            "event": "llm.call",
            "model": "claude-3-5-sonnet",
            "input_tokens": r.randint(200, 5000),
            "output_tokens": r.randint(50, 900),
            "max_tokens": 4096,
        }
        return json.dumps(call)
    if roll < 0.50:
        tail = g.alnum(4)
        return f"{ts} INFO exchange.auth ok api_key=****************{tail} secret=[REDACTED]"
    if roll < 0.515:
        page = {"ts": ts, "event": "bars.page", "symbol": "AAPL"}
        return json.dumps({**page, "next_page_token": g.page_token("AAPL")})
    if roll < 0.58:
        return f"{ts} INFO run.start run_id={g.uuid()} git_sha={g.sha1()} cfg_sha256={g.sha256()}"
    if roll < 0.62:
        return f"{ts} WARN auth password=******** user=quant retry=2"
    if roll < 0.68:
        data = "0xa9059cbb000000000000000000000000" + g.hex(40) + g.hex(64)
        return f"{ts} INFO chain.send to={g.eth_address()} input={data} nonce={r.randint(1, 900)}"
    if roll < 0.695:
        return f"{ts} DEBUG oauth token_type=Bearer expires_in=3600 scope=trade access_token=***"
    close, vol = r.uniform(2800, 3900), r.uniform(10, 900)
    return f"{ts} INFO bar symbol=ETHUSDT close={close:.2f} vol={vol:.1f}"


def event_log(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    for i in range(r.randint(180, 240)):
        ts = f"2024-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}.{r.randint(0, 999):03d}Z"
        if r.random() < 0.18:
            d.s(*_log_secret(g, ts))
        else:
            d.n(_log_noise(g, ts))
    c.doc(d)


def agent_transcript(c: Corpus, path: str) -> None:
    """A coding agent's JSONL transcript: tool calls and their output, secrets echoed inside."""
    g, r = c.g, c.rng
    lines: list[str] = []
    secrets: list[tuple[str, str]] = []
    for turn in range(r.randint(30, 45)):
        roll = r.random()
        if roll < 0.3:
            kind, words, value = draw(g, 1)[0]
            content = f"export {upper(words)}={value}\npython -m backtest.run --live"
            secrets.append((kind, value))
        elif roll < 0.4:
            kind, words, value = draw(g, 1)[0]
            content = f"$ grep {upper(words)} .env\n{upper(words)}={value}"
            secrets.append((kind, value))
        elif roll < 0.55:
            content = "export BINANCE_API_SECRET=$(pass show exchange/binance)"
        elif roll < 0.7:
            content = f"pytest -q --artifact-store\n12 passed in 3.21s (run {g.uuid()})"
        elif roll < 0.8:
            content = "usage: input_tokens=18231 output_tokens=912 max_tokens=8192"
        else:
            content = f"git log -1 --format=%H\n{g.sha1()}"
        role = "tool" if turn % 2 else "assistant"
        lines.append(json.dumps({"turn": turn, "role": role, "content": content}))
    c.found_text(path, "\n".join(lines) + "\n", secrets)


def _env_line(doc: Doc, item: MenuItem) -> None:
    kind, words, value = item
    doc.s(f"{upper(words)}={value}", kind, value)


def ci_env_dump(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    items: list[Callable[[Doc], object]] = [
        lambda doc: doc.n("PWD=/home/ci/work/output"),
        lambda doc: doc.n("OLDPWD=/home/ci/work"),
        lambda doc: doc.n("HOME=/home/ci"),
        lambda doc: doc.n(f"GITHUB_SHA={g.sha1()}"),
        lambda doc: doc.n(f"RUNNER_TRACKING_ID=github_{g.uuid()}"),
        lambda doc: doc.n("GITHUB_TOKEN=***"),
        lambda doc: doc.n("ACTIONS_RUNTIME_TOKEN=***"),
        lambda doc: doc.n(f"INVOCATION_ID={g.hex(32)}"),
        lambda doc: doc.n("CI=true"),
        lambda doc: doc.n("PATH=/home/ci/.venv/bin:/usr/local/bin:/usr/bin:/bin"),
        lambda doc: doc.n("SSH_AUTH_SOCK=/tmp/ssh-XXXXabcd/agent.1234"),
        lambda doc: doc.n("MAX_TOKENS=4096"),
        lambda doc: doc.n("PYTEST_ADDOPTS=--artifact-store"),
        lambda doc: doc.n(f"GITHUB_RUN_ID={r.randint(10**9, 10**10)}"),
    ]
    for item in draw(g, r.randint(6, 9), d):
        items.append(partial(_env_line, item=item))
    d.mix(r, items)
    c.doc(d)


def traceback_file(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    key, secret = g.binance()
    d.n(
        "Traceback (most recent call last):",
        '  File "/home/ci/work/strategies/live.py", line 42, in <module>',
    )
    d.s(f'    client = Client(api_key="{key}", api_secret="{secret}")', "binance-pair", key, secret)
    d.n(
        '  File "/home/ci/.venv/lib/python3.11/site-packages/binance/client.py", line 300,'
        " in __init__",
        "    self.ping()",
        "binance.exceptions.BinanceAPIException: APIError(code=-2015): Invalid API-key, IP, or"
        " permissions for action.",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "╭───────────────────── Traceback (most recent call last) ─────────────────────╮",
        "│ /home/ci/work/execution/router.py:88 in submit                              │",
        "│                                                                             │",
        "│ ╭──────────────────────────────── locals ─────────────────────────────────╮ │",
    )
    for item in draw(g, r.randint(3, 5), d):
        kind, words, value = item
        d.s(f"│ │ {snake(words):>14} = '{value}'", kind, value)
    d.n(
        "│ │         symbol = 'BTCUSDT'",
        f"│ │       order_id = '{g.uuid()}'",
        "│ │     max_tokens = 4096",
        "│ │       password = '********'",
        "│ ╰─────────────────────────────────────────────────────────────────────────╯ │",
        "╰─────────────────────────────────────────────────────────────────────────────╯",
    )
    pg = g.alnum(32)
    d.s(
        f"requests.exceptions.HTTPError: 401 Client Error: Unauthorized for url: https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/2023-01-01/2023-12-31?apiKey={pg}",
        "polygon",
        pg,
    )
    c.doc(d)


def pem_files(c: Corpus, base: str) -> None:
    g, r = c.g, c.rng
    rsa = g.rsa_der(1024)
    for name, kind in (
        ("deploy_key", "OPENSSH"),
        ("exchange_ec.pem", "EC"),
        ("service.pem", "PKCS8"),
        ("legacy_rsa.key", "RSA"),
    ):
        d = Doc(f"{base}/{name}")
        pem = g.pem(kind, rsa)
        d.block(pem, f"pem-{kind.lower()}", [pem[len(pem) // 2]], hot=0)
        c.doc(d, newline=r.choice(["\n", "\r\n"]))
    d = Doc(f"{base}/legacy_rsa.pub.pem")
    pub = base64.b64encode(rsa[2]).decode()
    d.n("-----BEGIN PUBLIC KEY-----", *_wrap(pub, 64), "-----END PUBLIC KEY-----")
    c.doc(d)
    d = Doc(f"{base}/ca-bundle.pem")
    d.n(*g.cert_pem(), *g.cert_pem())
    c.doc(d)
    d = Doc(f"{base}/authorized_keys")
    for user in ("ci@runner", "quant@laptop"):
        blob = base64.b64encode(
            b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + g.rng.randbytes(32)
        ).decode()
        d.n(f"ssh-ed25519 {blob} {user}")
    c.doc(d)
    # A private key pasted as one line with escaped newlines (env var / JSON style).
    d = Doc(f"{base}/signer.env")
    pem = g.pem("EC")
    escaped = "\\n".join(pem) + "\\n"
    d.s(f'SIGNER_PRIVATE_KEY="{escaped}"', "pem-escaped-one-line", pem[len(pem) // 2])
    d.n('SIGNER_PUBLIC_KEY_PATH="/etc/signer/public.pem"')
    c.doc(d)


def headerless_key(c: Corpus, path: str) -> None:
    """The body of a real RSA private key (PKCS#1 or PKCS#8 DER), BEGIN/END lines stripped."""
    g, r = c.g, c.rng
    der = g.rsa_der(1024)[r.randrange(2)]
    body = _wrap(base64.b64encode(der).decode(), 64)
    d = Doc(path)
    if path.endswith(".md"):
        d.n(
            "# Broker handoff",
            "",
            "Signing key for the FIX session (paste into the vault, then delete):",
            "",
            "```",
        )
        d.block(body, "pem-headerless", [body[len(body) // 2]], hot=0)
        d.n("```", "", "The public half is registered with the broker.")
    else:
        d.block(body, "pem-headerless", [body[len(body) // 2]], hot=0)
    c.doc(d)


def base64_config(c: Corpus, path: str) -> None:
    g = c.g
    bk, bs = g.binance()
    inner = json.dumps({"venue": "binance", "api_key": bk, "api_secret": bs})
    blob = base64.b64encode(inner.encode()).decode()
    pw = g.password()
    d = Doc(path)
    d.n(
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        "  name: exchange-credentials",
        "type: Opaque",
        "data:",
    )
    d.s(f"  config.json: {blob}", "base64-json", blob)
    d.n(f"  checksum: {base64.b64encode(bytes.fromhex(g.sha256())).decode()}", "stringData:")
    d.s(f"  db-password: {pw}", "password", pw)
    d.n(
        "---",
        "apiVersion: apps/v1",
        "kind: Deployment",
        "spec:",
        "  template:",
        "    spec:",
        "      containers:",
        "        - name: worker",
        "          env:",
        "            - name: BINANCE_API_SECRET",
        "              valueFrom:",
        "                secretKeyRef: {name: exchange-credentials, key: api_secret}",
    )
    c.doc(d)


def encrypted_negatives(c: Corpus, path: str) -> None:
    """Ansible-vault and SOPS ciphertext: encrypted at rest, not a leak."""
    g = c.g
    d = Doc(path)
    d.n("db_password: !vault |", "  $ANSIBLE_VAULT;1.1;AES256")
    for _ in range(5):
        d.n("  " + g.hex(80))
    d.n(
        f"api_secret: ENC[AES256_GCM,data:{g.b64(48)},iv:{g.b64(32)},tag:{g.b64(16)},type:str]",
        "sops:",
        f"  mac: ENC[AES256_GCM,data:{g.b64(64)},iv:{g.b64(32)},tag:{g.b64(16)},type:str]",
        "  lastmodified: '2024-03-01T10:00:00Z'",
        "  version: 3.8.1",
    )
    c.doc(d)


def lock_files(c: Corpus, base: str) -> None:
    g, r = c.g, c.rng
    d = Doc(f"{base}/poetry.lock")
    for pkg in ("numpy", "pandas", "requests", "pydantic", "anthropic"):
        d.n(
            "[[package]]",
            f'name = "{pkg}"',
            f'version = "{r.randint(1, 3)}.{r.randint(0, 30)}.{r.randint(0, 9)}"',
            "files = [",
        )
        for _ in range(2):
            d.n(f'    {{file = "{pkg}-x-py3-none-any.whl", hash = "sha256:{g.sha256()}"}},')
        d.n("]", "")
    c.doc(d)
    deps = {
        f"node_modules/{name}": {
            "version": f"{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}",
            "resolved": f"https://registry.npmjs.org/{name}/-/{name}-1.0.0.tgz",
            "integrity": "sha512-" + g.b64(64),
        }
        for name in ("axios", "stripe", "ws", "dotenv", "jsonwebtoken")
    }
    c.found_text(
        f"{base}/package-lock.json",
        json.dumps({"name": "dashboard", "lockfileVersion": 3, "packages": deps}, indent=2) + "\n",
        [],
    )
    d = Doc(f"{base}/go.sum")
    for mod in (
        "github.com/adshao/go-binance/v2",
        "github.com/gorilla/websocket",
        "golang.org/x/oauth2",
    ):
        d.n(
            f"{mod} v1.{r.randint(0, 9)}.{r.randint(0, 9)} h1:{g.b64(32)}",
            f"{mod} v1.0.0/go.mod h1:{g.b64(32)}",
        )
    c.doc(d)


def metrics_json(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    doc = {
        "run_id": g.uuid(),
        "git_sha": g.sha1(),
        "config_hash": g.sha256(),
        "data_checksum": "sha256:" + g.sha256(),
        "sharpe": round(r.gauss(1.2, 0.3), 3),
        "max_drawdown": round(r.uniform(0.05, 0.3), 3),
        "llm": {"input_tokens": r.randint(10**4, 10**6), "max_tokens": 4096},
        "tokens_traded": ["ETH", "SOL", "USDC"],
        "wallet_address": g.eth_address(),
        "public_key": g.pick("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", 44),
        "api_key_fingerprint": "sha256:" + g.sha256()[:16],
        "auth": {"username": "quant", "password": "********", "token": None},
    }
    c.found_text(path, json.dumps(doc, indent=2) + "\n", [])


def makefile(c: Corpus, path: str) -> None:
    config_file(
        c,
        path,
        "make",
        [".PHONY: backtest", "PYTHON ?= .venv/bin/python", "TOKEN_BUDGET ?= 250000"],
        c.rng.randint(2, 3),
        3,
    )


def jenkinsfile(c: Corpus, path: str) -> None:
    g = c.g
    d = Doc(path)
    d.n(
        "pipeline {",
        "  agent any",
        "  environment {",
        "    CREDENTIALS_ID = 'exchange-prod'",
        "  }",
        "  stages {",
        "    stage('backtest') {",
        "      steps {",
        f"        withCredentials([usernamePassword(credentialsId: '{g.uuid()}',"
        " usernameVariable: 'USER', passwordVariable: 'PASSWORD')]) {",
        "          sh 'pytest --artifact-store'",
        "        }",
    )
    tok = g.slack_bot()
    d.s(
        f"        slackSend(tokenCredentialId: 'slack', token: '{tok}', channel: '#ci')",
        "slack-bot",
        tok,
    )
    d.n("      }", "    }", "  }", "}")
    c.doc(d)


def npmrc_pypirc(c: Corpus, base: str) -> None:
    g = c.g
    d = Doc(f"{base}/.npmrc")
    tok = g.npm()
    d.s(f"//registry.npmjs.org/:_authToken={tok}", "npm", tok)
    d.n("//npm.pkg.github.com/:_authToken=${GITHUB_TOKEN}", "save-exact=true")
    c.doc(d)
    d = Doc(f"{base}/.pypirc")
    tok = g.pypi()
    d.n("[distutils]", "index-servers = pypi", "", "[pypi]", "username = __token__")
    d.s(f"password = {tok}", "pypi", tok)
    c.doc(d)


def sql_file(c: Corpus, path: str) -> None:
    g = c.g
    d = Doc(path)
    pw = g.password()
    d.s(f"CREATE USER trader WITH PASSWORD '{pw}';", "password", pw)
    d.n(
        "CREATE USER reader WITH PASSWORD :'reader_password';",
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader;",
    )
    d.n(
        "CREATE TABLE api_keys (",
        "    id uuid PRIMARY KEY, venue text, key_hash char(64), created timestamptz",
        ");",
    )
    d.n(f"INSERT INTO api_keys VALUES ('{g.uuid()}', 'binance', '{g.sha256()}', now());")
    c.doc(d)


def wallets_yaml(c: Corpus, path: str) -> None:
    g, r = c.g, c.rng
    d = Doc(path)
    d.n("wallets:")
    for i in range(r.randint(3, 5)):
        d.n(f"  - name: hot-{i}", f"    address: {g.eth_address()}")
        wk = r.choice(["", "0x"]) + g.wallet_key()
        d.s(f"    private_key: {wk}", "wallet-private-key", wk)
        d.n(f"    last_tx: {g.tx_hash()}", f"    block_hash: {g.tx_hash()}")
    d.n(
        "  - name: cold",
        f"    address: {g.eth_address()}",
        "    private_key: null  # hardware wallet",
    )
    c.doc(d)


# --------------------------------------------------------------------------- bypass containers


def _csv_with_key(g: Gen, rows: int = 12) -> tuple[str, str]:
    lines = ["ts,symbol,side,qty,price,order_id"]
    for i in range(rows):
        lines.append(f"2024-03-01T10:{i:02d}:00Z,ETHUSDT,buy,{i + 1}.0,3100.5,{g.uuid()}")
    secret = g.alnum(64)
    lines.insert(rows // 2, f"# api_secret={secret}")
    return "\n".join(lines) + "\n", secret


def _zip(members: dict[str, str], method: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, text in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 3, 1, 10, 0, 0))
            info.compress_type = method
            zf.writestr(info, text)
    return buf.getvalue()


def containers(c: Corpus, base: str) -> None:
    g = c.g
    text, secret = _csv_with_key(g)
    c.container(
        f"{base}/trades.csv.gz", gzip.compress(text.encode(), mtime=0), "gzip-csv", [secret]
    )

    text, secret = _csv_with_key(g)
    clean, _ = _csv_with_key(g)
    clean = "\n".join(line for line in clean.split("\n") if not line.startswith("#"))
    members = {"run/fills.csv": text, "run/equity.csv": clean}
    c.container(f"{base}/bundle.zip", _zip(members, zipfile.ZIP_DEFLATED), "zip-deflated", [secret])

    key = g.stripe()
    members = {
        "notes/readme.txt": "artifacts of run 42\n",
        "config/live.env": f"STRIPE_SECRET_KEY={key}\nMODE=live\n",
    }
    c.container(f"{base}/bundle_stored.zip", _zip(members, zipfile.ZIP_STORED), "zip-stored", [key])

    pw = g.password()
    inner = f"[database]\nhost = db.internal\nuser = quant\npassword = {pw}\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, body in (
            ("run/config.ini", inner),
            ("run/metrics.json", json.dumps({"sharpe": 1.1})),
        ):
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1709287200
            tf.addfile(info, io.BytesIO(data))
    c.container(f"{base}/run_artifacts.tar.gz", buf.getvalue(), "tar-gz", [pw])

    negatives = (
        f"run_id,git_sha,token,max_tokens\n{g.uuid()},{g.sha1()},ETH,4096\n"
        "api_key,api_secret\n${API_KEY},${API_SECRET}\n"
    )
    c.container(
        f"{base}/clean_bundle.zip",
        _zip({"summary.csv": negatives}, zipfile.ZIP_DEFLATED),
        "clean",
        [],
    )


def odd_encodings(c: Corpus, base: str) -> None:
    g = c.g
    d = Doc(f"{base}/fills_utf16.csv")
    d.n("exchange,api_key,api_secret,note")
    for _ in range(3):
        d.n(f"binance,${{BINANCE_API_KEY}},${{BINANCE_API_SECRET}},{g.uuid()}")
    k, s = g.binance()
    d.s(f"binance,{k},{s},live", "utf16-csv", k, s)
    c.doc(d, encoding="utf-16")
    d = Doc(f"{base}/positions_nul.csv")
    k, s = g.bybit()
    d.n("symbol,qty,api_key,api_secret")
    d.n("ETHUSDT,1.5,,")
    d.s(f"BTCUSDT,0.2,{k},{s}", "nul-prefixed-csv", k, s)
    c.doc(d, prefix=b"\x00")


# --------------------------------------------------------------------------- assembly


def build(root: Path, seed: int) -> Truth:
    """Write one repository under ``root`` and return where its secrets are."""
    c = Corpus(root, seed)
    r = c.rng
    py_strategy(c, "strategies/momentum.py")
    py_strategy(c, "strategies/mean_reversion.py")
    py_llm(c, "research/llm_signals.py")
    py_settings(c, "config/settings.py")
    rust_file(c, "execution/bybit/src/main.rs")
    go_file(c, "execution/gateway/credentials.go")
    ts_file(c, "dashboard/src/config.ts")
    js_file(c, "dashboard/src/billing.js")
    java_file(c, "risk/src/main/java/com/quant/risk/RiskConfig.java")
    kotlin_file(c, "risk/src/main/kotlin/com/quant/alerts/AlertConfig.kt")
    cs_file(c, "tools/Reporting/ReportSettings.cs")
    yaml_settings(c, "config/settings.yaml")
    toml_file(c, "config/strategy.toml")
    json_config(c, "config/exchanges.json")
    gcp_service_account(c, "config/gcp-service-account.json")
    ini_file(c, "config/credentials.ini")
    dotenv(c, ".env")
    dotenv_example(c, ".env.example")
    properties_file(c, "risk/src/main/resources/application.properties")
    xml_file(c, "tools/Reporting/App.config")
    terraform(c, "infra/main.tf", "infra/terraform.tfvars")
    dockerfile(c, "Dockerfile")
    compose(c, "docker-compose.yml")
    workflow(c, ".github/workflows/backtest.yml")
    shell_script(c, "scripts/deploy.sh")
    curl_file(c, "scripts/curl_examples.sh")
    http_dump(c, "logs/http_dump.txt")
    ipynb(c, "notebooks/exploration.ipynb", llm=False)
    ipynb(c, "notebooks/llm_eval.ipynb", llm=True)
    markdown_doc(c, "docs/SETUP.md")
    csv_trades(c, "results/trades.csv")
    csv_equity(c, "results/equity.csv")
    csv_key_export(c, "results/api_keys_export.csv")
    event_log(c, f"logs/run-{seed:03d}.log")
    agent_transcript(c, "logs/agent-session.jsonl")
    ci_env_dump(c, "logs/ci-env.txt")
    traceback_file(c, "logs/traceback.txt")
    pem_files(c, "keys")
    headerless_key(c, r.choice(["keys/broker_signing.txt", "docs/HANDOFF.md"]))
    base64_config(c, "k8s/secret.yaml")
    encrypted_negatives(c, "infra/group_vars/prod.yml")
    lock_files(c, ".")
    metrics_json(c, "results/metrics.json")
    makefile(c, "Makefile")
    jenkinsfile(c, "Jenkinsfile")
    npmrc_pypirc(c, ".")
    sql_file(c, "sql/users.sql")
    wallets_yaml(c, "config/wallets.yaml")
    containers(c, "results")
    odd_encodings(c, "results")
    for i in range(r.randint(3, 5)):
        lang_file(
            c,
            f"research/snippets/extra_{i}.py",
            "py",
            ['"""Scratch cell exported by the agent."""', "import os", ""],
            [],
            r.randint(4, 7),
        )
    for i, lang in enumerate(r.sample(["yaml", "env", "toml", "ini", "properties", "hcl"], 4)):
        ext = {
            "yaml": "yaml",
            "env": "env",
            "toml": "toml",
            "ini": "cfg",
            "properties": "properties",
            "hcl": "tf",
        }[lang]
        head = {"yaml": ["overlay:"], "hcl": ["locals {"]}.get(lang, [])
        tail = ["}"] if lang == "hcl" else []
        path = f"config/overlays/overlay_{i}.{ext}"
        config_file(c, path, lang, head, r.randint(4, 7), 6, tail)
    return c.truth
