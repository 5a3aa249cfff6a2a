"""Identifier sets of code, for similarity scoring: words that say what code is about."""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Split camelCase, PascalCase and ACRONYMWords: "parseHTTPResponse" -> parse, http, response.
_SUBWORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

# Keywords of the supported languages and words too common in code to tell windows apart.
# Scoring on them would make every window look alike.
STOP_WORDS = frozenset(
    """
    abstract and as assert async await auto bool boolean break byte case catch char class
    const continue def default defer del delete do double elif else end enum except export
    extends extern false final finally float fn for from func function go goto if impl
    implements import in instanceof int interface is lambda let local long loop match mod
    module mut namespace new nil none nonlocal not null of or override package pass private
    protected pub public raise readonly ref return self static string struct super switch then
    this throw throws trait true try type typeof undefined union unsigned use using var void
    volatile where while with yield
    a an the to get set value data args kwargs i j k x y n s t e f v
    """.split()
)


def identifier_words(text: str) -> set[str]:
    """Lower-case sub-words of the identifiers in `text`, without keywords and stop-words;
    whole identifiers too, so that an exact name match counts for more than its parts."""
    words: set[str] = set()
    for identifier in _IDENTIFIER.findall(text):
        lowered = identifier.lower()
        if lowered in STOP_WORDS:
            continue
        words.add(lowered)
        if "_" in identifier or not identifier.islower():
            for part in _SUBWORD.findall(identifier):
                part = part.lower()
                if len(part) > 1 and part not in STOP_WORDS:
                    words.add(part)
    return words
