"""The prompt laid out for a server's prompt cache (prompts/layout.py): consecutive keystrokes'
prompts share everything up to the line being typed; the prefix window starts at coarse steps;
no part is longer than the server keeps; the other code stays until it is due to change."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from infill.backends import prompt_cache_of
from infill.prompts import build_prompt, count_tokens
from infill.prompts.layout import (
    FAR_LINES,
    PREFIX_STEP_LINES,
    StableContext,
    infill_room,
    snap_start,
    window_start,
)
from infill.prompts.templates import QWEN


@dataclass(frozen=True)
class Ref:
    path: str
    text: str


BODY = "".join(f"def function_{i}(value):\n    return value * {i}\n\n" for i in range(200))
TYPED = "def typed(stream):\n    data = stream.read(1024)\n    return data.decode()\n"


def prompts_while_typing(budget: int = 1024) -> list[str]:
    """The prompt at each keystroke of TYPED, appended at the end of BODY."""
    refs = [Ref("lib/a.py", "def helper():\n    pass\n"), Ref("lib/b.py", "X = 1\n")]
    texts = []
    for end in range(1, len(TYPED) + 1):
        prefix = BODY + TYPED[:end]
        line = prefix.count("\n")
        prompt = build_prompt(
            prefix, "\n\nprint()\n", QWEN, budget, refs, path="m.py", repo="r", first_line=0
        )
        assert count_tokens(prompt.text) <= budget
        assert prefix.endswith(prompt.prefix)
        # The window starts at a step: a multiple of PREFIX_STEP_LINES.
        assert (line - prompt.prefix.count("\n")) % PREFIX_STEP_LINES == 0
        texts.append(prompt.text)
    return texts


def shared(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_consecutive_keystrokes_share_the_prompt_up_to_the_typed_line():
    texts = prompts_while_typing()
    moved = 0
    for before, after in itertools.pairwise(texts):
        typed_line = before.rfind("\n", 0, before.index("<|fim_suffix|>")) + 1
        if shared(before, after) < typed_line:
            moved += 1  # the window's start moved a step
    # Over three lines typed the window moves at most once, not at every line (or key).
    assert moved <= 1


def test_the_window_start_moves_in_steps_not_per_line():
    starts = set()
    for text in prompts_while_typing():
        starts.add(text[text.index("<|fim_prefix|>") :].split("\n", 1)[0])
    assert len(starts) <= 2


def test_the_window_starts_at_a_step_and_stays_while_it_fits():
    assert window_start(10, None, step=16) == 16
    assert window_start(16, None, step=16) == 16
    # The line being typed shrank by a token: the start stays, it does not flip back.
    assert window_start(15, 16, step=16) == 16
    assert window_start(17, 16, step=16) == 32  # no longer fits: the next step
    # Back from the step it moved to, as the typed line's tokens merge: it stays there.
    assert window_start(0, 16, step=16) == 16
    assert window_start(0, 32, step=16) == 0  # more than a step wasted: back to where it fits
    assert window_start(40, 16, step=16) == 48


def test_snap_start_drops_the_lines_before_the_start():
    prefix = "".join(f"line {i}\n" for i in range(10, 40)) + "cur"
    snapped = snap_start(prefix, 10, 16)
    assert snapped.startswith("line 16\n") and snapped.endswith("cur")
    assert snap_start(prefix, 10, 10) == prefix
    # Never past the cursor's line.
    assert snap_start("a\nb", 1, 16) == "b"


def test_no_part_is_longer_than_llama_server_keeps():
    room = infill_room(1024, 4096)
    assert room.prefix_tokens is not None and room.prefix_tokens <= 768
    assert room.suffix_tokens is not None and room.suffix_tokens <= 256 - 2 - 64
    assert room.extra_tokens is not None and room.extra_tokens <= 4096 - 1024
    long_refs = [Ref(f"lib/{i}.py", "value = compute(value)\n" * 200) for i in range(10)]
    prefix = BODY * 3
    prompt = build_prompt(prefix, BODY, QWEN, 8192, long_refs, path="m.py", server=room)
    assert count_tokens(prompt.prefix) <= room.prefix_tokens
    assert count_tokens(prompt.suffix) <= room.suffix_tokens
    rendered = sum(count_tokens(QWEN.render_snippet(r.path, r.text, "#")) for r in prompt.snippets)
    assert rendered <= room.extra_tokens
    # A context no larger than the batch leaves nothing for other files: none are sent.
    none = build_prompt(prefix, BODY, QWEN, 8192, long_refs, server=infill_room(1024, 1024))
    assert none.snippets == []


def test_other_code_stays_until_a_switch_a_far_jump_or_a_save():
    stable: StableContext[Ref] = StableContext()
    first = [Ref("a.py", "A")]
    assert stable.due("file:///m.py", 100)
    stable.choose("file:///m.py", 100, first)
    assert not stable.due("file:///m.py", 100 + FAR_LINES)  # typing on, nearby
    assert stable.due("file:///m.py", 101 + FAR_LINES)  # a jump
    assert stable.due("file:///other.py", 100)  # another document
    stable.refresh()  # a save
    assert stable.due("file:///m.py", 100)
    assert stable.chosen == first


def test_cached_tokens_read_from_each_apis_usage():
    llama = prompt_cache_of({"cache_n": 900, "prompt_n": 40, "predicted_n": 3})
    assert llama is not None and (llama.cached, llama.evaluated) == (900, 40)
    anthropic = prompt_cache_of(
        {"input_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1500}
    )
    assert anthropic is not None and (anthropic.cached, anthropic.evaluated) == (1500, 20)
    openai = prompt_cache_of(
        {"prompt_tokens": 2000, "prompt_tokens_details": {"cached_tokens": 1792}}
    )
    assert openai is not None and (openai.cached, openai.evaluated) == (1792, 208)
    assert prompt_cache_of({"prompt_tokens": 10, "completion_tokens": 3}) is None
