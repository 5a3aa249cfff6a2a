"""Credentials written into ordinary source files, found by their shape and redacted from every
text that leaves for a backend: the prefix and suffix around the cursor and the snippets.

Files that hold secrets by their name (`.env`, `id_rsa`, `*.pem`, … in `ignore.py`) are never
read or sent at all; this is the second line, for a key pasted into `settings.py`. What is
recognized: private key blocks, access keys and tokens of the common providers (AWS, GitHub,
GitLab, Slack, Google, Stripe, OpenAI/Anthropic-style `sk-`), JSON web tokens, the password in a
URL (`scheme://user:password@host`), and string values assigned to a credential-like name
(`password = "…"`, `"api_key": "…"`, `DB_PASSWORD=…`). A credential only half typed cannot be
told from code; on a line that assigns a credential-like name a string literal, no suggestion is
made at all (`typing_credential`), so that the half typed secret is not sent either.
"""

from __future__ import annotations

import functools
import re

REDACTED = "[REDACTED]"

# Names whose values are taken for credentials, matched in lower case from the keyword on (a
# pattern that starts with a literal is found fast).
_NAME = (
    r"(?:password|passwd|passphrase|secret|token|api[_-]?key|apikey"
    r"|access[_-]?key|private[_-]?key|credentials?)[a-z0-9_.-]*"
)
_KEYWORD = re.compile(_NAME)
# A type annotation between the name and its value: `token: str = "…"`, `password: Final = …`.
_ANNOTATION = r"(?:\s*:\s*[a-z_][a-z0-9_.\[\], |]*?)?"
# A quoted value assigned to a credential-like name: `x_token = "…"`, `"password": '…'`; the
# value is group 2.
_ASSIGNED = re.compile(
    rf"{_NAME}[\"']?{_ANNOTATION}\s*(?::=|=>|[:=])\s*[a-z]?([\"'])([^\"'\n]{{4,}})\1"
)
# An unquoted value of an environment-style (upper-case) name: `DB_PASSWORD=hunter2` in a
# Dockerfile or a shell script; the value is group 1.
_ENV_ASSIGNED = re.compile(rf"{_NAME}[ \t]*[=:][ \t]*([^\s\"'$]{{4,}})")

_BASE64_LINE = r"[ \t]*[A-Za-z0-9+/]{40,}={0,2}"
_KEY_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")

# (pattern, group): the text of `group` (0: the whole match) is replaced by REDACTED.
_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = (
    # A private key block; cut off (a snippet ending inside it), to the end of the text.
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
            re.DOTALL,
        ),
        0,
    ),
    # Lines of base64 (a key's body, with neither of its ends in a snippet): from the second
    # line break on, so that the pattern starts with a literal.
    (re.compile(rf"\n{_BASE64_LINE}\r?\n{_BASE64_LINE}(?:\r?\n{_BASE64_LINE})*(?=\r?\n|\Z)"), 0),
    # Keys and tokens by their provider's shape; one pattern each, so that each starts with a
    # literal (an alternation is tried at every position, a literal is searched for).
    *(
        (re.compile(pattern), 0)
        for pattern in (
            r"AKIA[0-9A-Z]{16}\b",  # AWS access key ids (and temporary ones)
            r"ASIA[0-9A-Z]{16}\b",
            r"gh[pousr]_[A-Za-z0-9]{36,}",  # GitHub
            r"github_pat_[A-Za-z0-9_]{22,}",
            r"glpat-[A-Za-z0-9_-]{20,}",  # GitLab
            r"xox[abeprs]-[A-Za-z0-9-]{10,}",  # Slack
            r"AIza[0-9A-Za-z_-]{35}",  # Google API key
            r"[sr]k_live_[0-9A-Za-z]{16,}",  # Stripe
            r"[sr]k_test_[0-9A-Za-z]{16,}",
            r"sk-[A-Za-z0-9_-]{20,}",  # OpenAI, Anthropic (sk-ant-…), DeepSeek
            r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JSON web token
        )
    ),
    (re.compile(r"://[^/\s:@\"']+:([^@\s/\"']+)@"), 1),  # a URL's password
)
# The cursor after an assigned string literal opened on its line, of a credential-like name.
_TYPING = re.compile(rf"{_NAME}[\"']?{_ANNOTATION}\s*(?::=|=>|[:=])\s*[a-z]?[\"'][^\"'\n]*$")


@functools.lru_cache(maxsize=256)  # snippets come back keystroke after keystroke
def redact_credentials(text: str) -> str:
    """`text` with each credential replaced by REDACTED."""
    for pattern, group in _PATTERNS:
        text = pattern.sub(functools.partial(_redacted, group=group), text)
    # Whole blocks are gone by now: an end left is that of a block whose start was cut off (a
    # window of the document starting inside it), redacted from the start of the text.
    if (cut := _KEY_END.search(text)) is not None:
        text = REDACTED + text[cut.end() :]
    return _redact_assigned(text)


def _redacted(match: re.Match[str], group: int) -> str:
    if group == 0:
        return REDACTED
    start, end = match.span(group)
    whole = match.group(0)
    offset = match.start()
    return whole[: start - offset] + REDACTED + whole[end - offset :]


def _redact_assigned(text: str) -> str:
    """Values assigned to credential-like names, found in the lower-cased text (a scan for the
    keywords is fast, a case-insensitive pattern tried at every position is not)."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a character whose lower case is longer: offsets differ
        lowered = "".join(ch.lower()[0] for ch in text)
    pieces = []
    done = 0
    for keyword in _KEYWORD.finditer(lowered):
        if keyword.start() < done:
            continue
        match = _ASSIGNED.match(lowered, keyword.start())
        value = 2
        if match is None and text[keyword.start()].isupper():
            match = _ENV_ASSIGNED.match(lowered, keyword.start())
            value = 1
        if match is not None:
            pieces += [text[done : match.start(value)], REDACTED]
            done = match.end(value)
    return "".join(pieces) + text[done:] if pieces else text


def typing_credential(line_before: str) -> bool:
    """Whether the cursor is inside a string literal assigned to a credential-like name."""
    return _TYPING.search(line_before.lower()) is not None
