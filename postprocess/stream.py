"""Deciding while the model streams that the rest is not needed."""

from __future__ import annotations

import re
from dataclasses import replace

from infill.postprocess.filters import (
    closes_in_order,
    first_line_end,
    postprocess,
    reaches,
    replaced_length,
    truncate_at_block_end,
)
from infill.postprocess.mode import (
    BRACKETS,
    CompletionContext,
    Mode,
    body_below,
    headers_end_lines,
    last_in_block,
    opens_body,
)
from infill.postprocess.syntax import block_end, has_grammar, in_member_list

# A line end as a model may write it: post-processing works on "\n" only; the suggestion gets
# the document's line ends when it leaves (the server's job).
_LINE_END = re.compile(r"\r\n?")

# A line the model writes may be as long as the document's longest, or this long in a document
# of short lines; past that the model is rambling (a small or confused model can write hundreds
# of characters without a line end) and waiting for the line to end only delays "nothing".
LONG_LINE = 160


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
            found = block_end(ctx.prefix, complete, ctx.suffix, ctx.language, ctx.replaced)
            block = complete if found is None else complete[:found]
        else:
            block = truncate_at_block_end(complete, ctx)
        if block is not None and block.strip() and len(block) < len(complete.rstrip()):
            return len(block)
    return cut


class Cutter:
    """Reads the model's output as it streams and says when to stop reading.

    A single-line request whose line opens a block (`def f(x):`, `} else {`, in C-like
    languages `if (x)`) becomes a multi-line one: the block is what the user wants next; so
    does one at the end of the last line of a block of members (a struct's fields, an
    interface's members, an object's entries): more of them may follow.

    In front of text on the cursor's line, a suggestion that writes that text out again and
    goes on past it (`fn f(|)` → `n: u32) -> u32 {`, multi-line when the line opens a block),
    that breaks the line inside the brackets the text closes (`f(|)` → `\n    a,\n)`), or
    that closes them one by one with more between (`log("|")` → `a", b)`) replaces that text
    (see `replaced_length`).
    """

    def __init__(self, ctx: CompletionContext, stop: tuple[str, ...] = ()) -> None:
        self.ctx = ctx
        self.stop = stop
        self.text = ""  # what the model wrote so far, "\n" line ends
        self._carriage_return = False  # the last delta ended with "\r": "\n" may follow
        # The single-line context of a suggestion that became one replacing the rest of the
        # cursor's line: what it falls back to if the model does not write that rest out.
        self._in_front: CompletionContext | None = None
        self._longest_line: int | None = None  # the document's, measured when first needed

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
        if cut is not None and self._header_may_end_here(cut):
            return False  # whether a `{` comes on the next line decides
        if cut is not None and self._upgrade(cut):
            cut = stop_index(self.text, self.ctx, self.stop)
        if cut is None:
            if not self._runs_away():
                return False
            cut = self.text.rfind("\n") + 1  # the complete lines only
        self.text = self.text[:cut]
        self._carriage_return = False
        return True

    def _runs_away(self) -> bool:
        """Whether the line being written is longer than LONG_LINE and than every line of the
        document (prose excepted: a paragraph is a line)."""
        start = self.text.rfind("\n") + 1
        length = len(self.text) - start + (len(self.ctx.line_before) if start == 0 else 0)
        if length <= LONG_LINE or self.ctx.prose:
            return False
        if self._longest_line is None:
            document = self.ctx.prefix + self.ctx.suffix
            self._longest_line = max(map(len, document.split("\n")))
        return length > self._longest_line

    def _upgrade(self, cut: int) -> bool:
        """Change the context at the single-line cut, if `_upgraded` says so."""
        upgraded = self._upgraded(cut)
        if upgraded is None:
            return False
        if upgraded.replaced:
            self._in_front = self.ctx
        self.ctx = upgraded
        return True

    def _upgraded(self, cut: int) -> CompletionContext | None:
        """The context the request has from the single-line cut on, if it changes: multi-line
        after a line that opens a block, replacing the rest of the line when the line writes
        it out again and goes on past it."""
        ctx = self.ctx
        if ctx.mode is not Mode.SINGLE_LINE or ctx.replaced:
            return None
        ends_line = self.text[cut : cut + 1] == "\n"
        line = ctx.line_before + self.text[:cut]
        opens = ends_line and opens_body(line, ctx.language, self.text[cut + 1 :])
        tail = ctx.line_after.strip()
        if not tail:
            more = opens or (
                ends_line
                and last_in_block(ctx.line_before, ctx.suffix)
                and in_member_list(ctx.prefix, ctx.suffix, ctx.language)
            )
            return replace(ctx, mode=Mode.MULTI_LINE) if more else None
        reached = reaches(self.text[:cut], tail)
        closed = None if reached is not None else closes_in_order(self.text[:cut], tail)
        if reached is not None:
            if not self.text[reached + len(tail) : cut].strip() and not (
                opens and not body_below(ctx.line_before, ctx.suffix)
            ):
                # In front of the rest of the line, which has its body below if it opens
                # one (`if (|)` + `x > 0)`): trimmed to go before it.
                return None
        elif closed is None and not (ends_line and _breaks_inside(line, tail)):
            return None
        # Post-processed in the document without the rest of the line.
        end = len(ctx.line_after.rstrip())
        return replace(
            ctx,
            mode=Mode.MULTI_LINE
            if opens or (reached is None and closed is None)
            else Mode.SINGLE_LINE,
            suffix=ctx.suffix[end:],
            replaced=ctx.suffix[:end],
        )

    def _header_may_end_here(self, cut: int) -> bool:
        """A single-line cut at the end of a line that may be a header (not a statement or
        a list item) with nothing after it yet, in a language where a header's `{` may come
        on the next line, and no body below the cursor's line yet."""
        ctx = self.ctx
        line = (ctx.line_before + self.text[:cut]).rstrip()
        return (
            ctx.mode is Mode.SINGLE_LINE
            and self.text[cut : cut + 1] == "\n"
            and not self.text[cut:].strip()
            and headers_end_lines(ctx.language)
            and not line.endswith((";", ",", "{", "}"))
            and not body_below(ctx.line_before, ctx.suffix)
        )

    def result(self) -> str | None:
        """The text to show, post-processed; None for nothing."""
        if self._carriage_return:  # the stream ended with it
            self._carriage_return = False
            self.text += "\n"
        if self.ctx.mode is Mode.SINGLE_LINE:
            # A line the stream did not cut may write out the rest of the cursor's line.
            self._upgrade(first_line_end(self.text, self.ctx))
        shown = postprocess(self.text, self.ctx)
        if self._in_front is not None:
            if shown is None or not replaced_length(shown, self._in_front.suffix):
                # The model did not write the rest of the line out: a suggestion in front of it.
                return postprocess(self.text, self._in_front)
        return shown


def _breaks_inside(line: str, tail: str) -> bool:
    """Whether the line, broken after an open bracket, leaves it to closers right of the
    cursor (`f(|)` → `\\n    a,\\n)`): the completion writes the lines inside, then them."""
    return not tail.strip(")]};,") and line.rstrip().endswith(tuple(BRACKETS.values()))
