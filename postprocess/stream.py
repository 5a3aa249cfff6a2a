"""Deciding while the model streams that the rest is not needed."""

from __future__ import annotations

from infill.postprocess.mode import Mode


def stop_index(text: str, mode: Mode, stop: tuple[str, ...]) -> int | None:
    """Where to cut the text streamed so far, if nothing after that point can be shown.

    Any stop sequence ends it (some servers ignore the `stop` parameter); a single-line request
    ends at its first line end, so the stream is closed instead of waiting for the model.
    """
    cut: int | None = None
    for sequence in stop:
        found = text.find(sequence)
        if found != -1 and (cut is None or found < cut):
            cut = found
    if mode is Mode.SINGLE_LINE:
        newline = text.find("\n")
        if newline != -1 and (cut is None or newline < cut):
            cut = newline
    return cut
