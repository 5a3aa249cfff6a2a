"""`infill serve` and `infill complete`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import ipaddress
import json
import logging
import os
import sys
import time
import tokenize
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infill import __version__

if TYPE_CHECKING:
    from infill.harness import LspClient
    from infill.settings import Settings

# Language ids (as editors name them) by file extension, for `infill complete`.
LANGUAGE_IDS = {
    ".py": "python",
    ".js": "javascript",
    ".jsx": "javascriptreact",
    ".ts": "typescript",
    ".tsx": "typescriptreact",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".lua": "lua",
    ".sh": "shellscript",
}


class _SecretsOut(logging.Formatter):
    """Every line, tracebacks included, without the API keys in use (a server's error may echo
    the key it was sent, an exception may carry it)."""

    def format(self, record: logging.LogRecord) -> str:
        from infill.backends import without_secrets

        return without_secrets(super().format(record))


def _setup_logging(level: str) -> None:
    # stdout carries the protocol: logs go to stderr, which editors show as the server's log.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SecretsOut("infill %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])
    logging.getLogger("pygls").setLevel(max(logging.WARNING, logging.root.level))
    # httpx logs every request at INFO: one line per keystroke.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def _file_position(text: str) -> tuple[Path, int, int]:
    path, line, column = [*text.rsplit(":", 2), "", ""][:3]
    if not (line.isdigit() and column.isdigit()) or int(line) < 1 or int(column) < 1:
        raise argparse.ArgumentTypeError(
            f"expected FILE:LINE:COLUMN with LINE and COLUMN from 1, got {text!r}"
        )
    return Path(path), int(line), int(column)


def _refused_host(host: str) -> str | None:
    """Why infill must not listen on `host`, or None for a loopback address: whoever connects
    names the workspace root, and `infill/explain` answers with its files' contents."""
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"infill: refusing to listen on {host}: whoever connects can name any folder as the "
        "workspace and read its files through infill/explain; listen on 127.0.0.1, or pass "
        "--allow-remote if the network is yours alone"
    )


def serve(args: argparse.Namespace) -> int:
    from infill.server import create_server

    if args.tcp and not args.allow_remote and (refused := _refused_host(args.tcp[0])):
        print(refused, file=sys.stderr)
        return 2
    server = create_server()
    if args.tcp:
        server.start_tcp(*args.tcp)
    else:
        server.start_io()
    return 0


def print_explanation(report: dict[str, Any]) -> None:
    """`infill/explain`, readably."""
    print(f"template: {report['template']}    mode: {report['mode']}")
    tokens = report["tokens"]
    print("tokens:   " + "  ".join(f"{k} {v}" for k, v in tokens.items()))
    print("time ms:  " + "  ".join(f"{k} {v:.2f}" for k, v in report["timingsMs"].items()))
    if report["skippedSources"]:
        print("left out for lack of time: " + ", ".join(report["skippedSources"]))
    print(f"snippets ({len(report['snippets'])}):")
    for s in report["snippets"]:
        mark = "+" if s["included"] else "-"
        lines = f"{s['startLine'] + 1}-{s['endLine'] + 1}"
        print(f"  {mark} {s['score']:.4f}  {s['source']:<12} {s['path']}:{lines}")
    print("prompt:")
    print(report["prompt"])


# What marks the top folder of a project, as editors find a workspace from a file.
PROJECT_MARKERS = (
    ".git",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "package.json",
    "Cargo.toml",
    "go.mod",
    "pom.xml",
    "build.gradle",
)


def workspace_of(path: Path) -> Path:
    """The project the file is in: the nearest folder up from it with a project marker (a
    project inside a repository is its own workspace), else the file's folder."""
    folder = path.resolve().parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in PROJECT_MARKERS):
            return candidate
    return folder


def read_text(path: Path) -> str:
    """The file's text in the encoding it declares (a BOM, a PEP 263 coding line), else UTF-8;
    bytes that are not of it become U+FFFD, with a word on stderr, rather than a refusal."""
    data = path.read_bytes()
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:  # a coding line naming no codec Python knows
        encoding = "utf-8"
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        print(
            f"infill: {path} is not valid {encoding} ({exc.reason} at byte {exc.start}): "
            "read with replacement characters",
            file=sys.stderr,
        )
        return data.decode(encoding, errors="replace").removeprefix("\ufeff")


async def _complete(
    path: Path,
    line: int,
    column: int,
    settings: dict[str, Any],
    explain: bool,
    root: Path | None = None,
    told: str = "",
) -> int:
    from infill.harness import LspClient, LspError

    try:
        text = read_text(path)
    except OSError as exc:
        print(f"infill: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    async with await LspClient.start() as client:
        # UTF-32 positions are code points: COLUMN counts characters, as editors display them.
        await client.initialize(
            position_encodings=["utf-32"],
            initialization_options=settings,
            pull_configuration=False,
            root=root or workspace_of(path),
        )
        uri = path.resolve().as_uri()
        client.open(uri, text, LANGUAGE_IDS.get(path.suffix.lower(), "plaintext"))
        # One shot, so wait for the workspace index (definitions from other files) to be ready.
        with contextlib.suppress(TimeoutError):
            await client.wait_for_notification(
                "$/progress", lambda p: p["value"]["kind"] == "end", timeout=120
            )
        position = (line - 1, column - 1)
        if explain:
            try:
                print_explanation(await client.explain(uri, position) or {})
            except LspError as exc:
                print(f"infill: {exc.message}", file=sys.stderr)
                return 1
            return 0
        items = await client.inline_completion(uri, position, timeout=120)
        if items:
            print(items[0]["insertText"])
            return 0
        for message in client.messages:
            if message["message"] != told:  # the unknown keys, already warned about
                print(message["message"], file=sys.stderr)
        print(f"infill: {await _why_none(client, uri, position)}", file=sys.stderr)
        return 1


async def _why_none(client: LspClient, uri: str, position: tuple[int, int]) -> str:
    """Why the server made no suggestion at the position, in a line (`infill/explain`'s)."""
    from infill.harness import LspError

    try:
        report = await client.explain(uri, position)
    except LspError as exc:
        return exc.message
    why = report.get("noSuggestion") if report else None
    return f"no suggestion at this position: {why['message']}" if why else "no suggestion"


def complete(args: argparse.Namespace) -> int:
    from infill.settings import SettingsError, describe_unknown, merge

    try:
        layer, settings, unknown = _settings_from(args.set)
    except SettingsError as exc:
        print(f"infill: {exc}", file=sys.stderr)
        return 2
    told = f"infill: unknown settings ignored: {describe_unknown(unknown)}" if unknown else ""
    if told:
        print(told, file=sys.stderr)
    path, line, column = args.position
    if args.root is not None and not args.root.is_dir():
        print(f"infill: --root {args.root}: no such folder", file=sys.stderr)
        return 2
    # A one-shot run is not an editor's use: it stays out of `infill stats`.
    layer = merge({"metrics": {"enabled": False}}, layer)
    status = asyncio.run(_complete(path, line, column, layer, args.explain, args.root, told))
    if status == 0 and not args.explain:
        print(f"infill: answered by {_engine(settings)}", file=sys.stderr)
    return status


def _engine(settings: Settings) -> str:
    """Which engine the settings (the user's config file, then --set) make answer."""
    backend = settings.backend
    if backend.offline:
        return "the offline engine (no backend.url set)"
    model = f", model {backend.model}" if backend.model else ""
    return f"{backend.kind} at {backend.base_url}{model}"


def _settings_from(assignments: list[str]) -> tuple[dict[str, Any], Settings, list[str]]:
    """The `--set` layer; the settings it makes over the user's config.toml, as the server
    will combine them; and the unknown keys of both. SettingsError for an invalid value or a
    config.toml that cannot be read."""
    from infill.settings import (
        load_user_config,
        merge,
        parse_assignment,
        parse_settings,
        take_file_api_key,
    )

    layer: dict[str, Any] = {}
    for assignment in assignments:
        layer = merge(layer, parse_assignment(assignment))
    settings, unknown = parse_settings(take_file_api_key(load_user_config()), layer)
    return layer, settings, unknown


def doctor(args: argparse.Namespace) -> int:
    from infill.doctor import diagnose, report
    from infill.settings import SettingsError, describe_unknown

    try:
        _, settings, unknown = _settings_from(args.set)
    except SettingsError as exc:
        print(f"FAIL  settings   {exc}")
        return 2
    if unknown:
        print(f"warn  settings   unknown settings ignored: {describe_unknown(unknown)}")
    checks = asyncio.run(diagnose(settings))
    print(report(checks))
    return 0 if all(check.ok for check in checks) else 1


def stats(args: argparse.Namespace) -> int:
    from infill.metrics import MetricsError, default_path, format_report, report

    since = time.time() - args.days * 86400 if args.days is not None else None
    try:
        numbers = report(args.db or default_path(), since)
    except MetricsError as exc:
        print(f"infill: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(numbers, indent=2) if args.json else format_report(numbers))
    return 0


def _days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = 0.0
    if not days > 0 or days == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of days above 0, got {text!r}")
    return days


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infill", description=__doc__)
    parser.add_argument("--version", action="version", version=f"infill {__version__}")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p_serve = commands.add_parser("serve", help="run the language server (stdio by default)")
    p_serve.add_argument("--tcp", type=_host_port, metavar="HOST:PORT", help="listen on TCP")
    p_serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="listen with --tcp on an address other machines reach (default: loopback only)",
    )
    p_serve.set_defaults(run=serve)

    p_complete = commands.add_parser(
        "complete", help="print the suggestion at FILE:LINE:COLUMN, through the real server"
    )
    p_complete.add_argument("position", type=_file_position, metavar="FILE:LINE:COLUMN")
    p_complete.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting, such as backend.url=http://127.0.0.1:8080/v1 (repeatable)",
    )
    p_complete.add_argument(
        "--explain",
        action="store_true",
        help="print the prompt that would be sent, its snippets, tokens and timings instead",
    )
    p_complete.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="the workspace (default: the repository the file is in, else its folder)",
    )
    p_complete.set_defaults(run=complete)

    p_doctor = commands.add_parser(
        "doctor", help="check the configured backend: reachable, model, a FIM request, latency"
    )
    p_doctor.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p_doctor.set_defaults(run=doctor)

    p_stats = commands.add_parser(
        "stats", help="print the local metrics: requests, cache hits, acceptance, timings"
    )
    p_stats.add_argument(
        "--days", type=_days, metavar="N", help="only the last N days (default: all kept)"
    )
    p_stats.add_argument(
        "--db", type=Path, metavar="PATH", help="the metrics database (default: the state dir's)"
    )
    p_stats.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p_stats.set_defaults(run=stats)

    args = parser.parse_args(argv)
    _setup_logging(args.log_level)
    return _run_to_a_closed_pipe(args)


def _run_to_a_closed_pipe(args: argparse.Namespace) -> int:
    """The command, whose reader may stop reading early (`infill stats --json | head`): that
    ends it quietly, as it does other command-line tools."""
    try:
        status = int(args.run(args))
        if not sys.stdout.closed:  # (pygls closes it when it serves a file's requests)
            sys.stdout.flush()  # here, where a closed pipe can still be caught
        return status
    except BrokenPipeError:
        # Python flushes stdout again at exit: onto /dev/null, not into another traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
