"""The engine: one pass over a file's bytes -- provider literals and keywords found by a
multi-pattern search, only the lines that hold one decoded and parsed -- then
suppression, and the findings. One scanner serves the store, the hooks and the CLI.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pytest_artifact_store.scan.findings import (
    ALLOW_LINE,
    ALLOW_NEXT,
    BINARY_SNIFF_BYTES,
    MAX_SCAN_BYTES,
    Finding,
    mask,
)
from pytest_artifact_store.scan.rules import PROVIDERS, default_patterns
from pytest_artifact_store.scan.values import (
    AUTH_HEADER,
    AUTH_SCHEME,
    AUTH_TUPLE,
    CALL_PAIR,
    CLIENT_CALL,
    CLIENT_CALLEE,
    COMMENT_TAIL,
    FLAG_PAIR,
    NAME_VALUE,
    PAIR,
    PASSWORD_NAME,
    POSITIONAL_STRING,
    SIGNING_CALL,
    WRAPPED_LITERAL,
    XML_PAIR,
    YAML_NAME,
    YAML_VALUE,
    Hit,
    classify,
    entropy,
    inside_string,
    is_literal_value,
    is_placeholder,
    kind_of,
    looks_random,
    name_starts,
    pair_value,
    scheme_value_is_secret,
    value_is_secret,
)

_ahocorasick: Any


try:  # a multi-pattern search in one SIMD pass; without it, one bytes.find pass per needle
    import ahocorasick_rs as _ahocorasick
except ImportError:  # pragma: no cover
    _ahocorasick = None


__all__ = [
    "BINARY_SNIFF_BYTES",
    "MAX_SCAN_BYTES",
    "Finding",
    "Scanner",
    "default_patterns",
    "iter_files",
    "mask",
]


class _LineParser:
    """Finds secret-named assignments in one decoded line."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def parse(self, line: str) -> Iterator[tuple[str, str]]:
        """Yields (rule, secret value) pairs."""
        lower = line.lower()
        if self.kind == "csv":
            yield from self._csv_pairs(line)
        for pos in name_starts(line, lower):
            m = PAIR.match(line, pos)
            if m is not None:
                hit = self._check(line, m)
                if hit:
                    yield hit
        guarded = (
            (CALL_PAIR, '",' in line or "'," in line),
            (XML_PAIR, "</" in line),
            (NAME_VALUE, "value" in lower),
            (FLAG_PAIR, "--" in line and self.kind != "python"),
        )
        for regex, wanted in guarded:
            if wanted:
                for m in regex.finditer(line):
                    hit = self._check(line, m)
                    if hit:
                        yield hit
        if "jwt.encode(" in line or "hmac.new(" in line:
            for m in SIGNING_CALL.finditer(line):
                if is_literal_value(m.group("v")) and looks_random(m.group("v")):
                    yield "secret-assignment", m.group("v")
        if "auth" in lower or "login(" in lower:
            for m in AUTH_TUPLE.finditer(line):
                if value_is_secret(PASSWORD_NAME, m.group("v")):
                    yield "basic-auth", m.group("v")
        if self.kind == "python" and "(" in line:
            for m in CLIENT_CALL.finditer(line):
                if CLIENT_CALLEE.search(m.group("callee")):
                    for arg in POSITIONAL_STRING.finditer(m.group("args")):
                        value = arg.group("v")
                        if is_literal_value(value) and looks_random(value, strict=True):
                            yield "hardcoded-credential", value
        if "bearer" in lower or "basic" in lower or "authorization" in lower:
            for m in AUTH_SCHEME.finditer(line):
                is_header = AUTH_HEADER.search(line[: m.start()]) is not None
                if (m.group("scheme").lower() != "token" or is_header) and scheme_value_is_secret(
                    m
                ):
                    scheme = m.group("scheme").lower()
                    yield ("basic-auth" if scheme == "basic" else "bearer-token"), m["v"]

    def following_hit(self, line: str, following: str) -> tuple[str, str] | None:
        """YAML ``- name: API_KEY`` followed by ``value: ...`` (reported on the value)."""
        m = YAML_NAME.match(line)
        if not m:
            return None
        name = classify(m.group("name"))
        v = YAML_VALUE.match(following)
        if name is None or v is None:
            return None
        value, _quoted = pair_value(v)
        value = COMMENT_TAIL.sub("", value) if not _quoted else value
        return (name.rule, value) if value_is_secret(name, value) else None

    def _check(self, line: str, m: re.Match[str]) -> tuple[str, str] | None:
        name = classify(m.group("name"))
        if name is None:
            return None
        value, quoted = pair_value(m)
        if not quoted and self.kind == "python":
            wrapped = WRAPPED_LITERAL.match(line, m.end())
            if wrapped is not None:
                value, quoted = wrapped.group("v"), True
        if not quoted:
            if self.kind == "python" and not inside_string(line, m.start()):
                return None
            if self.kind == "json" and not inside_string(line, m.start()):
                return None
            if self.kind == "config" and line[: m.start()].strip(" \t-") in ("", "export"):
                # A whole-line ``key: value`` / ``key = value``: the value runs to the
                # end of the line (minus a trailing comment), spaces included.
                value = COMMENT_TAIL.sub("", line[m.start("uv") :]).strip()
            if value.lower() in {"bearer", "basic"}:
                scheme = AUTH_SCHEME.search(line, m.start("uv"))
                if scheme and scheme_value_is_secret(scheme):
                    return name.rule, scheme.group("v")
                return None
        bare = not quoted and self.kind in ("text", "csv", "json")
        if value_is_secret(name, value, bare=bare):
            return name.rule, value.strip()
        return None

    def _csv_pairs(self, line: str) -> Iterator[tuple[str, str]]:
        cells = _csv_cells(line)
        for i, cell in enumerate(cells[:-1]):
            name = classify(cell.strip())
            if name is not None and value_is_secret(name, cells[i + 1], bare=True):
                yield name.rule, cells[i + 1].strip()


def _csv_cells(line: str) -> list[str]:
    delimiter = "\t" if line.count("\t") > line.count(",") else ","
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


KEYWORDS = (b"pass", b"pwd", b"secret", b"token", b"key", b"auth", b"cred", b"bearer")


# Lines with these are parsed too: positional credentials, ``Client("...", "...")``.
_CALL_NEEDLES = (
    b"client(",
    b"Client(",
    b"REST(",
    b"Exchange(",
    b".login(",
    b"jwt.encode(",
    b"hmac.new(",
)


# A keyword starts a line worth parsing only if a name then an assignment, a key/value
# separator, a call, a closing tag or the end of the line follows it.
_ASSIGNMENT_AFTER = re.compile(rb"[\w.$@-]{0,60}+(?:\\?[\"'])?\]?[ \t]*(?:[:=(>,\"']|\r?\n|\Z)")


_FLAG_AFTER = re.compile(rb"[\w.$@-]{0,60}+[ \t]+[^\s-]")


_NAME_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.$@-")


def _names_secret(
    data: bytes, pos: int, gate: Callable[[bytes, int], re.Match[bytes] | None]
) -> bool:
    """Cheap line gate: the keyword at ``pos`` is in a secret-like name followed by a
    separator (the whole line is parsed only then)."""
    m = gate(data, pos)
    start = pos
    while start > 0 and pos - start < 80 and data[start - 1] in _NAME_BYTES:
        start -= 1
    if m is None:
        # ``--api-key VALUE``: a command-line flag, its value after a space
        m = _FLAG_AFTER.match(data, pos) if data.startswith(b"--", start) else None
        if m is None:
            return False
    end = pos + len(re.match(rb"[\w.$@-]*", m.group()).group())  # type: ignore[union-attr]
    name = data[start:end].decode("latin-1").strip(".-$@")
    return classify(name) is not None


def _literal_prefix(pattern: bytes) -> bytes:
    m = re.match(rb"(?:[A-Za-z0-9:_/ \-]|\\[.\-/])+", pattern)
    return m.group().replace(b"\\", b"") if m else b""


@dataclass(frozen=True)
class _Needles:
    """Every literal the prefilter looks for, and what a hit on each one means."""

    needles: list[bytes]
    keyword_count: int  # needles[:keyword_count] mark lines to parse
    always: frozenset[int]  # ... even when no assignment follows (bearer, Client()
    providers: list[list[int]]  # needles[keyword_count + i] -> provider indexes to try there


@lru_cache(maxsize=1)
def _needles() -> _Needles:
    variants = {v for k in KEYWORDS for v in (k, k.title(), k.upper())} | set(_CALL_NEEDLES)
    keywords = sorted(variants)
    prefixes = [_literal_prefix(p.pattern) for p in PROVIDERS]
    shortest = sorted(set(prefixes), key=len)
    roots: list[bytes] = []
    for prefix in shortest:
        if not any(prefix.startswith(root) for root in roots):
            roots.append(prefix)
    groups = [[i for i, prefix in enumerate(prefixes) if prefix.startswith(root)] for root in roots]
    always = frozenset(
        i for i, k in enumerate(keywords) if k.lower() == b"bearer" or k in _CALL_NEEDLES
    )
    return _Needles(keywords + roots, len(keywords), always, groups)


@lru_cache(maxsize=1)
def _automaton() -> Any:
    """One Aho-Corasick pass for every needle (ahocorasick-rs, SIMD), when installed."""
    if _ahocorasick is None:
        return None
    return _ahocorasick.BytesAhoCorasick(_needles().needles)


def _needle_hits(data: bytes) -> Iterator[tuple[int, int]]:
    """(needle index, offset) for every needle occurrence (order not guaranteed)."""
    automaton = _automaton()
    if automaton is not None:
        for index, start, _end in automaton.find_matches_as_indexes(data, overlapping=True):
            yield index, start
        return
    table = _needles()
    lower = data.lower()
    for index, needle in enumerate(table.needles):
        if index < table.keyword_count:
            if needle != needle.lower():
                continue  # the lower-cased search below covers every case
            haystack = lower
        else:
            haystack = data
        i = haystack.find(needle)
        while i != -1:
            yield index, i
            i = haystack.find(needle, i + 1)


class Scanner:
    """Scans bytes or files for secrets.

    ``patterns``: None, or a list equal to :func:`default_patterns`, means the built-in
    rules; any other list REPLACES them with those regular expressions (group 1, when
    the pattern has one, is the secret). ``extra_patterns`` are added on top of
    whichever rules are in force. Each custom pattern's rule id is ``custom-<n>`` /
    ``extra-<n>``.
    """

    def __init__(
        self,
        patterns: Sequence[str] | None = None,
        extra_patterns: Sequence[str] = (),
        *,
        max_bytes: int = MAX_SCAN_BYTES,
    ) -> None:
        self.builtin = patterns is None or list(patterns) == default_patterns()
        custom = (
            [] if self.builtin else [(f"custom-{i + 1}", p) for i, p in enumerate(patterns or ())]
        )
        custom += [(f"extra-{i + 1}", p) for i, p in enumerate(extra_patterns)]
        self._custom = [(rule, _compile_custom(rule, p)) for rule, p in custom]
        self._providers = [(p, re.compile(p.pattern)) for p in PROVIDERS] if self.builtin else []
        self.max_bytes = max_bytes
        self.skipped: list[str] = []

    # -- public API

    def scan_bytes(self, data: bytes, path: str) -> list[Finding]:
        if b"\x00" in data[:BINARY_SNIFF_BYTES]:
            return []
        hits: list[Hit] = []
        if self.builtin:
            hits.extend(self._builtin_hits(data, path))
        if self._custom:
            hits.extend(self._custom_hits(data))
        return self._findings(data, path, hits)

    def scan_file(self, path: str | os.PathLike[str], display: str | None = None) -> list[Finding]:
        shown = display or os.fspath(path)
        with open(path, "rb") as fh:
            head = fh.read(BINARY_SNIFF_BYTES)
            if b"\x00" in head:
                return []
            size = os.fstat(fh.fileno()).st_size
            if size > self.max_bytes:
                self.skipped.append(shown)
                return []
            data = head + fh.read()
        return self.scan_bytes(data, shown)

    def scan_paths(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[Finding]:
        """Scan files and directories (walked, skipping ``.git``), in a stable order."""
        for file in iter_files(paths):
            yield from self.scan_file(file)

    # -- rules

    def _builtin_hits(self, data: bytes, path: str) -> Iterator[Hit]:
        table = _needles()
        kind = kind_of(path)
        lines: dict[int, int] = {}
        line_start, line_end = -1, -1
        n = len(data)
        gate = None if kind == "csv" else _ASSIGNMENT_AFTER.match
        for index, pos in _needle_hits(data):
            if index >= table.keyword_count:
                for provider in table.providers[index - table.keyword_count]:
                    hit = self._provider_at(provider, data, pos)
                    if hit is not None:
                        yield hit
            elif line_start <= pos < line_end:
                continue
            elif gate is None or index in table.always or _names_secret(data, pos, gate):
                line_start = data.rfind(b"\n", 0, pos) + 1
                line_end = data.find(b"\n", pos)
                if line_end == -1:
                    line_end = n
                lines[line_start] = line_end
        yield from self._line_hits(data, kind, lines)
        if kind == "csv":
            yield from _csv_column_hits(data)

    def _provider_at(self, index: int, data: bytes, pos: int) -> Hit | None:
        provider, rx = self._providers[index]
        m = rx.match(data, pos)
        if m is None:
            return None
        start, end = m.span()
        if start and data[start - 1] in provider.lead:
            return None
        if end < len(data) and data[end] in provider.tail:
            return None
        value = m.group(provider.group).decode("utf-8", "replace")
        if provider.rule == "telegram-bot-token":
            digits = re.search(rb"(?<![A-Za-z0-9_])[0-9]{8,10}\Z", data[max(0, start - 11) : start])
            if digits is None:
                return None
            value = digits.group().decode() + value
        elif not _shape_ok(provider.rule, data, m):
            return None
        if is_placeholder(value) or (provider.check and not provider.check(value)):
            return None
        return Hit(start, provider.rule, value, 0)

    def _line_hits(self, data: bytes, kind: str, lines: dict[int, int]) -> Iterator[Hit]:
        parser = _LineParser(kind)
        n = len(data)
        for start in sorted(lines):
            end = lines[start]
            line = data[start:end].decode("utf-8", "replace")
            for rule, value in parser.parse(line):
                yield Hit(start, rule, value, 1)
            if kind in ("config", "text") and end < n and "name" in line:
                nxt_end = data.find(b"\n", end + 1)
                following = data[end + 1 : nxt_end if nxt_end != -1 else n]
                hit = parser.following_hit(line, following.decode("utf-8", "replace"))
                if hit:
                    yield Hit(end + 1, hit[0], hit[1], 1)

    def _custom_hits(self, data: bytes) -> Iterator[Hit]:
        for rule, rx in self._custom:
            for m in rx.finditer(data):
                raw = m.group(1) if rx.groups and m.group(1) else m.group(0)
                if raw:
                    yield Hit(m.start(), rule, raw.decode("utf-8", "replace"), 0)

    # -- results

    def _findings(self, data: bytes, path: str, hits: list[Hit]) -> list[Finding]:
        by_line: dict[int, list[Hit]] = {}
        line, last = 1, 0
        for hit in sorted(hits, key=lambda h: h.offset):
            line += data.count(b"\n", last, hit.offset)
            last = hit.offset
            if not _suppressed(data, hit.offset):
                _merge(by_line.setdefault(line, []), hit)
        return [
            Finding(path, lineno, hit.rule, mask(hit.value))
            for lineno in sorted(by_line)
            for hit in by_line[lineno]
        ]


def _merge(kept: list[Hit], hit: Hit) -> None:
    """One finding per secret on a line: overlapping values keep the more specific rule."""
    for i, other in enumerate(kept):
        if hit.value in other.value or other.value in hit.value:
            if hit.priority < other.priority:
                kept[i] = hit
            return
    kept.append(hit)


def _suppressed(data: bytes, offset: int) -> bool:
    """An allowlist pragma on the hit's line, or a nextline pragma on the line before."""
    start = data.rfind(b"\n", 0, offset) + 1
    end = data.find(b"\n", offset)
    here = data[start : end if end != -1 else len(data)]
    if any(marker in here for marker in ALLOW_LINE):
        return True
    if start == 0:
        return False
    before = data[data.rfind(b"\n", 0, start - 1) + 1 : start]
    return ALLOW_NEXT in before


def _shape_ok(rule: str, data: bytes, m: re.Match[bytes]) -> bool:
    if rule == "private-key":
        return _pem_has_body(data, m.end())
    if rule == "url-password":
        return _url_password_ok(m)
    return True


def _pem_has_body(data: bytes, end: int) -> bool:
    """A real key block follows the header (not '...' or a placeholder)."""
    window = data[end : end + 200]
    window = window.replace(b"\\n", b"\n").replace(b"\\r", b"")
    body = re.match(
        rb"[\s\"',]*(?:Proc-Type:[^\n]*\n(?:[^\n]*:[^\n]*\n)*\s*)?([A-Za-z0-9+/=]{24,})", window
    )
    if body is None:
        return False
    chunk = body.group(1).decode("ascii")
    return not is_placeholder(chunk) and entropy(chunk) >= 3.0


def _url_password_ok(m: re.Match[bytes]) -> bool:
    password = m.group("pw").decode("utf-8", "replace")
    if not is_literal_value(password) or password.startswith(("$", "%", "{")):
        return False
    return not password.isdigit()  # host:port@ is not a password


def _csv_column_hits(data: bytes) -> Iterator[Hit]:
    """Cells under a secret-named header column (``name,api_key,...``)."""
    first_end = data.find(b"\n")
    header = data[: first_end if first_end != -1 else len(data)].decode("utf-8", "replace")
    columns = {i: classify(cell.strip()) for i, cell in enumerate(_csv_cells(header))}
    secret_columns = {i: name for i, name in columns.items() if name is not None}
    if not secret_columns or first_end == -1:
        return
    offset = first_end + 1
    for raw in data[offset:].split(b"\n"):
        cells = _csv_cells(raw.decode("utf-8", "replace").rstrip("\r"))
        for i, name in secret_columns.items():
            if i < len(cells) and value_is_secret(name, cells[i], bare=True):
                yield Hit(offset, name.rule, cells[i].strip(), 1)
        offset += len(raw) + 1


def _compile_custom(rule: str, pattern: str) -> re.Pattern[bytes]:
    """A user's pattern (a str regex) compiled to search the raw bytes, like the rules."""
    try:
        return re.compile(pattern.encode("utf-8"))
    except re.error as exc:
        from pytest_artifact_store.errors import ArtifactStoreError

        raise ArtifactStoreError(
            f"invalid secret pattern ({rule}) {pattern!r}: {exc}; "
            "fix secret_patterns / extra_secret_patterns"
        ) from None


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[str]:
    """Files named, and files under directories named (sorted, ``.git`` skipped)."""
    for raw in paths:
        path = os.fspath(raw)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d != ".git")
                for name in sorted(files):
                    full = os.path.join(root, name)
                    if os.path.isfile(full) and not os.path.islink(full):
                        yield full
        else:
            yield path
