"""bench/local's instrument: the typing session, the recording relay and the reuse accounting,
against the real llama-server with the tiny random model on a session of a few keys. Timing
goals live in the benchmark, not here."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from bench.local import systems
from bench.local.relay import Relay, has_token
from bench.local.reuse import llama_server, replay, reused_share
from bench.local.session import make_session
from tests.llamacpp import ensure_llama_server, ensure_tiny_qwen_model

pytestmark = pytest.mark.timeout(1800)  # the first test may pay for the cached build

FLAGS = ["--cache-reuse", "256", "-b", "1024", "-ub", "1024"]
INFILL_BODY = {
    "input_prefix": "def add(a, b):\n    return ",
    "input_suffix": "\n\nprint(add(1, 2))\n",
    "input_extra": [{"filename": "util.py", "text": "def mul(a, b):\n    return a * b\n"}],
    "prompt": "",
    "n_predict": 4,
    "stream": True,
}


def test_the_session_types_the_method_body_back_into_the_file():
    session = make_session(chars=120, seed=3)
    opened = session.files[session.typed_file]
    assert list(session.files)[-1] == session.typed_file and len(session.files) == 5
    assert opened[: session.start] + session.typed + opened[session.start :] == session.source
    assert 0 < len(session.typed) <= 120 + 40  # whole lines: the last may cross the mark
    # A pause at every line end and after the last key, nowhere else.
    assert session.pauses == session.typed.count("\n") + 1
    assert session.keys[-1].pause
    assert make_session(chars=120, seed=3) == session


def test_the_first_token_is_the_first_event_that_is_not_prompt_progress():
    progress = b'data: {"content": "", "prompt_progress": {"total": 9, "processed": 0}}\n\n'
    token = b'data: {"content": "x", "stop": false}\n\n'
    assert not has_token(progress)
    assert not has_token(progress + token[:20])  # the token's event not whole yet
    assert has_token(progress + token)


def test_the_relay_records_the_request_and_replaying_it_twice_reuses_the_cache():
    binary, model = ensure_llama_server(), ensure_tiny_qwen_model()
    with llama_server(binary, model, FLAGS) as upstream:
        relay = Relay(upstream, {"logit_bias": [[198, 2.5]]})
        with relay as url:
            answer = httpx.post(f"{url}/infill", json=INFILL_BODY, timeout=60)
            health = httpx.get(f"{url}/health", timeout=60)
        assert answer.status_code == 200 and health.status_code == 200
        assert "data:" in answer.text  # streamed through as it came
        (exchange,) = relay.completions()  # /health passed through, unrecorded
        assert exchange.path == "/infill" and exchange.status == 200
        assert exchange.body == INFILL_BODY  # what the client sent, without the added bias
        assert exchange.time_to_first_token() is not None
        assert exchange.timings()["prompt_n"] > 0
    with llama_server(binary, model, FLAGS) as fresh:
        first, second = replay(fresh, [(exchange.path, exchange.body)] * 2)
    assert first.cache_n == 0 and first.prompt_n > 0
    # The same prompt again: all of it but the last token comes from the cache.
    assert second.cache_n > 0 and second.prompt_n < first.prompt_n
    assert second.cache_n + second.prompt_n == first.prompt_n
    assert reused_share([first, second]) == pytest.approx(second.cache_n / (2 * first.prompt_n))


@pytest.mark.parametrize("kind", ["llamacpp", "openai"])
def test_a_few_keys_typed_into_infill_are_recorded_and_their_reuse_counted(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(systems, "SETTLE_S", 0.5)
    session = make_session(chars=30, seed=1)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    for name, text in session.files.items():
        (workspace / name).write_text(text)
    binary, model = ensure_llama_server(), ensure_tiny_qwen_model()
    with llama_server(binary, model, FLAGS) as upstream:
        relay = Relay(upstream)
        with relay as url:
            pauses, _ = asyncio.run(
                systems.type_into_infill(kind, url, session, workspace, tmp_path, 20.0, {})
            )
    exchanges = relay.completions()
    path = "/infill" if kind == "llamacpp" else "/v1/completions"
    assert exchanges and {e.path for e in exchanges} == {path}
    assert len(pauses) == session.pauses and all(p.answered is not None for p in pauses)
    recorded = [(e.path, e.body) for e in exchanges]
    with llama_server(binary, model, FLAGS) as fresh:
        *reuses, again = replay(fresh, [*recorded, recorded[-1]])
    assert len(reuses) == len(exchanges)
    assert reuses[0].cache_n == 0  # a fresh server has nothing cached
    assert all(r.prompt_n > 0 for r in reuses)  # at least the last token is evaluated
    # The last request once more: its whole prompt is in the cache but for the last token.
    total = reuses[-1].cache_n + reuses[-1].prompt_n
    assert again.cache_n == total - 1 and again.prompt_n == 1
