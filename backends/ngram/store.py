"""The offline engine's index on disk, so that a workspace opened again is ready at once.

One file per workspace: a magic line, the length of a JSON header, the header (format version,
paths, stamps, sizes, the thresholds calibrated on the workspace, a CRC of the rest), then the
vocabulary and each family's token data, file starts and suffix array as raw bytes. Anything
unexpected (another format version, a truncated or corrupt file, another byte order) raises
CacheError: the caller builds anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import zlib
from array import array
from pathlib import Path
from typing import Any

from infill.backends.ngram.index import CODE_BYTES, CONTEXT_TOKENS, Base, Corpus, Stamp
from infill.backends.ngram.tuning import Calibration

MAGIC = b"infill-ngram\n"
# Bump when the lexer, the token layout or this format changes: old files are then rebuilt.
FORMAT_VERSION = 1
_LENGTH_BYTES = 8


class CacheError(Exception):
    """The file cannot be used (missing, old, corrupt); the index must be built."""


def cache_path(root: str | os.PathLike[str]) -> Path:
    """Where the index of the workspace at `root` is kept: under $XDG_CACHE_HOME/infill
    (~/.cache/infill), named by a hash of the root's path."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(os.fsencode(os.path.abspath(root))).hexdigest()[:16]
    name = f"{Path(root).name or 'root'}-{digest}.bin"
    return Path(base) / "infill" / "ngram" / name


def _encode_texts(texts: list[str]) -> tuple[bytes, bytes]:
    encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    return array("I", map(len, encoded)).tobytes(), b"".join(encoded)


def _decode_texts(lengths: bytes, blob: bytes) -> list[str]:
    sizes = array("I")
    sizes.frombytes(lengths)
    texts = []
    at = 0
    for size in sizes:
        texts.append(blob[at : at + size].decode("utf-8", "surrogatepass"))
        at += size
    if at != len(blob):
        raise CacheError("vocabulary sizes do not add up")
    return texts


def write(path: Path, texts: list[str], base: Base) -> None:
    """Save the vocabulary and the base, atomically (a reader never sees half a file)."""
    lengths, blob = _encode_texts(texts)
    blobs = [lengths, blob]
    families: list[dict[str, Any]] = []
    for family, corpus in sorted(base.corpora.items()):
        if corpus.suffixes is None:
            raise ValueError("only corpora with a suffix array are saved")
        starts, suffixes = corpus.starts.tobytes(), corpus.suffixes.tobytes()
        blobs += [corpus.data, starts, suffixes]
        families.append(
            {
                "family": family,
                "paths": corpus.paths,
                "stamps": [base.stamps.get(p) for p in corpus.paths],
                "dead": sorted(corpus.dead),
                "sizes": [len(corpus.data), len(starts), len(suffixes)],
            }
        )
    crc = 0
    for part in blobs:
        crc = zlib.crc32(part, crc)
    header = {
        "version": FORMAT_VERSION,
        "context_tokens": CONTEXT_TOKENS,
        "code_bytes": CODE_BYTES,
        "byteorder": sys.byteorder,
        "vocabulary": [len(lengths), len(blob)],
        "families": families,
        "calibrations": {f: c.to_json() for f, c in sorted(base.calibrations.items())},
        "crc": crc,
    }
    encoded = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name, delete=False) as out:
        try:
            out.write(MAGIC + len(encoded).to_bytes(_LENGTH_BYTES, "big") + encoded)
            for part in blobs:
                out.write(part)
            out.close()
            os.replace(out.name, path)
        except BaseException:
            os.unlink(out.name)
            raise


def read(path: Path) -> tuple[list[str], Base]:
    """The vocabulary and base saved at `path`; CacheError when they cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CacheError(f"cannot read {path}: {exc}") from None
    try:
        return _parse(data)
    except CacheError:
        raise
    except Exception as exc:  # whatever a damaged file makes the parsing trip over
        raise CacheError(f"unreadable: {type(exc).__name__}: {exc}") from None


def _header(data: bytes) -> tuple[dict[str, Any], int]:
    """The header at the start of `data`, and where the rest begins."""
    if not data.startswith(MAGIC):
        raise CacheError("not an index file")
    at = len(MAGIC)
    size = int.from_bytes(data[at : at + _LENGTH_BYTES], "big")
    at += _LENGTH_BYTES
    header = json.loads(data[at : at + size])
    if not isinstance(header, dict):
        raise CacheError("not an index file")
    return header, at + size


def read_calibrations(path: Path) -> dict[str, Calibration]:
    """The calibrations saved with the index at `path`, without reading the index; CacheError
    when the file cannot be used."""
    try:
        with path.open("rb") as file:
            start = file.read(len(MAGIC) + _LENGTH_BYTES)
            size = int.from_bytes(start[len(MAGIC) :], "big")
            header, _ = _header(start + file.read(size))
        return _calibrations(header)
    except CacheError:
        raise
    except Exception as exc:  # a missing or damaged file
        raise CacheError(f"unreadable: {type(exc).__name__}: {exc}") from None


def _calibrations(header: dict[str, Any]) -> dict[str, Calibration]:
    found = header.get("calibrations", {})
    return {str(family): Calibration.from_json(c) for family, c in found.items()}


def _parse(data: bytes) -> tuple[list[str], Base]:
    header, at = _header(data)
    expected = {
        "version": FORMAT_VERSION,
        "context_tokens": CONTEXT_TOKENS,
        "code_bytes": CODE_BYTES,
        "byteorder": sys.byteorder,
    }
    if any(header.get(key) != value for key, value in expected.items()):
        raise CacheError("written by another version")
    body = memoryview(data)[at:]
    if zlib.crc32(body) != header["crc"]:
        raise CacheError("checksum mismatch")

    def take(count: int) -> bytes:
        nonlocal at
        if count < 0 or at + count > len(data):
            raise CacheError("truncated")
        part = data[at : at + count]
        at += count
        return part

    texts = _decode_texts(*(take(n) for n in header["vocabulary"]))
    corpora: dict[str, Corpus] = {}
    stamps: dict[str, Stamp | None] = {}
    for entry in header["families"]:
        data_size, starts_size, suffixes_size = entry["sizes"]
        tokens = take(data_size)
        starts, suffixes = array("I"), array("I")
        starts.frombytes(take(starts_size))
        suffixes.frombytes(take(suffixes_size))
        paths = [str(p) for p in entry["paths"]]
        if len(tokens) % CODE_BYTES or len(starts) != len(paths):
            raise CacheError("inconsistent sizes")
        if len(suffixes) != len(tokens) // CODE_BYTES - len(paths):
            raise CacheError("inconsistent suffix array")
        corpora[entry["family"]] = Corpus(tokens, starts, paths, suffixes, set(entry["dead"]))
        for path, stamp in zip(paths, entry["stamps"], strict=True):
            stamps[path] = (int(stamp[0]), int(stamp[1])) if stamp is not None else None
    if at != len(data):
        raise CacheError("trailing bytes")
    return texts, Base(corpora, stamps, _calibrations(header))
