"""An independent corpus of backtest-project artifacts, for judging the secret scanner.

Written separately from ``tests/corpus.py`` (and in a different style) so that the two do
not share blind spots: each "project" is the kind of directory an AI coding agent leaves
behind after building a trading strategy -- ccxt/alpaca/binance client code, config
dataclasses and pydantic settings, nested YAML credential blocks, docker-compose files,
``.env`` files, INI/TOML, JSON reports, trade CSVs, logs, notebooks and shell scripts.

Secrets are synthesised at run time from a seed, with each provider's shape and a random
body; nothing secret-looking is committed. Hard negatives (env lookups, placeholders,
templates, digests, git SHAs, UUIDs, base64 images, documented example keys, token counts,
password policies, file paths, references) are mixed into every file.

``build_projects(root, seed)`` writes the files and returns a :class:`Truth`: the
``(path, line)`` of every secret (one entry per secret; a line may hold two) and the
secret values themselves, so a test can check that no output carries one whole.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

_UP = string.ascii_uppercase
_LO = string.ascii_lowercase
_DIG = string.digits
_AN = _UP + _LO + _DIG
_HEXL = "0123456789abcdef"
_URLSAFE = _AN + "-_"


@dataclass
class Truth:
    """Where the secrets are: (path relative to the root, 1-based line) of each line that
    holds one (a line with two secrets is one location), and every secret value."""

    locations: set[tuple[str, int]] = field(default_factory=set)
    values: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Quality:
    hits: int
    false_alarms: list[tuple[str, int]]
    misses: list[tuple[str, int]]

    @property
    def recall(self) -> float:
        total = self.hits + len(self.misses)
        return self.hits / total if total else 1.0

    @property
    def precision(self) -> float:
        total = self.hits + len(self.false_alarms)
        return self.hits / total if total else 1.0


def judge(found: Iterable[tuple[str, int]], truth: Truth) -> Quality:
    """By (path, line): a line reported twice counts once, as does a line with two secrets."""
    reported = set(found)
    return Quality(
        hits=len(reported & truth.locations),
        false_alarms=sorted(reported - truth.locations),
        misses=sorted(truth.locations - reported),
    )


# ---------------------------------------------------------------- random material


class _Gen:
    """Secret and decoy material from one seeded random stream."""

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def pick(self, options: list[str]) -> str:
        return self.r.choice(options)

    def b64(self, nbytes: int) -> str:
        return base64.b64encode(self.r.randbytes(nbytes)).decode()

    # secrets -------------------------------------------------------------

    def aws_id(self) -> str:
        return self.pick(["AKIA", "ASIA"]) + self.chars(_UP + "234567", 16)

    def aws_secret(self) -> str:
        return self.chars(_AN + "+/", 40)

    def stripe(self) -> str:
        prefix = self.pick(["sk_live_", "sk_test_", "rk_live_", "rk_test_"])
        return prefix + self.chars(_AN, self.r.choice([24, 34, 99]))

    def github(self) -> str:
        if self.r.random() < 0.4:
            return "github_pat_" + self.chars(_AN, 22) + "_" + self.chars(_AN, 59)
        return self.pick(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + self.chars(_AN, 36)

    def gitlab(self) -> str:
        return "glpat-" + self.chars(_URLSAFE, 20)

    def slack_token(self) -> str:
        kind = self.pick(["xoxb", "xoxp"])
        return f"{kind}-{self.chars(_DIG, 11)}-{self.chars(_DIG, 13)}-{self.chars(_AN, 24)}"

    def slack_webhook(self) -> str:
        return (
            f"https://hooks.slack.com/services/T{self.chars(_UP + _DIG, 9)}"
            f"/B{self.chars(_UP + _DIG, 11)}/{self.chars(_AN, 24)}"
        )

    def google(self) -> str:
        return "AIza" + self.chars(_URLSAFE, 35)

    def openai(self) -> str:
        style = self.r.randrange(3)
        if style == 0:
            return "sk-proj-" + self.chars(_URLSAFE, 124) + "A"
        if style == 1:
            return "sk-" + self.chars(_AN, 20) + "T3BlbkFJ" + self.chars(_AN, 20)
        return "sk-svcacct-" + self.chars(_URLSAFE, 60)

    def anthropic(self) -> str:
        return "sk-ant-api03-" + self.chars(_URLSAFE, 93) + "AA"

    def huggingface(self) -> str:
        return "hf_" + self.chars(_UP + _LO, 34)

    def npm(self) -> str:
        return "npm_" + self.chars(_AN, 36)

    def pypi(self) -> str:
        return "pypi-AgEIcHlwaS5vcmcCJ" + self.chars(_URLSAFE, 140)

    def sendgrid(self) -> str:
        return "SG." + self.chars(_URLSAFE, 22) + "." + self.chars(_URLSAFE, 43)

    def twilio(self) -> str:
        return "SK" + self.chars(_HEXL, 32)

    def telegram(self) -> str:
        return self.chars("123456789", 1) + self.chars(_DIG, 9) + ":AA" + self.chars(_URLSAFE, 33)

    def jwt(self) -> str:
        def part(obj: dict[str, object]) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        head = part({"alg": self.pick(["HS256", "RS256"]), "typ": "JWT"})
        body = part(
            {"sub": self.chars(_AN, 10), "exp": self.r.randint(1_700_000_000, 1_900_000_000)}
        )
        sig = base64.urlsafe_b64encode(self.r.randbytes(32)).decode().rstrip("=")
        return f"{head}.{body}.{sig}"

    def binance(self) -> str:
        return self.chars(_AN, 64)

    def alpaca_id(self) -> str:
        body = self.chars(_UP + _DIG, 18)
        while sum(c.isdigit() for c in body) < 4:
            body = self.chars(_UP + _DIG, 18)
        return self.pick(["PK", "AK"]) + body

    def alpaca_secret(self) -> str:
        return self.chars(_AN, 40)

    def coinbase_key(self) -> str:
        return self.chars(_HEXL, 32)

    def kraken_key(self) -> str:
        return self.b64(42)  # 56 chars

    def b64_secret(self) -> str:
        return self.b64(64)  # 88 chars, coinbase / kraken private keys

    def polygon(self) -> str:
        return self.chars(_AN, 32)

    def hex_token(self) -> str:
        return self.chars(_HEXL, self.r.choice([32, 48, 64]))

    def generic_token(self) -> str:
        return self.chars(_AN, self.r.choice([24, 32, 40]))

    def password(self) -> str:
        style = self.r.randrange(3)
        if style == 0:
            word = self.pick(["Falcon", "orchid", "Quartz", "maple", "Tundra", "Bison"])
            return (
                word
                + self.chars(_DIG, 3)
                + self.pick(["!", "#", "$", "%", "_"])
                + self.chars(_AN, 3)
            )
        if style == 1:
            return self.chars(_AN + "!%^*-_+", self.r.randint(12, 22))
        return self.chars(_LO, 4) + "-" + self.chars(_LO + _DIG, 6) + "-" + self.chars(_AN, 4)

    def url_password(self) -> str:
        return self.chars(_AN + "-_.~", self.r.randint(10, 20))

    def pem(self) -> list[str]:
        kind = self.pick(["RSA ", "EC ", "", "OPENSSH ", "ENCRYPTED "])
        body = self.b64(self.r.choice([121, 180, 300]))
        return (
            [f"-----BEGIN {kind}PRIVATE KEY-----"]
            + [body[i : i + 64] for i in range(0, len(body), 64)]
            + [f"-----END {kind}PRIVATE KEY-----"]
        )

    def provider(self) -> str:
        makers: list[Callable[[], str]] = [
            self.aws_id,
            self.stripe,
            self.github,
            self.gitlab,
            self.slack_token,
            self.google,
            self.openai,
            self.anthropic,
            self.huggingface,
            self.npm,
            self.sendgrid,
            self.twilio,
            self.telegram,
            self.jwt,
        ]
        return self.r.choice(makers)()

    # decoys --------------------------------------------------------------

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def sha(self, n: int = 64) -> str:
        return hashlib.sha256(self.r.randbytes(20)).hexdigest()[:n]

    def md5(self) -> str:
        return hashlib.md5(self.r.randbytes(20)).hexdigest()

    def png(self) -> str:
        return "iVBORw0KGgoAAAANSUhEUgAAAoAAAAHgCAYAAAA" + self.b64(self.r.randint(200, 700))

    def placeholder(self) -> str:
        return self.pick(
            [
                "<your-api-key>",
                "<API_SECRET>",
                "xxxxxxxxxxxxxxxxxxxxxxxx",
                "****************",
                "changeme",
                "your-api-key-here",
                "REPLACE_ME",
                "dummy",
                "example",
                "YOUR_SECRET_KEY",
                "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                "<redacted>",
                "TODO",
            ]
        )

    def template(self, var: str) -> str:
        return self.pick(
            [f"${{{var}}}", "{{ " + var.lower() + " }}", f"%({var.lower()})s", f"${var}"]
        )


# ---------------------------------------------------------------- file assembly


class _Doc:
    """A file's lines, with the secrets each line holds."""

    def __init__(self, rel: str) -> None:
        self.rel = rel
        self.lines: list[str] = []
        self.marks: list[tuple[int, str]] = []

    def __call__(self, *lines: str) -> None:
        self.lines.extend(lines)

    def secret(self, line: str, *values: str) -> None:
        self.lines.append(line)
        for value in values:
            self.marks.append((len(self.lines), value))

    def write(self, root: Path, truth: Truth) -> None:
        path = root / self.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        for line, value in self.marks:
            truth.locations.add((self.rel, line))
            if value:
                truth.values.append(value)


def _strategy_module(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    d(
        '"""Momentum breakout strategy -- live and paper execution."""',
        "from __future__ import annotations",
        "",
        "import hashlib",
        "import logging",
        "import os",
        "from dataclasses import dataclass, field",
        "",
        "import ccxt",
        "from alpaca_trade_api.rest import REST, TimeFrame",
        "",
        "log = logging.getLogger(__name__)",
        f"MAX_TOKENS = {g.pick(['512', '2048', '4096'])}",
        f"password_min_length = {g.r.randint(8, 16)}",
        f'RUN_ID = "{g.uuid()}"',
        f'BASE_COMMIT = "{g.sha(40)}"',
        'KEY_FILE = "/etc/ssl/private/trader-key.pem"',
        'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"  # from the AWS docs',
        'AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
        "",
    )
    for _ in range(g.r.randint(5, 8)):
        _strategy_block(g, d)
        d("")
    return d


def _strategy_block(g: _Gen, d: _Doc) -> None:
    choice = g.r.randrange(22)
    if choice == 0:
        k, s = g.binance(), g.binance()
        d("exchange = ccxt.binance(", "    {")
        d.secret(f'        "apiKey": "{k}",', k)
        d.secret(f'        "secret": "{s}",', s)
        d(
            '        "enableRateLimit": True,',
            '        "options": {"defaultType": "future"},',
            "    }",
            ")",
        )
    elif choice == 1:
        k, s = g.kraken_key(), g.b64_secret()
        d.secret(f"kraken = ccxt.kraken({{'apiKey': '{k}', 'secret': '{s}'}})", k, s)
    elif choice == 2:
        k, s = g.alpaca_id(), g.alpaca_secret()
        d("api = REST(")
        d.secret(f'    key_id="{k}",', k)
        d.secret(f'    secret_key="{s}",', s)
        d('    base_url="https://paper-api.alpaca.markets",', '    api_version="v2",', ")")
    elif choice == 3:
        s = g.alpaca_secret()
        d("@dataclass", "class BrokerConfig:")
        d('    name: str = "alpaca"', "    paper: bool = True")
        d.secret(f'    api_secret: str = "{s}"', s)
        d('    api_key_env: str = "APCA_API_KEY_ID"', "    max_tokens: int = 4096")
        d("    password: str | None = None", "    symbols: list[str] = field(default_factory=list)")
    elif choice == 4:
        pw, tok = g.password(), g.generic_token()
        d("class Settings(BaseSettings):")
        d('    model_config = SettingsConfigDict(env_file=".env", env_prefix="BT_")')
        d.secret(f'    db_password: SecretStr = SecretStr("{pw}")', pw)
        d.secret(f'    webhook_token: str = Field(default="{tok}", alias="WEBHOOK_TOKEN")', tok)
        d('    api_key: SecretStr = Field(default=None, validation_alias="BINANCE_API_KEY")')
        d("    token_count: int = 0", '    key_file: str = "/run/secrets/broker.pem"')
    elif choice == 5:
        d(
            'api_key = os.environ["BINANCE_API_KEY"]',
            'api_secret = os.getenv("BINANCE_API_SECRET", "")',
        )
        d("client = Client(api_key=api_key, api_secret=api_secret, testnet=True)")
        d('token = get_token(scope="trade")', "password = self.password if self else None")
        d('headers = {"Authorization": f"Bearer {token}", "X-Request-Id": str(uuid4())}')
    elif choice == 6:
        k = g.binance()
        d.secret(f'HEADERS = {{"X-MBX-APIKEY": "{k}", "Content-Type": "application/json"}}', k)
    elif choice == 7:
        tok = g.pick([g.jwt(), g.generic_token(), g.hex_token()])
        d.secret(f'session.headers.update({{"Authorization": "Bearer {tok}"}})', tok)
    elif choice == 8:
        pw = g.url_password()
        scheme = g.pick(["postgresql+psycopg2", "mysql+pymysql", "postgresql"])
        d.secret(f'engine = create_engine("{scheme}://quant:{pw}@db.internal:5432/backtests")', pw)
        d('READONLY_DSN = "postgresql://reader:${DB_PASSWORD}@db.internal/backtests"')
    elif choice == 9:
        v = g.provider()
        name = g.pick(["OPENAI_API_KEY", "GITHUB_TOKEN", "SLACK_TOKEN", "SENDGRID_KEY", "HF_TOKEN"])
        d.secret(f'os.environ.setdefault("{name}", "{v}")', v)
    elif choice == 10:
        v = g.openai()
        d.secret(f'openai.api_key = "{v}"', v)
        d("resp = openai.chat.completions.create(model=MODEL, max_tokens=MAX_TOKENS)")
        d("tokens_used = resp.usage.total_tokens", 'log.info("tokens_used=%d", tokens_used)')
    elif choice == 11:
        k, s, p = g.coinbase_key(), g.b64_secret(), g.chars(_LO + _DIG, 11)
        d.secret(f'cb = cbpro.AuthenticatedClient("{k}", "{s}", "{p}")', k, s, p)
    elif choice == 12:
        t = g.telegram()
        d.secret(f'TELEGRAM_BOT_TOKEN = "{t}"', t)
        d('TELEGRAM_CHAT_ID = "-100' + g.chars(_DIG, 10) + '"')
    elif choice == 13:
        w = g.slack_webhook()
        d.secret(f'ALERT_WEBHOOK = "{w}"', w)
    elif choice == 14:
        pw = g.password()
        d.secret(
            f'conn = psycopg2.connect(host="db", user="quant", password="{pw}", dbname="bt")', pw
        )
    elif choice == 15:
        s = g.hex_token()
        d.secret(f"HMAC_SECRET = b'{s}'", s)
        d("signature = hmac.new(HMAC_SECRET, query.encode(), hashlib.sha256).hexdigest()")
    elif choice == 16:
        d(
            f'expected_sha256 = "{g.sha()}"',
            f'cache_key = hashlib.md5(f"{{symbol}}:{{tf}}".encode()).hexdigest()  # {g.md5()}',
            "ohlcv.sort(key=lambda row: row[0])",
            f'client_order_id = "bt-{g.chars(_AN, 20)}"',
            f'order_id = "{g.uuid()}"',
            'secret_name = "prod/binance/api"',
            'TOKEN_URL = "https://auth.broker.example/oauth2/token"',
        )
    elif choice == 17:
        d(
            f'api_key = "{g.placeholder()}"',
            f'API_SECRET = "{g.placeholder()}"  # set me',
            'password = ""',
            "auth_token = None",
            'secret_key = keyring.get_password("binance", "trader")',
            f'private_key_path = "~/.ssh/{g.pick(["id_ed25519", "id_rsa"])}"',
        )
    elif choice == 18:
        u, pw = g.pick(["trader", "svc_bt", "admin"]), g.password()
        d.secret(f'session.auth = ("{u}", "{pw}")', pw)
    elif choice == 19:
        tok = g.huggingface()
        d.secret(f'login(token="{tok}")', tok)
        d('tokenizer = AutoTokenizer.from_pretrained("ProsusAI/finbert")')
    elif choice == 20:
        pw = g.url_password()
        d.secret(f'r = redis.Redis.from_url("redis://:{pw}@cache:6379/0")', pw)
    else:
        k = g.pick([g.aws_id(), g.aws_secret()])
        name = "aws_access_key_id" if k.startswith(("AKIA", "ASIA")) else "aws_secret_access_key"
        d("s3 = boto3.client(", '    "s3",')
        d.secret(f'    {name}="{k}",', k)
        d('    region_name="us-east-1",', ")")


def _settings_yaml(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    d("# generated by the backtest agent", "strategy:", "  name: momentum_breakout")
    d(f"  max_tokens: {g.pick(['1024', '4096'])}", "  lookback: 20", "  sort_key: timestamp")
    d(f"  run_id: {g.uuid()}", f"  base_commit: {g.sha(40)}", "exchanges:")
    k, s = g.binance(), g.binance()
    d("  binance:", "    testnet: false", "    credentials:")
    d.secret(f"      api_key: {k}", k)
    d.secret(f'      api_secret: "{s}"', s)
    d("      key_file: /etc/ssl/private/binance.pem")
    d("  kraken:", "    credentials:")
    d(f"      key: {g.template('KRAKEN_KEY')}", "      secret: ${KRAKEN_SECRET}")
    a, b = g.alpaca_id(), g.alpaca_secret()
    d("  alpaca:", "    base_url: https://paper-api.alpaca.markets")
    d.secret(f"    key_id: {a}", a)
    d.secret(f"    secret_key: '{b}'", b)
    pw = g.password()
    d("database:", "  host: db.internal", "  port: 5432", "  user: quant")
    d.secret(f'  password: "{pw}"', pw)
    d("  password_min_length: 12", "  pool_size: 5")
    d("llm:", "  model: gpt-4o-mini", "  max_tokens: 2048", "  token_budget: 200000")
    d(f"  api_key: {g.placeholder()}")
    v = g.pick([g.openai(), g.anthropic()])
    d.secret(f"  fallback_api_key: {v}", v)
    d("notifications:", "  slack:")
    w = g.slack_webhook()
    d.secret(f"    webhook_url: {w}", w)
    d("  auth: none", "  auth_method: hmac", f"  checksum: {g.sha()}", f'  etag: "{g.md5()}"')
    d(
        "data:",
        f"  sha256: {g.sha()}",
        f"  dataset_md5: {g.md5()}",
        "  secret_ref: vault:kv/trading#binance",
    )
    d("  token: null", "  password: ~", "  api_token: ''")
    return d


def _compose(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    pw = g.password()
    d('version: "3.9"', "services:", "  db:", "    image: postgres:16", "    environment:")
    d("      POSTGRES_USER: quant", "      POSTGRES_DB: backtests")
    d.secret(f"      POSTGRES_PASSWORD: {pw}", pw)
    d(
        "  cache:",
        "    image: redis:7",
        '    command: ["redis-server", "--requirepass", "${REDIS_PASSWORD}"]',
    )
    d("  worker:", "    build: .", "    environment:")
    k = g.binance()
    d.secret(f"      - BINANCE_API_KEY={k}", k)
    d("      - BINANCE_API_SECRET=${BINANCE_API_SECRET}")
    u = g.url_password()
    d.secret(f"      - DATABASE_URL=postgresql://quant:{u}@db:5432/backtests", u)
    d("      - REDIS_URL=redis://cache:6379/0", "      - LOG_LEVEL=INFO", "      - MAX_TOKENS=4096")
    t = g.pick([g.github(), g.gitlab(), g.npm()])
    d.secret(f'      - "CI_TOKEN={t}"', t)
    d(
        "    secrets:",
        "      - broker_key",
        "secrets:",
        "  broker_key:",
        "    file: ./secrets/broker_key.txt",
    )
    return d


def _dotenv(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    d("# local overrides -- do not commit", "ENV=paper", "LOG_LEVEL=debug")
    a, s = g.alpaca_id(), g.alpaca_secret()
    d.secret(f"APCA_API_KEY_ID={a}", a)
    d.secret(f'APCA_API_SECRET_KEY="{s}"', s)
    d("APCA_API_BASE_URL=https://paper-api.alpaca.markets")
    k = g.aws_id()
    d.secret(f"export AWS_ACCESS_KEY_ID={k}", k)
    sk = g.aws_secret()
    d.secret(f"export AWS_SECRET_ACCESS_KEY='{sk}'", sk)
    pw = g.password()
    d.secret(f"DB_PASSWORD={pw}", pw)
    d("DB_PASSWORD_FILE=/run/secrets/db_password", "REDIS_PASSWORD=", "SENTRY_DSN=")
    d(f"OPENAI_API_KEY={g.placeholder()}", "HF_TOKEN=${HF_TOKEN}", "MAX_TOKENS=8192")
    t = g.pick([g.telegram(), g.sendgrid(), g.twilio(), g.google()])
    d.secret(f"NOTIFY_TOKEN={t}", t)
    d(f"GIT_SHA={g.sha(40)}", f"RUN_UUID={g.uuid()}", "TOKENIZERS_PARALLELISM=false")
    return d


def _broker_ini(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    d("; broker connection settings", "[general]", "mode = paper", "timeout = 30", "")
    k, s = g.kraken_key(), g.b64_secret()
    d("[kraken]")
    d.secret(f"api_key = {k}", k)
    d.secret(f"private_key = {s}", s)
    d("key_file = /home/trader/.kraken/key.pem", "")
    k, s, p = g.coinbase_key(), g.b64_secret(), g.chars(_LO + _DIG, 11)
    d("[coinbase]")
    d.secret(f"api_key={k}", k)
    d.secret(f"api_secret={s}", s)
    d.secret(f"passphrase={p}", p)
    d("")
    pw = g.password()
    d("[postgres]", "host = db.internal", "user = quant")
    d.secret(f"password = {pw}", pw)
    d("password_min_length = 12", "auth = md5", "")
    d("[ib]", "host = 127.0.0.1", "port = 7497", "client_id = 17", "password = %(IB_PASSWORD)s")
    return d


def _pypirc_npmrc(g: _Gen, root_rel: str) -> list[_Doc]:
    p = _Doc(f"{root_rel}/.pypirc")
    tok = g.pypi()
    p("[distutils]", "index-servers = pypi", "", "[pypi]", "username = __token__")
    p.secret(f"password = {tok}", tok)
    n = _Doc(f"{root_rel}/.npmrc")
    tok = g.npm()
    n("registry=https://registry.npmjs.org/")
    n.secret(f"//registry.npmjs.org/:_authToken={tok}", tok)
    n("always-auth=true")
    return [p, n]


def _secrets_toml(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    pw, tok = g.password(), g.polygon()
    d(
        "[connections.warehouse]",
        'dialect = "postgresql"',
        'host = "db.internal"',
        'username = "quant"',
    )
    d.secret(f'password = "{pw}"', pw)
    d("", "[polygon]")
    d.secret(f'api_key = "{tok}"', tok)
    d('api_key_env = "POLYGON_API_KEY"', "max_tokens = 1024", f'sha256 = "{g.sha()}"')
    return d


def _report_json(g: _Gen, rel: str) -> _Doc:
    """A pretty-printed JSON test/backtest report (one key per line)."""
    d = _Doc(rel)
    d("{", f'  "run_id": "{g.uuid()}",', f'  "commit": "{g.sha(40)}",')
    d(f'  "base_commit": "{g.sha(40)}",', '  "status": "passed",', '  "metrics": {')
    d(
        '    "sharpe": 1.87,',
        '    "max_drawdown": -0.112,',
        f'    "tokens_used": {g.r.randint(1000, 90000)},',
    )
    d(f'    "token_count": {g.r.randint(10, 900)}', "  },", '  "artifacts": [')
    for name in ("equity.csv", "trades.csv"):
        d("    {", f'      "name": "{name}",', f'      "sha256": "{g.sha()}",')
        d(
            f'      "md5": "{g.md5()}",',
            f'      "etag": "\\"{g.md5()}\\"",',
            '      "size": 18231',
            "    },",
        )
    d(
        "    {",
        '      "name": "equity.png",',
        f'      "data": "data:image/png;base64,{g.png()}"',
        "    }",
        "  ],",
    )
    d('  "llm": {', '    "model": "claude-3-5-sonnet",', '    "max_tokens": 4096,')
    d('    "usage": {"input_tokens": 1822, "output_tokens": 911},', '    "api_key": null,')
    d('    "api_key_env": "ANTHROPIC_API_KEY"', "  },", '  "environment": {')
    d(
        '    "PYTHONHASHSEED": "0",',
        '    "HOME": "/home/runner",',
        f'    "GIT_COMMIT": "{g.sha(40)}",',
    )
    k = g.binance()
    d.secret(f'    "BINANCE_API_KEY": "{k}",', k)
    v = g.provider()
    d.secret(f'    "SERVICE_TOKEN": "{v}",', v)
    d('    "BINANCE_API_SECRET": "********",', '    "DB_PASSWORD": "<redacted>"', "  },")
    d(
        '  "tests": [',
        "    {",
        '      "nodeid": "tests/test_live.py::test_connect",',
        '      "outcome": "failed",',
    )
    pw = g.password()
    d.secret(
        f'      "longrepr": "E   AssertionError: login failed for user=quant password={pw}",', pw
    )
    d(f'      "duration": {g.r.random():.3f}', "    },", "    {")
    d('      "nodeid": "tests/test_orders.py::test_idempotency_key",', '      "outcome": "passed",')
    d(
        f'      "idempotency_key": "{g.uuid()}",',
        f'      "order_hash": "0x{g.sha()}"',
        "    }",
        "  ]",
        "}",
    )
    return d


def _compact_results_json(g: _Gen, rel: str) -> _Doc:
    """JSON-lines results: one object per line, hashes and ids and an occasional secret."""
    d = _Doc(rel)
    for i in range(g.r.randint(30, 60)):
        row: dict[str, object] = {
            "trial": i,
            "run_id": g.uuid(),
            "params_hash": g.sha(),
            "commit_sha": g.sha(40),
            "sharpe": round(g.r.gauss(1, 0.5), 3),
            "tokens": g.r.randint(100, 5000),
        }
        if i % 17 == 5:
            tok = g.hex_token()
            row["auth_token"] = tok
            d.secret(json.dumps(row), tok)
        else:
            d(json.dumps(row))
    return d


def _trades_csv(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    d("ts,symbol,side,qty,price,order_id,client_order_id,fill_hash,tx_hash,fee_token")
    for i in range(g.r.randint(80, 200)):
        d(
            f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z,"
            f"{g.pick(['BTC/USDT', 'ETH/USDT', 'SOL/USDT'])},{g.pick(['buy', 'sell'])},"
            f"{g.r.random():.5f},{g.r.uniform(100, 70000):.2f},{g.uuid()},"
            f"x-{g.chars(_AN, 22)},{g.sha()},0x{g.sha()},{g.pick(['BNB', 'USDT'])}"
        )
    return d


def _accounts_csv(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    d("account,exchange,api_key,api_secret,sub_account_uuid,notes")
    for i in range(g.r.randint(3, 6)):
        k, s = g.binance(), g.binance()
        if i % 3 == 2:
            d(f"acct{i},binance,,,{g.uuid()},disabled")
        else:
            d.secret(f"acct{i},binance,{k},{s},{g.uuid()},active", k, s)
    return d


def _run_log(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    t = 0

    def stamp() -> str:
        nonlocal t
        t += g.r.randint(1, 40)
        return f"2024-05-06 09:{t // 60 % 60:02d}:{t % 60:02d},{g.r.randint(0, 999):03d}"

    for _ in range(g.r.randint(120, 250)):
        r = g.r.random()
        if r < 0.035:
            k = g.binance()
            d.secret(
                f"{stamp()} DEBUG ccxt.base.exchange: connecting with api_key={k} recvWindow=5000",
                k,
            )
        elif r < 0.06:
            pw = g.url_password()
            scheme = g.pick(["postgres", "mysql", "amqp", "redis", "mongodb"])
            d.secret(f"{stamp()} INFO db: connecting to {scheme}://quant:{pw}@db.internal/bt", pw)
        elif r < 0.08:
            tok = g.pick([g.jwt(), g.generic_token()])
            d.secret(f"{stamp()} DEBUG http: headers={{'Authorization': 'Bearer {tok}'}}", tok)
        elif r < 0.095:
            pw = g.url_password()
            d.secret(f"{stamp()} INFO fetch https://svc:{pw}@data.vendor.io/v1/bars?symbol=SPY", pw)
        elif r < 0.11:
            v = g.provider()
            d.secret(f"{stamp()} WARNING settings: token={v} loaded from config file", v)
        elif r < 0.12:
            pw = g.password()
            d.secret(f"{stamp()} ERROR broker: login rejected (user=quant, password={pw})", pw)
        elif r < 0.20:
            d(
                f"{stamp()} DEBUG ccxt.base.exchange: connecting with "
                f"api_key=****{g.chars(_AN, 4)} secret=***"
            )
        elif r < 0.26:
            d(
                f"{stamp()} DEBUG GET /api/v3/order?symbol=BTCUSDT"
                f"&timestamp=17150{g.chars(_DIG, 8)}"
                f"&signature={g.sha()}"
            )
        elif r < 0.31:
            d(
                f"{stamp()} INFO llm: tokens_used={g.r.randint(100, 9000)} "
                "max_tokens=4096 model=gpt-4o"
            )
        elif r < 0.35:
            d(f"{stamp()} INFO db: connecting to postgresql://quant:***@db.internal/bt")
        elif r < 0.39:
            d(
                f"{stamp()} INFO order filled order_id={g.uuid()} "
                f"client_order_id=x-{g.chars(_AN, 20)}"
            )
        elif r < 0.42:
            d(f"{stamp()} INFO artifact sha256={g.sha()} commit={g.sha(40)} run_id={g.uuid()}")
        elif r < 0.44:
            d(
                f"{stamp()} INFO auth: using api_key from env BINANCE_API_KEY "
                "(password=None, token=<unset>)"
            )
        elif r < 0.46:
            d(f"{stamp()} DEBUG refreshing token; next refresh in 3600s; token_ttl=3600")
        else:
            d(
                f"{stamp()} INFO bar {g.pick(['BTCUSDT', 'ETHUSDT'])} "
                f"close={g.r.uniform(100, 70000):.2f} "
                f"rsi={g.r.uniform(0, 100):.1f} position={g.r.randint(-3, 3)}"
            )
    return d


def _notebook(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    k, s = g.binance(), g.binance()
    o = g.openai()
    d(
        "{",
        ' "cells": [',
        "  {",
        '   "cell_type": "code",',
        '   "execution_count": 1,',
        '   "metadata": {},',
    )
    d('   "outputs": [],', '   "source": [', '    "import ccxt\\n",')
    d.secret(f'    "%env OPENAI_API_KEY={o}\\n",', o)
    d.secret(f'    "API_KEY = \\"{k}\\"\\n",', k)
    d.secret(f'    "API_SECRET = \\"{s}\\"\\n",', s)
    d("    \"ex = ccxt.binance({'apiKey': API_KEY, 'secret': API_SECRET})\\n\",")
    d(
        '    "token = os.environ[\\"HF_TOKEN\\"]\\n"',
        "   ]",
        "  },",
        "  {",
        '   "cell_type": "code",',
    )
    d('   "execution_count": 2,', '   "metadata": {},', '   "outputs": [', "    {")
    d('     "data": {', f'      "image/png": "{g.png()}",', '      "text/plain": [')
    d(
        '       "<Figure size 1000x500 with 1 Axes>"',
        "      ]",
        "     },",
        '     "output_type": "display_data"',
    )
    d(
        "    },",
        "    {",
        '     "name": "stdout",',
        '     "output_type": "stream",',
        '     "text": [',
    )
    d(f'      "run {g.uuid()} finished: sharpe=1.42 tokens_used=3381\\n",')
    pw = g.password()
    d.secret(f'      "connected as quant with password={pw}\\n"', pw)
    d("     ]", "    }", "   ],", '   "source": [', '    "bt.plot()"', "   ]", "  }", " ],")
    d(
        ' "metadata": {"kernelspec": {"name": "python3"}},',
        ' "nbformat": 4,',
        ' "nbformat_minor": 5',
        "}",
    )
    return d


def _deploy_sh(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    d("#!/usr/bin/env bash", "set -euo pipefail", 'TOKEN="${API_TOKEN:?set API_TOKEN}"')
    sk = g.aws_secret()
    d("export AWS_DEFAULT_REGION=us-east-1")
    d.secret(f"export AWS_SECRET_ACCESS_KEY={sk}", sk)
    d('curl -fsS -H "Authorization: Bearer $TOKEN" https://api.internal/deploy')
    tok = g.pick([g.github(), g.generic_token(), g.jwt()])
    d.secret(f'curl -fsS -H "Authorization: Bearer {tok}" https://api.internal/health', tok)
    k = g.generic_token()
    d.secret(f"curl -s -H 'X-API-Key: {k}' https://data.vendor.io/v2/bars", k)
    pw = g.password()
    d.secret(f'docker login registry.internal -u ci --password "{pw}"', pw)
    d('psql "postgresql://quant:${PGPASSWORD}@db.internal/bt" -c "select 1"')
    pw2 = g.url_password()
    d.secret(f'pg_dump "postgresql://quant:{pw2}@db.internal/bt" > dump.sql', pw2)
    d(f'echo "deployed $(git rev-parse HEAD) sha256={g.sha()}"', 'echo "max_tokens=4096"')
    return d


def _pem_file(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    lines = g.pem()
    d.secret(lines[0], lines[1])
    d(*lines[1:])
    return d


def _k8s_secret(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    d(
        "apiVersion: v1",
        "kind: Secret",
        "metadata:",
        "  name: trader-secrets",
        "type: Opaque",
        "stringData:",
    )
    k = g.binance()
    d.secret(f"  BINANCE_API_SECRET: {k}", k)
    d(
        "---",
        "apiVersion: apps/v1",
        "kind: Deployment",
        "spec:",
        "  template:",
        "    spec:",
        "      containers:",
    )
    d(
        "        - name: trader",
        "          env:",
        "            - name: BINANCE_API_KEY",
        "              valueFrom:",
    )
    d("                secretKeyRef: {name: trader-secrets, key: BINANCE_API_KEY}")
    tok = g.hex_token()
    d("            - name: WEBHOOK_SECRET")
    d.secret(f'              value: "{tok}"', tok)
    d("            - name: MAX_TOKENS", '              value: "4096"')
    return d


def _b58(g: _Gen, n: int) -> str:
    return g.chars("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", n)


def _data_clients(g: _Gen, rel: str) -> _Doc:
    """Market-data and broker clients written the many ways agents write them."""
    d = _Doc(rel)
    d('"""Data vendors and brokers."""', "from __future__ import annotations", "")
    d("import getpass", "from typing import Final", "")
    av = g.chars(_UP + _DIG, 16)
    d.secret(
        'URL = f"https://www.alphavantage.co/query?function=TIME_SERIES_DAILY'
        f'&symbol={{sym}}&apikey={av}"',
        av,
    )
    pk = g.polygon()
    d.secret(f'POLYGON_API_KEY: Final = "{pk}"', pk)
    fred = g.chars(_HEXL, 32)
    d.secret(f'fred = Fred(api_key="{fred}")', fred)
    fh = g.chars(_LO + _DIG, 20)
    d.secret(f'finnhub_client = finnhub.Client(api_key="{fh}")', fh)
    tiingo = g.chars(_HEXL, 40)
    d.secret(f"TIINGO = {{'session': True, 'api_key': '{tiingo}'}}", tiingo)
    a, b = g.alpaca_id(), g.alpaca_secret()
    d.secret(f'trading = TradingClient("{a}", "{b}", paper=True)', a, b)
    d("data = StockHistoricalDataClient(api_key, secret_key)")
    k, s = g.binance(), g.binance()
    d.secret(f'spot = Spot(api_key="{k}", api_secret="{s}")', k, s)
    k = g.binance()
    d.secret(f'bclient = Client("{k}", "{g.binance()}")', k)
    kk, ks = g.kraken_key(), g.b64_secret()
    d.secret(f'kapi = krakenex.API(key="{kk}", secret="{ks}")', kk, ks)
    q = g.chars(_AN + "_-", 20)
    d.secret(f'quandl.ApiConfig.api_key = "{q}"', q)
    d("", "class Broker:", "    def __init__(self, api_key: str, secret: str) -> None:")
    d("        self.api_key = api_key", "        self.secret = secret")
    tok = g.generic_token()
    d.secret(f'        self.session_token = "{tok}"', tok)
    d("        self.password = getpass.getpass()", "")
    s2 = g.b64_secret()
    d.secret(f'CONFIG["exchanges"]["coinbase"]["api_secret"] = "{s2}"', s2)
    s3 = g.binance()
    d.secret(f'os.environ["BYBIT_API_SECRET"] = "{s3}"', s3)
    a, b = g.alpaca_id(), g.alpaca_secret()
    d("resp = requests.get(", "    url,", "    headers={")
    d.secret(f'        "APCA-API-KEY-ID": "{a}",', a)
    d.secret(f'        "APCA-API-SECRET-KEY": "{b}",', b)
    d("    },", "    timeout=10,", ")")
    pw = g.password()
    d.secret(
        f'def connect(host: str = "db", user: str = "quant", password: str = "{pw}") -> Conn:',
        pw,
    )
    d("    return Conn(host=host, user=user, password=password)", "")
    eth = "0x" + g.chars(_HEXL, 64)
    d.secret(f'WALLET_PRIVATE_KEY = "{eth}"', eth)
    d(
        f'WALLET_ADDRESS = "0x{g.chars(_HEXL, 40)}"',
        f'USDC_TOKEN_ADDRESS = "0x{g.chars(_HEXL, 40)}"',
        f'token_mint = "{_b58(g, 44)}"',
        f'quote_token_mint = "{_b58(g, 43)}"',
        'base_token = "So11111111111111111111111111111111111111112"',
        f'public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{g.chars(_AN + "+/", 43)}"',
        "key = jax.random.PRNGKey(42)",
        'api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)',
        'TOKEN_RE = re.compile(r"[A-Za-z0-9]{32}")',
        'AUTH_HEADER = "Authorization"',
        'secret_version = "latest"',
        'key_prefix = "bt:ohlcv:"',
        f's3_key = "runs/2024/{g.uuid()}/equity.parquet"',
        f'idempotency_key = "{g.uuid()}"',
        f'dedupe_key = "{g.sha(32)}"',
        f'password_hash = "$2b$12${g.chars(_AN + "./", 53)}"',
        'DATABASE_URI = f"postgresql://{user}:{password}@{host}:5432/bt"',
        'api_key = getattr(settings, "binance_api_key", None)',
        "for token in tokens:",
        "    counts[token] += 1",
        'monkeypatch.setenv("BINANCE_API_KEY", "test-key")',
        'ALPACA_KEY = "YOUR_ALPACA_KEY_ID"',
        'GH_TOKEN = "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"',
        'aws_key = "AKIAXXXXXXXXXXXXXXXX"',
        'api_secret = "insert-your-secret-here"',
        'webhook_secret = "{{ webhook_secret }}"',
    )
    return d


def _debug_log(g: _Gen, rel: str) -> _Doc:
    """Config dumps and request traces: dict/Namespace reprs, structured JSON lines."""
    d = _Doc(rel)
    for i in range(g.r.randint(60, 120)):
        r = g.r.random()
        ts = f"[2024-06-0{1 + i % 9} 12:{i % 60:02d}:{(i * 7) % 60:02d}]"
        if r < 0.04:
            k, s = g.binance(), g.binance()
            d.secret(
                f"{ts} config loaded: {{'exchange': 'binance', 'apiKey': '{k}', 'secret': '{s}'}}",
                k,
                s,
            )
        elif r < 0.07:
            pw = g.password()
            d.secret(
                f"{ts} args: Namespace(symbol='ETHUSDT', db_user='quant', "
                f"db_password='{pw}', dry_run=False)",
                pw,
            )
        elif r < 0.10:
            tok = g.jwt()
            d.secret(
                f'{{"level": "info", "ts": "{ts[1:-1]}", "msg": "auth ok", '
                f'"access_token": "{tok}"}}',
                tok,
            )
        elif r < 0.12:
            pk = g.polygon()
            d.secret(
                f"{ts} GET https://api.polygon.io/v2/aggs/ticker/AAPL/range/1/day/2024-01-01/2024-02-01?apiKey={pk}",
                pk,
            )
        elif r < 0.14:
            basic = base64.b64encode(f"quant:{g.password()}".encode()).decode()
            d.secret(f"{ts} > Authorization: Basic {basic}", basic)
        elif r < 0.16:
            tok = g.chars(_HEXL, 40)
            d.secret(f"{ts} GET https://api.tiingo.com/tiingo/daily/aapl/prices?token={tok}", tok)
        elif r < 0.25:
            d(
                f"{ts} settings: Settings(api_key=SecretStr('**********'), "
                "api_secret=SecretStr('**********'), paper=True)"
            )
        elif r < 0.32:
            d(
                f"{ts} config loaded: {{'exchange': 'binance', 'apiKey': '***', "
                "'secret': '[REDACTED]', 'password': None}"
            )
        elif r < 0.38:
            d(
                f'{{"level": "debug", "msg": "order ack", "order_id": "{g.uuid()}", '
                f'"txid": "O{g.chars(_UP, 5)}-{g.chars(_UP, 5)}-{g.chars(_UP, 6)}"}}'
            )
        elif r < 0.44:
            d(f"{ts} cache hit key=ohlcv:BTCUSDT:1h etag={g.md5()} digest=sha256:{g.sha()}")
        elif r < 0.50:
            d(
                f"{ts} fee paid in token=BNB base_token=ETH quote_token=USDT "
                f"token_mint={_b58(g, 44)}"
            )
        elif r < 0.55:
            d(
                f"{ts} GET https://api.polygon.io/v2/aggs/ticker/AAPL/prev?apiKey=${{POLYGON_API_KEY}}"
            )
        elif r < 0.60:
            d(f"{ts} api_key=None secret=<unset> passphrase='' token=null")
        elif r < 0.64:
            d(
                f"{ts} key rotation: api_key_last4=…{g.chars(_AN, 4)} "
                f"key_fingerprint={g.sha(40)} public_key={g.b64(32)}"
            )
        else:
            d(f"{ts} step={i} equity={g.r.uniform(9000, 12000):.2f} drawdown={g.r.random():.3f}")
    return d


def _appsettings_json(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    pw, pw2 = g.password().replace(";", ""), g.password()
    d("{", '  "ConnectionStrings": {')
    d.secret(f'    "Default": "Host=db;Port=5432;Username=quant;Password={pw};Database=bt",', pw)
    d.secret(f'    "Jdbc": "jdbc:postgresql://db:5432/bt?user=quant&password={pw2}&ssl=true",', pw2)
    m = g.url_password()
    d.secret(
        f'    "Mongo": "mongodb+srv://quant:{m}@cluster0.x1y2z.mongodb.net/bt?retryWrites=true"', m
    )
    d("  },", '  "Auth": {', '    "type": "bearer",')
    tok = g.generic_token()
    d.secret(f'    "token": "{tok}",', tok)
    d(
        f'    "token_hash": "{g.sha()}",',
        '    "token_ttl_seconds": 3600,',
        '    "password_policy": {"min_length": 12, "require_symbols": true}',
    )
    d(
        "  },",
        '  "gcp": {',
        '    "type": "service_account",',
        '    "project_id": "quant-research-42",',
    )
    body = g.b64(300)
    d.secret(
        f'    "private_key": "-----BEGIN PRIVATE KEY-----\\n{body[:64]}\\n{body[64:128]}'
        '\\n-----END PRIVATE KEY-----\\n",',
        body[:64],
    )
    d('    "client_email": "bt@quant-research-42.iam.gserviceaccount.com"', "  },")
    d(
        '  "github_actions_token": "${{ secrets.GITHUB_TOKEN }}",',
        '  "tokenizer": "cl100k_base",',
        '  "secret_scanning": {"enabled": true},',
    )
    d(f'  "thumbnail": "/9j/4AAQSkZJRgABAQ{g.b64(200)}"', "}")
    return d


def _aws_credentials(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    for profile in ("default", "research"):
        a, s = g.aws_id(), g.aws_secret()
        d(f"[{profile}]")
        d.secret(f"aws_access_key_id = {a}", a)
        d.secret(f"aws_secret_access_key = {s}", s)
        d("region = us-east-1", "")
    d(
        "[example]",
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    return d


def _workflow_yaml(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    d("name: backtest", "on: [push]", "jobs:", "  run:", "    runs-on: ubuntu-latest", "    env:")
    d(
        "      BINANCE_API_KEY: ${{ secrets.BINANCE_API_KEY }}",
        "      DB_PASSWORD: ${{ secrets.DB_PASSWORD }}",
    )
    d("      MAX_TOKENS: 4096", "    steps:", "      - uses: actions/checkout@v4", "        with:")
    d(
        f"          ref: {g.sha(40)}",
        "          token: ${{ secrets.GITHUB_TOKEN }}",
        "      - name: Run",
    )
    v = g.provider()
    d.secret(f"        run: OPENAI_API_KEY={v} python -m backtest --max-tokens 4096", v)
    tok = g.generic_token()
    d.secret(f"        run: python publish.py --api-key {tok} --dry-run", tok)
    d('        run: python publish.py --api-key "$API_KEY" --password-file /run/secrets/pw')
    d("      - name: private key", "        env:", "          DEPLOY_KEY: |")
    lines = g.pem()
    d.secret("            " + lines[0], lines[1])
    d(*("            " + line for line in lines[1:]))
    return d


def _dex_bot_yaml(g: _Gen, rel: str) -> _Doc:
    d = _Doc(rel)
    d("chain: solana", "rpc_url: https://api.mainnet-beta.solana.com", "wallet:")
    d(f"  address: {_b58(g, 44)}")
    sk = _b58(g, 88)
    d.secret(f"  private_key: {sk}", sk)
    d("  private_key_env: SOLANA_PRIVATE_KEY", "tokens:")
    d("  - symbol: BONK", f"    token_mint: {_b58(g, 44)}", "    decimals: 5")
    d("  - symbol: USDC", f"    token_mint: {_b58(g, 44)}", "    decimals: 6")
    d(f"quote_token: {_b58(g, 44)}", "slippage_bps: 50", "evm:")
    eth = g.chars(_HEXL, 64)
    d.secret(f'  private_key: "0x{eth}"', eth)
    d(f"  token_address: 0x{g.chars(_HEXL, 40)}", f"  router: 0x{g.chars(_HEXL, 40)}")
    return d


def _misc_py(g: _Gen, rel: str) -> _Doc:
    """Less common shapes: Final/annotated constants, signing keys, SMTP logins, ODBC."""
    d = _Doc(rel)
    d('"""Odds and ends the agent wrote while wiring things up."""', "")
    v, pw, tok, b = g.binance(), g.password(), g.generic_token(), g.b64_secret()
    d.secret(f'API_KEY: str = "{v}"', v)
    d.secret(f'smtp.login("alerts@fund.example", "{pw}")', pw)
    d.secret(f"token = jwt.encode(payload, '{tok}', algorithm='HS256')", tok)
    d.secret(f'sig = hmac.new(b"{g.hex_token()}", msg, hashlib.sha256).hexdigest()', "")
    pw2 = g.password().replace(";", "").replace("}", "")
    d.secret(f"conn_str = 'Driver={{ODBC Driver 18}};Server=db;Uid=quant;Pwd={pw2};'", pw2)
    d.secret(
        f'bybit = HTTP(testnet=False, api_key="{g.chars(_AN, 18)}", '
        f'api_secret="{g.chars(_AN, 36)}")',
        "",
    )
    d.secret(f'secret_key = b"{b}"', b)
    dj = g.chars(_AN + "!@#%^&*(-_=+)", 50)
    d.secret(f'SECRET_KEY = "django-insecure-{dj}"', dj)
    d(
        'api_key = config["binance"]["api_key"]',
        'self.secret = secret or os.environ.get("BINANCE_SECRET")',
        'token = response.json()["access_token"]',
        'password = input("password: ")',
        f'API_KEY_SHA256 = "{g.sha()}"',
        f'token_hash = "{g.sha()}"',
        f'SECRET_KEY_FILE = "secrets/{g.uuid()}.key"',
        'ORDER_KEY = f"{symbol}-{side}-{ts}"',
        "if not api_key or not api_secret:",
        'raise ValueError("api_key must be set")',
        'parser.add_argument("--api-key", default=os.environ.get("API_KEY"))',
        'parser.add_argument("--password", help="database password")',
        'df["token"] = df["symbol"].str.upper()',
        f'IMG = "data:image/png;base64,{g.png()}"',
    )
    return d


def _misc_config(g: _Gen, base: str) -> list[_Doc]:
    y = _Doc(f"{base}/config/vendors.yaml")
    tok, b, pw = g.generic_token(), g.b64_secret(), g.password()
    y("vendors:", "  okx:")
    y.secret(f'    apiKey: "{g.binance()}"', "")
    y.secret(f'    passphrase: "{pw}"', pw)
    y("  signing:")
    y.secret(f"    signing_key: {b}", b)
    y.secret(f"    x-api-key: {tok}", tok)
    y.secret(f"    client_secret: {g.generic_token()}", "")
    y(
        "  db:",
        "    password: ${DB_PASSWORD:-}",
        "    api_key: !ENV ${BINANCE_API_KEY}",
        "    password_file: /run/secrets/db_password",
        "    api_key_id: BINANCE_API_KEY",
        "    secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/bn-"
        + g.chars(_AN, 6),
        "    key: close",
        "    primary_key: trade_id",
        "    token_symbol: USDC",
        "    secret_name: projects/quant/secrets/binance/versions/latest",
    )
    e = _Doc(f"{base}/config/vendors.env")
    pw = g.password()
    e.secret(f"PGPASSWORD={pw}", pw)
    e.secret(f"KRAKEN_API_SECRET={g.b64_secret()}", "")
    e.secret(f"TOKEN='{g.generic_token()}'", "")
    e("API_KEY=", "SECRET_KEY=your-secret-key", "PASSWORD=<password>", "TOKEN=${VAULT_TOKEN}")
    e("JWT_SECRET=change-me-in-production")
    lg = _Doc(f"{base}/logs/http.log")
    for i in range(g.r.randint(40, 80)):
        r = g.r.random()
        ts = f"2024-07-0{1 + i % 9}T10:{i % 60:02d}:00Z"
        if r < 0.05:
            lg.secret(f"{ts} DEBUG Authorization: Token {g.generic_token()}", "")
        elif r < 0.10:
            pw = g.password()
            body = json.dumps({"username": "quant", "password": pw})
            lg.secret(f"{ts} DEBUG POST /auth body={body}", pw)
        elif r < 0.15:
            lg.secret(f"{ts} DEBUG kwargs={{'api_key': '{g.generic_token()}', 'timeout': 10}}", "")
        elif r < 0.30:
            lg(f"{ts} DEBUG password=[FILTERED] token=[FILTERED] api_key=sk-****{g.chars(_AN, 4)}")
        elif r < 0.45:
            lg(f"{ts} INFO token refreshed expires_in=3600 token_type=Bearer")
        elif r < 0.60:
            lg(f"{ts} INFO signature={g.b64(32)} request_id={g.chars(_AN, 32)}")
        else:
            lg(f"{ts} INFO GET /v2/bars status=200 bytes={g.r.randint(100, 90000)}")
    return [y, e, lg]


def build_projects(root: Path, seed: int, *, projects: int = 3) -> Truth:
    """Write ``projects`` agent project directories under ``root``; return where secrets are."""
    g = _Gen(seed)
    truth = Truth()
    for n in range(projects):
        base = f"agent_run_{seed}_{n}"
        docs = [
            _strategy_module(g, f"{base}/strategy/live_trader.py"),
            _strategy_module(g, f"{base}/strategy/execution.py"),
            _settings_yaml(g, f"{base}/config/settings.yaml"),
            _compose(g, f"{base}/docker-compose.yml"),
            _dotenv(g, f"{base}/.env"),
            _broker_ini(g, f"{base}/config/broker.ini"),
            _secrets_toml(g, f"{base}/.streamlit/secrets.toml"),
            _report_json(g, f"{base}/reports/backtest_report.json"),
            _compact_results_json(g, f"{base}/reports/trials.jsonl"),
            _trades_csv(g, f"{base}/data/trades.csv"),
            _accounts_csv(g, f"{base}/data/accounts.csv"),
            _run_log(g, f"{base}/logs/run.log"),
            _notebook(g, f"{base}/notebooks/research.ipynb"),
            _deploy_sh(g, f"{base}/scripts/deploy.sh"),
            _pem_file(g, f"{base}/keys/broker_key.pem"),
            _k8s_secret(g, f"{base}/k8s/trader.yaml"),
            *_pypirc_npmrc(g, base),
            _data_clients(g, f"{base}/strategy/data_clients.py"),
            _debug_log(g, f"{base}/logs/debug.log"),
            _appsettings_json(g, f"{base}/config/appsettings.json"),
            _aws_credentials(g, f"{base}/.aws/credentials"),
            _workflow_yaml(g, f"{base}/.github/workflows/backtest.yml"),
            _dex_bot_yaml(g, f"{base}/config/dex_bot.yaml"),
            _misc_py(g, f"{base}/strategy/misc.py"),
            *_misc_config(g, base),
        ]
        for doc in docs:
            doc.write(root, truth)
    return truth
