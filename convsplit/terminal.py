"""Text from records and file names, made safe to print on a terminal.

A record's content, its id or a file name can hold bytes a terminal obeys rather than shows:
ESC sequences that clear the screen, set the window title or recolour what follows, BEL,
carriage returns that overwrite a line, and Unicode bidi overrides that make text read
backwards. :func:`visible` writes every such character as a printable escape, so what
reaches the screen is exactly the text, every part of it visible.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# Joiners shape emoji sequences and Indic, Arabic and Persian words; escaping them would
# mangle ordinary text, and they cannot reorder or hide anything.
_KEPT_FORMAT = {"\u200c", "\u200d"}
# Controls, lone surrogates (undecodable bytes of a file name), line and paragraph separators
# (some terminals break the line there) and format characters (bidi overrides and isolates,
# zero-width spaces, invisible tag characters): all can change or hide what is shown.
_ESCAPED_CATEGORIES = {"Cc", "Cs", "Zl", "Zp", "Cf"}


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every character a terminal could act on written as a visible escape.

    Escapes are written as Python writes them in a string literal: ``\\t``, ``\\n`` and
    ``\\r`` by name, any other character as ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN`` (ESC
    becomes the four characters ``\\x1b``, a right-to-left override ``\\u202e``). Escaped are
    C0 and C1 controls and DEL (tab and carriage return included: a line stays one line and
    nothing on it can be overwritten), lone surrogates, line and paragraph separators, and
    format characters (bidi embeddings, overrides and isolates U+202A-U+202E and
    U+2066-U+2069, marks, zero-width spaces, tags), except the zero-width joiner and
    non-joiner that emoji and several scripts need. Everything else, backslashes included,
    is left as it is, so ordinary text (and a Windows path) reads unchanged; the result is
    printable, and calling :func:`visible` on it again changes nothing.

    Args:
        text: content, an id, a role or a file name, as it came in.
        keep_newlines: keep ``\\n`` as a line break (for text meant to span lines).

    Returns:
        The text, safe to write to a terminal.

    >>> print(visible("title\\x1b]0;pwned\\x07 done"))
    title\\x1b]0;pwned\\x07 done
    >>> print(visible("abc\\u202edcba.txt"))
    abc\\u202edcba.txt
    >>> print(visible("two\\nlines"), visible("two\\nlines", keep_newlines=True), sep=" | ")
    two\\nlines | two
    lines
    >>> print(visible("naïve café, C:\\\\data\\\\logs"))  # printable: as it is
    naïve café, C:\\data\\logs
    >>> visible("👩\\u200d💻") == "👩\\u200d💻"  # the joiner of an emoji sequence stays
    True
    """
    if text.isprintable():
        return text
    if keep_newlines:
        return "\n".join(map(visible, text.split("\n")))
    return "".join(map(_escape, text))


@lru_cache(maxsize=1024)
def _escape(char: str) -> str:
    if char.isprintable() or char in _KEPT_FORMAT:
        return char
    if char in _NAMED:
        return _NAMED[char]
    if unicodedata.category(char) not in _ESCAPED_CATEGORIES:
        return char  # non-ASCII spaces, private use, unassigned: shown as the font draws them
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
