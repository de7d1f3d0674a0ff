"""The changes page's chart: changes per day, stacked by channel, as server-rendered SVG.

No JavaScript and no library: the geometry is computed here and
templates/records/partials/change_chart.html draws it, so it works offline and under a
strict CSP, and swaps in with HTMX like any fragment.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

from records.history import days
from records.models import Channel

WIDTH, HEIGHT = 1200, 210
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 22
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    channel: str
    title: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    legend: list[tuple[str, str, int]]  # (channel, label, total over the period)
    total: int
    start: dt.date
    end: dt.date


def nice_ceiling(value: int) -> int:
    """The top of the scale: the smallest 2, 4 or 10 × 10ⁿ at least `value`.

    Even, so that the middle gridline is a whole number of changes too.
    """
    if value <= 2:
        return 2
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 10):
        if step * magnitude >= value and step * magnitude % 2 == 0:
            return step * magnitude
    return 10 * magnitude


def changes_chart(counts: Mapping[tuple[dt.date, str], int], start: dt.date, end: dt.date) -> Chart:
    """Lay out stacked bars for {(day, channel): count} from `start` to `end`."""
    period = list(days(start, end))
    channels = list(Channel.values)
    labels = dict(Channel.choices)
    totals = {day: sum(counts.get((day, c), 0) for c in channels) for day in period}
    top = nice_ceiling(max(totals.values(), default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(period), 1)
    bar_width = max(slot * 0.78, 1.0)

    bars = []
    for index, day in enumerate(period):
        x = LEFT + index * slot + (slot - bar_width) / 2
        y = float(HEIGHT - BOTTOM)
        for channel in channels:
            count = counts.get((day, channel), 0)
            if not count:
                continue
            height = count / top * plot_height
            y -= height
            title = f"{day:%-d %b %Y}: {count:,} {labels[channel].lower()}"
            bars.append(Bar(x, y, bar_width, height, channel, title))

    step = max(1, math.ceil(len(period) / MAX_X_LABELS))
    x_ticks = [
        Tick(LEFT + index * slot + slot / 2, f"{day:%-d %b}")
        for index, day in enumerate(period)
        if index % step == 0
    ]
    y_ticks = [
        Tick(HEIGHT - BOTTOM - fraction * plot_height, f"{top * fraction:,.0f}")
        for fraction in (0, 0.5, 1)
    ]
    by_channel = {c: sum(counts.get((day, c), 0) for day in period) for c in channels}
    legend = [(c, labels[c], by_channel[c]) for c in channels if by_channel[c]]
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
        bars=bars,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        legend=legend,
        total=sum(by_channel.values()),
        start=start,
        end=end,
    )
