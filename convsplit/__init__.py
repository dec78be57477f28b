"""convsplit: long chat transcripts in, one fine-tuning sample per assistant turn out.

Every sample fits an exact token budget; every assistant turn is trained or reported.
Each public name is imported on first use: ``import convsplit`` costs nothing, so the
command line can take charge of Ctrl-C before anything heavy loads, and a split does not
pay for the reports, validation or Hugging Face loaders.
"""

import importlib as _importlib

# Not ``typing.TYPE_CHECKING``: importing typing here would hold back the command line's
# Ctrl-C handling by a few milliseconds (type checkers read this name the same way).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from convsplit.budget import Budget
    from convsplit.core.layout import Layout
    from convsplit.core.preference import split_judged
    from convsplit.core.split import split_conversation, split_conversations
    from convsplit.core.truncation import (
        DropOldest,
        Fit,
        MiddleOut,
        TruncateContent,
        TruncationStrategy,
        get_truncation,
        register_truncation,
        truncation_names,
    )
    from convsplit.core.windows import (
        Chunks,
        FullHistory,
        LastTurns,
        Request,
        WindowStrategy,
        get_window,
        register_window,
        window_names,
    )
    from convsplit.errors import (
        ChatFormatError,
        ConvsplitError,
        InvalidConversationError,
        InvalidOptionError,
        MissingExtraError,
        OutputError,
        StrategyError,
        TargetTooLongError,
        TokenizerDataError,
        UnknownNameError,
        UnsupportedSampleError,
        WorkerError,
    )
    from convsplit.formats import (
        Record,
        SampleWriter,
        get_writer,
        read_records,
        reader_names,
        writer_names,
    )
    from convsplit.formats.preference import (
        PreferencePair,
        PreferenceRecord,
        PreferenceResult,
        UnpairedRecord,
        UnpairedSample,
    )
    from convsplit.formats.preference_read import read_judged
    from convsplit.inspect.findings import Finding, Severity
    from convsplit.inspect.report_collect import ReportData, collect_report
    from convsplit.inspect.report_render import render_report, write_report
    from convsplit.inspect.stats import TokenReport, token_report
    from convsplit.inspect.validation import validate_records
    from convsplit.messages import (
        ContentPart,
        Conversation,
        FunctionCall,
        Message,
        ToolCall,
        parse_conversation,
    )
    from convsplit.run.pipeline import split_files, split_windows
    from convsplit.run.report import Reject, Report
    from convsplit.samples import Sample, SkipReason, SplitResult, TurnOutcome
    from convsplit.spec import OnLongTarget, SplitSpec
    from convsplit.tokens import (
        ChatFormat,
        TiktokenCounter,
        TokenCounter,
        chat_format_names,
        counter_names,
        get_chat_format,
        get_counter,
        register_chat_format,
        register_counter,
    )
    from convsplit.tokens.huggingface import hf_chat_format, load_hf_tokenizer
del TYPE_CHECKING  # not a name of the package


_LAZY = {
    "convsplit.budget": ("Budget",),
    "convsplit.errors": (
        "ChatFormatError",
        "ConvsplitError",
        "InvalidConversationError",
        "InvalidOptionError",
        "MissingExtraError",
        "OutputError",
        "StrategyError",
        "TargetTooLongError",
        "TokenizerDataError",
        "UnknownNameError",
        "UnsupportedSampleError",
        "WorkerError",
    ),
    "convsplit.formats": (
        "Record",
        "SampleWriter",
        "get_writer",
        "read_records",
        "reader_names",
        "writer_names",
    ),
    "convsplit.core.layout": ("Layout",),
    "convsplit.core.preference": ("split_judged",),
    "convsplit.formats.preference": (
        "PreferencePair",
        "PreferenceRecord",
        "PreferenceResult",
        "UnpairedRecord",
        "UnpairedSample",
    ),
    "convsplit.formats.preference_read": ("read_judged",),
    "convsplit.messages": (
        "ContentPart",
        "Conversation",
        "FunctionCall",
        "Message",
        "ToolCall",
        "parse_conversation",
    ),
    "convsplit.run.pipeline": ("split_files", "split_windows"),
    "convsplit.run.report": ("Reject", "Report"),
    "convsplit.spec": ("OnLongTarget", "SplitSpec"),
    "convsplit.samples": (
        "Sample",
        "SkipReason",
        "SplitResult",
        "TurnOutcome",
    ),
    "convsplit.core.split": ("split_conversation", "split_conversations"),
    "convsplit.tokens": (
        "ChatFormat",
        "TiktokenCounter",
        "TokenCounter",
        "chat_format_names",
        "counter_names",
        "get_chat_format",
        "get_counter",
        "register_chat_format",
        "register_counter",
    ),
    "convsplit.core.truncation": (
        "DropOldest",
        "Fit",
        "MiddleOut",
        "TruncateContent",
        "TruncationStrategy",
        "get_truncation",
        "register_truncation",
        "truncation_names",
    ),
    "convsplit.core.windows": (
        "Chunks",
        "FullHistory",
        "LastTurns",
        "Request",
        "WindowStrategy",
        "get_window",
        "register_window",
        "window_names",
    ),
    "convsplit.inspect.findings": ("Finding", "Severity"),
    "convsplit.inspect.report_collect": ("ReportData", "collect_report"),
    "convsplit.inspect.report_render": ("render_report", "write_report"),
    "convsplit.inspect.stats": (
        "TokenReport",
        "token_report",
    ),
    "convsplit.tokens.huggingface": (
        "hf_chat_format",
        "load_hf_tokenizer",
    ),
    "convsplit.inspect.validation": ("validate_records",),
}
_LAZY_HOME = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> object:
    module = _LAZY_HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'convsplit' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_HOME})


__version__ = "0.1.0"

__all__ = [
    "Budget",
    "ChatFormat",
    "ChatFormatError",
    "Chunks",
    "ContentPart",
    "Conversation",
    "ConvsplitError",
    "DropOldest",
    "Finding",
    "Fit",
    "FullHistory",
    "FunctionCall",
    "InvalidConversationError",
    "InvalidOptionError",
    "LastTurns",
    "Layout",
    "Message",
    "MiddleOut",
    "MissingExtraError",
    "OnLongTarget",
    "OutputError",
    "PreferencePair",
    "PreferenceRecord",
    "PreferenceResult",
    "Record",
    "Reject",
    "Report",
    "ReportData",
    "Request",
    "Sample",
    "SampleWriter",
    "Severity",
    "SkipReason",
    "SplitResult",
    "SplitSpec",
    "StrategyError",
    "TargetTooLongError",
    "TiktokenCounter",
    "TokenCounter",
    "TokenReport",
    "TokenizerDataError",
    "ToolCall",
    "TruncateContent",
    "TruncationStrategy",
    "TurnOutcome",
    "UnknownNameError",
    "UnpairedRecord",
    "UnpairedSample",
    "UnsupportedSampleError",
    "WindowStrategy",
    "WorkerError",
    "__version__",
    "chat_format_names",
    "collect_report",
    "counter_names",
    "get_chat_format",
    "get_counter",
    "get_truncation",
    "get_window",
    "get_writer",
    "hf_chat_format",
    "load_hf_tokenizer",
    "parse_conversation",
    "read_judged",
    "read_records",
    "reader_names",
    "register_chat_format",
    "register_counter",
    "register_truncation",
    "register_window",
    "render_report",
    "split_conversation",
    "split_conversations",
    "split_files",
    "split_judged",
    "split_windows",
    "token_report",
    "truncation_names",
    "validate_records",
    "window_names",
    "write_report",
    "writer_names",
]
