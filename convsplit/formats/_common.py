"""The old home of :mod:`.json_text` and :mod:`.record_fields`, kept so that existing imports
work. Import from those modules instead; this one goes once nothing imports it.
"""

from convsplit.formats.json_text import (
    JSONTooDeepError,
    dumps,
    join_list,
    join_object,
    json_problem,
    json_type,
    key,
    parse_json,
)
from convsplit.formats.record_fields import (
    arguments_text,
    arguments_value,
    check_role_map,
    list_field,
    openai_tools,
    role_hint,
    sample_metadata,
    tool_call_from_json,
    tool_calls_from_text,
    tools_from_json,
)

__all__ = [
    "JSONTooDeepError",
    "arguments_text",
    "arguments_value",
    "check_role_map",
    "dumps",
    "join_list",
    "join_object",
    "json_problem",
    "json_type",
    "key",
    "list_field",
    "openai_tools",
    "parse_json",
    "role_hint",
    "sample_metadata",
    "tool_call_from_json",
    "tool_calls_from_text",
    "tools_from_json",
]
