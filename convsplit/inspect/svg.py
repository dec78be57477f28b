"""SVG drawing for the report's charts: a canvas that escapes every text, axis ticks, legends.

:mod:`convsplit.inspect.charts` decides what a chart shows; this module only draws. Every
text that reaches a :class:`Canvas` is escaped there, so no chart can carry markup from the
data, and every drawn datum (a *mark*) carries ``class="mark"`` and a ``<title>`` tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

#: Colours that stay apart for the common kinds of colour blindness (Okabe and Ito).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7a7a7a")
ROLE_COLORS = {
    "system": "#7a7a7a",
    "developer": "#cc79a7",
    "user": "#0072b2",
    "assistant": "#009e73",
    "tool": "#e69f00",
}
AXIS = "#8a8f98"
GRID = "#e6e8eb"
INK = "#1f2328"
MUTED = "#5b616b"


def nice_ticks(low: float, high: float, count: int = 5, *, whole: bool = False) -> list[float]:
    """Round tick values covering ``low..high``, about ``count`` of them; ``whole``: no
    fractions (counts of things).

    >>> nice_ticks(0, 87)
    [0, 20, 40, 60, 80, 100]
    >>> nice_ticks(0, 0.3)
    [0.0, 0.1, 0.2, 0.3]
    >>> nice_ticks(0, 2, 4, whole=True)
    [0, 1, 2]
    """
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count, 1)
    step: float = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * step:
            step *= multiple
            break
    if whole:
        step = max(1, round(step))
    first = math.floor(low / step)
    last = math.ceil(high / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks for a log axis over ``low..high``: 1-2-5 steps, powers of ten when that makes
    too many, and the ends themselves when no round number falls inside.

    >>> log_ticks(40, 300)
    [50, 100, 200]
    >>> log_ticks(3, 200_000)
    [10, 100, 1000, 10000, 100000]
    >>> log_ticks(12, 14.5)
    [12, 14]
    """
    steps: list[tuple[int, float]] = []
    decade = 10 ** math.floor(math.log10(max(low, 1e-9)))
    while decade <= high:
        steps.extend((m, m * decade) for m in (1, 2, 5) if low <= m * decade <= high)
        decade *= 10
    if len(steps) > 8:
        steps = [(m, t) for m, t in steps if m == 1]
    ticks = [t for _, t in steps] or sorted({float(math.ceil(low)), float(math.floor(high))})
    return [int(t) if t == int(t) else t for t in ticks]


class Canvas:
    """Collects SVG elements; every text that reaches it is escaped here."""

    def __init__(self, width: int, height: int, title: str) -> None:
        self.width, self.height = width, height
        self.parts: list[str] = []
        self.title = title

    def text(self, x: float, y: float, text: str, *, anchor: str = "start", size: int = 11,
             color: str = MUTED, weight: str | None = None, extra: str = "") -> None:  # fmt: skip
        bold = f' font-weight="{weight}"' if weight else ""
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{color}" '
            f'text-anchor="{anchor}"{bold}{extra}>{escape(text)}</text>'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, *, color: str = AXIS,
             width: float = 1, dash: str | None = None) -> None:  # fmt: skip
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
            f'stroke-width="{width}"{dashes}/>'
        )

    def mark(self, element: str, tip: str) -> None:
        """A drawn datum: an element (without its closing) and the tooltip that explains it."""
        self.parts.append(f'{element} class="mark"><title>{escape(tip)}</title></{_tag(element)}>')

    def svg(self) -> str:
        label = escape(self.title, quote=True)
        return (
            f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-label="{label}">' + "".join(self.parts) + "</svg>"
        )


def _tag(element: str) -> str:
    return element[1:].split(" ", 1)[0]


def legend(canvas: Canvas, items: Sequence[tuple[str, str, bool]], x: float, y: float) -> float:
    """Swatches and labels in rows from ``x``, wrapping as needed; returns the last row's y."""
    cursor, row = x, y
    for label, color, dashed in items:
        room = 26 + 6.2 * len(label)
        if cursor + room > canvas.width - 8 and cursor > x:
            cursor, row = x, row + 15
        dash = "5 3" if dashed else None
        canvas.line(cursor, row - 4, cursor + 18, row - 4, color=color, width=2.5, dash=dash)
        canvas.text(cursor + 22, row, label, size=11, color=INK)
        cursor += room + 10
    return row
