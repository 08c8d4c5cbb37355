"""The secret scanner: provider formats, secret-named assignments, suppression, findings.

One module serves the store, the hooks and the command line. How a scan works:

1. A file with a NUL byte in its first 8 KB is binary and skipped.
2. Provider formats (AWS, Stripe, GitHub, GitLab, Slack, Google, OpenAI, Anthropic,
   Hugging Face, npm, PyPI, SendGrid, Twilio, Telegram, JWT, private keys, URLs with a
   password) are regular expressions that each begin with a literal, so ``re`` scans
   the whole buffer for that literal at C speed; shape checks (boundaries, documented
   example keys, placeholders) run on the few hits.
3. The keyword families (password/passwd/pwd/pass, secret, token, api/access/private
   key, auth, credential) are found with one ``bytes.find`` pass per keyword over a
   lower-cased copy. Only lines that contain one are decoded and parsed as assignments
   or key/value pairs (Python, YAML, JSON, .env, INI, XML, CSV cells, ``key=value`` in
   logs, keyword arguments, dict literals). A value must be a *literal* (not an env
   lookup, None, empty, a placeholder or a template) and, outside the password family,
   must look random (entropy gate). Names of digests, ids, URLs, sizes etc. are not
   secret-named, so hashes in hash-named fields, git SHAs and UUIDs are left alone.
4. ``pragma: allowlist secret`` or ``gitleaks:allow`` on the line, or
   ``pragma: allowlist nextline secret`` on the line before, suppresses a finding.

A finding carries path, line, rule id and a masked preview. Nothing here ever returns,
logs or raises with a whole secret in it.
"""

from __future__ import annotations

import base64
import binascii
import csv
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_ahocorasick: Any
try:  # a multi-pattern search in one SIMD pass; without it, one bytes.find pass per needle
    import ahocorasick_rs as _ahocorasick
except ImportError:  # pragma: no cover
    _ahocorasick = None

__all__ = [
    "BINARY_SNIFF_BYTES",
    "MAX_SCAN_BYTES",
    "Finding",
    "Scanner",
    "default_patterns",
    "iter_files",
    "mask",
]

BINARY_SNIFF_BYTES = 8192
MAX_SCAN_BYTES = 256 * 1024 * 1024

_ALLOW_LINE = (b"pragma: allowlist secret", b"gitleaks:allow")
_ALLOW_NEXT = b"pragma: allowlist nextline secret"


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    preview: str

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "rule": self.rule, "preview": self.preview}

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule} {self.preview}"


def mask(secret: str) -> str:
    """The first four characters, then an ellipsis: enough to find it, never the secret.

    Short values show fewer characters (a third of them) so that the preview of a
    short password is never the password.
    """
    shown = 4 if len(secret) >= 12 else len(secret) // 3
    return secret[:shown] + "…"


# --------------------------------------------------------------------------- providers

_ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_WORD = _ALNUM | frozenset(b"_")
_TOKEN = _WORD | frozenset(b"-")
_B64 = _ALNUM | frozenset(b"+/=")

# Documented example credentials that say so (AWS's ...EXAMPLE keys) are not secrets.
# Other famous samples (Stripe's docs key, jwt.io's token) are still reported: nothing in
# them says "example", and a test fixture that holds one is exactly what to catch.
_DOCUMENTED = ("EXAMPLE",)


@dataclass(frozen=True)
class _Provider:
    rule: str
    pattern: bytes
    lead: frozenset[int]  # the byte before the match must not be one of these
    tail: frozenset[int]  # the byte after the match must not be one of these
    group: int | str = 0  # the secret part of the match
    check: Callable[[str], bool] | None = None


def _mixed(value: str) -> bool:
    """Random-looking enough for a provider body (not 'xxxx', not one repeated char)."""
    return not _is_placeholder(value) and _entropy(value) >= 2.5


def _alpaca_id(value: str) -> bool:
    body = value[2:]
    digits = sum(ch.isdigit() for ch in body)
    return 3 <= digits <= 15 and not value.startswith("AKIA") and _entropy(body) >= 3.2


_PROVIDERS: tuple[_Provider, ...] = (
    _Provider("aws-access-key-id", rb"AKIA[0-9A-Z]{16}", _ALNUM, _ALNUM),
    _Provider("aws-access-key-id", rb"ASIA[0-9A-Z]{16}", _ALNUM, _ALNUM),
    _Provider("google-api-key", rb"AIza[0-9A-Za-z_\-]{35}", _TOKEN, _TOKEN),
    _Provider("stripe-secret-key", rb"sk_live_[0-9A-Za-z]{20,247}", _WORD, _ALNUM, 0, _mixed),
    _Provider("stripe-secret-key", rb"sk_test_[0-9A-Za-z]{20,247}", _WORD, _ALNUM, 0, _mixed),
    _Provider("stripe-restricted-key", rb"rk_live_[0-9A-Za-z]{20,247}", _WORD, _ALNUM, 0, _mixed),
    _Provider("stripe-restricted-key", rb"rk_test_[0-9A-Za-z]{20,247}", _WORD, _ALNUM, 0, _mixed),
    _Provider("github-token", rb"gh[pousr]_[A-Za-z0-9]{36,251}", _WORD, _ALNUM, 0, _mixed),
    _Provider(
        "github-fine-grained-token",
        rb"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
        _WORD,
        _ALNUM,
        0,
        _mixed,
    ),
    _Provider(
        "gitlab-token", rb"gl(?:pat|dt|rt|ptt)-[A-Za-z0-9_\-]{20,50}", _WORD, _TOKEN, 0, _mixed
    ),
    _Provider(
        "slack-token", rb"xox[abposre]-[0-9]{6,16}-[0-9A-Za-z\-]{8,250}", _WORD, _TOKEN, 0, _mixed
    ),
    _Provider(
        "slack-token", rb"xapp-[0-9]-[A-Z0-9]{6,16}-[0-9]{6,16}-[a-z0-9]{32,80}", _WORD, _ALNUM
    ),
    _Provider(
        "slack-webhook",
        rb"hooks\.slack\.com/services/T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{20,32}",
        frozenset(),
        _ALNUM,
    ),
    _Provider(
        "anthropic-api-key",
        rb"sk-ant-(?:api|admin|oat)[0-9]{2}-[A-Za-z0-9_\-]{80,120}",
        _WORD,
        _TOKEN,
        0,
        _mixed,
    ),
    _Provider(
        "openai-api-key",
        rb"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{32,250}",
        _TOKEN,
        _TOKEN,
        0,
        lambda v: not v.startswith("sk-ant-") and _looks_random(v[3:], strict=True),
    ),
    _Provider("huggingface-token", rb"hf_[A-Za-z0-9]{30,40}", _WORD, _ALNUM, 0, _mixed),
    _Provider("npm-token", rb"npm_[A-Za-z0-9]{36}", _WORD, _ALNUM, 0, _mixed),
    _Provider("pypi-token", rb"pypi-AgE[A-Za-z0-9_\-]{50,300}", _WORD, _TOKEN),
    _Provider(
        "sendgrid-api-key",
        rb"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}",
        _TOKEN,
        _TOKEN,
        0,
        _mixed,
    ),
    _Provider("twilio-api-key", rb"SK[0-9a-f]{32}", _ALNUM, _ALNUM),
    _Provider("alpaca-api-key", rb"PK[0-9A-Z]{18}", _ALNUM, _ALNUM, 0, _alpaca_id),
    _Provider("alpaca-api-key", rb"AK[0-9A-Z]{18}", _ALNUM, _ALNUM, 0, _alpaca_id),
    # A bot token is <8-10 digit bot id>:AA<33 chars>; the scan starts at the literal.
    _Provider("telegram-bot-token", rb":AA[0-9A-Za-z_\-]{33}", frozenset(), _TOKEN, 0, _mixed),
    _Provider(
        "jwt",
        rb"eyJ[A-Za-z0-9_\-]{8,4096}\.eyJ[A-Za-z0-9_\-]{8,8192}\.[A-Za-z0-9_\-]{8,1024}",
        _TOKEN,
        _TOKEN,
    ),
    _Provider(
        "private-key",
        rb"-----BEGIN (?:[A-Z0-9]{1,12} ){0,2}PRIVATE KEY(?: BLOCK)?-----",
        frozenset(),
        frozenset(),
    ),
    _Provider(
        "url-password",
        rb"://(?P<user>[^\s:@/\"'<>\\`]{0,128}):(?P<pw>[^\s@/\"'<>\\`]{1,256})@"
        rb"(?=[A-Za-z0-9\[])",
        frozenset(),
        frozenset(),
        "pw",
    ),
)

_KEYWORD_RULE_PATTERN = (
    r"(?i)(?:api_?key|secret|passw(?:or)?d|pwd|pass|token|auth|credential|access_?key|"
    r"private_?key)[\w.-]*[\"']?\s*(?::|=|=>)\s*[\"']?(?P<value>[^\"'\s]{4,})"
)


def default_patterns() -> list[str]:
    """The built-in rules' patterns (ArtifactStoreConfig.secret_patterns' default).

    A Scanner given exactly this list (or None) uses the full built-in rules, with their
    shape checks and keyword parsing; any other list replaces them with plain regexes.
    """
    return [p.pattern.decode("ascii") for p in _PROVIDERS] + [_KEYWORD_RULE_PATTERN]


_KEYWORDS_TEXT = (b"pass", b"pwd", b"secret", b"token", b"key", b"auth", b"cred")

# --------------------------------------------------------------------------- values


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_PLACEHOLDER_WORDS = _wordset(
    """
    none null nil undefined true false yes no on off required optional default empty
    changeme change_me change-me changeit password passwd pass pwd secret token apikey
    api_key api-key key yourpassword yoursecret
    example sample dummy placeholder redacted hidden masked removed todo tbd fixme
    xxx test testing string str value enabled disabled notset not_set unset na n/a
    secretkey secret_key your_token your_api_key insert_here replace_me replaceme
    """
)
_PLACEHOLDER_MARKERS = (
    "${",
    "{{",
    "{%",
    "$(",
    "%(",
    "****",
    "[filtered",
    "[hidden",
    "[masked",
    "…",
    "...",
    "<",
    ">",
    "your_",
    "your-",
    "yourapi",
    "changeme",
    "change_me",
    "change-me",
    "placeholder",
    "replace_",
    "replace-",
    "replaceme",
    "insert_",
    "insert-",
    "redacted",
    "example",
    "dummy",
    "<secret>",
)
_REFERENCE = re.compile(
    r"""(?ix)^(?:
        os\.(?:environ|getenv)|getenv|environ|env\s*[\[(.]|process\.env|ENV\[|settings\.|
        config\.|cfg\.|self\.|secrets?\.(?:get|\w+\[)|vault:|ssm:|arn:aws:|keyring\.|
        projects/[^/]+/secrets/|file:|/run/secrets|%env|\$env:|\$[A-Za-z_]|data:[\w.+\-]+/
    )"""
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NUMBERISH = re.compile(r"[-+]?[\d.,:_/ TZ+\-]*")
_WORDS_ONLY = re.compile(r"[A-Za-z]+(?:[ _.\-][A-Za-z]+)*")
_X_RUN = re.compile(r"x{5,}|X{5,}|[xX]{8,}")
_RANDOM_SEGMENT = re.compile(r"(?=[^/\\]*[a-z])(?=[^/\\]*[A-Z])(?=[^/\\]*[0-9])[^/\\.]{12,}")
_PATHLIKE = re.compile(
    r"(?:[~.]{0,2}/|[A-Za-z]:\\)[\w.\-/\\ ]*|[\w.\-]+(?:/[\w.\-]+)*\.(?:pem|key|json|ya?ml|txt|"
    r"env|ini|cfg|conf|crt|p12|pfx|der|jks|gpg|asc|csv|log|py)"
)
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_ETH_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


def _is_placeholder(value: str) -> bool:
    low = value.lower()
    if low.strip(" '\"`") in _PLACEHOLDER_WORDS or len(set(low)) <= 2:
        return True
    if any(marker in low for marker in _PLACEHOLDER_MARKERS):
        return True
    # 'xxxx' masks a value; a random body has a run of x's only by (rare) chance
    if _X_RUN.search(value) or (len(value) <= 24 and "xxxx" in low):
        return True
    if re.fullmatch(r"%[sdr]|\{\w*\}|@\w+@|__\w+__", value):
        return True
    return any(doc in value for doc in _DOCUMENTED)


def _is_literal_value(value: str) -> bool:
    """Not an env lookup, a reference, empty, a placeholder or a template."""
    v = value.strip()
    if not v or _is_placeholder(v) or _REFERENCE.match(v):
        return False
    return not (v.startswith("{") and v.endswith("}"))


def _looks_random(value: str, *, strict: bool = False) -> bool:
    """The entropy gate for values in secret-named contexts (not passwords)."""
    v = value
    n = len(v)
    if n < (16 if strict else 10) or n > 4096:
        return False
    if " " in v.strip() or _NUMBERISH.fullmatch(v) or _EMAIL.fullmatch(v):
        return False
    if _is_path(v) or "://" in v or _ETH_ADDRESS.fullmatch(v):
        return False
    if _WORDS_ONLY.fullmatch(v) and _is_wordy(v):
        return False
    if ":" in v and _is_structured_key(v):
        return False
    if re.fullmatch(r"[0-9a-fA-F]+", v):
        return n >= 16 and _entropy(v) >= 3.0
    classes = sum(bool(re.search(p, v)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    threshold = 3.3 if strict else 3.0
    if classes == 1:  # one letter case only: long and varied enough, not a word
        return n >= 16 and _entropy(v) >= 3.5 and not _is_wordy(v)
    return _entropy(v) >= (threshold if n >= 16 else threshold - 0.3)


def _is_structured_key(value: str) -> bool:
    """A namespaced cache/lookup key ('ohlcv:BTCUSDT:1h'), not a random secret: every
    colon-separated part is short and none mixes lower case, upper case and digits."""
    parts = value.split(":")
    return all(
        len(p) <= 12
        and not (re.search(r"[a-z]", p) and re.search(r"[A-Z]", p) and re.search(r"\d", p))
        for p in parts
    )


def _is_path(value: str) -> bool:
    """A file path, not a base64 secret that happens to contain '/'."""
    if not _PATHLIKE.fullmatch(value):
        return False
    return not any(_RANDOM_SEGMENT.fullmatch(seg) for seg in re.split(r"[/\\]", value))


def _is_wordy(value: str) -> bool:
    """Letters split into dictionary-like words ('my_app_secret', 'SecretValue')."""
    parts = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", value)
    if not parts:
        return False
    if max(len(p) for p in parts) > 14:
        return False  # no dictionary word is that long
    avg = sum(len(p) for p in parts) / len(parts)
    vowels = sum(ch in "aeiouAEIOU" for ch in value) / max(1, sum(ch.isalpha() for ch in value))
    return avg >= 3.5 and 0.2 <= vowels <= 0.6


# --------------------------------------------------------------------------- names

_NAME_SPLIT = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_COMPOUNDS: dict[str, tuple[str, ...]] = {
    "apikey": ("api", "key"),
    "apisecret": ("api", "secret"),
    "apitoken": ("api", "token"),
    "secretkey": ("secret", "key"),
    "accesskey": ("access", "key"),
    "accesskeyid": ("access", "key", "id"),
    "secretaccesskey": ("secret", "access", "key"),
    "privatekey": ("private", "key"),
    "authtoken": ("auth", "token"),
    "accesstoken": ("access", "token"),
    "refreshtoken": ("refresh", "token"),
    "bottoken": ("bot", "token"),
    "clientsecret": ("client", "secret"),
    "keyid": ("key", "id"),
    "dbpass": ("db", "pass"),
    "dbpassword": ("db", "password"),
    "passphrase": ("passphrase",),
    "webhooksecret": ("webhook", "secret"),
    "signingsecret": ("signing", "secret"),
    "sessiontoken": ("session", "token"),
    "apipassword": ("api", "password"),
}
_FAMILIES: dict[str, str] = {
    "password": "password",
    "passwd": "password",
    "pwd": "password",
    "pass": "password",
    "passphrase": "password",
    "passcode": "password",
    "secret": "secret",
    "token": "token",
    "auth": "auth",
    "authorization": "auth",
    "credential": "credential",
    "credentials": "credential",
    "creds": "credential",
    "key": "key",
}
_KEY_QUALIFIERS = _wordset(
    """api access secret private auth client signing sign encryption encrypt master app
    consumer account license licence service webhook bot broker exchange trading trade
    live prod production subscription admin hmac jwt session rest ws user developer dev
    partner merchant publishable ssh gpg pgp aes rsa ec"""
)
_EXCHANGES = (
    "binance",
    "alpaca",
    "apca",
    "coinbase",
    "kraken",
    "bybit",
    "okx",
    "kucoin",
    "bitfinex",
    "bitmex",
    "gemini",
    "bitstamp",
    "oanda",
    "ibkr",
    "polygon",
    "tradier",
    "deribit",
    "huobi",
    "gateio",
    "mexc",
)
_NEGATORS = _wordset(
    """hash hashed sha sha1 sha256 sha512 md5 digest checksum fingerprint crc etag commit
    rev revision uuid guid type kind name names file filename path dir url uri endpoint
    host hostname env var field column col length len size count counts limit max min num
    ttl expiry expires expire expiration expired timeout age at time date ts timestamp
    created updated enabled disabled required mode method scheme provider format version
    prefix suffix usage used address symbol pair pairs decimals price amount balance supply
    rate ratio policy rotation rotated source location store ref arn label index idx
    position pos strength hint reset valid validation check placeholder example sample
    description desc help doc regex pattern mask masked redacted status error errors level
    scope scopes audience issuer alg algorithm param params expected length chars bytes
    bits id ids refresh_at header headers cache sort primary partition lookup dedupe
    idempotency group foreign unique index hotkey keyboard keys tokens secrets passwords
    field fields manager vault store service_account mint contract pubkey program"""
)


# Words before "token" that make it a crypto asset: base_token, quote_token, fee_token ...
_ASSET_TOKEN = _wordset(
    """base quote fee native reward rewards stake staking input output from to src dst
    collateral gas wrapped stable lp erc20 spl governance"""
)

_VOCAB = frozenset(
    [*_FAMILIES, *_KEY_QUALIFIERS, *_EXCHANGES, "aws", "id", "db", "refresh", "x", "gcp"]
) | _wordset("pg postgres mysql redis smtp mongo ldap ftp sftp mail email root user rabbitmq proxy")


@lru_cache(maxsize=4096)
def _segment(word: str) -> tuple[str, ...]:
    """Split run-together names ('awssecretaccesskey') into known words, if they all are."""
    if word in _COMPOUNDS:
        return _COMPOUNDS[word]
    if word in _VOCAB or len(word) > 40:
        return (word,)
    best: list[tuple[str, ...] | None] = [()] + [None] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 13), end):
            prefix = best[start]
            if prefix is not None and word[start:end] in _VOCAB:
                best[end] = (*prefix, word[start:end])
                break
    return best[-1] or (word,)


@dataclass(frozen=True)
class _Name:
    family: str
    weak: bool
    rule: str


@lru_cache(maxsize=8192)
def _classify(name: str) -> _Name | None:
    """Is this a secret-named key? Returns its family, or None."""
    if sum(ch.isdigit() for ch in name) > 4 or len(name) > 80:
        return None  # a random id, not a name
    if not re.search(r"[_\-. ]", name) and _looks_random(name):
        return None
    words: list[str] = []
    for raw in _NAME_SPLIT.findall(name):
        words.extend(_segment(raw.lower()))
    found: int | None = None
    for i, word in enumerate(words):
        family = _FAMILIES.get(word)
        if family is None:
            continue
        if (
            family == "key"
            and i > 0
            and words[i - 1] not in _KEY_QUALIFIERS
            and not any(ex in words[i - 1] for ex in _EXCHANGES)
        ):
            continue
        found = i
    if found is None:
        return None
    trailing = words[found + 1 :]
    family = _FAMILIES[words[found]]
    hashy = {"hash", "hashed", "sha", "sha1", "sha256", "sha512", "md5", "digest", "checksum"}
    if any(w in hashy or w == "fingerprint" for w in words):
        return None
    allowed_id = (
        family == "key" and trailing[:1] == ["id"] and words[found - 1 : found] != ["private"]
    )
    for word in trailing:
        if word in _NEGATORS and not (allowed_id and word == "id"):
            return None
    if words[:found] and words[found - 1] in {"max", "min", "num", "total", "count", "is", "has"}:
        return None
    if family == "token" and words[found - 1 : found] and words[found - 1] in _ASSET_TOKEN:
        return None  # a crypto asset (``quote_token: USDT``), not a credential
    weak = (family == "key" and found == 0) or family in {"auth", "credential"}
    return _Name(family, weak, _rule_for(words, family))


def _rule_for(words: list[str], family: str) -> str:
    joined = " ".join(words)
    for exchange in _EXCHANGES:
        if exchange in joined:
            return ("alpaca" if exchange == "apca" else exchange) + "-api-key"
    if "aws" in words and family in {"secret", "key"}:
        return "aws-secret-access-key"
    if family == "key":
        return "private-key-assignment" if "private" in words else "api-key-assignment"
    return f"{family}-assignment"


# --------------------------------------------------------------------------- file kinds

_KINDS = {
    ".py": "python",
    ".pyi": "python",
    ".yaml": "config",
    ".yml": "config",
    ".ini": "config",
    ".cfg": "config",
    ".conf": "config",
    ".toml": "config",
    ".properties": "config",
    ".env": "config",
    ".json": "json",
    ".jsonl": "json",
    ".ipynb": "json",
    ".csv": "csv",
    ".tsv": "csv",
}


def _kind_of(path: str) -> str:
    name = os.path.basename(path).lower()
    if name.startswith(".env") or name.endswith(".env"):
        return "config"
    return _KINDS.get(os.path.splitext(name)[1], "text")


# --------------------------------------------------------------------------- parsing

_VALUE = (
    r"(?:[rRbBuUfF]{0,2}(?P<q>[\"'`])(?P<qv>(?:(?!(?P=q))[^\\\n]|\\.){0,1000})(?P=q)"
    r"|\\\"(?P<ev>[^\"\\\n]{1,1000})\\\""
    r"|(?P<uv>[^\s\"'`,;&)\]}<>|]{1,1000}))"
)
_PAIR = re.compile(
    r"(?P<name>[A-Za-z_$@][\w.$@\-]{0,80})(?:\\?[\"'])?\]?"
    r"(?P<sep>\s*:\s*[A-Za-z_][\w.]{0,30}(?:\[[\w., |\[\]]{0,40}\])?"
    r"(?:\s*\|\s*[A-Za-z_][\w.]{0,30}){0,3}\s*=(?!=)\s*"
    r"|\s*(?::=|=>|=(?!=)|:(?![:/]))\s*"
    r"|\s+(?=\\?[\"']))(?=" + _VALUE + ")"
)
_CALL_PAIR = re.compile(
    r"(?P<nq>[\"'])(?P<name>[\w.\- ]{1,80})(?P=nq)\s*,\s*"
    r"(?=(?P<q>[\"'])(?P<qv>(?:(?!(?P=q))[^\\\n]|\\.){1,1000})(?P=q))"
)
_FLAG_PAIR = re.compile(r"--(?P<name>[A-Za-z][\w\-]{1,60})\s+" + _VALUE)
_XML_PAIR = re.compile(r"<(?P<name>[\w:.\-]{1,80})>(?P<uv>[^<\n]{1,1000})</(?P=name)>")
_NAME_VALUE = re.compile(
    r"[\"']?(?:name|key|Name|Key)[\"']?\s*[:=]\s*[\"'](?P<name>[\w.\-]{1,80})[\"']\s*,\s*"
    r"[\"']?(?:value|Value)[\"']?\s*[:=]\s*" + _VALUE
)
_YAML_NAME = re.compile(r"^\s*-?\s*name:\s*[\"']?(?P<name>[\w.\-]{1,80})[\"']?\s*$")
_YAML_VALUE = re.compile(r"^\s*value:\s*" + _VALUE)
_AUTH_SCHEME = re.compile(
    r"(?i)\b(?P<scheme>bearer|basic|token)\s+(?P<v>[A-Za-z0-9\-._~+/]{8,4096}=*)"
)
_AUTH_TUPLE = re.compile(
    r"(?:\bauth\s*=\s*\(|HTTPBasicAuth\(|BasicAuth\(|\.login\()\s*(?:\w+\s*=\s*)?"
    r"[\"'][^\"'\n]{0,100}[\"']\s*,\s*(?:\w+\s*=\s*)?[\"'](?P<v>[^\"'\n]{1,200})[\"']"
)
# A literal signing key: ``jwt.encode(payload, "KEY", ...)``, ``hmac.new(b"KEY", ...)``.
_SIGNING_CALL = re.compile(
    r"(?:jwt\.encode\(\s*[\w.\[\]\"']+\s*,\s*(?:key\s*=\s*)?|hmac\.new\(\s*(?:key\s*=\s*)?)"
    r"[rbu]?[\"'](?P<v>[^\"'\n]{10,400})[\"']"
)
_CLIENT_CALL = re.compile(r"(?P<callee>[A-Za-z_][\w.]{0,60})\((?P<args>[^()\n]{0,800})\)")
_CLIENT_CALLEE = re.compile(
    r"(?i)(?:client|rest|exchange|api|broker|session|connect|login|auth|spot|futures|"
    r"binance|alpaca|kraken|coinbase|bybit|okx|kucoin)\w*$"
)
_AUTH_HEADER = re.compile(r"(?i)authorization[\"']?\s*[:=]\s*[\"']?\s*$")
_POSITIONAL_STRING = re.compile(r"(?:^|,)\s*[rbu]?[\"'](?P<v>[^\"'\n]{16,400})[\"']\s*(?=,|$)")
_COMMENT_TAIL = re.compile(r"\s+[#;].*$")
# pydantic / typing wrappers around a literal default: ``SecretStr("...")``,
# ``Field(default="...", alias=...)``, ``Field("...")``.
_WRAPPED_LITERAL = re.compile(
    r"(?:\w+\.)?(?:SecretStr|SecretBytes|Secret|Field|str|bytes)\(\s*(?:default\s*=\s*)?"
    r"[rbu]?(?P<q>[\"'])(?P<v>(?:(?!(?P=q))[^\\\n]|\\.){1,1000})(?P=q)"
)


_PASSWORD_NAME = _Name("password", False, "basic-auth")


@dataclass(frozen=True)
class _Hit:
    offset: int  # byte offset of the match (or of its line) in the buffer
    rule: str
    value: str
    priority: int  # 0 provider / custom, 1 keyword


def _pair_value(m: re.Match[str]) -> tuple[str, bool]:
    groups = m.groupdict()
    if groups.get("qv") is not None:
        return groups["qv"], True
    if groups.get("ev") is not None:
        return groups["ev"], True
    return groups.get("uv") or "", False


_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.$@-")
_LOWER_KEYWORDS = tuple(k.decode() for k in _KEYWORDS_TEXT)


_KEYWORD_RX = re.compile("|".join(_LOWER_KEYWORDS))


def _name_starts(line: str, lower: str) -> list[int]:
    """Where the names around each keyword begin (parsing is anchored there)."""
    starts: list[int] = []
    for m in _KEYWORD_RX.finditer(lower):
        j = i = m.start()
        while j > 0 and line[j - 1] in _NAME_CHARS:
            j -= 1
        while j < i and not (line[j].isalpha() or line[j] in "_$@"):
            j += 1
        if j > 1 and line[j - 1] == ":" and line[j - 2] in _NAME_CHARS:
            continue  # a segment of a colon path (an ARN, ``ns:secret:name``), not a key
        if not starts or starts[-1] != j:
            starts.append(j)
    return starts


def _inside_string(line: str, pos: int) -> bool:
    quotes = re.findall(r"(?<!\\)[\"']", line[:pos])
    return len(quotes) % 2 == 1


def _value_is_secret(name: _Name, value: str, *, bare: bool = False) -> bool:
    """``bare``: an unquoted value in running text, where a plain word is prose."""
    value = value.strip()
    scheme = _AUTH_SCHEME.match(value)
    if scheme:
        return _scheme_value_is_secret(scheme)
    if not _is_literal_value(value) or _NUMBERISH.fullmatch(value):
        return False
    if name.family == "password":
        if bare and re.fullmatch(r"[A-Za-z][a-z]*", value):
            return False
        return len(value) >= 4 and not value.lower().startswith(("true", "false"))
    if _UUID.fullmatch(value) and name.family == "key":
        return False
    if _plain_literal_counts(name, value):
        return True
    return _looks_random(value, strict=name.weak)


def _plain_literal_counts(name: _Name, value: str) -> bool:
    """SPEC §7: the seed's families (api key, secret key, ...) count with any literal that
    is not a placeholder; entropy gates only the looser secret-named contexts."""
    if name.weak or name.family not in {"secret", "key"} or bare_word(value):
        return False
    return (
        6 <= len(value) <= 200
        and not any(c in value for c in " ()[]{},;")
        and not _is_placeholder(value)
        and not _placeholder_words(value)
        and not _is_path(value)
        and "://" not in value
        and not _EMAIL.fullmatch(value)
        and not (":" in value and _is_structured_key(value))
    )


_FILLER = _PLACEHOLDER_WORDS | _wordset(
    """my our fake demo sample mock stub foo bar baz here goes put insert api access private
    client app value key keys secret secrets token tokens pass password test tests dev local
    staging paper sandbox not real invalid bogus"""
)


def _placeholder_words(value: str) -> bool:
    """``test-key``, ``my_api_secret``, ``fake-token``: words that only name a placeholder."""
    parts = [p for p in re.split(r"[-_.]+", value.lower()) if p]
    return len(parts) >= 2 and all(p in _FILLER for p in parts)


def bare_word(value: str) -> bool:
    """An identifier-like word that names something (``ALPACA_KEY``, ``api_key``)."""
    return bool(re.fullmatch(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[a-z]+(?:_[a-z]+)+", value))


def _scheme_value_is_secret(m: re.Match[str]) -> bool:
    token = m.group("v")
    if m.group("scheme").lower() == "basic":
        try:
            decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        except (binascii.Error, ValueError):
            return False
        _user, sep, password = decoded.decode("utf-8", "replace").partition(":")
        return bool(sep) and _is_literal_value(password) and len(password) >= 4
    return _is_literal_value(token) and _looks_random(token, strict=False)


class _LineParser:
    """Finds secret-named assignments in one decoded line."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def parse(self, line: str) -> Iterator[tuple[str, str]]:
        """Yields (rule, secret value) pairs."""
        lower = line.lower()
        if self.kind == "csv":
            yield from self._csv_pairs(line)
        for pos in _name_starts(line, lower):
            m = _PAIR.match(line, pos)
            if m is not None:
                hit = self._check(line, m)
                if hit:
                    yield hit
        guarded = (
            (_CALL_PAIR, '",' in line or "'," in line),
            (_XML_PAIR, "</" in line),
            (_NAME_VALUE, "value" in lower),
            (_FLAG_PAIR, "--" in line and self.kind != "python"),
        )
        for regex, wanted in guarded:
            if wanted:
                for m in regex.finditer(line):
                    hit = self._check(line, m)
                    if hit:
                        yield hit
        if "jwt.encode(" in line or "hmac.new(" in line:
            for m in _SIGNING_CALL.finditer(line):
                if _is_literal_value(m.group("v")) and _looks_random(m.group("v")):
                    yield "secret-assignment", m.group("v")
        if "auth" in lower or "login(" in lower:
            for m in _AUTH_TUPLE.finditer(line):
                if _value_is_secret(_PASSWORD_NAME, m.group("v")):
                    yield "basic-auth", m.group("v")
        if self.kind == "python" and "(" in line:
            for m in _CLIENT_CALL.finditer(line):
                if _CLIENT_CALLEE.search(m.group("callee")):
                    for arg in _POSITIONAL_STRING.finditer(m.group("args")):
                        value = arg.group("v")
                        if _is_literal_value(value) and _looks_random(value, strict=True):
                            yield "hardcoded-credential", value
        if "bearer" in lower or "basic" in lower or "authorization" in lower:
            for m in _AUTH_SCHEME.finditer(line):
                is_header = _AUTH_HEADER.search(line[: m.start()]) is not None
                if (m.group("scheme").lower() != "token" or is_header) and _scheme_value_is_secret(
                    m
                ):
                    scheme = m.group("scheme").lower()
                    yield ("basic-auth" if scheme == "basic" else "bearer-token"), m["v"]

    def following_hit(self, line: str, following: str) -> tuple[str, str] | None:
        """YAML ``- name: API_KEY`` followed by ``value: ...`` (reported on the value)."""
        m = _YAML_NAME.match(line)
        if not m:
            return None
        name = _classify(m.group("name"))
        v = _YAML_VALUE.match(following)
        if name is None or v is None:
            return None
        value, _quoted = _pair_value(v)
        value = _COMMENT_TAIL.sub("", value) if not _quoted else value
        return (name.rule, value) if _value_is_secret(name, value) else None

    def _check(self, line: str, m: re.Match[str]) -> tuple[str, str] | None:
        name = _classify(m.group("name"))
        if name is None:
            return None
        value, quoted = _pair_value(m)
        if not quoted and self.kind == "python":
            wrapped = _WRAPPED_LITERAL.match(line, m.end())
            if wrapped is not None:
                value, quoted = wrapped.group("v"), True
        if not quoted:
            if self.kind == "python" and not _inside_string(line, m.start()):
                return None
            if self.kind == "json" and not _inside_string(line, m.start()):
                return None
            if self.kind == "config" and line[: m.start()].strip(" \t-") in ("", "export"):
                # A whole-line ``key: value`` / ``key = value``: the value runs to the
                # end of the line (minus a trailing comment), spaces included.
                value = _COMMENT_TAIL.sub("", line[m.start("uv") :]).strip()
            if value.lower() in {"bearer", "basic"}:
                scheme = _AUTH_SCHEME.search(line, m.start("uv"))
                if scheme and _scheme_value_is_secret(scheme):
                    return name.rule, scheme.group("v")
                return None
        bare = not quoted and self.kind in ("text", "csv", "json")
        if _value_is_secret(name, value, bare=bare):
            return name.rule, value.strip()
        return None

    def _csv_pairs(self, line: str) -> Iterator[tuple[str, str]]:
        cells = _csv_cells(line)
        for i, cell in enumerate(cells[:-1]):
            name = _classify(cell.strip())
            if name is not None and _value_is_secret(name, cells[i + 1], bare=True):
                yield name.rule, cells[i + 1].strip()


def _csv_cells(line: str) -> list[str]:
    delimiter = "\t" if line.count("\t") > line.count(",") else ","
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


# --------------------------------------------------------------------------- scanner

_KEYWORDS = (b"pass", b"pwd", b"secret", b"token", b"key", b"auth", b"cred", b"bearer")
# Lines with these are parsed too: positional credentials, ``Client("...", "...")``.
_CALL_NEEDLES = (
    b"client(",
    b"Client(",
    b"REST(",
    b"Exchange(",
    b".login(",
    b"jwt.encode(",
    b"hmac.new(",
)


# A keyword starts a line worth parsing only if a name then an assignment, a key/value
# separator, a call, a closing tag or the end of the line follows it.
_ASSIGNMENT_AFTER = re.compile(rb"[\w.$@-]{0,60}+(?:\\?[\"'])?\]?[ \t]*(?:[:=(>,\"']|\r?\n|\Z)")


_FLAG_AFTER = re.compile(rb"[\w.$@-]{0,60}+[ \t]+[^\s-]")

_NAME_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.$@-")


def _names_secret(
    data: bytes, pos: int, gate: Callable[[bytes, int], re.Match[bytes] | None]
) -> bool:
    """Cheap line gate: the keyword at ``pos`` is in a secret-like name followed by a
    separator (the whole line is parsed only then)."""
    m = gate(data, pos)
    start = pos
    while start > 0 and pos - start < 80 and data[start - 1] in _NAME_BYTES:
        start -= 1
    if m is None:
        # ``--api-key VALUE``: a command-line flag, its value after a space
        m = _FLAG_AFTER.match(data, pos) if data.startswith(b"--", start) else None
        if m is None:
            return False
    end = pos + len(re.match(rb"[\w.$@-]*", m.group()).group())  # type: ignore[union-attr]
    name = data[start:end].decode("latin-1").strip(".-$@")
    return _classify(name) is not None


def _literal_prefix(pattern: bytes) -> bytes:
    m = re.match(rb"(?:[A-Za-z0-9:_/ \-]|\\[.\-/])+", pattern)
    return m.group().replace(b"\\", b"") if m else b""


@dataclass(frozen=True)
class _Needles:
    """Every literal the prefilter looks for, and what a hit on each one means."""

    needles: list[bytes]
    keyword_count: int  # needles[:keyword_count] mark lines to parse
    always: frozenset[int]  # ... even when no assignment follows (bearer, Client()
    providers: list[list[int]]  # needles[keyword_count + i] -> provider indexes to try there


@lru_cache(maxsize=1)
def _needles() -> _Needles:
    variants = {v for k in _KEYWORDS for v in (k, k.title(), k.upper())} | set(_CALL_NEEDLES)
    keywords = sorted(variants)
    prefixes = [_literal_prefix(p.pattern) for p in _PROVIDERS]
    shortest = sorted(set(prefixes), key=len)
    roots: list[bytes] = []
    for prefix in shortest:
        if not any(prefix.startswith(root) for root in roots):
            roots.append(prefix)
    groups = [[i for i, prefix in enumerate(prefixes) if prefix.startswith(root)] for root in roots]
    always = frozenset(
        i for i, k in enumerate(keywords) if k.lower() == b"bearer" or k in _CALL_NEEDLES
    )
    return _Needles(keywords + roots, len(keywords), always, groups)


@lru_cache(maxsize=1)
def _automaton() -> Any:
    """One Aho-Corasick pass for every needle (ahocorasick-rs, SIMD), when installed."""
    if _ahocorasick is None:
        return None
    return _ahocorasick.BytesAhoCorasick(_needles().needles)


def _needle_hits(data: bytes) -> Iterator[tuple[int, int]]:
    """(needle index, offset) for every needle occurrence (order not guaranteed)."""
    automaton = _automaton()
    if automaton is not None:
        for index, start, _end in automaton.find_matches_as_indexes(data, overlapping=True):
            yield index, start
        return
    table = _needles()
    lower = data.lower()
    for index, needle in enumerate(table.needles):
        if index < table.keyword_count:
            if needle != needle.lower():
                continue  # the lower-cased search below covers every case
            haystack = lower
        else:
            haystack = data
        i = haystack.find(needle)
        while i != -1:
            yield index, i
            i = haystack.find(needle, i + 1)


class Scanner:
    """Scans bytes or files for secrets.

    ``patterns``: None, or a list equal to :func:`default_patterns`, means the built-in
    rules; any other list REPLACES them with those regular expressions (group 1, when
    the pattern has one, is the secret). ``extra_patterns`` are added on top of
    whichever rules are in force. Each custom pattern's rule id is ``custom-<n>`` /
    ``extra-<n>``.
    """

    def __init__(
        self,
        patterns: Sequence[str] | None = None,
        extra_patterns: Sequence[str] = (),
        *,
        max_bytes: int = MAX_SCAN_BYTES,
    ) -> None:
        self.builtin = patterns is None or list(patterns) == default_patterns()
        custom = (
            [] if self.builtin else [(f"custom-{i + 1}", p) for i, p in enumerate(patterns or ())]
        )
        custom += [(f"extra-{i + 1}", p) for i, p in enumerate(extra_patterns)]
        self._custom = [(rule, _compile_custom(rule, p)) for rule, p in custom]
        self._providers = [(p, re.compile(p.pattern)) for p in _PROVIDERS] if self.builtin else []
        self.max_bytes = max_bytes
        self.skipped: list[str] = []

    # -- public API

    def scan_bytes(self, data: bytes, path: str) -> list[Finding]:
        if b"\x00" in data[:BINARY_SNIFF_BYTES]:
            return []
        hits: list[_Hit] = []
        if self.builtin:
            hits.extend(self._builtin_hits(data, path))
        if self._custom:
            hits.extend(self._custom_hits(data))
        return self._findings(data, path, hits)

    def scan_file(self, path: str | os.PathLike[str], display: str | None = None) -> list[Finding]:
        shown = display or os.fspath(path)
        with open(path, "rb") as fh:
            head = fh.read(BINARY_SNIFF_BYTES)
            if b"\x00" in head:
                return []
            size = os.fstat(fh.fileno()).st_size
            if size > self.max_bytes:
                self.skipped.append(shown)
                return []
            data = head + fh.read()
        return self.scan_bytes(data, shown)

    def scan_paths(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[Finding]:
        """Scan files and directories (walked, skipping ``.git``), in a stable order."""
        for file in iter_files(paths):
            yield from self.scan_file(file)

    # -- rules

    def _builtin_hits(self, data: bytes, path: str) -> Iterator[_Hit]:
        table = _needles()
        kind = _kind_of(path)
        lines: dict[int, int] = {}
        line_start, line_end = -1, -1
        n = len(data)
        gate = None if kind == "csv" else _ASSIGNMENT_AFTER.match
        for index, pos in _needle_hits(data):
            if index >= table.keyword_count:
                for provider in table.providers[index - table.keyword_count]:
                    hit = self._provider_at(provider, data, pos)
                    if hit is not None:
                        yield hit
            elif line_start <= pos < line_end:
                continue
            elif gate is None or index in table.always or _names_secret(data, pos, gate):
                line_start = data.rfind(b"\n", 0, pos) + 1
                line_end = data.find(b"\n", pos)
                if line_end == -1:
                    line_end = n
                lines[line_start] = line_end
        yield from self._line_hits(data, kind, lines)
        if kind == "csv":
            yield from _csv_column_hits(data)

    def _provider_at(self, index: int, data: bytes, pos: int) -> _Hit | None:
        provider, rx = self._providers[index]
        m = rx.match(data, pos)
        if m is None:
            return None
        start, end = m.span()
        if start and data[start - 1] in provider.lead:
            return None
        if end < len(data) and data[end] in provider.tail:
            return None
        value = m.group(provider.group).decode("utf-8", "replace")
        if provider.rule == "telegram-bot-token":
            digits = re.search(rb"(?<![A-Za-z0-9_])[0-9]{8,10}\Z", data[max(0, start - 11) : start])
            if digits is None:
                return None
            value = digits.group().decode() + value
        elif not _shape_ok(provider.rule, data, m):
            return None
        if _is_placeholder(value) or (provider.check and not provider.check(value)):
            return None
        return _Hit(start, provider.rule, value, 0)

    def _line_hits(self, data: bytes, kind: str, lines: dict[int, int]) -> Iterator[_Hit]:
        parser = _LineParser(kind)
        n = len(data)
        for start in sorted(lines):
            end = lines[start]
            line = data[start:end].decode("utf-8", "replace")
            for rule, value in parser.parse(line):
                yield _Hit(start, rule, value, 1)
            if kind in ("config", "text") and end < n and "name" in line:
                nxt_end = data.find(b"\n", end + 1)
                following = data[end + 1 : nxt_end if nxt_end != -1 else n]
                hit = parser.following_hit(line, following.decode("utf-8", "replace"))
                if hit:
                    yield _Hit(end + 1, hit[0], hit[1], 1)

    def _custom_hits(self, data: bytes) -> Iterator[_Hit]:
        for rule, rx in self._custom:
            for m in rx.finditer(data):
                raw = m.group(1) if rx.groups and m.group(1) else m.group(0)
                if raw:
                    yield _Hit(m.start(), rule, raw.decode("utf-8", "replace"), 0)

    # -- results

    def _findings(self, data: bytes, path: str, hits: list[_Hit]) -> list[Finding]:
        by_line: dict[int, list[_Hit]] = {}
        line, last = 1, 0
        for hit in sorted(hits, key=lambda h: h.offset):
            line += data.count(b"\n", last, hit.offset)
            last = hit.offset
            if not _suppressed(data, hit.offset):
                _merge(by_line.setdefault(line, []), hit)
        return [
            Finding(path, lineno, hit.rule, mask(hit.value))
            for lineno in sorted(by_line)
            for hit in by_line[lineno]
        ]


def _merge(kept: list[_Hit], hit: _Hit) -> None:
    """One finding per secret on a line: overlapping values keep the more specific rule."""
    for i, other in enumerate(kept):
        if hit.value in other.value or other.value in hit.value:
            if hit.priority < other.priority:
                kept[i] = hit
            return
    kept.append(hit)


def _suppressed(data: bytes, offset: int) -> bool:
    """An allowlist pragma on the hit's line, or a nextline pragma on the line before."""
    start = data.rfind(b"\n", 0, offset) + 1
    end = data.find(b"\n", offset)
    here = data[start : end if end != -1 else len(data)]
    if any(marker in here for marker in _ALLOW_LINE):
        return True
    if start == 0:
        return False
    before = data[data.rfind(b"\n", 0, start - 1) + 1 : start]
    return _ALLOW_NEXT in before


def _shape_ok(rule: str, data: bytes, m: re.Match[bytes]) -> bool:
    if rule == "private-key":
        return _pem_has_body(data, m.end())
    if rule == "url-password":
        return _url_password_ok(m)
    return True


def _pem_has_body(data: bytes, end: int) -> bool:
    """A real key block follows the header (not '...' or a placeholder)."""
    window = data[end : end + 200]
    window = window.replace(b"\\n", b"\n").replace(b"\\r", b"")
    body = re.match(
        rb"[\s\"',]*(?:Proc-Type:[^\n]*\n(?:[^\n]*:[^\n]*\n)*\s*)?([A-Za-z0-9+/=]{24,})", window
    )
    if body is None:
        return False
    chunk = body.group(1).decode("ascii")
    return not _is_placeholder(chunk) and _entropy(chunk) >= 3.0


def _url_password_ok(m: re.Match[bytes]) -> bool:
    password = m.group("pw").decode("utf-8", "replace")
    if not _is_literal_value(password) or password.startswith(("$", "%", "{")):
        return False
    return not password.isdigit()  # host:port@ is not a password


def _csv_column_hits(data: bytes) -> Iterator[_Hit]:
    """Cells under a secret-named header column (``name,api_key,...``)."""
    first_end = data.find(b"\n")
    header = data[: first_end if first_end != -1 else len(data)].decode("utf-8", "replace")
    columns = {i: _classify(cell.strip()) for i, cell in enumerate(_csv_cells(header))}
    secret_columns = {i: name for i, name in columns.items() if name is not None}
    if not secret_columns or first_end == -1:
        return
    offset = first_end + 1
    for raw in data[offset:].split(b"\n"):
        cells = _csv_cells(raw.decode("utf-8", "replace").rstrip("\r"))
        for i, name in secret_columns.items():
            if i < len(cells) and _value_is_secret(name, cells[i], bare=True):
                yield _Hit(offset, name.rule, cells[i].strip(), 1)
        offset += len(raw) + 1


def _compile_custom(rule: str, pattern: str) -> re.Pattern[bytes]:
    """A user's pattern (a str regex) compiled to search the raw bytes, like the rules."""
    try:
        return re.compile(pattern.encode("utf-8"))
    except re.error as exc:
        from pytest_artifact_store.errors import ArtifactStoreError

        raise ArtifactStoreError(
            f"invalid secret pattern ({rule}) {pattern!r}: {exc}; "
            "fix secret_patterns / extra_secret_patterns"
        ) from None


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[str]:
    """Files named, and files under directories named (sorted, ``.git`` skipped)."""
    for raw in paths:
        path = os.fspath(raw)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d != ".git")
                for name in sorted(files):
                    full = os.path.join(root, name)
                    if os.path.isfile(full) and not os.path.islink(full):
                        yield full
        else:
            yield path
