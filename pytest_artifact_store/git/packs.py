"""Writing objects as one pack (with its ``.idx``), in process, as ``git index-pack``
would leave them: every object whole (no deltas), zlib level 1.

A version's objects go into a pack of their own, marked ``.keep`` until the ref
transaction that makes them reachable is done: ``git prune`` -- even ``--expire=now``,
which takes every unreachable loose object whatever its age -- never deletes packed
objects, and ``git repack``/``gc`` leave kept packs alone, so no maintenance running
beside a commit can take an object between its write and the ref update. Afterwards the
mark goes and ``git gc`` folds these packs into one (``gc.autoPackLimit``).
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import struct
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

CHUNK = 1 << 20
_TMP = ".artifact-store-"  # temp files in objects/pack, renamed when whole
_STALE = 3600  # seconds: a temp file (or our .keep) this old was left by a killed writer
KEEP_MARK = b"artifact-store: kept until the refs that reach it are written\n"
_TYPES = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}
PackObject = tuple[bytes, "bytes | memoryview", str]  # (kind, content, hex id)


def _entry_header(kind: int, size: int) -> bytes:
    out = bytearray([(kind << 4) | (size & 0x0F)])
    size >>= 4
    while size:
        out[-1] |= 0x80
        out.append(size & 0x7F)
        size >>= 7
    return bytes(out)


def write_pack(pack_dir: Path, objects: Sequence[PackObject], hash_name: str) -> Path:
    """Write ``objects`` as ``pack-<checksum>.pack`` + ``.idx`` in ``pack_dir``, kept
    (``.keep``, made first) until the caller removes the mark; the pack appears whole or
    not at all (temp files renamed, the index last). Returns the ``.keep`` path."""
    unique = list({sha: (kind, data, sha) for kind, data, sha in objects}.values())
    pack_dir.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(pack_dir)
    # not "tmp_*": `git prune --expire=now` deletes those, ours included, mid-write
    fd, tmp_pack = tempfile.mkstemp(prefix=_TMP + "pack-", dir=pack_dir)
    tmp_idx = ""
    try:
        with os.fdopen(fd, "wb") as f:
            checksum, entries = _write_entries(f, unique, hash_name)
        fd, tmp_idx = tempfile.mkstemp(prefix=_TMP + "idx-", dir=pack_dir)
        with os.fdopen(fd, "wb") as f:
            f.write(_index(entries, checksum, hash_name))
        name = pack_dir / f"pack-{checksum.hex()}"
        for tmp in (tmp_pack, tmp_idx):
            os.chmod(tmp, 0o444)
        keep = name.with_suffix(".keep")
        keep.write_bytes(KEEP_MARK)
        os.replace(tmp_pack, name.with_suffix(".pack"))
        os.replace(tmp_idx, name.with_suffix(".idx"))
        return keep
    except BaseException:
        for tmp in (tmp_pack, tmp_idx):
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        raise


def _remove_leftovers(pack_dir: Path) -> None:
    """Temp files and ``.keep`` marks of writers killed long ago (never a user's .keep)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(pack_dir):
            ours = entry.name.startswith(_TMP) or entry.name.endswith(".keep")
            with contextlib.suppress(OSError):
                if not ours or time.time() - entry.stat().st_mtime <= _STALE:
                    continue
                if entry.name.endswith(".keep") and Path(entry.path).read_bytes() != KEEP_MARK:
                    continue
                os.unlink(entry.path)


def _write_entries(
    f: object, objects: Sequence[PackObject], hash_name: str
) -> tuple[bytes, list[tuple[bytes, int, int]]]:
    """The pack's bytes into ``f``; returns its checksum and (id, crc32, offset) each."""
    write = f.write  # type: ignore[attr-defined]
    digest = hashlib.new(hash_name)

    def out(data: bytes) -> None:
        digest.update(data)
        write(data)

    out(b"PACK" + struct.pack(">II", 2, len(objects)))
    offset = 12
    entries = []
    for kind, data, sha in objects:
        header = _entry_header(_TYPES[kind], len(data))
        crc = zlib.crc32(header)
        out(header)
        length = len(header)
        comp = zlib.compressobj(1)
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            piece = comp.compress(view[start : start + CHUNK])
            if piece:
                crc = zlib.crc32(piece, crc)
                out(piece)
                length += len(piece)
        piece = comp.flush()
        crc = zlib.crc32(piece, crc)
        out(piece)
        length += len(piece)
        entries.append((bytes.fromhex(sha), crc, offset))
        offset += length
    checksum = digest.digest()
    write(checksum)
    return checksum, entries


def _index(entries: list[tuple[bytes, int, int]], checksum: bytes, hash_name: str) -> bytes:
    """A version 2 pack index."""
    entries = sorted(entries)
    idx = bytearray(b"\xfftOc" + struct.pack(">I", 2))
    counts = [0] * 256
    for name, _, _ in entries:
        counts[name[0]] += 1
    total = 0
    for count in counts:
        total += count
        idx += struct.pack(">I", total)
    for name, _, _ in entries:
        idx += name
    for _, crc, _ in entries:
        idx += struct.pack(">I", crc & 0xFFFFFFFF)
    large: list[int] = []
    for _, _, offset in entries:
        if offset < 0x80000000:
            idx += struct.pack(">I", offset)
        else:
            idx += struct.pack(">I", 0x80000000 | len(large))
            large.append(offset)
    for offset in large:
        idx += struct.pack(">Q", offset)
    idx += checksum
    idx += hashlib.new(hash_name, bytes(idx)).digest()
    return bytes(idx)


def packed(pack_dir: Path, names: Sequence[bytes]) -> set[bytes]:
    """Which of the object ids ``names`` (raw) a pack in ``pack_dir`` holds, read from the
    packs' version 2 indexes (fan-out table, then a binary search); an index that cannot
    be read counts as holding nothing."""
    found: set[bytes] = set()
    wanted = set(names)
    try:
        indexes = [e.path for e in os.scandir(pack_dir) if e.name.endswith(".idx")]
    except OSError:
        return found
    for path in indexes:
        if not wanted:
            break
        with (
            contextlib.suppress(OSError, ValueError),
            open(path, "rb") as f,
            mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as idx,
        ):
            if idx[:8] != b"\xfftOc\x00\x00\x00\x02":
                continue
            for name in list(wanted):
                if _in_index(idx, name):
                    found.add(name)
                    wanted.discard(name)
    return found


def _in_index(idx: mmap.mmap, name: bytes) -> bool:
    first = name[0]
    low = struct.unpack_from(">I", idx, 8 + 4 * (first - 1))[0] if first else 0
    high = struct.unpack_from(">I", idx, 8 + 4 * first)[0]
    width = len(name)
    base = 8 + 1024
    while low < high:
        mid = (low + high) // 2
        here = idx[base + mid * width : base + (mid + 1) * width]
        if here == name:
            return True
        if here < name:
            low = mid + 1
        else:
            high = mid
    return False
