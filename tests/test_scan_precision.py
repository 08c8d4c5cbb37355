"""Precision on real code (issue 25): a keyword finding needs a literal in the syntax of
the file at hand and a value that looks like a secret; code, types, env lookups, fake
values and data next to a keyword are not findings -- while real secrets in every
language are."""

from __future__ import annotations

import base64
import random
import string
import uuid

import pytest

from pytest_artifact_store.scan import Scanner

RNG = random.Random(2512)


def rand(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def high(text: str, path: str) -> list[tuple[int, str]]:
    return [(f.line, f.rule) for f in Scanner().scan_bytes(text.encode(), path)]


NOT_SECRETS = [
    # code, not a literal
    ("client = Client(api_key=creds.api_key, api_secret=creds.api_secret)", "bot.py"),
    ("params = {'apiKey': account.api_key}", "bot.py"),
    ("let token = CancellationToken::new();", "main.rs"),
    ("    secret: self.secret.clone(),", "lib.rs"),
    ("    pub password: Option<String>,", "config.rs"),
    ("  token: string;", "types.ts"),
    ("const params = { apiKey, secret, password };", "client.js"),
    ("def connect(api_key=None, secret=None, password=None):", "bot.py"),
    ("    'Invalid Apikey': AuthenticationError,", "exchange.py"),
    ("    'tokenCurrency': currencyObj['numericId'],", "exchange.py"),
    ("    'CB-ACCESS-PASSPHRASE': sig.passphrase,", "auth.js"),
    ("| password | string | The account password |", "README.md"),
    ("The password must be rotated every 90 days.", "README.md"),
    # fake values
    ('api_key = "test"', "test_bot.py"),
    ('API_SECRET = "dummy_secret"', "settings.py"),
    ('password = "xxx"', "settings.py"),
    ('apiKey: "your-api-key",', "config.ts"),
    ('api_key = "<API_KEY>"', "settings.py"),
    ('password = "********"', "settings.py"),
    ('password = "password"', "settings.py"),
    ("apiPass: 'apiPassHere',", "README.md"),
    ('secret_key = "abcdefghijklmnop"', "settings.py"),
    ('token = "1234567890123456"', "settings.py"),
    ('passphrase="your passphrase"', "test_ws.py"),
    # data next to a keyword
    ('    "SessionToken": "' + str(uuid.UUID(int=RNG.getrandbits(128))) + '",', "response.json"),
    ('checksum_key = "' + rand(64, "0123456789abcdef") + '"', "manifest.py"),
    ('{"event": "bars.page", "next_page_token": "QUFQTHwyMDI0LTAxLTAy"}', "run.log"),
    ("2024-03-01 INFO fill token=ETH qty=1.5 fee_token=BNB", "events.log"),
    ("env PWD=/home/ci/work/output", "events.log"),
    # env lookups in other languages
    ("const key = process.env.BINANCE_API_KEY;", "client.ts"),
    ('let secret = std::env::var("BINANCE_SECRET").unwrap();', "main.rs"),
    ('String password = System.getenv("DB_PASSWORD");', "Db.java"),
    ("password: ${DB_PASSWORD}", "compose.yaml"),
    ("  api_key: $BINANCE_API_KEY", "config.yml"),
    ("  password = var.db_password", "main.tf"),
    ("          API_KEY: ${{ secrets.BINANCE_API_KEY }}", ".github/workflows/ci.yml"),
    ("REDIS_PASSWORD=${REDIS_PASSWORD:?missing}", ".env"),
    ("CREATE USER reader WITH PASSWORD :'reader_password';", "users.sql"),
    ("db_password: !vault |", "group_vars/prod.yml"),
    # samples and templates
    ('#   "listenKey": "' + rand(64) + '"', "exchange.py"),
    ('export COINBASE_API_KEY="organizations/{org_id}/apiKeys/{key_id}"', "README.md"),
    ('headers["APCA-API-KEY-ID"] = await this.configuration.apiKey("APCA-API-KEY-ID");', "x.js"),
    ('key="market_1_slippage_buffer",', "config_map.py"),
]


@pytest.mark.parametrize(("line", "path"), NOT_SECRETS)
def test_not_a_secret(line: str, path: str) -> None:
    assert high(line + "\n", path) == []


def _secrets() -> list[tuple[str, str, str]]:
    key, secret = rand(64), rand(64)
    fernet = base64.urlsafe_b64encode(RNG.randbytes(32)).decode()
    wallet = "0x" + RNG.randbytes(32).hex()
    kuuid = str(uuid.UUID(int=RNG.getrandbits(128)))
    return [
        (f'const API_SECRET: &str = "{secret}";', "main.rs", "secret-assignment"),
        (f'    apiSecret := "{secret}"', "main.go", "secret-assignment"),
        (f'const apiKey: string = "{key}";', "client.ts", "api-key-assignment"),
        (f'    String password = "Tr4d1ng!{rand(6)}";', "Db.java", "password-assignment"),
        (f'cipher = Fernet(b"{fernet}")', "vault.py", "fernet-key"),
        (f'PRIVATE_KEY = "{wallet}"', "wallet.py", "private-key-assignment"),
        (f'wallet_key: "{wallet[2:]}"', "config.yaml", "private-key-assignment"),
        (f'OKX_API_KEY = "{kuuid}"', "settings.py", "okx-api-key"),
        (f'listenKey = "{rand(60)}"', "stream.py", "api-key-assignment"),
        (
            f'<add key="TiingoToken" value="{rand(40, "0123456789abcdef")}" />',
            "App.config",
            "token-assignment",
        ),
        (f"ENV KRAKEN_PRIVATE_KEY {rand(88)}", "Dockerfile", "kraken-api-key"),
        (
            f'const ddApiKey = process.env.DD_API_KEY ?? "{rand(32, "0123456789abcdef")}";',
            "config.ts",
            "api-key-assignment",
        ),
        (f'    .krakenApiKey("{key}")', "Risk.java", "kraken-api-key"),
        (
            f'    public string ApiSecret {{ get; set; }} = "{secret}";',
            "Settings.cs",
            "secret-assignment",
        ),
        (f"curl -u 'quant:C0balt@{rand(8)}!' https://grafana.internal/api", "ops.sh", "basic-auth"),
        (f"# rotated, the old BINANCE_API_SECRET was {secret}", "notes.py", "binance-api-key"),
        ("API_KEY = 'sk_live_1234567890abcdef'", "settings.py", "api-key-assignment"),
    ]


@pytest.mark.parametrize(("line", "path", "rule"), _secrets())
def test_a_secret_in_each_syntax(line: str, path: str, rule: str) -> None:
    assert high(line + "\n", path) == [(1, rule)]


def test_a_secret_in_a_markdown_code_block_but_not_in_its_prose() -> None:
    key = rand(40)
    doc = (
        "# Setup\n\nSet `api_key` to your key. The token: string that the API returns.\n\n"
        f"```python\nclient = Client(api_key=os.environ['K'])\nAPI_SECRET = '{key}'\n```\n"
    )
    assert high(doc, "docs/SETUP.md") == [(7, "secret-assignment")]


def test_a_notebook_code_cell() -> None:
    key = rand(48)
    cell = '{"cells": [{"cell_type": "code", "source": ["api_secret = \\"' + key + '\\"\\n"]}]}'
    assert high(cell, "research.ipynb") == [(1, "secret-assignment")]
