"""The offline engine's index: the workspace's code as token ids, searchable for any sequence of
up to CONTEXT_TOKENS tokens, with what followed each occurrence.

Each token is a 3-byte big-endian id, so a file is a `bytes` string that can be compared and
searched with the C-speed operations of `bytes`, and byte order is token order. Files of one
language family are joined, each followed by a separator, into one corpus.

Two layers, as in a log-structured store:
- the base: one corpus per family with a suffix array (the token positions sorted by the
  CONTEXT_TOKENS tokens from each), so the occurrences of a sequence are a range found by binary
  search; built in the background, saved in the user's cache, loaded at start-up;
- live files: those changed since the base was built (edits, saves, files changed on disk),
  searched by scanning (`bytes.find`), and shadowing their version in the base. When they grow
  large the base is built again with them (`snapshot`, `build` in a worker, `install`).

The index never reads files: the server hands it their text (it owns the workspace walk and the
ignore rules).
"""

from __future__ import annotations

import bisect
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from infill.backends.ngram.lexer import lexer_for, tokenize
from infill.backends.ngram.tuning import Calibration

CODE_BYTES = 3
SEPARATOR = bytes(CODE_BYTES)  # id 0: ends every file, never a token
MAX_TOKENS = 1 << (8 * CODE_BYTES)
# The longest context searched for, in tokens: the suffix array orders suffixes by this many.
CONTEXT_TOKENS = 16
# Live files are scanned at every request: past this many bytes of them, rebuild the base.
LIVE_BYTES_LIMIT = 600_000
# Matches of one sequence collected from live files, at most: each costs a `find` from Python,
# and the first ones serve as a sample as well as any.
MAX_SCANNED = 64
# Occurrences in files shadowed by a newer version (the document being edited, as it was) are
# not counted, in ranges up to this many: past it they hardly change the count.
COUNTED_DEAD = 64

# A file's version on disk: modification time (ns) and size. None: text from the editor.
Stamp = tuple[int, int]


class VocabularyFull(Exception):
    """More distinct tokens than CODE_BYTES can number."""


class Vocabulary:
    """Token texts and their ids; ids are never reused, so encoded files stay valid."""

    def __init__(self, texts: Sequence[str] = ("",)) -> None:
        self.texts: list[str] = list(texts)
        self.codes: dict[str, bytes] = {
            text: i.to_bytes(CODE_BYTES, "big") for i, text in enumerate(self.texts) if i
        }
        self._lock = threading.Lock()  # workers and the event loop add tokens

    def encode(self, tokens: Iterable[str]) -> bytes:
        codes = self.codes
        out = []
        for token in tokens:
            code = codes.get(token)
            if code is None:
                code = self._add(token)
            out.append(code)
        return b"".join(out)

    def _add(self, token: str) -> bytes:
        with self._lock:
            code = self.codes.get(token)
            if code is None:
                if len(self.texts) >= MAX_TOKENS:
                    raise VocabularyFull(f"more than {MAX_TOKENS - 1} distinct tokens")
                code = len(self.texts).to_bytes(CODE_BYTES, "big")
                self.texts.append(token)
                self.codes[token] = code
            return code

    def lookup(self, token: str) -> bytes | None:
        """The id of a known token, without adding it."""
        return self.codes.get(token)


def suffix_array(data: bytes, depth: int = CONTEXT_TOKENS) -> array[int]:
    """The token positions of `data` (separators left out) sorted by the `depth` tokens from
    each. Bucketed by first token, so only one bucket's sort keys exist at a time."""
    width = CODE_BYTES
    buckets: dict[bytes, array[int]] = {}
    for position in range(len(data) // width):
        code = data[position * width : position * width + width]
        bucket = buckets.get(code)
        if bucket is None:
            bucket = buckets[code] = array("I")
        bucket.append(position)
    buckets.pop(SEPARATOR, None)
    span = depth * width
    ordered = array("I")
    for code in sorted(buckets):
        bucket = buckets.pop(code)
        if len(bucket) > 1:
            ordered.extend(sorted(bucket, key=lambda p: data[p * width + width : p * width + span]))
        else:
            ordered.extend(bucket)
    return ordered


@dataclass
class Corpus:
    """The files of one family, joined, each followed by SEPARATOR; with a suffix array, or
    none (live files: scanned)."""

    data: bytes
    starts: array[int]  # the token position of each file's first token
    paths: list[str]
    suffixes: array[int] | None = None
    dead: set[int] = field(default_factory=set)  # files shadowed by a newer version, or gone

    @classmethod
    def join(cls, files: Sequence[tuple[str, bytes]], indexed: bool) -> Corpus:
        starts = array("I")
        position = 0
        for _, data in files:
            starts.append(position)
            position += len(data) // CODE_BYTES + 1
        data = b"".join(part for _, data in files for part in (data, SEPARATOR))
        paths = [path for path, _ in files]
        return cls(data, starts, paths, suffix_array(data) if indexed else None)

    @property
    def tokens(self) -> int:
        return len(self.data) // CODE_BYTES

    def file_at(self, position: int) -> int:
        return bisect.bisect_right(self.starts, position) - 1

    def file_bounds(self, index: int) -> tuple[int, int]:
        """The token positions of file `index`: its first, and the one after its last."""
        end = self.starts[index + 1] if index + 1 < len(self.starts) else self.tokens
        return self.starts[index], end - 1  # its separator left out

    def file_data(self, index: int) -> bytes:
        """The encoded tokens of file `index`."""
        start, end = self.file_bounds(index)
        return self.data[start * CODE_BYTES : end * CODE_BYTES]

    def find(self, pattern: bytes, scan_limit: int = MAX_SCANNED) -> Matches:
        """The occurrences of `pattern` (at most CONTEXT_TOKENS tokens); of a corpus without
        a suffix array, the first `scan_limit`."""
        if self.suffixes is None:
            return Matches(self, 0, 0, self._scan(pattern, scan_limit), scan_limit)
        lo, hi = self._range(pattern)
        dead = 0
        if self.dead and hi - lo <= COUNTED_DEAD:
            suffixes, dead_files = self.suffixes, self.dead
            dead = sum(self.file_at(suffixes[i]) in dead_files for i in range(lo, hi))
        return Matches(self, lo, hi, dead_hits=dead)

    def _range(self, pattern: bytes) -> tuple[int, int]:
        assert self.suffixes is not None
        data, size = self.data, len(pattern)

        def key(position: int) -> bytes:
            offset = position * CODE_BYTES
            return data[offset : offset + size]

        lo = bisect.bisect_left(self.suffixes, pattern, key=key)
        hi = bisect.bisect_right(self.suffixes, pattern, lo=lo, key=key)
        return lo, hi

    def _scan(
        self, pattern: bytes, limit: int, start: int = 0, end: int | None = None
    ) -> list[int]:
        """The token positions of the first `limit` occurrences of `pattern` that lie between
        the token positions `start` and `end`."""
        found: list[int] = []
        find = self.data.find
        stop = len(self.data) if end is None else end * CODE_BYTES
        at = find(pattern, start * CODE_BYTES, stop)
        while at != -1 and len(found) < limit:
            if at % CODE_BYTES == 0:  # else it straddles tokens
                found.append(at // CODE_BYTES)
            at = find(pattern, at + 1, stop)
        return found

    def find_in_file(self, pattern: bytes, file: int, limit: int = MAX_SCANNED) -> list[int]:
        """The token positions of the first `limit` occurrences of `pattern` in file `file`."""
        return self._scan(pattern, limit, *self.file_bounds(file))

    def tokens_from(self, position: int, limit: int) -> list[int]:
        """The ids of up to `limit` tokens from `position`, up to the end of its file."""
        width = CODE_BYTES
        chunk = self.data[position * width : (position + limit) * width]
        ids = [int.from_bytes(chunk[i : i + width], "big") for i in range(0, len(chunk), width)]
        if 0 in ids:
            del ids[ids.index(0) :]
        return ids


@dataclass(frozen=True)
class Matches:
    """Where a sequence occurs in a corpus: a range of its suffix array, or the positions a
    scan found."""

    corpus: Corpus
    lo: int
    hi: int
    scanned: list[int] | None = None
    scan_limit: int = MAX_SCANNED
    dead_hits: int = 0  # of the range, in dead files (counted in ranges up to COUNTED_DEAD)

    @property
    def found(self) -> int:
        """Occurrences found: the range, or the positions scanned."""
        return len(self.scanned) if self.scanned is not None else self.hi - self.lo

    @property
    def count(self) -> int:
        """Occurrences (in live files, up to the scan limit); those in dead files are left
        out of ranges up to COUNTED_DEAD."""
        return self.found - self.dead_hits

    @property
    def capped(self) -> bool:
        """Whether the scan stopped at its limit: `count` is then a lower bound."""
        return self.scanned is not None and len(self.scanned) >= self.scan_limit

    def sample(self, limit: int) -> list[int]:
        """Up to `limit` token positions where the sequence starts, in live files; spread
        evenly over the occurrences, which the suffix array orders by what follows them."""
        corpus = self.corpus
        step = max(self.found / limit, 1.0)
        picks = [int(i * step) for i in range(min(self.found, limit))]
        if self.scanned is not None:
            found = [self.scanned[i] for i in picks]
        else:
            assert corpus.suffixes is not None
            found = [corpus.suffixes[self.lo + i] for i in picks]
        if corpus.dead:
            found = [p for p in found if corpus.file_at(p) not in corpus.dead]
        return found


@dataclass(frozen=True)
class FileTokens:
    family: str
    data: bytes  # encoded tokens
    stamp: Stamp | None


@dataclass(frozen=True)
class Plan:
    """What a rebuild of the base is made of: every file's tokens as of `snapshot`, and the
    version of each at that moment."""

    files: dict[str, FileTokens]
    versions: dict[str, int]


@dataclass(frozen=True)
class Base:
    corpora: dict[str, Corpus]
    stamps: dict[str, Stamp | None]
    # By family: thresholds measured on the workspace's files (kept across rebuilds).
    calibrations: dict[str, Calibration] = field(default_factory=dict)


class NgramIndex:
    """The workspace's files by family: a base with suffix arrays, and live files over it.

    Called from the event loop; only `build` (pure, on a Plan) and `encode` run in workers."""

    def __init__(self) -> None:
        self.vocab = Vocabulary()
        self.base: dict[str, Corpus] = {}
        self.base_stamps: dict[str, Stamp | None] = {}
        self._base_files: dict[str, tuple[str, int]] = {}  # path -> (family, file index)
        self.live: dict[str, FileTokens] = {}
        self._removed: set[str] = set()  # base files deleted since the base was built
        self._live_corpora: dict[str, Corpus] | None = None
        self._versions: dict[str, int] = {}
        self._clock = 0
        self.calibrations: dict[str, Calibration] = {}

    # -- contents --------------------------------------------------------------------------

    def load(self, texts: list[str], base: Base) -> None:
        """Take a saved vocabulary and base (`store.read`); only into an index still empty."""
        if self.live or self.base:
            raise ValueError("an index is loaded before anything is put in it")
        self.vocab = Vocabulary(texts)
        self.install(base)
        self.calibrations = dict(base.calibrations)

    def saved_state(self) -> tuple[list[str], Base]:
        """The vocabulary and base as they are now, for `store.write` in a worker."""
        corpora = {
            family: Corpus(c.data, c.starts, c.paths, c.suffixes, set(c.dead))
            for family, c in self.base.items()
        }
        return list(self.vocab.texts), Base(
            corpora, dict(self.base_stamps), dict(self.calibrations)
        )

    def encode(self, text: str, family: str) -> bytes | None:
        """The encoded tokens of `text` (any line endings), None for a family without a lexer.
        Safe in a worker thread."""
        lexer = lexer_for(family)
        if lexer is None:
            return None
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return self.vocab.encode(tokenize(text, lexer))

    def put(self, path: str, family: str, data: bytes, stamp: Stamp | None = None) -> None:
        """File `path` now has these encoded tokens (from `encode`)."""
        old = self.live.get(path)
        if old is not None and old.data == data and old.family == family:
            self.live[path] = FileTokens(family, data, stamp)  # only the stamp changed
            return
        found = self._base_files.get(path)
        if old is None and found is not None and found[0] == family:
            corpus = self.base[family]
            if found[1] not in corpus.dead and corpus.file_data(found[1]) == data:
                # The base has it already (a document saved or opened unchanged).
                if stamp is not None:
                    self.base_stamps[path] = stamp
                return
        self._shadow(path)
        self.live[path] = FileTokens(family, data, stamp)
        self._changed(path)

    def remove(self, path: str) -> None:
        if path in self.live or path in self._base_files:
            self._shadow(path)
            self.live.pop(path, None)
            if path in self._base_files:
                self._removed.add(path)
            self._changed(path)

    def _shadow(self, path: str) -> None:
        found = self._base_files.get(path)
        if found is not None:
            family, index = found
            self.base[family].dead.add(index)

    def _changed(self, path: str) -> None:
        self._clock += 1
        self._versions[path] = self._clock
        self._live_corpora = None

    def stamp(self, path: str) -> Stamp | None:
        """The disk version the index holds of `path`, None if none (or the editor's text)."""
        live = self.live.get(path)
        if live is not None:
            return live.stamp
        if path in self._removed:
            return None
        return self.base_stamps.get(path)

    def file_tokens(self, path: str) -> int:
        """How many tokens the index holds of file `path`."""
        live = self.live.get(path)
        if live is not None:
            return len(live.data) // CODE_BYTES
        found = self._base_files.get(path)
        if found is None or found[1] in self.base[found[0]].dead:
            return 0
        start, end = self.base[found[0]].file_bounds(found[1])
        return end - start

    def paths(self) -> set[str]:
        base = {p for p in self._base_files if p not in self._removed}
        return base | set(self.live)

    @property
    def live_bytes(self) -> int:
        return sum(len(f.data) for f in self.live.values())

    @property
    def tokens(self) -> int:
        return sum(c.tokens for c in self.base.values()) + self.live_bytes // CODE_BYTES

    def corpora(self, family: str) -> list[Corpus]:
        """Where to look for code of `family`: its base, then its live files."""
        if self._live_corpora is None:
            by_family: dict[str, list[tuple[str, bytes]]] = {}
            for path, tokens in self.live.items():
                by_family.setdefault(tokens.family, []).append((path, tokens.data))
            self._live_corpora = {
                f: Corpus.join(files, indexed=False) for f, files in by_family.items()
            }
        found = [self.base[family]] if family in self.base else []
        live = self._live_corpora.get(family)
        return [*found, live] if live is not None else found

    def document(self, path: str, family: str) -> tuple[Corpus, int] | None:
        """Where the index holds file `path` now: its corpus and its number there."""
        corpora = self.corpora(family)
        live = self.live.get(path)
        if live is not None:
            if live.family != family or corpora[-1].suffixes is not None:
                return None
            return corpora[-1], corpora[-1].paths.index(path)
        found = self._base_files.get(path)
        if found is None or found[0] != family or found[1] in self.base[family].dead:
            return None
        return self.base[family], found[1]

    @contextmanager
    def held_out(self, path: str) -> Iterator[None]:
        """The index without the base file `path` in the block, which may put versions of it
        (as the user would write it); after the block, the base's version is back. For
        measuring, not for an index the server is serving from."""
        family, number = self._base_files[path]
        dead = self.base[family].dead
        if path in self.live or number in dead:
            raise ValueError(f"{path} is not in the base as it is")
        version = self._versions.get(path)
        dead.add(number)
        try:
            yield
        finally:
            dead.discard(number)
            self.live.pop(path, None)
            self._live_corpora = None
            if version is None:
                self._versions.pop(path, None)
            else:
                self._versions[path] = version

    # -- rebuilding the base ---------------------------------------------------------------

    def snapshot(self) -> Plan:
        """Every file's current tokens, for `build` in a worker."""
        files: dict[str, FileTokens] = {}
        for path, (family, index) in self._base_files.items():
            corpus = self.base[family]
            if index not in corpus.dead:
                data = corpus.file_data(index)
                files[path] = FileTokens(family, data, self.base_stamps.get(path))
        files.update(self.live)
        versions = {path: self._versions.get(path, 0) for path in files}
        return Plan(files, versions)

    @staticmethod
    def build(plan: Plan) -> Base:
        """A base of the plan's files (seconds for thousands of files: run it in a worker)."""
        by_family: dict[str, list[tuple[str, bytes]]] = {}
        for path in sorted(plan.files):
            tokens = plan.files[path]
            by_family.setdefault(tokens.family, []).append((path, tokens.data))
        corpora = {family: Corpus.join(files, indexed=True) for family, files in by_family.items()}
        return Base(corpora, {path: tokens.stamp for path, tokens in plan.files.items()})

    def install(self, base: Base, plan: Plan | None = None) -> None:
        """Make `base` the base. Files changed since `plan` was taken stay live over it."""
        self.base = base.corpora
        self.base_stamps = dict(base.stamps)
        self._base_files = {
            path: (family, index)
            for family, corpus in base.corpora.items()
            for index, path in enumerate(corpus.paths)
        }
        versions = plan.versions if plan is not None else {}
        newer = {p for p, v in self._versions.items() if v > versions.get(p, 0)}
        self.live = {p: t for p, t in self.live.items() if p in newer}
        self._removed = {p for p in newer if p not in self.live and p in self._base_files}
        for path in newer:
            self._shadow(path)
        self._live_corpora = None

    def needs_rebuild(self) -> bool:
        """Whether the live files, and the dead ones the base still holds, are many enough
        that a new base would make requests faster and the index smaller."""
        gone = sum(
            end - start
            for corpus in self.base.values()
            for index in corpus.dead
            if corpus.paths[index] not in self.live  # counted once, as live
            for start, end in [corpus.file_bounds(index)]
        )
        return self.live_bytes + gone * CODE_BYTES > LIVE_BYTES_LIMIT
