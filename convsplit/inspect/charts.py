"""Small inline SVG charts for the HTML report: nothing to fetch, nothing to run.

A report must open from a file on a machine without internet, so charts are drawn here as
``<svg>`` text (on a :class:`~convsplit.inspect.svg.Canvas`) rather than by a JavaScript
library. Each chart has fixed ``width`` and ``height`` attributes (the page lays it out
before drawing, and tests can check the size it renders at), escapes every label, and gives
each mark a ``<title>`` so a pointer shows its exact value. Marks carry ``class="mark"`` so a
test can find what was drawn.

>>> svg = line_chart([512, 1024], [Series("samples", [10, 12])], title="Samples")
>>> svg.startswith('<svg class="chart"'), svg.count('class="mark"')
(True, 2)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from convsplit.inspect.labels import (
    distinct_labels,
    exact,
    plural,
    plural_word,
    short,
    window_label,
)
from convsplit.inspect.svg import (
    GRID,
    INK,
    PALETTE,
    Canvas,
    legend,
    log_ticks,
    nice_ticks,
)


@dataclass(frozen=True)
class Series:
    """One line of a line chart: a value per x (None where there is none)."""

    label: str
    values: Sequence[float | None]
    color: str | None = None
    dashed: bool = False


@dataclass(frozen=True)
class Spread:
    """One row of a range chart: a distribution's min, 5th percentile, median, 95th, max."""

    label: str
    min: float
    p5: float
    median: float
    p95: float
    max: float
    color: str | None = None


def line_chart(  # noqa: PLR0913 (keyword-only styling, each with a default)
    xs: Sequence[int],
    series: Sequence[Series],
    *,
    title: str,
    x_label: str = "max_tokens (log scale)",
    x_format: Callable[[int], str] = window_label,
    y_format: Callable[[float], str] = short,
    point_format: Callable[[float], str] = exact,
    y_floor: float = 0.0,
    y_ceiling: float | None = None,
    width: int = 440,
    height: int = 250,
) -> str:
    """Lines over a log-scale x axis (one tick per x): how a number changes with the window.

    ``y_floor`` is the least the y axis reaches up to, so an all-zero line still has an
    axis; ``y_ceiling`` caps it (100% for shares). A single line has its values printed at
    its points: in ``y_format`` where that tells different values apart, else in
    ``point_format``.

    >>> svg = line_chart([512, 1024, 2048], [Series("samples", [1988, 2057, 2076])], title="S")
    >>> [text for text in ("1,988", "2,057", "2,076", "2.1k") if f">{text}</text>" in svg]
    ['1,988', '2,057', '2,076']
    """
    canvas = Canvas(width, height, title)
    canvas.text(10, 18, title, size=13, color=INK, weight="600")
    items = [
        (s.label, s.color or PALETTE[k % len(PALETTE)], s.dashed) for k, s in enumerate(series)
    ]
    top = 32.0
    if len(series) > 1:
        top = legend(canvas, items, 12, 36) + 14
    left, right, bottom = 54, width - 18, height - 38
    values = [v for s in series for v in s.values if v is not None]
    high = max([y_floor, *values])
    whole = all(isinstance(v, int) for v in values)
    ticks = nice_ticks(0, high, 4, whole=whole)
    if y_ceiling is not None:
        ticks = [t for t in ticks if t <= y_ceiling + 1e-9] or [0, y_ceiling]
        if ticks[-1] < high:
            ticks.append(y_ceiling)
    y_top = ticks[-1] or 1

    def y(value: float) -> float:
        return bottom - (bottom - top) * value / y_top

    positions = _log_positions(xs, left + 14, right - 14)
    for tick in ticks:
        canvas.line(left, y(tick), right, y(tick), color=GRID)
        canvas.text(left - 6, y(tick) + 4, y_format(tick), anchor="end", size=10)
    canvas.line(left, bottom, right, bottom)
    for x_value, px in zip(xs, positions, strict=True):
        canvas.line(px, bottom, px, bottom + 4)
        canvas.text(px, bottom + 16, x_format(x_value), anchor="middle", size=10)
    canvas.text((left + right) / 2, height - 6, x_label, anchor="middle", size=10)
    for (label, color, dashed), line in zip(items, series, strict=True):
        points = [
            (px, y(v), x_value, v)
            for px, x_value, v in zip(positions, xs, line.values, strict=True)
            if v is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in points)
            dash = ' stroke-dasharray="5 3"' if dashed else ""
            canvas.parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2.2"{dash}/>'
            )
        # one line leaves room to print its values, each its own: "2.1k" at every point
        # would hide how 2,057 samples become 2,076
        labels = distinct_labels([v for *_, v in points], y_format, point_format)
        for (px, py, x_value, v), text in zip(points, labels, strict=True):
            tip = f"{v:,}" if isinstance(v, int) else y_format(v)
            canvas.mark(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.2" fill="{color}"',
                f"{label} at {x_format(x_value)}: {tip}",
            )
            if len(series) == 1:
                canvas.text(px, py - 7, text, anchor="middle", size=9, color=INK)
    return canvas.svg()


def _log_positions(xs: Sequence[int], start: float, end: float) -> list[float]:
    logs = [math.log2(max(x, 1)) for x in xs]
    low, high = min(logs, default=0.0), max(logs, default=0.0)
    if high == low:
        return [(start + end) / 2 for _ in xs]
    return [start + (end - start) * (v - low) / (high - low) for v in logs]


def histogram(
    counts: Mapping[int, int],
    *,
    title: str,
    unit: str = "conversation",
    x_label: str = "tokens (log scale)",
    markers: Sequence[tuple[int, str]] = (),
    width: int = 560,
    height: int = 260,
) -> str:
    """Bars of how many values fall in each log-spaced bin, with labelled vertical markers.

    Token counts span orders of magnitude, so bins grow geometrically: a short and a long
    conversation both get a readable bar. ``markers`` (value, label) draw dashed lines,
    e.g. the windows of the sweep, where they fall inside the axis. ``unit`` names one of
    the things counted; tooltips count them ("1 conversation", "3 conversations").

    >>> svg = histogram({10: 3, 100: 1, 1000: 2}, title="Tokens per conversation")
    >>> svg.count('class="mark"'), "<title>80\u2013100 tokens: 1 conversation</title>" in svg
    (3, True)
    """
    canvas = Canvas(width, height, title)
    canvas.text(10, 18, title, size=13, color=INK, weight="600")
    left, right, top, bottom = 58, width - 18, 34, height - 38
    values = sorted(v for v, n in counts.items() if n > 0)
    if not values:
        canvas.text(width / 2, height / 2, "no data", anchor="middle", size=12)
        return canvas.svg()
    edges = _log_edges(max(values[0], 1), max(values[-1], 1))
    bins = [0] * (len(edges) - 1)
    for value, n in counts.items():
        bins[_bin(edges, max(value, 1))] += n
    ticks = nice_ticks(0, max(bins), 4, whole=True)
    log_low, log_high = math.log10(edges[0]), math.log10(edges[-1])

    def x(value: float) -> float:
        return left + (right - left) * (math.log10(value) - log_low) / (log_high - log_low)

    def y(value: float) -> float:
        return bottom - (bottom - top) * value / ticks[-1]

    for tick in ticks:
        canvas.line(left, y(tick), right, y(tick), color=GRID)
        canvas.text(left - 6, y(tick) + 4, short(tick), anchor="end", size=10)
    for k, n in enumerate(bins):
        if not n:
            continue
        x0, x1 = x(edges[k]) + 0.5, x(edges[k + 1]) - 0.5
        low, high = math.ceil(edges[k]), math.ceil(edges[k + 1]) - 1
        span = plural(low, "token") if high <= low else f"{low:,}\u2013{high:,} tokens"
        canvas.mark(
            f'<rect x="{x0:.1f}" y="{y(n):.1f}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{bottom - y(n):.1f}" fill="{PALETTE[0]}"',
            f"{span}: {plural(n, unit)}",
        )
    canvas.line(left, bottom, right, bottom)
    for tick in log_ticks(edges[0], edges[-1]):
        canvas.line(x(tick), bottom, x(tick), bottom + 4)
        canvas.text(x(tick), bottom + 16, short(tick), anchor="middle", size=10)
    for value, label in markers:
        if edges[0] <= value <= edges[-1]:
            canvas.line(x(value), top, x(value), bottom, color=PALETTE[5], dash="4 3")
            canvas.text(x(value) + 3, top + 9, label, size=9, color=PALETTE[5])
    canvas.text((left + right) / 2, height - 6, x_label, anchor="middle", size=10)
    canvas.text(14, (top + bottom) / 2, plural_word(2, unit), anchor="middle", size=10,
                extra=f' transform="rotate(-90 14 {(top + bottom) / 2:.1f})"')  # fmt: skip
    return canvas.svg()


def _log_edges(low: int, high: int) -> list[float]:
    """Geometric bin edges from ``low`` to just past ``high``: 6 to 24 bins."""
    if high <= low:
        return [low * 0.9, high * 1.1]
    octaves = math.log2(high / low)
    count = min(24, max(6, math.ceil(octaves * 3)))
    ratio = (high * 1.0001 / low) ** (1 / count)
    return [low * ratio**k for k in range(count + 1)]


def _bin(edges: Sequence[float], value: float) -> int:
    for k in range(len(edges) - 1):
        if value < edges[k + 1]:
            return k
    return len(edges) - 2


def spread_chart(
    rows: Sequence[Spread],
    *,
    title: str,
    x_label: str = "tokens per message (log scale)",
    width: int = 560,
    row_height: int = 34,
) -> str:
    """One row per group: a line from min to max, a box from p5 to p95, a tick at the median.

    The shape of each role's message lengths, side by side on one log axis.

    >>> svg = spread_chart([Spread("user", 5, 6, 12, 40, 90)], title="Tokens per message")
    >>> svg.count('class="mark"')
    1
    """
    height = 34 + row_height * max(len(rows), 1) + 40
    canvas = Canvas(width, height, title)
    canvas.text(10, 18, title, size=13, color=INK, weight="600")
    left, right, top = 92, width - 92, 34
    bottom = top + row_height * max(len(rows), 1)
    if not rows:
        canvas.text(width / 2, top + row_height / 2, "no data", anchor="middle", size=12)
        return canvas.svg()
    low = max(min(r.min for r in rows), 1)
    high = max(*(r.max for r in rows), low + 1)
    ticks = log_ticks(low, high)
    log_low, log_high = math.log10(low) - 0.05, math.log10(high) + 0.05

    def x(value: float) -> float:
        return left + (right - left) * (math.log10(max(value, 1)) - log_low) / (log_high - log_low)

    for tick in ticks:
        canvas.line(x(tick), top, x(tick), bottom, color=GRID)
        canvas.text(x(tick), bottom + 16, short(tick), anchor="middle", size=10)
    canvas.line(left, bottom, right, bottom)
    for k, row in enumerate(rows):
        color = row.color or PALETTE[k % len(PALETTE)]
        middle = top + row_height * k + row_height / 2
        canvas.text(left - 8, middle + 4, row.label, anchor="end", size=11, color=INK)
        canvas.line(x(row.min), middle, x(row.max), middle, color=color, width=1.5)
        box_left, box_right = x(row.p5), x(row.p95)
        tip = (
            f"{row.label}: min {short(row.min)}, p5 {short(row.p5)}, median "
            f"{short(row.median)}, p95 {short(row.p95)}, max {short(row.max)}"
        )
        box = max(box_right - box_left, 2)
        canvas.mark(
            f'<rect x="{box_left:.1f}" y="{middle - 8:.1f}" width="{box:.1f}" height="16" '
            f'fill="{color}" fill-opacity="0.35" stroke="{color}"',
            tip,
        )
        canvas.line(x(row.median), middle - 10, x(row.median), middle + 10, color=INK, width=2)
        canvas.text(right + 8, middle + 4, f"median {short(row.median)}", size=10)
    canvas.text((left + right) / 2, height - 6, x_label, anchor="middle", size=10)
    return canvas.svg()


def share_bar(
    parts: Sequence[tuple[str, int, str | None]],
    *,
    title: str,
    width: int = 560,
    height: int = 86,
) -> str:
    """One bar split by share of a total (label, amount, colour): where the tokens go.

    >>> svg = share_bar([("user", 30, None), ("assistant", 70, None)], title="Tokens by role")
    >>> svg.count('class="mark"')
    2
    """
    canvas = Canvas(width, height, title)
    canvas.text(10, 18, title, size=13, color=INK, weight="600")
    total = sum(amount for _, amount, _ in parts)
    left, right, top = 12, width - 12, 28
    if not total:
        canvas.text(width / 2, top + 20, "no data", anchor="middle", size=12)
        return canvas.svg()
    cursor = float(left)
    keys: list[tuple[str, str, bool]] = []
    for k, (label, amount, color) in enumerate(parts):
        if not amount:
            continue
        fill = color or PALETTE[k % len(PALETTE)]
        span = (right - left) * amount / total
        canvas.mark(
            f'<rect x="{cursor:.1f}" y="{top}" width="{span:.1f}" height="26" fill="{fill}"',
            f"{label}: {plural(amount, 'token')} ({amount / total:.1%})",
        )
        if span > 70:
            canvas.text(cursor + span / 2, top + 17, f"{label} {amount / total:.0%}",
                        anchor="middle", size=11, color="#ffffff", weight="600")  # fmt: skip
        keys.append((f"{label} {amount / total:.1%}", fill, False))
        cursor += span
    legend(canvas, keys, 12, top + 46)
    return canvas.svg()
