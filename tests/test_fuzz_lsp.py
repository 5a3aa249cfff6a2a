"""Malformed input against the real server (one process per test, shared by its cases): broken
frames, params of any shape, and edit sequences compared with a reference of what a correct
client holds. Expected every time: an error response or no suggestion, never a crash, and the
document store equal to the reference."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infill.context.cursor import normalize_newlines
from infill.context.document import ENCODINGS
from infill.harness import LspClient, LspError
from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply
from tests.fuzzing import frame, fuzz_settings, json_values, junk_frames
from tests.reference_document import reference_change, reference_lines, reference_text

ALIVE_URI = "file:///work/alive.py"
MAX_POSITION = 2**31 - 1  # LSP's uinteger; beyond it (or below 0) a message is malformed


async def assert_alive(client: LspClient) -> None:
    """The server answers a well-formed request with the document it was given."""
    report = await client.explain(ALIVE_URI, (0, 9), timeout=20)
    assert report is not None and report["prompt"].endswith("answer = <|fim_suffix|><|fim_middle|>")
    assert client.process.returncode is None


@pytest.fixture
async def client(fake: FakeLLM, start_client: StartClient) -> LspClient:
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(
        initialization_options={
            "backend": {"kind": "llamacpp", "url": fake.root},
            "prompt": {"max_tokens": 131_072},
            "completion": {"debounce_ms": 0},
        }
    )
    client.open(ALIVE_URI, "answer = ")
    return client


# -- frames ------------------------------------------------------------------------------------


@fuzz_settings(300)
@given(junk=st.lists(junk_frames, min_size=1, max_size=3))
async def test_malformed_frames_leave_the_server_serving(client: LspClient, junk: list[bytes]):
    assert client._out is not None
    client._out.write(b"".join(junk))
    # One message after junk may be taken for part of it; the second is read in step.
    client.notify("$/setTrace", {"value": "off"})
    await assert_alive(client)


async def test_bodies_that_are_not_requests_are_answered_with_errors(client: LspClient):
    assert client._out is not None
    answers: list[dict[str, Any]] = []
    dispatch = client._dispatch

    def record(message: dict[str, Any]) -> None:
        answers.append(message)
        dispatch(message)

    client._dispatch = record  # type: ignore[method-assign]
    for body in (b"{not json", b"[1, 2]", b"42", b'{"id": 7, "method": "initialize"}'):
        client._out.write(frame(body))
    request_id, answered = client.send_request("infill/noSuchMethod", {})
    with pytest.raises(LspError):
        await answered  # answers come in order: the errors are in by now
    codes = [(a.get("id"), a["error"]["code"]) for a in answers if "error" in a]
    assert codes == [
        (None, -32700),  # parse error
        (None, -32600),  # an array: LSP has no batches
        (None, -32600),
        (7, -32600),  # no "jsonrpc"
        (request_id, -32601),
    ]
    await assert_alive(client)


async def test_invalid_utf8_in_did_open_opens_the_document_with_replacement_characters(
    client: LspClient, fake: FakeLLM
):
    uri = "file:///work/latin1.py"
    params = {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": "@"}}
    body = json.dumps({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": params})
    assert client._out is not None
    client._out.write(frame(body.encode().replace(b'"@"', b'"caf\xe9 = 1\\nx = "')))
    items = await client.inline_completion(uri, (1, 4))
    assert [item["insertText"] for item in items] == ["42"]
    body = fake.requests[-1].body
    assert body["input_prefix"] + body["prompt"] == "caf\ufffd = 1\nx = "


# -- params of any shape -----------------------------------------------------------------------

REQUESTS = [
    "textDocument/inlineCompletion",
    "textDocument/completion",
    "infill/explain",
    "workspace/executeCommand",
    "infill/noSuchMethod",
]
NOTIFICATIONS = [
    "textDocument/didOpen",
    "textDocument/didChange",
    "textDocument/didClose",
    "textDocument/didSave",
    "workspace/didChangeConfiguration",
    "workspace/didChangeWatchedFiles",
    "$/cancelRequest",
    "$/setTrace",
    "infill/noSuchNotification",
]
# A valid message of each kind, whose leaves the fuzzer replaces.
POSITION = {"textDocument": {"uri": ALIVE_URI}, "position": {"line": 0, "character": 9}}
VALID_PARAMS: dict[str, Any] = {
    "textDocument/inlineCompletion": {**POSITION, "context": {"triggerKind": 1}},
    "textDocument/completion": POSITION,
    "infill/explain": POSITION,
    "workspace/executeCommand": {"command": "infill.accepted", "arguments": [1]},
    "textDocument/didOpen": {
        "textDocument": {"uri": "file:///w/f.py", "languageId": "python", "version": 1, "text": ""}
    },
    "textDocument/didChange": {
        "textDocument": {"uri": "file:///w/f.py", "version": 2},
        "contentChanges": [
            {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}},
            {"text": "x = 1\n"},
        ],
    },
    "textDocument/didClose": {"textDocument": {"uri": "file:///w/f.py"}},
    "workspace/didChangeConfiguration": {"settings": {"infill": {"completion": {}}}},
    "workspace/didChangeWatchedFiles": {"changes": [{"uri": "file:///w/f.py", "type": 2}]},
    "$/cancelRequest": {"id": 1},
}


def paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value that can be replaced: the value itself, its members."""
    found = [path]
    if isinstance(value, dict):
        for key, member in value.items():
            found += paths(member, (*path, key))
    elif isinstance(value, list):
        for index, member in enumerate(value):
            found += paths(member, (*path, index))
    return found


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(value[path[0]], path[1:], new)
    return copy


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, Any, bool]:
    """(method, params, is a request): a valid message with one part replaced by any JSON."""
    method = draw(st.sampled_from([*REQUESTS, *NOTIFICATIONS]))
    params = VALID_PARAMS.get(method, {})
    if draw(st.booleans()):
        params = replaced(params, draw(st.sampled_from(paths(params))), draw(json_values))
    return method, params, method in REQUESTS


@fuzz_settings(400)
@given(message=messages())
async def test_params_of_any_shape_get_an_answer_and_break_nothing(
    client: LspClient, message: tuple[str, Any, bool]
):
    method, params, is_request = message
    if is_request:
        try:
            await client.request(method, params, timeout=20)
        except LspError as error:
            # (-32803: infill/explain's answer where no suggestion may be made, and why.)
            assert error.code in (-32600, -32601, -32602, -32803), error.message
    else:
        client.notify(method, params)
    await assert_alive(client)


# -- edits against a reference -----------------------------------------------------------------

ALPHABET = ["a", "b", " ", "\t", "\n", "\r", "\r\n", "é", "漢", "😀", "\ud83d", "\ude00", "\x00"]
texts = st.lists(st.sampled_from(ALPHABET), max_size=30).map("".join)
# Mostly positions inside a short document, some past its end, a few malformed.
numbers = st.one_of(
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 40),
    st.sampled_from([-1, MAX_POSITION, MAX_POSITION + 1]),
)
positions = st.tuples(numbers, numbers)
# Mostly ranges (some ending before they start), now and then the whole document.
ranges = st.one_of(st.tuples(positions, positions), st.tuples(positions, positions), st.none())
notifications = st.lists(st.tuples(ranges, texts), min_size=1, max_size=3)

_documents = itertools.count()


def change_event(change_range: Any, text: str) -> dict[str, Any]:
    if change_range is None:
        return {"text": text}
    (sl, sc), (el, ec) = change_range
    start, end = {"line": sl, "character": sc}, {"line": el, "character": ec}
    return {"range": {"start": start, "end": end}, "text": text}


def sent(text: str) -> str:
    """`text` as the server reads it from JSON: halves of a surrogate pair side by side are
    one character there (as in a UTF-16 client), lone ones stay lone."""
    decoded: str = json.loads(json.dumps(text))
    return decoded


def replay(text: str, changes: list[tuple[Any, str]], encoding: str) -> str:
    """What a correct client holds after one didChange: all of it applied, or none of it when
    one change is malformed (a number outside LSP's range, a range ending before it starts)."""
    after: str | None = text
    for change_range, new_text in changes:
        if change_range is not None and max(*change_range[0], *change_range[1]) > MAX_POSITION:
            return text
        after = reference_change(after, change_range, sent(new_text), encoding)
        if after is None:
            return text
    return after


@pytest.fixture
async def edit_client(encoding: str, fake: FakeLLM, start_client: StartClient) -> LspClient:
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(
        position_encodings=[encoding],
        initialization_options={
            "backend": {"kind": "llamacpp", "url": fake.root},
            "prompt": {"max_tokens": 131_072},
            "completion": {"debounce_ms": 0},
        },
    )
    assert client.encoding == encoding
    return client


@pytest.mark.parametrize("encoding", ENCODINGS)
@fuzz_settings(150)
@given(initial=texts, edits=st.lists(notifications, max_size=6))
async def test_edits_keep_the_document_equal_to_a_reference_replay(
    encoding: str,
    edit_client: LspClient,
    fake: FakeLLM,
    initial: str,
    edits: list[list[tuple[Any, str]]],
):
    client = edit_client
    uri = f"file:///work/fuzz{next(_documents)}.py"
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": initial}},
    )
    expected = reference_text(sent(initial))
    for version, changes in enumerate(edits, start=2):
        client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [change_event(r, t) for r, t in changes],
            },
        )
        expected = replay(expected, changes, encoding)
    # A line to complete at the end: the prefix the backend gets is the whole document.
    end = len(reference_lines(expected))
    tail = "\nzz = "
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 99},
            "contentChanges": [change_event(((end, 0), (end, 0)), tail)],
        },
    )
    expected += tail
    last_line = len(reference_lines(expected)) - 1
    items = await client.inline_completion(uri, (last_line, 5), timeout=20)
    assert [item["insertText"] for item in items] == ["42"]
    body = fake.requests[-1].body
    assert body["input_prefix"] + body["prompt"] == normalize_newlines(expected)
    assert body["input_suffix"] == ""
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
