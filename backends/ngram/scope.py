"""Names in scope: a Python constructor's parameters stored on the instance.

An `__init__` mostly begins by storing its parameters on `self`, in their order, each under its
own name the way the file already does it: `self._loop = loop` or `self.loop = loop`. At a line
of such a beginning, once the first parameters are stored in order, the line is the next one,
written in the file's habit.
It is proposed only where the habit is clear: at least MIN_HABIT parameters stored so in the
file, and the other form at most a quarter as often. The n-gram index cannot know this: the
line is new wherever the parameter's name is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_HABIT = 2
# The constructor's signature, up to its colon: parameters, maybe a return annotation.
_INIT = re.compile(r"^([ \t]*)def __init__\(", re.MULTILINE)
_SIGNATURE_END = re.compile(r"\)\s*(?:->\s*[^:\n]+)?:[ \t]*(?:#[^\n]*)?\n")
# A parameter stored under its own name, with or without a leading underscore.
_STORED = re.compile(r"^[ \t]*self\.(_?)(\w+)\s*(?::[^=\n]+)?=\s*(\w+)[ \t]*$", re.MULTILINE)
# What the beginning of a constructor holds besides stored parameters.
_PREAMBLE = re.compile(
    r"self\.\w+\s*(?::[^=]+)?=.*|super\(\)\.__init__\(.*\)|[rRbBuU]?(\"\"\"|''').*\1|#.*"
)


@dataclass(frozen=True)
class StoredParameter:
    """The rest of the line that stores `parameter` as `attribute`, and the file's evidence."""

    text: str
    parameter: str
    attribute: str
    habit: int  # the parameters the file stores that way


def stored_parameter(family: str, prefix: str, suffix: str) -> StoredParameter | None:
    """The next parameter of the enclosing `__init__` stored on `self`, where the cursor is at
    a line of the constructor's beginning (typed so far: a prefix of that line); else None."""
    if family != "python":
        return None
    line_start = prefix.rfind("\n") + 1
    line_before = prefix[line_start:]
    typed = line_before.lstrip(" \t")
    indent = line_before[: len(line_before) - len(typed)]
    if suffix[: (suffix + "\n").index("\n")].strip():
        return None  # something after the cursor on its line
    init = max(_INIT.finditer(prefix, 0, line_start), key=lambda m: m.start(), default=None)
    if init is None or len(init.group(1)) >= len(indent):
        return None
    end = _SIGNATURE_END.search(prefix, init.end(), line_start)
    if end is None:
        return None
    body = prefix[end.end() : line_start].splitlines()
    if not all(
        not line.strip() or (line[: len(indent)] == indent and _PREAMBLE.fullmatch(line.strip()))
        for line in body
    ):
        return None  # past the beginning: other statements came
    # Only once this constructor has begun storing its parameters, the first ones in their
    # order: before that, or past a skipped one, its author may store anything or nothing
    # (measured at every line of the constructors of the standard library, mypy and
    # hypothesis: right 45 % of the time without this).
    parameters = _parameters(prefix[init.end() : end.start()])
    stored = [m.group(3) for m in _STORED.finditer("\n".join(body)) if m.group(2) == m.group(3)]
    if not stored or stored != parameters[: len(stored)] or len(stored) == len(parameters):
        return None
    written = [line.strip() for line in body if line.strip() and not line.strip().startswith("#")]
    last = _STORED.fullmatch(written[-1]) if written else None
    if last is None or last.group(2) != last.group(3):
        return None  # something else came after the parameters: the run is over
    parameter = parameters[len(stored)]
    if any(m.group(3) == parameter for m in _STORED.finditer(_block_after(suffix, indent))):
        return None  # stored further down
    habit = _habit(prefix + suffix)
    if habit is None:
        return None
    underscore, count = habit
    line = f"self.{underscore}{parameter} = {parameter}"
    if not line.startswith(typed):
        return None
    return StoredParameter(line[len(typed) :], parameter, underscore + parameter, count)


def _block_after(suffix: str, indent: str) -> str:
    """The lines after the cursor's that belong to its block (indented as much, or blank)."""
    lines = suffix.split("\n")[1:]
    kept = []
    for line in lines:
        if line.strip() and not line.startswith(indent):
            break
        kept.append(line)
    return "\n".join(kept)


def _parameters(signature: str) -> list[str]:
    """The names of the parameters in `signature` (the text between the parentheses), in order,
    without `self`, `cls` and the collected `*args` and `**kwargs`."""
    names, depth, current = [], 0, ""
    for character in signature + ",":
        if character in "([{":
            depth += 1
        elif character in ")]}":
            depth -= 1
        if character == "," and depth == 0:
            name = current.split(":")[0].split("=")[0].strip()
            if name.isidentifier() and name not in ("self", "cls"):
                names.append(name)
            current = ""
        else:
            current += character
    return names


def _habit(text: str) -> tuple[str, int] | None:
    """How the file stores parameters: ("_" or "", how often), where it is clear."""
    underscored = plain = 0
    for match in _STORED.finditer(text):
        if match.group(2) == match.group(3):
            if match.group(1):
                underscored += 1
            else:
                plain += 1
    for form, count, other in (("_", underscored, plain), ("", plain, underscored)):
        if count >= MIN_HABIT and other * 4 <= count:
            return form, count
    return None
