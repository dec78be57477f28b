"""What the command line says back: exit statuses, warnings after a run, and errors worded
in the command line's own terms.

The library words a remedy as a keyword argument (``on_long_target='skip'``); an error
carries that remedy as data too (its ``hints``: an option name and the values that would
do), and here it is worded as the flag that sets that option (``--on-long-target skip``),
found in the parser itself, so a new option needs no entry anywhere. The same goes for what
``validate`` and ``report`` find (:func:`findings_in_cli_words`) and why ``stats`` rejected
records; the rejects file and ``--json`` are data, and keep the library's words.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

from convsplit.inspect.findings import Finding
from convsplit.inspect.labels import plural
from convsplit.run.report import Report

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3


class UsageError(Exception):
    """Options that conflict or do not parse: reported before any work starts."""


_SKIP_HINTS = {
    "target_too_long": "raise --max-tokens, or --on-long-target truncate; convsplit show "
    "lists what each needs",
    "too_little_context": "lower --min-context",
    "no_user_before": "those turns have no user message before them",
    "empty_target": "those assistant messages are empty",
    "weight_zero": "those assistant messages have weight 0",
}


def warnings(
    report: Report, rejects: str | None, flags: Mapping[str, argparse.Action]
) -> Iterator[str]:
    """What a person should look at after a run: where records were rejected (each reason's
    remedy worded as a flag, with ``flags`` from :func:`flags_by_option`), and a run that
    trained nothing or skipped most turns, with the main reason."""
    if report.rejected:
        kept = f"written to {rejects}" if rejects else "use --rejects FILE to keep them"
        yield f"warning: {plural(report.rejected, 'record')} rejected ({kept}):"
        for reject in report.first_rejects:
            line = "" if reject.line is None else f":{reject.line}"
            reason = in_cli_words(reject.reason, getattr(reject, "hints", ()), flags)
            yield f"  {reject.path}{line}: {reason}"
        if report.rejected > len(report.first_rejects):
            yield f"  and {report.rejected - len(report.first_rejects):,} more"
    if not report.records:
        yield "warning: the inputs hold no records"
    skipped = sum(report.skipped.values())
    if report.assistant_turns and skipped * 2 > report.assistant_turns:
        reason, count = max(report.skipped.items(), key=lambda item: (item[1], item[0]))
        what = "no turn was trained" if not report.targeted else "most turns were skipped"
        yield (
            f"warning: {what}: {skipped:,} of {report.assistant_turns:,} skipped, "
            f"{count:,} {reason} ({_SKIP_HINTS.get(reason, 'see --report')})"
        )


def flags_by_option(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Each option's action, by the library's name for it (the action's ``dest``), over the
    parser and its subcommands."""
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:  # argparse offers no public walk over its actions
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for dest, flag in flags_by_option(sub).items():
                    found.setdefault(dest, flag)
        elif action.option_strings and action.dest != argparse.SUPPRESS:
            found.setdefault(action.dest, action)
    return found


def in_cli_words(text: str, hints: Iterable[object], flags: Mapping[str, argparse.Action]) -> str:
    """``text`` with each hint's library wording (its ``str()``) replaced by the flag that
    sets its option; a hint whose option has no flag is left as the library words it.

    A hint has ``option`` (the library's keyword) and ``values`` (alternatives; ``KEY=VALUE``
    for an option that maps keys to values; none: any value).
    """
    for hint in hints:
        action = flags.get(str(getattr(hint, "option", "")))
        if action is not None:
            text = text.replace(str(hint), _flag_words(action, getattr(hint, "values", ())))
    return text


def findings_in_cli_words(
    findings: Iterable[Finding], flags: Mapping[str, argparse.Action]
) -> Iterator[Finding]:
    """``findings`` with the remedies their messages suggest (their ``hints``) worded as the
    flags that set them: ``--to preference`` for ``output_format='preference'``."""
    for finding in findings:
        words = in_cli_words(finding.message, finding.hints, flags)
        yield finding if words == finding.message else replace(finding, message=words)


def _flag_words(action: argparse.Action, values: Iterable[str]) -> str:
    flag = max(action.option_strings, key=len)  # --output, not -o
    if action.nargs == 0:  # a switch: --keep-reasoning
        return flag
    shown = [_placeholders(value) for value in values]
    if not shown:
        choices = "{" + ",".join(map(str, action.choices)) + "}" if action.choices else "VALUE"
        return f"{flag} {action.metavar or choices}"
    return f"{flag} {' or '.join(shown)}"


def _placeholders(value: str) -> str:
    """``<field>=user`` as a command line writes a placeholder: ``FIELD=user``."""
    return re.sub(r"<([^<>]+)>", lambda found: found.group(1).upper(), value)
