"""From pytest's options to the store's configuration (no git is run here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_artifact_store.errors import ArtifactStoreError
from pytest_artifact_store.pytest_plugin import settings as settings_mod
from pytest_artifact_store.pytest_plugin.settings import Settings, Value
from pytest_artifact_store.store.config import ArtifactStoreConfig


def resolve_store(
    config: pytest.Config, *, committing: bool = True
) -> tuple[Settings, ArtifactStoreConfig]:
    """The settings (a usage error names a bad one) and the store configuration they give."""
    resolved = settings_mod.resolve(config, committing=committing)
    repo = resolved["repo"]
    if repo.value is None:
        repo = Value(repo.setting, find_repository(repo.base), "default", repo.base)
        resolved.values["repo"] = repo
    return resolved, build_store_config(resolved)


def looks_like_a_repository(path: Path) -> bool:
    """A git directory at or above ``path``, or ``path`` a bare repository (a hint only:
    the store opens it for real)."""
    if not path.is_dir():
        return False
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        return True
    return any((p / ".git").exists() for p in (path, *path.parents))


def find_repository(start_dir: Path) -> Path:
    """The nearest directory at or above ``start_dir`` with a ``.git`` (else ``start_dir``)."""
    for candidate in (start_dir, *start_dir.parents):
        if (candidate / ".git").exists():
            return candidate
    return start_dir


def build_store_config(resolved: Settings) -> ArtifactStoreConfig:
    """The store's configuration; a bad value is blamed on the setting it came from."""
    try:
        ArtifactStoreConfig()
    except ArtifactStoreError as exc:  # e.g. a bad GIT_PUSH_TIMEOUT in the environment
        raise pytest.UsageError(f"artifact-store: {exc}") from None
    for value in resolved.values.values():
        field_name = value.setting.config_field
        if field_name and value.value is not None:
            try:
                ArtifactStoreConfig(**{field_name: value.value})
            except ArtifactStoreError as exc:
                raise settings_mod.usage_error(value, value.value, str(exc)) from None
    return ArtifactStoreConfig(**resolved.store_config_kwargs())
