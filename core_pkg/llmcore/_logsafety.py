"""Log records of llmcore and of its HTTP stack pass through :func:`~llmcore.errors.redact`.

``urllib3`` logs every request line, query string included, at DEBUG level; the query is where a
query-key API puts its key. Filters on a logger apply only to records created on that very logger
(not to those of its children), so :func:`install` attaches one :class:`RedactingFilter` to each
logger llmcore and its HTTP stack write to. It runs once, when :mod:`llmcore` is imported.
"""

from __future__ import annotations

import logging
import traceback

from llmcore.errors import LlmError, redact, scrub_chain

__all__ = ["LOGGERS", "RedactingFilter", "install"]

LOGGERS = (
    "llmcore",
    "llmcore.hooks",
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
)
"""The loggers whose records are redacted."""


class RedactingFilter(logging.Filter):
    """Formats a record's message once and stores it redacted (``record.args`` emptied); the
    traceback of ``exc_info`` and ``stack_info`` are redacted too. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it, but with no args
            message = str(record.msg)
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            if isinstance(exc, LlmError):
                scrub_chain(exc)
            if not record.exc_text:
                record.exc_text = redact("".join(traceback.format_exception(exc)).rstrip("\n"))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def install() -> None:
    """Attach the redacting filter to every logger of :data:`LOGGERS` (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(_FILTER)
