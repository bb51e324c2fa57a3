"""Keep secrets out of Slack messages and log lines: ``Redactor`` (from the engine, which
masks what it stores and prints the same way) and a logging filter that applies it.
"""

from __future__ import annotations

import logging

from baton.probes.redact import MASK, MIN_SECRET, Redactor


class RedactingFilter(logging.Filter):
    """A handler filter: the formatted message and traceback of every record, masked."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.text(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text)
        return True


__all__ = ["MASK", "MIN_SECRET", "RedactingFilter", "Redactor"]
