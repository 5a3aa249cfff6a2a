"""Chat models: the fill-the-hole message, and the code pulled out of real-looking answers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from infill.prompts.chat import HOLE, SYSTEM, build_chat_prompt, extract_completion
from infill.prompts.tokens import count_tokens

PREFIX = "def mean(values):\n    total = sum(values)\n    return "
SUFFIX = "\n\n\nprint(mean([1, 2, 3]))\n"


@dataclass(frozen=True)
class Ref:
    path: str
    text: str


def test_the_message_has_the_file_with_the_marker_and_references():
    prompt = build_chat_prompt(
        PREFIX, SUFFIX, 2048, [Ref("stats/util.py", "def safe_div(a, b):\n    return a / b")],
        path="stats/mean.py", language="python",
    )  # fmt: skip
    assert prompt.system == SYSTEM
    (message,) = prompt.messages
    assert message["role"] == "user"
    content = message["content"]
    assert f"{PREFIX}{HOLE}{SUFFIX}" in content
    assert "File stats/mean.py:\n```python\n" in content
    assert "stats/util.py:\n```python\ndef safe_div(a, b):" in content
    assert content.index("safe_div") < content.index(HOLE)
    assert prompt.tokens["total"] <= 2048


def test_code_containing_backticks_gets_a_longer_fence():
    prefix = 'DOC = """\n```python\nx = 1\n```\n"""\ny = '
    content = build_chat_prompt(prefix, "\n", 512).messages[0]["content"]
    assert "````\n" in content and f"{prefix}{HOLE}" in content


def test_the_budget_holds():
    long_prefix = "x = 1\n" * 3000 + "y = "
    prompt = build_chat_prompt(long_prefix, "\n" + "z = 2\n" * 3000, 500)
    assert count_tokens(prompt.system) + count_tokens(prompt.messages[0]["content"]) <= 500
    assert prompt.prefix.endswith("y = ")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("total / len(values)", "total / len(values)"),
        ("```python\ntotal / len(values)\n```", "total / len(values)"),
        ("Here is the missing code:\n```python\ntotal / len(values)\n```\nThis divides.",
         "total / len(values)"),
        ("Sure! Here's the completion:\ntotal / len(values)", "total / len(values)"),
        # The line before the cursor repeated.
        ("    return total / len(values)", "total / len(values)"),
        ("```\n    total = sum(values)\n    return total / len(values)\n```",
         "total / len(values)"),
        # The code after the cursor repeated.
        ("total / len(values)\n\n\nprint(mean([1, 2, 3]))", "total / len(values)"),
        # The whole file rewritten around the marker.
        (f"```python\ndef mean(values):\n    total = sum(values)\n    return {HOLE}\n```", ""),
        ("", ""),
    ],
)  # fmt: skip
def test_extract_completion(answer: str, expected: str):
    assert extract_completion(answer, PREFIX, SUFFIX) == expected


def test_closers_on_the_cursor_line_are_left_to_the_filters():
    # `print(|)`: the answer's ")" closes its own call; only the filters weigh brackets.
    assert extract_completion("mean(xs)", "print(", ")\nnext_line()\n") == "mean(xs)"
