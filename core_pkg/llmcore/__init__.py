"""llmcore: a synchronous, plugin-based client for LLM APIs.

The core holds the types, the hook specifications, the client and all I/O; each API is a
separately installed plugin found through the ``llmcore`` entry-point group (this repository
ships ``llmcore-openai``). See the README for a quick start.

Importing the package is cheap: every public name is importable from here (``llmcore.Client``,
``from llmcore import Message``), but the module behind it is imported on first use.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from llmcore import _logsafety

if _typing.TYPE_CHECKING:  # type checkers and IDEs see every name; run time loads on use
    from llmcore.accumulate import finish_tool_call
    from llmcore.batching import ClientSpec, batch_smart
    from llmcore.cancel import CancelHandle
    from llmcore.chat import (
        ChatCompletionChunk,
        ChatCompletionRequest,
        ChatCompletionResponse,
        Choice,
        ChunkChoice,
        Delta,
        ModelInfo,
        ModelPage,
        ReasoningEffort,
        StopReason,
        ToolCallDelta,
        ToolChoice,
        Usage,
        map_stop_reason,
        merge_provider_data,
    )
    from llmcore.client import Client, get_env_api_key
    from llmcore.content import AudioPart, Content, DocumentPart, ImagePart, TextPart
    from llmcore.context import Context
    from llmcore.errors import (
        ApiConnectionError,
        AuthenticationError,
        CancelledRequestError,
        ConfigurationError,
        ConflictError,
        ContentFilterError,
        ContextLengthExceededError,
        InvalidInputError,
        InvalidRequestError,
        LlmError,
        MalformedResponseError,
        ModelNotFoundError,
        OverloadedError,
        PermissionDeniedError,
        PluginError,
        RateLimitError,
        RedirectError,
        RequestTimeoutError,
        ServerError,
        StreamInterruptedError,
        StreamTimeoutError,
        UnsupportedOperationError,
        complete_error,
        error_for_status,
        retry_after_seconds,
    )
    from llmcore.handoff import adapt_request, history_message, transform_messages
    from llmcore.hookspecs import hookimpl
    from llmcore.http import Frame, HttpRequest, HttpResponse
    from llmcore.messages import Message, MessageOrigin, Role, ThinkingBlock, Tool, ToolCall
    from llmcore.options import ConnectionOptions, RetryPolicy
    from llmcore.plugins import (
        PluginLoadWarning,
        Plugins,
        get_plugins,
        register_plugin,
        supported_providers,
    )
    from llmcore.providers import Capabilities, Compat, Provider, Secret
    from llmcore.stream import ChatStream
    from llmcore.thinktags import ThinkTagSplitter, split_think_tags
    from llmcore.tools import (
        ToolValidationError,
        run_tool_call,
        tool_from_function,
        tool_result,
        validate_tool_arguments,
        validate_tool_call,
    )

__version__ = "0.1.0"

_logsafety.install()  # llmcore's and urllib3's log records pass through redact()

# Every public name and the module that defines it. ``import llmcore`` imports none of them: a
# name's module is imported on first use (PEP 562), so a script pays only for what it touches.
_LAZY: dict[str, str] = {
    "ApiConnectionError": "llmcore.errors",
    "AudioPart": "llmcore.content",
    "AuthenticationError": "llmcore.errors",
    "CancelHandle": "llmcore.cancel",
    "CancelledRequestError": "llmcore.errors",
    "Capabilities": "llmcore.providers",
    "ChatCompletionChunk": "llmcore.chat",
    "ChatCompletionRequest": "llmcore.chat",
    "ChatCompletionResponse": "llmcore.chat",
    "ChatStream": "llmcore.stream",
    "Choice": "llmcore.chat",
    "ChunkChoice": "llmcore.chat",
    "Client": "llmcore.client",
    "ClientSpec": "llmcore.batching",
    "Compat": "llmcore.providers",
    "ConfigurationError": "llmcore.errors",
    "ConflictError": "llmcore.errors",
    "ConnectionOptions": "llmcore.options",
    "Content": "llmcore.content",
    "ContentFilterError": "llmcore.errors",
    "Context": "llmcore.context",
    "ContextLengthExceededError": "llmcore.errors",
    "Delta": "llmcore.chat",
    "DocumentPart": "llmcore.content",
    "Frame": "llmcore.http",
    "HttpRequest": "llmcore.http",
    "HttpResponse": "llmcore.http",
    "ImagePart": "llmcore.content",
    "InvalidInputError": "llmcore.errors",
    "InvalidRequestError": "llmcore.errors",
    "LlmError": "llmcore.errors",
    "MalformedResponseError": "llmcore.errors",
    "Message": "llmcore.messages",
    "MessageOrigin": "llmcore.messages",
    "ModelInfo": "llmcore.chat",
    "ModelNotFoundError": "llmcore.errors",
    "ModelPage": "llmcore.chat",
    "OverloadedError": "llmcore.errors",
    "PermissionDeniedError": "llmcore.errors",
    "PluginError": "llmcore.errors",
    "PluginLoadWarning": "llmcore.plugins",
    "Plugins": "llmcore.plugins",
    "Provider": "llmcore.providers",
    "RateLimitError": "llmcore.errors",
    "ReasoningEffort": "llmcore.chat",
    "RedirectError": "llmcore.errors",
    "RequestTimeoutError": "llmcore.errors",
    "RetryPolicy": "llmcore.options",
    "Role": "llmcore.messages",
    "Secret": "llmcore.providers",
    "ServerError": "llmcore.errors",
    "StopReason": "llmcore.chat",
    "StreamInterruptedError": "llmcore.errors",
    "StreamTimeoutError": "llmcore.errors",
    "TextPart": "llmcore.content",
    "ThinkTagSplitter": "llmcore.thinktags",
    "ThinkingBlock": "llmcore.messages",
    "Tool": "llmcore.messages",
    "ToolCall": "llmcore.messages",
    "ToolCallDelta": "llmcore.chat",
    "ToolChoice": "llmcore.chat",
    "ToolValidationError": "llmcore.tools",
    "UnsupportedOperationError": "llmcore.errors",
    "Usage": "llmcore.chat",
    "adapt_request": "llmcore.handoff",
    "batch_smart": "llmcore.batching",
    "complete_error": "llmcore.errors",
    "error_for_status": "llmcore.errors",
    "finish_tool_call": "llmcore.accumulate",
    "get_env_api_key": "llmcore.client",
    "get_plugins": "llmcore.plugins",
    "history_message": "llmcore.handoff",
    "hookimpl": "llmcore.hookspecs",
    "map_stop_reason": "llmcore.chat",
    "merge_provider_data": "llmcore.chat",
    "register_plugin": "llmcore.plugins",
    "retry_after_seconds": "llmcore.errors",
    "run_tool_call": "llmcore.tools",
    "split_think_tags": "llmcore.thinktags",
    "supported_providers": "llmcore.plugins",
    "tool_from_function": "llmcore.tools",
    "tool_result": "llmcore.tools",
    "transform_messages": "llmcore.handoff",
    "validate_tool_arguments": "llmcore.tools",
    "validate_tool_call": "llmcore.tools",
}

__all__ = [
    "ApiConnectionError",
    "AudioPart",
    "AuthenticationError",
    "CancelHandle",
    "CancelledRequestError",
    "Capabilities",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "ChatStream",
    "Choice",
    "ChunkChoice",
    "Client",
    "ClientSpec",
    "Compat",
    "ConfigurationError",
    "ConflictError",
    "ConnectionOptions",
    "Content",
    "ContentFilterError",
    "Context",
    "ContextLengthExceededError",
    "Delta",
    "DocumentPart",
    "Frame",
    "HttpRequest",
    "HttpResponse",
    "ImagePart",
    "InvalidInputError",
    "InvalidRequestError",
    "LlmError",
    "MalformedResponseError",
    "Message",
    "MessageOrigin",
    "ModelInfo",
    "ModelNotFoundError",
    "ModelPage",
    "OverloadedError",
    "PermissionDeniedError",
    "PluginError",
    "PluginLoadWarning",
    "Plugins",
    "Provider",
    "RateLimitError",
    "ReasoningEffort",
    "RedirectError",
    "RequestTimeoutError",
    "RetryPolicy",
    "Role",
    "Secret",
    "ServerError",
    "StopReason",
    "StreamInterruptedError",
    "StreamTimeoutError",
    "TextPart",
    "ThinkTagSplitter",
    "ThinkingBlock",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolValidationError",
    "UnsupportedOperationError",
    "Usage",
    "__version__",
    "adapt_request",
    "batch_smart",
    "complete_error",
    "error_for_status",
    "finish_tool_call",
    "get_env_api_key",
    "get_plugins",
    "history_message",
    "hookimpl",
    "map_stop_reason",
    "merge_provider_data",
    "register_plugin",
    "retry_after_seconds",
    "run_tool_call",
    "split_think_tags",
    "supported_providers",
    "tool_from_function",
    "tool_result",
    "transform_messages",
    "validate_tool_arguments",
    "validate_tool_call",
]


if not _typing.TYPE_CHECKING:  # hidden from type checkers, which would otherwise accept any name

    def __getattr__(name: str) -> _typing.Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'llmcore' has no attribute {name!r}")
        value = getattr(_importlib.import_module(module), name)
        globals()[name] = value  # the next lookup is a plain module attribute
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
