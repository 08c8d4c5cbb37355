"""The pytest configuration of a project, read without pytest: the first file that
configures pytest at a directory, in pytest's own order. The metadata hook finds
``artifact_store_root`` there, the command line and the git hooks the project's
``artifact_store_require_approval`` and event sinks.
"""

from __future__ import annotations

import configparser
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_artifact_store.errors import ArtifactStoreError


def pytest_options(top: Path, key: str, instead: str) -> tuple[dict[str, Any], str] | None:
    """``(options, file name)`` of the file at ``top`` that configures pytest, or None.
    A file that cannot be read is an error naming ``key`` and what to use ``instead``."""
    for filename, load in _LOADERS:
        path = top / filename
        if not path.is_file():
            continue
        try:
            options = load(path)
        except (OSError, UnicodeDecodeError, ValueError, configparser.Error) as exc:
            raise ArtifactStoreError(
                f"cannot read {key} from {path}: {exc}; fix the file or pass {instead}"
            ) from None
        if options is None:
            continue  # not a pytest configuration file: pytest looks further too
        return options, filename
    return None


def _ini(path: Path, section: str | None) -> dict[str, Any] | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(path.read_text(encoding="utf-8"), str(path))
    if section is None:  # pytest.ini: the configuration even without a [pytest] section
        return dict(parser["pytest"]) if parser.has_section("pytest") else {}
    return dict(parser[section]) if parser.has_section(section) else None


def _toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pytest depends on tomli before Python 3.11
        import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
    document: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return document


def _pytest_toml(path: Path) -> dict[str, Any] | None:
    table = _toml(path).get("pytest")
    return table if isinstance(table, dict) else {}


def _pyproject(path: Path) -> dict[str, Any] | None:
    tool = _toml(path).get("tool")
    table = tool.get("pytest") if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        return None
    native = {k: v for k, v in table.items() if k != "ini_options"}
    ini = table.get("ini_options")
    if native:
        return native
    return ini if isinstance(ini, dict) else None


# pytest's order (_pytest/config/findpaths.py, CONFIG_LOADERS_BY_NAME).
_LOADERS: tuple[tuple[str, Callable[[Path], dict[str, Any] | None]], ...] = (
    ("pytest.toml", _pytest_toml),
    (".pytest.toml", _pytest_toml),
    ("pytest.ini", lambda p: _ini(p, None)),
    (".pytest.ini", lambda p: _ini(p, None)),
    ("pyproject.toml", _pyproject),
    ("tox.ini", lambda p: _ini(p, "pytest")),
    ("setup.cfg", lambda p: _ini(p, "tool:pytest")),
)
