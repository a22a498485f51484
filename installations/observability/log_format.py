"""JSON-lines log formatter: one object per line on stdout, for a log collector to parse.

Only plain attributes are copied, never the ``request`` Django attaches (its query string holds
the OAuth callback's ``code``); a traceback formatted here is masked again.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from installations.observability.redaction import redact

# Extra attributes worth keeping when a record carries them (Django's request logger, ours).
EXTRA_FIELDS = ("status_code", "team_id", "enterprise_id", "reason", "event_id")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for name in EXTRA_FIELDS:
            value = getattr(record, name, None)
            if isinstance(value, str | int | float | bool):
                entry[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)
