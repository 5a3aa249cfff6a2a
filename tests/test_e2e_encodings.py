"""Positions in UTF-16, UTF-8 and UTF-32, and CRLF documents, end to end."""

from __future__ import annotations

import pytest

from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply

URI = "file:///work/unicode_example.py"
LINE = 'label = "😀 漢字 é" + '  # 19 code points: the emoji is 2 UTF-16 units, 4 UTF-8 bytes
# A closer after the cursor: a position read in the wrong encoding would land elsewhere.
TEXT = f"{LINE})\nprint(label)\n"

# The cursor after LINE, counted in each encoding's code units.
CURSOR = {"utf-32": 19, "utf-16": 20, "utf-8": 27}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
async def test_positions_in_the_negotiated_encoding(
    encoding: str, fake: FakeLLM, start_client: StartClient
):
    assert len(LINE) == CURSOR["utf-32"]
    fake.default = Reply(chunks=['"!"\n'])
    client = await start_client(
        position_encodings=[encoding],
        initialization_options={"backend": {"url": fake.url, "template": "qwen"}},
    )
    assert client.capabilities.get("positionEncoding", "utf-16") == encoding
    client.open(URI, TEXT)

    items = await client.inline_completion(URI, (0, CURSOR[encoding]))

    prompt = fake.requests[-1].body["prompt"]
    assert prompt == f"<|fim_prefix|>{LINE}<|fim_suffix|>)\nprint(label)\n<|fim_middle|>"
    assert items[0]["range"]["start"] == {"line": 0, "character": CURSOR[encoding]}
    assert client.accept(URI, (0, CURSOR[encoding]), items[0]) == (f'{LINE}"!")\nprint(label)\n')


async def test_utf16_is_the_default_without_negotiation(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=['"!"\n'])
    client = await start_client(
        position_encodings=[], initialization_options={"backend": {"url": fake.url}}
    )
    client.open(URI, TEXT)
    await client.inline_completion(URI, (0, CURSOR["utf-16"]))
    assert fake.requests[-1].body["prompt"].startswith(f"<|fim_prefix|>{LINE}<|fim_suffix|>")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
async def test_incremental_edits_with_emoji_keep_the_document_in_sync(
    encoding: str, fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(chunks=["1\n"])
    client = await start_client(
        position_encodings=[encoding], initialization_options={"backend": {"url": fake.url}}
    )
    client.open(URI, "a = '😀'\nb = \n")
    # Replace the emoji by CJK text, then type after "b = " character by character.
    emoji_units = 2 if encoding == "utf-16" else 4
    client.edit(URI, (0, 5), (0, 5 + emoji_units), "漢字")
    position = (1, 4)
    for ch in "a + ":
        position = client.type_text(URI, position, ch)

    await client.inline_completion(URI, position)

    assert client.documents[URI].text == "a = '漢字'\nb = a + \n"
    assert fake.requests[-1].body["prompt"] == (
        "<|fim_prefix|>a = '漢字'\nb = a + <|fim_suffix|>\n<|fim_middle|>"
    )


async def test_crlf_document_gets_crlf_suggestions(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["if a > b:\n        return a\n    return b\n"])
    client = await start_client(initialization_options={"backend": {"url": fake.url}})
    client.open(URI, "def largest(a, b):\r\n    \r\n\r\nprint(largest(1, 2))\r\n")
    # Typing on a CRLF line and across line ends, as an editor sends it.
    client.edit(URI, (1, 4), (1, 4), "# pick\r\n    ")

    items = await client.inline_completion(URI, (2, 4))

    prompt = fake.requests[-1].body["prompt"]
    assert "\r" not in prompt  # the model sees "\n" line endings
    assert prompt.startswith("<|fim_prefix|>def largest(a, b):\n    # pick\n    <|fim_suffix|>")
    assert items[0]["insertText"] == "if a > b:\r\n        return a\r\n    return b"
    assert client.accept(URI, (2, 4), items[0]) == (
        "def largest(a, b):\r\n    # pick\r\n    if a > b:\r\n        return a\r\n"
        "    return b\r\n\r\nprint(largest(1, 2))\r\n"
    )


async def test_positions_past_the_end_are_clamped(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["1\n"])
    client = await start_client(initialization_options={"backend": {"url": fake.url}})
    client.open(URI, "x = \n")
    await client.inline_completion(URI, (0, 999))
    assert fake.requests[-1].body["prompt"] == "<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>"


async def test_document_never_opened_gives_no_suggestion(fake: FakeLLM, start_client: StartClient):
    client = await start_client(initialization_options={"backend": {"url": fake.url}})
    assert await client.inline_completion("file:///never/opened.py", (0, 0)) == []
    assert fake.requests == []
