"""The offline engine's guess: the rest of the line, as the workspace continued the longest
stretch of code that ends like the text before the cursor.

For each context length (up to CONTEXT_TOKENS tokens before the cursor) the index gives the
occurrences of those tokens; what followed each, up to its line end, is a vote. The longest
context with enough agreeing votes wins, backing off to shorter ones while the longer ones have
too few occurrences. The code after the cursor rules out continuations that clash with it (the
rest of the line must end the candidate; the line below must not be repeated) and supports
those that the workspace also followed with the line below the cursor. Below the thresholds
nothing is shown: a wrong suggestion costs the user more than none.

A line is extended to the lines after it while every occurrence that voted for it (two at
least) goes on the same way, up to where the block ends.

Names in scope come first where they know the line (`scope.py`: the next parameter a
constructor stores on `self`, in the file's habit).

Where no line is agreed on, the rest of the line is generated a token at a time (`generate.py`)
and shown when its confidence reaches the threshold of the kind of position (a line start, or
some of the line typed). The thresholds are the workspace's calibration (`calibrate.py`), or
the defaults (`tuning.py`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from infill.backends.ngram.generate import Generated, generate
from infill.backends.ngram.index import (
    CONTEXT_TOKENS,
    MAX_SCANNED,
    Corpus,
    Matches,
    NgramIndex,
)
from infill.backends.ngram.lexer import (
    follow_indent,
    in_long_string,
    indentation,
    is_line_break,
    lexer_for,
    render,
    split_at_cursor,
    tokenize,
)
from infill.backends.ngram.scope import StoredParameter, stored_parameter
from infill.backends.ngram.tuning import (
    DEFAULT_TUNING,
    LINE_START,
    MID_LINE,
    Thresholds,
    Tuning,
)

TAIL_CHARS = 500  # of the prefix: enough for CONTEXT_TOKENS tokens, mostly
SUFFIX_CHARS = 1000  # of the suffix: enough for the rest of the line and the next one
MAX_OCCURRENCES = 32  # occurrences read per context length
LINE_TOKENS = 64  # a longer line is not read (nor suggested)
READ_TOKENS = 16  # tokens decoded at a time: most lines are shorter
MAX_LINES = 8  # of a suggestion extended past its first line


@dataclass(frozen=True)
class Cursor:
    """The text around the cursor as the predictor needs it."""

    tokens: list[str]  # complete tokens before the cursor (the last few lines)
    pending: str  # typed of the next token: the candidate's first token must begin with it
    line_before: str  # the cursor line up to the cursor
    line_after: str  # the rest of the cursor line, stripped
    next_break: str  # the line break token in front of the next non-blank line
    next_line: str  # that line, stripped
    path: str = ""  # the document's path in the index

    @property
    def kind(self) -> str:
        """MID_LINE once some of the line is typed, else LINE_START."""
        return MID_LINE if (self.line_before + self.pending).strip() else LINE_START


@dataclass(frozen=True)
class Vote:
    """What one occurrence says: the rest of the line, and how its code goes on."""

    text: str  # "": the line ends here
    followed: bool  # by the line below the cursor
    corpus: Corpus
    brk: str  # the line break after the line
    after: int  # the position after that


@dataclass
class Level:
    """What followed the occurrences of one context length."""

    context: int  # tokens of context
    count: int  # occurrences in the index
    votes: Counter[str] = field(default_factory=Counter)  # line -> occurrences; "": line ends
    followed: Counter[str] = field(default_factory=Counter)  # ... then the line below
    voters: dict[str, list[Vote]] = field(default_factory=dict)  # line -> its votes

    @property
    def total(self) -> int:
        return self.votes.total()

    def add(self, vote: Vote) -> None:
        self.votes[vote.text] += 1
        self.voters.setdefault(vote.text, []).append(vote)
        if vote.followed:
            self.followed[vote.text] += 1

    def most_voted(self) -> tuple[str, int] | None:
        """The most frequent non-empty line, and its votes."""
        for text, votes in self.votes.most_common():
            if text:
                return text, votes
        return None


@dataclass(frozen=True)
class Choice:
    """The line to show, and the level whose occurrences chose it."""

    level: Level
    text: str


def read_cursor(family: str, prefix: str, suffix: str, path: str = "") -> Cursor | None:
    """None where no suggestion can be made: a family without a lexer, inside a comment or a
    string that spans lines."""
    lexer = lexer_for(family)
    if lexer is None or in_long_string(prefix, lexer):
        return None  # no lexer; a docstring (prose)
    tail = prefix[-TAIL_CHARS:]
    if len(tail) < len(prefix):
        tail = tail[tail.find("\n") + 1 :]  # from a line start
    first_indent = indentation(tail)
    split = split_at_cursor(tail[len(first_indent) :], lexer, first_indent)
    if split is None:
        return None
    tokens, pending = split
    line_before = prefix[prefix.rfind("\n") + 1 :]
    # The code after the cursor as the index has it (comments and blank lines out): the rest
    # of the line, the break to the next line and that line.
    after = tokenize(suffix[:SUFFIX_CHARS], lexer, indentation(line_before))
    breaks = [i for i, token in enumerate(after) if is_line_break(token)] + [len(after)] * 2
    line_after = "".join(after[: breaks[0]]).strip()
    next_break = after[breaks[0]] if breaks[0] < len(after) else ""
    next_line = "".join(after[breaks[0] + 1 : breaks[1]]).strip()
    return Cursor(tokens, pending, line_before, line_after, next_break, next_line, path)


def levels(index: NgramIndex, family: str, cursor: Cursor, min_context: int = 1) -> Iterator[Level]:
    """For each context length from the longest that occurs down to `min_context`, the votes
    of its occurrences. A length with the same occurrences as the longer one before it is left
    out."""
    codes: list[bytes] = []
    for token in reversed(cursor.tokens[-CONTEXT_TOKENS:]):
        code = index.vocab.lookup(token)
        if code is None:
            break  # never seen: no longer context can occur
        codes.append(code)
    codes.reverse()
    corpora = index.corpora(family)

    def find(length: int, scan_limit: int = MAX_SCANNED) -> list[Matches]:
        return [corpus.find(b"".join(codes[-length:]), scan_limit) for corpus in corpora]

    # The occurrences of longer contexts are among those of shorter ones: the longest that
    # occurs is found by halving.
    low, high = min_context - 1, len(codes)
    while low < high:
        middle = (low + high + 1) // 2
        if any(m.count for m in find(middle, scan_limit=1)):
            low = middle
        else:
            high = middle - 1
    previous = None
    read: dict[tuple[int, int], Vote | None] = {}
    for length in range(low, min_context - 1, -1):
        matches = find(length)
        count = sum(m.count for m in matches)
        exact = not any(m.capped for m in matches)
        if exact and count == previous:
            continue  # the same occurrences: the same votes, on less context
        previous = count if exact else None
        level = Level(length, count)
        for match in matches:
            for position in match.sample(MAX_OCCURRENCES):
                # A longer context's occurrence is one of the shorter's too, with the same
                # continuation: read each continuation once.
                key = (id(match.corpus), position + length)
                if key not in read:
                    read[key] = _read_vote(index, match.corpus, position + length, cursor)
                if (vote := read[key]) is not None:
                    level.add(vote)
        yield level


def _read_line(index: NgramIndex, corpus: Corpus, start: int) -> tuple[list[str], str, int]:
    """The tokens from `start` to the end of their line, the line break token after them
    ("" at the end of the file) and the position after it. A line is read up to
    LINE_TOKENS + 1 tokens."""
    texts = index.vocab.texts
    line: list[str] = []
    while len(line) <= LINE_TOKENS:
        ids = corpus.tokens_from(start + len(line), READ_TOKENS)
        for token_id in ids:
            token = texts[token_id]
            if token[0] == "\n":  # a line break (is_line_break, inlined: this loop is hot)
                return line, token, start + len(line) + 1
            line.append(token)
        if len(ids) < READ_TOKENS:
            break  # the file ends
    return line, "", start + len(line)


def _read_vote(index: NgramIndex, corpus: Corpus, start: int, cursor: Cursor) -> Vote | None:
    """What the continuation at `start` says the rest of the line is; None if it says
    nothing of use here."""
    line, brk, after = _read_line(index, corpus, start)
    if len(line) > LINE_TOKENS or not (line or brk):
        return None  # too long to read whole, or the end of a file (the cursor's own)
    text = fit(cursor, "".join(line))
    if text is None:
        return None
    if not text and cursor.path and corpus.paths[corpus.file_at(start)] == cursor.path:
        # The document itself, as the index last saw it, ending the line at the cursor: that
        # is where the user is typing, not how the code goes on.
        return None
    followed = False
    if brk and cursor.next_line and _same_break(brk, cursor.next_break):
        below, _, _ = _read_line(index, corpus, after)
        followed = "".join(below).strip() == cursor.next_line
    return Vote(text, followed, corpus, brk, after)


def fit(cursor: Cursor, line: str) -> str | None:
    """What to insert for a continuation that makes the cursor's line `line` (from what is
    typed of the token at the cursor); None if it clashes with the code around the cursor."""
    if not line.startswith(cursor.pending):
        return None  # not what is being typed
    text = line[len(cursor.pending) :]
    if cursor.line_after:
        if not text.rstrip().endswith(cursor.line_after):
            return None  # it would not end with what the line has after the cursor
        text = text.rstrip()[: -len(cursor.line_after)]
    elif text and (cursor.line_before + cursor.pending + text).strip() == cursor.next_line:
        return None  # it is the line below again
    return text.rstrip()


def _same_break(a: str, b: str) -> bool:
    """The same change of indentation, blank lines or not."""
    return a.lstrip("\n") == b.lstrip("\n")


def decide(found: Iterable[Level], thresholds: Thresholds) -> Choice | None:
    """The line to show, or None when the evidence is thin or split."""
    for level in found:
        if level.context < thresholds.min_context:
            return None
        if level.followed and level.context >= thresholds.followed_context:
            # Occurrences followed by the line below the cursor: the code around it is the same
            # on both sides. They count when they agree (the line below can be a common one).
            text, followed = level.followed.most_common(1)[0]
            if followed / level.followed.total() >= thresholds.min_share:
                return Choice(level, text)
        best = level.most_voted()
        if best is None:
            if level.total:
                return None  # the occurrences agree that the line ends here
            continue
        text, votes = best
        share = votes / level.total
        if share >= thresholds.min_share and votes >= thresholds.min_votes:
            return Choice(level, text)
        if share < thresholds.give_up_share:
            return None
    return None


def extend(index: NgramIndex, level: Level, text: str, cursor: Cursor) -> str:
    """`text` and the lines after it that all its occurrences (two at least) agree on, up to
    the end of the block the cursor is in."""
    rests = [(vote.corpus, vote.brk, vote.after) for vote in level.voters[text]]
    if len(rests) < 2 or cursor.line_after:
        return text
    start_indent = indent = indentation(cursor.line_before)
    more: list[str] = []  # line breaks and the tokens of the lines after them
    for _ in range(MAX_LINES - 1):
        breaks = {brk for _, brk, _ in rests}
        if len(breaks) != 1 or not (brk := breaks.pop()):
            break  # they part ways, or a file ends
        indent = follow_indent(brk, indent)
        if len(indent) < len(start_indent):
            break  # the block ends
        read = [_read_line(index, corpus, position) for corpus, _, position in rests]
        line = read[0][0]
        if len(line) > LINE_TOKENS or any(other != line for other, _, _ in read):
            break
        if "".join(line).strip() == cursor.next_line:
            break  # the document goes on from here
        more += [brk, *line]
        rests = [
            (corpus, brk, after)
            for (corpus, _, _), (_, brk, after) in zip(rests, read, strict=True)
        ]
    return text + render(more, start_indent)


@dataclass(frozen=True)
class Prediction:
    """What to insert, and the evidence for it (for `infill/explain`)."""

    text: str
    kind: str  # of cursor position: LINE_START or MID_LINE
    thresholds: Thresholds
    choice: Choice | None  # the line the workspace agreed on, or
    generated: Generated | None  # the line generated a token at a time, or
    stored: StoredParameter | None = None  # a constructor's parameter stored on `self`

    def explain(self) -> dict[str, Any]:
        """The evidence, as `infill/explain` shows it."""
        found: dict[str, Any] = {"position": self.kind, "text": self.text}
        if self.stored is not None:
            found["source"] = "scope"
            found["parameter"] = self.stored.parameter
            found["attribute"] = self.stored.attribute
            found["storedSoInTheFile"] = self.stored.habit
        if self.choice is not None:
            level = self.choice.level
            found["source"] = "lines"
            found["contextTokens"] = level.context
            found["occurrences"] = level.count
            found["votes"] = dict(level.votes.most_common(5))
            found["followedByTheLineBelow"] = dict(level.followed.most_common(5))
        if self.generated is not None:
            found["source"] = "generated"
            found["confidence"] = round(self.generated.confidence, 3)
            found["steps"] = [
                {
                    "token": step.token,
                    "contextTokens": step.context,
                    "occurrences": step.occurrences,
                    "documentContextTokens": step.local_context,
                    "share": round(step.share, 3),
                }
                for step in self.generated.steps
            ]
        found["thresholds"] = asdict(self.thresholds)
        return found


def forecast(
    index: NgramIndex,
    family: str,
    prefix: str,
    suffix: str,
    path: str = "",
    tuning: Tuning | None = None,
) -> Prediction | None:
    """What to insert at the cursor of the document at `path` (if in the index), and why; None
    where the evidence is thin or split. `tuning`: the workspace's calibration by default."""
    cursor = read_cursor(family, prefix, suffix, path)
    if cursor is None:
        return None
    if tuning is None:
        calibration = index.calibrations.get(family)
        tuning = calibration.tuning if calibration is not None else DEFAULT_TUNING
    thresholds = tuning.of(cursor.kind)
    stored = stored_parameter(family, prefix, suffix)
    if stored is not None:
        return Prediction(stored.text, cursor.kind, thresholds, None, None, stored)
    choice = decide(levels(index, family, cursor, thresholds.min_context), thresholds)
    if choice is not None:
        text = extend(index, choice.level, choice.text, cursor)
        return Prediction(text, cursor.kind, thresholds, choice, None)
    if thresholds.generated > 1:
        return None
    generated = generate(
        index,
        family,
        cursor.tokens,
        cursor.pending,
        thresholds.generated,
        index.document(path, family) if path else None,
        thresholds.local_weight,
    )
    line = fit(cursor, "".join(generated.tokens)) if generated is not None else None
    if not line:
        return None
    return Prediction(line, cursor.kind, thresholds, None, generated)


def predict(index: NgramIndex, family: str, prefix: str, suffix: str, path: str = "") -> str | None:
    """What to insert at the cursor of the document at `path` (if in the index), or None."""
    found = forecast(index, family, prefix, suffix, path)
    return found.text if found is not None else None
