"""Bar charts the monitor draws (``templates/_charts.html``): bars, a scale with round steps, and an
axis that says what is counted and in which unit.

Durations pick their unit from the longest bar (minutes, hours or days), so a scale never reads
"0.0 h" beside bars of different lengths; each bar's own value is in words (``duration``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from flask_babel import gettext as _

from ..layout import duration


@dataclass
class Bar:
    label: str
    value: float  # in the chart's unit
    css: str
    text: str  # the value as people read it


@dataclass
class Chart:
    title: str
    axis: str  # what the scale counts, with its unit
    top: float  # the scale's end, in the chart's unit
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (value, text)
    bars: list[Bar] = field(default_factory=list)


def nice_ticks(largest: float, most: int = 5, least_step: float = 0.0) -> tuple[float, list[float]]:
    """A scale from 0 past ``largest`` in round steps (1, 2 or 5 × 10ⁿ, at least ``least_step``),
    at most ``most`` steps."""
    if largest <= 0:
        return 1.0, [0.0, 1.0]
    raw = largest / most
    power = 10 ** math.floor(math.log10(raw))
    step = max(least_step, next(m * power for m in (1, 2, 5, 10) if m * power >= raw))
    top = step * math.ceil(largest / step - 1e-9)
    return top, [round(i * step, 10) for i in range(int(round(top / step)) + 1)]


def _number(value: float) -> str:
    return (f"{value:.0f}" if value == int(value) else f"{value:g}").replace(".", ",")


def count_chart(title: str, axis: str, bars: list[tuple[str, int, str]]) -> Chart:
    """Bars of whole counts (``(label, count, css class)``) on a scale of whole numbers."""
    top, ticks = nice_ticks(max((v for _, v, _ in bars), default=0), least_step=1)
    return Chart(title, axis, top, [(t, _number(t)) for t in ticks],
                 [Bar(label, value, css, str(value)) for label, value, css in bars])


def duration_chart(title: str, bars: list[tuple[str, float, str]]) -> Chart:
    """Bars of durations given in hours (``(label, hours, css class)``), scaled in the unit the longest needs."""
    longest = max((v for _, v, _ in bars), default=0.0)
    if longest < 1:
        per_hour, axis = 60.0, _("Tid i minuter")
    elif longest < 48:
        per_hour, axis = 1.0, _("Tid i timmar")
    else:
        per_hour, axis = 1 / 24, _("Tid i dygn")
    top, ticks = nice_ticks(longest * per_hour, least_step=1)
    return Chart(title, axis, top, [(t, _number(t)) for t in ticks],
                 [Bar(label, hours * per_hour, css, duration(hours)) for label, hours, css in bars])
