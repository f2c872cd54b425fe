"""Database and conversion errors without the data in them (no Dagster imports).

Drivers put row values into their messages ('invalid input syntax for type bigint: "jane@example.com"', COPY
context lines, "Failing row contains (...)", SQLAlchemy's "[parameters: ...]"), and Dagster stores an error's
message, its cause and its context in the event log and the compute log. Errors raised while reading the
application database or writing the warehouse therefore leave as :class:`ScrubbedDatabaseError`: the original
class, SQLSTATE, table and column names stay, every quoted value and anything shaped like an email address or a
phone number goes, and the original exception is not chained.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from appointment_pipeline.domain.redaction import EMAIL_REGEX, PHONE_REGEX

_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_PII = re.compile(f"{EMAIL_REGEX}|{PHONE_REGEX}")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VALUE = "[value]"
_COPY_CONTEXT = re.compile(r"COPY ([A-Za-z_][A-Za-z0-9_]*), line ([0-9]+), column ([A-Za-z_][A-Za-z0-9_]*)")
MAX_MESSAGE = 300


class ScrubbedDatabaseError(RuntimeError):
    """A database or conversion error whose message was stripped of values; ``original_class`` names the error."""

    def __init__(self, message: str, *, original_class: str, sqlstate: str | None = None):
        super().__init__(message)
        self.original_class = original_class
        self.sqlstate = sqlstate


# Errors that are already free of data and must keep their own type (callers and tests rely on them).
_PASS_THROUGH: tuple[type[BaseException], ...] = (ScrubbedDatabaseError,)


def register_safe(*classes: type[BaseException]) -> None:
    """Exceptions whose messages are written by this project without data: re-raised untouched."""
    global _PASS_THROUGH
    _PASS_THROUGH = (*_PASS_THROUGH, *classes)


def identifiers_in(*texts: str) -> set[str]:
    """The words of SQL text written by this code (never values: values travel as parameters)."""
    return {word for text in texts for word in _WORD.findall(text or "")}


def scrub_message(message: str, keep: Iterable[str] = ()) -> str:
    """First line of ``message`` with every quoted token that is not a known name, and anything shaped like an
    email address or phone number, replaced by ``[value]``."""
    keep = set(keep)
    first_line = (message or "").strip().splitlines()[0] if (message or "").strip() else ""

    def quoted(match: re.Match) -> str:
        inner = match.group(0)[1:-1]
        return match.group(0) if inner in keep else _VALUE

    text = _QUOTED.sub(quoted, first_line)
    text = _PII.sub(_VALUE, text)
    return text[:MAX_MESSAGE]


def _driver_error(exc: BaseException) -> BaseException:
    return getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the DB-API error


def scrubbed(exc: BaseException, operation: str, keep: Iterable[str] = ()) -> ScrubbedDatabaseError:
    """``exc`` as a :class:`ScrubbedDatabaseError` for ``operation`` (e.g. 'writing raw_leads')."""
    driver = _driver_error(exc)
    keep = set(keep)
    parts = [f"{operation} failed: {type(driver).__module__}.{type(driver).__name__}"]
    diag = getattr(driver, "diag", None)  # psycopg: structured fields, free of values
    sqlstate = getattr(driver, "sqlstate", None) or getattr(diag, "sqlstate", None)
    details = []
    if sqlstate:
        details.append(f"SQLSTATE {sqlstate}")
    for label, field in (("table", "table_name"), ("column", "column_name"), ("constraint", "constraint_name")):
        value = getattr(diag, field, None) if diag is not None else None
        if value and _WORD.fullmatch(value):
            details.append(f"{label} {value}")
    copy = _COPY_CONTEXT.search(getattr(diag, "context", None) or "") if diag is not None else None
    if copy:  # PostgreSQL names the failing COPY row and column only in its context line, next to the value
        details.append(f"row {copy.group(2)} of the load, column {copy.group(3)}")
    message = scrub_message(str(driver), keep)
    if message:
        parts.append(f": {message}")
    if details:
        parts.append(f" ({'; '.join(details)})")
    return ScrubbedDatabaseError("".join(parts), original_class=type(driver).__name__, sqlstate=sqlstate)


@contextmanager
def scrubbing(operation: str, keep: Iterable[str] = ()) -> Iterator[None]:
    """Re-raise any error of the block as a :class:`ScrubbedDatabaseError` (values removed, not chained)."""
    try:
        yield
    except _PASS_THROUGH:
        raise
    except Exception as exc:  # noqa: BLE001 - any driver or conversion error may carry row values
        raise scrubbed(exc, operation, keep) from None
