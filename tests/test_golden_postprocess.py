"""Golden tests of the post-processing, per language, through the real `infill serve`.

Each case in `tests/golden/postprocess/*.txt` is a document with a cursor, what the model streams
and the document the user should get after accepting the first inline item. The cases run
through one `infill serve` process (positions in UTF-32) and a fake OpenAI-compatible backend
that streams the model text in a few deltas cut anywhere, as `bench/postprocess_eval.py` does.

File format::

    # Comment lines are allowed before the first case only.
    === truncate_at_block_end, stream: what the case shows
    (free notes, up to the first section, are ignored)
    --- language python
    --- document
    def f(x):
        if x:█
        return 0
    --- model

            y = 1
        return 0
    --- expected
    def f(x):
        if x:
            y = 1
        return 0

- The header names the rules the case covers, comma-separated before the colon: the names of
  the filters in `infill.postprocess.FILTERS`, `completion_mode` (whether and how much to
  complete at the cursor) or `stream` (the cut while streaming, a line becoming a block).
- The sections come in this order; `--- language` may be left out.
- `--- language <languageId>`: the LSP languageId; optional in a file named after a language
  (`python.txt`, `csharp.txt`, ...), required elsewhere.
- `--- document`: the document, `█` at the cursor (exactly one). `--- document crlf`: the same
  with CRLF line ends: the document and the expected text are converted to `\\r\\n` before
  they are used; the model text keeps `\\n` (the server normalizes the prompt and converts the
  suggestion back).
- `--- model`: the raw model output, verbatim between its header line and the next header line,
  the final line end dropped: an empty first line is a leading newline, empty last lines are
  trailing newlines. `--- model crlf`: the model answers with `\\r\\n` line ends (a model
  trained on Windows code, a chat model, a proxy): its text is converted before it streams.
- `--- expected`: the whole document after accepting the first item, or `(nothing)` when no
  item must be returned (the document then stays as it is).
- Documents and expected texts are files: trailing empty lines are dropped and the text ends
  with one line end.
- In every section a `¶` at the end of a line is removed: it shows where a line with trailing
  blanks ends (editors strip them).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from infill.harness import LspClient
from infill.postprocess import FILTERS
from tests.fake_llm import FakeLLM, Reply

GOLDEN = Path(__file__).parent / "golden" / "postprocess"
CURSOR = "█"
LINE_END_MARK = "¶"
NOTHING = "(nothing)"
CHUNKS = 4  # stream deltas per answer
RULES = frozenset(f.__name__ for f in FILTERS) | {"completion_mode", "stream"}
LANGUAGE_FILES = (
    "python",
    "typescript",
    "javascript",
    "go",
    "rust",
    "java",
    "c",
    "cpp",
    "csharp",
    "crlf",
    "filters",
)
EXTENSIONS = {
    "python": "py",
    "typescript": "ts",
    "javascript": "js",
    "go": "go",
    "rust": "rs",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    "csharp": "cs",
    "yaml": "yaml",
    "plaintext": "txt",
    "markdown": "md",
}
_HEADER = re.compile(r"=== (?P<rules>[^:]+): (?P<title>.+)")
SECTIONS = ("language", "document", "model", "expected")  # in this order
_SECTION = re.compile(r"--- (?P<name>language|document|model|expected)(?: (?P<arg>\S+))?")


@dataclass(frozen=True)
class Case:
    file: str
    line: int  # of the header, 1-based
    rules: tuple[str, ...]
    title: str
    language_id: str
    crlf: bool
    model_crlf: bool  # the model answers with "\r\n"
    prefix: str  # the document before the cursor
    suffix: str  # the document after the cursor
    model: str  # the raw model output, as it streams
    expected: str | None  # the document after accepting; None: no item

    @property
    def header(self) -> str:
        return f"{self.file}:{self.line}: === {', '.join(self.rules)}: {self.title}"

    @property
    def document(self) -> str:
        return self.prefix + self.suffix


class FormatError(ValueError):
    pass


def _unmark(lines: list[str]) -> list[str]:
    return [line.removesuffix(LINE_END_MARK) for line in lines]


def _as_file(lines: list[str]) -> str:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "".join(line + "\n" for line in _unmark(lines))


def parse(path: Path) -> list[Case]:
    """The cases of a golden file."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the file's own final line end
    starts = [i for i, line in enumerate(lines) if line.startswith("=== ")]
    for i, line in enumerate(lines[: starts[0] if starts else len(lines)]):
        if line.strip() and not line.startswith("#"):
            raise FormatError(f"{path.name}:{i + 1}: text before the first case")
    bounds = [*starts, len(lines)]
    return [_parse_case(path, lines, a, b) for a, b in itertools.pairwise(bounds)]


def _parse_case(path: Path, lines: list[str], start: int, end: int) -> Case:
    where = f"{path.name}:{start + 1}"
    header = _HEADER.fullmatch(lines[start])
    if header is None:
        raise FormatError(f"{where}: a header is `=== rule, rule: title`")
    rules = tuple(rule.strip() for rule in header["rules"].split(","))
    if unknown := set(rules) - RULES:
        raise FormatError(f"{where}: unknown rules {sorted(unknown)}")
    sections: dict[str, tuple[str | None, list[str]]] = {}
    current: list[str] | None = None
    for line in lines[start + 1 : end]:
        section = _SECTION.fullmatch(line)
        if section is None:
            if current is not None:
                current.append(line)
            continue
        if section["name"] in sections:
            raise FormatError(f"{where}: two `--- {section['name']}` sections")
        current = []
        sections[section["name"]] = (section["arg"], current)
    order = [name for name in SECTIONS if name in sections]
    if list(sections) != order or order[-3:] != ["document", "model", "expected"]:
        raise FormatError(f"{where}: the sections are [language], document, model, expected")

    language_id = sections["language"][0] if "language" in sections else None
    if language_id is None and path.stem in EXTENSIONS:
        language_id = path.stem
    if language_id is None:
        raise FormatError(f"{where}: no `--- language <languageId>`")
    option, document_lines = sections["document"]
    if option not in (None, "crlf"):
        raise FormatError(f"{where}: `--- document` takes only `crlf`")
    crlf = option == "crlf"
    document = _as_file(document_lines)
    if document.count(CURSOR) != 1:
        raise FormatError(f"{where}: the document needs exactly one {CURSOR}")
    prefix, suffix = document.split(CURSOR)
    model_option, model_lines = sections["model"]
    if model_option not in (None, "crlf"):
        raise FormatError(f"{where}: `--- model` takes only `crlf`")
    model = ("\r\n" if model_option == "crlf" else "\n").join(_unmark(model_lines))
    expected_lines = sections["expected"][1]
    expected: str | None = _as_file(expected_lines)
    if expected is not None and expected.strip() == NOTHING:
        expected = None
    if crlf:
        prefix, suffix = (text.replace("\n", "\r\n") for text in (prefix, suffix))
        expected = expected.replace("\n", "\r\n") if expected is not None else None
    return Case(
        path.name,
        start + 1,
        rules,
        header["title"],
        language_id,
        crlf,
        model_option == "crlf",
        prefix,
        suffix,
        model,
        expected,
    )


def golden_files() -> list[Path]:
    return sorted(GOLDEN.glob("*.txt"))


# -- running through the server ----------------------------------------------------------------


def position(prefix: str) -> tuple[int, int]:
    """The LSP position (UTF-32) at the end of `prefix`."""
    lines = re.split(r"\r\n|\r|\n", prefix)
    return len(lines) - 1, len(lines[-1])


def chunked(text: str) -> list[str]:
    """The answer as a few stream deltas, cut anywhere (real tokens do not respect lines)."""
    cuts = [len(text) * i // CHUNKS for i in range(CHUNKS + 1)]
    return [text[a:b] for a, b in itertools.pairwise(cuts) if a < b]


@dataclass
class Server:
    client: LspClient
    fake: FakeLLM
    opened: int = 0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    """One `infill serve` and one fake backend for all the cases."""
    config_home = tmp_path_factory.mktemp("xdg-config")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFILL")}
    env["XDG_CONFIG_HOME"] = str(config_home)
    env["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    fake = await FakeLLM().start()
    client = await LspClient.start(env=env)
    try:
        await client.initialize(
            position_encodings=["utf-32"],
            initialization_options={"backend": {"url": fake.url, "template": "qwen"}},
        )
        assert client.encoding == "utf-32"
        yield Server(client, fake)
    finally:
        await client.shutdown()
        await fake.stop()


async def run_case(server: Server, case: Case) -> str | None:
    """Why the case fails, or None when it passes."""
    client = server.client
    server.opened += 1
    extension = EXTENSIONS.get(case.language_id, "txt")
    uri = f"file:///golden/{server.opened}/case.{extension}"
    at = position(case.prefix)
    server.fake.default = Reply(chunks=chunked(case.model))
    client.open(uri, case.document, case.language_id)
    try:
        items = await client.inline_completion(uri, at)
        got = client.accept(uri, at, items[0]) if items else None
    finally:
        client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        client.documents.pop(uri, None)
    if got == case.expected:
        return None
    inserted = repr(items[0]["insertText"]) if items else "no item"
    return "\n".join(
        [
            case.header,
            "  expected:",
            show(case.expected),
            f"  got ({inserted}):",
            show(got),
        ]
    )


def show(text: str | None) -> str:
    """A document for the failure message, CRs and trailing blanks visible."""
    if text is None:
        return f"    {NOTHING}"
    lines = text.replace("\r", "␍").split("\n")
    return "\n".join(
        "    | " + line + (LINE_END_MARK if line != line.rstrip() else "") for line in lines
    )


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.name)
async def test_golden(path: Path, server: Server):
    failures = [failure for case in parse(path) if (failure := await run_case(server, case))]
    if failures:
        pytest.fail(f"{len(failures)} failing case(s):\n\n" + "\n\n".join(failures), False)


# -- the files themselves ----------------------------------------------------------------------


def test_every_filter_has_cases():
    covered = {rule for path in golden_files() for case in parse(path) for rule in case.rules}
    missing = sorted(f.__name__ for f in FILTERS if f.__name__ not in covered)
    assert not missing, f"filters without a golden case: {missing}"


@pytest.mark.parametrize("name", LANGUAGE_FILES)
def test_every_language_has_cases(name: str):
    path = GOLDEN / f"{name}.txt"
    assert path.exists(), f"{path} is missing"
    assert parse(path), f"{path} has no cases"


def test_crlf_cases_are_crlf():
    cases = parse(GOLDEN / "crlf.txt")
    assert all(case.crlf and "\r\n" in case.document for case in cases)
    assert len({case.language_id for case in cases}) >= 3


def test_crlf_model_output_in_every_language():
    """A model answering with "\\r\\n" in a CRLF document, in every language with a file."""
    answered = {case.language_id for case in parse(GOLDEN / "crlf.txt") if case.model_crlf}
    languages = {name for name in LANGUAGE_FILES if name in EXTENSIONS}
    assert languages <= answered, f"no CRLF model output for {sorted(languages - answered)}"


def test_format_of_a_case(tmp_path: Path):
    path = tmp_path / "python.txt"
    path.write_text(
        "# a comment\n"
        "=== keep_first_line, stream: one line\n"
        "a note\n"
        "--- document crlf\n"
        "x = █\n"
        "y = 2\n"
        "\n"
        "--- model crlf\n"
        "\n"
        "1  ¶\n"
        "\n"
        "--- expected\n"
        "(nothing)\n"
        "\n",
        encoding="utf-8",
    )
    [case] = parse(path)
    assert case.rules == ("keep_first_line", "stream")
    assert case.language_id == "python"
    assert (case.prefix, case.suffix) == ("x = ", "\r\ny = 2\r\n")
    assert case.model == "\r\n1  \r\n"
    assert case.expected is None
    assert position("a\r\nbc") == (1, 2)
