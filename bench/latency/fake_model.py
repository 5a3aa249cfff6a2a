"""The fake model: answers with the text that really follows the cursor in the typed file,
cut into token-sized pieces, streamed at a set time to first token and rate."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tests.fake_llm import Received, Reply

# Token-sized pieces: a line end with the next line's indentation, up to four word characters,
# one or two punctuation characters, each with the blanks before it.
_TOKEN = re.compile(r"\n[ \t]*|[ \t]*\w{1,4}|[ \t]*[^\w\s]{1,2}|[ \t]+|\s")
FIM_PREFIX, FIM_SUFFIX = "<|fim_prefix|>", "<|fim_suffix|>"


def token_pieces(text: str) -> list[str]:
    return _TOKEN.findall(text)


def next_text(source: str, offset: int, more_lines: int) -> str:
    """What the file really has after `offset`: the rest of the line and `more_lines` lines."""
    end = offset
    for _ in range(more_lines + 1):
        newline = source.find("\n", end)
        if newline == -1:
            return source[offset:]
        end = newline + 1
    return source[offset : end - 1]


def with_a_wrong_word(pieces: Sequence[str], rng: random.Random) -> list[str]:
    """The pieces with one word of the first line of code misspelt (reversed), as a model that
    is nearly right writes: typing along it breaks there, and the editor must ask again."""
    first = 0
    while first < len(pieces) and pieces[first].startswith("\n"):
        first += 1  # the line end of the cursor's line, before the line proposed
    words = []
    for index in range(first, len(pieces)):
        if pieces[index].startswith("\n"):
            break
        if len(pieces[index].strip()) > 1 and pieces[index].strip().isidentifier():
            words.append(index)
    if not words:
        return list(pieces)
    index = rng.choice(words)
    word = pieces[index].strip()
    wrong = word[::-1] if word[::-1] != word else word + "x"
    changed = list(pieces)
    changed[index] = pieces[index][: len(pieces[index]) - len(word)] + wrong
    return changed


def prompt_prefix(request: Received) -> str | None:
    """The code before the cursor as the request shows it: the FIM prompt's prefix (infill's
    Qwen template), or Tabby's `segments.prefix`. None for anything else."""
    body = request.body
    segments = body.get("segments")
    if isinstance(segments, dict):
        return str(segments.get("prefix", ""))
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or FIM_PREFIX not in prompt:
        return None
    start = prompt.rfind(FIM_PREFIX) + len(FIM_PREFIX)
    end = prompt.find(FIM_SUFFIX, start)
    return prompt[start : end if end != -1 else len(prompt)]


def locate(source: str, prefix: str, cursor: int) -> int | None:
    """The offset in `source` right after `prefix`, at or before `cursor` (the latest position
    typed: a request is for that position or an earlier one)."""
    tail = prefix[-300:]
    if not tail:
        return None
    found = source.rfind(tail, 0, cursor)
    return found + len(tail) if found != -1 else None


@dataclass
class Answered:
    """A completion request the fake model answered."""

    request: Received
    segment: int
    offset: int | None  # where in the segment's file the request's cursor was; None: not found
    text: str  # what the model answered
    wrong: bool  # with a word that is not the file's


class TypedFileModel:
    """The fake model's answers: the text that really follows the cursor in the file being
    typed, at a fixed time to first token and tokens per second; a share `wrong` of the
    answers has a wrong word in its first line (the same answers for every system: the choice
    depends on the seed and the cursor only)."""

    def __init__(
        self,
        ttft: float,
        tokens_per_second: float,
        answer_lines: int,
        wrong: float = 0.0,
        seed: int = 1,
    ) -> None:
        self.ttft = ttft
        self.token_time = 1 / tokens_per_second
        self.answer_lines = answer_lines
        self.wrong = wrong
        self.seed = seed
        self.segment = -1
        self.source = ""
        self.cursor = 0  # the replay moves it with each key
        self.answered: list[Answered] = []

    def reply(self, request: Received) -> Reply | None:
        prefix = prompt_prefix(request)
        if prefix is None:
            return None
        offset = locate(self.source, prefix, self.cursor)
        text = next_text(self.source, offset, self.answer_lines) if offset is not None else ""
        pieces = token_pieces(text)
        rng = random.Random(f"{self.seed}:{self.segment}:{offset}")
        if rng.random() < self.wrong:
            pieces = with_a_wrong_word(pieces, rng)
        answer = "".join(pieces)
        self.answered.append(Answered(request, self.segment, offset, answer, answer != text))
        return Reply(chunks=pieces or [""], ttft=self.ttft, delay=self.token_time)
