"""What a benchmark hands back: its figures for the table and notes (checks, counts, caveats)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .common import Figure


@dataclass
class Section:
    name: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float | None, unit: str, *, raw: float | None = None,
            ratio: float | None = None, target: str = "", text: str | None = None) -> None:
        """Add a figure; ``ratio`` defaults to value ÷ raw (a cost ratio)."""
        if ratio is None and value is not None and raw:
            ratio = value / raw
        self.figures.append(Figure(self.name, name, value, unit, raw, ratio, target, text))

    def add_rate(self, name: str, rate: float | None, raw_rate: float | None, *, target: str = "") -> None:
        """A throughput figure; its ratio is still a cost ratio (raw rate ÷ service rate)."""
        cost_ratio = raw_rate / rate if rate and raw_rate else None
        self.figures.append(Figure(self.name, name, rate, "/s", raw_rate, cost_ratio, target))

    def note(self, text: str) -> None:
        self.notes.append(text)
