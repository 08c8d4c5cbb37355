"""Regexes compiled on first use.

The value rules hold ~60 patterns; compiling them all costs ~12 ms, which every process
that imports the scanner paid at import (the pytest plugin, each hook run, ``artifact-store
scan``) although a typical artifact set exercises five of them. ``compile`` returns a
stand-in that compiles its pattern the first time one of its attributes is read and from
then on hands out the compiled pattern's bound methods straight from its own ``__dict__``
(no extra call on the hot path).
"""

from __future__ import annotations

import re
from typing import Any, AnyStr, cast

_ATTRIBUTES = (
    "search",
    "match",
    "fullmatch",
    "finditer",
    "findall",
    "sub",
    "subn",
    "split",
    "pattern",
    "flags",
    "groups",
    "groupindex",
)


class _Pattern:
    def __init__(self, pattern: str | bytes, flags: int) -> None:
        self._source = (pattern, flags)

    def __getattr__(self, name: str) -> Any:  # only for names not yet in __dict__
        if name.startswith("__"):
            raise AttributeError(name)
        pattern, flags = self._source
        compiled: re.Pattern[Any] = re.compile(pattern, flags)
        for attribute in _ATTRIBUTES:
            setattr(self, attribute, getattr(compiled, attribute))
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"lazy.compile({self._source[0]!r})"


def compile(pattern: AnyStr, flags: int = 0) -> re.Pattern[AnyStr]:
    """``re.compile``, deferred until the pattern is first used."""
    return cast("re.Pattern[AnyStr]", _Pattern(pattern, flags))
