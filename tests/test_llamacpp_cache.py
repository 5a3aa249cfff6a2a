"""The prompt cache of the real llama.cpp server (tiny random model), started as README
recommends: a typing session's consecutive requests find their stable part (the other files
and the prefix up to the typed line) in the server's cache, and no part of a request is longer
than the server keeps (its /props, and /infill's cut at 3/4 of the batch).

The model's text is noise: the assertions are about what the server computed, never content.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infill.backends import BackendConfig, LlamaCpp
from infill.harness import LspClient
from tests.conftest import StartClient, write_files
from tests.llamacpp import LlamaServer, ensure_llama_server, ensure_tiny_qwen_model

pytestmark = pytest.mark.timeout(1800)  # the first test may pay for the cached build

CONTEXT = 4096  # the tiny model's training length: the most it takes
BATCH = 1024
# What README recommends: a batch of 1,024 and the server's cache reuse on.
RECOMMENDED = ["--ubatch-size", str(BATCH), "--cache-reuse", "256"]

# Far more code before the cursor than /infill keeps (3/4 of the batch): the window is cut.
MAIN = "".join(
    f"def handler_{i}(request, payload):\n"
    f"    result = process(request, payload, retries={i})\n"
    f"    return result.value + {i}\n\n"
    for i in range(120)
)
# The definition of `process`, which the typed line calls: a snippet of other code.
OTHER = "def process(request, payload, retries=3):\n    return request.send(payload)\n\n" + "".join(
    f"def process_{i}(request, payload, retries=3):\n    return request.send(payload) * {i}\n\n"
    for i in range(40)
)
TYPED = "def handler_final(request, payload):\n    result = process(request"


@pytest.fixture(scope="module")
def llama_recommended() -> Iterator[str]:
    binary = ensure_llama_server()
    model = ensure_tiny_qwen_model()
    with LlamaServer(
        binary, model, ctx_size=CONTEXT, batch_size=BATCH, extra_args=RECOMMENDED
    ) as url:
        yield url


async def test_props_say_what_the_server_keeps(llama_recommended: str):
    backend = LlamaCpp(BackendConfig(kind="llamacpp", url=llama_recommended))
    try:
        await backend.warm()
        assert backend.limits is not None
        assert backend.limits.context_tokens == CONTEXT  # one slot: all of it
    finally:
        await backend.aclose()


async def test_typing_reuses_the_stable_part_and_never_sends_more_than_is_kept(
    llama_recommended: str, start_client: StartClient, tmp_path: Path
):
    client, uri = await _two_files_open("llamacpp", llama_recommended, start_client, tmp_path, MAIN)
    line, column = MAIN.count("\n"), 0
    reports = []
    for char in TYPED:
        line, column = client.type_text(uri, (line, column), char)
        if char == "\n":
            continue
        await client.inline_completion(uri, (line, column), timeout=60)
        explained = await client.explain(uri, (line, column))
        assert explained is not None
        reports.append(explained["lastPromptCache"])
        prompt = explained["prompt"]
    assert all(report is not None for report in reports)

    # Other code reached the prompt, ahead of the prefix: the stable part is more than it.
    tokens = explained["tokens"]
    assert tokens["snippets"] > 0 and prompt.count("<|file_sep|>") >= 2, tokens
    # Each keystroke after the first computes the typed line and the suffix again, not the
    # other files and the prefix before the line: at most one request (the window's start
    # moving a step, or the other code chosen again on the new line) computes more.
    stable = tokens["snippets"] + tokens["prefix"] // 2
    cheap = [r for r in reports[1:] if r["evaluated"] <= 250 and r["cached"] >= stable]
    assert len(cheap) >= len(reports) - 2, reports

    # The prefix sent (the prompt's, up to the suffix) is within what /infill keeps of it,
    # counted by the server's own tokenizer: the server never cuts it.
    prefix = prompt.split("<|fim_prefix|>", 1)[1].split("<|fim_suffix|>", 1)[0]
    async with httpx.AsyncClient(base_url=llama_recommended, timeout=30) as http:
        tokens = (await http.post("/tokenize", json={"content": prefix})).json()["tokens"]
    assert 0.5 * BATCH < len(tokens) <= 3 * BATCH // 4


@pytest.mark.parametrize("kind", ["llamacpp", "openai"])
async def test_a_save_has_the_server_compute_the_new_prompt_head_before_the_next_key(
    kind: str, llama_recommended: str, start_client: StartClient, tmp_path: Path
):
    client, uri = await _two_files_open(kind, llama_recommended, start_client, tmp_path, MAIN)
    position = (MAIN.count("\n"), 0)
    for char in TYPED:
        position = client.type_text(uri, position, char)
    # A line added at the top: the prompt's head from there on is new once the other code (the
    # file's own far part among it) is chosen again, which a save does.
    client.edit(uri, (0, 0), (0, 0), "# handlers\n")
    position = (position[0] + 1, position[1])
    await client.inline_completion(uri, position, timeout=60)
    before = await _last_task(llama_recommended)
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    await _server_took_a_request(llama_recommended, before)  # the prime
    position = client.type_text(uri, position, ",")
    await client.inline_completion(uri, position, timeout=60)
    explained = await client.explain(uri, position)
    assert explained is not None
    assert "# handlers" in explained["prompt"]  # the other code chosen again
    report = explained["lastPromptCache"]
    # The key after the save computed only its line and the suffix: the head was primed.
    assert report["evaluated"] <= 250 and report["cached"] >= explained["tokens"]["snippets"]


async def test_the_openai_kind_sends_llama_server_no_more_than_its_context_keeps(
    start_client: StartClient, tmp_path: Path
):
    # A server started with a context smaller than the prompt budget (2,048 tokens): the
    # openai kind learns from /models that it is llama-server and from /props what it keeps,
    # and its prompt leaves room for the answer in that (the server refuses a longer one).
    small = 1024
    with LlamaServer(ensure_llama_server(), ensure_tiny_qwen_model(), ctx_size=small) as url:
        root = write_files(tmp_path, {"app/main.py": MAIN})
        client = await start_client(
            root=str(root),
            initialization_options={
                "backend": {
                    "kind": "openai",
                    "url": f"{url}/v1",
                    "template": "qwen",
                    "max_tokens": 8,
                    "timeout_ms": 30_000,
                    "answer_ms": 30_000,
                },
                "completion": {"debounce_ms": 0},
            },
        )
        uri = (root / "app/main.py").as_uri()
        client.open(uri, MAIN)
        position = client.type_text(uri, (MAIN.count("\n"), 0), "def handler_final(")
        await client.inline_completion(uri, position, timeout=60)
        explained = await client.explain(uri, position)
        assert explained is not None
        report = explained["lastPromptCache"]  # the server answered, and read this much
        assert report is not None, client.stderr_lines
        assert 0.5 * small < report["evaluated"] + report["cached"] <= small - 8, report


async def _two_files_open(
    kind: str, url: str, start_client: StartClient, tmp_path: Path, main: str
) -> tuple[LspClient, str]:
    """The server on llama-server as `kind`, the other file and `main` open; main's uri."""
    root = write_files(tmp_path, {"lib/process.py": OTHER, "app/main.py": main})
    # The openai kind sends infill's own prompt to llama-server's OpenAI API, which it learns
    # it talks to from /models.
    template = {"template": "qwen"} if kind == "openai" else {}
    client = await start_client(
        root=str(root),
        initialization_options={
            "backend": {
                "kind": kind,
                "url": url if kind == "llamacpp" else f"{url}/v1",
                **template,
                "max_tokens": 8,
                "timeout_ms": 30_000,
                "answer_ms": 30_000,
                "batch_tokens": BATCH,
            },
            "completion": {"debounce_ms": 0},
        },
    )
    uri = (root / "app/main.py").as_uri()
    client.open((root / "lib/process.py").as_uri(), OTHER)
    client.open(uri, main)
    return client, uri


async def _last_task(url: str) -> int | None:
    """The id of the last task llama-server's slot took (None before the first)."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        slot: dict[str, Any] = (await http.get("/slots")).json()[0]
    return slot.get("id_task")


async def _server_took_a_request(url: str, before: int | None) -> None:
    """Wait until llama-server's slot has taken a task after `before` and finished it."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for _ in range(600):
            slot = (await http.get("/slots")).json()[0]
            if slot.get("id_task") != before and not slot["is_processing"]:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("no request reached the server")


@pytest.mark.parametrize("kind", ["llamacpp", "openai"])
async def test_focus_has_the_server_compute_the_prompt_head_before_the_first_key(
    kind: str, llama_recommended: str, start_client: StartClient, tmp_path: Path
):
    main = MAIN + TYPED
    client, uri = await _two_files_open(kind, llama_recommended, start_client, tmp_path, main)
    position = (MAIN.count("\n") + 1, len(TYPED.split("\n")[1]))
    before = await _last_task(llama_recommended)
    # As the editors send it on entering a document: the user is there, nothing typed yet.
    params = {"textDocument": {"uri": uri}, "position": {"line": position[0], "character": 0}}
    client.notify("infill/didFocus", params)
    await _server_took_a_request(llama_recommended, before)
    position = client.type_text(uri, position, ",")
    await client.inline_completion(uri, position, timeout=60)
    explained = await client.explain(uri, position)
    assert explained is not None
    report = explained["lastPromptCache"]
    # The first key computed only its line and the suffix: the head (the other file's
    # definitions and the window of this one) was computed at the focus.
    assert report["evaluated"] <= 250 and report["cached"] >= explained["tokens"]["snippets"]
