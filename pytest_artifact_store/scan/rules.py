"""The rules as data: provider formats (AWS, Stripe, GitHub, GitLab, Slack, Google,
OpenAI, Anthropic, Hugging Face, npm, PyPI, SendGrid, Twilio, Telegram, JWT, private
keys, URLs with a password, exchange keys), each a regular expression that begins with
a literal, plus the keyword-assignment rule's default pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType

from pytest_artifact_store.errors import ArtifactStoreError

_ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


_WORD = _ALNUM | frozenset(b"_")


_TOKEN = _WORD | frozenset(b"-")


_B64 = _ALNUM | frozenset(b"+/=")


@dataclass(frozen=True)
class _Provider:
    """A provider's key format: pattern, boundary bytes and shape check."""

    rule: str
    pattern: bytes
    lead: frozenset[int]  # the byte before the match must not be one of these
    tail: frozenset[int]  # the byte after the match must not be one of these
    group: int | str = 0  # the secret part of the match
    check: Callable[[str], bool] | None = None

    @property
    def why(self) -> str:
        return f"the format of a {self.rule.replace('-', ' ')}"


def _values() -> ModuleType:
    """The value rules, imported when a provider match is checked: their regexes cost
    ~10 ms to compile, which reading the built-in patterns (a store's config) need not pay."""
    from pytest_artifact_store.scan import values

    return values


def _mixed(value: str) -> bool:
    """Random-looking enough for a provider body (not 'xxxx', not one repeated char)."""
    values = _values()
    return not values.is_placeholder(value) and values.entropy(value) >= 2.5


def _alpaca_id(value: str) -> bool:
    """A key id's 18 random characters: about one in eight real ones has fewer than three
    digits, so those pass on a higher entropy instead (words and constants do not)."""
    body = value[2:]
    digits = sum(ch.isdigit() for ch in body)
    if value.startswith("AKIA") or digits > 15:
        return False
    return bool(_values().entropy(body) >= (3.2 if digits >= 3 else 3.6))


PROVIDERS: tuple[_Provider, ...] = (
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
        lambda v: not v.startswith("sk-ant-") and _values().looks_random(v[3:], strict=True),
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
        "fernet-key",
        rb"Fernet\(\s*b?[\"'](?P<k>[A-Za-z0-9_\-]{43}=)[\"']",
        _WORD,
        frozenset(),
        "k",
        _mixed,
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
    return [p.pattern.decode("ascii") for p in PROVIDERS] + [_KEYWORD_RULE_PATTERN]


# Rule ids the keyword rules report (besides the provider rules and custom-/extra-N).
KEYWORD_RULES = (
    "api-key-assignment",
    "private-key-assignment",
    "aws-secret-access-key",
    "secret-assignment",
    "password-assignment",
    "token-assignment",
    "auth-assignment",
    "credential-assignment",
    "basic-auth",
    "bearer-token",
    "hardcoded-credential",
)


def rule_ids(custom: Sequence[str] = ()) -> list[str]:
    """Every rule id a scan can report (exchange rules are ``<exchange>-api-key``)."""
    exchanges = [f"{'alpaca' if e == 'apca' else e}-api-key" for e in _values().EXCHANGES]
    return sorted({p.rule for p in PROVIDERS} | set(KEYWORD_RULES) | set(exchanges) | set(custom))


def check_rule_ids(ids: Iterable[str], custom: Sequence[str] = ()) -> frozenset[str]:
    """The ids to switch off; an id no rule has is an error (a typo would disable nothing)."""
    known = set(rule_ids(custom))
    wanted = frozenset(i.strip() for i in ids if i.strip())
    unknown = sorted(wanted - known)
    if unknown:
        raise ArtifactStoreError(
            f"unknown secret rule id {unknown[0]!r}; the ids are: {', '.join(sorted(known))}"
        )
    return wanted
