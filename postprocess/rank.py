"""Ordering the candidates for one cursor: the one the document parses best with first."""

from __future__ import annotations

from infill.postprocess.mode import CompletionContext
from infill.postprocess.syntax import error_count, tree_with


def rank(candidates: list[str], ctx: CompletionContext) -> list[str]:
    """The distinct candidates, those leaving the fewest parse errors in the document first;
    among equals (and for a language without a grammar) in the model's order."""
    distinct = list(dict.fromkeys(candidates))
    if len(distinct) < 2:
        return distinct
    return sorted(distinct, key=lambda text: _errors(text, ctx))  # stable: ties keep order


def _errors(text: str, ctx: CompletionContext) -> int:
    tree = tree_with(ctx.prefix, text, ctx.suffix, ctx.language, ctx.replaced)
    return error_count(tree) if tree is not None else 0
