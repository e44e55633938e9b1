"""Route Vahti's stdlib loggers into Prefect's run logs while a flow runs.

Vahti's packages log through ``logging.getLogger(__name__)`` (``vahti.*``,
``providers.*``, ``models.*``, ``notifications.*``). Inside a flow run those records
should reach the Prefect UI next to the run logger's own lines. Prefect can do this
process-wide with ``PREFECT_LOGGING_EXTRA_LOGGERS``; setting it is still recommended
for workers (see docs/operations.md), but a flow must not depend on its environment,
so :func:`vahti_logs` attaches the handlers of Prefect's ``prefect.extra`` logger for
the duration of the run and detaches them afterwards (no warnings about logs sent
outside a run from the CLI or other code in the same process).

Expected failures log no traceback: Prefect logs a failed task or flow run with the
exception's traceback, which for Vahti's own errors (a provider answering 401, a run that
ended Failed for named reasons) says nothing the one-line message does not; the filter
:class:`ExpectedFailures` keeps the message and drops the traceback for those, and keeps
it for everything else (a bug still shows where it happened).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from core.errors import IncompleteRunError, VahtiError

#: Prefect's run loggers, where failed task and flow runs are logged with a traceback.
PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")

#: The top-level loggers of Vahti's packages.
VAHTI_LOGGERS = ("vahti", "providers", "models", "notifications", "flows")

_lock = threading.Lock()
_depth = 0
_added: list[tuple[logging.Logger, logging.Handler]] = []
_levels: list[tuple[logging.Logger, int]] = []


class ExpectedFailures(logging.Filter):
    """Log Vahti's own errors as one line, without their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, VahtiError):
            return True
        if isinstance(error, IncompleteRunError):  # the engine's "unexpected exception" line
            record.msg, record.args = "run ended Failed: %s", (str(error),)
        elif str(error) not in record.getMessage():
            record.msg, record.args = "%s: %s", (record.getMessage(), str(error))
        record.exc_info, record.exc_text = None, None
        return True


_expected = ExpectedFailures()


def quiet_expected_failures() -> None:
    """Attach :class:`ExpectedFailures` to Prefect's run loggers (once per process; it stays:
    the engine logs a run's end after the flow function returned)."""
    for name in PREFECT_RUN_LOGGERS:
        logger = logging.getLogger(name)
        if _expected not in logger.filters:
            logger.addFilter(_expected)


@contextmanager
def vahti_logs(level: int = logging.INFO) -> Iterator[None]:
    """Send Vahti's log records to the current flow run's logs (re-entrant)."""
    global _depth  # noqa: PLW0603 (one process-wide routing, reference counted)
    quiet_expected_failures()
    with _lock:
        if _depth == 0:
            handlers = logging.getLogger("prefect.extra").handlers
            for name in VAHTI_LOGGERS:
                logger = logging.getLogger(name)
                if logger.level == logging.NOTSET or logger.level > level:
                    _levels.append((logger, logger.level))
                    logger.setLevel(level)
                for handler in handlers:
                    if handler not in logger.handlers:
                        logger.addHandler(handler)
                        _added.append((logger, handler))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for logger, handler in _added:
                    logger.removeHandler(handler)
                for logger, old in _levels:
                    logger.setLevel(old)
                _added.clear()
                _levels.clear()
