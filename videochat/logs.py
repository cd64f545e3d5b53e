"""Keeping credentials out of logs. A socket may carry its access token in the URL
(`/ws/?token=<JWT>`, API.md) or as the subprotocol `bearer.<JWT>`, and the web server logs
request lines (uvicorn's access log and its `"WebSocket /ws/?token=..." [accepted]` line;
at debug level the handshake's headers). A logged token is a usable credential for as long
as it lives, in every place logs are shipped to."""

import logging
import re
from typing import Any

REDACTED = "[redacted]"

# `token=` in a query string, and `bearer.<token>` / `Bearer <token>` (subprotocol, header).
_SECRETS = re.compile(r"(?i)([?&]token=)[^&\s\"'#]*|(bearer[. ])[\w.~+/=-]+")


def redact(text: str) -> str:
    """`text` with the value of every credential it carries replaced by [redacted]."""
    return _SECRETS.sub(lambda match: (match[1] or match[2]) + REDACTED, text)


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactCredentials(logging.Filter):
    """Redacts a record's message and its string arguments in place, keeping the arguments'
    shape (uvicorn's access formatter reads them by position)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _redacted(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted(arg) for key, arg in record.args.items()}
        return True


# uvicorn logs request lines and handshakes on these, whatever its log configuration.
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact_server_logs() -> None:
    """Put the filter on the web server's loggers (once). Called when the ASGI application
    loads, after the server configured its logging, so it holds for `make run`, systemd and
    tests alike."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactCredentials) for existing in logger.filters):
            logger.addFilter(RedactCredentials())
