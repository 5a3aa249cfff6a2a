"""A keystroke's two messages read as plain JSON (`infill.fast_path`) mean what pygls's
typed reading of them means; whatever the plain reading is not sure of goes to pygls."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from lsprotocol import types as lsp

from infill.fast_path import change_span, plain_did_change, plain_inline_completion
from infill.server import create_server
from tests.fuzzing import fuzz_settings

URI = "file:///w/a.py"


def typed(message: dict[str, Any]) -> Any:
    return create_server().protocol.structure_message(message)


def did_change(params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": params}


def inline(params: Any, msg_id: Any = 7) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": msg_id,
        "method": "textDocument/inlineCompletion",
        "params": params,
    }


def position(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


# Values pygls takes for a uinteger, and some it does not.
numbers = st.one_of(
    st.integers(min_value=0, max_value=2**31 - 1),
    st.integers(min_value=-5, max_value=-1),
    st.just(2**31),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.text(max_size=2),
)
positions = st.one_of(
    st.builds(position, numbers, numbers),
    st.fixed_dictionaries({"line": numbers}),
    st.none(),
)
changes = st.one_of(
    st.fixed_dictionaries(
        {"range": st.fixed_dictionaries({"start": positions, "end": positions}), "text": st.text()}
    ),
    st.fixed_dictionaries({"text": st.one_of(st.text(), st.none(), st.integers())}),
    st.just("x"),
)
did_change_params = st.one_of(
    st.fixed_dictionaries(
        {
            "textDocument": st.fixed_dictionaries(
                {"uri": st.one_of(st.just(URI), st.integers()), "version": numbers}
            ),
            "contentChanges": st.lists(changes, max_size=3),
        }
    ),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
inline_params = st.one_of(
    st.fixed_dictionaries(
        {
            "textDocument": st.fixed_dictionaries({"uri": st.just(URI)}),
            "position": positions,
            "context": st.one_of(
                st.fixed_dictionaries({"triggerKind": numbers}), st.none(), st.just({})
            ),
        }
    ),
    st.none(),
)


@fuzz_settings(300)
@given(did_change_params)
def test_a_did_change_read_plainly_is_what_pygls_reads(params: Any):
    plain = plain_did_change(params)
    if plain is None:
        return  # pygls reads it, and says what is wrong with it
    message = typed(did_change(params))
    document = message.params.text_document
    assert plain == (
        document.uri,
        document.version,
        [(change.text, change_span(change)) for change in message.params.content_changes],
    )


@fuzz_settings(300)
@given(inline_params)
def test_an_inline_completion_read_plainly_is_what_pygls_reads(params: Any):
    plain = plain_inline_completion(params)
    if plain is None:
        return
    message = typed(inline(params))
    invoked = message.params.context.trigger_kind == lsp.InlineCompletionTriggerKind.Invoked
    assert plain == (message.params.text_document.uri, message.params.position, invoked)


def test_what_the_plain_reading_is_not_sure_of_goes_to_pygls():
    server = create_server()
    edit = {"range": {"start": position(0, 0), "end": position(0, 0)}, "text": "x"}
    good_change = {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [edit]}
    good_inline = {
        "textDocument": {"uri": URI},
        "position": position(0, 1),
        "context": {"triggerKind": 2},
    }
    assert server.take_plain(did_change(good_change))
    not_taken = [
        did_change({**good_change, "textDocument": {"uri": URI, "version": True}}),
        did_change({**good_change, "contentChanges": [{**edit, "range": None}]}),
        did_change({**good_change, "contentChanges": [{"range": edit["range"]}]}),
        {**did_change(good_change), "id": 3},  # a request by that name: pygls answers it
        {**did_change(good_change), "jsonrpc": "1.0"},
        inline({**good_inline, "position": position(-1, 0)}),
        inline({**good_inline, "context": {"triggerKind": 3}}),
        inline({k: v for k, v in good_inline.items() if k != "context"}),
        inline(good_inline, msg_id=True),
        inline(good_inline, msg_id=None),
        [did_change(good_change)],
        "textDocument/didChange",
    ]
    for message in not_taken:
        assert not server.take_plain(message), message
