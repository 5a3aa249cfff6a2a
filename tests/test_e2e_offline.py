"""The offline engine through the real `infill serve`: with no backend configured, suggestions
come from the workspace's own code, through the same post-processing and cache as a model's;
no request leaves the machine."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from infill.backends.ngram.index import NgramIndex
from infill.backends.ngram.predictor import forecast
from infill.backends.ngram.store import read_calibrations
from infill.harness import LspClient
from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply
from tests.test_ngram import default_guesses, noise

HANDLERS = '''\
"""Request handlers."""

from shop.http import Request, Response


def list_{name}(request: Request) -> Response:
    query = request.args.get("q", "")
    found = request.app.store.search("{name}", query)
    return Response.json([entry.to_dict() for entry in found], status=200)
'''


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    for name in ("orders", "items", "customers"):
        (root / f"{name}.py").write_text(HANDLERS.format(name=name))
    (root / ".gitignore").write_text("draft.py\n")
    (root / "draft.py").write_text(HANDLERS.format(name="drafts").replace("json", "PLANTED"))
    return root


def ready(params: Any) -> bool:
    return params["state"] == "offline" and "offline engine" in params["message"]


async def start(start_client: StartClient, workspace: Path, **options: Any) -> LspClient:
    client = await start_client(root=workspace, **options)
    await client.wait_for_notification("infill/status", ready, timeout=60)
    return client


NEW = """\
from shop.http import Request, Response


def list_products(request: Request) -> Response:
    query = request.args.get("q", "")
    found = request.app.store.search("products", query)
"""


async def test_with_no_backend_configured_the_workspace_completes_the_line(
    start_client: StartClient, workspace: Path
):
    client = await start(start_client, workspace)
    uri = (workspace / "products.py").as_uri()
    client.open(uri, NEW + "    \n")
    items = await client.inline_completion(uri, (6, 4))
    assert [i["insertText"] for i in items] == [
        "return Response.json([entry.to_dict() for entry in found], status=200)"
    ]
    assert not [m for m in client.messages if "backend" in m["message"]]


async def test_explain_says_what_the_offline_engine_matched(
    start_client: StartClient, workspace: Path
):
    client = await start(start_client, workspace)
    uri = (workspace / "products.py").as_uri()
    client.open(uri, NEW + "    \n")
    report = await client.explain(uri, (6, 4))
    assert report is not None and report["offline"]["state"] == "ready"
    prediction = report["offline"]["prediction"]
    assert prediction["text"] == (
        "return Response.json([entry.to_dict() for entry in found], status=200)"
    )
    # A cursor with nothing like it in the workspace: the report says there is no prediction.
    client.open(uri.replace("products", "other"), "zzz_unheard_of = ")
    report = await client.explain(uri.replace("products", "other"), (0, 17))
    assert report is not None and report["offline"]["prediction"] is None


async def test_its_suggestions_go_through_the_same_pipeline(
    start_client: StartClient, workspace: Path
):
    client = await start(start_client, workspace)
    uri = (workspace / "products.py").as_uri()
    # In front of the closer the editor typed: the suggestion ends where it would repeat it.
    client.open(uri, NEW + "    return Response.json()\n")
    items = await client.inline_completion(uri, (6, 25))
    assert [i["insertText"] for i in items] == ["[entry.to_dict() for entry in found], status=200"]
    # Typing what is shown keeps the rest of it shown (typeahead, as for a model's).
    client.edit(uri, (6, 25), (6, 25), "[ent")
    items = await client.inline_completion(uri, (6, 29))
    assert [i["insertText"] for i in items] == ["ry.to_dict() for entry in found], status=200"]
    text = client.accept(uri, (6, 29), items[0])
    assert text.endswith(
        "    return Response.json([entry.to_dict() for entry in found], status=200)\n"
    )


async def test_an_open_document_teaches_it_once_the_user_pauses(
    start_client: StartClient, workspace: Path
):
    client = await start(start_client, workspace)
    taught = (workspace / "audit.py").as_uri()
    client.open(taught, "")
    lines = "def audit(event):\n    stamp = event.clock.now_utc()\n    journal.append(stamp)\n"
    client.edit(taught, (0, 0), (0, 0), lines * 3)
    asked = (workspace / "other.py").as_uri()
    client.open(asked, "def check(event):\n    stamp = event.clock.now_utc()\n    \n")
    for _ in range(100):  # the document is indexed once typing has paused (half a second)
        items = await client.inline_completion(asked, (2, 4))
        if items:
            break
        await asyncio.sleep(0.1)
    assert [i["insertText"] for i in items] == ["journal.append(stamp)"]


async def test_ignored_files_teach_it_nothing(start_client: StartClient, workspace: Path):
    client = await start(start_client, workspace)
    uri = (workspace / "products.py").as_uri()
    client.open(uri, NEW + "    return Response.\n")
    items = await client.inline_completion(uri, (6, 20))
    assert [i["insertText"] for i in items] == [
        "json([entry.to_dict() for entry in found], status=200)"
    ]


async def test_a_reopened_workspace_is_ready_from_the_cache(
    start_client: StartClient, workspace: Path, env: dict[str, str]
):
    first = await start(start_client, workspace)
    await first.shutdown()
    cached = list((Path(env["XDG_CACHE_HOME"]) / "infill" / "ngram").glob("shop-*.bin"))
    assert len(cached) == 1
    client = await start_client(root=workspace)
    status = await client.wait_for_notification("infill/status", ready, timeout=60)
    assert status["message"] == "offline engine ready: 3 files indexed (from the cache)"
    uri = (workspace / "products.py").as_uri()
    client.open(uri, NEW + "    \n")
    assert await client.inline_completion(uri, (6, 4))


async def test_a_configured_server_wins_and_switching_back_builds_the_index(
    start_client: StartClient, workspace: Path, fake: FakeLLM
):
    fake.default = Reply(chunks=["print('from the model')\n"])
    client = await start_client(root=workspace, initialization_options={"backend.url": fake.url})
    uri = (workspace / "products.py").as_uri()
    client.open(uri, NEW + "    \n")
    items = await client.inline_completion(uri, (6, 4))
    assert [i["insertText"] for i in items] == ["print('from the model')"]

    client.notify(
        "workspace/didChangeConfiguration", {"settings": {"infill": {"backend.kind": "ngram"}}}
    )
    await client.wait_for_notification("infill/status", ready, timeout=60)
    items = await client.inline_completion(uri, (6, 4))
    assert [i["insertText"] for i in items] == [
        "return Response.json([entry.to_dict() for entry in found], status=200)"
    ]
    assert len(fake.requests) == 1


async def test_switching_to_a_model_builds_the_definitions_it_needs(
    start_client: StartClient, workspace: Path, fake: FakeLLM
):
    client = await start(start_client, workspace)
    uri = (workspace / "products.py").as_uri()
    client.open(uri, NEW + "    found = list_orders()\n")
    cursor = (6, len("    found = list_orders("))
    assert (await client.explain(uri, cursor) or {}).get("snippets") == []

    client.notify(
        "workspace/didChangeConfiguration", {"settings": {"infill": {"backend.url": fake.url}}}
    )
    await client.wait_for_notification(
        "$/progress",
        lambda p: p["token"].startswith("infill-definitions") and p["value"]["kind"] == "end",
        timeout=60,
    )
    report = await client.explain(uri, cursor)
    assert report is not None
    assert "def list_orders(request: Request) -> Response:" in report["prompt"]


LOGS = 'def {name}(user):\n    log.info("{verb} %s", user)\n    return user\n'


def write_logs(root: Path, **verbs: str) -> Path:
    root.mkdir()
    for name, verb in verbs.items():
        (root / f"{name}.py").write_text(LOGS.format(name=name, verb=verb))
    return root


async def test_a_line_the_workspace_is_split_on_is_generated_from_its_clear_majority(
    start_client: StartClient, tmp_path: Path
):
    typed = 'def e(user):\n    log.info("st'
    root = write_logs(tmp_path / "clear", a="starting", b="starting", c="starting", d="stopping")
    client = await start(start_client, root)
    uri = (root / "e.py").as_uri()
    client.open(uri, typed + "\n")
    items = await client.inline_completion(uri, (1, len('    log.info("st')))
    assert [i["insertText"] for i in items] == ['arting %s", user)']

    root = write_logs(tmp_path / "even", a="starting", b="starting", c="stopping", d="stopping")
    client = await start(start_client, root)
    uri = (root / "e.py").as_uri()
    client.open(uri, typed + "\n")
    assert await client.inline_completion(uri, (1, len('    log.info("st'))) == []


async def test_the_documents_own_names_outweigh_the_workspaces(
    start_client: StartClient, tmp_path: Path
):
    root = write_logs(tmp_path / "logs", a="starting", b="starting", c="starting")
    client = await start(start_client, root)
    uri = (root / "audit.py").as_uri()
    client.open(uri, "")
    own = "".join(LOGS.format(name=name, verb="stopping") for name in "def")
    client.edit(uri, (0, 0), (0, 0), own + '\n\ndef g(user):\n    log.info("st\n')
    cursor = (12, len('    log.info("st'))
    # Until the document is indexed (once typing has paused, half a second), the workspace's
    # line is shown; a blank line added below makes each request a new one (not the cache's).
    shown = [i["insertText"] for i in await client.inline_completion(uri, cursor)]
    for line in range(13, 33):
        if shown != ['arting %s", user)']:
            break
        await asyncio.sleep(0.7)  # a pause: the document is indexed
        client.edit(uri, (line, 0), (line, 0), "\n")
        shown = [i["insertText"] for i in await client.inline_completion(uri, cursor)]
    assert shown == ['opping %s", user)']


async def test_thresholds_are_calibrated_on_the_workspaces_own_files(
    start_client: StartClient, tmp_path: Path, env: dict[str, str]
):
    root = tmp_path / "noise"
    root.mkdir()
    files = {f"f{i}.py": noise(i) for i in range(6)}
    for name, text in files.items():
        (root / name).write_text(text)
    # Uncalibrated, the engine would show lines the workspace agrees on in these calls.
    index = NgramIndex()
    for name, text in files.items():
        data = index.encode(text, "python")
        assert data is not None
        index.put(name, "python", data)
    plan = index.snapshot()
    index.install(NgramIndex.build(plan), plan)
    guesses = default_guesses(index, files["f0.py"])

    client = await start(start_client, root)
    cache = Path(env["XDG_CACHE_HOME"]) / "infill" / "ngram"
    (saved,) = [read_calibrations(path) for path in cache.glob("noise-*.bin")]
    measured = saved["python"].measured
    assert [m.kind for m in measured] == ["line start", "mid-line"]
    assert all(m.shown == 0 for m in measured)
    # Calibrated as the server did, the engine shows nothing at some of them: nor does it.
    index.calibrations = saved
    silent = [guess for guess in guesses if forecast(index, "python", *guess) is None]
    assert silent
    for number, (prefix, suffix) in enumerate(silent[:5]):
        uri = (root / f"new{number}.py").as_uri()
        client.open(uri, prefix + suffix)
        lines = prefix.split("\n")
        assert await client.inline_completion(uri, (len(lines) - 1, len(lines[-1]))) == []


async def test_no_confident_answer_is_said_in_explain_and_once_in_the_log(
    start_client: StartClient, workspace: Path
):
    client = await start(start_client, workspace)
    uri = (workspace / "fresh.py").as_uri()
    client.open(uri, "zqx_unseen = \n")
    for _ in range(2):  # the same reason again is not logged again
        assert await client.inline_completion(uri, (0, 13)) == []

    report = await client.explain(uri, (0, 13))
    assert report is not None
    assert report["noSuggestion"] == {
        "reason": "no-answer",
        "message": "the engine has no confident answer here",
    }
    logged = [line for line in client.stderr_lines if "no suggestion at" in line]
    assert logged == [
        f"infill INFO infill.suggestions: no suggestion at {uri}:1:14: "
        "the engine has no confident answer here"
    ]


STREAMS = """\
class Reader:
    def __init__(self, loop, limit):
        self._loop = loop
        self._limit = limit


class Writer:
    def __init__(self, transport, protocol, reader, loop):
        self._transport = transport
"""


async def test_a_constructor_stores_its_next_parameter_the_way_the_file_does(
    start_client: StartClient, workspace: Path
):
    client = await start(start_client, workspace)
    uri = (workspace / "streams.py").as_uri()
    client.open(uri, STREAMS + "        \n")
    line = STREAMS.count("\n")
    items = await client.inline_completion(uri, (line, 8))
    # The parameter after the one stored, under the file's habit: never seen whole anywhere.
    assert [i["insertText"] for i in items] == ["self._protocol = protocol"]
    report = await client.explain(uri, (line, 8))
    assert report is not None
    prediction = report["offline"]["prediction"]
    assert (prediction["source"], prediction["parameter"]) == ("scope", "protocol")
    # Mid-line: what is typed of it is finished.
    client.edit(uri, (line, 8), (line, 8), "self._pr")
    items = await client.inline_completion(uri, (line, 16))
    assert [i["insertText"] for i in items] == ["otocol = protocol"]
    # A file without the habit gets nothing from the rule.
    other = (workspace / "plain.py").as_uri()
    text = "class Queue:\n    def __init__(self, maxsize, loop):\n        \n"
    client.open(other, text)
    assert await client.inline_completion(other, (2, 8)) == []
