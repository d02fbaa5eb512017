"""Statistics as the page shows them: totals from Stats rows and bar charts as inline SVG, made here.

The SVG is built from numbers and escaped labels only; the page's CSP allows no script in it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from staff.stats import WeekRow, median, percentile

BAR_HEIGHT = 22
LABEL_WIDTH = 150
CHART_WIDTH = 560


@dataclass(frozen=True)
class Durations:
    """Median and 90th percentile of a list of seconds (staff.stats's, as the CLI prints them)."""

    count: int
    median: float | None
    p90: float | None


def durations(seconds: list[float]) -> Durations:
    return Durations(len(seconds), median(seconds), percentile(seconds, 0.9))


@dataclass(frozen=True)
class Chart:
    """One chart of the statistics page and its figures (shown as a table too)."""

    title: str
    svg: Markup
    series: list[tuple[str, int]]


def hours(value: float | None) -> str:
    return "–" if value is None else f"{value / 3600:.1f}"


def totals(rows: Iterable[WeekRow], key: str) -> list[tuple[str, int]]:
    """Counts summed by one field of the rows (week, queue, status or urgency), in order of the field."""
    summed: dict[str, int] = defaultdict(int)
    for row in rows:
        summed[str(getattr(row, key))] += row.count
    return sorted(summed.items())


def bar_chart(series: Sequence[tuple[str, int]], title: str, chart_id: str) -> Markup:
    """A horizontal bar chart, one bar a label; `title` names it for screen readers."""
    top = max((n for _, n in series), default=0) or 1
    height = BAR_HEIGHT * max(1, len(series)) + 8
    parts = [f'<svg class="chart" role="img" aria-labelledby="{chart_id}-t" viewBox="0 0 {CHART_WIDTH} {height}" '
             f'width="{CHART_WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{chart_id}-t">{escape(title)}</title>']
    span = CHART_WIDTH - LABEL_WIDTH - 50
    for index, (label, count) in enumerate(series):
        y = 4 + index * BAR_HEIGHT
        width = max(1, round(span * count / top)) if count else 0
        parts.append(f'<text x="0" y="{y + 15}">{escape(label[:22])}</text>')
        parts.append(f'<rect class="bar" x="{LABEL_WIDTH}" y="{y + 3}" width="{width}" height="{BAR_HEIGHT - 6}"/>')
        parts.append(f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 15}">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label above is escaped; the rest are numbers
