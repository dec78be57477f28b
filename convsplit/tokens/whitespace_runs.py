"""Exact tiktoken tokens for text with a whitespace run too long for tiktoken's own regex.

tiktoken cuts text into pieces with a fancy-regex pattern before it merges bytes. Of that
pattern, ``\\s+(?!\\S)`` runs on fancy-regex's backtracking VM, which pushes one entry per
whitespace character it takes and gives up at 1,000,000 entries (``MAX_STACK`` in its
``vm.rs``); tiktoken unwraps that error, so Python sees ``pyo3_runtime.PanicException``, a
``BaseException`` that nothing catches. With tiktoken 0.14, o200k_base and cl100k_base
alike: a run of 999,998 horizontal whitespace characters (every Unicode
White_Space character but CR and LF: space, tab, NBSP, U+3000, U+2028, ...) before a
non-space character is encoded, 999,999 panic; o200k_base also panics on such a run at the
end of the text. The limit counts characters, not bytes, and does not depend on the thread's
stack size. Runs that end in a line break (taken by ``\\s*[\\r\\n]``), cl100k_base's runs at
the end (``\\s++$``), and runs of letters, digits or punctuation are matched without the VM
and are fine at any length.

So text with a run of at least :data:`MIN_RUN` such characters is encoded in parts, cut
where both pre-tokenizers provably start a new piece:

- up to the run: the run follows CR, LF, a non-space character or the start of the text,
  and no alternative of either pattern reaches from those into horizontal whitespace that
  no line break follows; the text before the run, alone, is read into the same pieces
  (its end looks like the run's start to ``(?!\\S)``, and cl100k_base's ``\\s++$`` there
  takes exactly what ``\\s*[\\r\\n]`` took);
- the run's own piece: all of it at the end of the text, else all but its last character,
  which starts the next piece (`` word``, or a piece of its own): ``\\s+(?!\\S)`` backs off
  one character, and every earlier alternative fails on the run's second character;
- the rest, from that last character on, the same way (no alternative looks behind).

The run's piece is merged by a twin encoding with the same vocabulary and a pattern that
takes its whole input as one piece: the regex crate matches that without backtracking, and
tiktoken's byte-pair merge of the piece is the same code over the same ranks.
"""

from __future__ import annotations

import functools
import hashlib
import re

import tiktoken

from convsplit.errors import InvalidConversationError, InvalidOptionError
from convsplit.tokens.fast_count import PROBE, PROBE_DIGESTS

#: Unicode White_Space without CR and LF: what both patterns' ``\\s`` takes and ``[\\r\\n]``
#: does not (Python's ``\\s`` adds U+001C..U+001F, which tiktoken reads as punctuation).
HORIZONTAL_WHITESPACE = (
    "\t\x0b\x0c \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: Shorter runs go to tiktoken whole: a tenth of where it fails, and long enough that
#: :func:`has_long_run` reads one character in 50,000 of ordinary text.
MIN_RUN = 100_000
#: Whether a run that ends the text needs cutting (cl100k_base's ``\\s++$`` takes it whole).
_TRAILING_RUNS_CUT = {"o200k_base": True, "cl100k_base": False}
_CLASS = "[" + re.escape(HORIZONTAL_WHITESPACE) + "]"


def _run_pattern(min_run: int) -> re.Pattern[str]:
    # The lookbehind makes each run tried once, at its start: without it a run a little
    # shorter than min_run would be rescanned from every one of its characters.
    return re.compile(f"(?<!{_CLASS}){_CLASS}{{{min_run},}}")


_LONG_RUN = _run_pattern(MIN_RUN)
_RUN_FROM = re.compile(f"{_CLASS}*")


def has_long_run(text: str, min_run: int = MIN_RUN) -> bool:
    """Whether ``text`` has a run of ``min_run`` (at least 2) horizontal whitespace characters.

    Looks at one character in ``min_run // 2`` only: such a run covers two neighbouring
    characters of those, so ordinary text is ruled out in microseconds (a regex search of a
    megabyte costs a third of encoding it).

    >>> has_long_run("a" + " " * MIN_RUN + "b"), has_long_run("a   b"), has_long_run("a   b", 3)
    (True, False, True)
    """
    if len(text) < min_run:
        return False
    step = min_run // 2
    for at in range(0, len(text) - step, step):
        if text[at] in HORIZONTAL_WHITESPACE and text[at + step] in HORIZONTAL_WHITESPACE:
            before = text[max(0, at - min_run) : at]
            left = len(before) - len(before.rstrip(HORIZONTAL_WHITESPACE))
            match = _RUN_FROM.match(text, at)
            if match is not None and left + match.end() - at >= min_run:
                return True
    return False


class LongRunEncoder:
    """Encodes text with long whitespace runs exactly as ``encoding.encode_ordinary`` would.

    Args:
        encoding: an encoding whose pre-tokenizer is o200k_base's or cl100k_base's (checked
            on the pinned probe text of :mod:`~convsplit.tokens.fast_count`).
        min_run: the shortest run that is cut out (at least 2); tests lower it to compare
            the cut encoding with tiktoken's on short text.

    Raises:
        InvalidConversationError: (from :meth:`encode`) the encoding is another one, whose
            pattern has not been checked: the text cannot be encoded exactly.

    >>> from convsplit.tokens.counters import get_counter
    >>> encoding = get_counter("cl100k_base").encoding
    >>> encoder = LongRunEncoder(encoding, min_run=2)
    >>> text = "a" + " " * 5 + "b"
    >>> encoder.encode(text) == encoding.encode_ordinary(text)
    True
    """

    def __init__(self, encoding: tiktoken.Encoding, *, min_run: int = MIN_RUN) -> None:
        if min_run < 2:
            raise InvalidOptionError(f"min_run must be at least 2; got {min_run}")
        self.encoding = encoding
        self.min_run = min_run
        self._runs = _LONG_RUN if min_run == MIN_RUN else _run_pattern(min_run)
        self._trailing_cut = _TRAILING_RUNS_CUT.get(encoding.name) if _known(encoding) else None

    def encode(self, text: str) -> list[int]:
        """The tokens of ``text`` read as ordinary text, whatever its whitespace runs."""
        tokens: list[int] = []
        start = 0
        for run in self._runs.finditer(text):
            begin, end = run.span()
            if self._trailing_cut is None:
                raise InvalidConversationError(
                    f"text has a run of {end - begin:,} whitespace characters at character "
                    f"{begin:,}; tiktoken fails on runs of about 1,000,000 and convsplit cuts "
                    f"them exactly only for o200k_base and cl100k_base, not "
                    f"{self.encoding.name}: shorten the run or use one of those encodings"
                )
            after = text[end : end + 1]
            if after in ("\r", "\n") or (not after and not self._trailing_cut):
                continue  # matched without the VM, at any length
            piece_end = end - 1 if after else end
            tokens += self.encoding.encode_ordinary(text[start:begin])
            tokens += self._whole(text[begin:piece_end])
            start = piece_end
        tokens += self.encoding.encode_ordinary(text[start:])
        return tokens

    def _whole(self, piece: str) -> list[int]:
        """``piece`` merged as one pre-tokenizer piece, with the encoding's vocabulary."""
        return _one_piece(self.encoding).encode_ordinary(piece)


@functools.lru_cache(maxsize=8)
def _one_piece(encoding: tiktoken.Encoding) -> tiktoken.Encoding:
    """A twin of ``encoding`` that reads its whole input as one piece.

    Cached: building it walks the whole vocabulary, and a file with one long run usually
    has more.
    """
    ranks = {piece: encoding.encode_single_token(piece) for piece in encoding.token_byte_values()}
    return tiktoken.Encoding(
        name=f"{encoding.name} (one piece)",
        pat_str=r"(?s:.+)",
        mergeable_ranks=ranks,
        special_tokens={},
    )


def _known(encoding: tiktoken.Encoding) -> bool:
    """Whether ``encoding`` gives the official tokens of its name on the pinned probe."""
    expected = PROBE_DIGESTS.get(encoding.name)
    ids = encoding.encode_ordinary(PROBE)
    return expected == hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()
