"""What each command does: read the options, call the library, print what it returns.

Each command is the public function of the same name, given the
:class:`~convsplit.spec.SplitSpec` its options stand for; it returns the exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import replace

from convsplit.budget import Budget
from convsplit.cli_formats import formats_text, trainer_note
from convsplit.cli_messages import (
    EXIT_OK,
    EXIT_REJECTED,
    UsageError,
    findings_in_cli_words,
    in_cli_words,
    warnings,
)
from convsplit.cli_options import budget, given_inputs, split_spec
from convsplit.core.preference import record_noun
from convsplit.formats import Record, read_records
from convsplit.run.inputs import expand_inputs
from convsplit.run.output import AtomicOutput, check_targets
from convsplit.run.pipeline import WINDOW_FIELD, split_files, split_windows, window_output
from convsplit.run.progress import Progress, input_size
from convsplit.run.report import Report
from convsplit.spec import SplitSpec
from convsplit.terminal import visible


def split(args: argparse.Namespace) -> int:
    """``convsplit split``: :func:`~convsplit.run.pipeline.split_files`, the Dask engine, or
    for ``{max_tokens}`` in ``-o`` :func:`~convsplit.run.pipeline.split_windows`."""
    args.inputs = given_inputs(args, args.inputs)
    budgets: list[Budget] | None  # several windows, one file each; None: the spec's budget
    if len(args.max_tokens or ()) > 1 or WINDOW_FIELD in args.output:
        spec, budgets, local = _plan_windows(args)
    else:
        spec, budgets, local = _plan_one(args)
    # The report file is opened first: a folder that is not there fails before any work.
    with AtomicOutput(args.report) if args.report else nullcontext() as report_out:
        progress = Progress(input_size(local) if local else None)
        try:
            reports = _run_split(args, spec, budgets, progress)
        finally:
            progress.close()
        _finish(reports, report_out, args, unit=record_noun(spec), windows=budgets is not None)
    rejected = any(r.rejected for r in reports.values())
    return EXIT_REJECTED if rejected else EXIT_OK


def _plan_one(args: argparse.Namespace) -> tuple[SplitSpec, None, list[str]]:
    """One output (or Dask folder): the spec, and the local inputs once the flags and the
    output targets are checked."""
    spec = split_spec(args)
    if args.scheduler is not None and args.engine != "dask":
        raise UsageError("--scheduler goes with --engine dask")
    if args.blocksize != "auto" and args.engine != "dask":
        raise UsageError("--blocksize goes with --engine dask")
    if args.engine == "dask" and args.output.endswith(".gz"):
        raise UsageError("--engine dask writes a folder of uncompressed part files; drop .gz")
    urls = [name for name in args.inputs if "://" in name]  # s3://..., read by Dask's fsspec
    if urls and args.engine != "dask":
        raise UsageError(f"an input named by URL ({urls[0]}) is read by --engine dask")
    local = [] if urls else expand_inputs(args.inputs)
    targets = {"-o": args.output, "--rejects": args.rejects, "--report": args.report}
    folders = {"-o": targets.pop("-o")} if args.engine == "dask" else None
    check_targets(targets, local, folders=folders)
    return spec, None, local


def _plan_windows(args: argparse.Namespace) -> tuple[SplitSpec, list[Budget], list[str]]:
    """Every ``--max-tokens`` in one pass, one file each: the spec, the budgets and the
    inputs once the flags and the output targets are checked."""
    if WINDOW_FIELD not in args.output:
        raise UsageError(
            f"several --max-tokens write one file each: put {WINDOW_FIELD} in -o "
            f"(such as -o 'samples-{WINDOW_FIELD}.jsonl')"
        )
    if args.engine == "dask" or args.scheduler is not None or args.blocksize != "auto":
        raise UsageError(f"{WINDOW_FIELD} in -o (several windows) goes with --engine local")
    spec = split_spec(args)
    budgets = [budget(args, n) for n in args.max_tokens or [4096]]
    targets: dict[str, str | None] = {
        f"-o for --max-tokens {b.max_tokens}": window_output(args.output, b) for b in budgets
    }
    targets.update({"--rejects": args.rejects, "--report": args.report})
    local = expand_inputs(args.inputs)
    check_targets(targets, local)
    return spec, budgets, local


def _run_split(
    args: argparse.Namespace, spec: SplitSpec, budgets: list[Budget] | None, progress: Progress
) -> dict[int, Report]:
    """The engine the flags chose, run: each budget's report by its ``max_tokens`` (without
    ``budgets``, the spec's budget alone)."""
    if budgets is not None:
        return split_windows(
            args.inputs, args.output, spec, budgets,
            rejects=args.rejects, jobs=args.jobs or 1, strict=args.strict, progress=progress,
        )  # fmt: skip
    if args.engine == "dask":
        from convsplit.integrations.dask import split_files_dask  # noqa: PLC0415 (imported when used: startup)

        report = split_files_dask(
            args.inputs, args.output, spec,
            scheduler=args.scheduler, blocksize=args.blocksize,
            n_workers=args.jobs,  # None: the cluster's own default, a worker per core
            rejects=args.rejects, strict=args.strict, progress=progress,
        )  # fmt: skip
    else:
        report = split_files(
            args.inputs, args.output, spec,
            rejects=args.rejects, jobs=args.jobs or 1, strict=args.strict, progress=progress,
        )  # fmt: skip
    return {spec.budget.max_tokens: report}


def _records(inputs: Sequence[str], spec: SplitSpec) -> Iterator[Record]:
    """Every record of ``inputs``, with one progress line on a terminal while they are read."""
    paths = expand_inputs(inputs)
    progress = Progress(input_size(paths))
    try:
        for path in paths:
            for record in read_records(
                path,
                input_format=spec.input_format,
                role_map=spec.role_map,
                fields=spec.fields,
                max_record_bytes=spec.max_record_bytes,
            ):
                raw = record.raw
                progress.advance(len(raw) if raw.isascii() else len(raw.encode(errors="replace")))
                yield record
    finally:
        progress.close()


def stats(args: argparse.Namespace) -> int:
    """``convsplit stats``: :func:`~convsplit.inspect.stats.token_reports`, printed, with
    why records were rejected, by kind."""
    from convsplit.inspect.preference_checks import RejectReasons  # noqa: PLC0415 (imported when used: startup)
    from convsplit.inspect.preference_stats import record_reports  # noqa: PLC0415 (imported when used: startup)
    from convsplit.inspect.summaries import format_reports, reports_json  # noqa: PLC0415 (imported when used: startup)

    args.inputs = given_inputs(args, args.inputs)
    budgets = args.max_tokens or [4096]
    spec = split_spec(args, budgets[0])
    why = RejectReasons()
    reports, rejected = record_reports(
        _records(args.inputs, spec),
        spec,
        budgets=[budget(args, b) for b in budgets],
        on_reject=why.add,
    )
    if args.json:
        print(json.dumps(reports_json(reports, price=args.price, rejected=rejected), indent=2))
    else:
        unit = record_noun(spec)
        reasons = [visible(in_cli_words(text, hints, args.flags)) for text, hints in why.lines()]
        print(
            format_reports(reports, price=args.price, rejected=rejected, unit=unit, reasons=reasons)
        )
    return EXIT_REJECTED if rejected else EXIT_OK


def validate(args: argparse.Namespace) -> int:
    """``convsplit validate``: :func:`~convsplit.inspect.validation.validate_records`."""
    from convsplit.inspect.summaries import findings_json, format_findings  # noqa: PLC0415 (imported when used: startup)
    from convsplit.inspect.validation import validate_records  # noqa: PLC0415 (imported when used: startup)

    args.inputs = given_inputs(args, args.inputs)
    spec = split_spec(args, args.max_tokens)
    findings = validate_records(
        _records(args.inputs, spec), spec, check_tokens=args.max_tokens is not None
    )
    if args.json:  # data: the library's words
        data = findings_json(findings)
        print(json.dumps(data, indent=2))
        clean = bool(data["clean"])
    else:
        worded = findings_in_cli_words(findings, args.flags)
        text, clean = format_findings(worded, max_listed=args.max_listed or None)
        print(text)
    return EXIT_OK if clean else EXIT_REJECTED


def show(args: argparse.Namespace) -> int:
    """``convsplit show``: :func:`~convsplit.inspect.show.show_conversation` of one."""
    from convsplit.inspect.show import View, show_record  # noqa: PLC0415 (imported when used: startup)

    spec = split_spec(args)
    if args.input is None:
        (args.input,) = given_inputs(args, [])
        if os.path.isdir(args.input):
            raise UsageError(f"show reads one file; {args.input} is a folder: name a file in it")
    wanted: str = args.conversation
    records = read_records(
        args.input,
        input_format=spec.input_format,
        role_map=spec.role_map,
        fields=spec.fields,
        max_record_bytes=spec.max_record_bytes,
    )
    # NO_COLOR (no-color.org) turns the default off; --color always still colours.
    color = args.color == "always" or (
        args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    )
    width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 100
    view = View(color=color, width=width, sample=args.sample)
    for index, record in enumerate(records):
        shown = show_record(record, spec, wanted=wanted, view=view, index=index)
        if shown is not None:
            print(shown)
            return EXIT_OK
    raise UsageError(f"{args.input} has no conversation {wanted!r}")


def report(args: argparse.Namespace) -> int:
    """``convsplit report``: one HTML page of the inputs (``collect_report``, ``write_report``)."""
    from convsplit.inspect.report_collect import DEFAULT_WINDOWS, collect_report  # noqa: PLC0415 (imported when used: startup)
    from convsplit.inspect.report_render import write_report  # noqa: PLC0415 (imported when used: startup)

    args.inputs = given_inputs(args, args.inputs)
    budgets = args.max_tokens or list(DEFAULT_WINDOWS)
    spec = split_spec(args, budgets[0])
    data = collect_report(
        _records(args.inputs, spec),
        spec,
        budgets=[budget(args, b) for b in budgets],
        check_budget=budget(args, args.check_tokens) if args.check_tokens else None,
        max_listed=args.max_listed,
    )
    # The page is for a person at the command line: its remedies are worded as flags.
    shown = {
        anchor: replace(record, findings=tuple(findings_in_cli_words(record.findings, args.flags)))
        for anchor, record in data.shown.items()
    }
    listed = {
        group: list(findings_in_cli_words(found, args.flags))
        for group, found in data.findings.items()
    }
    write_report(args.output, replace(data, findings=listed, shown=shown), title=args.title)
    print(f"{visible(str(args.output))}: {data.summary()}", file=sys.stderr)
    return EXIT_REJECTED if data.rejected else EXIT_OK


def list_formats(args: argparse.Namespace) -> int:
    """``convsplit formats``: every format, from the registry (:func:`formats_text`)."""
    print(formats_text())
    return EXIT_OK


def _finish(
    reports: dict[int, Report],
    report_out: AtomicOutput | None,
    args: argparse.Namespace,
    *,
    unit: str,
    windows: bool,
) -> None:
    """The summary on stderr (with ``windows``, each under its ``--max-tokens``), the
    trainer note once, and the ``--report`` JSON (the report, or ``{"windows": ...}``)."""
    for max_tokens, report in reports.items():
        if windows:
            print(f"--max-tokens {max_tokens}:", file=sys.stderr)
        print(report.summary(unit=unit), file=sys.stderr)
        if not windows:  # one report: the note before its warnings, which may be long
            _trainer_note(args, [report])
        for line in warnings(report, args.rejects, args.flags):
            print(visible(line), file=sys.stderr)
    if windows:
        _trainer_note(args, list(reports.values()))
    if report_out is not None and windows:
        data = {str(n): json.loads(r.to_json()) for n, r in reports.items()}
        report_out.write((json.dumps({"windows": data}, indent=2) + "\n").encode())
    elif report_out is not None:
        (report,) = reports.values()
        report_out.write(report.to_json().encode())


def _trainer_note(args: argparse.Namespace, reports: Sequence[Report]) -> None:
    """The trainer setting the output needs, once per run (however many inputs or
    windows), where something was written."""
    note = trainer_note(args.output_format)
    if note is not None and any(report.samples for report in reports):
        print(note, file=sys.stderr)
