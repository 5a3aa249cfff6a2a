"""Turning raw model output into the text to show."""

from infill.postprocess.filters import (
    FILTERS,
    compute_document_parts,
    postprocess,
    replaced_length,
)
from infill.postprocess.mode import (
    CompletionContext,
    Mode,
    completion_mode,
    is_prose,
    opens_block,
)
from infill.postprocess.rank import rank
from infill.postprocess.stream import Cutter, stop_index

__all__ = [
    "FILTERS",
    "CompletionContext",
    "Cutter",
    "Mode",
    "completion_mode",
    "compute_document_parts",
    "is_prose",
    "opens_block",
    "postprocess",
    "rank",
    "replaced_length",
    "stop_index",
]
