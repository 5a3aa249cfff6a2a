"""Deciding while the model streams that the rest is not needed."""

from __future__ import annotations

import re
from dataclasses import replace

from infill.postprocess.filters import first_line_end, postprocess, truncate_at_block_end
from infill.postprocess.mode import CompletionContext, Mode, opens_body
from infill.postprocess.syntax import block_end, has_grammar

# A line end as a model may write it: post-processing works on "\n" only; the suggestion gets
# the document's line ends when it leaves (the server's job).
_LINE_END = re.compile(r"\r\n?")


def stop_index(
    text: str, ctx: CompletionContext, stop: tuple[str, ...], blocks: bool = True
) -> int | None:
    """Where to cut the text streamed so far, if nothing after that point can be shown.

    Any stop sequence ends it (some servers ignore the `stop` parameter); a single-line request
    ends at its line end, a multi-line one where its block ends, so the stream is closed
    instead of waiting for the model. `blocks=False` skips the block check (a parse), for
    text that has no new line since the last check.
    """
    cut: int | None = None
    for sequence in stop:
        found = text.find(sequence)
        if found != -1 and (cut is None or found < cut):
            cut = found
    lines = text if cut is None else text[:cut]
    if ctx.mode is Mode.SINGLE_LINE:
        end = first_line_end(lines, ctx)
        return end if end < len(lines) else cut
    if not blocks:
        return cut
    # Only whole lines: a line still arriving may yet belong to the block. With a grammar
    # only the tree decides: a block still being written parses with errors, and the
    # indentation rule is for the end, when nothing better is left.
    complete = lines[: lines.rfind("\n") + 1]
    if complete.strip():
        if has_grammar(ctx.language):
            found = block_end(ctx.prefix, complete, ctx.suffix, ctx.language)
            block = complete if found is None else complete[:found]
        else:
            block = truncate_at_block_end(complete, ctx)
        if block is not None and block.strip() and len(block) < len(complete.rstrip()):
            return len(block)
    return cut


class Cutter:
    """Reads the model's output as it streams and says when to stop reading.

    A single-line request whose line opens a block (`def f(x):`, `} else {`, in C-like
    languages `if (x)`) becomes a multi-line one: the block is what the user wants next.
    """

    def __init__(self, ctx: CompletionContext, stop: tuple[str, ...] = ()) -> None:
        self.ctx = ctx
        self.stop = stop
        self.text = ""  # what the model wrote so far, "\n" line ends
        self._carriage_return = False  # the last delta ended with "\r": "\n" may follow

    def feed(self, delta: str) -> bool:
        """Add streamed text; True when the rest of the stream is not needed.

        Whatever line ends the model writes (a model trained on Windows code, a chat model,
        a proxy: "\r\n", even "\r") become "\n" here, once, where the text comes in."""
        if self._carriage_return:
            delta = "\r" + delta
        self._carriage_return = delta.endswith("\r")
        if self._carriage_return:
            delta = delta[:-1]
        delta = _LINE_END.sub("\n", delta)
        self.text += delta
        cut = stop_index(self.text, self.ctx, self.stop, blocks="\n" in delta)
        if cut is not None and self._upgrades(cut):
            self.ctx = replace(self.ctx, mode=Mode.MULTI_LINE)
            cut = stop_index(self.text, self.ctx, self.stop)
        if cut is None:
            return False
        self.text = self.text[:cut]
        self._carriage_return = False
        return True

    def _upgrades(self, cut: int) -> bool:
        ctx = self.ctx
        return (
            ctx.mode is Mode.SINGLE_LINE
            and cut < len(self.text)
            and self.text[cut] == "\n"
            and not ctx.line_after.strip()
            and opens_body(ctx.line_before + self.text[:cut], ctx.language)
        )

    def result(self) -> str | None:
        """The text to show, post-processed; None for nothing."""
        if self._carriage_return:  # the stream ended with it
            self._carriage_return = False
            self.text += "\n"
        return postprocess(self.text, self.ctx)
