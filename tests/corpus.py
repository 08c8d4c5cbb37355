"""Realistic backtest-artifact corpora with known secrets, for the scanner's tests and benchmark.

Every secret is synthesised at run time from a seed (correct provider shapes, random
bodies), so nothing secret-looking is committed. ``generate_corpus(root, seed)`` writes task
directories (strategy.py, YAML/JSON/.env/INI configs, trades/equity CSVs, events.log,
test_report.json, ...) and returns the ground truth: one :class:`Secret` per line that
holds a secret. Decoys that must NOT be reported are mixed in: env lookups, None/empty,
placeholders, templates, digests in hash-named fields, git SHAs, UUIDs, base64 images,
AWS's documented EXAMPLE keys, masked values, token counts, high-entropy order ids.

``bulk_corpus(size, seed)`` returns CSV/log-heavy bytes for the throughput benchmark.
``score(findings, truth)`` computes recall and precision per finding.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
DIGITS = string.digits
ALNUM = UPPER + LOWER + DIGITS
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Secret:
    path: str  # relative to the corpus root, '/'-separated
    line: int
    kind: str
    value: str


def _s(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# ------------------------------------------------------------------ secret makers


def _password(rng: random.Random) -> str:
    alphabet = ALNUM + "!@#%^*-_+="
    while True:
        pw = _s(rng, alphabet, rng.randint(10, 20))
        if any(c.isdigit() for c in pw) and pw[0].isalnum() and any(c.isalpha() for c in pw):
            return pw


def _jwt(rng: random.Random) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = {
        "sub": f"user-{rng.randint(1000, 99999)}",
        "iat": rng.randint(1_600_000_000, 1_800_000_000),
    }
    payload = _b64url(json.dumps(body).encode())
    return f"{header}.{payload}.{_b64url(rng.randbytes(32))}"


def _pem_lines(rng: random.Random) -> list[str]:
    kind = rng.choice(["RSA ", "EC ", "", "OPENSSH "])
    body = base64.b64encode(rng.randbytes(rng.choice([120, 240, 480]))).decode()
    lines = [f"-----BEGIN {kind}PRIVATE KEY-----"]
    lines += [body[i : i + 64] for i in range(0, len(body), 64)]
    lines.append(f"-----END {kind}PRIVATE KEY-----")
    return lines


# kind -> maker; each returns a token with the provider's real shape and a random body.
MAKERS: dict[str, Callable[[random.Random], str]] = {
    "aws-id": lambda r: "AKIA" + _s(r, UPPER + DIGITS, 16),
    "aws-secret": lambda r: _s(r, B64, 40),
    "stripe-live": lambda r: "sk_live_" + _s(r, ALNUM, r.choice([24, 99])),
    "stripe-test": lambda r: "sk_test_" + _s(r, ALNUM, r.choice([24, 99])),
    "stripe-restricted": lambda r: "rk_live_" + _s(r, ALNUM, r.choice([24, 99])),
    "github-classic": lambda r: r.choice(["ghp_", "gho_", "ghs_"]) + _s(r, ALNUM, 36),
    "github-fine": lambda r: "github_pat_" + _s(r, ALNUM, 22) + "_" + _s(r, ALNUM, 59),
    "gitlab": lambda r: "glpat-" + _s(r, URLSAFE, 20),
    "slack-bot": lambda r: (
        "xoxb-" + _s(r, DIGITS, 12) + "-" + _s(r, DIGITS, 13) + "-" + _s(r, ALNUM, 24)
    ),
    "slack-webhook": lambda r: (
        "https://hooks.slack.com/services/T"
        + _s(r, UPPER + DIGITS, 8)
        + "/B"
        + _s(r, UPPER + DIGITS, 10)
        + "/"
        + _s(r, ALNUM, 24)
    ),
    "google": lambda r: "AIza" + _s(r, URLSAFE, 35),
    "openai": lambda r: "sk-proj-" + _s(r, URLSAFE, r.choice([48, 74, 156])),
    "openai-legacy": lambda r: "sk-" + _s(r, ALNUM, 20) + "T3BlbkFJ" + _s(r, ALNUM, 20),
    "anthropic": lambda r: "sk-ant-api03-" + _s(r, URLSAFE, 93) + "AA",
    "huggingface": lambda r: "hf_" + _s(r, UPPER + LOWER, 34),
    "npm": lambda r: "npm_" + _s(r, ALNUM, 36),
    "pypi": lambda r: "pypi-AgEIcHlwaS5vcmc" + _s(r, URLSAFE, 70),
    "sendgrid": lambda r: "SG." + _s(r, URLSAFE, 22) + "." + _s(r, URLSAFE, 43),
    "twilio": lambda r: "SK" + _s(r, HEX, 32),
    "telegram": lambda r: _s(r, DIGITS, r.choice([9, 10])) + ":AA" + _s(r, URLSAFE, 33),
    "jwt": _jwt,
    "binance-key": lambda r: _s(r, ALNUM, 64),
    "binance-secret": lambda r: _s(r, ALNUM, 64),
    "alpaca-key": lambda r: "PK" + _s(r, UPPER + DIGITS, 18),
    "alpaca-secret": lambda r: _s(r, ALNUM, 40),
    "coinbase-secret": lambda r: base64.b64encode(r.randbytes(64)).decode(),
    "kraken-secret": lambda r: base64.b64encode(r.randbytes(64)).decode(),
    "hex-token": lambda r: _s(r, HEX, r.choice([32, 40, 64])),
    "password": _password,
}
PROVIDER_KINDS = [
    k
    for k in MAKERS
    if k
    not in {
        "aws-secret",
        "binance-key",
        "binance-secret",
        "alpaca-key",
        "alpaca-secret",
        "coinbase-secret",
        "kraken-secret",
        "hex-token",
        "password",
    }
]
# Secret-named variable names for each kind of value placed in an assignment.
NAMES: dict[str, list[str]] = {
    "aws-id": ["AWS_ACCESS_KEY_ID", "aws_access_key_id"],
    "aws-secret": ["AWS_SECRET_ACCESS_KEY", "aws_secret_access_key", "awsSecretAccessKey"],
    "binance-key": ["BINANCE_API_KEY", "binance_api_key", "apiKey"],
    "binance-secret": ["BINANCE_API_SECRET", "binance_secret", "secret", "api_secret"],
    "alpaca-key": ["APCA_API_KEY_ID", "ALPACA_API_KEY", "alpaca_key_id"],
    "alpaca-secret": ["APCA_API_SECRET_KEY", "ALPACA_SECRET_KEY", "alpaca_secret"],
    "coinbase-secret": ["COINBASE_API_SECRET", "coinbase_secret", "cb_api_secret"],
    "kraken-secret": ["KRAKEN_PRIVATE_KEY", "kraken_secret", "KRAKEN_API_SECRET"],
    "hex-token": ["AUTH_TOKEN", "access_token", "webhook_secret", "SECRET_KEY", "x-api-key"],
    "password": ["DB_PASSWORD", "password", "db_pass", "passwd", "pwd", "broker_password"],
}
GENERIC_NAMES = ["API_KEY", "api_key", "token", "auth_token", "SECRET", "access_token"]


def _name_for(rng: random.Random, kind: str) -> str:
    return rng.choice(NAMES.get(kind, GENERIC_NAMES))


# ------------------------------------------------------------------ decoys


def _png_b64(rng: random.Random) -> str:
    return (
        "iVBORw0KGgoAAAANSUhEUgAA" + base64.b64encode(rng.randbytes(rng.randint(300, 900))).decode()
    )


def _sha(rng: random.Random, n: int = 64) -> str:
    return hashlib.sha256(rng.randbytes(16)).hexdigest()[:n] if n <= 64 else ""


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


PLACEHOLDERS = [
    "<YOUR_API_KEY>",
    "xxxxxxxxxxxxxxxx",
    "********",
    "changeme",
    "your-api-key-here",
    "REPLACE_ME",
    "<redacted>",
    "TODO",
    "dummy",
    "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
    "YOUR_SECRET_HERE",
]


def _py_decoys(rng: random.Random) -> list[str]:
    name = rng.choice(GENERIC_NAMES + NAMES["password"] + NAMES["binance-secret"])
    env = name.upper()
    return rng.sample(
        [
            f'{name} = os.environ["{env}"]',
            f'{name} = os.getenv("{env}")',
            f'{name} = os.environ.get("{env}", "")',
            f"{name} = None",
            f'{name} = ""',
            f'{name} = "{rng.choice(PLACEHOLDERS)}"',
            f"{name} = settings.{name.lower()}",
            'client = Client(api_key=os.environ["BINANCE_API_KEY"], api_secret=secret)',
            f'headers = {{"Authorization": f"Bearer {{{name.lower()}}}"}}',
            f'log.info("using api_key=%s", mask({name.lower()}))',
            f"MAX_TOKENS = {rng.choice([256, 1024, 4096])}",
            f'ORDER_TAG = "{_s(rng, ALNUM, 24)}"',
            f'RUN_ID = "{_uuid(rng)}"',
            f'GIT_SHA = "{_sha(rng, 40)}"',
            '# aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"  (AWS documentation example)',
            'token_url = "https://api.example.com/oauth/token"',
            f"password_min_length = {rng.randint(8, 16)}",
            f'if token == "{rng.choice(["", "none"])}":',
            f'CACHE_KEY = "ohlcv:{rng.choice(["BTCUSDT", "ETHUSDT"])}:1h"',
        ],
        k=rng.randint(3, 6),
    )


# ------------------------------------------------------------------ files


class _File:
    """Lines under construction, with the indices (0-based) of lines holding secrets."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.secrets: list[tuple[int, str, str]] = []

    def add(self, line: str) -> None:
        self.lines.append(line)

    def secret(self, line: str, kind: str, value: str) -> None:
        self.secrets.append((len(self.lines), kind, value))
        self.lines.append(line)

    def extend(self, lines: Iterable[str]) -> None:
        self.lines.extend(lines)


def _pick_secret(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(list(MAKERS))
    return kind, MAKERS[kind](rng)


def _strategy_py(rng: random.Random, n_secrets: int) -> _File:
    f = _File()
    f.extend(
        [
            '"""RSI mean-reversion strategy generated by coder-v1."""',
            "from __future__ import annotations",
            "",
            "import os",
            "import logging",
            "",
            "import numpy as np",
            "import pandas as pd",
            "",
            "log = logging.getLogger(__name__)",
            f"RSI_PERIOD = {rng.randint(7, 21)}",
            f"OVERSOLD, OVERBOUGHT = {rng.randint(20, 35)}, {rng.randint(65, 80)}",
            "",
        ]
    )
    body = [
        "def rsi(close: pd.Series, period: int = RSI_PERIOD) -> pd.Series:",
        "    delta = close.diff()",
        "    gain = delta.clip(lower=0).rolling(period).mean()",
        "    loss = (-delta.clip(upper=0)).rolling(period).mean()",
        "    return 100 - 100 / (1 + gain / loss)",
        "",
        "def signal(row) -> str:",
        "    if row.rsi < OVERSOLD:",
        "        return 'buy'",
        "    return 'sell' if row.rsi > OVERBOUGHT else 'hold'",
        "",
    ]
    chunks: list[Callable[[], None]] = []
    for _ in range(n_secrets):
        kind, value = _pick_secret(rng)
        chunks.append(lambda kind=kind, value=value: _py_secret(rng, f, kind, value))
    for decoy in _py_decoys(rng):
        chunks.append(lambda decoy=decoy: f.add(decoy))
    rng.shuffle(chunks)
    for chunk in chunks:
        chunk()
    f.extend(body)
    return f


def _py_secret(rng: random.Random, f: _File, kind: str, value: str) -> None:
    name = _name_for(rng, kind)
    if kind == "slack-webhook":
        f.secret(f'SLACK_WEBHOOK_URL = "{value}"', kind, value)
        return
    style = rng.randrange(7)
    if style == 0:
        f.secret(f'{name} = "{value}"', kind, value)
    elif style == 1:
        f.secret(f"{name}: str = '{value}'", kind, value)
    elif style == 2:
        arg = "password" if kind == "password" else "api_key"
        f.secret(f'client = BrokerClient({arg}="{value}", paper=True)', kind, value)
    elif style == 3:
        f.add("CONFIG = {")
        f.add('    "exchange": "binance",')
        key = "password" if kind == "password" else rng.choice(["apiKey", "secret", "token"])
        f.secret(f'    "{key}": "{value}",', kind, value)
        f.add("}")
    elif style == 4:
        f.secret(f'os.environ.setdefault("{name.upper()}", "{value}")', kind, value)
    elif style == 5 and kind not in {"password"}:
        f.secret(f'headers = {{"Authorization": "Bearer {value}"}}', kind, value)
    else:
        f.secret(f"self.{name.lower()} = '{value}'", kind, value)


def _config_yaml(rng: random.Random, n_secrets: int) -> _File:
    f = _File()
    f.extend(
        [
            "strategy:",
            "  name: rsi_mean_reversion",
            f"  timeframe: {rng.choice(['1h', '4h', '15m'])}",
            "  symbols: [BTCUSDT, ETHUSDT]",
            "risk:",
            f"  max_position: {rng.randint(1, 10) / 10}",
            "  stop_loss_pct: 2.5",
            "llm:",
            "  model: gpt-4o",
            f"  max_tokens: {rng.choice([512, 2048])}",
            "  api_key: ${OPENAI_API_KEY}",
            "database:",
            "  host: db.internal",
            "  port: 5432",
            "  password: '{{ vault_db_password }}'",
            "  user: trader",
            f"prompt_hash: {_sha(rng, 16)}",
            f"dataset_sha256: {_sha(rng)}",
            f"run_id: {_uuid(rng)}",
            "notify:",
            f"  token: {rng.choice(PLACEHOLDERS)}",
            "broker:",
            "  name: binance",
        ]
    )
    for _ in range(n_secrets):
        kind, value = _pick_secret(rng)
        name = _name_for(rng, kind).lower()
        if rng.random() < 0.3:
            f.secret(f'  {name}: "{value}"', kind, value)
        elif kind == "password" and rng.random() < 0.5:
            f.secret(f"  url: postgresql://trader:{value}@db.internal:5432/prices", kind, value)
        else:
            f.secret(f"  {name}: {value}", kind, value)
    f.extend(["  testnet: false", "  secret: null", "  key_file: /run/secrets/broker.pem"])
    return f


def _dotenv(rng: random.Random, n_secrets: int) -> _File:
    f = _File()
    f.extend(
        [
            "# local settings for the backtest runner",
            "ENVIRONMENT=backtest",
            "LOG_LEVEL=INFO",
            "BINANCE_API_KEY=",
            f"DATA_DIR=/data/{_s(rng, LOWER, 6)}",
            "OPENAI_API_KEY=${OPENAI_API_KEY}",
            f"REDIS_URL=redis://cache.internal:6379/{rng.randint(0, 9)}",
            f"GIT_COMMIT={_sha(rng, 40)}",
        ]
    )
    for _ in range(n_secrets):
        kind, value = _pick_secret(rng)
        name = _name_for(rng, kind).upper().replace("-", "_")
        if kind == "password" and rng.random() < 0.5:
            f.secret(f"DATABASE_URL=postgres://algo:{value}@pg.internal:5432/algo", kind, value)
        else:
            quote = rng.choice(["", '"', "'"])
            prefix = rng.choice(["", "export "])
            f.secret(f"{prefix}{name}={quote}{value}{quote}", kind, value)
    f.add("SECRET_KEY=changeme")
    return f


def _broker_ini(rng: random.Random, n_secrets: int) -> _File:
    f = _File()
    f.extend(["[general]", "timezone = UTC", f"seed = {rng.randint(1, 999)}", "", "[broker]"])
    f.extend(["api_key = <YOUR_API_KEY>", "password = ", "endpoint = https://api.broker.example"])
    for _ in range(n_secrets):
        kind, value = _pick_secret(rng)
        f.secret(f"{_name_for(rng, kind).lower()} = {value}", kind, value)
    f.extend(["", "[cache]", f"key_prefix = bt:{_s(rng, LOWER, 4)}", "ttl = 3600"])
    return f


def _settings_json(rng: random.Random, n_secrets: int) -> _File:
    entries: list[tuple[str, object, str | None, str | None]] = [
        ("exchange", "binance", None, None),
        ("symbols", ["BTCUSDT", "ETHUSDT"], None, None),
        ("api_key", None, None, None),
        ("api_secret", "", None, None),
        ("token", "${TELEGRAM_TOKEN}", None, None),
        ("config_sha256", _sha(rng), None, None),
        ("git_commit", _sha(rng, 40), None, None),
        ("session_id", _uuid(rng), None, None),
        ("client_order_prefix", "x-" + _s(rng, ALNUM, 20), None, None),
    ]
    for _ in range(n_secrets):
        kind, value = _pick_secret(rng)
        entries.insert(rng.randrange(len(entries) + 1), (_name_for(rng, kind), value, kind, value))
    f = _File()
    f.add("{")
    for i, (key, val, kind, secret) in enumerate(entries):
        comma = "," if i < len(entries) - 1 else ""
        line = f"  {json.dumps(key)}: {json.dumps(val)}{comma}"
        if kind and secret:
            f.secret(line, kind, secret)
        else:
            f.add(line)
    f.add("}")
    return f


def _trades_csv(rng: random.Random, rows: int) -> _File:
    f = _File()
    f.add("timestamp,symbol,side,qty,price,fee,order_id,client_order_id,status")
    price = 30000.0
    for i in range(rows):
        price *= 1 + rng.gauss(0, 0.002)
        f.add(
            f"2025-01-{1 + i % 28:02d}T{i % 24:02d}:{rng.randint(0, 59):02d}:00Z,BTCUSDT,"
            f"{rng.choice(['BUY', 'SELL'])},{rng.randint(1, 50) / 100},{price:.2f},"
            f"{price * 0.001:.4f},{rng.getrandbits(63)},{_s(rng, ALNUM, 22)},FILLED"
        )
    return f


def _equity_csv(rng: random.Random, rows: int) -> _File:
    f = _File()
    f.add("timestamp,equity,drawdown,position")
    eq = 10000.0
    for i in range(rows):
        eq *= 1 + rng.gauss(0.0002, 0.003)
        f.add(
            f"2025-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z,{eq:.2f},"
            f"{rng.random() * 3:.3f},{rng.randint(-2, 2)}"
        )
    return f


def _credentials_csv(rng: random.Random, n_secrets: int) -> _File:
    f = _File()
    style = rng.randrange(2)
    if style == 0:
        f.add("exchange,account,api_key,api_secret,enabled")
        for _ in range(n_secrets):
            kind = rng.choice(["binance-key", "alpaca-secret", "hex-token"])
            value = MAKERS[kind](rng)
            f.secret(f"binance,{_s(rng, LOWER, 6)},{value},********,true", kind, value)
        f.add("kraken,backup,,,false")
    else:
        f.add("parameter,value")
        f.add(f"rsi_period,{rng.randint(7, 21)}")
        f.add("api_key,<set in vault>")
        for _ in range(n_secrets):
            kind, value = _pick_secret(rng)
            f.secret(f"{_name_for(rng, kind).lower()},{value}", kind, value)
        f.add(f"dataset_md5,{_sha(rng, 32)}")
    return f


_LOG_MESSAGES = [
    "signal generated rsi={rsi:.2f} action={action}",
    "order submitted id={oid} side={action} qty={qty}",
    "order filled id={oid} price={price:.2f} fee={fee:.4f}",
    "position updated qty={qty} avg_price={price:.2f}",
    "request_id={uuid} GET /api/v3/klines 200 {ms}ms",
    "heartbeat ok latency_ms={ms}",
    "equity={price:.2f} drawdown={rsi:.3f}",
    "token usage prompt_tokens={ms} completion_tokens={qty}",
    "refreshing auth session, expires_in=3600",
    "loaded config sha256={sha}",
    "api_key=sk_l**** (masked) accepted by exchange",
    "checked out commit {sha40}",
]


def _events_log(rng: random.Random, rows: int, n_secrets: int) -> _File:
    f = _File()
    secret_rows = set(rng.sample(range(rows), min(rows, n_secrets)))
    for i in range(rows):
        stamp = (
            f"2025-01-{1 + i % 28:02d} {i % 24:02d}:{rng.randint(0, 59):02d}:"
            f"{rng.randint(0, 59):02d},{rng.randint(0, 999):03d}"
        )
        level = rng.choice(["INFO", "INFO", "INFO", "DEBUG", "WARNING"])
        if i in secret_rows:
            kind, value = _pick_secret(rng)
            name = _name_for(rng, kind).lower()
            style = rng.randrange(4)
            if style == 0:
                msg = f"connecting to exchange with {name}={value}"
            elif style == 1:
                msg = (
                    f"request headers={{'Authorization': 'Bearer {value}', "
                    "'Accept': 'application/json'}"
                )
            elif style == 2:
                msg = f'config loaded: {{"{name}": "{value}", "testnet": false}}'
            else:
                msg = f"retrying login user=algo {name}: {value}"
            if kind == "password" and style == 1:
                msg = f"retrying login user=algo password={value}"
            f.secret(f"{stamp} {level} broker: {msg}", kind, value)
            continue
        template = rng.choice(_LOG_MESSAGES)
        msg = template.format(
            rsi=rng.random() * 100,
            action=rng.choice(["buy", "sell", "hold"]),
            oid=rng.getrandbits(63),
            qty=rng.randint(1, 500),
            price=30000 + rng.random() * 1000,
            fee=rng.random(),
            uuid=_uuid(rng),
            ms=rng.randint(1, 900),
            sha=_sha(rng),
            sha40=_sha(rng, 40),
        )
        f.add(f"{stamp} {level} strategy: {msg}")
    return f


def _test_report(rng: random.Random, n_secrets: int) -> _File:
    report: dict[str, object] = {
        "summary": {"passed": rng.randint(3, 40), "failed": 0, "duration": rng.random() * 60},
        "metrics": {"sharpe": rng.random() * 3, "max_drawdown": rng.random() * 20},
        "environment": {"python": "3.11.7", "git_sha": _sha(rng, 40), "run_id": _uuid(rng)},
        "artifacts": {
            "trades.csv": {"sha256": _sha(rng), "md5": _sha(rng, 32)},
            "equity_curve.png": {"data": "data:image/png;base64," + _png_b64(rng)},
        },
        "llm": {
            "model": "gpt-4o",
            "prompt_tokens": rng.randint(100, 9000),
            "token_hash": _sha(rng),
        },
        "tests": [
            {
                "nodeid": "tests/test_strategy.py::test_auth_token_is_read_from_env",
                "outcome": "passed",
            },
            {"nodeid": "tests/test_strategy.py::test_signal[rsi=25]", "outcome": "passed"},
        ],
    }
    text = json.dumps(report, indent=2).splitlines()
    f = _File()
    f.extend(text[:-1])
    f.lines[-1] += ","
    f.add('  "captured_config": {')
    for i in range(n_secrets):
        kind, value = _pick_secret(rng)
        comma = "," if i < n_secrets - 1 else ""
        f.secret(f'    "{_name_for(rng, kind)}": {json.dumps(value)}{comma}', kind, value)
    if not n_secrets:
        f.add('    "api_key": null')
    f.add("  }")
    f.add("}")
    return f


def _pem_file(rng: random.Random) -> _File:
    f = _File()
    lines = _pem_lines(rng)
    f.secret(lines[0], "private-key", lines[1])
    f.extend(lines[1:])
    return f


def generate_corpus(root: Path, seed: int, *, tasks: int = 6, rows: int = 400) -> list[Secret]:
    """Write ``tasks`` artifact directories under ``root``; return the ground truth."""
    rng = random.Random(seed)
    truth: list[Secret] = []
    for t in range(tasks):
        task = f"task_{seed}_{t:02d}"
        files: dict[str, _File] = {
            "strategy.py": _strategy_py(rng, rng.randint(0, 3)),
            "config.yaml": _config_yaml(rng, rng.randint(0, 2)),
            ".env": _dotenv(rng, rng.randint(0, 3)),
            "broker.ini": _broker_ini(rng, rng.randint(0, 2)),
            "settings.json": _settings_json(rng, rng.randint(0, 2)),
            "trades.csv": _trades_csv(rng, rows),
            "equity_curve.csv": _equity_csv(rng, rows),
            "params.csv": _credentials_csv(rng, rng.randint(0, 2)),
            "events.log": _events_log(rng, rows, rng.randint(0, 4)),
            "test_report.json": _test_report(rng, rng.randint(0, 2)),
        }
        if rng.random() < 0.3:
            files["deploy_key.pem"] = _pem_file(rng)
        directory = root / task
        directory.mkdir(parents=True, exist_ok=True)
        for name, f in files.items():
            (directory / name).write_text("\n".join(f.lines) + "\n", encoding="utf-8")
            for index, kind, value in f.secrets:
                truth.append(Secret(f"{task}/{name}", index + 1, kind, value))
    return truth


def bulk_corpus(size: int, seed: int = 0) -> bytes:
    """About ``size`` bytes of trades CSV and event-log text, with a few secrets."""
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        block = (
            _trades_csv(rng, 2000)
            if rng.random() < 0.5
            else _events_log(rng, 2000, rng.randint(0, 2))
        )
        text = "\n".join(block.lines) + "\n"
        parts.append(text)
        total += len(text)
    return "".join(parts).encode()[:size]


@dataclass(frozen=True)
class Score:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def recall(self) -> float:
        total = self.true_positives + self.false_negatives
        return self.true_positives / total if total else 1.0

    @property
    def precision(self) -> float:
        total = self.true_positives + self.false_positives
        return self.true_positives / total if total else 1.0


def score(findings: Iterable[tuple[str, int]], truth: Iterable[Secret]) -> Score:
    """Per-finding score: a finding is true when its (path, line) still has an unmatched secret."""
    remaining: dict[tuple[str, int], int] = {}
    for secret in truth:
        key = (secret.path, secret.line)
        remaining[key] = remaining.get(key, 0) + 1
    expected = sum(remaining.values())
    tp = fp = 0
    for key in findings:
        if remaining.get(key, 0) > 0:
            remaining[key] -= 1
            tp += 1
        else:
            fp += 1
    return Score(tp, fp, expected - tp)
