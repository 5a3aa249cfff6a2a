"""Unit tests for context/ignore.py: privacy rules, ignore files and the workspace walk."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from infill.context.ignore import (
    MAX_FILE_BYTES,
    SNIFF_BYTES,
    VENDORED_DIRS,
    IgnoreRules,
    is_probably_binary,
    is_secret_name,
    iter_workspace_files,
    read_source_file,
)

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def write(root: Path, rel: str, content: str | bytes = "x = 1\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def walk(
    root: Path,
    rules: IgnoreRules | None = None,
    extensions: frozenset[str] | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_files: int = 20_000,
) -> list[str]:
    """The walk's files as POSIX paths relative to `root`."""
    files = iter_workspace_files(
        root, rules or IgnoreRules(root), extensions, max_bytes=max_bytes, max_files=max_files
    )
    return [p.relative_to(root).as_posix() for p in files]


# -- secret names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        ".env",
        ".env.local",
        ".env.production",
        ".envrc",
        "server.pem",
        "Server.PEM",
        "tls.key",
        "cert.p12",
        "cert.pfx",
        "release.keystore",
        "store.jks",
        "id_rsa",
        "id_rsa.pub",
        "id_ed25519",
        "id_ecdsa",
        "aws_credentials.json",
        ".git-credentials",
        "CREDENTIALS",
        "my_secret.txt",
        "client_secrets.json",
        ".netrc",
        ".npmrc",
        ".pypirc",
        ".htpasswd",
        "vault.kdbx",
        "prod.tfvars",
        "terraform.tfstate.backup",
        "config/id_rsa",
        "/abs/dir/.env",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)
    assert is_secret_name(Path(name))


@pytest.mark.parametrize(
    "name",
    ["main.py", "environment.py", "env.py", ".venv", "keyboard.py", "monkey.ts", "README.md"],
)
def test_ordinary_names_are_not_secret(name: str) -> None:
    assert not is_secret_name(name)


def test_secret_name_looks_at_the_last_component_only() -> None:
    assert not is_secret_name("secrets/app.py")
    assert not is_secret_name(".env/app.py")


def test_planted_secrets_are_ignored_and_never_walked(tmp_path: Path) -> None:
    secrets = [
        ".env",
        ".env.local",
        "config/id_rsa",
        "certs/server.pem",
        "aws_credentials.json",
        "my_secret.txt",
    ]
    for rel in [*secrets, "app.py", "config/settings.py"]:
        write(tmp_path, rel)
    rules = IgnoreRules(tmp_path)
    for rel in secrets:
        assert rules.is_ignored(tmp_path / rel), rel
        assert rules.is_ignored(rel), rel  # relative to the root
    assert not rules.is_ignored(tmp_path / "app.py")
    assert walk(tmp_path, rules) == ["app.py", "config/settings.py"]


def test_a_secret_looking_directory_hides_everything_in_it(tmp_path: Path) -> None:
    write(tmp_path, "secrets/db.py")
    write(tmp_path, ".ssh/config", "Host x\n")
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored(tmp_path / "secrets/db.py")
    assert rules.is_ignored(tmp_path / ".ssh/config")
    assert walk(tmp_path, rules) == []


# -- .gitignore ----------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write(
        tmp_path,
        ".gitignore",
        "# comment\n"
        "*.log\n"
        "!keep.log\n"
        "out/\n"
        "!out/wanted.py\n"
        "/anchored.txt\n"
        "docs/**/draft.md\n"
        "**/cache\n"
        "generated/**\n"
        "trailing.txt   \n"
        "spaced/  \n",
    )
    for rel in [
        "out/a.py",
        "out/wanted.py",
        "other/out",  # a file named like the directory-only pattern
        "anchored.txt",
        "sub/anchored.txt",
        "docs/draft.md",
        "docs/a/b/draft.md",
        "docs/readme.md",
        "deep/er/cache/x.py",
        "generated/g.py",
        "trailing.txt",
        "spaced/a.py",
        "other/spaced",
        "main.py",
    ]:
        write(tmp_path, rel)
    return tmp_path


@pytest.mark.parametrize(
    ("rel", "ignored"),
    [
        ("a.log", True),
        ("sub/dir/b.log", True),
        ("keep.log", False),  # negation
        ("sub/keep.log", False),
        ("out", True),
        ("out/a.py", True),
        ("out/wanted.py", True),  # nothing inside an ignored directory can be re-included
        ("other/out", False),  # "out/" matches directories only
        ("anchored.txt", True),
        ("sub/anchored.txt", False),  # "/anchored.txt" is anchored at the root
        ("docs/draft.md", True),
        ("docs/a/b/draft.md", True),
        ("docs/readme.md", False),
        ("deep/er/cache/x.py", True),
        ("cache", True),
        ("generated/g.py", True),
        ("trailing.txt", True),  # trailing spaces are not part of the pattern
        ("spaced/a.py", True),  # ... nor do they hide a directory-only "/"
        ("other/spaced", False),
        ("main.py", False),
        ("# comment", False),
    ],
)
def test_gitignore_patterns(repo: Path, rel: str, ignored: bool) -> None:
    assert IgnoreRules(repo).is_ignored(repo / rel) is ignored


def test_nested_gitignore_applies_relative_to_its_directory(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.log\n")
    write(tmp_path, "sub/.gitignore", "*.txt\n/only_here.py\n!important.log\nlocal/\n")
    write(tmp_path, "sub/local/x.py")
    write(tmp_path, "local/x.py")
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored(tmp_path / "sub/a.txt")
    assert rules.is_ignored(tmp_path / "sub/deep/b.txt")
    assert not rules.is_ignored(tmp_path / "a.txt")
    assert not rules.is_ignored(tmp_path / "other/a.txt")
    assert rules.is_ignored(tmp_path / "sub/only_here.py")
    assert not rules.is_ignored(tmp_path / "sub/deep/only_here.py")
    assert not rules.is_ignored(tmp_path / "only_here.py")
    # The deeper file has the last word, in both directions.
    assert not rules.is_ignored(tmp_path / "sub/important.log")
    assert rules.is_ignored(tmp_path / "important.log")
    assert rules.is_ignored(tmp_path / "sub/local/x.py")
    assert not rules.is_ignored(tmp_path / "local/x.py")


def test_infillignore_adds_rules_and_cannot_unignore(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.log\n")
    write(tmp_path, ".infillignore", "fixtures/\n*.min.js\n!x.log\n")
    write(tmp_path, "sub/.infillignore", "private.py\n")
    write(tmp_path, "fixtures/big.py")
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored(tmp_path / "fixtures/big.py")
    assert rules.is_ignored(tmp_path / "web/app.min.js")
    assert not rules.is_ignored(tmp_path / "web/app.js")
    assert rules.is_ignored(tmp_path / "sub/private.py")
    assert rules.is_ignored(tmp_path / "sub/deeper/private.py")
    assert not rules.is_ignored(tmp_path / "private.py")
    assert rules.is_ignored(tmp_path / "x.log")  # "!x.log" in .infillignore does not override git


def test_infillignore_negation_works_within_infillignore(tmp_path: Path) -> None:
    write(tmp_path, ".infillignore", "*.sql\n!schema.sql\n")
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored(tmp_path / "dump.sql")
    assert not rules.is_ignored(tmp_path / "schema.sql")


def test_git_info_exclude(tmp_path: Path) -> None:
    write(tmp_path, ".git/info/exclude", "local_notes.md\n*.tmp\n")
    write(tmp_path, ".gitignore", "!keep.tmp\n")
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored(tmp_path / "local_notes.md")
    assert rules.is_ignored(tmp_path / "sub/a.tmp")
    assert not rules.is_ignored(tmp_path / "keep.tmp")  # every .gitignore outranks info/exclude
    assert not rules.is_ignored(tmp_path / "notes.md")


def test_git_info_exclude_of_a_worktree(tmp_path: Path) -> None:
    main, worktree = tmp_path / "main", tmp_path / "wt"
    write(main, ".git/info/exclude", "scratch.py\n")
    write(main, ".git/worktrees/wt/commondir", "../..\n")
    write(worktree, ".git", "gitdir: ../main/.git/worktrees/wt\n")
    rules = IgnoreRules(worktree)
    assert rules.is_ignored(worktree / "scratch.py")
    assert not rules.is_ignored(worktree / "app.py")


def test_everything_inside_dot_git_is_ignored(tmp_path: Path) -> None:
    write(tmp_path, ".git/config", "[core]\n")
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored(tmp_path / ".git")
    assert rules.is_ignored(tmp_path / ".git/config")
    assert rules.is_ignored(tmp_path / "vendored/.git/HEAD")


def test_unparsable_patterns_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "[z-a]\nfoo\\\n!\n*.log\n")
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored(tmp_path / "a.log")
    assert not rules.is_ignored(tmp_path / "a.py")


# -- paths outside the root, missing paths, symlinks -----------------------------------------------


def test_paths_outside_the_root_are_ignored(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    write(tmp_path, "outside.py")
    write(tmp_path, "ws2/x.py")  # shares the root's name as a prefix
    rules = IgnoreRules(root)
    assert rules.is_ignored(tmp_path / "outside.py")
    assert rules.is_ignored("../outside.py")
    assert rules.is_ignored(root / "sub/../../outside.py")
    assert rules.is_ignored(tmp_path / "ws2/x.py")
    assert rules.is_ignored("/")
    assert not rules.is_ignored(root)
    assert not rules.is_ignored(root / "sub/../main.py")


def test_paths_that_do_not_exist(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "notes/\nghost/\n*.bak\n")
    (tmp_path / "notes").mkdir()
    rules = IgnoreRules(tmp_path)
    assert not rules.is_ignored(tmp_path / "new/unsaved.py")
    assert rules.is_ignored(tmp_path / "new/unsaved.bak")
    assert rules.is_ignored(tmp_path / "notes/new.py")  # inside a directory that exists
    assert rules.is_ignored(tmp_path / "ghost/new.py")  # a parent is a directory even if missing
    assert not rules.is_ignored(tmp_path / "sub/ghost")  # a missing last component is a file
    assert rules.is_ignored(tmp_path / "sub/notes-dir/.env")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinks_are_judged_by_their_target_too(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write(tmp_path, "outside.py")
    write(root, ".env", "TOKEN=1\n")
    write(root, "real.py")
    (root / "out.py").symlink_to(tmp_path / "outside.py")
    (root / "settings.txt").symlink_to(root / ".env")
    (root / "alias.py").symlink_to(root / "real.py")
    rules = IgnoreRules(root)
    assert rules.is_ignored(root / "out.py")
    assert rules.is_ignored(root / "settings.txt")
    assert not rules.is_ignored(root / "alias.py")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_a_root_reached_through_a_symlink(tmp_path: Path) -> None:
    write(tmp_path, "real/.gitignore", "*.log\n")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    rules = IgnoreRules(tmp_path / "link")
    assert rules.is_ignored(tmp_path / "real/a.log")
    assert not rules.is_ignored(tmp_path / "real/a.py")
    assert not rules.is_ignored(tmp_path / "link/a.py")


# -- reload --------------------------------------------------------------------------------------


def test_reload_picks_up_an_edited_gitignore(tmp_path: Path) -> None:
    gitignore = write(tmp_path, ".gitignore", "*.log\n")
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored(tmp_path / "a.log")
    assert not rules.is_ignored(tmp_path / "a.py")
    gitignore.write_text("*.py\n")
    assert rules.is_ignored(tmp_path / "a.log")  # cached until told
    rules.reload(gitignore)
    assert not rules.is_ignored(tmp_path / "a.log")
    assert rules.is_ignored(tmp_path / "a.py")


def test_reload_of_one_file_or_all(tmp_path: Path) -> None:
    write(tmp_path, "sub/x.py")
    rules = IgnoreRules(tmp_path)
    assert not rules.is_ignored(tmp_path / "sub/x.py")
    # A new nested ignore file: its directory's (empty) rules were cached.
    nested = write(tmp_path, "sub/.infillignore", "x.py\n")
    rules.reload(nested)
    assert rules.is_ignored(tmp_path / "sub/x.py")
    exclude = write(tmp_path, ".git/info/exclude", "y.py\n")
    assert not rules.is_ignored(tmp_path / "y.py")
    rules.reload(exclude)
    assert rules.is_ignored(tmp_path / "y.py")
    write(tmp_path, "sub/.gitignore", "z.py\n")
    rules.reload()
    assert rules.is_ignored(tmp_path / "sub/z.py")


def test_nested_ignore_files_are_read_lazily(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, ".gitignore", "*.log\n")
    write(tmp_path, "a/.gitignore", "*.txt\n")
    write(tmp_path, "b/.gitignore", "*.txt\n")
    read: list[Path] = []
    original = Path.read_bytes

    def recording(self: Path) -> bytes:
        read.append(self)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", recording)
    rules = IgnoreRules(tmp_path)
    assert read == []
    assert rules.is_ignored(tmp_path / "a/x.txt")
    assert tmp_path / "a/.gitignore" in read
    assert tmp_path / "b/.gitignore" not in read
    count = len(read)
    assert rules.is_ignored(tmp_path / "a/y.txt")
    assert len(read) == count  # cached


# -- agreement with git itself ---------------------------------------------------------------------

_NAMES = ["a", "b", "c", "logs", "x.log", "y.txt", "keep.txt", "sub", "z.py"]
_PATTERNS = [
    "a", "a/", "/a", "/a/", "b/", "*.log", "!x.log", "*.txt", "!keep.txt", "logs/**",
    "!logs/keep.txt", "**/b", "a/**/c", "*/", "!*/", "*", "!*.py", "sub/*", "!sub/b", "/sub/a/",
    "**/logs", "c/*.txt", "!a/", "!b", "b/**/", "x.*", "?", "[ab]", "[!a]/", "!/b", "a/b", "**",
    "!**/", "sub/**/y.txt", "/*", "!/sub", "a/**/", "**/a/**", "!a/**", "!sub/**/", "*.t?t",
]  # fmt: skip


def _random_tree(rng: random.Random, directory: Path, depth: int) -> None:
    for name in rng.sample(_NAMES, rng.randint(1, 5)):
        path = directory / name
        if depth < 3 and "." not in name and rng.random() < 0.5:
            path.mkdir(exist_ok=True)
            _random_tree(rng, path, depth + 1)
        elif not path.exists():
            path.write_text("x\n")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("seed", range(20))
def test_agrees_with_git(tmp_path: Path, seed: int) -> None:
    """Random trees and nested ignore files: the files kept are those `git ls-files -o` keeps."""
    rng = random.Random(seed)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    _random_tree(rng, tmp_path, 0)
    dirs = [tmp_path, *(p for p in tmp_path.rglob("*") if p.is_dir() and ".git" not in p.parts)]
    for directory in rng.sample(dirs, min(len(dirs), rng.randint(1, 3))):
        patterns = rng.sample(_PATTERNS, rng.randint(1, 5))
        (directory / ".gitignore").write_text("\n".join(patterns) + "\n")
    if seed % 3 == 0:
        (tmp_path / ".git/info/exclude").write_text("\n".join(rng.sample(_PATTERNS, 2)) + "\n")
    listing = subprocess.run(
        ["git", "-C", str(tmp_path), "ls-files", "-o", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    rules = IgnoreRules(tmp_path)
    kept = {
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(tmp_path).parts and not rules.is_ignored(p)
    }
    assert kept == set(listing.stdout.splitlines())


# -- the walk ------------------------------------------------------------------------------------


@pytest.fixture
def scanned(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every directory os.scandir lists during the test."""
    seen: list[Path] = []
    original = os.scandir

    def recording(path: str) -> object:
        seen.append(Path(path))
        return original(path)

    monkeypatch.setattr(os, "scandir", recording)
    yield seen


def test_walk_prunes_vendored_and_ignored_dirs(tmp_path: Path, scanned: list[Path]) -> None:
    write(tmp_path, ".gitignore", "generated/\n")
    pruned = ["node_modules/pkg", ".venv/lib", "generated", "src/__pycache__", ".git/objects"]
    for directory in pruned:
        for i in range(50):
            write(tmp_path, f"{directory}/f{i}.py")
    write(tmp_path, "src/app.py")
    write(tmp_path, "src/node_modules_helper.py")
    assert walk(tmp_path) == [".gitignore", "src/app.py", "src/node_modules_helper.py"]
    for directory in ["node_modules", ".venv", "generated", "src/__pycache__", ".git"]:
        assert not any(p.is_relative_to(tmp_path / directory) for p in scanned), directory
    assert {"node_modules", ".venv", "__pycache__", ".git"} <= VENDORED_DIRS


def test_walk_skips_binary_non_utf8_and_huge_files(tmp_path: Path) -> None:
    write(tmp_path, "blob.bin", b"\x7fELF\x00\x01\x02")
    write(tmp_path, "latin1.py", "caf\xe9 = 1\n".encode("latin-1"))
    write(tmp_path, "big.py", b"x" * (MAX_FILE_BYTES + 1))
    write(tmp_path, "limit.py", b"x" * MAX_FILE_BYTES)
    write(tmp_path, "medium.py", "y = 2\n" * 100)
    write(tmp_path, "ok.py", "name = 'naïve'\n")
    assert walk(tmp_path) == ["limit.py", "medium.py", "ok.py"]
    assert walk(tmp_path, max_bytes=100) == ["ok.py"]


def test_walk_extensions_and_order(tmp_path: Path) -> None:
    for rel in ["b.py", "a/z.py", "a/y.txt", "C.PY", "Makefile", "a.js", "a0/x.py"]:
        write(tmp_path, rel)
    everything = walk(tmp_path)
    # Sorted by components: the directory "a" comes before "a.js", which a string sort would swap.
    assert everything == ["C.PY", "Makefile", "a/y.txt", "a/z.py", "a.js", "a0/x.py", "b.py"]
    paths = list(iter_workspace_files(tmp_path, IgnoreRules(tmp_path)))
    assert paths == sorted(paths)
    assert all(p.is_absolute() for p in paths)
    assert walk(tmp_path, extensions=frozenset({".py"})) == ["C.PY", "a/z.py", "a0/x.py", "b.py"]
    assert walk(tmp_path, extensions=frozenset({".js", ""})) == ["Makefile", "a.js"]


def test_walk_stops_after_max_files(tmp_path: Path, scanned: list[Path]) -> None:
    for i in range(10):
        write(tmp_path, f"d{i}/f.py")
    everything = walk(tmp_path)
    assert len(everything) == 10
    scanned.clear()
    assert walk(tmp_path, max_files=3) == everything[:3]
    assert len(scanned) <= 4  # the root and the three directories it took files from
    assert walk(tmp_path, max_files=0) == []


def test_walk_of_a_subdirectory_uses_the_root_rules(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.log\nhidden/\n")
    write(tmp_path, "sub/a.py")
    write(tmp_path, "sub/a.log")
    write(tmp_path, "hidden/b.py")
    rules = IgnoreRules(tmp_path)
    subdir = [
        p.relative_to(tmp_path).as_posix() for p in iter_workspace_files(tmp_path / "sub", rules)
    ]
    assert subdir == ["sub/a.py"]
    assert list(iter_workspace_files(tmp_path / "hidden", rules)) == []
    assert list(iter_workspace_files(tmp_path.parent, rules)) == []


@pytest.mark.skipif(not hasattr(os, "chmod") or os.name == "nt", reason="POSIX permissions")
def test_walk_survives_unreadable_files_and_dirs(tmp_path: Path) -> None:
    write(tmp_path, "a.py")
    locked_file = write(tmp_path, "locked.py")
    locked_dir = tmp_path / "locked_dir"
    write(tmp_path, "locked_dir/inner.py")
    write(tmp_path, "z.py")
    locked_file.chmod(0)
    locked_dir.chmod(0)
    try:
        found = walk(tmp_path)
        text = read_source_file(locked_file)
    finally:
        locked_dir.chmod(0o755)
        locked_file.chmod(0o644)
    if IS_ROOT:  # permissions do not stop root: only "no crash" can be asserted
        assert {"a.py", "z.py"} <= set(found)
    else:
        assert found == ["a.py", "z.py"]
        assert text is None


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_walk_does_not_follow_symlinks_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write(tmp_path, "outside/secret_code.py")
    write(tmp_path, "outside/leak.py")
    write(root, "real/inside.py")
    (root / "linked_dir").symlink_to(tmp_path / "outside")
    (root / "inner_link").symlink_to(root / "real")
    (root / "leak.py").symlink_to(tmp_path / "outside/leak.py")
    (root / "alias.py").symlink_to(root / "real/inside.py")
    (root / "loop").symlink_to(root)
    assert walk(root) == ["alias.py", "real/inside.py"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifos_are_skipped_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    write(tmp_path, "a.py")
    assert walk(tmp_path) == ["a.py"]
    assert read_source_file(tmp_path / "pipe.py") is None


# -- reading files -------------------------------------------------------------------------------


def test_read_source_file(tmp_path: Path) -> None:
    assert read_source_file(write(tmp_path, "a.py", b"x = 1\r\ny = 2\n")) == "x = 1\r\ny = 2\n"
    assert read_source_file(write(tmp_path, "bom.py", b"\xef\xbb\xbfx = 1\n")) == "x = 1\n"
    assert read_source_file(write(tmp_path, "empty.py", b"")) == ""
    assert read_source_file(tmp_path / "missing.py") is None
    assert read_source_file(tmp_path) is None  # a directory
    assert read_source_file(write(tmp_path, "bin.dat", b"ab\x00cd")) is None
    assert read_source_file(write(tmp_path, "latin.py", b"caf\xe9\n")) is None
    late_error = b"a" * (SNIFF_BYTES * 2) + b"\xff"  # past what the binary sniff looks at
    assert read_source_file(write(tmp_path, "late.py", late_error)) is None
    sized = write(tmp_path, "sized.py", b"z" * 100)
    assert read_source_file(sized, max_bytes=100) == "z" * 100
    assert read_source_file(sized, max_bytes=99) is None


def test_is_probably_binary() -> None:
    assert is_probably_binary(b"\x00")
    assert is_probably_binary(b"text then \x00 nul")
    assert is_probably_binary(b"\xff\xfe")  # UTF-16 byte order mark: not UTF-8
    assert is_probably_binary(b"caf\xe9 ok")
    assert not is_probably_binary(b"")
    assert not is_probably_binary("plain ünïcödé text 漢字\n".encode())
    # A character cut by the end of the sniffed window is not evidence of binary.
    cut = ("a" * (SNIFF_BYTES - 1) + "é").encode()
    assert not is_probably_binary(cut[:SNIFF_BYTES])
    assert not is_probably_binary(cut)
    # Only the first SNIFF_BYTES count.
    assert not is_probably_binary(b"a" * SNIFF_BYTES + b"\x00")
