"""llmcore: a synchronous, plugin-based client for LLM APIs.

The core holds the types, the hook specifications, the client and all I/O; each API is a
separately installed plugin found through the ``llmcore`` entry-point group (this repository
ships ``llmcore-openai``). See the README for a quick start.
"""

from __future__ import annotations

from llmcore import _logsafety
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
