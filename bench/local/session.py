"""The typing session: five asyncio files of the running Python's standard library open, and a
method body of streams.py typed back key by key, with a pause at every line end.

The typed file opens with the body's lines cut out (the cursor after the first line's
indentation, as right after Enter); every key then inserts one character, and Enter inserts the
line end with the next line's indentation (as auto-indent does). Intervals between keys are
lognormal around the latency benchmark's typing speed; at each line end (and after the last
key) the user waits for ghost text, up to a cap. The seed fixes the intervals.
"""

from __future__ import annotations

import ast
import math
import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from bench.latency.typing_model import TypingModel, split_keys

# Opened first, in this order, as other tabs; then the typed file.
OTHER_FILES = ("events.py", "tasks.py", "locks.py", "queues.py")
TYPED_FILE = "streams.py"
# StreamReaderProtocol.connection_lost: ~500 characters of plain statements and nested blocks.
TYPED_METHOD = ("StreamReaderProtocol", "connection_lost")


@dataclass(frozen=True)
class Key:
    text: str  # one character, or Enter's line end and the next line's indentation
    gap_after: float  # seconds to the next key when it is not a pause
    pause: bool  # a line end (or the last key): the user waits for ghost text here


@dataclass(frozen=True)
class Session:
    files: dict[str, str]  # name -> the text it opens with, in opening order (typed file last)
    typed_file: str
    source: str  # the typed file as it is on disk: what the document is after the last key
    start: int  # the cursor's offset in the opened document, where typing starts
    keys: tuple[Key, ...]

    @property
    def typed(self) -> str:
        return "".join(key.text for key in self.keys)

    @property
    def pauses(self) -> int:
        return sum(1 for key in self.keys if key.pause)


def asyncio_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"]) / "asyncio"


def method_body(source: str, class_name: str, method: str) -> tuple[int, int]:
    """(start, end): from the first statement of the method's body (after its indentation) to
    the end of its last line, without that line's end."""
    tree = ast.parse(source)
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and (
                    item.name == method
                ):
                    first = item.body[0]
                    assert item.end_lineno is not None
                    start = starts[first.lineno - 1] + first.col_offset
                    end = starts[item.end_lineno] - 1
                    return start, end
    raise LookupError(f"no {class_name}.{method} in the source")


def make_session(
    chars: int = 400, seed: int = 1, folder: Path | None = None, model: TypingModel | None = None
) -> Session:
    """The session typing the whole lines of the method's body that fit in `chars` characters
    (at least one line)."""
    folder = folder or asyncio_dir()
    model = model or TypingModel()
    source = (folder / TYPED_FILE).read_text(encoding="utf-8")
    start, end = method_body(source, *TYPED_METHOD)
    cut = start
    while True:
        line_end = source.find("\n", cut + 1)
        line_end = end if line_end == -1 or line_end > end else line_end
        if cut > start and line_end - start > chars:
            break
        cut = line_end
        if cut >= end:
            break
    typed = source[start:cut]
    rng = random.Random(seed)
    texts = split_keys(typed)
    keys = []
    for index, text in enumerate(texts):
        following = texts[index + 1] if index + 1 < len(texts) else "\n"
        gap = rng.lognormvariate(math.log(model.key_median), model.key_sigma)
        keys.append(Key(text, gap, following.startswith("\n")))
    files = {name: (folder / name).read_text(encoding="utf-8") for name in OTHER_FILES}
    files[TYPED_FILE] = source[:start] + source[cut:]
    # The document after the last key is the original file.
    return Session(files, TYPED_FILE, source, start, tuple(keys))
