"""What the rules read: a file's bytes turned into the views that hold its text.

A compressed file or an archive (gzip, bzip2, xz, zip, tar) is opened and each member is
a view of its own (``outer.zip!inner/trades.csv``), with bounded decompression: past
:data:`MAX_EXPANDED` bytes, or a ratio over :data:`MAX_RATIO` once past
:data:`RATIO_FLOOR`, the file is refused (:class:`ScanLimitError`), never scanned
forever. Text is decoded by its byte-order mark, or as UTF-16/32 when its NUL bytes
fall where those encodings put them, and handed on as UTF-8 (line breaks stay where
they were, so line numbers hold). A file is binary by the share of control bytes in its
head, not by one NUL; a binary view is still searched for provider formats.

Encoded blobs: :func:`decoded_blobs` finds base64 and hex runs of plausible length whose
bytes decode to text (scanned like the file, on the blob's line), and :func:`der_private_key`
recognises a private key by its DER structure, so a PEM body without its BEGIN/END lines
is still a private key.
"""

from __future__ import annotations

import base64
import binascii
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import re2

from pytest_artifact_store.errors import ArtifactStoreError

MAX_EXPANDED = 256 * 1024 * 1024  # bytes one file may expand to, all members together
MAX_RATIO = 200  # expanded / compressed, once past RATIO_FLOOR
RATIO_FLOOR = 8 * 1024 * 1024
MAX_DEPTH = 4  # archives inside archives
MAX_MEMBERS = 20_000
SNIFF = 8192
_CHUNK = 1 << 20


class ScanLimitError(ArtifactStoreError):
    """A file that cannot be scanned within the limits (a decompression bomb, an archive
    too deep or with too many members): refused, since it cannot be shown to be clean."""


@dataclass(frozen=True)
class View:
    """A file, or a member of an archive in it, as the scanner reads it."""

    path: str  # the file, or ``archive!member``
    data: bytes  # UTF-8 text, or the raw bytes of a binary view
    text: bool


class _Budget:
    """Bytes one top-level file may still expand to."""

    def __init__(self, path: str, compressed: int) -> None:
        self.path = path
        self.compressed = max(compressed, 1)
        self.expanded = 0
        self.members = 0

    def count(self, members: int, where: str) -> None:
        """Members of archives, nested ones included, one file may hold."""
        self.members += members
        if self.members > MAX_MEMBERS:
            raise ScanLimitError(
                f"{where}: more than {MAX_MEMBERS} archive members; too many to scan"
            )

    def take(self, n: int, where: str) -> None:
        self.expanded += n
        if self.expanded > MAX_EXPANDED:
            self._refuse(where, f"expands past {MAX_EXPANDED // (1024 * 1024)} MiB")
        if self.expanded > RATIO_FLOOR and self.expanded > MAX_RATIO * self.compressed:
            self._refuse(where, f"expands more than {MAX_RATIO}x its size (a decompression bomb?)")

    def _refuse(self, where: str, why: str) -> None:
        raise ScanLimitError(
            f"{where}: {why}; it cannot be scanned for secrets, so it is refused -- store it "
            "uncompressed or split it into smaller files"
        )


def views(data: bytes, path: str) -> Iterator[View]:
    """Every view of a file: itself, or its decompressed members, each decoded."""
    yield from _views(data, path, _Budget(path, len(data)), 0)


def _views(data: bytes, path: str, budget: _Budget, depth: int) -> Iterator[View]:
    kind = _container(data)
    if kind is None:
        yield decode_text(data, path)
        return
    # the archive modules are imported when an archive is met: most scans never need them
    import lzma
    import tarfile
    import zipfile

    if depth >= MAX_DEPTH:
        raise ScanLimitError(
            f"{path}: archives nested more than {MAX_DEPTH} deep cannot be scanned for "
            "secrets; store the inner files themselves"
        )
    try:
        if kind in ("gzip", "bzip2", "xz"):
            inner = _decompress(kind, data, path, budget)
            base = path.rsplit("!", 1)[-1].rsplit("/", 1)[-1]
            name = base.rsplit(".", 1)[0] if "." in base else base
            yield from _views(inner, f"{path}!{name}", budget, depth + 1)
        elif kind == "zip":
            yield from _zip_views(data, path, budget, depth)
        else:
            yield from _tar_views(data, path, budget, depth)
    except (
        zipfile.BadZipFile,
        tarfile.TarError,
        NotImplementedError,  # zipfile: a compression it has no codec for (Deflate64)
        ValueError,
        OSError,
        EOFError,
        zlib.error,
        lzma.LZMAError,
    ) as exc:
        # an archive that cannot be read cannot be shown clean
        raise ScanLimitError(
            f"{path}: cannot be read as a {kind} archive ({exc}), so it cannot be scanned for "
            "secrets; store the files themselves, or repair the archive"
        ) from None


def _container(data: bytes) -> str | None:
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:3] == b"BZh" and data[3:4].isdigit():
        return "bzip2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if data[257:262] == b"ustar":
        return "tar"
    return None


def _decompress(kind: str, data: bytes, path: str, budget: _Budget) -> bytes:
    out = bytearray()
    if kind == "gzip":
        src = io.BytesIO(data)
        while True:  # concatenated gzip members, each bounded
            rest = src.read()
            if not rest.strip(b"\x00"):
                break
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                chunk = d.decompress(rest, _CHUNK)
                while True:
                    budget.take(len(chunk), path)
                    out += chunk
                    if d.eof or not (d.unconsumed_tail or chunk):
                        break
                    chunk = d.decompress(d.unconsumed_tail, _CHUNK)
            except zlib.error:
                if not out:
                    raise OSError("not a gzip stream") from None
                break  # damaged past this point: what came out is scanned
            if not d.eof:
                break  # truncated: what came out is scanned (zcat shows it too)
            src = io.BytesIO(d.unused_data)
        return bytes(out)
    import bz2
    import lzma

    reader = bz2.BZ2File if kind == "bzip2" else lzma.LZMAFile
    with reader(io.BytesIO(data)) as fh:
        while chunk := _read_some(fh, bool(out)):
            budget.take(len(chunk), path)
            out += chunk
    return bytes(out)


def _read_some(fh: IO[bytes], partial: bool) -> bytes:
    """A chunk; a damaged or truncated stream ends the data once some came out."""
    import lzma

    try:
        return fh.read(_CHUNK)
    except (EOFError, OSError, lzma.LZMAError):
        if partial:
            return b""
        raise


def _zip_views(data: bytes, path: str, budget: _Budget, depth: int) -> Iterator[View]:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        budget.count(len(members), path)
        if len({m.header_offset for m in members}) < len(members):
            raise ScanLimitError(
                f"{path}: entries overlap (a zip bomb?); it cannot be scanned for secrets"
            )
        for member in members:
            where = f"{path}!{member.filename}"
            if member.flag_bits & 0x1:
                raise ScanLimitError(
                    f"{where}: encrypted, so it cannot be scanned for secrets; store it "
                    "unencrypted (and keep secrets out of it)"
                )
            out = bytearray()
            try:
                with archive.open(member) as fh:
                    while chunk := fh.read(_CHUNK):
                        budget.take(len(chunk), where)
                        out += chunk
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                if not out:  # nothing came out of it: it cannot be shown clean
                    raise ScanLimitError(
                        f"{where}: cannot be read ({exc}); it cannot be scanned for secrets"
                    ) from None
            yield from _views(bytes(out), where, budget, depth + 1)


def _tar_views(data: bytes, path: str, budget: _Budget, depth: int) -> Iterator[View]:
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive:
            budget.count(1, path)
            if not member.isfile():
                continue
            where = f"{path}!{member.name}"
            budget.take(member.size, where)
            fh = archive.extractfile(member)
            if fh is not None:
                yield from _views(fh.read(), where, budget, depth + 1)


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


# control bytes other than tab, line feed, form feed, carriage return and escape
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27)) + b"\x7f"


def decode_text(data: bytes, path: str) -> View:
    """The file as UTF-8 text when it is text in any common encoding; else binary."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return View(path, _transcode(data[len(bom) :], encoding), True)
    head = data[:SNIFF]
    if head.count(0) * 4 > len(head):  # a quarter NULs: UTF-16/32 without a BOM?
        wide = _wide_encoding(head)
        if wide is not None:
            return View(path, _transcode(data, wide), True)
    control = len(head) - len(head.translate(None, _CONTROL))
    return View(path, data, control * 10 <= len(head))


def _wide_encoding(head: bytes) -> str | None:
    n = len(head) - len(head) % 4
    if n < 8:
        return None
    lanes = [head[i:n:4].count(0) * 4 / n for i in range(4)]
    if lanes[1] > 0.9 and lanes[2] > 0.9 and lanes[3] > 0.9:
        return "utf-32-le"
    if lanes[0] > 0.9 and lanes[1] > 0.9 and lanes[2] > 0.9:
        return "utf-32-be"
    # (text with some non-Latin lines: fewer zero high bytes, still far more than low)
    if min(lanes[1], lanes[3]) > 0.6 and max(lanes[0], lanes[2]) < 0.2:
        return "utf-16-le"
    if min(lanes[0], lanes[2]) > 0.6 and max(lanes[1], lanes[3]) < 0.2:
        return "utf-16-be"
    return None


def _transcode(data: bytes, encoding: str) -> bytes:
    return data.decode(encoding, "replace").encode("utf-8", "replace")


# Runs worth decoding: base64 (standard or URL-safe) or hex of 25+ characters (one
# simple DFA pass); a run needs a digit or ``+`` among its characters, or ``=`` padding,
# before it is decoded, so identifiers and paths cost next to nothing. (Unpadded random
# base64 of 25 characters has neither about one time in 110.)
BLOB_PATTERN = rb"[A-Za-z0-9+/_\-]{25,}={0,2}"  # a base64 or hex run worth decoding
_BLOB = re2.compile(BLOB_PATTERN)


_NOT_SPECIAL = bytes(range(256)).translate(None, b"0123456789+=")


_MAX_BLOB = 1 << 20


# base64 wrapped over lines (``base64`` wraps at 76 columns, PEM at 64)
_WRAPPED = re2.compile(rb"(?m)(?:^[A-Za-z0-9+/]{60,76}\r?\n)+[A-Za-z0-9+/]{1,76}={0,2}$")


def decoded_blobs(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(offset, run, decoded bytes) for every base64/hex run whose bytes are text or DER,
    and for base64 wrapped over lines (reported on its first line)."""
    seen: set[bytes] = set()
    wrapped = False
    for m in _BLOB.finditer(data):
        raw = m.group()
        if 60 <= len(raw) <= 76 and data[m.end() : m.end() + 1] in (b"\n", b"\r"):
            wrapped = True  # a full line of base64: it may go on over the next lines
        if len(raw) > _MAX_BLOB or raw in seen or not _plausible_blob(raw):
            continue
        seen.add(raw)
        decoded = decode_blob(raw)
        if decoded is not None:
            yield m.start(), raw, decoded
    if not wrapped:
        return
    for m in _WRAPPED.finditer(data):
        raw = m.group()
        if len(raw) <= _MAX_BLOB:
            joined = raw.replace(b"\r", b"").replace(b"\n", b"")
            decoded = decode_blob(joined)
            if decoded is not None and not decoded.startswith(b"\x30"):
                yield m.start(), joined, decoded  # (DER bodies: their first line says it)


def _plausible_blob(raw: bytes) -> bool:
    """Cheap checks before decoding: a ``snake_case_name``, a ``path/to/module`` or a
    UUID does not need decoding."""
    if len(raw) == 36 and raw.count(b"-") == 4:
        return False  # a UUID
    if len(raw.translate(None, _NOT_SPECIAL)) == 0:
        return False  # letters alone (and / - _): an identifier or a path
    if raw.islower() and (b"_" in raw or b"/" in raw or b"-" in raw):
        return not raw.strip(b"0123456789abcdef")  # lower-case words; hex stays
    return True


def decode_blob(raw: bytes) -> bytes | None:
    """The bytes a base64 or hex run stands for, when they are text or a DER structure."""
    out: bytes | None = None
    if raw[:2] in (b"0x", b"0X"):
        raw = raw[2:]
    if len(raw) % 2 == 0 and not raw.strip(b"0123456789abcdefABCDEF"):
        try:
            out = binascii.unhexlify(raw)
        except binascii.Error:
            out = None
    if out is None:
        body = raw.rstrip(b"=")
        alphabet = b"-_" if (b"-" in body or b"_" in body) else b"+/"
        if (alphabet == b"-_" and (b"+" in body or b"/" in body)) or len(body) % 4 == 1:
            return None
        try:
            out = base64.b64decode(body + b"=" * (-len(body) % 4), altchars=alphabet)
        except (binascii.Error, ValueError):
            return None
    if out[:1] == b"\x30" or out.startswith(b"openssh-key-v1\x00"):
        return out
    return out if _texty(out) else None


def _texty(data: bytes) -> bool:
    """Printable text (UTF-8), not random bytes that happened to decode."""
    if len(data) < 12:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return printable >= 0.97 * len(text)


def der_private_key(data: bytes) -> bool:
    """A private key in DER (PKCS#1 RSA/DSA, PKCS#8, SEC1 EC, PKCS#12) or OpenSSH form.

    Private keys are a SEQUENCE whose first element is a small version INTEGER; a
    certificate or public key starts with a SEQUENCE or an OID instead.
    """
    if data.startswith(b"openssh-key-v1\x00"):
        return True
    if len(data) < 48 or data[0] != 0x30:
        return False
    i = 1
    first = data[i]
    if first & 0x80:
        n = first & 0x7F
        if n == 0 or n > 3:
            return False
        length = int.from_bytes(data[i + 1 : i + 1 + n], "big")
        i += 1 + n
    else:
        length = first
        i += 1
    if length < 40:  # the outer length only: a prefix of the key (one line of it) counts
        return False
    # INTEGER, length 1, version 0 (PKCS#1/PKCS#8/DSA), 1 (SEC1 EC, PKCS#8 v2) or 3 (PFX)
    if data[i : i + 2] != b"\x02\x01" or data[i + 2] not in (0, 1, 3):
        return False
    following = data[i + 3 : i + 4]
    return following in (b"\x02", b"\x30", b"\x04")
