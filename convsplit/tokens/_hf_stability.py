"""Whether a chat template can be counted message by message at all, decided when it loads.

Some templates render a message differently depending on where it stands, whatever its text:
Qwen3's adds a thinking block to the reply that ends the conversation and to no other. Such a
template fails on convsplit's own probe conversation (a user message, a reply, a user
message), so it would fail on every record alike; it is refused once, when the format is
built and before any record is read, with what differs and what to use instead. What
depends on a record's own messages stays a reject of that record
(:mod:`convsplit.tokens._hf_probes`, :meth:`HFChatTemplate.check_conversation`).
"""

from __future__ import annotations

import difflib
from pathlib import Path

from convsplit.errors import ChatFormatError
from convsplit.tokens._hf_files import locate
from convsplit.tokens._hf_probes import Prober

_SHOWN = 40  # characters of a rendering quoted where two differ
_SIMILAR = 0.8  # share of lines a template has in common with TRL's copy of a model's own


def check_template(prober: Prober, name: str, template: str, *, tokenizer: str) -> None:
    """Raise unless ``template`` renders a user message and a reply the same wherever they
    stand, as every conversation needs. ``tokenizer`` names the tokenizer's file, for the
    advice.

    Raises:
        ChatFormatError: one line naming the template, what it renders differently, and a
            template that would do.
    """
    try:
        prober.check_turns()
    except ChatFormatError as error:
        found = _difference(prober)
        thinking = found is not None and "think" in found
        what = (
            f"is not prefix-stable: {found}"
            if found is not None
            else f"cannot be counted message by message ({error}, whatever the messages' text)"
        )
        raise ChatFormatError(
            f"chat template {name!r} {what}, so no sample's tokens can be counted message by "
            f"message; {_advice(template, tokenizer, thinking=thinking)}"
        ) from error


def _difference(prober: Prober) -> str | None:
    """What renders differently in the probe conversation, quoted; None if nothing does
    (the failure is then a token merge or a cost, which the probe's own error says)."""
    try:
        user, reply, more = prober.turn_renderings()
    except ChatFormatError:
        return None
    if not more.startswith(reply):
        return (
            f"it renders an assistant reply that ends the conversation as "
            f"{_from_divergence(reply, more)} once a user message follows"
            + (
                " (a thinking block on the last reply only)"
                if "<think>" in reply and "<think>" not in more
                else ""
            )
        )
    if not reply.startswith(user):
        return (
            f"it renders a user message that ends the conversation as "
            f"{_from_divergence(user, reply)} once a reply follows"
        )
    return None


def _from_divergence(shorter: str, longer: str) -> str:
    """``'x…' but as 'y…'``: both renderings from where they first differ."""
    start = next(
        (k for k, (a, b) in enumerate(zip(shorter, longer, strict=False)) if a != b),
        min(len(shorter), len(longer)),
    )
    return f"{_quoted(shorter[start:])} but as {_quoted(longer[start:])}"


def _quoted(text: str) -> str:
    return repr(text[:_SHOWN] + ("…" if len(text) > _SHOWN else ""))


def _advice(template: str, tokenizer: str, *, thinking: bool) -> str:
    """What to use instead: TRL's prefix-stable variant of the same model's template when
    TRL is installed and ships one, and how to give it to convsplit."""
    variant = training_variant(template)
    use = (
        f"copy it beside {tokenizer} and use hf:<the copy's path> "
        "(--chat-format, or chat_format= in Python)"
    )
    if variant is not None:
        return (
            "use a template that renders each message the same wherever it stands, such as "
            f"TRL's {variant}: {use}"
        )
    kind = " (for a reasoning model, one that renders a thinking block on every reply)"
    return (
        f"use a template that renders each message the same wherever it stands"
        f"{kind if thinking else ''}, such as the *_training.jinja variants TRL ships in "
        f"trl/chat_templates: {use}"
    )


def training_variant(template: str) -> Path | None:
    """TRL's ``<model>_training.jinja`` (a prefix-stable copy) for the model whose own
    template, as TRL stores it, shares most lines with ``template``; None without TRL or
    without such a copy.

    TRL is found without importing it (it may be installed with ``--no-deps``). Lines are
    compared, not characters: a model's template comes in revisions that differ in a few
    lines, and a line comparison of all of TRL's templates is quick.
    """
    root, _ = locate("trl")
    if root is None or not (root / "chat_templates").is_dir():
        return None
    lines = [line.strip() for line in template.splitlines()]
    best: tuple[float, Path] | None = None
    for original in sorted((root / "chat_templates").glob("*.jinja")):
        variant = original.with_name(f"{original.stem}_training.jinja")
        if original.stem.endswith("_training") or not variant.is_file():
            continue
        theirs = [line.strip() for line in original.read_text(encoding="utf-8").splitlines()]
        ratio = difflib.SequenceMatcher(None, lines, theirs, autojunk=False).ratio()
        if ratio >= _SIMILAR and (best is None or ratio > best[0]):
            best = (ratio, variant)
    return best[1] if best is not None else None
