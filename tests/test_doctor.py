"""`infill doctor` against a healthy fake, a missing server and a missing model."""

from __future__ import annotations

from dataclasses import replace

from infill.doctor import diagnose
from infill.local_models import USUAL_SERVERS
from infill.settings import Settings
from tests.fake_llm import FakeLLM, Reply
from tests.test_cli import free_port, run


async def test_healthy_backend(fake: FakeLLM, env: dict[str, str]):
    fake.models = ["qwen2.5-coder:1.5b-base"]
    fake.default = Reply(chunks=["a", " + b"])
    status, out, _ = await run(
        "doctor", "--set", f"backend.url={fake.url}", "--set",
        "backend.model=qwen2.5-coder:1.5b-base", env=env,
    )  # fmt: skip
    assert status == 0, out
    assert "ok    reachable" in out
    assert "ok    model      'qwen2.5-coder:1.5b-base' is served" in out
    assert "first token in" in out and "'a + b'" in out
    assert fake.requests[-1].body["max_tokens"] == 4


async def test_the_offline_engine_needs_no_server(env: dict[str, str]):
    status, out, _ = await run("doctor", env=env)
    assert status == 0, out
    assert "ok    settings   ngram: the built-in offline engine" in out
    assert "ok    completion answer in" in out and "'a + b'" in out


async def test_nothing_listening(env: dict[str, str]):
    status, out, _ = await run(
        "doctor",
        "--set",
        "backend.kind=llamacpp",
        "--set",
        "backend.url=http://127.0.0.1:9",
        env=env,
    )
    assert status == 1
    assert "FAIL  reachable  nothing is listening at http://127.0.0.1:9" in out
    assert "llama-server" in out


async def test_model_not_pulled(fake: FakeLLM, env: dict[str, str]):
    fake.models = ["llama3.1:8b"]
    fake.default = Reply(status=404, error_body='{"error": "model \\"codegemma:2b\\" not found"}')
    status, out, _ = await run(
        "doctor", "--set", "backend.kind=ollama", "--set", f"backend.url={fake.root}",
        "--set", "backend.model=codegemma:2b", env=env,
    )  # fmt: skip
    assert status == 1
    assert "FAIL  model      'codegemma:2b' is not served here: llama3.1:8b" in out
    assert "FAIL  completion HTTP 404" in out and "not found" in out


async def test_missing_key_is_named_never_shown(fake: FakeLLM, env: dict[str, str]):
    status, out, _ = await run(
        "doctor", "--set", "backend.kind=mistral", "--set", f"backend.url={fake.url}",
        "--set", "backend.api_key_env=NO_SUCH_KEY_VAR", env=env,
    )  # fmt: skip
    assert status == 1
    assert "FAIL  api key    the environment variable NO_SUCH_KEY_VAR is empty" in out


async def test_with_no_backend_a_local_model_server_is_named_with_its_setting(fake: FakeLLM):
    # The fake on a free port stands in for each usual port: it answers as Ollama and as an
    # OpenAI-compatible server (LM Studio), not as llama-server (no /props).
    fake.models = ["qwen2.5-coder:1.5b"]
    moved = [replace(server, port=fake.port) for server in USUAL_SERVERS]
    closed = replace(USUAL_SERVERS[0], port=free_port())

    checks = await diagnose(Settings(), [*moved, closed])

    advice = [check.detail for check in checks if check.name == "local"]
    assert advice == [
        f'Ollama is answering on 127.0.0.1:{fake.port}: set backend.kind = "ollama" with '
        'backend.model = "qwen2.5-coder:1.5b" to use it',
        f"LM Studio is answering on 127.0.0.1:{fake.port}: set "
        f'backend.url = "http://127.0.0.1:{fake.port}/v1" to use it',
    ]
    assert all(check.ok for check in checks)
