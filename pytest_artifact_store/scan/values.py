"""Judging a candidate: is a name secret-named (and of which family), is a value a
literal that looks like a secret (entropy, character classes, not a placeholder,
dummy word, path, reference or repeated run), in the syntax of the file at hand.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import math
import re
from dataclasses import dataclass
from functools import lru_cache

from pytest_artifact_store.scan import lazy

# Documented example credentials that say so (AWS's ...EXAMPLE keys) are not secrets.
# Other famous samples (Stripe's docs key, jwt.io's token) are still reported: nothing in
# them says "example", and a test fixture that holds one is exactly what to catch.
_DOCUMENTED = ("EXAMPLE",)


# The words a secret-like name holds (the engine finds candidate lines by them).
KEYWORDS_TEXT = (b"pass", b"pwd", b"secret", b"token", b"key", b"auth", b"cred")


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
    "!vault",
    "$ansible_vault",
    "enc[aes",
    "enc[",
)


_REFERENCE = lazy.compile(
    r"""(?ix)^(?:
        os\.(?:environ|getenv)|getenv|environ|env\s*[\[(.]|process\.env|ENV\[|settings\.|
        config\.|cfg\.|self\.|secrets?\.(?:get|\w+\[)|vault:|ssm:|arn:aws:|keyring\.|
        projects/[^/]+/secrets/|file:|/run/secrets|%env|\$env:|\$[A-Za-z_]|data:[\w.+\-]+/
    )"""
)


_UUID = lazy.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


_NUMBERISH = lazy.compile(r"[-+]?[\d.,:_/ TZ+\-]*")


_WORDS_ONLY = lazy.compile(r"[A-Za-z]+(?:[ _.\-][A-Za-z]+)*")


_X_RUN = lazy.compile(r"x{5,}|X{5,}|[xX]{8,}")


_RANDOM_SEGMENT = lazy.compile(r"(?=[^/\\]*[a-z])(?=[^/\\]*[A-Z])(?=[^/\\]*[0-9])[^/\\.]{12,}")


_PATHLIKE = lazy.compile(
    r"(?:[~.]{0,2}/|[A-Za-z]:\\)[\w.\-/\\ ]*|[\w.\-]+(?:/[\w.\-]+)*\.(?:pem|key|json|ya?ml|txt|"
    r"env|ini|cfg|conf|crt|p12|pfx|der|jks|gpg|asc|csv|log|py)"
)


_EMAIL = lazy.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")


_ETH_ADDRESS = lazy.compile(r"0x[0-9a-fA-F]{40}")


def is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values()) if n else 0.0


def is_placeholder(value: str) -> bool:
    low = value.lower()
    if low.strip(" '\"`") in _PLACEHOLDER_WORDS or len(set(low)) <= 2:
        return True
    if any(marker in low for marker in _PLACEHOLDER_MARKERS):
        return True
    # 'xxxx' masks a value; a random body has a run of x's only by (rare) chance
    if _X_RUN.search(value) or (len(value) <= 24 and "xxxx" in low) or value.count("XXX") >= 2:
        return True
    if low.startswith("your"):  # ``your passphrase``, ``yourApiKey``
        return True
    if re.fullmatch(r"%[sdr]|\{\w*\}|@\w+@|__\w+__", value):
        return True
    return any(doc in value for doc in _DOCUMENTED)


def is_literal_value(value: str) -> bool:
    """Not an env lookup, a reference, empty, a placeholder or a template."""
    v = value.strip()
    if not v or is_placeholder(v) or _REFERENCE.match(v):
        return False
    # a template (``{self.key}``, ``orgs/{org_id}``) or escaped bytes are not literals
    return not (v.startswith("{") or _TEMPLATE_FIELD.search(v) or _ESCAPED_BYTES.search(v))


_TEMPLATE_FIELD = lazy.compile(r"\{\w{1,40}\}")


_ESCAPED_BYTES = lazy.compile(r"\\(?:x[0-9a-fA-F]{2}|[0-7]{3})")


def identifier_like(value: str) -> bool:
    """Words joined by separators (``APCA-API-KEY-ID``, ``market_1_slippage_buffer``,
    ``mlflow.server.auth:create_app``, ``new-passphrase``): a name, not a secret."""
    parts = [p for p in re.split(r"[-_.:/]+", value) if p]
    if len(parts) < 2 or len(parts) * 3 < len(value) / 4:
        return False
    return all(_word_part(p) for p in parts)


def _word_part(part: str) -> bool:
    """A part of an identifier: a word (one case, or Capitalised, with a vowel when it is
    longer than three letters), maybe ending in a few digits; a short ``m2m``; a number."""
    if part.isdigit():
        return len(part) <= 4
    if _SHORT_ALNUM.fullmatch(part):
        return True
    m = _WORDISH.fullmatch(part)
    if m is None or len(part) > 16:
        return False
    letters = m.group(1)
    return len(letters) <= 3 or any(v in letters.lower() for v in "aeiouy")


_WORDISH = lazy.compile(r"([a-z]+|[A-Z]+|[A-Z][a-z]+)\d{0,3}")


_SHORT_ALNUM = lazy.compile(r"[a-z]{1,3}\d[a-z]{1,3}")


def names_a_secret(value: str) -> bool:
    """``apiPassHere``, ``anotherAccountPass``, ``InputPassFail``: words that name a
    secret (a placeholder or an identifier), not one."""
    parts = [p.lower() for p in _NAME_SPLIT.findall(value)]
    if len(parts) < 2 or sum(ch.isdigit() for ch in value) > 2:
        return False
    return any(p in _SECRET_WORDS for p in parts) and all(p.isalpha() for p in parts)


def looks_random(value: str, *, strict: bool = False) -> bool:
    """The entropy gate for values in secret-named contexts (not passwords)."""
    v = value
    n = len(v)
    if n < (16 if strict else 10) or n > 4096:
        return False
    if " " in v.strip() or _NUMBERISH.fullmatch(v) or _EMAIL.fullmatch(v):
        return False
    if _is_path(v) or "://" in v or ":/" in v or "arn:" in v or _ETH_ADDRESS.fullmatch(v):
        return False
    if _runs_share(v[:256]) > 0.5:  # ``1234567890abcdef``, ``aaaa...``
        return False
    if _WORDS_ONLY.fullmatch(v) and _is_wordy(v):
        return False
    if ":" in v and _is_structured_key(v):
        return False
    if re.fullmatch(r"[0-9a-fA-F]+", v):
        return n >= 16 and entropy(v) >= 3.0
    classes = sum(bool(re.search(p, v)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    threshold = 3.3 if strict else 3.0
    if classes == 1:  # one letter case only: long and varied enough, not a word
        return n >= 16 and entropy(v) >= 3.5 and not _is_wordy(v)
    return entropy(v) >= (threshold if n >= 16 else threshold - 0.3)


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


_NAME_SPLIT = lazy.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


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


# words that name a secret (``apiPassHere`` is one, not a value)
_SECRET_WORDS = frozenset([*_FAMILIES, "apikey"])


_KEY_QUALIFIERS = _wordset(
    """api access secret private auth client signing sign encryption encrypt master app
    consumer account license licence service webhook bot broker exchange trading trade
    live prod production subscription admin hmac jwt session rest ws user developer dev
    partner merchant publishable ssh gpg pgp aes rsa ec wallet signer priv eth evm
    listen fernet kc hb cb bn gate"""
)


EXCHANGES = (
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
    field fields manager vault store service_account mint contract pubkey program
    verification word re rx regexp csrf xsrf"""
)


# Words before "token" that make it a crypto asset: base_token, quote_token, fee_token ...
_ASSET_TOKEN = _wordset(
    """base quote fee native reward rewards stake staking input output from to src dst
    collateral gas wrapped stable lp erc20 spl governance"""
)


_PAGING = _wordset("page next cursor continuation pagination paging sync csrf xsrf")


_VOCAB = frozenset(
    [*_FAMILIES, *_KEY_QUALIFIERS, *EXCHANGES, "aws", "id", "db", "refresh", "x", "gcp"]
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


def camel_words(name: str) -> bool:
    """``smtpPassword``, ``fredApiKey``: camel-case words, not a random id."""
    parts = _NAME_SPLIT.findall(name)
    return len(parts) >= 2 and all(p.isalpha() and 2 <= len(p) <= 14 for p in parts)


@dataclass(frozen=True)
class _Name:
    """What a variable name says about its value: family, rule and strength."""

    family: str
    weak: bool
    rule: str
    dummy: bool = False  # FAKE_/MOCK_/DUMMY_/TEST_ names: a test's stand-in
    listen: bool = False  # a stream's listen key: a credential in code, an id in data


@lru_cache(maxsize=8192)
def classify(name: str) -> _Name | None:
    """Is this a secret-named key? Returns its family, or None."""
    if sum(ch.isdigit() for ch in name) > 4 or len(name) > 80:
        return None  # a random id, not a name
    if not re.search(r"[_\-. ]", name) and looks_random(name) and not camel_words(name):
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
            and not any(ex in words[i - 1] for ex in EXCHANGES)
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
    if family == "token" and any(w in _PAGING for w in words[:found]):
        return None  # a pagination cursor (``next_page_token``), not a credential
    weak = (family == "key" and found == 0) or family in {"auth", "credential"}
    dummy = bool(words) and words[0] in {"fake", "mock", "dummy", "test", "sample", "example"}
    return _Name(family, weak, _rule_for(words, family), dummy, "listen" in words)


def _rule_for(words: list[str], family: str) -> str:
    joined = " ".join(words)
    for exchange in EXCHANGES:
        if exchange in joined:
            return ("alpaca" if exchange == "apca" else exchange) + "-api-key"
    if "aws" in words and family in {"secret", "key"}:
        return "aws-secret-access-key"
    if family == "key":
        if "private" in words or "priv" in words or "wallet" in words:
            return "private-key-assignment"
        return "secret-assignment" if "secret" in words else "api-key-assignment"
    return f"{family}-assignment"


_KINDS = {
    ".py": "python",
    ".pyi": "python",
    ".pyx": "python",
    ".js": "code",
    ".mjs": "code",
    ".cjs": "code",
    ".jsx": "code",
    ".ts": "code",
    ".tsx": "code",
    ".mts": "code",
    ".cts": "code",
    ".rs": "code",
    ".go": "code",
    ".java": "code",
    ".kt": "code",
    ".kts": "code",
    ".scala": "code",
    ".groovy": "code",
    ".cs": "code",
    ".swift": "code",
    ".c": "code",
    ".h": "code",
    ".cc": "code",
    ".cpp": "code",
    ".hpp": "code",
    ".php": "code",
    ".rb": "code",
    ".dart": "code",
    ".sol": "code",
    ".tf": "code",
    ".hcl": "code",
    ".tfvars": "code",
    ".sh": "config",
    ".bash": "config",
    ".zsh": "config",
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
    ".ndjson": "json",
    ".ipynb": "json",
    ".xml": "xml",
    ".csproj": "xml",
    ".config": "xml",
    ".plist": "xml",
    ".md": "markdown",
    ".markdown": "markdown",
    ".rst": "markdown",
    ".csv": "csv",
    ".tsv": "csv",
}


# Fenced code in Markdown: the fence's language names the syntax of the block.
FENCE_KINDS = {
    "python": "python",
    "py": "python",
    "ipython": "python",
    "pycon": "python",
    "js": "code",
    "javascript": "code",
    "ts": "code",
    "typescript": "code",
    "rust": "code",
    "rs": "code",
    "go": "code",
    "java": "code",
    "kotlin": "code",
    "csharp": "code",
    "cs": "code",
    "c": "code",
    "cpp": "code",
    "hcl": "code",
    "terraform": "code",
    "json": "json",
    "xml": "xml",
    "yaml": "config",
    "yml": "config",
    "toml": "config",
    "ini": "config",
    "env": "config",
    "dotenv": "config",
    "bash": "config",
    "sh": "config",
    "shell": "config",
    "console": "config",
    "dockerfile": "config",
    "properties": "config",
}


# Code kinds: a value is a literal only when it is quoted (else it is an expression,
# an attribute, a call, a type or a name).
CODE_KINDS = frozenset({"python", "code", "json", "xml"})


def kind_of(path: str) -> str:
    name = path.rsplit("!", 1)[-1].replace("\\", "/").rsplit("/", 1)[-1].lower()
    if name.startswith(".env") or name.endswith(".env"):
        return "config"
    if name in ("dockerfile", "containerfile", "makefile", ".npmrc", ".pypirc", ".netrc"):
        return "config"
    if name.startswith("dockerfile.") or name.endswith(".dockerfile"):
        return "config"
    ext = name[name.rfind(".") :] if "." in name else ""
    return _KINDS.get(ext, "text")


_VALUE = (
    r"(?:[rRbBuUfF]{0,2}(?P<q>[\"'`])(?P<qv>(?:(?!(?P=q))[^\\\n]|\\.){0,1000})(?P=q)"
    r"|\\\"(?P<ev>[^\"\\\n]{1,1000})\\\""
    r"|(?P<uv>[^\s\"'`,;&)\]}<>|]{1,1000}))"
)


PAIR = lazy.compile(
    r"(?P<name>[A-Za-z_$@][\w.$@\-]{0,80})(?:\\?[\"'])?\]?"
    r"(?P<sep>\s*:\s*&?(?:'\w+\s+)?(?:mut\s+)?[A-Za-z_][\w.:]{0,30}"
    r"(?:\[[\w., |\[\]]{0,40}\]|<[\w<>, :&']{0,40}>)?"
    r"(?:\s*\|\s*[A-Za-z_][\w.]{0,30}){0,3}\s*=(?!=)\s*"
    r"|\s*\{\s*get;\s*(?:(?:private|protected|internal)\s+)?(?:set|init);\s*\}\s*=\s*"
    r"|\s+(?:string|\[\]byte)\s*=(?!=)\s*"
    r"|\s*(?::=|=>|\?=|\+=|=(?!=)|:(?![:/]))\s*"
    r"|\s+(?=\\?[\"']))(?=" + _VALUE + ")"
)


CALL_PAIR = lazy.compile(
    r"(?P<nq>[\"'])(?P<name>[\w.\- ]{1,80})(?P=nq)\s*,\s*"
    r"(?=(?P<q>[\"'])(?P<qv>(?:(?!(?P=q))[^\\\n]|\\.){1,1000})(?P=q))"
)


FLAG_PAIR = lazy.compile(r"--(?P<name>[A-Za-z][\w\-]{1,60})\s+" + _VALUE)


XML_PAIR = lazy.compile(r"<(?P<name>[\w:.\-]{1,80})>(?P<uv>[^<\n]{1,1000})</(?P=name)>")


NAME_VALUE = lazy.compile(
    r"[\"']?(?:name|key|Name|Key)[\"']?\s*[:=]\s*[\"'](?P<name>[\w.\-]{1,80})[\"'](?:\s*,\s*|\s+)"
    r"[\"']?(?:value|Value)[\"']?\s*[:=]\s*" + _VALUE
)


# ``<property name="db.password">VALUE</property>``: element text named by an attribute
XML_NAMED = lazy.compile(
    r"<(?P<tag>[\w:.\-]{1,80})\s+(?:name|key|id)=[\"'](?P<name>[\w.\-]{1,80})[\"'][^>]{0,200}>"
    r"(?P<uv>[^<\n]{1,1000})</(?P=tag)>"
)


# ``<apiSecret>`` alone on a line: its value comes on the next line
XML_OPEN = lazy.compile(r"^\s*<(?P<name>[\w:.\-]{1,80})>\s*$")


# ``ENV NAME value`` (a Dockerfile's legacy form, no ``=``)
DOCKER_ENV = lazy.compile(
    r"^\s*ENV\s+(?P<name>[A-Za-z_][\w.\-]{0,80})\s+(?P<uv>[^\s=][^\n]{0,1000})$"
)


# ``machine host login bot password VALUE`` (.netrc)
NETRC = lazy.compile(
    r"^\s*(?:machine\s+\S+\s+)?(?:login\s+\S+\s+)?(?P<name>passw(?:or)?d)\s+(?P<uv>\S{1,1000})"
)


# ``old API_SECRET was VALUE`` in a comment or prose
PROSE_PAIR = lazy.compile(
    r"(?P<name>[A-Za-z_][\w.\-]{0,80})\s+(?:was|is|now|became)\s+[\"'`]?(?P<uv>[^\s\"'`,;]{8,1000})"
)


# ``curl -u 'user:password'``
CURL_USER = lazy.compile(
    r"(?:^|\s)(?:-u|--user)(?:\s+|=)[\"']?(?P<user>[^:\s\"']{1,100}):(?P<v>[^\s\"']{1,200})"
)


# a literal after an env lookup's fallback: ``process.env.X ?? "..."``, ``... or "..."``
FALLBACK = lazy.compile(r"(?:\?\?|\|\||\bor\b)\s*[\"'](?P<v>[^\"'\n]{4,1000})[\"']")


# a setter or builder call with a literal: ``.krakenApiKey("...")``, ``set_password('...')``
CALL_ARG = lazy.compile(r"(?P<name>[A-Za-z_]\w{0,80})\(\s*[\"'](?P<qv>[^\"'\n]{4,1000})[\"']\s*\)")


YAML_NAME = lazy.compile(r"^\s*-?\s*name:\s*[\"']?(?P<name>[\w.\-]{1,80})[\"']?\s*$")


YAML_VALUE = lazy.compile(r"^\s*value:\s*" + _VALUE)


AUTH_SCHEME = lazy.compile(
    r"(?i)\b(?P<scheme>bearer|basic|token)\s+(?P<v>[A-Za-z0-9\-._~+/]{8,4096}=*)(?![\w=])"
)


AUTH_TUPLE = lazy.compile(
    r"(?:\bauth\s*=\s*\(|HTTPBasicAuth\(|BasicAuth\(|\.login\()\s*(?:\w+\s*=\s*)?"
    r"[\"'][^\"'\n]{0,100}[\"']\s*,\s*(?:\w+\s*=\s*)?[\"'](?P<v>[^\"'\n]{1,200})[\"']"
)


# A literal signing key: ``jwt.encode(payload, "KEY", ...)``, ``hmac.new(b"KEY", ...)``.
SIGNING_CALL = lazy.compile(
    r"(?:jwt\.encode\(\s*[\w.\[\]\"']+\s*,\s*(?:key\s*=\s*)?|hmac\.new\(\s*(?:key\s*=\s*)?)"
    r"[rbu]?[\"'](?P<v>[^\"'\n]{10,400})[\"']"
)


CLIENT_CALL = lazy.compile(r"(?P<callee>[A-Za-z_][\w.]{0,60})\((?P<args>[^()\n]{0,800})\)")


CLIENT_CALLEE = lazy.compile(
    r"(?i)(?:client|rest|exchange|api|broker|session|connect|login|auth|spot|futures|credentials|"
    r"binance|alpaca|kraken|coinbase|bybit|okx|kucoin)\w*$"
)


AUTH_HEADER = lazy.compile(r"(?i)authorization[\"']?\s*[:=]\s*[\"']?\s*$")


POSITIONAL_STRING = lazy.compile(r"(?:^|,)\s*[rbu]?[\"'](?P<v>[^\"'\n]{16,400})[\"']\s*(?=,|$)")


COMMENT_TAIL = lazy.compile(r"\s+[#;].*$")


# pydantic / typing wrappers around a literal default: ``SecretStr("...")``,
# ``Field(default="...", alias=...)``, ``Field("...")``.
WRAPPED_LITERAL = lazy.compile(
    r"(?:\w+\.)?(?:SecretStr|SecretBytes|Secret|Field|str|bytes)\(\s*(?:default\s*=\s*)?"
    r"[rbu]?(?P<q>[\"'])(?P<v>(?:(?!(?P=q))[^\\\n]|\\.){1,1000})(?P=q)"
)


PASSWORD_NAME = _Name("password", False, "basic-auth")


@dataclass(frozen=True)
class Hit:
    """A candidate secret in a buffer, before suppression."""

    offset: int  # byte offset of the match (or of its line) in the buffer
    rule: str
    value: str
    priority: int  # 0 provider / custom, 1 keyword
    confidence: str = "high"
    why: str = ""


def pair_value(m: re.Match[str]) -> tuple[str, bool]:
    groups = m.groupdict()
    if groups.get("qv") is not None:
        return groups["qv"], True
    if groups.get("ev") is not None:
        return groups["ev"], True
    return groups.get("uv") or "", False


_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.$@-")


_LOWER_KEYWORDS = tuple(k.decode() for k in KEYWORDS_TEXT)


_KEYWORD_RX = lazy.compile("|".join(_LOWER_KEYWORDS))


def name_starts(line: str, lower: str) -> list[int]:
    """Where the names around each keyword begin (parsing is anchored there)."""
    starts: list[int] = []
    for m in _KEYWORD_RX.finditer(lower):
        j = i = m.start()
        while j > 0 and i - j < 81 and line[j - 1] in _NAME_CHARS:
            j -= 1  # (a name is at most 80 characters: a longer run is data)
        while j < i and not (line[j].isalpha() or line[j] in "_$@"):
            j += 1
        if j > 1 and line[j - 1] == ":" and line[j - 2] in _NAME_CHARS:
            continue  # a segment of a colon path (an ARN, ``ns:secret:name``), not a key
        if j > 1 and line[j - 2 : j] == "${":
            continue  # ``${PASSWORD:?missing}``: a shell expansion, not an assignment
        if not starts or starts[-1] != j:
            starts.append(j)
    return starts


def inside_string(line: str, pos: int) -> bool:
    quotes = re.findall(r"(?<!\\)[\"']", line[:pos])
    return len(quotes) % 2 == 1


_DUMMY_VALUE = lazy.compile(
    r"(?i)(?:test|testing|fake|dummy|mock|sample|example|demo|sandbox|stub|ci|dev|local)"
    r"(?:[-_.]|key|secret|token|pass)"
)


_SENTENCE = lazy.compile(r"[A-Za-z]{2,} [a-z]{2,}[^ ]* [a-z]|[a-z]{3,}[.!?]$")


_HASH_FORMAT = lazy.compile(r"\$(?:2[abxy]?|argon2(?:id|i|d)|pbkdf2[\w-]*|scrypt|[156])\$")


def value_is_secret(name: _Name, value: str, *, bare: bool = False) -> bool:
    """``bare``: an unquoted value in running text, where a plain word is prose."""
    value = value.strip()
    scheme = AUTH_SCHEME.match(value)
    if scheme:
        return scheme_value_is_secret(scheme)
    if not is_literal_value(value) or _NUMBERISH.fullmatch(value):
        return False
    if bare_word(value) and any(
        part in _FAMILIES for part in re.split(r"_", value.lower())
    ):  # ``reader_password``, ``API_SECRET``: the name of a secret, not one
        return False
    if len(value.split()) >= 3 or _SENTENCE.search(value):
        return False  # a message (``Passwords don't match!``), not a secret
    if _HASH_FORMAT.match(value):
        return False  # a password hash (bcrypt, argon2, crypt): what should be stored
    if name.family == "password":
        if bare and re.fullmatch(r"[A-Za-z][a-z]*", value):
            return False
        if _is_path(value) or value.startswith(("/", "~/")):
            return False  # ``PWD=/home/ci/work``: a working directory, not a password
        return len(value) >= 4 and not value.lower().startswith(("true", "false"))
    if _UUID.fullmatch(value):
        # several exchanges issue API keys as UUIDs: one under a key/secret name counts;
        # under a token, auth or bare key name a UUID is an id
        return not name.weak and name.family in {"key", "secret"}
    if _plain_literal_counts(name, value):
        return True
    return looks_random(value, strict=name.weak)


def _plain_literal_counts(name: _Name, value: str) -> bool:
    """SPEC §7: the seed's families (api key, secret key, ...) count with any literal that
    is not a placeholder; entropy gates only the looser secret-named contexts."""
    if name.weak or name.family not in {"secret", "key"} or bare_word(value):
        return False
    return (
        6 <= len(value) <= 200
        and not any(c in value for c in " ()[]{},;")
        and not is_placeholder(value)
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


_DUMMY_PASSWORDS = _wordset(
    """admin administrator root guest user username login qwerty letmein welcome hello
    world default master abc abcd asdf pw pwd passw0rd p ssw rd"""
)


def _placeholder_words(value: str) -> bool:
    """``test-key``, ``my_api_secret``, ``fake-token``: words that only name a placeholder."""
    parts = [p for p in re.split(r"[-_.]+", value.lower()) if p]
    return len(parts) >= 2 and all(p in _FILLER for p in parts)


def bare_word(value: str) -> bool:
    """An identifier-like word that names something (``ALPACA_KEY``, ``api_key``)."""
    return bool(re.fullmatch(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[a-z]+(?:_[a-z]+)+", value))


def scheme_value_is_secret(m: re.Match[str]) -> bool:
    token = m.group("v")
    if m.group("scheme").lower() == "basic":
        try:
            decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        except (binascii.Error, ValueError):
            return False
        _user, sep, password = decoded.decode("utf-8", "replace").partition(":")
        return bool(sep) and is_literal_value(password) and len(password) >= 4
    return is_literal_value(token) and looks_random(token, strict=False)


# Values a keyword finding may hold whatever their quality: a provider's own prefix in a
# secret position (``API_KEY = 'sk_live_1234567890abcdef'``, too short for the format).
_PROVIDER_PREFIX = lazy.compile(
    r"(?:sk|rk|pk)_(?:live|test)_|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|xox[abposre]-|"
    r"sk-(?:ant-|proj-)|hf_|npm_|pypi-|SG\.|eyJ"
)


_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz", "0123456789")


def _runs_share(value: str) -> float:
    """How much of the value sits in repeated or sequential runs of 4+ (``aaaa``,
    ``1234``, ``abcd``, ``qwer``, ``abcabc``)."""
    low = value.lower()
    n = len(low)
    covered = [False] * n
    for i in range(n - 3):
        chunk = low[i : i + 4]
        steps = {ord(b) - ord(a) for a, b in itertools.pairwise(chunk)}
        keyboard = any(chunk in row or chunk[::-1] in row for row in _KEYBOARD)
        if (len(steps) == 1 and steps <= {-1, 0, 1}) or keyboard:
            for j in range(i, i + 4):
                covered[j] = True
    for size in (2, 3):  # abab..., abcabc...
        for i in range(n - 2 * size + 1):
            if low[i : i + size] == low[i + size : i + 2 * size]:
                for j in range(i, i + 2 * size):
                    covered[j] = True
    return sum(covered) / n if n else 1.0


def confidence_of(name: _Name, value: str) -> str:
    """HIGH when a keyword finding's value looks like a real secret, LOW when it is a
    literal that passed the looser checks (short, low entropy, wordy, runs of
    repeated or sequential characters)."""
    value = value.strip()
    if _PROVIDER_PREFIX.match(value):
        return "high"
    if _UUID.fullmatch(value):
        return "high"
    runs = _runs_share(value[:256])
    if names_a_secret(value) or _DUMMY_VALUE.match(value) or name.dummy:
        return "low"  # (``test-key-8f3a``, ``FAKE_API_SECRET = ...``: a test's stand-in)
    if identifier_like(value) and name.family != "password":
        return "low"  # (a password of words, ``Willow.Alpha_74``, is one)
    if name.family != "password" and camel_words(value):
        return "low"  # ``apiKeyHere``, ``SecretValue``: words, not a key
    if name.family == "password":
        classes = sum(
            bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")
        )
        letters = re.sub(r"[^a-z]+", " ", value.lower()).split()
        dummy = all(w in _FILLER or w in _DUMMY_PASSWORDS for w in letters)
        strong = (len(value) >= 6 and classes >= 3) or (len(value) >= 8 and classes >= 2)
        return "high" if strong and runs <= 0.5 and not dummy else "low"
    if runs > 0.5:
        return "low"
    return "high" if looks_random(value) else "low"
