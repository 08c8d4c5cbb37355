"""The engine: each view of a file (decode.py: archives opened, encodings decoded) is
searched in one pass for provider prefixes (Aho-Corasick) and in one RE2 pass for lines
worth parsing -- a secret-like name, a separator and a value long enough to be a secret,
or a call or header that carries credentials -- so the cost does not grow with how often
``token`` or ``key`` appear in the data. Only those lines are decoded and parsed in the
syntax of the file at hand. Encoded blobs are decoded and scanned too; then suppression,
the allowlist, confidence, and the findings. One scanner serves the store, the hooks and
the CLI.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

import re2

from pytest_artifact_store.scan import lazy
from pytest_artifact_store.scan.decode import (
    BLOB_PATTERN,
    ScanLimitError,
    View,
    decoded_blobs,
    der_private_key,
    views,
)
from pytest_artifact_store.scan.findings import (
    ALLOW_LINE,
    ALLOW_NEXT,
    HIGH,
    LOW,
    MAX_SCAN_BYTES,
    Finding,
    digest,
    mask,
)
from pytest_artifact_store.scan.rules import PROVIDERS, check_rule_ids, default_patterns
from pytest_artifact_store.scan.values import (
    AUTH_HEADER,
    AUTH_SCHEME,
    AUTH_TUPLE,
    CALL_ARG,
    CALL_PAIR,
    CLIENT_CALL,
    CLIENT_CALLEE,
    CODE_KINDS,
    COMMENT_TAIL,
    CURL_USER,
    DOCKER_ENV,
    FALLBACK,
    FENCE_KINDS,
    FLAG_PAIR,
    KEYWORDS_TEXT,
    NAME_VALUE,
    NETRC,
    PAIR,
    PASSWORD_NAME,
    POSITIONAL_STRING,
    PROSE_PAIR,
    SIGNING_CALL,
    WRAPPED_LITERAL,
    XML_NAMED,
    XML_OPEN,
    XML_PAIR,
    YAML_NAME,
    YAML_VALUE,
    Hit,
    _Name,
    camel_words,
    classify,
    confidence_of,
    entropy,
    identifier_like,
    inside_string,
    is_literal_value,
    is_placeholder,
    is_uuid,
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
    "MAX_SCAN_BYTES",
    "Finding",
    "ScanLimitError",
    "Scanner",
    "default_patterns",
    "iter_files",
    "mask",
    "mask_secrets",
]


_LOOKUP = lazy.compile(
    r"(?i)_*(?:get|fetch|load|read|lookup|find|resolve|retrieve|has|is|del|delete|remove|"
    r"require|check|validate|verify|rotate|revoke|describe|list)(?:_|[A-Z]|$)"
)


# a setter or builder: ``setPassword(``, ``set_api_key(``, ``.withSecret(``, ``.krakenApiKey(``
# on a builder chain (a leading dot) -- not ``apiKey("HEADER-NAME")``, a lookup by name
_SETTER = lazy.compile(r"(?i)^(?:set|with|put|use)[_A-Z]|(?:secret|key|token|password|passphrase)$")


# a client's constructor: ``RESTClient(``, ``NewClient(``, ``Spot(``
_CONSTRUCTOR = lazy.compile(r"(?:[A-Z]\w*)?(?:Client|REST|Api|API|Exchange|Spot|Futures)")


_Parsed = tuple[str, str, str, str]  # rule, secret value, confidence, why


class _LineParser:
    """Finds secret-named assignments in one decoded line, in the syntax of its kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.code = kind in CODE_KINDS

    def parse(self, line: str) -> Iterator[_Parsed]:
        """Yields (rule, secret value, confidence, why)."""
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
            (CALL_PAIR, '",' in line or "'," in line, False),
            (XML_PAIR, "</" in line, True),
            (XML_NAMED, "</" in line, True),
            (NAME_VALUE, "value" in lower, False),
            (FLAG_PAIR, "--" in line and self.kind != "python", False),
            (DOCKER_ENV, self.kind == "config" and line.lstrip().startswith("ENV"), True),
            (NETRC, self.kind == "config" and "passw" in lower, True),
        )
        for regex, wanted, literal in guarded:
            if wanted:
                for m in regex.finditer(line):
                    hit = self._check(line, m, literal=literal)
                    if hit:
                        yield hit
        if " was " in lower or " is " in lower or " now " in lower or " became " in lower:
            for m in PROSE_PAIR.finditer(line):
                name = classify(m.group("name"))
                value = m.group("uv").rstrip(".")
                if (
                    name
                    and value_is_secret(name, value)
                    and confidence_of(name, value) == HIGH
                    and (is_uuid(value) or looks_random(value, strict=name.family != "password"))
                    and any(c.isdigit() for c in value)
                    and (is_uuid(value) or not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)+", value))
                ):
                    why = f"a random value said to be {m.group('name')!r}"
                    yield name.rule, value, HIGH, why
        if "-u" in line or "--user" in line:
            for m in CURL_USER.finditer(line):
                if value_is_secret(PASSWORD_NAME, m.group("v")):
                    conf = confidence_of(PASSWORD_NAME, m.group("v"))
                    yield "basic-auth", m.group("v"), conf, "a password in a --user argument"
        if self.code and "(" in line:
            for m in CALL_ARG.finditer(line):
                if _LOOKUP.match(m.group("name")) or not _SETTER.search(m.group("name")):
                    continue  # ``get_secret("prod/api")``, ``apiKey("HEADER")``: lookups
                name = classify(m.group("name"))
                value = m.group("qv")
                if (
                    name
                    and value_is_secret(name, value)
                    and confidence_of(name, value) == HIGH
                    and looks_random(value, strict=True)
                ):
                    why = f"a literal passed to {m.group('name')}()"
                    yield name.rule, value, HIGH, why
        if "jwt.encode(" in line or "hmac.new(" in line:
            for m in SIGNING_CALL.finditer(line):
                if is_literal_value(m.group("v")) and looks_random(m.group("v")):
                    yield "secret-assignment", m.group("v"), HIGH, "a literal signing key"
        if "auth" in lower or "login(" in lower:
            for m in AUTH_TUPLE.finditer(line):
                if value_is_secret(PASSWORD_NAME, m.group("v")):
                    conf = confidence_of(PASSWORD_NAME, m.group("v"))
                    yield "basic-auth", m.group("v"), conf, "a literal password in a login call"
        if self.kind in ("python", "code") and "(" in line:
            for m in CLIENT_CALL.finditer(line):
                callee = m.group("callee").rsplit(".", 1)[-1].rsplit("::", 1)[-1]
                if not CLIENT_CALLEE.search(callee) or _LOOKUP.match(callee):
                    continue
                randoms = [
                    value
                    for arg in POSITIONAL_STRING.finditer(m.group("args"))
                    if is_literal_value(value := arg.group("v"))
                    and looks_random(value, strict=True)
                    and not identifier_like(value)
                    and not camel_words(value)
                ]
                # a key and a secret; or one key given to a client's constructor
                # (``RESTClient("...")``) -- not an id passed to a method
                if len(randoms) >= 2 or (randoms and _CONSTRUCTOR.fullmatch(callee)):
                    for value in randoms:
                        why = f"a random literal passed to {m.group('callee')}()"
                        yield "hardcoded-credential", value, HIGH, why
        if "bearer" in lower or "basic" in lower or "authorization" in lower:
            for m in AUTH_SCHEME.finditer(line):
                is_header = AUTH_HEADER.search(line[: m.start()]) is not None
                if (m.group("scheme").lower() != "token" or is_header) and scheme_value_is_secret(
                    m
                ):
                    scheme = m.group("scheme").lower()
                    rule = "basic-auth" if scheme == "basic" else "bearer-token"
                    yield rule, m["v"], HIGH, f"a literal {scheme} credential"

    def following_hit(self, line: str, following: str) -> _Parsed | None:
        """YAML ``- name: API_KEY`` followed by ``value: ...``, or an XML element whose
        text is on the next line (reported on the value)."""
        xml = XML_OPEN.match(line)
        if xml is not None:
            name = classify(xml.group("name"))
            value = following.strip()
            if name is None or " " in value or "<" in value or not value_is_secret(name, value):
                return None
            why = f"the text of <{xml.group('name')}>"
            return name.rule, value, confidence_of(name, value), why
        m = YAML_NAME.match(line)
        if not m:
            return None
        name = classify(m.group("name"))
        v = YAML_VALUE.match(following)
        if name is None or v is None:
            return None
        value, _quoted = pair_value(v)
        value = COMMENT_TAIL.sub("", value) if not _quoted else value
        if not value_is_secret(name, value):
            return None
        why = f"a literal under the name {m.group('name')!r}"
        return name.rule, value, confidence_of(name, value), why

    def _check(self, line: str, m: re.Match[str], *, literal: bool = False) -> _Parsed | None:
        name = classify(m.group("name"))
        if name is None:
            return None
        value, quoted = pair_value(m)
        if not quoted and self.kind == "python":
            wrapped = WRAPPED_LITERAL.match(line, m.end())
            if wrapped is not None:
                value, quoted = wrapped.group("v"), True
        if not quoted and not literal:
            # in code an unquoted value is an expression, a name, a call or a type --
            # unless the pair sits inside a string (``"user=bot password=..."``), or the
            # expression falls back to a literal (``process.env.X ?? "..."``)
            key_quoted = line[m.end("name") : m.end("name") + 1] in ("'", '"')
            if self.code and (key_quoted or not inside_string(line, m.start())):
                fallback = FALLBACK.search(line, m.end())
                if fallback is None:
                    return None
                value, quoted = fallback.group("v"), True
            elif self.kind == "config" and line[: m.start()].strip(" \t-") in ("", "export"):
                # A whole-line ``key: value`` / ``key = value``: the value runs to the
                # end of the line (minus a trailing comment), spaces included -- or, when
                # that is no secret, its first word (``KEY=value ./run.sh``)
                whole = COMMENT_TAIL.sub("", line[m.start("uv") :]).strip()
                if " " not in whole or value_is_secret(name, whole):
                    value = whole
            if value.lower() in {"bearer", "basic"}:
                scheme = AUTH_SCHEME.search(line, m.start("uv"))
                if scheme and scheme_value_is_secret(scheme):
                    why = f"a literal credential under the name {m.group('name')!r}"
                    return name.rule, scheme.group("v"), HIGH, why
                return None
        bare = not quoted and not literal and self.kind in ("text", "csv", "json")
        if value_is_secret(name, value, bare=bare):
            value = value.strip()
            why = f"a literal under the name {m.group('name')!r}"
            confidence = confidence_of(name, value)
            if name.listen and self.kind not in ("python", "code"):
                # a listenKey in a captured response or a log: a stream id for an hour
                confidence, why = LOW, f"{why} (a stream's listen key in data)"
            return name.rule, value, confidence, why
        return None

    def _csv_pairs(self, line: str) -> Iterator[_Parsed]:
        cells = _csv_cells(line)
        for i, cell in enumerate(cells[:-1]):
            name = classify(cell.strip())
            if name is None:
                continue
            value = cells[i + 1].strip()
            if classify(value) is not None:
                continue  # a header row: names beside names
            # the next cell, or a value split over the cells that follow the name
            # (``api_secret,ab12,cd34``): the first that looks like a secret
            joined = "".join(c.strip() for c in cells[i + 1 : i + 4])
            best: tuple[str, str] | None = None
            for candidate in (value, joined):
                if len(candidate) > 200 or " " in candidate:
                    continue
                if value_is_secret(name, candidate, bare=True):
                    confidence = confidence_of(name, candidate)
                    if best is None or (confidence == HIGH and best[1] != HIGH):
                        best = (candidate, confidence)
            if best is not None:
                why = f"a value in the cell after {cell.strip()!r}"
                yield name.rule, best[0], best[1], why


def _csv_cells(line: str) -> list[str]:
    delimiter = "\t" if line.count("\t") > line.count(",") else ","
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


KEYWORDS = (*KEYWORDS_TEXT, b"bearer")


_KW = b"(?:" + b"|".join(KEYWORDS_TEXT) + b")"


# Lines worth parsing, found in one RE2 (DFA) pass whatever the keyword density: a
# secret-like name, a separator and a value of 4+ characters (``token=ETH`` is not
# one); a credential scheme with its value; a client call, login or signing call; a
# ``--flag value``; a YAML ``name:`` line whose value comes on the next line.
_CANDIDATES = re2.compile(
    rb"(?im)"
    + _KW
    + rb"[\w.$@-]{0,60}(?:\\?[\"'`])?\]?[ \t]*"
    + rb"(?:=>|:=|\?=|\+=|[:=,>\t]|\([ \t]*[\"'`]|[ \t]\\?[\"'`]"
    + rb"|:[ \t]*&?[A-Za-z_][\w.:<>&' ]{0,40}="
    + rb"|[ \t]+(?:string|\[\]byte)[ \t]*=|[ \t]*\{[ \t]*get;[^}\n]{0,40}\}[ \t]*="
    + rb"|[ \t]+(?:was|is|now|became)[ \t]+)"
    + rb"[ \t]*(?:[rbuf]{0,2}\\?[\"'`])?[^\s\"'`,;)\]}<]{4,}"
    + rb"|"
    + _KW
    + rb"[\w.-]*[\"'][ \t]*,?[ \t]*[\"']?value"
    + rb"|^[ \t]*ENV[ \t]+[\w.-]*"
    + _KW
    + rb"[\w.-]*[ \t]+[^\s=]{4}"
    + rb"|<[\w:.-]*"
    + _KW
    + rb"[\w:.-]*>[ \t]*$"
    + rb"|(?:^|[ \t])(?:-u|--user)[ \t=]+[\"']?[^:\s\"']+:[^\s\"']{4}"
    + rb"|^[ \t]*(?:machine[ \t]+\S+[ \t]+)?(?:login[ \t]+\S+[ \t]+)?passw(?:or)?d[ \t]+\S{4}"
    + rb"|(?:client|rest|exchange|spot|futures|credentials|broker|trader)\w{0,20}\("
    + rb"|\.login\(|jwt\.encode\(|hmac\.new\("
    + rb"|(?:bearer|basic|token)[ \t]+[A-Za-z0-9\-._~+/]{8}"
    + rb"|auth[ \t]*=[ \t]*\(|basicauth\("
    + rb"|--[\w-]*"
    + _KW
    + rb"[\w-]*[ \t]+[^\s-]"
    + rb"|^[ \t]*-?[ \t]*name:[ \t]*[\"']?[\w.-]*"
    + _KW
    + rb"[\w.-]*[\"']?[ \t]*$"
)


# a line of code with no quote and no comment marker
_NO_LITERAL = lazy.compile(rb"(?![ \t]*(?:#|//|/\*|\*))[^\"'`\n]*$")


_UNICODE_ESCAPE = lazy.compile(rb"\\u([0-9a-fA-F]{4})")


_PERCENT_ESCAPE = lazy.compile(rb"%([0-9a-fA-F]{2})")


def _unescape(m: re.Match[bytes]) -> bytes:
    ch = chr(int(m.group(1), 16))
    return b" " if ch in "\n\r" or not ch.isprintable() else ch.encode("utf-8", "replace")


def _unpercent(m: re.Match[bytes]) -> bytes:
    b = bytes.fromhex(m.group(1).decode())
    return b" " if b in (b"\n", b"\r") else b


_FENCE = re2.compile(rb"(?m)^[ \t]*(?:```|~~~)[ \t]*([\w+-]*)")


# A quoted CSV cell that runs over a line break
_MULTILINE_CELL = re2.compile(rb"(?m)(?:^|[,;\t])[ \t]*\"[^\"]*\n")


_QUOTED_CELL = re2.compile(rb"\"(?:[^\"]|\"\")*\"")


def _literal_prefix(pattern: bytes) -> bytes:
    m = re.match(rb"(?:[A-Za-z0-9:_/ \-]|\\[.\-/(])+", pattern)
    return m.group().replace(b"\\", b"") if m else b""


@lru_cache(maxsize=1)
def _provider_needles() -> tuple[list[bytes], list[list[int]]]:
    """The shortest distinct literal prefixes of the provider rules, and for each the
    providers to try where it occurs."""
    prefixes = [_literal_prefix(p.pattern) for p in PROVIDERS]
    roots: list[bytes] = []
    for prefix in sorted(set(prefixes), key=len):
        if not any(prefix.startswith(root) for root in roots):
            roots.append(prefix)
    groups = [[i for i, prefix in enumerate(prefixes) if prefix.startswith(root)] for root in roots]
    return roots, groups


@lru_cache(maxsize=1)
def _automaton() -> Any:
    """One Aho-Corasick pass for every provider prefix (ahocorasick-rs, SIMD)."""
    if _ahocorasick is None:
        return None
    return _ahocorasick.BytesAhoCorasick(_provider_needles()[0])


_CELL_GAP = rb"[,;\t\" ]*"  # what _split_cell_hits removes between a key's characters


@lru_cache(maxsize=1)
def _gates() -> tuple[Any, Any]:
    """Two RE2 searches that let clean data skip the passes that would find nothing:

    ``anything``: a candidate line, a base64/hex run or a provider prefix, the three
    things the per-line, blob and provider passes look for -- one DFA pass (it stops
    at the first match, after which every pass runs) instead of three; ``split``: a
    provider prefix with CSV separators between its characters, the only thing the
    split-cell pass can find. Both are over-inclusive, never under."""
    needles = _provider_needles()[0]
    literal = b"|".join(re2.escape(n) for n in needles)
    spread = b"|".join(
        _CELL_GAP.join(re2.escape(n[i : i + 1]) for i in range(len(n))) for n in needles
    )
    anything = re2.compile(
        b"(?:" + _CANDIDATES.pattern + b")|(?-i:" + BLOB_PATTERN + b")|(?-i:" + literal + b")"
    )
    return anything, re2.compile(b"(?-i:" + spread + b")")


def _needle_hits(data: bytes) -> Iterator[tuple[int, int]]:
    """(needle index, offset) for every provider prefix occurrence (order not guaranteed)."""
    automaton = _automaton()
    if automaton is not None:
        for index, start, _end in automaton.find_matches_as_indexes(data, overlapping=True):
            yield index, start
        return
    for index, needle in enumerate(_provider_needles()[0]):
        i = data.find(needle)
        while i != -1:
            yield index, i
            i = data.find(needle, i + 1)


_MAX_BLOB_DEPTH = 2


_WARM_UP = (
    (b'import os\nAPI_KEY = os.environ["BROKER_API_KEY"]\ntoken = get_token(name)\n', "w.py"),
    (b'{"outcome": "passed", "token_count": 12, "duration": 0.5}\n', "w.json"),
)


_LONG_LINE = 4096  # longer lines are parsed in windows around each candidate
_WINDOW_BEFORE = 200
_WINDOW_AFTER = 1800


_LINE_CACHE = 50_000


class Scanner:
    """Scans bytes or files (and file names) for secrets.

    ``patterns``: None, or a list equal to :func:`default_patterns`, means the built-in
    rules; any other list REPLACES them with those regular expressions (group 1, when
    the pattern has one, is the secret). ``extra_patterns`` are added on top of
    whichever rules are in force. Each custom pattern's rule id is ``custom-<n>`` /
    ``extra-<n>``. ``disabled_rules``: rule ids switched off. ``allowlist``: finding
    fingerprints judged not secret. ``show_low``: report low-confidence findings too
    (they never block; see :attr:`Finding.blocking`).

    Compressed files and archives are scanned member by member; one that cannot be
    scanned within the limits raises :class:`ScanLimitError`.
    """

    def __init__(
        self,
        patterns: Sequence[str] | None = None,
        extra_patterns: Sequence[str] = (),
        *,
        max_bytes: int = MAX_SCAN_BYTES,
        disabled_rules: Iterable[str] = (),
        allowlist: Iterable[str] = (),
        show_low: bool = False,
    ) -> None:
        self.builtin = patterns is None or list(patterns) == default_patterns()
        custom = (
            [] if self.builtin else [(f"custom-{i + 1}", p) for i, p in enumerate(patterns or ())]
        )
        custom += [(f"extra-{i + 1}", p) for i, p in enumerate(extra_patterns)]
        self._custom = [(rule, _compile_custom(rule, p)) for rule, p in custom]
        self._providers = [(p, lazy.compile(p.pattern)) for p in PROVIDERS] if self.builtin else []
        self.disabled = check_rule_ids(disabled_rules, [rule for rule, _ in custom])
        self.allowlist = frozenset(allowlist)
        self.show_low = show_low
        self.max_bytes = max_bytes
        self.skipped: list[str] = []
        self._lines: dict[tuple[str, bytes], list[_Parsed]] = {}

    # -- public API

    def scan_bytes(self, data: bytes, path: str) -> list[Finding]:
        """Findings in ``data``; ``path`` is shown with any secret in it masked (its
        name is not scanned here: :meth:`scan_name`)."""
        path = self.masked_path(path)
        findings: list[Finding] = []
        try:
            for view in views(data, path):
                shown = path
                if view.path != path:  # an archive member: its name is scanned too
                    findings += [
                        replace(f, path=self.masked_path(view.path))
                        for f in self.scan_name(view.path[len(path) :])
                    ]
                    shown = self.masked_path(view.path)
                findings += self._findings(view.data, shown, list(self._view_hits(view)))
        except ScanLimitError as exc:  # its message names members: never a whole secret
            raise ScanLimitError(self.masked_path(str(exc))) from None
        return findings

    def warm_up(self) -> None:
        """Compile now what scanning a typical artifact set (code, a JSON report, CSVs)
        compiles on first use; the pytest plugin calls this while the tests run."""
        for data, path in _WARM_UP:
            self.scan_bytes(data, path)

    def scan_file(self, path: str | os.PathLike[str], display: str | None = None) -> list[Finding]:
        shown = display or os.fspath(path)
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > self.max_bytes:
                self.skipped.append(self.masked_path(shown))
                return []
            data = fh.read()
        return self.scan_name(shown) + self.scan_bytes(data, shown)

    def scan_name(self, path: str) -> list[Finding]:
        """Provider-format secrets in a file's path (a key used as a file name). The
        findings show the path with each such secret masked."""
        hits = [h for h in self._name_hits(path) if self._kept(h)]
        shown = self.masked_path(path)
        found = [
            Finding(shown, 0, h.rule, mask(h.value), h.confidence, "in the file name", d)
            for h in hits
            for d in [digest(h.rule, h.value)]
        ]
        return self._allowed(found)

    def masked_path(self, path: str) -> str:
        """The path with any provider-format secret in it masked (safe to print), also
        when custom patterns replace the built-in rules."""
        hits = self._name_hits(path) if self.builtin else _masker()._name_hits(path)
        for hit in hits:
            path = path.replace(hit.value, mask(hit.value))
        return path

    def _name_hits(self, path: str) -> list[Hit]:
        if not self.builtin:
            return []
        return list(self._provider_hits(os.fspath(path).encode("utf-8", "surrogateescape")))

    def scan_paths(self, paths: Iterable[str | os.PathLike[str]]) -> Iterator[Finding]:
        """Scan files and directories (walked, skipping ``.git``), in a stable order."""
        for file in iter_files(paths):
            yield from self.scan_file(file)

    # -- rules

    def _view_hits(self, view: View) -> Iterator[Hit]:
        if self.builtin:
            if view.text:
                yield from self._text_hits(view.data, kind_of(view.path), 0)
            else:
                yield from self._provider_hits(view.data)
        if self._custom:
            yield from self._custom_hits(view.data)

    def _text_hits(self, data: bytes, kind: str, depth: int) -> Iterator[Hit]:
        if kind == "csv" and b'"' in data and _MULTILINE_CELL.search(data):
            data = _flatten_cells(data)
        docs = _Docstrings(data if kind == "python" else b"")
        anything, split = _gates()
        if anything.search(data) is not None:
            yield from self._pass_hits(data, kind, depth, docs)
        if kind == "csv":
            yield from _csv_column_hits(data)
            if split.search(data) is not None:
                yield from self._split_cell_hits(data)
        if b"\\u" in data or b"%" in data:
            # JSON ``\u201c`` escapes and URL %-escapes: the characters they stand for
            plain = _UNICODE_ESCAPE.sub(_unescape, _PERCENT_ESCAPE.sub(_unpercent, data))
            if plain != data:
                yield from self._rewritten_hits(data, plain, "behind escapes", lead=True)

    def _pass_hits(self, data: bytes, kind: str, depth: int, docs: _Docstrings) -> Iterator[Hit]:
        """Provider formats, candidate lines and encoded blobs (for data that has any)."""
        for hit in self._provider_hits(data):
            if hit.rule == "jwt":  # a sample token in a documented API response
                start = data.rfind(b"\n", 0, hit.offset) + 1
                end = data.find(b"\n", hit.offset)
                sample = _sample_line(
                    data[start : end if end != -1 else len(data)], kind, docs.contain(hit.offset)
                )
                if sample:
                    hit = Hit(hit.offset, hit.rule, hit.value, 0, LOW, f"{hit.why}, in {sample}")
            yield hit
        lines: dict[int, int] = {}
        line_start, line_end = -1, -1
        n = len(data)
        code = kind in ("python", "code")
        for m in _CANDIDATES.finditer(data):
            pos = m.start()
            if line_start <= pos < line_end:
                continue
            line_start = data.rfind(b"\n", 0, pos) + 1
            line_end = data.find(b"\n", pos)
            if line_end == -1:
                line_end = n
            if line_end - line_start > _LONG_LINE:
                # minified code, one-line JSON: parse a window around the candidate, so
                # the work stays linear in the line's length
                line_start = max(line_start, pos - _WINDOW_BEFORE)
                line_end = min(line_end, pos + _WINDOW_AFTER)
            if code and _NO_LITERAL.match(data, line_start, line_end):
                continue  # code without a string literal or a comment: nothing to report
            lines[line_start] = line_end
        yield from self._line_hits(data, kind, lines, docs)
        if depth < _MAX_BLOB_DEPTH:
            yield from self._blob_hits(data, depth)

    def _provider_hits(self, data: bytes, *, lead: bool = True) -> Iterator[Hit]:
        """``lead=False``: a value may follow any byte (cells joined, boundaries lost)."""
        groups = _provider_needles()[1]
        for index, pos in _needle_hits(data):
            for provider in groups[index]:
                hit = self._provider_at(provider, data, pos, lead)
                if hit is not None:
                    yield hit

    def _provider_at(self, index: int, data: bytes, pos: int, lead: bool = True) -> Hit | None:
        provider, rx = self._providers[index]
        m = rx.match(data, pos)
        if m is None:
            return None
        start, end = m.span()
        if lead and start and data[start - 1] in provider.lead:
            return None
        if end < len(data) and data[end] in provider.tail:
            return None
        value = m.group(provider.group).decode("utf-8", "replace")
        if provider.rule == "telegram-bot-token":
            digits = re.search(
                rb"(?:(?<![A-Za-z0-9_])|(?<=/bot))[0-9]{8,10}\Z", data[max(0, start - 14) : start]
            )
            if digits is None:
                return None
            value = digits.group().decode() + value
        elif not _shape_ok(provider.rule, data, m):
            return None
        if is_placeholder(value) or (provider.check and not provider.check(value)):
            return None
        return Hit(start, provider.rule, value, 0, HIGH, provider.why)

    def _line_hits(
        self, data: bytes, kind: str, lines: dict[int, int], docs: _Docstrings
    ) -> Iterator[Hit]:
        parsers: dict[str, _LineParser] = {}
        fences = _fenced_blocks(data) if kind == "markdown" else []
        n = len(data)
        cache = self._lines
        if len(cache) > _LINE_CACHE:
            cache.clear()
        for start in sorted(lines):
            end = lines[start]
            raw = data[start:end]
            here = _kind_at(fences, start) if kind == "markdown" else kind
            key = (here, raw)
            parsed = cache.get(key)
            if parsed is None:
                parser = parsers.get(here) or parsers.setdefault(here, _LineParser(here))
                parsed = cache[key] = list(parser.parse(raw.decode("utf-8", "replace")))
            sample = None
            for rule, value, confidence, why in parsed:
                if confidence == HIGH:
                    if sample is None:
                        sample = _sample_line(raw, here, docs.contain(start))
                    if sample:
                        confidence, why = LOW, f"{why}, in {sample}"
                yield Hit(start, rule, value, 1, confidence, why)
            if here in ("config", "text", "xml") and end < n and (b"name" in raw or b">" in raw):
                nxt_end = data.find(b"\n", end + 1)
                following = data[end + 1 : nxt_end if nxt_end != -1 else n]
                parser = parsers.get(here) or parsers.setdefault(here, _LineParser(here))
                hit = parser.following_hit(
                    raw.decode("utf-8", "replace"), following.decode("utf-8", "replace")
                )
                if hit:
                    yield Hit(end + 1, hit[0], hit[1], 1, hit[2], hit[3])

    def _split_cell_hits(self, data: bytes) -> Iterator[Hit]:
        """Provider formats split over adjacent CSV cells (``AKIA1234,5678...``)."""
        joined = data.translate(None, b',;\t" ')
        if len(joined) != len(data):
            yield from self._rewritten_hits(data, joined, "split over CSV cells")

    def _rewritten_hits(
        self, data: bytes, view: bytes, why: str, *, lead: bool = False
    ) -> Iterator[Hit]:
        """Provider formats in a rewritten copy of the data that keeps its line breaks,
        reported on the original's lines (``lead=False``: cell boundaries were lost)."""
        starts: list[int] | None = None
        for hit in self._provider_hits(view, lead=lead):
            if starts is None:
                starts = [0] + [m.end() for m in re.finditer(b"\n", data)]
            line = view.count(b"\n", 0, hit.offset)
            yield Hit(starts[line], hit.rule, hit.value, 0, HIGH, why)

    def _blob_hits(self, data: bytes, depth: int) -> Iterator[Hit]:
        """Secrets inside base64/hex blobs: a DER private key, or text scanned again."""
        for offset, raw, decoded in decoded_blobs(data):
            if der_private_key(decoded):
                if b"-----BEGIN" not in data[max(0, offset - 400) : offset]:
                    value = raw.decode("ascii", "replace")
                    yield Hit(offset, "private-key", value, 0, HIGH, "a DER private key, encoded")
                continue
            for hit in self._text_hits(decoded, "text", depth + 1):
                why = f"{hit.why}, inside an encoded blob" if hit.why else "inside an encoded blob"
                yield Hit(offset, hit.rule, hit.value, hit.priority, hit.confidence, why)

    def _custom_hits(self, data: bytes) -> Iterator[Hit]:
        for rule, rx in self._custom:
            for m in rx.finditer(data):
                raw = m.group(1) if rx.groups and m.group(1) else m.group(0)
                if raw:
                    yield Hit(m.start(), rule, raw.decode("utf-8", "replace"), 0, HIGH, "pattern")

    # -- results

    def _kept(self, hit: Hit) -> bool:
        return hit.rule not in self.disabled and (self.show_low or hit.confidence == HIGH)

    def _findings(self, data: bytes, path: str, hits: list[Hit]) -> list[Finding]:
        by_line: dict[int, list[Hit]] = {}
        suppressed: dict[int, bool] = {}
        line, last = 1, 0
        for hit in sorted(hits, key=lambda h: h.offset):
            line += data.count(b"\n", last, hit.offset)
            last = hit.offset
            if not self._kept(hit) or len(by_line.get(line, ())) >= _PER_LINE:
                continue
            if line not in suppressed:
                suppressed[line] = _suppressed(data, hit.offset)
            if not suppressed[line]:
                _merge(by_line.setdefault(line, []), hit)
        findings = [
            Finding(
                path,
                lineno,
                hit.rule,
                mask(hit.value),
                hit.confidence,
                hit.why,
                digest(hit.rule, hit.value),
            )
            for lineno in sorted(by_line)
            for hit in by_line[lineno]
        ]
        return self._allowed(findings)

    def _allowed(self, findings: list[Finding]) -> list[Finding]:
        """Without those the allowlist names (fingerprints worked out only if it has any)."""
        if not self.allowlist:
            return findings
        return [f for f in findings if f.fingerprint not in self.allowlist]


_TRIPLE_QUOTE = re2.compile(rb'"""|\'\'\'')


class _Docstrings:
    """The triple-quoted strings of a Python file, found when first asked about."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.spans: list[tuple[int, int]] | None = None

    def contain(self, pos: int) -> bool:
        if self.spans is None:
            self.spans = []
            opened: tuple[int, bytes] | None = None
            for m in _TRIPLE_QUOTE.finditer(self.data):
                if opened is None:
                    opened = (m.end(), m.group())
                elif m.group() == opened[1]:
                    self.spans.append((opened[0], m.start()))
                    opened = None
        return any(start <= pos < end for start, end in self.spans)


_JSON_MEMBER = lazy.compile(rb"""^\s*(?:#|//|\*|/\*)?\s*["'][\w.\- ]{1,80}["']\s*:""")


_COMMENT = lazy.compile(rb"^\s*(?:#|//|\*|/\*|<!--|--|;)")


def _sample_line(raw: bytes, kind: str, in_docstring: bool) -> str:
    """Why a keyword finding on this line is only an example: an API response sample in
    a comment or docstring, or a badge or image link in documentation ("" if none)."""
    if kind in CODE_KINDS and kind not in ("json", "xml"):
        in_comment = in_docstring or _COMMENT.match(raw) is not None
        if in_comment and _JSON_MEMBER.match(raw.lstrip(b"#/* \t")) is not None:
            return "a sample payload in a comment"
        if in_comment and (b"://" in raw or b"e.g." in raw or b"example" in raw.lower()):
            return "an example in a comment"
    if kind in ("markdown", "text", "xml") and (
        b"![" in raw
        or b"<img" in raw
        or b"<source" in raw
        or b"srcset=" in raw
        or b"badge" in raw
        or b"shields.io" in raw
    ):
        return "a badge or image link"
    if _MOCK_NOTE.search(raw):
        return "a line marked as a mock or example"
    return ""


# a trailing comment that says the value is not real
_MOCK_NOTE = lazy.compile(
    rb"(?i)(?:#|//|/\*|<!--)[^\n\"']{0,60}\b(?:mock|dummy|fake|example|sample|placeholder|"
    rb"not a real|not real)\b"
)


@lru_cache(maxsize=1)
def _masker() -> Scanner:
    return Scanner()


def mask_secrets(text: str) -> str:
    """The text with every provider-format secret in it masked: for messages that name a
    path or a value a user gave (``file 'AKIA....txt' is empty``)."""
    return _masker().masked_path(text)


def _fenced_blocks(data: bytes) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each fenced code block of a Markdown file."""
    blocks = []
    opened: tuple[int, str] | None = None
    for m in _FENCE.finditer(data):
        if opened is None:
            lang = m.group(1).decode("ascii", "replace").lower()
            opened = (m.end(), FENCE_KINDS.get(lang, "config" if not lang else "text"))
        else:
            blocks.append((opened[0], m.start(), opened[1]))
            opened = None
    return blocks


def _kind_at(blocks: list[tuple[int, int, str]], pos: int) -> str:
    for start, end, kind in blocks:
        if start <= pos < end:
            return kind
    return "text"


def _flatten_cells(data: bytes) -> bytes:
    """A CSV whose quoted cells run over line breaks, with each such cell on one line
    (its breaks removed, then put back after the cell so later lines keep their
    numbers)."""
    out = bytearray()
    last = 0
    for m in _QUOTED_CELL.finditer(data):
        cell = m.group()
        if b"\n" not in cell:
            continue
        out += data[last : m.start()]
        out += cell.replace(b"\r", b"").replace(b"\n", b"")
        out += b"\n" * cell.count(b"\n")
        last = m.end()
    out += data[last:]
    return bytes(out)


_PER_LINE = 20


def _merge(kept: list[Hit], hit: Hit) -> None:
    """One finding per secret on a line: overlapping values keep the more specific rule
    (at most 20 a line: more say nothing new, and comparing them all would cost n^2)."""
    if len(kept) >= _PER_LINE:
        return
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
    if password.isdigit():  # host:port@ is not a password
        return False
    # ``models://scope:prefix@host``: a URI template's words, not credentials
    user = m.group("user").decode("utf-8", "replace")
    return not (re.fullmatch(r"[a-z]{1,12}", password) and re.fullmatch(r"[a-z]{1,12}", user))


def _csv_column_hits(data: bytes) -> Iterator[Hit]:
    """Cells under a secret-named header column (``name,api_key,...``): for a plain CSV
    with a few such columns, one RE2 pass per column picks out the cells long enough to be
    a secret; a quoted CSV, or one with many such columns, is read row by row."""
    first_end = data.find(b"\n")
    if first_end == -1:
        return
    header = data[:first_end].decode("utf-8", "replace")
    delimiter = "\t" if header.count("\t") > header.count(",") else ","
    names = _csv_cells(header)
    secret_columns = {i: n for i, cell in enumerate(names) if (n := classify(cell.strip()))}
    if not secret_columns:
        return
    why = {i: f"a value in the column {names[i].strip()!r}" for i in secret_columns}
    if b'"' in data or len(secret_columns) > 8 or max(secret_columns) > 200:
        offset = first_end + 1
        for raw in data[offset:].split(b"\n"):
            cells = _csv_cells(raw.decode("utf-8", "replace").rstrip("\r"))
            for i, name in secret_columns.items():
                if i < len(cells):
                    hit = _column_value(name, cells[i], offset, why[i])
                    if hit is not None:
                        yield hit
            offset += len(raw) + 1
        return
    d = re.escape(delimiter).encode()
    for i, name in secret_columns.items():
        shortest = 4 if name.family == "password" else 6
        cell = rb"[^" + d + rb"\n]*"
        rx = re2.compile(
            rb"(?m)^(?:" + cell + d + rb"){%d}[ \t]*([^" % i + d + rb"\n]{%d,})" % shortest
        )
        for m in rx.finditer(data, first_end + 1):
            hit = _column_value(name, m.group(1).decode("utf-8", "replace"), m.start(), why[i])
            if hit is not None:
                yield hit


def _column_value(name: _Name, raw: str, offset: int, why: str) -> Hit | None:
    value = raw.strip()
    shortest = 4 if name.family == "password" else 6
    if len(value) < shortest or len(value) > 4096:
        return None
    if not value_is_secret(name, value, bare=True):
        # a note around the value (``rotated: <value>``): its longest word
        value = max(re.split(r"[\s:=]+", value), key=len)
        if not looks_random(value, strict=True):
            return None
    if len(value) >= shortest and value_is_secret(name, value, bare=True):
        return Hit(offset, name.rule, value, 1, confidence_of(name, value), why)
    return None


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
