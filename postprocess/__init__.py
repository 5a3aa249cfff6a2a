"""Turning raw model output into the text to show."""

from infill.postprocess.filters import FILTERS, CompletionContext, postprocess
from infill.postprocess.mode import Mode, completion_mode, opens_block
from infill.postprocess.stream import stop_index

__all__ = [
    "FILTERS",
    "CompletionContext",
    "Mode",
    "completion_mode",
    "opens_block",
    "postprocess",
    "stop_index",
]
