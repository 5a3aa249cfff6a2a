"""The context engine: documents as the editor holds them, and the indexes kept up to date
while the user types, so that a request only has to look things up.

Sources of snippets, each ranked on its own and then fused:
- similar windows of open and recently closed documents (same language family);
- definitions, from a workspace symbol index, of the identifiers around the cursor;
- the regions the user edited last.
Nothing here touches the network; files that are ignored or look secret are never read.
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from infill.context.credentials import redact_credentials
from infill.context.definitions import Definition, extract_definitions, identifiers_near_cursor
from infill.context.document import Document, Edit
from infill.context.edit_history import EditHistory
from infill.context.edits import RecentEdits, shown_lines
from infill.context.identifiers import identifier_words
from infill.context.ignore import (
    MAX_FILE_BYTES,
    IgnoreRules,
    is_secret_name,
    iter_workspace_files,
    read_source_file,
)
from infill.context.next_edit import ChangeTracker, NextEdit, next_edits
from infill.context.snippets import (
    QUERY_LINES,
    Candidate,
    LineWords,
    Snippet,
    overlaps,
    similar_snippets,
)
from infill.context.syntax import SyntaxTree, get_language, language_family, language_name

MAX_CLOSED = 10  # recently viewed documents kept after they are closed
MAX_CANDIDATE_DOCUMENTS = 20  # the most recently used documents searched for similar code
RRF_K = 10  # reciprocal-rank fusion: small, so a source's first results count clearly more
SOURCE_EXTENSIONS = frozenset(
    ".py .pyi .js .mjs .cjs .jsx .ts .mts .cts .tsx .go .rs .java .c .h .cc .cpp .cxx .hpp .hh"
    " .cs .rb .php .lua .sh .bash".split()
)


def uri_to_path(uri: str) -> str | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return unquote(parsed.path)


@dataclass
class Tracked:
    """A document and what is derived from it."""

    doc: Document
    path: str  # for display: relative to the workspace root when inside it
    language: str | None
    family: str
    private: bool
    words: LineWords
    tree: SyntaxTree | None
    definitions_stale: bool = True
    large: bool = False  # over MAX_FILE_BYTES when opened: no tree, words or definitions
    changes: ChangeTracker = field(default_factory=ChangeTracker)  # the last change, whole


@dataclass(frozen=True)
class Gathered:
    """Ranked snippets and the time each source took (ms), for the prompt and for explain."""

    snippets: list[Snippet]
    timings: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # sources left out for lack of time


class SymbolIndex:
    """Definitions by name, across the workspace; a file's entries are replaced as a whole."""

    def __init__(self) -> None:
        self.by_name: dict[str, list[Definition]] = {}
        self.by_path: dict[str, list[Definition]] = {}
        # Per file, computed once: its language family and its folder's parts (for nearness).
        self.family: dict[str, str] = {}
        self.folder: dict[str, tuple[str, ...]] = {}

    def set_file(self, path: str, definitions: list[Definition]) -> None:
        self.remove_file(path)
        self.by_path[path] = definitions
        self.family[path] = language_family(language_name(None, path))
        self.folder[path] = Path(path).parent.parts
        for definition in definitions:
            self.by_name.setdefault(definition.name, []).append(definition)

    def remove_file(self, path: str) -> None:
        self.family.pop(path, None)
        self.folder.pop(path, None)
        for definition in self.by_path.pop(path, []):
            same = self.by_name.get(definition.name, [])
            same[:] = [d for d in same if d.path != path]
            if not same:
                self.by_name.pop(definition.name, None)

    def lookup(self, name: str) -> list[Definition]:
        return self.by_name.get(name, [])


class ContextEngine:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).resolve() if root else None
        self.rules = IgnoreRules(self.root) if self.root else None
        self.documents: dict[str, Tracked] = {}
        self.closed: OrderedDict[str, Tracked] = OrderedDict()
        self.recently_used: OrderedDict[str, None] = OrderedDict()  # last used last
        self.edits = RecentEdits()
        self.history = EditHistory()  # the last changes as diffs, for next-edit models
        self.symbols = SymbolIndex()

    # -- privacy ---------------------------------------------------------------------------

    def is_private_path(self, path: str | None) -> bool:
        """Never read or send: secret-looking names anywhere, ignored files in the workspace."""
        if path is None:
            return False  # an unsaved buffer has no name to judge by
        if is_secret_name(path):
            return True
        if self.rules is not None and self.root is not None:
            resolved = Path(path).resolve()
            if resolved.is_relative_to(self.root):
                return self.rules.is_ignored(resolved)
        return False

    def display_path(self, path: str | None, uri: str) -> str:
        if path is None:
            return uri
        if self.root is not None:
            resolved = Path(path).resolve()
            if resolved.is_relative_to(self.root):
                return resolved.relative_to(self.root).as_posix()
        return path

    # -- documents -------------------------------------------------------------------------

    def open(self, uri: str, text: str, language_id: str, version: int, encoding: str) -> Tracked:
        doc = Document(uri, text, language_id, version, encoding)
        path = uri_to_path(uri)
        name = language_name(language_id, path)
        grammar = get_language(name) if name else None
        private = self.is_private_path(path)
        # A document too large to index (a log, generated code) is followed, not analysed:
        # parsing it, and reading its definitions at every pause, would take seconds each.
        large = len(text) > MAX_FILE_BYTES
        analysed = not private and not large
        display = self.display_path(path, uri)
        tracked = Tracked(
            doc=doc,
            path=display,
            language=name,
            family=language_family(name),
            private=private,
            words=LineWords(doc.lines_text(0, doc.line_count - 1).split("\n") if analysed else []),
            tree=SyntaxTree(grammar, text) if grammar is not None and analysed else None,
            large=large,
            changes=ChangeTracker(functools.partial(self.history.add, display)),
        )
        self.documents[uri] = tracked
        self.closed.pop(uri, None)
        self.touch(uri)
        return tracked

    def get(self, uri: str) -> Tracked | None:
        return self.documents.get(uri)

    def touch(self, uri: str) -> None:
        self.recently_used[uri] = None
        self.recently_used.move_to_end(uri)

    def apply(
        self, uri: str, text: str, change_range: tuple[tuple[int, int], tuple[int, int]] | None
    ) -> None:
        """One content change; raises InvalidEdit (document unchanged) if it cannot apply."""
        tracked = self.documents[uri]
        edit = tracked.doc.apply_change(text, change_range)
        if not tracked.private:
            self._follow(tracked, edit)
        self.touch(uri)

    def _follow(self, tracked: Tracked, edit: Edit) -> None:
        doc = tracked.doc
        if tracked.large:
            self.edits.record(doc.uri, edit.start_line, edit.old_end_line, edit.new_end_line)
            return
        # One line of margin each side: an edit can join or split a "\r\n" next to it.
        first = max(edit.start_line - 1, 0)
        old_last = min(edit.old_end_line + 1, tracked.words.line_count - 1)
        new_last = min(edit.new_end_line + 1, doc.line_count - 1)
        tracked.words.replace(first, old_last, doc.lines_text(first, new_last).split("\n"))
        if tracked.tree is not None:
            tracked.tree.apply_edit(edit.old_text, edit.start, edit.old_end, doc.text)
            tracked.changes.record(edit, doc.text)
        self.edits.record(doc.uri, edit.start_line, edit.old_end_line, edit.new_end_line)
        tracked.definitions_stale = True

    def close(self, uri: str) -> None:
        tracked = self.documents.pop(uri, None)
        if tracked is None or tracked.private:
            return
        self.closed[uri] = tracked
        while len(self.closed) > MAX_CLOSED:
            old_uri, _ = self.closed.popitem(last=False)
            self.recently_used.pop(old_uri, None)
            self.edits.forget(old_uri)

    def ignore_file_changed(self, path: str) -> None:
        """A .gitignore or .infillignore changed: judge every document and indexed file again,
        so that a file ignored from now on is neither used nor sent."""
        if self.rules is None or self.root is None:
            return
        self.rules.reload(path)
        for uri, tracked in list(self.documents.items()):
            private = self.is_private_path(uri_to_path(uri))
            if private != tracked.private:
                doc = tracked.doc
                self.open(uri, doc.text, doc.language_id, doc.version, doc.encoding)
                if private:
                    self.edits.forget(uri)
                    self.history.forget(tracked.path)
                    self.symbols.remove_file(tracked.path)
        for uri in [u for u, t in self.closed.items() if self.is_private_path(uri_to_path(u))]:
            del self.closed[uri]
            self.edits.forget(uri)
        for indexed in list(self.symbols.by_path):
            if self.is_private_path(str(self.root / indexed)):
                self.symbols.remove_file(indexed)

    def next_edits(self, uri: str, offset: int) -> list[NextEdit]:
        """The edits the last change implies elsewhere in the document, the next one first."""
        tracked = self.documents.get(uri)
        if tracked is None or tracked.tree is None or tracked.changes.change is None:
            return []
        return next_edits(tracked.changes, tracked.doc.text, tracked.tree.root(), offset)

    # -- definitions -----------------------------------------------------------------------

    def refresh_definitions(self, uri: str) -> None:
        """Re-read the definitions of an open document (after the user paused typing)."""
        tracked = self.documents.get(uri)
        if tracked is None or tracked.private or tracked.large or not tracked.definitions_stale:
            return
        tracked.definitions_stale = False
        if tracked.language is None:
            return
        tree = tracked.tree.tree if tracked.tree is not None else None
        self.symbols.set_file(
            tracked.path,
            extract_definitions(tracked.language, tracked.doc.text, tracked.path, tree),
        )

    def workspace_files(self, sniff: bool = True) -> Iterator[Path]:
        """The workspace's source files (see `iter_workspace_files`)."""
        if self.root is None or self.rules is None:
            return iter(())
        return iter_workspace_files(
            self.root, self.rules, extensions=SOURCE_EXTENSIONS, sniff=sniff
        )

    def read_definitions(self, file: Path) -> tuple[str, list[Definition]] | None:
        """A file's definitions, read from disk. Safe to call from a worker thread."""
        name = language_name(None, str(file))
        if name is None:
            return None
        text = read_source_file(file)
        if text is None:
            return None
        path = self.display_path(str(file), file.as_uri())
        return path, extract_definitions(name, text, path)

    def index_workspace(
        self,
        deliver: Callable[[str, list[Definition]], None],
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Walk the workspace and hand each file's definitions to `deliver` (which runs them
        into the index on the event loop). Runs in a worker thread; returns the file count."""
        files = list(self.workspace_files())
        for done, file in enumerate(files, start=1):
            found = self.read_definitions(file)
            if found is not None:
                deliver(*found)
            if progress is not None and (done % 50 == 0 or done == len(files)):
                progress(done, len(files))
        return len(files)

    def set_file_definitions(self, path: str, definitions: list[Definition]) -> None:
        """From the workspace walk: an open document's live definitions take precedence."""
        if any(t.path == path for t in self.documents.values()):
            return
        self.symbols.set_file(path, definitions)

    # -- gathering -------------------------------------------------------------------------

    def gather(self, uri: str, offset: int, exclude: tuple[int, int], deadline: float) -> Gathered:
        """Snippets for a request at `offset` of `uri`, best first. `exclude` is the line range
        the prompt shows already; `deadline` (time.monotonic()) bounds the work: a source not
        reached in time is left out."""
        tracked = self.documents[uri]
        timings: dict[str, float] = {}
        skipped: list[str] = []
        ranked: list[list[Snippet]] = []
        sources: list[tuple[str, Callable[[], list[Snippet]]]] = [
            ("definitions", lambda: self._definitions(tracked, offset, exclude)),
            ("similar", lambda: self._similar(tracked, offset, exclude)),
            ("recent_edits", lambda: self._recent_edits(tracked, exclude)),
        ]
        for name, source in sources:
            if time.monotonic() >= deadline:
                skipped.append(name)
                continue
            started = time.perf_counter()
            ranked.append(source())
            timings[name] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        fused = fuse(ranked)
        timings["fusion"] = (time.perf_counter() - started) * 1000
        return Gathered(fused, timings, skipped)

    def _definitions(
        self, tracked: Tracked, offset: int, exclude: tuple[int, int]
    ) -> list[Snippet]:
        doc = tracked.doc
        tree = tracked.tree.tree if tracked.tree is not None else None
        names = identifiers_near_cursor(tracked.language, doc.text, offset, tree)
        found: list[Snippet] = []
        seen: set[tuple[str, int]] = set()
        for rank, name in enumerate(names):
            for definition in self._best_definitions(name, tracked):
                key = (definition.path, definition.start_line)
                if key in seen:
                    continue
                same_file = definition.path == tracked.path
                if same_file and overlaps((definition.start_line, definition.end_line), exclude):
                    continue  # the prompt shows it already
                seen.add(key)
                found.append(
                    Snippet(
                        "definition",
                        uri=doc.uri if same_file else "",
                        path=definition.path,
                        start_line=definition.start_line,
                        end_line=definition.end_line,
                        text=definition.text,
                        score=1.0 / (rank + 1),
                    )
                )
        return found

    def _best_definitions(self, name: str, tracked: Tracked) -> list[Definition]:
        """The definitions of `name` worth showing: same language family, nearest path first;
        at most two, since a name defined in many places says little about any of them."""
        symbols = self.symbols
        candidates = [d for d in symbols.lookup(name) if symbols.family[d.path] == tracked.family]
        here = Path(tracked.path).parent.parts
        candidates.sort(key=lambda d: _path_distance(here, symbols.folder[d.path]))
        return candidates[:2]

    def _candidates(self, tracked: Tracked, exclude: tuple[int, int]) -> Iterator[Candidate]:
        used = [uri for uri in reversed(self.recently_used)][:MAX_CANDIDATE_DOCUMENTS]
        for uri in used:
            other = self.documents.get(uri) or self.closed.get(uri)
            if other is None or other.private or other.family != tracked.family:
                continue
            yield Candidate(
                other.doc, other.path, other.words, exclude if other is tracked else None
            )

    def _similar(self, tracked: Tracked, offset: int, exclude: tuple[int, int]) -> list[Snippet]:
        doc = tracked.doc
        line, _ = doc.position_at(offset)
        query_start = doc.line_starts[max(line - QUERY_LINES, 0)]
        query = identifier_words(doc.text[query_start:offset])
        return similar_snippets(query, self._candidates(tracked, exclude))

    def _recent_edits(self, tracked: Tracked, exclude: tuple[int, int]) -> list[Snippet]:
        found: list[Snippet] = []
        for region in self.edits.regions:
            other = self.documents.get(region.uri) or self.closed.get(region.uri)
            if other is None or other.private:
                continue
            span = shown_lines(region, other.doc.line_count)
            if other is tracked and overlaps(span, exclude):
                continue
            found.append(
                Snippet(
                    "recent_edit",
                    uri=region.uri,
                    path=other.path,
                    start_line=span[0],
                    end_line=span[1],
                    text=other.doc.lines_text(*span),
                    score=1.0 / (len(found) + 1),
                )
            )
        return found


def _path_distance(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """Steps between two folders (given as path parts) through their common ancestor."""
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    return len(a) + len(b) - 2 * common


def fuse(ranked: list[list[Snippet]]) -> list[Snippet]:
    """Reciprocal-rank fusion across sources; a snippet overlapping a better one of the same
    file is dropped. The fused score replaces each snippet's own; credentials are redacted."""
    scores: dict[tuple[str, str, int, int], float] = {}
    by_key: dict[tuple[str, str, int, int], Snippet] = {}
    for snippets in ranked:
        for rank, snippet in enumerate(snippets):
            key = (snippet.source, snippet.path, snippet.start_line, snippet.end_line)
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
            by_key.setdefault(key, snippet)
    order = sorted(scores, key=lambda key: -scores[key])
    kept: list[Snippet] = []
    for key in order:
        snippet = by_key[key]
        span = (snippet.start_line, snippet.end_line)
        if any(
            other.path == snippet.path and overlaps(span, (other.start_line, other.end_line))
            for other in kept
        ):
            continue
        kept.append(
            Snippet(
                snippet.source,
                snippet.uri,
                snippet.path,
                snippet.start_line,
                snippet.end_line,
                # Every snippet leaves the engine through here, on its way to a backend.
                redact_credentials(snippet.text),
                round(scores[key], 4),
            )
        )
    return kept
