"""Logging set-up for the service: readable stderr (journald-aware) or JSON lines, and fluentd.

Called once by `reconciler run` before anything logs, and again on SIGHUP when
the level changes. Under systemd (JOURNAL_STREAM set) lines carry a `<N>` syslog
priority prefix and no timestamp, since journald adds both; in a terminal they
carry a local timestamp instead.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from reconciler.service.fluent import FluentShipper

# Attributes every LogRecord has; anything else came from `extra=` and is shipped.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7
}


def under_journald(stream: TextIO, env: dict[str, str] | None = None) -> bool:
    """True when `stream` is the journal stream systemd gave us (JOURNAL_STREAM=dev:inode)."""
    value = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    dev, _, ino = value.partition(":")
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return f"{st.st_dev}" == dev and f"{st.st_ino}" == ino


class ReadableFormatter(logging.Formatter):
    """`[<N>]LEVEL logger: message key=value ...`, with the traceback indented below."""

    def __init__(self, journald: bool) -> None:
        super().__init__()
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        text = f"{record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            text += f"  {extras}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if self.journald:
            prio = _SYSLOG_PRIORITY.get(record.levelno, 6)
            return "\n".join(f"<{prio}>{line}" for line in text.splitlines())
        return f"{self.formatTime(record, '%H:%M:%S')} {text}"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line (`--log-format json`): time, level, logger, message, extras.

    For log shippers that parse lines (Loki, Vector, `jq`); the text format stays the
    default because journald adds its own time and priority to plain lines.
    """

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extras(record).items():
            body.setdefault(key, value if isinstance(value, int | float | bool | None)
                            else str(value))
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)


class FluentLogHandler(logging.Handler):
    """Queues each record on a FluentShipper as tag `<prefix>.log`; never blocks."""

    def __init__(self, shipper: FluentShipper, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.shipper = shipper

    def emit(self, record: logging.LogRecord) -> None:
        try:
            body: dict[str, Any] = {
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
                "module": record.module,
                "line": record.lineno,
                "thread": record.threadName,
                "pid": record.process,
            }
            if record.exc_info:
                body["exception"] = logging.Formatter().formatException(record.exc_info)
            for key, value in _extras(record).items():
                body.setdefault(key, value if isinstance(value, int | float | bool) else str(value))
            self.shipper.emit("log", body, record.created)
        except Exception:
            self.handleError(record)


def set_log_level(level: str | int) -> None:
    """Change the level only (SIGHUP), keeping the handlers, fluentd's included."""
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    logging.getLogger().setLevel(numeric)


def setup_logging(
    level: str | int = "info",
    fluent: FluentShipper | None = None,
    stream: TextIO | None = None,
    fmt: str = "text",
) -> logging.Logger:
    """Configure the root logger: stderr for journald or a terminal (or JSON lines with
    `fmt="json"`), plus fluentd if given.

    Idempotent: handlers it added before are replaced, so SIGHUP can call it again.
    """
    stream = sys.stderr if stream is None else stream
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_reconciler", False):
            root.removeHandler(handler)
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    root.setLevel(numeric)
    console = logging.StreamHandler(stream)
    console.setFormatter(JsonFormatter() if fmt == "json"
                         else ReadableFormatter(under_journald(stream)))
    handlers: list[logging.Handler] = [console]
    if fluent is not None:
        handlers.append(FluentLogHandler(fluent))
    for handler in handlers:
        handler._reconciler = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # Library chatter (urllib3's per-request lines, watchdog's inotify) is noise here.
    for noisy in ("urllib3", "docker", "watchdog", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    return root
