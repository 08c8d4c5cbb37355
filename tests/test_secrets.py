"""The secret scanner: rules, decoys, suppression, masking, custom patterns, the scan command."""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import MAKERS, Secret, generate_corpus, score

from pytest_artifact_store.cli import main as cli_main
from pytest_artifact_store.errors import ArtifactStoreError, SecretDetectedError
from pytest_artifact_store.scan import Finding, Scanner, default_patterns, engine, mask

RNG = random.Random(20251107)


def token(kind: str) -> str:
    return MAKERS[kind](RNG)


def scan(text: str, path: str = "x.py") -> list[Finding]:
    return Scanner().scan_bytes(text.encode(), path)


# kind of token, how it is written (``{}`` is the token), file name, expected rule
PROVIDER_CASES = [
    ("aws-id", 'key_id = "{}"', "a.py", "aws-access-key-id"),
    ("stripe-live", "charge({})", "a.py", "stripe-secret-key"),
    ("stripe-test", "STRIPE={}", ".env", "stripe-secret-key"),
    ("stripe-restricted", "k: {}", "c.yaml", "stripe-restricted-key"),
    ("github-classic", "remote uses {} now", "events.log", "github-token"),
    ("github-fine", '"gh": "{}"', "r.json", "github-fine-grained-token"),
    ("gitlab", "{}", "notes.txt", "gitlab-token"),
    ("slack-bot", "slack = Slack('{}')", "a.py", "slack-token"),
    ("slack-webhook", "notify: {}", "c.yaml", "slack-webhook"),
    ("google", "maps={}", "events.log", "google-api-key"),
    ("openai", 'client = OpenAI(api_key="{}")', "a.py", "openai-api-key"),
    ("openai-legacy", "{}", "a.txt", "openai-api-key"),
    ("anthropic", "ANTHROPIC={}", ".env", "anthropic-api-key"),
    ("huggingface", "hub.login('{}')", "a.py", "huggingface-token"),
    ("npm", "//registry.npmjs.org/:_authToken={}", ".npmrc", "npm-token"),
    ("pypi", "password = {}", ".pypirc", "pypi-token"),
    ("sendgrid", "sg = {}", "a.txt", "sendgrid-api-key"),
    ("twilio", "sid,{}", "t.csv", "twilio-api-key"),
    ("telegram", "bot {} started", "events.log", "telegram-bot-token"),
    ("jwt", "Cookie: session={}", "events.log", "jwt"),
    ("alpaca-key", "alpaca,{}", "t.csv", "alpaca-api-key"),
]


@pytest.mark.parametrize(("kind", "template", "path", "rule"), PROVIDER_CASES)
def test_provider_formats(kind: str, template: str, path: str, rule: str) -> None:
    # seeded per case: the shared RNG's state depends on which tests a worker ran first
    value = MAKERS[kind](random.Random(f"provider:{kind}:{path}"))
    text = "first line\n" + template.format(value) + "\nlast line\n"
    findings = scan(text, path)
    assert [(f.line, f.rule) for f in findings] == [(2, rule)]
    preview = findings[0].preview
    assert preview.endswith("…") and len(preview) == 5 and preview[:4] in value


# a secret-named assignment in each syntax: (template, file name)
ASSIGNMENT_CASES = [
    ('API_KEY = "{}"', "strategy.py"),
    ("api_secret: str = '{}'", "strategy.py"),
    ('client = Client(api_key="{}", testnet=False)', "strategy.py"),
    ('CONFIG = {{"secret": "{}", "enableRateLimit": True}}', "strategy.py"),
    ('os.environ.setdefault("BINANCE_API_SECRET", "{}")', "strategy.py"),
    ('exchange = ccxt.kraken({{"apiKey": "{}"}})', "strategy.py"),
    ("  secret_key: {}", "config.yaml"),
    ("  apiKey: '{}'  # production", "config.yml"),
    ("export BINANCE_API_KEY={}", ".env"),
    ('ALPACA_SECRET_KEY="{}"', "prod.env"),
    ("api_secret = {}", "broker.ini"),
    ('  "access_token": "{}",', "settings.json"),
    ("exchange,account,api_secret\nbinance,main,{}", "keys.csv"),
    ("api_secret,{}", "params.csv"),
    ("2025-01-02 10:00:00 DEBUG login api_key={} user=bot", "events.log"),
    ("2025-01-02 INFO cfg {{'secret': '{}', 'symbol': 'BTCUSDT'}}", "events.log"),
    ("WARN Authorization: Bearer {}", "events.log"),
    ("<apiSecret>{}</apiSecret>", "settings.xml"),
    ("  - name: BINANCE_API_SECRET\n    value: {}", "deploy.yaml"),
    ("client = Client('{}', 'x')", "strategy.py"),
]


@pytest.mark.parametrize(("template", "path"), ASSIGNMENT_CASES)
def test_secret_named_assignments(template: str, path: str) -> None:
    value = token("binance-secret")
    text = template.format(value)
    findings = scan(text, path)
    expected_line = text.count("\n") + 1
    assert [f.line for f in findings] == [expected_line]
    assert value not in repr(findings)


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ('DB_PASSWORD = "Tr4d1ng!bot"', "strategy.py"),
        ("password: hunter2024", "config.yaml"),
        ("conn = connect(user='bot', passwd='s3cr3t-Pw')", "strategy.py"),
        ("DATABASE_URL=postgresql://algo:Zq9xLw2vR7@db.internal:5432/prices", ".env"),
        ("fetch https://bot:Zq9xLw2vR7@api.example.com/v1 ok", "events.log"),
        ("requests.get(url, auth=('bot', 'Zq9xLw2vR7kk'))", "strategy.py"),
        ("2025-01-02 WARN retry login pwd=Zq9x!Lw2", "events.log"),
    ],
)
def test_passwords_and_urls(line: str, path: str) -> None:
    assert [f.line for f in scan(line, path)] == [1]


def test_private_key_reported_once_on_its_begin_line() -> None:
    import base64

    body = base64.b64encode(RNG.randbytes(240)).decode()
    text = "key = '''\n-----BEGIN RSA PRIVATE KEY-----\n" + body[:64] + "\n" + body[64:128]
    text += "\n-----END RSA PRIVATE KEY-----\n'''\n"
    assert [(f.line, f.rule) for f in scan(text)] == [(2, "private-key")]


DECOYS = [
    ('API_KEY = os.environ["BINANCE_API_KEY"]', "strategy.py"),
    ("secret = os.getenv('BINANCE_SECRET')", "strategy.py"),
    ('api_key = os.environ.get("API_KEY", "")', "strategy.py"),
    ("password = None", "strategy.py"),
    ('token = ""', "strategy.py"),
    ("self.api_key = api_key", "strategy.py"),
    ("def connect(api_key: str, secret: str = None) -> None:", "strategy.py"),
    ('API_KEY = "<your-api-key>"', "strategy.py"),
    ('SECRET = "xxxxxxxxxxxxxxxxxxxxxxxx"', "strategy.py"),
    ('password = "********"', "strategy.py"),
    ('PASSWORD = "changeme"', "strategy.py"),
    ('headers = {"Authorization": f"Bearer {token}"}', "strategy.py"),
    ('aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"', "strategy.py"),
    ('aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', "strategy.py"),
    ("MAX_TOKENS = 4096", "strategy.py"),
    ('cache_key = f"{symbol}:{interval}"', "strategy.py"),
    ("api_key: ${BINANCE_API_KEY}", "config.yaml"),
    ("password: '{{ vault_db_password }}'", "config.yaml"),
    ("token: ~", "config.yaml"),
    ("  auth_method: hmac", "config.yaml"),
    ("  key: close", "config.yaml"),
    ("  url: postgres://trader:${DB_PASSWORD}@db:5432/prices", "config.yaml"),
    ("  password_file: /run/secrets/db", "config.yaml"),
    ("API_KEY=", ".env"),
    ("SECRET=your_secret_here", ".env"),
    ('  "api_key": null,', "settings.json"),
    ("2025-01-02 INFO api_key=**** loaded", "events.log"),
    ("2025-01-02 INFO prompt_tokens=1234 total_tokens=2000", "events.log"),
    ("2025-01-02 ERROR login failed: password expired", "events.log"),
    ("2025-01-02 INFO refreshing auth session, expires_in=3600", "events.log"),
    ("api_key,<set in vault>", "params.csv"),
]


@pytest.mark.parametrize(("line", "path"), DECOYS)
def test_decoys_are_not_secrets(line: str, path: str) -> None:
    assert scan(line, path) == []


@pytest.mark.parametrize(
    "template",
    [
        '  "sha256": "{hex64}",',
        '  "git_commit": "{hex40}",',
        '  "base_commit": "{hex40}",',
        '  "prompt_hash": "{hex16}",',
        '  "token_hash": "{hex64}",',
        '  "run_id": "{uuid}",',
        '  "order_id": "{alnum}",',
        '  "image": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA{b64}",',
        "2025-01-02 INFO request_id={uuid} order={alnum} checksum={hex64}",
    ],
)
def test_digests_shas_uuids_images_are_not_secrets(template: str) -> None:
    import base64
    import hashlib
    import uuid

    digest = hashlib.sha256(RNG.randbytes(8)).hexdigest()
    text = template.format(
        hex64=digest,
        hex40=digest[:40],
        hex16=digest[:16],
        uuid=uuid.UUID(int=RNG.getrandbits(128)),
        alnum="".join(
            RNG.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789") for _ in range(24)
        ),
        b64=base64.b64encode(RNG.randbytes(3000)).decode(),
    )
    assert scan(text, "report.json") == []


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ('API_KEY = "{v}"  # pragma: allowlist secret', []),
        ('API_KEY = "{v}"  # gitleaks:allow', []),
        ('# pragma: allowlist nextline secret\nAPI_KEY = "{v}"\nTOKEN = "{v}"', [3]),
        ('API_KEY = "{v}"\n# pragma: allowlist nextline secret', [1]),
    ],
)
def test_suppression(text: str, lines: list[int]) -> None:
    value = token("binance-secret")
    assert [f.line for f in scan(text.format(v=value))] == lines


def test_binary_files_get_provider_formats_only(tmp_path: Path) -> None:
    value = token("stripe-live")
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + value.encode())
    assert [(f.line, f.rule) for f in Scanner().scan_file(path)] == [(3, "stripe-secret-key")]
    keyword = b"password = 'Zq9xLw2vR7'\n"
    assert Scanner().scan_bytes(bytes(range(1, 9)) * 8 + keyword, "blob.bin") == []
    assert Scanner().scan_bytes(keyword, "x.txt") != []


def test_files_over_the_size_cap_are_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text(f"key={token('stripe-live')}\n" + "x" * 100)
    scanner = Scanner(max_bytes=50)
    assert scanner.scan_file(path) == []
    assert scanner.skipped == [str(path)]


@pytest.mark.parametrize(
    ("secret", "preview"),
    [("sk_live_abcdefghijklmnop", "sk_l…"), ("hunter2024!", "hun…"), ("abcd", "a…"), ("", "…")],
)
def test_mask_never_shows_a_short_secret_whole(secret: str, preview: str) -> None:
    assert mask(secret) == preview


def test_no_output_exception_or_log_carries_a_whole_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    values = [token(kind) for kind in MAKERS]
    text = "\n".join(f'secret_{i} = "{v}"' for i, v in enumerate(values))
    path = tmp_path / "leak.py"
    path.write_text(text)
    findings = Scanner().scan_file(path)
    assert len(findings) == len(values)
    error = SecretDetectedError(findings)
    assert cli_main(["scan", "--format", "json", str(path)]) == 1
    assert cli_main(["scan", str(path)]) == 1
    shown = capsys.readouterr()
    everything = repr(findings) + str(error) + shown.out + shown.err + caplog.text
    for value in values:
        assert value not in everything
    # each preview is the start of what was found (4 characters, fewer for a short
    # secret), then an ellipsis
    assert all(f.preview.endswith("…") for f in findings)
    assert all(f.preview[:-1] in values[f.line - 1] for f in findings)


def test_default_patterns_mean_the_builtin_rules() -> None:
    value = token("binance-secret")
    text = f'API_SECRET = "{value}"'.encode()
    assert Scanner(default_patterns()).scan_bytes(text, "a.py") == Scanner().scan_bytes(
        text, "a.py"
    )
    assert Scanner(default_patterns()).scan_bytes(text, "a.py") != []


def test_custom_patterns_replace_the_builtin_rules() -> None:
    stripe = token("stripe-live")
    text = f'KEY = "{stripe}"\nINTERNAL = "corp-{"9" * 12}"\n'.encode()
    custom = Scanner([r"corp-(\d{12})"])
    assert [(f.line, f.rule, f.preview) for f in custom.scan_bytes(text, "a.py")] == [
        (2, "custom-1", "9999…")
    ]


def test_extra_patterns_add_to_the_builtin_rules() -> None:
    stripe = token("stripe-live")
    text = f'KEY = "{stripe}"\nINTERNAL = "corp-{"9" * 12}"\n'.encode()
    found = Scanner(None, [r"corp-\d{12}"]).scan_bytes(text, "a.py")
    assert [(f.line, f.rule) for f in found] == [(1, "stripe-secret-key"), (2, "extra-1")]


def test_an_invalid_pattern_is_a_clear_error() -> None:
    with pytest.raises(ArtifactStoreError, match=r"invalid secret pattern \(custom-1\)"):
        Scanner(["(unclosed"])


def test_pure_python_prefilter_finds_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    truth = generate_corpus(tmp_path, seed=99, tasks=2, rows=100)
    fast = list(Scanner().scan_paths([tmp_path]))
    monkeypatch.setattr(engine, "_automaton", lambda: None)
    slow = list(Scanner().scan_paths([tmp_path]))
    assert fast == slow
    assert len(fast) >= len(truth) * 0.97


def _relative(findings: list[dict[str, object]], root: Path) -> list[tuple[str, int]]:
    return [
        (Path(str(f["path"])).relative_to(root).as_posix(), int(str(f["line"]))) for f in findings
    ]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_recall_and_precision_on_generated_corpora(tmp_path: Path, seed: int) -> None:
    truth: list[Secret] = generate_corpus(tmp_path, seed)
    findings = [f.to_dict() for f in Scanner().scan_paths([tmp_path])]
    result = score(_relative(findings, tmp_path), truth)
    assert len(truth) > 40
    assert result.recall >= 0.97, result
    assert result.precision >= 0.95, result


def test_scan_command_json_over_a_corpus(tmp_path: Path) -> None:
    truth = generate_corpus(tmp_path, seed=11, tasks=3)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_artifact_store.cli",
            "scan",
            "--format",
            "json",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)
    assert all(set(f) >= {"path", "line", "rule", "preview", "confidence"} for f in findings)
    result = score(_relative(findings, tmp_path), truth)
    assert result.recall >= 0.97 and result.precision >= 0.95, result


def test_scan_command_text_output_and_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    value = token("github-classic")
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / ".git" / "config").write_text(f"token = {value}\n")
    (tmp_path / "repo" / "clean.py").write_text("x = 1\n")
    assert cli_main(["scan", str(tmp_path / "repo")]) == 0
    (tmp_path / "repo" / "sub").mkdir()
    (tmp_path / "repo" / "sub" / "a.log").write_text(f"ok\nusing {value}\n")
    capsys.readouterr()
    assert cli_main(["scan", str(tmp_path / "repo")]) == 1
    out = capsys.readouterr().out
    assert out == f"{tmp_path / 'repo' / 'sub' / 'a.log'}:2: github-token {value[:4]}…\n"
    assert cli_main(["scan", "--format", "json", str(tmp_path / "repo" / "clean.py")]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli_main(["scan", str(tmp_path / "missing")]) == 2
    assert cli_main(["scan"]) == 2


# SPEC §7: a keyword finding's value must look like a secret; the seed's dummy-looking
# literals are listed as low confidence (never blocking), the seed's own example with a
# provider prefix stays a blocking finding, and famous samples that do not say "EXAMPLE"
# are reported (a fixture holding one is a leak).
_STRIPE_DOCS = "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc"
_JWT_IO = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4g"
    "RG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ." + "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


@pytest.mark.parametrize(
    "line",
    [
        'password = "password123"',
        'secret_key = "mysecretkey"',
        'api_key = "abc123"',
        'SECRET_KEY = "supersecretvalue"',
    ],
)
def test_dummy_looking_seed_literals_are_low_confidence(line: str) -> None:
    data = (line + "\n").encode()
    assert Scanner().scan_bytes(data, "strategy.py") == []
    low = Scanner(show_low=True).scan_bytes(data, "strategy.py")
    assert [(f.line, f.confidence, f.blocking) for f in low] == [(1, "low", False)]
    assert "low confidence" in str(low[0])


@pytest.mark.parametrize(
    "line",
    [
        "API_KEY = 'sk_live_1234567890abcdef'",
        f'stripe.api_key = "{_STRIPE_DOCS}"',
        f'token = "{_JWT_IO}"',
    ],
)
def test_seed_family_literals_and_famous_samples_are_reported(line: str) -> None:
    findings = Scanner().scan_bytes((line + "\n").encode(), "strategy.py")
    assert [f.line for f in findings] == [1]


@pytest.mark.parametrize(
    "line",
    [
        'monkeypatch.setenv("BINANCE_API_KEY", "test-key")',
        'api_key = "fake_api_secret"',
        'api_key_env = "ALPACA_API_KEY"',
        'password = "changeme"',
        'api_key = "<your key>"',
        "settings: Settings(api_key=SecretStr('**********'), paper=True)",
    ],
)
def test_placeholder_words_and_names_are_not_reported(line: str) -> None:
    assert Scanner().scan_bytes((line + "\n").encode(), "strategy.py") == []
