"""Which "Lead" values may enter raw_leads, and why the others are rejected (no Dagster imports).

"Lead" is read with every column cast to text, so that each engine hands over the same thing: integer keys keep their
exact digits (pandas would read an integer column with nulls as float: ``1.2345678901234568e+17``), and a timestamp
that a driver cannot convert (PostgreSQL ``infinity``, years past 9999) arrives as text instead of failing the whole
read. One bad value then costs only that value: it is stored as null, and its lead carries a reject reason and a
detail naming the column and the problem, never the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from appointment_pipeline.domain.redaction import PII_REGEX, looks_like_pii
from appointment_pipeline.domain.vocabulary import check_values

BAD_TIMESTAMP = "legacy_bad_timestamp"
BAD_TEXT = "legacy_bad_text"
PII_VALUE = "legacy_pii_value"
check_values("lead_values reasons", (BAD_TIMESTAMP, BAD_TEXT, PII_VALUE), "reject_reasons", "reason", produced_by="lead_values")
# Instants outside these years are sentinels or typos, not appointments or lead times.
FIRST_YEAR, LAST_YEAR = 1900, 2199
UTC_MICROS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Problem:
    reason: str
    detail: str  # column and what is wrong; never the value


def text_column(column: str, values: Sequence[object], *, check_pii: bool) -> tuple[pa.Array, dict[int, Problem]]:
    """Text values as stored, except: a NUL or a character that is not valid UTF-8 (PostgreSQL cannot store it,
    DuckDB can: both reject it), and, for ``check_pii`` columns, anything shaped like an email or phone number."""
    try:
        array = pa.array(values, type=pa.string())
    except (pa.ArrowException, UnicodeEncodeError, TypeError):
        return _text_column_by_value(column, values, check_pii=check_pii)
    # Vectorized: the same patterns in Arrow's RE2 as in Python (redaction writes them for both).
    nul = pc.fill_null(pc.match_substring(array, "\x00"), False)
    pii = pc.fill_null(
        pc.match_substring_regex(array, PII_REGEX), False
    ) if check_pii else pa.array([False] * len(array))
    pii = pc.and_(pii, pc.invert(nul))
    problems = {int(i): Problem(BAD_TEXT, f"{column}: holds a NUL or an invalid unicode character")
                for i in pc.indices_nonzero(nul).to_pylist()}
    problems.update({int(i): Problem(PII_VALUE, f"{column}: looks like an email address or a phone number")
                     for i in pc.indices_nonzero(pii).to_pylist()})
    if problems:
        array = pc.if_else(pc.or_(nul, pii), pa.scalar(None, pa.string()), array)
    return array, problems


def _text_column_by_value(column: str, values: Sequence[object], *, check_pii: bool):
    out: list[str | None] = []
    problems: dict[int, Problem] = {}
    for row, value in enumerate(values):
        if value is None:
            out.append(None)
            continue
        text = value if isinstance(value, str) else str(value)
        if "\x00" in text or not _encodable(text):
            problems[row] = Problem(BAD_TEXT, f"{column}: holds a NUL or an invalid unicode character")
            out.append(None)
        elif check_pii and looks_like_pii(text):
            problems[row] = Problem(PII_VALUE, f"{column}: looks like an email address or a phone number")
            out.append(None)
        else:
            out.append(text)
    return pa.array(out, type=pa.string()), problems


def lead_id_column(values: Sequence[object]) -> tuple[pa.Array, dict[int, Problem]]:
    """The lead id is kept whatever it holds (a lead without its id could not be rejected by id): characters that
    cannot be stored become U+FFFD."""
    try:
        array = pa.array(values, type=pa.string())
        if not pc.any(pc.match_substring(array, "\x00")).as_py():
            return array, {}
    except (pa.ArrowException, UnicodeEncodeError, TypeError):
        pass
    out: list[str | None] = []
    problems: dict[int, Problem] = {}
    for row, value in enumerate(values):
        text = None if value is None else (value if isinstance(value, str) else str(value))
        if text is not None and ("\x00" in text or not _encodable(text)):
            problems[row] = Problem(BAD_TEXT, "id: holds a NUL or an invalid unicode character")
            text = "".join("\ufffd" if ch == "\x00" or not _encodable(ch) else ch for ch in text)
        out.append(text)
    return pa.array(out, type=pa.string()), problems


def timestamp_column(column: str, values: Sequence[object]) -> tuple[pa.Array, dict[int, Problem]]:
    """ISO-8601 text (an offset is honoured; none means UTC, as Prisma stores it) -> UTC instants in microseconds.
    Rejected: text that is not ISO-8601, sub-microsecond precision (it would be silently cut), years outside
    FIRST_YEAR..LAST_YEAR."""
    texts = pd.Series([None if v is None else str(v) for v in values], dtype=object)
    present = texts.notna()
    parsed = _parse_iso(texts)
    nanos = parsed.dt.nanosecond.fillna(0)
    years = parsed.dt.year
    unparsed = present & parsed.isna()
    too_precise = parsed.notna() & (nanos != 0)
    out_of_range = parsed.notna() & ((years < FIRST_YEAR) | (years > LAST_YEAR))
    problems: dict[int, Problem] = {}
    for row in texts.index[unparsed]:
        if _iso_outside_pandas_range(texts[row]):
            problems[int(row)] = Problem(BAD_TIMESTAMP, f"{column}: outside the years {FIRST_YEAR}-{LAST_YEAR}")
        else:
            problems[int(row)] = Problem(BAD_TIMESTAMP, f"{column}: not an ISO-8601 timestamp")
    for row in texts.index[too_precise]:
        problems[int(row)] = Problem(BAD_TIMESTAMP, f"{column}: more precise than microseconds")
    for row in texts.index[out_of_range]:
        problems[int(row)] = Problem(BAD_TIMESTAMP, f"{column}: outside the years {FIRST_YEAR}-{LAST_YEAR}")
    parsed[too_precise | out_of_range] = pd.NaT
    return pa.array(parsed, type=UTC_MICROS, from_pandas=True), problems


def _parse_iso(texts: pd.Series, has_digit: np.ndarray | None = None) -> pd.Series:
    """pandas' ISO-8601 parse, except words it would read as the clock ("now", "today"): an instant has digits.

    pandas picks the resolution from the values it is given (nanoseconds only when one needs them), so the same text
    could parse in one batch and not in another: a nanosecond sentinel fixes nanoseconds for every batch."""
    with_sentinel = pd.concat([texts, pd.Series([_NANOSECOND_SENTINEL], dtype=object)], ignore_index=True)
    parsed = pd.to_datetime(with_sentinel, utc=True, format="ISO8601", errors="coerce").iloc[:-1]
    parsed.index = texts.index
    if has_digit is None:
        has_digit = texts.str.contains("[0-9]", regex=True, na=False).to_numpy()
    return parsed.where(has_digit)


_NANOSECOND_SENTINEL = "1970-01-01T00:00:00.000000001Z"


def reject_columns(n_rows: int, problems: Sequence[dict[int, Problem]]) -> tuple[pa.Array, pa.Array]:
    """reject_reason (the first problem's reason, in column order) and reject_detail (every problem, '; ')."""
    by_row: dict[int, list[Problem]] = {}
    for column_problems in problems:
        for row, problem in column_problems.items():
            by_row.setdefault(row, []).append(problem)
    reasons = [by_row[row][0].reason if row in by_row else None for row in range(n_rows)]
    details = ["; ".join(p.detail for p in by_row[row]) if row in by_row else None for row in range(n_rows)]
    return pa.array(reasons, type=pa.string()), pa.array(details, type=pa.string())


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _iso_outside_pandas_range(text: str) -> bool:
    """An ISO-8601 instant pandas could not hold (years before 1677 or after 2262): out of range, not malformed."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return not (FIRST_YEAR <= value.year <= LAST_YEAR)


# -- the same rules over whole Arrow columns ---------------------------------------------------------------------
# Each returns (values to store, reason, detail): reason and detail are null where the value is fine. The functions
# above stay the reference (tests compare both row for row); these are what the extraction runs.
NUL_DETAIL = "holds a NUL or an invalid unicode character"
PII_DETAIL = "looks like an email address or a phone number"
_NO_TEXT = pa.scalar(None, pa.string())


def _flag(mask: pa.Array, reason: str, detail: str, reasons: pa.Array, details: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Set ``reason``/``detail`` where ``mask`` holds (a later flag overrides an earlier one, as dict updates do)."""
    return pc.if_else(mask, pa.scalar(reason), reasons), pc.if_else(mask, pa.scalar(detail), details)


def _none(n: int) -> pa.Array:
    return pa.nulls(n, pa.string())


def text_values(column: str, values: pa.Array, *, check_pii: bool) -> tuple[pa.Array, pa.Array, pa.Array]:
    """:func:`text_column` over an Arrow string column (Arrow strings are valid UTF-8: only NUL can be bad)."""
    n = len(values)
    nul = pc.fill_null(pc.match_substring(values, "\x00"), False)
    reasons, details = _flag(nul, BAD_TEXT, f"{column}: {NUL_DETAIL}", _none(n), _none(n))
    bad = nul
    if check_pii:
        pii = pc.fill_null(
            pc.match_substring_regex(values, PII_REGEX), False
        )
        pii = pc.and_(pii, pc.invert(nul))
        reasons, details = _flag(pii, PII_VALUE, f"{column}: {PII_DETAIL}", reasons, details)
        bad = pc.or_(nul, pii)
    return pc.if_else(bad, _NO_TEXT, values), reasons, details


def lead_id_values(values: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """:func:`lead_id_column` over an Arrow string column: a NUL becomes U+FFFD and rejects the lead."""
    n = len(values)
    nul = pc.fill_null(pc.match_substring(values, "\x00"), False)
    reasons, details = _flag(nul, BAD_TEXT, f"id: {NUL_DETAIL}", _none(n), _none(n))
    return pc.replace_substring(values, "\x00", "\ufffd"), reasons, details


def timestamp_values(column: str, values: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """:func:`timestamp_column` over an Arrow string column: the same pandas ISO-8601 parse, masks instead of rows."""
    n = len(values)
    texts = pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
    present = texts.notna().to_numpy()
    has_digit = pc.fill_null(pc.match_substring_regex(values, "[0-9]"), False).to_numpy(zero_copy_only=False)
    parsed = _parse_iso(texts, has_digit)
    valid = parsed.notna().to_numpy()
    nanos = parsed.dt.nanosecond.fillna(0).to_numpy()
    years = parsed.dt.year.to_numpy(dtype=float, na_value=float("nan"))
    unparsed = present & ~valid
    too_precise = valid & (nanos != 0)
    out_of_range = valid & ((years < FIRST_YEAR) | (years > LAST_YEAR))
    outside = f"{column}: outside the years {FIRST_YEAR}-{LAST_YEAR}"
    reasons, details = _none(n), _none(n)
    if unparsed.any():
        # Only the rejected values are looked at one by one: is it ISO-8601 beyond pandas' range, or not ISO at all?
        beyond = unparsed.copy()
        for row in unparsed.nonzero()[0]:
            beyond[row] = _iso_outside_pandas_range(texts.iat[row])
        not_iso = f"{column}: not an ISO-8601 timestamp"
        reasons, details = _flag(pa.array(unparsed), BAD_TIMESTAMP, not_iso, reasons, details)
        reasons, details = _flag(pa.array(beyond), BAD_TIMESTAMP, outside, reasons, details)
    too_fine = f"{column}: more precise than microseconds"
    reasons, details = _flag(pa.array(too_precise), BAD_TIMESTAMP, too_fine, reasons, details)
    reasons, details = _flag(pa.array(out_of_range), BAD_TIMESTAMP, outside, reasons, details)
    parsed[too_precise | out_of_range] = pd.NaT
    return pa.array(parsed, type=UTC_MICROS, from_pandas=True), reasons, details


def reject_values(reasons: Sequence[pa.Array], details: Sequence[pa.Array]) -> tuple[pa.Array, pa.Array]:
    """:func:`reject_columns` from per-column reasons and details given in column order."""
    reason = pc.coalesce(*reasons)
    detail = details[0]
    for more in details[1:]:
        # pairwise (null_handling="skip" drops rows where every input is null in this pyarrow)
        detail = pc.coalesce(pc.binary_join_element_wise(detail, more, "; "), detail, more)
    return reason, detail
