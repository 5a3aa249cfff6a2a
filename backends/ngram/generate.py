"""The rest of the line written a token at a time, for lines the workspace never wrote whole.

A token language model of the workspace, read straight from its suffix arrays: the next token
is the one that most often followed the longest stretch of the code before it (the cursor's
context and what was generated so far) that occurs at least MIN_OCCURRENCES times; a context
with fewer occurrences backs off to a shorter one. As the generated tokens join the context,
a line can be made of parts the workspace repeats in different places rather than copied whole
from one. Each step's share of the votes
is the chance it is right; the line's confidence is their product, and the decoding gives up as
soon as it falls below what the caller asks for, or when two tokens tie.

The cursor's document weighs a share of each step's votes of its own (a cache model): its
names and habits (`log.info("stopping ...` in the functions above) outweigh the workspace's.
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
    context: int  # tokens of context whose occurrences in the workspace voted; 0: none did
    occurrences: int  # of that context in the workspace
    local_context: int  # the same in the document itself
    share: float  # of the votes, weighed, for this token


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


def _next_tokens(
    corpus: Corpus, positions: list[int], length: int, pending: str, texts: list[str]
) -> Counter[int]:
    """The tokens after `length` tokens from each position that begin with `pending`. A file's
    last token does not count: it is where the document being written ended when it was
    indexed (what the user had typed of the token, at the cursor)."""
    votes: Counter[int] = Counter()
    for position in positions:
        ids = corpus.tokens_from(position + length, 2)
        # A string over several lines ends the line too late to be shown as its rest.
        if (
            len(ids) == 2
            and texts[ids[0]].startswith(pending)
            and "\n" not in texts[ids[0]].lstrip("\n")
        ):
            votes[ids[0]] += 1
    return votes


def _share(votes: Counter[int]) -> dict[int, float]:
    """Each token's share of the votes, as if one more had gone to none of them: one vote of
    one is a guess, ten of ten are a habit."""
    total = votes.total() + 1
    return {token: count / total for token, count in votes.items()}


def generate(
    index: NgramIndex,
    family: str,
    context: list[str],
    pending: str,
    min_confidence: float,
    document: tuple[Corpus, int] | None = None,
    local_weight: float = 0.0,
    min_context: int = 2,
) -> Generated | None:
    """The tokens from the cursor to the end of its line, after the tokens `context`, the first
    one beginning with `pending`; None when the confidence falls below `min_confidence` or
    the line does not end within MAX_STEPS tokens. `document`: where the index holds the
    cursor's document, whose own habits weigh `local_weight` of each step's votes."""
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
    local_longest = len(codes) - 1
    tokens: list[str] = []
    steps: list[Step] = []
    confidence = 1.0
    for _ in range(MAX_STEPS):
        found, count, votes = 0, 0, Counter[int]()
        for length in range(min(longest + 1, len(codes)), min_context - 1, -1):
            pattern = b"".join(codes[-length:])
            count = 0
            for corpus in corpora:
                matches = corpus.find(pattern)
                count += matches.count
                votes += _next_tokens(corpus, matches.sample(SAMPLE), length, pending, texts)
            if count >= MIN_OCCURRENCES and votes:
                found = longest = length
                break
            votes.clear()
        local_found, local_votes = 0, Counter[int]()
        if document is not None and local_weight:
            corpus, file = document
            # The longest context the document has voted on twice, or else once.
            for length in range(min(local_longest + 1, len(codes)), min_context - 1, -1):
                positions = corpus.find_in_file(b"".join(codes[-length:]), file, SAMPLE)
                votes_here = _next_tokens(corpus, positions, length, pending, texts)
                if votes_here and not local_votes:
                    local_found, local_votes = length, votes_here
                if votes_here.total() >= MIN_OCCURRENCES:
                    local_found, local_votes = length, votes_here
                    break
            local_longest = local_found or local_longest
        if not (votes or local_votes):
            return None
        weight = local_weight if votes and local_votes else (1.0 if local_votes else 0.0)
        shares = _share(votes)
        for token_id, share in _share(local_votes).items():
            shares[token_id] = (1 - weight) * shares.get(token_id, 0.0) + weight * share
        if votes and local_votes:
            for token_id in votes.keys() - local_votes.keys():
                shares[token_id] *= 1 - weight
        ranked = sorted(shares.values(), reverse=True)
        if len(ranked) > 1 and ranked[0] == ranked[1]:
            return None  # a tie: no token is the likelier
        token_id = max(shares, key=shares.__getitem__)
        step = Step(texts[token_id], found, count if found else 0, local_found, shares[token_id])
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
