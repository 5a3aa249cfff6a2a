"""Recent edits: where the user has just been working says what they will write next."""

from __future__ import annotations

import time
from dataclasses import dataclass

MAX_REGIONS = 8
MERGE_DISTANCE = 3  # lines: typing in the same place is one region, not one per keystroke
CONTEXT_LINES = 3  # lines shown around an edited region


@dataclass
class EditRegion:
    uri: str
    start_line: int  # in the document as it is now, inclusive
    end_line: int
    when: float


class RecentEdits:
    """The last few edited regions, most recent first, kept in step with later edits."""

    def __init__(self, max_regions: int = MAX_REGIONS) -> None:
        self.max_regions = max_regions
        self.regions: list[EditRegion] = []

    def record(self, uri: str, start_line: int, old_end_line: int, new_end_line: int) -> None:
        delta = new_end_line - old_end_line
        merged: EditRegion | None = None
        kept: list[EditRegion] = []
        for region in self.regions:
            if region.uri == uri:
                if region.start_line > old_end_line:  # below the edit: shifts with it
                    region.start_line += delta
                    region.end_line += delta
                elif region.end_line > old_end_line:
                    region.end_line += delta
                near = (
                    region.start_line - MERGE_DISTANCE <= new_end_line
                    and start_line <= region.end_line + MERGE_DISTANCE
                )
                if near:
                    if merged is None:
                        merged = region
                    merged.start_line = min(merged.start_line, region.start_line, start_line)
                    merged.end_line = max(merged.end_line, region.end_line, new_end_line)
                    if region is not merged:
                        continue
            kept.append(region)
        if merged is None:
            merged = EditRegion(uri, start_line, new_end_line, 0.0)
        else:
            kept.remove(merged)
        merged.when = time.monotonic()
        self.regions = [merged, *kept][: self.max_regions]

    def forget(self, uri: str) -> None:
        self.regions = [region for region in self.regions if region.uri != uri]


def shown_lines(region: EditRegion, line_count: int) -> tuple[int, int]:
    """The lines to show for a region: the edit and a little around it."""
    return (
        max(region.start_line - CONTEXT_LINES, 0),
        min(region.end_line + CONTEXT_LINES, line_count - 1),
    )
