from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

GitRunner = Callable[..., str]


@pytest.fixture(autouse=True)
def isolated_git_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No test sees the developer's git config, identity, or inherited GIT_* variables."""
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n"
        '[protocol "file"]\n\tallow = always\n'
    )
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(("GIT_", "ARTIFACT_STORE_")):
            del os.environ[key]
    os.environ.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
    )
    try:
        yield home
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def pytester_git(
    pytester: pytest.Pytester, isolated_git_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For modules running pytester sessions (``pytestmark = usefixtures("pytester_git")``):
    pytester points HOME at its own directory, so keep using the isolated git config."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(isolated_git_env / ".gitconfig"))
    # Inline runs restore sys.modules afterwards, so hypothesis's plugin would be
    # re-imported (~1 s) by every one of them; these sessions do not use it.
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")


def _git(cwd: Path, *args: str, check: bool = True, input: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)
    if check and proc.returncode:
        err = proc.stderr.decode(errors="replace")
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {err}")
    return proc.stdout.decode("utf-8", "replace").strip()


@pytest.fixture
def git() -> GitRunner:
    """``git(repo, 'log', '--oneline')`` -> stdout (raises AssertionError on failure)."""
    return _git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A work tree with one commit on main (README.md and src/app.py)."""
    path = tmp_path / "repo"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# demo\n")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("print('hi')\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def bare_remote(tmp_path: Path, repo: Path, git: GitRunner) -> Path:
    """A bare repository on disk, ``origin`` of ``repo``, holding its main branch."""
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    return bare


@pytest.fixture
def artifacts(tmp_path: Path) -> dict[str, Path]:
    """The seed's artifact set (small, realistic, no secrets)."""
    src = tmp_path / "out"
    src.mkdir()
    files = {
        "strategy.py": "import os\n\nAPI_KEY = os.environ['BROKER_API_KEY']\n\n"
        "def signal(rsi):\n    return 'buy' if rsi < 30 else 'sell' if rsi > 70 else 'hold'\n",
        "test_report.json": '{"passed": 3, "failed": 0}\n',
        "trades.csv": "time,side,qty,price\n2025-01-02,buy,1,100.5\n2025-01-03,sell,1,101.0\n",
        "equity_curve.csv": "time,equity\n2025-01-02,10000\n2025-01-03,10000.5\n",
        "events.log": "2025-01-02 INFO order filled id=1\n",
    }
    out = {}
    for name, text in files.items():
        (src / name).write_text(text)
        out[name] = src / name
    return out


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP listener that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()
