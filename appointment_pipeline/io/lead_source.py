"""Reading the legacy ``"Lead"`` table into raw_leads rows, in Arrow batches (no Dagster imports).

Every column is read as text (domain/lead_values.py says why) and validated a whole column at a time: PostgreSQL
sends its rows as CSV (``COPY ... TO STDOUT``) straight into Arrow's CSV reader, SQLite hands its rows over in large
``fetchmany`` batches. PII is not selected; the email is read only to be hashed.

A read is either full or the rows whose ``"updatedAt"`` is at or after a given instant, and can also return every
lead id (deleted leads are found from ids only). Both queries run in one read transaction, so they see one state.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa

from appointment_pipeline.domain import lead_values
from appointment_pipeline.domain.parsing import RawColumn
from appointment_pipeline.domain.redaction import email_hash, email_hashes
from appointment_pipeline.io.db_errors import scrubbing

# "Lead" column -> raw_leads column. PII (email, phone, names) is not selected; email is read only to be hashed.
LEAD_COLUMNS: dict[str, RawColumn] = {
    "id": RawColumn("lead_id", pa.string(), "text", '"Lead".id'),
    "ghlContactId": RawColumn("ghl_contact_id", pa.string(), "text", "GHL contact id"),
    "ghlAppointmentId": RawColumn("ghl_appointment_id", pa.string(), "text", "Legacy GHL appointment id"),
    "calendlyInviteeUri": RawColumn("calendly_invitee_uri", pa.string(), "text", "Legacy Calendly invitee URI"),
    "calendlyScheduledEventUri": RawColumn("calendly_scheduled_event_uri", pa.string(), "text", "Legacy Calendly event URI"),
    "appointmentProvider": RawColumn("appointment_provider", pa.string(), "text", "Legacy provider string"),
    "appointmentStatus": RawColumn("appointment_status", pa.string(), "text", "Legacy status string"),
    "appointmentSource": RawColumn("appointment_source", pa.string(), "text", "Legacy source string"),
    "appointmentStartAt": RawColumn("appointment_start_at", pa.timestamp("us", tz="UTC"), "timestamptz", "Legacy start"),
    "appointmentEndAt": RawColumn("appointment_end_at", pa.timestamp("us", tz="UTC"), "timestamptz", "Legacy end"),
    "appointmentBookedAt": RawColumn("appointment_booked_at", pa.timestamp("us", tz="UTC"), "timestamptz", "Legacy booking time"),
    "appointmentCanceledAt": RawColumn("appointment_canceled_at", pa.timestamp("us", tz="UTC"), "timestamptz", "Legacy cancel time"),
    "appointmentTimezone": RawColumn("appointment_timezone", pa.string(), "text", "Legacy time zone"),
    "createdAt": RawColumn("created_at", pa.timestamp("us", tz="UTC"), "timestamptz", "Lead creation time"),
    "updatedAt": RawColumn("updated_at", pa.timestamp("us", tz="UTC"), "timestamptz", "Lead update time"),
}
EMAIL_HASH_COLUMN = RawColumn("email_hash", pa.string(), "text", "HMAC-SHA256 of lower(trim(email))")
LEAD_REJECT_COLUMNS = [
    RawColumn(
        "reject_reason",
        pa.string(),
        "text",
        "Null for a clean lead; else legacy_bad_timestamp, legacy_bad_text or legacy_pii_value (that value is null).",
    ),
    RawColumn("reject_detail", pa.string(), "text", "Which column(s) and what is wrong, never the value."),
]
RAW_LEADS_COLUMNS = [LEAD_COLUMNS["id"], EMAIL_HASH_COLUMN, *list(LEAD_COLUMNS.values())[1:], *LEAD_REJECT_COLUMNS]
RAW_LEADS_SCHEMA = pa.schema([pa.field(c.name, c.arrow_type) for c in RAW_LEADS_COLUMNS])
SOURCE_COLUMNS = ["email", *LEAD_COLUMNS]
TEXT_SCHEMA = pa.schema([pa.field(name, pa.string()) for name in SOURCE_COLUMNS])
BATCH_ROWS = 100_000


@dataclass(frozen=True)
class LeadRead:
    rows: pa.Table  # raw_leads columns
    started_at: datetime  # the source's clock when the read began: the next delta reads from here (minus overlap)
    deleted_ids: pa.Array | None = None  # a delta's: known leads whose id the source no longer has
    full_read_reason: str | None = None  # set when a read asked as a delta had to read everything
    table_identity: str = ""  # which "Lead" table was read: another one (dropped and re-created) needs a full read

    @property
    def full(self) -> bool:
        return self.deleted_ids is None


# A delta also reads, by id, leads it does not know (restored or imported with an old "updatedAt"); past this share of
# the leads it reads everything instead (the id list would outgrow a query).
UNKNOWN_SHARE_FOR_FULL_READ = 0.05
UNKNOWN_MINIMUM_FOR_FULL_READ = 10_000


def read_leads(
    source_url: str,
    hash_key: str,
    *,
    since: datetime | None = None,
    known_ids: pa.Array | None = None,
    table_identity: str | None = None,
    batch_rows: int = BATCH_ROWS,
) -> LeadRead:
    """raw_leads rows of every lead or, with ``since``, a delta: the leads updated at or after ``since``, those whose
    id is not in ``known_ids`` (the ids raw_leads holds), and the known ids the source no longer has. A bad value
    rejects its lead, never the read. A delta of a "Lead" table other than ``table_identity`` (the one read last: it
    was dropped and re-created, rows may be back with old "updatedAt" values) reads everything instead."""
    backend = sa.make_url(source_url).get_backend_name()
    readers = {"postgresql": _PostgresLeads, "postgres": _PostgresLeads, "sqlite": _SqliteLeads}
    reader: Any = readers.get(backend, _OtherLeads)
    with scrubbing('reading "Lead" from the application database', ["Lead", "text", *SOURCE_COLUMNS]):
        with reader.open(source_url) as source:
            started_at, identity = source.clock(), source.table_identity()
            if since is not None and identity != table_identity:
                rows = _read_rows(source, _select(), hash_key, batch_rows)
                return LeadRead(rows, started_at, None, 'another "Lead" table than the last read', identity)
            if since is None:
                return LeadRead(_read_rows(source, _select(), hash_key, batch_rows), started_at, table_identity=identity)
            if known_ids is None:
                raise ValueError("a delta read needs the ids raw_leads holds")
            ids = lead_values.lead_id_values(source.ids(batch_rows))[0]
            unknown, deleted = _id_differences(ids, known_ids)
            if len(unknown) > max(UNKNOWN_MINIMUM_FOR_FULL_READ, UNKNOWN_SHARE_FOR_FULL_READ * len(ids)):
                reason = f"{len(unknown)} leads unknown to raw_leads"
                return LeadRead(_read_rows(source, _select(), hash_key, batch_rows), started_at, None, reason, identity)
            where = source.updated_since(since)
            if len(unknown):
                where = f"({where} or {source.id_in(unknown.to_pylist())})"
            rows = _read_rows(source, f"{_select()} where {where}", hash_key, batch_rows)
            return LeadRead(rows, started_at, deleted, None, identity)


_IDS_SELECT = 'select cast(id as text) as "id" from "Lead"'


def _id_differences(source_ids: pa.Array, known_ids: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(ids only the source has, ids only raw_leads has): one hash join in an in-process DuckDB."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("source_ids", pa.table({"id": source_ids}))
        con.register("known_ids", pa.table({"id": known_ids}))
        both = con.sql(
            "select s.id as unknown, k.id as deleted from source_ids as s full join known_ids as k on s.id = k.id "
            "where s.id is null or k.id is null"
        ).to_arrow_table()
    finally:
        con.close()
    return (pc.drop_null(both.column("unknown")).combine_chunks().cast(pa.string()),
            pc.drop_null(both.column("deleted")).combine_chunks().cast(pa.string()))


def _read_rows(source: Any, select: str, hash_key: str, batch_rows: int) -> pa.Table:
    batches = [raw_lead_batch(texts, hash_key) for texts in source.batches(select, batch_rows)]
    return pa.concat_tables(batches) if batches else pa.Table.from_batches([], schema=RAW_LEADS_SCHEMA)


def _select() -> str:
    columns = ", ".join(f'cast("{name}" as text) as "{name}"' for name in SOURCE_COLUMNS)
    return f'select {columns} from "Lead"'


def raw_lead_batch(texts: pa.Table, hash_key: str) -> pa.Table:
    """"Lead" columns as text (SOURCE_COLUMNS) -> raw_leads columns, one Arrow / DuckDB pass per column."""
    arrays: dict[str, pa.Array] = {}
    reasons, details = [], []
    for source, column in LEAD_COLUMNS.items():
        values = texts.column(source).combine_chunks()
        if source == "id":
            array, reason, detail = lead_values.lead_id_values(values)
        elif column.sql_type == "timestamptz":
            array, reason, detail = lead_values.timestamp_values(source, values)
        else:
            array, reason, detail = lead_values.text_values(source, values, check_pii=True)
        arrays[column.name] = array
        reasons.append(reason)
        details.append(detail)
    arrays[EMAIL_HASH_COLUMN.name] = email_hashes(texts.column("email").combine_chunks(), hash_key)
    arrays["reject_reason"], arrays["reject_detail"] = lead_values.reject_values(reasons, details)
    return pa.table({c.name: arrays[c.name] for c in RAW_LEADS_COLUMNS}, schema=RAW_LEADS_SCHEMA)


def raw_lead_rows_by_value(rows: Sequence[Sequence[Any]], hash_key: str) -> pa.Table:
    """The reference for :func:`raw_lead_batch`: the same rules value by value (lead_values' column functions and
    :func:`email_hash`); rows hold SOURCE_COLUMNS. Tests prove both give the same table."""
    values = dict(zip(SOURCE_COLUMNS, zip(*rows))) if rows else {name: () for name in SOURCE_COLUMNS}
    arrays, problems = {}, []
    for source, column in LEAD_COLUMNS.items():
        if source == "id":
            array, found = lead_values.lead_id_column(values[source])
        elif column.sql_type == "timestamptz":
            array, found = lead_values.timestamp_column(source, values[source])
        else:
            array, found = lead_values.text_column(source, values[source], check_pii=True)
        arrays[column.name] = array
        problems.append(found)
    arrays[EMAIL_HASH_COLUMN.name] = pa.array(
        [email_hash(v if isinstance(v, str) else None, hash_key) for v in values["email"]], type=pa.string()
    )
    arrays["reject_reason"], arrays["reject_detail"] = lead_values.reject_columns(len(rows), problems)
    return pa.table({c.name: arrays[c.name] for c in RAW_LEADS_COLUMNS}, schema=RAW_LEADS_SCHEMA)


# -- the application databases -------------------------------------------------------------------------------------


class _PostgresLeads:
    """One REPEATABLE READ, read-only transaction; rows leave the server as CSV into Arrow's reader."""

    def __init__(self, con: Any):
        self.con = con

    @classmethod
    @contextmanager
    def open(cls, url: str) -> Iterator[_PostgresLeads]:
        import psycopg

        dsn = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute("set time zone 'UTC'")
            con.execute("set DateStyle = 'ISO, YMD'")  # timestamps as ISO text whatever the server says
            con.execute("begin isolation level repeatable read read only")
            try:
                yield cls(con)
            finally:
                con.execute("rollback")

    def clock(self) -> datetime:
        return self.con.execute("select now()").fetchone()[0]

    def table_identity(self) -> str:
        # a re-created or truncated table gets a new oid or file node
        oid, node = self.con.execute('''select oid, pg_relation_filenode(oid) from pg_class where oid = '"Lead"'::regclass''').fetchone()
        return f"postgres:{oid}:{node}"

    def updated_since(self, since: datetime) -> str:
        from psycopg import sql

        instant = sql.Literal(since).as_string(self.con)
        return f'("updatedAt" >= {instant} or "updatedAt" is null)'

    def id_in(self, ids: list[str]) -> str:
        from psycopg import sql

        return f"cast(id as text) = any({sql.Literal(ids).as_string(self.con)}::text[])"

    def batches(self, select: str, batch_rows: int, names: Sequence[str] = SOURCE_COLUMNS) -> Iterator[pa.Table]:
        with self.con.cursor() as cur, cur.copy(f"copy ({select}) to stdout (format csv)") as copy:
            yield from csv_batches(copy, names, batch_rows)

    def ids(self, batch_rows: int) -> pa.Array:
        joined = joined_ids(lambda sql: self.con.execute(sql).fetchone(), '"Lead"', "id", "postgres")
        return joined if joined is not None else _concat(
            [t.column(0) for t in self.batches(_IDS_SELECT, batch_rows, ["id"])]
        )


# SQL spellings of: position of a substring, the separator character, joining a column's values
_JOIN_SQL = {
    "postgres": ("strpos", "chr(31)", "string_agg"),
    "sqlite": ("instr", "char(31)", "group_concat"),
}


def joined_ids(fetch_one: Callable[[str], Any], table: str, column: str, dialect: str) -> pa.Array | None:
    """Every value of ``column`` joined into one string by the database and split by Arrow: a row-by-row transfer
    costs a Python object (or a COPY message) per id. None when a value is null or holds the separator."""
    position, separator, join = _JOIN_SQL[dialect]
    text = f"cast({column} as text)"
    rows, with_value, odd = fetch_one(
        f"select count(*), count({column}), "
        f"coalesce(sum(case when {position}({text}, {separator}) > 0 then 1 else 0 end), 0) from {table}"
    )
    if rows == 0:
        return pa.array([], pa.string())
    if rows != with_value or odd:
        return None
    joined = fetch_one(f"select {join}({text}, {separator}) from {table}")[0]
    return pc.split_pattern(pa.array([joined], pa.string()), "\x1f").flatten()


def csv_batches(blocks: Iterable[Any], names: Sequence[str], batch_rows: int) -> Iterator[pa.Table]:
    """The blocks of a PostgreSQL ``COPY ... TO STDOUT (FORMAT csv)`` as Arrow tables of text columns."""
    schema = pa.schema([pa.field(n, pa.string()) for n in names])
    stream = io.BufferedReader(_Blocks(blocks), buffer_size=1 << 20)
    if not stream.peek(1):
        return
    reader = pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(column_names=list(names), block_size=8 << 20),
        # a row of one null column is an empty line
        parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        # COPY writes a null as an empty unquoted field and an empty string as ""
        convert_options=pacsv.ConvertOptions(
            column_types=schema, null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        if count >= batch_rows:
            yield pa.Table.from_batches(pending, schema=schema)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending, schema=schema)


def csv_table(blocks: Iterable[Any], names: Sequence[str]) -> pa.Table:
    tables = list(csv_batches(blocks, names, 1 << 62))
    schema = pa.schema([pa.field(n, pa.string()) for n in names])
    return pa.concat_tables(tables) if tables else schema.empty_table()


class _Blocks(io.RawIOBase):
    """The blocks of a COPY TO STDOUT as a readable binary stream."""

    def __init__(self, blocks: Iterable[Any]):
        self._blocks = iter(blocks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # COPY sends one message per row: fill the whole buffer, not one row per call
        filled = 0
        while filled < len(buffer):
            if not self._pending:
                block = next(self._blocks, None)
                if block is None:
                    break
                self._pending = memoryview(block)
            n = min(len(buffer) - filled, len(self._pending))
            buffer[filled:filled + n] = self._pending[:n]
            self._pending = self._pending[n:]
            filled += n
        return filled


class _SqliteLeads:
    """One read transaction (a consistent snapshot); large fetchmany batches turned into Arrow columns."""

    def __init__(self, con: Any, path: str = ""):
        self.con = con
        self.path = path

    @classmethod
    @contextmanager
    def open(cls, url: str) -> Iterator[_SqliteLeads]:
        path = sa.make_url(url).database or ":memory:"
        con = sqlite3.connect(path, isolation_level=None)
        try:
            con.execute("begin")
            yield cls(con, path)
        finally:
            con.close()

    def clock(self) -> datetime:
        return datetime.now(UTC)  # SQLite has no clock of its own: the application writes ours

    def table_identity(self) -> str:
        # the schema version moves with every drop and create; a new database file has another inode
        version = self.con.execute("pragma schema_version").fetchone()[0]
        return f"sqlite:{os.stat(self.path).st_ino if os.path.exists(self.path) else 0}:{version}"

    def updated_since(self, since: datetime) -> str:
        # SQLite compares text as text: compare instants (julianday honours offsets and 'Z'); a value that is not a
        # parseable instant is always read again, so nothing escapes a delta for being stored oddly.
        instant = since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return (
            "(typeof(\"updatedAt\") <> 'text' or julianday(\"updatedAt\") is null "
            f"or julianday(\"updatedAt\") >= julianday('{instant}'))"
        )

    def id_in(self, ids: list[str]) -> str:
        listed = json.dumps(ids).replace("'", "''")
        return f"cast(id as text) in (select value from json_each('{listed}'))"

    def batches(self, select: str, batch_rows: int, names: Sequence[str] = SOURCE_COLUMNS) -> Iterator[pa.Table]:
        cur = self.con.execute(select)
        while rows := cur.fetchmany(batch_rows):
            yield _columns_table(rows, names)

    def ids(self, batch_rows: int) -> pa.Array:
        """Every id as one string joined in SQLite, split by Arrow (a Python object per id costs seconds at a million
        leads); ids holding the separator, or null ids, go row by row."""
        joined = joined_ids(lambda sql: self.con.execute(sql).fetchone(), '"Lead"', "id", "sqlite")
        return joined if joined is not None else _concat(
            [t.column(0) for t in self.batches(_IDS_SELECT, batch_rows, ["id"])]
        )


class _OtherLeads(_SqliteLeads):
    """Any other SQLAlchemy database: rows in batches through the driver."""

    @classmethod
    @contextmanager
    def open(cls, url: str) -> Iterator[_OtherLeads]:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as con:
                yield cls(con)
        finally:
            engine.dispose()

    def table_identity(self) -> str:
        return ""  # unknown: a replaced table is found by the periodic full read only

    def updated_since(self, since: datetime) -> str:
        return f"(\"updatedAt\" >= '{since.astimezone(UTC).isoformat()}' or \"updatedAt\" is null)"

    def id_in(self, ids: list[str]) -> str:
        listed = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
        return f"cast(id as text) in ({listed})"

    def batches(self, select: str, batch_rows: int, names: Sequence[str] = SOURCE_COLUMNS) -> Iterator[pa.Table]:
        result = self.con.execution_options(stream_results=True).execute(sa.text(select))
        while rows := result.fetchmany(batch_rows):
            yield _columns_table(rows, names)

    def ids(self, batch_rows: int) -> pa.Array:
        return _concat([t.column(0) for t in self.batches(_IDS_SELECT, batch_rows, ["id"])])


def _concat(columns: Sequence[pa.ChunkedArray]) -> pa.Array:
    return pa.chunked_array([c for column in columns for c in column.chunks], pa.string()).combine_chunks()


def _columns_table(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> pa.Table:
    columns = list(zip(*rows))
    return pa.table({name: pa.array(columns[i], type=pa.string()) for i, name in enumerate(names)})

