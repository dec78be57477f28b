"""HTML pieces of the report: escaping, and tables whose numeric columns align right."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def e(text: str) -> str:
    """``text`` safe in HTML content and in a quoted attribute.

    >>> e('<b onclick="x">&')
    '&lt;b onclick=&quot;x&quot;&gt;&amp;'
    """
    return escape(text, quote=True)


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    caption: str,
    number_from: int = 1,
    number_to: int | None = None,
    table_id: str | None = None,
) -> str:
    """A table; cells are HTML already (escaped by the caller); numeric columns align right.

    >>> html = table(["", "n"], [["a", "1"]], caption="C")
    >>> html[html.index("<tbody>"):]
    '<tbody><tr><td>a</td><td class="num">1</td></tr></tbody></table>'
    """
    end = len(header) if number_to is None else number_to

    def cls(k: int) -> str:
        return ' class="num"' if number_from <= k < end else ""

    head = "".join(f"<th{cls(k)}>{e(h)}</th>" for k, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(k)}>{cell}</td>" for k, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    ident = f' id="{table_id}"' if table_id else ""
    return (
        f"<table{ident}><caption>{e(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )
