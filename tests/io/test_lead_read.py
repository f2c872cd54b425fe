"""The column-wise read of "Lead" (Arrow batches, PostgreSQL COPY as CSV, HMAC in DuckDB) gives exactly the rows of
the value-by-value rules in domain/lead_values.py and redaction.email_hash: on the demo leads and on awkward values
(timestamps in every form, PII-looking text, odd ids, nulls, empty strings, unicode), from SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import string
from datetime import datetime
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appointment_pipeline.demo import build_demo
from appointment_pipeline.demo.writer import write_leads
from appointment_pipeline.domain import lead_values
from appointment_pipeline.domain.redaction import email_hash, email_hashes
from appointment_pipeline.io import lead_source
from appointment_pipeline.io.lead_source import (
    LEAD_COLUMNS,
    SOURCE_COLUMNS,
    raw_lead_rows_by_value,
    read_leads,
)

KEY = "lead-read-key"
TIMESTAMPS = [name for name, column in LEAD_COLUMNS.items() if column.sql_type == "timestamptz"]


def reference(source_url: str, key: str = KEY) -> pa.Table:
    """The value-by-value rules over the same source, read row by row through the driver."""
    select = "select " + ", ".join(f'cast("{n}" as text)' for n in SOURCE_COLUMNS) + ' from "Lead"'
    url = sa.make_url(source_url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(url.database) as con:
            rows = con.execute(select).fetchall()
    else:
        with psycopg.connect(url.set(drivername="postgresql").render_as_string(False)) as con:
            con.execute("set DateStyle = 'ISO, YMD'")
            con.execute("set time zone 'UTC'")
            rows = con.execute(select).fetchall()
    return raw_lead_rows_by_value(rows, key)


def by_lead(table: pa.Table) -> pa.Table:
    return table.sort_by("lead_id")


@pytest.fixture(scope="module")
def pg_app(pg_database):
    return pg_database("ap_lead_read")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_demo_leads_read_column_wise_equal_the_value_by_value_rules(kind, tmp_path, pg_app):
    url = f"sqlite:///{tmp_path / 'app.sqlite'}" if kind == "sqlite" else pg_app
    write_leads(url, build_demo(leads=120, days=3, seed=11).lead_rows)
    read = read_leads(url, KEY, batch_rows=50)  # several batches
    expected = reference(url)
    assert read.rows.num_rows == expected.num_rows == 120
    assert by_lead(read.rows).to_pylist() == by_lead(expected).to_pylist()
    assert read.full and read.rows.column("email_hash").null_count < read.rows.num_rows


# -- awkward values ------------------------------------------------------------------------------------------------
_moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
_timestamp_forms = st.sampled_from([
    lambda d: d.isoformat(), lambda d: d.isoformat() + "Z", lambda d: d.isoformat() + "+05:30",
    lambda d: d.isoformat() + "-0800", lambda d: d.strftime("%Y-%m-%d %H:%M:%S"), lambda d: d.strftime("%Y-%m-%d"),
    lambda d: d.strftime("%Y%m%dT%H%M%S"), lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "789Z",
    lambda d: f" {d.isoformat()} ", lambda d: d.strftime("%Y-%m-%dT%H:%M"), lambda d: d.strftime("%Y-%m"),
    lambda d: d.strftime("%d/%m/%Y %H:%M"), lambda d: d.isoformat(timespec="milliseconds") + "+00:00",
])
_odd_timestamps = st.sampled_from([
    "infinity", "-infinity", "0044-03-15 00:00:00 BC", "next tuesday", "", " ", "2025-13-01", "2025-02-30T00:00:00Z",
    "2025-01-01T24:00:00", "1899-12-31T23:59:59.999999Z", "1900-01-01T00:00:00Z", "2199-12-31T23:59:59.999999+00:00",
    "2200-01-01", "1677-09-21", "2262-04-12T00:00:00", "10000-01-01", "NaT", "now", "today",
    "2025-01-01T00:00:00+25:00", "2025-01-01T00:00:00.000000001Z", "2025-W01-1", "2025-001", "12345",
])
timestamps = st.none() | _odd_timestamps | st.builds(lambda f, d: f(d), _timestamp_forms, _moments)
_text_chars = st.characters(blacklist_categories=("Cs",))
texts = st.none() | st.text(_text_chars, max_size=24) | st.sampled_from([
    "jane.doe@example.com", "see JANE@EXAMPLE.ORG now", "+1 (555) 010-2233", "555.010.0000", "call 555 010 2233",
    "2025-01-05T10:00:00Z", "https://api.calendly.com/invitees/1f2e", "a3f9c2d1e4b5", str(10**30), "", "a,b\n\"c\"\r\n",
    "\\N", "NULL", "ünïcødé ✓", "\u00a0", "x\x00y",
])
emails = st.none() | st.text(_text_chars, max_size=20) | st.sampled_from([
    " Jane@Example.COM ", "\u00a0x@y.com\u2003", "İnci@example.com", "ÄÖ@x.de", "\x1cq@x.io\x1f", "", "   ", "a\x00b@x.io",
])
lead_ids = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(_text_chars, min_size=1, max_size=16),
    st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=36),
)


@st.composite
def lead_rows(draw) -> list[dict]:
    ids = draw(st.lists(lead_ids, min_size=1, max_size=12, unique=True))
    rows = []
    for lead_id in ids:
        row = {"id": lead_id, "email": draw(emails)}
        for name in LEAD_COLUMNS:
            if name != "id":
                row[name] = draw(timestamps if name in TIMESTAMPS else texts)
        rows.append(row)
    return rows


def _write(url: str, rows: list[dict]) -> None:
    """All-text "Lead" columns, so that any text reaches the read (typed columns are covered by the demo test)."""
    columns = ", ".join(f'"{n}" text' for n in SOURCE_COLUMNS)
    names = ", ".join(f'"{n}"' for n in SOURCE_COLUMNS)
    values = [[row[n] for n in SOURCE_COLUMNS] for row in rows]
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database).unlink(missing_ok=True)
        with sqlite3.connect(parsed.database) as con:
            con.execute(f'create table "Lead" ({columns}, "firstName" text)')
            con.executemany(f'insert into "Lead" ({names}) values ({", ".join("?" * len(SOURCE_COLUMNS))})', values)
        return
    with psycopg.connect(parsed.set(drivername="postgresql").render_as_string(False)) as con:
        con.execute('drop table if exists "Lead" cascade')
        con.execute(f'create table "Lead" ({columns}, "firstName" text)')
        with con.cursor() as cur:  # PostgreSQL text cannot hold NUL: the application could not have stored it
            cur.executemany(
                f'insert into "Lead" ({names}) values ({", ".join(["%s"] * len(SOURCE_COLUMNS))})',
                [[v.replace("\x00", "") if isinstance(v, str) else v for v in row] for row in values],
            )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=lead_rows())
def test_awkward_values_read_column_wise_equal_the_value_by_value_rules(rows, tmp_path, pg_app):
    for url in (f"sqlite:///{tmp_path / 'awkward.sqlite'}", pg_app):
        _write(url, rows)
        read = read_leads(url, KEY, batch_rows=5)
        expected = reference(url)
        assert read.rows.num_rows == len(rows)
        assert by_lead(read.rows).to_pylist() == by_lead(expected).to_pylist(), url.split(":")[0]


@given(values=st.lists(st.none() | st.text(_text_chars, max_size=30), max_size=20),
       key=st.text(_text_chars, min_size=1, max_size=80))
def test_column_hmac_equals_email_hash(values, key):
    """Keys longer than a SHA-256 block are hashed first (RFC 2104); normalization is Python's strip().lower()."""
    assert email_hashes(pa.array(values, pa.string()), key).to_pylist() == [email_hash(v, key) for v in values]


def _timestamp_rule(values: list) -> tuple[list, dict[int, str]]:
    array, problems = lead_values.timestamp_column("updatedAt", values)
    return array.to_pylist(), {row: problem.detail for row, problem in problems.items()}


@settings(max_examples=400, deadline=None)
@given(values=st.lists(timestamps, max_size=12))
def test_a_timestamp_parses_the_same_in_any_batch_and_column_wise(values):
    """pandas picks a resolution per call: a value must not parse in one batch and fail in another."""
    whole = _timestamp_rule(values)
    batched: tuple[list, dict[int, str]] = ([], {})
    for start in range(0, len(values), 5):
        parsed, details = _timestamp_rule(values[start:start + 5])
        batched[0].extend(parsed)
        batched[1].update({start + row: detail for row, detail in details.items()})
    assert batched == whole
    array, _reasons, details = lead_values.timestamp_values("updatedAt", pa.array(values, pa.string()))
    assert (array.to_pylist(), {row: d for row, d in enumerate(details.to_pylist()) if d is not None}) == whole


@pytest.mark.parametrize("ids", [[], ["x"], ["a", "b\x1fc"], ["a", None], ["ünï", "1" * 40]])
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_every_lead_id_is_read_whatever_it_holds(kind, ids, tmp_path, pg_app):
    """Ids are joined into one string by the database for speed; ids holding the separator, or null, still arrive."""
    url = f"sqlite:///{tmp_path / 'ids.sqlite'}" if kind == "sqlite" else pg_app
    rows = [{"id": i, **{n: None for n in SOURCE_COLUMNS if n != "id"}} for i in ids]
    _write(url, rows)
    reader = lead_source._SqliteLeads if kind == "sqlite" else lead_source._PostgresLeads
    with reader.open(url) as source:
        assert sorted(source.ids(2).to_pylist(), key=str) == sorted(ids, key=str)
