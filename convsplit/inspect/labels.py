"""Numbers and counted words as the reports print them, so every report prints them alike.

The terminal summaries, ``convsplit show``, the HTML report and its charts all say "1 turn,
2 turns", write a share the same way and name a window ``4k``; one module keeps them from
drifting apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def plural(n: int, word: str) -> str:
    """``n`` and ``word``, with an ``s`` unless there is exactly one.

    >>> plural(1, "conversation"), plural(1200, "turn"), plural(0, "note")
    ('1 conversation', '1,200 turns', '0 notes')
    """
    return f"{n:,} {plural_word(n, word)}"


def plural_word(n: int, word: str) -> str:
    """``word`` as it reads after the number ``n``.

    >>> plural_word(1, "error"), plural_word(2, "error")
    ('error', 'errors')
    """
    return word if n == 1 else word + "s"


def number(value: float) -> str:
    """A statistic: whole numbers without decimals, others to one decimal place.

    >>> number(254.0), number(75.44), number(12345)
    ('254', '75.4', '12,345')
    """
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def share(value: float) -> str:
    """A share (0 to 1) to one decimal place, never rounded to look like none or all.

    >>> [share(v) for v in (0, 0.0004, 0.25, 0.9996, 1)]
    ['0.0%', '<0.1%', '25.0%', '>99.9%', '100.0%']
    """
    if 0 < value < 0.001:
        return "<0.1%"
    if 0.999 < value < 1:
        return ">99.9%"
    return f"{value:.1%}"


def short(value: float) -> str:
    """A number in at most four characters or so, for axis ticks.

    >>> [short(v) for v in (0, 7, 0.25, 950, 1500, 20_000, 3_400_000, 2e9)]
    ['0', '7', '0.25', '950', '1.5k', '20k', '3.4M', '2B']
    """
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return _trim(value / limit) + suffix
    return _trim(value)


def window_label(tokens: int) -> str:
    """A context window the way people name it: powers of two in binary k.

    >>> [window_label(n) for n in (512, 1024, 131072, 1000, 3000)]
    ['512', '1k', '128k', '1,000', '3,000']
    """
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens // 1024}k"
    return f"{tokens:,}"


def percent(value: float) -> str:
    """A share (0 to 1) as a percentage for axes: whole numbers unless small.

    >>> [percent(v) for v in (0, 0.5, 0.025, 1)]
    ['0%', '50%', '2.5%', '100%']
    """
    return _trim(value * 100) + "%"


def exact(value: float) -> str:
    """A value in full: counts with thousands separators, others to four significant digits.

    >>> exact(2076), exact(0.123456), exact(1.5)
    ('2,076', '0.1235', '1.5')
    """
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4g}"


def distinct_labels(
    values: Sequence[float],
    brief: Callable[[float], str],
    full: Callable[[float], str] = exact,
) -> list[str]:
    """A label per value: ``brief`` ones where different values get different labels,
    else ``full`` ones (equal values are labelled alike either way).

    >>> distinct_labels([297_828, 403_087, 466_401], short)
    ['297.8k', '403.1k', '466.4k']
    >>> distinct_labels([1988, 2057, 2073, 2076, 2076], short)
    ['1,988', '2,057', '2,073', '2,076', '2,076']
    """
    labels = [brief(v) for v in values]
    if len(set(labels)) == len(set(values)):
        return labels
    return [full(v) for v in values]


def _trim(value: float) -> str:
    if value == int(value):
        return str(int(value))
    digits = 1 if abs(value) >= 1 else 2
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")
