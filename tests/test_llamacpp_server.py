"""The real llama.cpp server with a tiny random-weight Qwen2 model: the protocol infill relies on.

The first run on a machine builds `llama-server` from the pinned llama-cpp-python sdist (about
9 minutes on 2 cores) and generates the model; later runs reuse both from the user cache dir
(see tests/llamacpp.py). A failed build fails these tests: nothing here is skipped.

The model's weights are random, so its text is noise: every assertion is about the protocol
(token ids, response shapes, stream framing), never about what it writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.llamacpp import FIM_TOKENS

# The first test to run pays for the cached build (about 10 minutes) inside its fixture set-up,
# which the suite's 120 s timeout would cut. Each request below has its own 30 s httpx timeout
# and the server start its own deadline, so a hang still fails quickly once the build exists.
pytestmark = pytest.mark.timeout(1800)

TIMEOUT = httpx.Timeout(30.0)
N_PREDICT = 8


@pytest.fixture(scope="session")
def http(llama_url: str) -> Iterator[httpx.Client]:
    # A connection per request: llama-server closes idle ones after a few seconds, and a kept
    # one reused just then fails with "Server disconnected" (seen when the machine is busy).
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=llama_url, timeout=TIMEOUT, limits=limits) as client:
        yield client


def tokenize(http: httpx.Client, content: str, **flags: Any) -> list[dict[str, Any]]:
    response = http.post("/tokenize", json={"content": content, "with_pieces": True, **flags})
    assert response.status_code == 200, response.text
    tokens: list[dict[str, Any]] = response.json()["tokens"]
    return tokens


def sse_events(response: httpx.Response) -> list[str]:
    """The `data:` payloads of a server-sent event stream, in order."""
    assert response.status_code == 200, response.read()
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for line in response.iter_lines():
        if line.startswith("data:"):
            events.append(line.removeprefix("data:").strip())
        else:
            # Only blank separators between events; llama.cpp sends no comments or ids.
            assert line.strip() == "", line
    return events


def test_health(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(("marker", "token_id"), FIM_TOKENS.items())
def test_fim_markers_are_single_control_tokens(
    http: httpx.Client, marker: str, token_id: int
) -> None:
    # `parse_special` is what makes /tokenize match control tokens' text; this llama.cpp defaults
    # it to true, so it is spelled out here and the default is checked below.
    assert tokenize(http, marker, parse_special=True) == [{"id": token_id, "piece": marker}]


def test_tokenize_parses_special_tokens_by_default(http: httpx.Client) -> None:
    tokens = tokenize(http, "<|fim_prefix|>")
    assert [token["id"] for token in tokens] == [FIM_TOKENS["<|fim_prefix|>"]]


def test_marker_in_user_code_is_plain_text_without_special_parsing(http: httpx.Client) -> None:
    code = 'marker = "<|fim_suffix|>"\n'
    tokens = tokenize(http, code, parse_special=False)
    ids = [token["id"] for token in tokens]
    assert not set(ids) & set(FIM_TOKENS.values())
    # The marker alone is several ordinary tokens, and the pieces spell the text back exactly.
    assert len(tokenize(http, "<|fim_suffix|>", parse_special=False)) > 1
    assert "".join(token["piece"] for token in tokens) == code


def test_neutralized_marker_stays_plain_text_even_with_special_parsing(
    http: httpx.Client,
) -> None:
    # infill breaks a control token's spelling in user code with a zero-width space after its
    # first character, so a server that parses special tokens in the prompt still sees text.
    code = "s = '<\u200b|fim_suffix|>'"
    ids = [token["id"] for token in tokenize(http, code, parse_special=True)]
    assert not set(ids) & set(FIM_TOKENS.values())


INFILL_REQUEST: dict[str, Any] = {
    "input_prefix": "def area(width, height):\n    return ",
    "input_suffix": "\n\nprint(area(2, 3))\n",
    "input_extra": [{"filename": "shapes/util.py", "text": "def square(x):\n    return x * x\n"}],
    "n_predict": N_PREDICT,
    "temperature": 0.0,
}


def test_infill_returns_json(http: httpx.Client) -> None:
    response = http.post("/infill", json={**INFILL_REQUEST, "stream": False})
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body["content"], str)
    assert body["stop"] is True
    assert 0 < body["tokens_predicted"] <= N_PREDICT
    assert body["timings"]["predicted_n"] == body["tokens_predicted"]
    # llama.cpp's own repo-level FIM template (Qwen2.5-Coder paper), built from the FIM token ids
    # in the model's metadata; "myproject" and "filename" are its fixed placeholders.
    assert body["prompt"] == (
        "<|repo_name|>myproject\n"
        "<|file_sep|>shapes/util.py\ndef square(x):\n    return x * x\n"
        "<|file_sep|>filename\n"
        "<|fim_prefix|>def area(width, height):\n    return "
        "<|fim_suffix|>\n\nprint(area(2, 3))\n"
        "<|fim_middle|>"
    )


def test_infill_streams_json_events(http: httpx.Client) -> None:
    with http.stream("POST", "/infill", json={**INFILL_REQUEST, "stream": True}) as response:
        events = sse_events(response)
    chunks = [json.loads(event) for event in events if event != "[DONE]"]
    assert chunks, events
    assert all(isinstance(chunk["content"], str) for chunk in chunks)
    assert [chunk["stop"] for chunk in chunks].count(True) == 1
    assert chunks[-1]["stop"] is True
    assert 0 < chunks[-1]["tokens_predicted"] <= N_PREDICT


def test_v1_completions_streams_sse_ending_in_done(http: httpx.Client) -> None:
    prompt = "<|fim_prefix|>def area(width, height):\n    return <|fim_suffix|>\n<|fim_middle|>"
    request = {
        "model": "tiny-qwen2",
        "prompt": prompt,
        "max_tokens": N_PREDICT,
        "temperature": 0.0,
        "stream": True,
    }
    with http.stream("POST", "/v1/completions", json=request) as response:
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert "[DONE]" not in events[:-1]
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks
    for chunk in chunks:
        assert chunk["object"] == "text_completion"
        assert isinstance(chunk["choices"][0]["text"], str)
    finish = [chunk["choices"][0]["finish_reason"] for chunk in chunks]
    assert finish[-1] in ("length", "stop")
    assert all(reason is None for reason in finish[:-1])
