"""When the offline engine shows what it found: thresholds for each kind of cursor position, and
what measuring them on the workspace's own files gave (`calibrate.py`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

LINE_START, MID_LINE = "line start", "mid-line"
KINDS = (LINE_START, MID_LINE)
NEVER = 1.01  # a share or confidence no evidence reaches: that source shows nothing


@dataclass(frozen=True)
class Thresholds:
    """When to show the winning line (`predictor.decide`), or a generated one."""

    min_context: int = 3  # tokens of context matched, at least
    # From this many, the occurrences followed by the line below decide (when min_share of
    # them agree), however few they are.
    followed_context: int = 6
    min_votes: int = 2  # occurrences agreeing on the line, without that support
    min_share: float = 0.8  # of the occurrences that fit the suffix
    # Below this share of agreement, shorter contexts are not tried: they would be more split.
    give_up_share: float = 0.3
    # Where no line is agreed on, the line generated a token at a time (`generate.py`) is
    # shown from this confidence.
    generated: float = 0.12
    # Of each generated token's votes, the share of those of the document itself (its names,
    # its habits), when it has some.
    local_weight: float = 0.5


@dataclass(frozen=True)
class Tuning:
    """Thresholds at the start of a line, and once some of it is typed (tuned with
    bench/ngram_eval.py; `calibrate.py` measures a workspace's own)."""

    line_start: Thresholds = Thresholds(generated=0.12)
    mid_line: Thresholds = Thresholds(generated=0.09)

    def of(self, kind: str) -> Thresholds:
        return self.mid_line if kind == MID_LINE else self.line_start


DEFAULT_TUNING = Tuning()


@dataclass(frozen=True)
class Measured:
    """What the chosen thresholds gave on the workspace's held-out positions of one kind."""

    kind: str
    positions: int
    shown: int
    exact: int

    @property
    def coverage(self) -> float:
        return self.shown / max(self.positions, 1)

    @property
    def precision(self) -> float:
        return self.exact / max(self.shown, 1)

    def describe(self) -> str:
        if not self.shown:
            return f"{self.kind}: nothing shown ({self.positions} positions)"
        return (
            f"{self.kind}: {self.precision:.0%} right ({self.exact} of {self.shown}),"
            f" shown at {self.coverage:.0%} of {self.positions} positions"
        )


@dataclass(frozen=True)
class Calibration:
    """The thresholds chosen for a workspace's files of one family, and what they gave."""

    tuning: Tuning
    measured: tuple[Measured, ...]
    files: int  # held out and measured

    def describe(self) -> str:
        return f"{self.files} files held out; " + "; ".join(m.describe() for m in self.measured)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        tuning = data["tuning"]
        return cls(
            Tuning(Thresholds(**tuning["line_start"]), Thresholds(**tuning["mid_line"])),
            tuple(Measured(**m) for m in data["measured"]),
            int(data["files"]),
        )
