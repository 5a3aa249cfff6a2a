"""Unit tests for prompts/: token counting, line budgets, the FIM prompt, template choice."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infill.prompts import TEMPLATES, build_prompt, count_tokens, template_for
from infill.prompts.budget import count_each_line, keep_head_lines, keep_tail_lines
from infill.prompts.templates import QWEN
from infill.prompts.tokens import WHOLE_BELOW, _encoding

# -- tokens --------------------------------------------------------------------------------------


def test_count_tokens_of_ordinary_text():
    assert count_tokens("") == 0
    assert count_tokens("hello world") == 2


@pytest.mark.parametrize("special", ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>"])
def test_special_token_strings_in_user_text_count_as_ordinary_text(special: str):
    # As a special token each would be exactly one token; as text it is several, and no error.
    assert count_tokens(special) > 1
    assert count_tokens(f"x = '{special}'") > count_tokens("x = ''")


def test_count_tokens_never_touches_the_network(tmp_path: Path):
    """A fresh interpreter with an empty tiktoken cache and every socket refused still counts."""
    script = textwrap.dedent(
        """
        import sys

        def refuse(event, args):
            if event.startswith(("socket.", "urllib.")):
                raise OSError(f"network use during token counting: {event}")

        sys.addaudithook(refuse)
        from infill.prompts.tokens import count_tokens
        print(count_tokens("hello world"), count_tokens("<|endoftext|>"))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_GYM_CACHE_DIR",)}
    env["TIKTOKEN_CACHE_DIR"] = str(tmp_path / "empty-cache")
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "7"]


# -- budget --------------------------------------------------------------------------------------

CODE = "".join(f"def function_{i}(argument):\n    return argument + {i}\n" for i in range(40))


def test_everything_is_kept_when_it_fits():
    assert keep_tail_lines("a = 1\nb = 2\n", 100) == (
        "a = 1\nb = 2\n",
        count_tokens("a = 1\n") + count_tokens("b = 2\n"),
    )
    assert keep_head_lines("a = 1\nb = 2", 100)[0] == "a = 1\nb = 2"
    assert keep_tail_lines("", 10) == ("", 0)


@pytest.mark.parametrize("budget", [1, 7, 20, 55, 150])
def test_keep_tail_lines_cuts_on_whole_lines_within_budget(budget: int):
    prefix = CODE + "total = "  # the cursor line, unfinished
    kept, used = keep_tail_lines(prefix, budget)
    assert used <= budget
    assert count_tokens(kept) <= budget
    assert prefix.endswith(kept)
    assert len(kept) < len(prefix)
    if len(kept) > len("total = "):
        # More than the cursor line: the cut is at the start of a line.
        assert prefix[-len(kept) - 1] == "\n"
    else:
        assert kept  # the cursor line (or its end) is always there


@pytest.mark.parametrize("budget", [1, 7, 20, 55, 150])
def test_keep_head_lines_cuts_on_whole_lines_within_budget(budget: int):
    suffix = ")\n" + CODE
    kept, used = keep_head_lines(suffix, budget)
    assert used <= budget
    assert count_tokens(kept) <= budget
    assert suffix.startswith(kept)
    assert kept.startswith(")")  # the line holding the closers is always kept
    assert kept.endswith("\n")  # and the cut falls after a whole line
    assert len(kept) < len(suffix)


def test_budget_takes_as_many_lines_as_fit():
    lines = [f"value_{i} = {i}\n" for i in range(10)]
    per_line = count_tokens(lines[0])
    assert all(count_tokens(line) == per_line for line in lines)
    kept, used = keep_tail_lines("".join(lines), 3 * per_line)
    assert kept == "".join(lines[-3:])
    assert used == 3 * per_line
    kept, used = keep_head_lines("".join(lines), 3 * per_line + per_line - 1)
    assert kept == "".join(lines[:3])
    assert used == 3 * per_line


def test_an_over_long_cursor_line_is_shrunk_by_characters():
    long_line = "data = [" + ", ".join(str(i * 7919) for i in range(3000))
    prefix = "import json\n" + long_line
    kept, used = keep_tail_lines(prefix, 40)
    assert 0 < used <= 40
    assert count_tokens(kept) == used
    assert kept and long_line.endswith(kept)  # the end next to the cursor, never the line above

    suffix = long_line + "]\nprint(data)\n"
    kept, used = keep_head_lines(suffix, 40)
    assert 0 < used <= 40
    assert kept and long_line.startswith(kept)


def test_zero_budget_keeps_nothing():
    assert keep_tail_lines(CODE, 0) == ("", 0)
    assert keep_head_lines(CODE, 0) == ("", 0)


# -- builder -------------------------------------------------------------------------------------


def test_qwen_template_is_rendered_exactly():
    prompt = build_prompt("def add(a, b):\n    return ", "\n\nprint(add(1, 2))\n", QWEN, 2048)
    assert prompt.text == (
        "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n\nprint(add(1, 2))\n"
        "<|fim_middle|>"
    )
    assert prompt.prefix == "def add(a, b):\n    return "
    assert prompt.suffix == "\n\nprint(add(1, 2))\n"
    assert prompt.stop == QWEN.stop
    assert "<|endoftext|>" in prompt.stop
    assert prompt.tokens["total"] <= 2048


def test_render_is_prefix_suffix_middle():
    assert QWEN.render("P", "S") == "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>"


def test_control_tokens_in_user_code_are_neutralized():
    prefix = 'MARKERS = ["<|fim_middle|>", "<|endoftext|>"]\nx = "<|fim_prefix|>'
    suffix = '<|fim_suffix|>"\nEND = "<|im_end|>"\n'
    prompt = build_prompt(prefix, suffix, QWEN, 2048)
    markers = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")
    for token in QWEN.special:
        # Only the template's own three markers remain, once each.
        expected = 1 if token in markers else 0
        assert prompt.text.count(token) == expected, token
    assert prompt.text.startswith("<|fim_prefix|>")
    assert prompt.text.endswith("<|fim_middle|>")
    # The user's code is still there, readable apart from the zero-width break.
    assert prompt.prefix.replace("\u200b", "") == prefix
    assert prompt.suffix.replace("\u200b", "") == suffix
    assert prompt.text.replace("\u200b", "") == QWEN.render(prefix, suffix)


def test_prompt_stays_within_the_token_budget():
    prefix = CODE + "def last(value):\n    return "
    suffix = "\n" + CODE
    prompt = build_prompt(prefix, suffix, QWEN, 200)
    assert prompt.tokens["total"] <= 200
    assert count_tokens(prompt.text) <= 200
    assert prompt.text == QWEN.render(prompt.prefix, prompt.suffix)
    # Cut on lines, keeping what is next to the cursor on both sides.
    assert prefix.endswith(prompt.prefix)
    assert prompt.prefix.startswith("def ") or prompt.prefix.startswith("    return")
    assert prompt.prefix.endswith("def last(value):\n    return ")
    assert suffix.startswith(prompt.suffix)
    assert prompt.suffix.endswith("\n")
    assert len(prompt.prefix) < len(prefix)
    assert len(prompt.suffix) < len(suffix)


def test_a_small_prompt_is_not_cut():
    prompt = build_prompt("a = 1\nb = ", "\nc = 3\n", QWEN, 64)
    assert (prompt.prefix, prompt.suffix) == ("a = 1\nb = ", "\nc = 3\n")


# -- templates -----------------------------------------------------------------------------------


def test_explicit_family():
    assert template_for("qwen", "some-other-model") is QWEN
    assert TEMPLATES["qwen"] is QWEN


@pytest.mark.parametrize(
    "model",
    ["qwen2.5-coder:7b-base", "Qwen/Qwen2.5-Coder-1.5B", "qwen2.5-coder-1.5b-q8_0.gguf"],
)
def test_auto_picks_the_family_from_the_model_name(model: str, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.DEBUG):
        assert template_for("auto", model) is QWEN
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("model", ["gpt-4o", "llama3.1:8b", ""])
def test_unknown_model_falls_back_to_qwen_with_a_warning(
    model: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("infill.prompts.templates._warned", set())
    with caplog.at_level(logging.WARNING):
        assert template_for("auto", model) is QWEN
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert repr(model) in message
    assert "backend.template" in message
    assert "qwen" in message


# Characters that stress cl100k's pre-tokenizer at line boundaries: line ends of every kind,
# blanks that are whitespace to Python but not to the tokenizer's regex (\x1c) and the other way
# round, contractions, digits, letters of other scripts, punctuation.
_TRICKY = st.text(
    alphabet=st.sampled_from(list("\n\n\n\r  \t\x0b\x0c\x1c\x85\u2028\u3000'sdtlvreA9é中:(){}#\"")),
    min_size=WHOLE_BELOW,  # long enough to be counted line by line
    max_size=800,
)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TRICKY)
def test_counting_line_by_line_is_counting_the_whole_text(text: str):
    whole = len(_encoding().encode(text, disallowed_special=()))
    assert count_tokens(text) == whole


def test_lines_counted_ahead_are_the_pieces_the_budget_counts():
    text = "import os\n\ndef f(x):\n    return x\n\n\nclass A:\n    pass"
    ahead: list[str] = []
    count_each_line(text, lambda piece: ahead.append(piece) or 1, max_lines=100)
    by_budget: list[str] = []
    keep_tail_lines(text, 10**6, lambda piece: by_budget.append(piece) or 1)
    keep_head_lines(text, 10**6, lambda piece: by_budget.append(piece) or 1)
    assert set(by_budget) == set(ahead)
    limited: list[str] = []
    count_each_line(text, lambda piece: limited.append(piece) or 1, max_lines=3)
    assert limited == ahead[:3]
