"""Secrets never leave: a workspace with planted secrets, every backend kind, and the requests
the backend received searched for them. Files with secret names and ignored files are never
sent (not as snippets, and inside them no completion is made at all); credentials written into
ordinary files are redacted from the prefix, the suffix and the snippets; the API key appears in
no log line, message or `infill/explain` answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infill.harness import LspClient, LspError
from tests.conftest import StartClient, write_files
from tests.fake_llm import FakeLLM, Reply

AWS_KEY = "AKIAPLANTEDSECRET0001"[:20]
DB_PASSWORD = "planted-db-Passw0rd"
GITHUB_TOKEN = "ghp_PLANTEDplantedPLANTEDplantedPLANTE3d"
PRIVATE_KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQPLANTED"

SETTINGS = f'''\
"""Deployment settings."""

AWS_ACCESS_KEY_ID = "{AWS_KEY}"
DATABASE_URL = "postgres://shop:{DB_PASSWORD}@db.internal/shop"


def connect(database_url: str = DATABASE_URL, token: str = "{GITHUB_TOKEN}"):
    """Open the shop's database."""
    return database_url, token


SIGNING_KEY = """-----BEGIN OPENSSH PRIVATE KEY-----
{PRIVATE_KEY_BODY}
-----END OPENSSH PRIVATE KEY-----"""
'''

SERVICE = """\
from app.settings import connect


def open_shop():
    handle = connect(
"""

# Files never to be read or sent, each with a marker of its own.
PLANTED_FILES = {
    ".env": "OPENAI_API_KEY=sk-PLANTED-ENV-0123456789abcdef\n",
    "deploy/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\nPLANTED-RSA\n",
    "certs/server.pem": "-----BEGIN CERTIFICATE-----\nPLANTED-PEM\n",
    "local_settings.py": "def connect_planted():\n    return 'PLANTED-GITIGNORED'\n",
    "private/keys.py": "def connect_key():\n    return 'PLANTED-IGNORED-DIR'\n",
}
MARKERS = [
    "PLANTED-ENV",
    "PLANTED-RSA",
    "PLANTED-PEM",
    "PLANTED-GITIGNORED",
    "PLANTED-IGNORED-DIR",
    AWS_KEY,
    DB_PASSWORD,
    GITHUB_TOKEN,
    PRIVATE_KEY_BODY,
]

# Each kind sends the code its own way: a FIM prompt, llama.cpp's input_extra, Ollama's and
# Mistral's prefix with the snippets as comments, Anthropic's chat messages.
KINDS = {
    "openai": lambda fake: {"kind": "openai", "url": fake.url},
    "llamacpp": lambda fake: {"kind": "llamacpp", "url": fake.root},
    "ollama": lambda fake: {"kind": "ollama", "url": fake.root, "model": "qwen2.5-coder"},
    "mistral": lambda fake: {"kind": "mistral", "url": fake.url},
    "anthropic": lambda fake: {"kind": "anthropic", "url": fake.root, "model": "claude"},
}
API_KEY = "sk-live-the-users-own-key-0123456789"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    files = {
        "app/__init__.py": "",
        "app/settings.py": SETTINGS,
        "app/service.py": SERVICE,
        ".gitignore": "local_settings.py\nprivate/\n",
        **PLANTED_FILES,
    }
    return write_files(tmp_path / "shop", files)


def everything_sent(fake: FakeLLM) -> str:
    """Every request body and header the backend received, the API key's headers left out."""
    sent = [
        {"body": r.body, "headers": {k: v for k, v in r.headers.items() if "key" not in k}}
        for r in [*fake.requests, *fake.gets]
    ]
    return json.dumps(sent, ensure_ascii=False).replace("\\n", "\n")


def everything_shown(client: LspClient) -> str:
    return json.dumps(client.notifications) + "\n".join(client.stderr_lines)


@pytest.mark.parametrize("kind", KINDS)
async def test_planted_secrets_never_reach_any_backend(
    kind: str, workspace: Path, fake: FakeLLM, env: dict[str, str], start_client: StartClient
):
    env["SHOP_LLM_KEY"] = API_KEY
    fake.default = Reply(chunks=["x\n"])
    backend = {**KINDS[kind](fake), "api_key_env": "SHOP_LLM_KEY"}
    client = await start_client(root=workspace, initialization_options={"backend": backend})
    await client.wait_for_notification("$/progress", lambda p: p["value"]["kind"] == "end")

    # Inside a secret or ignored file: no completion, no request, no explanation.
    for name, text in PLANTED_FILES.items():
        uri = (workspace / name).as_uri()
        client.open(uri, text + "connect", language_id="python")
        assert await client.inline_completion(uri, (text.count("\n"), 7)) == []
        with pytest.raises(LspError, match="looks secret"):
            await client.explain(uri, (text.count("\n"), 7))
    assert fake.requests == []

    # Editing the settings file itself: its credentials are redacted from prefix and suffix.
    settings_uri = (workspace / "app" / "settings.py").as_uri()
    client.open(settings_uri, SETTINGS)
    client.type_text(settings_uri, (4, 0), "TIMEOUT = \n")
    await client.inline_completion(settings_uri, (4, 10))
    # Typing a credential: nothing is asked while the string is open.
    client.type_text(settings_uri, (5, 0), 'API_PASSWORD = "planted-half\n')
    assert await client.inline_completion(settings_uri, (5, 28)) == []
    assert len(fake.requests) == 1

    # Another file: the settings file comes as snippets (definition, similar code, recent edit).
    service_uri = (workspace / "app" / "service.py").as_uri()
    client.open(service_uri, SERVICE)
    cursor = (4, len("    handle = connect("))
    report = await client.explain(service_uri, cursor)
    assert report is not None
    assert any(s["path"] == "app/settings.py" and s["included"] for s in report["snippets"])
    await client.inline_completion(service_uri, cursor, invoked=True)
    assert len(fake.requests) == 2

    sent = everything_sent(fake)
    assert "def connect(" in sent and "[REDACTED]" in sent  # the snippet went, redacted
    for marker in [*MARKERS, "planted-half"]:
        assert marker not in sent, marker
    assert (
        fake.requests[-1]
        .headers.get("authorization", fake.requests[-1].headers.get("x-api-key", ""))
        .endswith(API_KEY)
    )
    shown = everything_shown(client) + json.dumps(report)
    assert API_KEY not in shown


async def test_an_api_key_echoed_by_the_backend_is_not_logged_or_shown(
    fake: FakeLLM, env: dict[str, str], start_client: StartClient
):
    env["SHOP_LLM_KEY"] = API_KEY
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {API_KEY}"}})
    fake.default = Reply(status=401, error_body=echo)
    client = await start_client(
        initialization_options={"backend": {"url": fake.url, "api_key_env": "SHOP_LLM_KEY"}}
    )
    uri = "file:///work/app.py"
    client.open(uri, "value = \n")
    for line in range(4):  # enough failures to open the breaker: its message shows the reason
        client.type_text(uri, (line, 8), f"\nvalue{line} = ")
        assert await client.inline_completion(uri, (line + 1, 9)) == []
    await client.wait_for_message(lambda m: "backend unavailable" in m["message"])
    shown = everything_shown(client)
    assert "Incorrect API key provided: [REDACTED]" in shown
    assert API_KEY not in shown
    assert API_KEY not in json.dumps(await client.explain(uri, (4, 9)))
