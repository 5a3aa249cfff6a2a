"""The rest of the line written a token at a time, for lines the workspace never wrote whole.

A token language model of the workspace, read straight from its suffix arrays: the next token
is the one that most often followed the longest stretch of the code before it (the cursor's
context and what was generated so far) that occurs at least MIN_OCCURRENCES times; a context
with fewer occurrences backs off to a shorter one. As the generated tokens join the context,
the line is made of the parts the workspace repeats (`self._loop =` from one class, `loop` from
the parameter list before it) rather than copied from one place. Each step's share of the votes
is the chance it is right; the line's confidence is their product, and the decoding gives up as
soon as it falls below what the caller asks for.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from infill.backends.ngram.index import CONTEXT_TOKENS, Corpus, NgramIndex
from infill.backends.ngram.lexer import is_line_break

MIN_OCCURRENCES = 2  # of a context, for its next tokens to count
SAMPLE = 32  # occurrences read per step
MAX_STEPS = 40  # tokens generated, at most (a longer line is not suggested)


@dataclass(frozen=True)
class Step:
    """One generated token and the evidence for it."""

    token: str
    context: int  # tokens of context whose occurrences voted
    occurrences: int  # of that context in the index
    votes: int  # of the sampled occurrences, for this token
    sampled: int

    @property
    def share(self) -> float:
        return self.votes / self.sampled


@dataclass(frozen=True)
class Generated:
    tokens: tuple[str, ...]  # up to the line break, which is left out
    steps: tuple[Step, ...]

    @property
    def confidence(self) -> float:
        product = 1.0
        for step in self.steps:
            product *= step.share
        return product


def _votes(
    corpora: list[Corpus], pattern: bytes, length: int, pending: str, texts: list[str]
) -> tuple[Counter[int], int]:
    """The next tokens after the occurrences of `pattern` (`length` tokens) that begin with
    `pending`, and how many occurrences there are."""
    votes: Counter[int] = Counter()
    count = 0
    for corpus in corpora:
        matches = corpus.find(pattern)
        count += matches.count
        for position in matches.sample(SAMPLE):
            ids = corpus.tokens_from(position + length, 1)
            if ids and texts[ids[0]].startswith(pending):
                votes[ids[0]] += 1
    return votes, count


def generate(
    index: NgramIndex,
    family: str,
    context: list[str],
    pending: str,
    min_confidence: float,
    min_context: int = 2,
) -> Generated | None:
    """The tokens from the cursor to the end of its line, after the tokens `context`, the first
    one beginning with `pending`; None when the confidence falls below `min_confidence` or
    the line does not end within MAX_STEPS tokens."""
    vocab, texts = index.vocab, index.vocab.texts
    codes: list[bytes] = []
    for token in reversed(context[-CONTEXT_TOKENS:]):
        code = vocab.lookup(token)
        if code is None:
            break  # never seen: no longer context occurs
        codes.append(code)
    codes.reverse()
    corpora = index.corpora(family)
    # The longest context that occurs often enough, by halving (the occurrences of a longer
    # context are among those of a shorter one); at the next steps it is at most one longer.
    low, high = min_context - 1, len(codes)
    while low < high:
        middle = (low + high + 1) // 2
        pattern = b"".join(codes[-middle:])
        if sum(corpus.find(pattern, MIN_OCCURRENCES).count for corpus in corpora) >= (
            MIN_OCCURRENCES
        ):
            low = middle
        else:
            high = middle - 1
    longest = low - 1
    tokens: list[str] = []
    steps: list[Step] = []
    confidence = 1.0
    for _ in range(MAX_STEPS):
        step = None
        for length in range(min(longest + 1, len(codes)), min_context - 1, -1):
            votes, count = _votes(corpora, b"".join(codes[-length:]), length, pending, texts)
            if count >= MIN_OCCURRENCES and votes.total():
                token_id, top = votes.most_common(1)[0]
                step = Step(texts[token_id], length, count, top, votes.total())
                longest = length
                break
        if step is None:
            return None
        confidence *= step.share
        if confidence < min_confidence:
            return None
        steps.append(step)
        if is_line_break(step.token):
            return Generated(tuple(tokens), tuple(steps))
        tokens.append(step.token)
        codes = [*codes[1 - CONTEXT_TOKENS :], vocab.codes[step.token]]
        pending = ""
    return None
