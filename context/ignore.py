"""Which workspace files infill may read, and the walk that lists them.

Privacy first: a file matched by `.gitignore`, `.git/info/exclude`, an `.infillignore` or a
secret-looking name is never read or sent, even when it is open in the editor. Being wrong in the
cautious direction only costs context, so every doubtful case (a path outside the root, a symlink
leading out of it, an unreadable ignore file) errs towards "ignored".

Ignore files follow git: a pattern in `sub/.gitignore` matches paths relative to `sub/`, deeper
files override shallower ones, `.git/info/exclude` loses to every `.gitignore`, and nothing inside
an ignored directory can be re-included. `.infillignore` files use the same syntax and nesting but
are judged on their own and can only add to what is ignored: a `!pattern` in them cannot un-ignore
what git ignores. The user's global excludes file (`core.excludesFile`) is not read.
"""

from __future__ import annotations

import codecs
import fnmatch
import os
import re
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import NamedTuple

try:
    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern as _GitPattern
except ImportError:  # pathspec < 1.0 names the same class differently
    from pathspec.patterns.gitwildmatch import (  # type: ignore[no-redef, assignment]
        GitWildMatchPattern as _GitPattern,
    )

StrPath = str | os.PathLike[str]

# Matched case-insensitively against a file's (or a directory's) name only.
SECRET_NAME_PATTERNS: tuple[str, ...] = (
    ".env*",  # .env, .env.local, .env.production; .envrc too: direnv files export tokens
    "*.pem",
    "*.key",
    "*.p8",
    "*.p12",
    "*.pfx",
    "*.ppk",
    "*.keystore",
    "*.jks",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*credential*",  # credentials, aws_credentials.json, .git-credentials
    "*secret*",  # secrets.yaml, client_secret.json
    "*.kdbx",  # KeePass databases
    ".netrc",
    "_netrc",
    ".pgpass",
    "htpasswd",
    ".htpasswd",
    ".npmrc",  # registry auth tokens
    ".pypirc",
    "*.tfvars",  # Terraform variables and state hold secrets in clear text
    "*.tfstate*",
    ".ssh",  # whole key directories, in case the workspace is a home directory
    ".gnupg",
)
_SECRET_NAME = re.compile("|".join(fnmatch.translate(p) for p in SECRET_NAME_PATTERNS))

# Directory names the walk never enters: other people's code, build output, tool caches.
# They only prune the walk; an open file inside one is judged by `IgnoreRules` alone.
VENDORED_DIRS: frozenset[str] = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "bower_components",
        "vendor",
        "third_party",
        ".venv",
        "venv",
        "site-packages",
        "dist",
        "build",
        "target",
        "__pycache__",
        ".tox",
        ".nox",
        ".eggs",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".gradle",
        ".idea",
        ".next",
        ".terraform",
        ".cache",
        "htmlcov",
    }
)
MAX_FILE_BYTES = 1_000_000
SNIFF_BYTES = 8192
IGNORE_FILES = (".gitignore", ".infillignore")

# Group pathspec's gitignore regexes use for the "/" after a directory the pattern matched; a
# match through it is a match of an ancestor of the path, not of the path itself.
_DIR_MARK = "ps_d"
_TRAILING_SPACES = re.compile(r"(?<!\\) +$")  # git drops trailing spaces unless escaped
# O_NONBLOCK: opening a FIFO that replaced a file must not hang the server.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)


def is_secret_name(path: StrPath) -> bool:
    """Whether the name (last component) of `path` looks like a secret: SECRET_NAME_PATTERNS."""
    return _SECRET_NAME.match(PurePath(path).name.lower()) is not None


class _Rule(NamedTuple):
    regex: re.Pattern[str]
    ignore: bool  # False for a negated ("!") pattern
    dir_only: bool  # the pattern ended with "/"


def _parse(text: str) -> list[_Rule]:
    rules = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pathspec warns about some bracket expressions
        for raw in text.splitlines():
            line = _TRAILING_SPACES.sub("", raw)
            # The trailing "/" is handled here rather than by pathspec, so that a directory-only
            # pattern is tested against the directory itself (see `_hits`).
            dir_only = line.endswith("/")
            try:
                pattern = _GitPattern(line[:-1] if dir_only else line)
            except Exception:  # git skips a pattern it cannot parse; so do we
                continue
            if pattern.include is not None and pattern.regex is not None:
                rules.append(_Rule(pattern.regex, pattern.include, dir_only))
    return rules


def _read_rules(path: Path) -> list[_Rule]:
    try:
        return _parse(path.read_bytes().decode("utf-8-sig", "replace"))
    except OSError:  # missing (the usual case), a directory, unreadable
        return []


def _hits(rule: _Rule, rel: str, is_dir: bool) -> bool:
    """Whether `rule` matches `rel` itself (not merely one of its parent directories)."""
    if rule.dir_only and not is_dir:
        return False
    match = rule.regex.search(rel)
    return match is not None and match.groupdict().get(_DIR_MARK) is None


def _verdict(rules: list[_Rule], rel: str, is_dir: bool) -> bool | None:
    """The last matching rule's say (True: ignore, False: re-include), None if none matches."""
    for rule in reversed(rules):
        if _hits(rule, rel, is_dir):
            return rule.ignore
    return None


def _parts_under(path: str, root: str) -> tuple[str, ...] | None:
    """`path`'s components below `root` (both absolute and normalized), None if not below it."""
    if path == root:
        return ()
    prefix = root if root.endswith(os.sep) else root + os.sep
    if not path.startswith(prefix):
        return None
    return tuple(path[len(prefix) :].split(os.sep))


class IgnoreRules:
    """The ignore rules of one workspace root; ignore files are read lazily and cached."""

    def __init__(self, root: StrPath) -> None:
        self.root = Path(os.path.abspath(root))
        self._real_root = os.path.realpath(self.root)
        # Directory (components below root) -> its (.gitignore, .infillignore) rules.
        self._dirs: dict[tuple[str, ...], tuple[list[_Rule], list[_Rule]]] = {}
        self._exclude: list[_Rule] | None = None

    def is_ignored(self, path: StrPath) -> bool:
        """Whether infill must not read `path` (relative paths are taken relative to the root).

        The path need not exist (an unsaved editor buffer): an existing path is a directory if the
        filesystem says so, a missing one is a file. Symlinks are judged both as the workspace
        path and as their target, which must lie inside the root too.
        """
        lexical = os.path.abspath(os.path.join(self.root, path))
        real = os.path.realpath(lexical)
        real_parts = _parts_under(real, self._real_root)
        if real_parts is None:
            return True
        parts = _parts_under(lexical, str(self.root))
        is_dir = os.path.isdir(real)
        if parts is not None and parts != real_parts and self._parts_ignored(parts, is_dir):
            return True
        return self._parts_ignored(real_parts, is_dir)

    def reload(self, path: StrPath | None = None) -> None:
        """Forget cached ignore files: all of them, or those `path` may have changed.

        `path` may be an ignore file (its directory's rules are dropped), `.git/info/exclude`,
        or any other path (cached rules of it and of directories below it are dropped, which
        covers a directory deleted or renamed).
        """
        if path is None:
            self._dirs.clear()
            self._exclude = None
            return
        absolute = Path(os.path.abspath(os.path.join(self.root, path)))
        if absolute == self._exclude_path():
            self._exclude = None
            return
        parts = _parts_under(str(absolute), str(self.root))
        if parts is None:
            return
        if parts and parts[-1] in IGNORE_FILES:
            self._dirs.pop(parts[:-1], None)
            return
        for key in [k for k in self._dirs if k[: len(parts)] == parts]:
            del self._dirs[key]

    def _parts_ignored(self, parts: tuple[str, ...], is_dir: bool) -> bool:
        # As git does: a path is ignored when it or any directory above it is.
        return any(
            self._entry_ignored(parts[: i + 1], is_dir or i < len(parts) - 1)
            for i in range(len(parts))
        )

    def _entry_ignored(self, parts: tuple[str, ...], is_dir: bool) -> bool:
        """Whether the entry `parts` is ignored by its own name, assuming its parents are not."""
        name = parts[-1]
        if name == ".git" or is_secret_name(name):
            return True
        git: bool | None = None
        infill: bool | None = None
        # The deepest ignore file that has a say wins, as in git.
        for depth in range(len(parts) - 1, -1, -1):
            gitignore, infillignore = self._dir_rules(parts[:depth])
            rel = "/".join(parts[depth:])
            if git is None:
                git = _verdict(gitignore, rel, is_dir)
            if infill is None:
                infill = _verdict(infillignore, rel, is_dir)
        if git is None:
            git = _verdict(self._exclude_rules(), "/".join(parts), is_dir)
        return bool(git) or bool(infill)

    def _dir_rules(self, parts: tuple[str, ...]) -> tuple[list[_Rule], list[_Rule]]:
        rules = self._dirs.get(parts)
        if rules is None:
            directory = self.root.joinpath(*parts)
            gitignore, infillignore = (_read_rules(directory / name) for name in IGNORE_FILES)
            rules = self._dirs[parts] = (gitignore, infillignore)
        return rules

    def _exclude_rules(self) -> list[_Rule]:
        if self._exclude is None:
            path = self._exclude_path()
            self._exclude = _read_rules(path) if path is not None else []
        return self._exclude

    def _exclude_path(self) -> Path | None:
        """`info/exclude` of the repository at the root; worktrees and submodules have a `.git`
        file pointing at their git directory, whose `commondir` holds the shared `info/`."""
        git = self.root / ".git"
        try:
            if git.is_file():
                text = git.read_text("utf-8").strip()
                if not text.startswith("gitdir:"):
                    return None
                git = self.root / text.removeprefix("gitdir:").strip()
                common = git / "commondir"
                if common.is_file():
                    git = git / common.read_text("utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return Path(os.path.abspath(git / "info" / "exclude"))


def is_probably_binary(head: bytes) -> bool:
    """Whether a file starting with `head` is binary, judging by its first SNIFF_BYTES bytes.

    Binary means a NUL byte or bytes that are not UTF-8 (a character cut by the end of `head`
    is fine). infill reads UTF-8 only, so other encodings (Latin-1, UTF-16) count as binary.
    """
    head = head[:SNIFF_BYTES]
    if b"\0" in head:
        return True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return True
    return False


def _read_regular(path: StrPath, max_bytes: int, limit: int) -> bytes | None:
    """Up to `limit` bytes of `path` if it is a regular file of at most `max_bytes`, else None."""
    try:
        with open(os.open(path, _OPEN_FLAGS), "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
                return None
            data = file.read(min(limit, max_bytes + 1))
    except OSError:
        return None
    # The size is checked again: files under /proc report 0, and a file may grow meanwhile.
    return data if len(data) <= max_bytes else None


def read_source_file(path: StrPath, max_bytes: int = MAX_FILE_BYTES) -> str | None:
    """The text of `path`, or None if it is missing, not a regular file, larger than `max_bytes`,
    binary or not UTF-8. A UTF-8 byte order mark is dropped; line ends are kept as they are.

    It does not consult ignore rules: check `IgnoreRules.is_ignored` first.
    """
    data = _read_regular(path, max_bytes, max_bytes + 1)
    if data is None or is_probably_binary(data):
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _sorted_entries(directory: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError:  # unreadable or vanished: skip it
        return []


def iter_workspace_files(
    root: StrPath,
    rules: IgnoreRules,
    extensions: frozenset[str] | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_files: int = 20_000,
    sniff: bool = True,
) -> Iterator[Path]:
    """The readable source files below `root`, as absolute paths in sorted order (by components).

    Skipped: VENDORED_DIRS and ignored directories (never entered), symlinked directories,
    symlinked files leading out of the root, ignored files, files larger than `max_bytes`,
    binary files (their first SNIFF_BYTES are read to tell), anything that is not a regular file,
    and, when `extensions` is given, files whose lower-case suffix with its dot (".py") is not in
    it (put "" in it to keep files without one). Stops after `max_files` files. Errors (permission
    denied, a file vanishing mid-walk) only skip the entry. `root` may be `rules.root` or a
    directory below it. With `sniff` False, no file is opened: the size and binary checks are
    left to the caller that reads a file (`read_source_file` makes them), which saves opening
    every file of a walk whose files are mostly not read (a third of the walk's time).
    """
    top = os.path.abspath(root)
    base = _parts_under(top, str(rules.root))
    if base is None or max_files <= 0 or (base and rules.is_ignored(top)):
        return
    found = 0
    # Depth-first with each directory's entries sorted by name, so the order is deterministic.
    stack = [(iter(_sorted_entries(top)), base)]
    while stack:
        entries, parts = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        rel = (*parts, entry.name)
        try:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in VENDORED_DIRS and not rules._entry_ignored(rel, True):
                    stack.append((iter(_sorted_entries(entry.path)), rel))
                continue
            if extensions is not None and os.path.splitext(entry.name)[1].lower() not in extensions:
                continue
            if entry.is_symlink():
                # A linked directory is never entered (loops, other trees); a linked file is
                # judged by its target too, which must be a file inside the root.
                if not entry.is_file() or rules.is_ignored(entry.path):
                    continue
            elif not entry.is_file() or rules._entry_ignored(rel, False):
                continue
        except OSError:
            continue
        if sniff:
            head = _read_regular(entry.path, max_bytes, SNIFF_BYTES)
            if head is None or is_probably_binary(head):
                continue
        yield Path(entry.path)
        found += 1
        if found >= max_files:
            return
