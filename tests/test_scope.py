"""The offline engine's names in scope (backends/ngram/scope.py): a constructor's next parameter
stored on self, only while its beginning is a run of its first parameters stored in order."""

from __future__ import annotations

from infill.backends.ngram.scope import stored_parameter

HABIT = "class A:\n    def __init__(self, x, y):\n        self._x = x\n        self._y = y\n\n"


def at_new_line(body: str) -> str | None:
    """What the rule writes on a new line after `body`, in a constructor of (loop, protocol,
    limit), in a file that stores parameters with an underscore."""
    prefix = (
        HABIT + "class B:\n    def __init__(self, loop, protocol, limit):\n" + body + "        "
    )
    found = stored_parameter("python", prefix, "\n")
    return None if found is None else found.text


def test_the_next_parameter_follows_a_run_of_the_first_ones_stored_in_order():
    assert at_new_line("        self._loop = loop\n") == "self._protocol = protocol"
    assert at_new_line('        """Doc."""\n        self._loop = loop\n        # ...\n') == (
        "self._protocol = protocol"
    )
    assert at_new_line("        self._loop = loop\n        self._protocol = protocol\n") == (
        "self._limit = limit"
    )


def test_nothing_before_the_run_begins_after_it_ends_or_past_a_skipped_parameter():
    assert at_new_line("") is None  # a first line may be anything (43 % right when tried)
    assert at_new_line("        self._loop = loop\n        self._buffer = []\n") is None
    assert at_new_line("        self._protocol = protocol\n") is None  # loop skipped
    assert at_new_line("        super().__init__()\n") is None
