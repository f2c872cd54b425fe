"""The warehouse: one small interface over DuckDB (embedded default) and PostgreSQL (no Dagster imports).

Every write is one transaction: a partition replace deletes its window and bulk-loads the new rows, a model
rebuild creates a scratch table and swaps it in, so a failure at any point leaves the previous table as it was.
Bulk paths only: DuckDB reads Arrow tables directly, PostgreSQL takes COPY.
"""

from __future__ import annotations

import io
import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy.engine import make_url

from appointment_pipeline.io.db_errors import identifiers_in, register_safe, scrubbing

logger = logging.getLogger(__name__)
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def ident(name: str) -> str:
    """Table and column names come from code and model file names; refuse anything that would need quoting."""
    if not IDENTIFIER.match(name):
        raise ValueError(f"not a plain lower-case identifier: {name!r}")
    return name


class AuditFailed(RuntimeError):
    """A rebuilt table failed a blocking audit before it was swapped in: the previous table stays."""

    def __init__(self, table: str, failures: dict[str, int]):
        super().__init__(
            f"{table}: not published, blocking audits failed: "
            + ", ".join(f"{name} ({count} rows)" for name, count in sorted(failures.items()))
        )
        self.table, self.failures = table, failures


register_safe(AuditFailed)  # names audits and counts only: it keeps its type through the error scrubbing


# Runs on the writing connection against the unpublished table; returns the failing audits and their row counts.
Audit = Callable[[Any, str], dict[str, int]]


class WarehouseLocked(RuntimeError):
    """The DuckDB file stayed locked by another process for longer than the retry budget."""


@dataclass(frozen=True)
class Warehouse:
    url: str
    lock_timeout: float = 120.0  # DuckDB allows one writer process per file: wait this long for the lock
    memory_limit: str | None = None  # DuckDB: memory_limit of each connection (beyond it, it spills to disk)
    # set only on the copy that ``session()`` hands out: every statement of that copy runs on this connection
    shared_connection: Any = field(default=None, compare=False, repr=False)

    @property
    def dialect(self) -> str:
        backend = make_url(self.url).get_backend_name()
        if backend == "duckdb":
            return "duckdb"
        if backend in ("postgresql", "postgres"):
            return "postgres"
        raise ValueError(f"unsupported warehouse backend {backend!r}: use duckdb:/// or postgresql+psycopg://")

    @property
    def display_name(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    # -- connections -------------------------------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[Warehouse]:
        """A copy of this warehouse whose reads and writes all reuse one connection, closed at the end of the block:
        a step's lookups then cost one connection instead of one each."""
        if self.shared_connection is not None:
            yield self
            return
        con = self._open()
        try:
            yield replace(self, shared_connection=con)
        finally:
            con.close()

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A DB-API connection in UTC; committed by the caller's ``transaction``, always closed (a session's is
        left open, with no transaction left behind)."""
        if self.shared_connection is not None:
            try:
                yield self.shared_connection
            finally:
                self._end_open_transaction(self.shared_connection)
            return
        con = self._open()
        try:
            yield con
        finally:
            con.close()

    def _end_open_transaction(self, con: Any) -> None:
        # A PostgreSQL read opens a transaction implicitly; left open it would hold its locks and snapshot until the
        # session ends (a swap elsewhere would wait on them). DuckDB reads outside ``transaction`` commit themselves.
        if self.dialect == "postgres":
            import psycopg

            status = psycopg.pq.TransactionStatus
            if con.info.transaction_status in (status.INTRANS, status.INERROR):
                con.rollback()

    def _open(self):
        if self.dialect == "duckdb":
            import duckdb

            database = make_url(self.url).database or ":memory:"
            if database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            deadline = time.monotonic() + self.lock_timeout
            delay = 0.05
            while True:
                try:
                    con = duckdb.connect(database)
                    break
                except duckdb.IOException as exc:  # "Could not set lock on file": another writer holds it
                    if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                        raise WarehouseLocked(f"{database}: {exc}") from exc
                    if delay == 0.05:
                        logger.warning("warehouse %s is locked by another process; waiting up to %.0f s",
                                       database, self.lock_timeout)
                    time.sleep(delay + random.uniform(0, delay))
                    delay = min(delay * 2, 0.5)  # short polls: the lock is usually held for one statement
            con.execute("SET TimeZone = 'UTC'")
            # DuckDB's checkpoint merges every row group of the database that lost a quarter of its rows, whichever
            # table the checkpoint is for. An update in place deletes a scattered share of a table's rows, so that
            # merge rewrote most of every updated table at the next checkpoint. The tables updated in place are
            # compacted by their own share of deleted rows instead (compact_if_bloated).
            con.execute("SET max_vacuum_tasks = 0")
            if self.memory_limit:
                con.execute(f"SET memory_limit = '{self.memory_limit.replace(chr(39), '')}'")
            return con
        import psycopg

        url = make_url(self.url).set(drivername="postgresql")
        con = psycopg.connect(url.render_as_string(hide_password=False))
        con.execute("SET TIME ZONE 'UTC'")
        # An incremental build's scope filters are alternatives (``a in (...) or b in (...)``): PostgreSQL hashes
        # such a subquery only when its rows fit in work_mem, and otherwise rescans it for every row. The default
        # (4 MB) is far below the hash of a daily scope at 1M leads (500,000 appointment keys).
        con.execute(f"SET work_mem = '{POSTGRES_WORK_MEM}'")
        # JIT compiles each statement's expressions anew, 0.3 to 3 s per statement at 1M rows, and the statements
        # here are scans, joins and sorts that compiled expressions barely speed up (at 1M leads: the daily
        # reconcile's models 142 s with JIT, 125 s without; a full rebuild's 150 s and 145 s)
        con.execute("SET jit = off")
        con.commit()
        return con

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.connect() as con:
            if self.dialect == "duckdb":
                con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            with scrubbing("committing to the warehouse"):
                con.commit()

    # -- reads ---------------------------------------------------------------------------------------------------
    # Every statement's errors leave without row values (db_errors): names from the statement's own text stay.
    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """All rows."""
        with self.connect() as con, scrubbing("reading the warehouse", identifiers_in(sql)):
            cur = con.execute(self._params(sql), params or ())
            return cur.fetchall()

    def query_df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        with self.connect() as con, scrubbing("reading the warehouse", identifiers_in(sql)):
            cur = con.execute(self._params(sql), params or ())
            names = [d[0] for d in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=names, dtype=object)

    def stream(
        self, sql: str, params: Sequence[Any] | None = None, batch_size: int = 50_000
    ) -> Iterator[list[tuple]]:
        """The result in lists of at most ``batch_size`` rows (a server-side cursor on PostgreSQL): bounded memory."""
        with self.connect() as con:
            if self.dialect == "postgres":
                with con.transaction(), con.cursor(name="warehouse_stream") as cur:
                    cur.execute(sql, params or ())
                    while rows := cur.fetchmany(batch_size):
                        yield rows
            else:
                cur = con.execute(self._params(sql), params or ())
                while rows := cur.fetchmany(batch_size):
                    yield rows

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def table_exists(self, table: str) -> bool:
        return bool(
            self.scalar(
                "select count(*) from information_schema.tables where table_name = %s and table_schema = "
                + ("current_schema()" if self.dialect == "postgres" else "'main'"),
                [ident(table)],
            )
        )

    def table_columns(self, table: str, con: Any = None) -> list[tuple[str, str]]:
        """(column, normalized type) in table order; types are named the same on both engines. With ``con``, on
        that connection (a table created in its open transaction is visible only there)."""
        if con is None:
            rows = self.query(self._columns_sql(), [ident(table)])
        else:
            rows = self.execute(con, self._columns_sql(), [ident(table)]).fetchall()
        return [(name, normalize_type(data_type)) for name, data_type in rows]

    def _columns_sql(self) -> str:
        return (
            "select column_name, data_type from information_schema.columns where table_name = %s and table_schema = "
            + ("current_schema()" if self.dialect == "postgres" else "'main'")
            + " order by ordinal_position"
        )

    def _params(self, sql: str) -> str:
        # psycopg uses %s, DuckDB uses ?; code writes %s.
        return sql.replace("%s", "?") if self.dialect == "duckdb" else sql

    def execute(self, con: Any, sql: str, params: Sequence[Any] | None = None) -> Any:
        with scrubbing("writing the warehouse", identifiers_in(sql)):
            return con.execute(self._params(sql), params or ())

    # -- writes --------------------------------------------------------------------------------------------------
    def create_table_if_missing(self, con: Any, table: str, columns: Sequence[tuple[str, str]]) -> None:
        body = ", ".join(f"{ident(name)} {sql_type}" for name, sql_type in columns)
        con.execute(f"create table if not exists {ident(table)} ({body})")

    def add_missing_columns(self, con: Any, table: str, columns: Sequence[tuple[str, str]]) -> list[str]:
        """Add the columns a newer release of the table has (nullable, so rows loaded before read as null)."""
        present = {name for name, _ in self.execute(con, self._columns_sql(), [ident(table)]).fetchall()}
        added = [name for name, _ in columns if name not in present]
        for name, sql_type in columns:
            if name in added:
                con.execute(f"alter table {ident(table)} add column {ident(name)} {sql_type}")
        return added

    def bulk_insert(self, con: Any, table: str, data: pa.Table) -> int:
        """Append an Arrow table (columns named like the target's) in one bulk operation."""
        if data.num_rows == 0:
            return 0
        with scrubbing(f"loading rows into {table}", [table, *data.column_names]):
            return self._bulk_insert(con, table, data)

    def _bulk_insert(self, con: Any, table: str, data: pa.Table) -> int:
        names = ", ".join(ident(n) for n in data.column_names)
        if self.dialect == "duckdb":
            con.register("_incoming_rows", data)
            try:
                con.execute(f"insert into {ident(table)} ({names}) select {names} from _incoming_rows")
            finally:
                con.unregister("_incoming_rows")
        elif all(_csv_safe(field.type) for field in data.schema):
            # Arrow writes the CSV in C++: no Python object per value. Strings are always quoted, so an empty string
            # stays "" while a null is an unquoted empty field, which is what COPY's CSV format reads as null.
            options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
            with con.cursor() as cur, cur.copy(f"copy {ident(table)} ({names}) from stdin (format csv)") as copy:
                for batch in data.to_batches(max_chunksize=50_000):  # bounded memory at a time
                    sink = io.BytesIO()
                    pacsv.write_csv(batch, sink, options)
                    copy.write(sink.getbuffer())
        else:
            with con.cursor() as cur, cur.copy(f"copy {ident(table)} ({names}) from stdin") as copy:
                for batch in data.to_batches(max_chunksize=50_000):  # bounded Python objects at a time
                    for row in zip(*(column.to_pylist() for column in batch.columns)):
                        copy.write_row(row)
        return data.num_rows

    def replace_table_with_rows(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        data: pa.Table,
        audit: Audit | None = None,
        also: Callable[[Any], None] | None = None,
    ) -> int:
        """Swap a whole table for ``data`` (scratch table, audited, renamed in one transaction); ``also(con)`` runs in
        the same transaction (bookkeeping that must commit with the rows)."""
        scratch = f"{ident(table)}__scratch"
        with self.transaction() as con:
            con.execute(f"drop table if exists {scratch}")
            self.create_table_if_missing(con, scratch, columns)
            count = self.bulk_insert(con, scratch, data)
            self._audit(con, table, scratch, audit)
            self._swap(con, scratch, table)
            self.analyze(con, table)
            if also is not None:
                also(con)
        return count

    def replace_table_with_query(
        self,
        table: str,
        select_sql: str,
        audit: Audit | None = None,
        also: Callable[[Any], None] | None = None,
    ) -> int:
        """Rebuild a model: ``create table scratch as <select>``, audit it, then swap it in; all or nothing.
        ``also(con)`` runs in the same transaction (bookkeeping that must commit with the rows)."""
        scratch = f"{ident(table)}__scratch"
        with self.transaction() as con, scrubbing(f"rebuilding {table}", identifiers_in(select_sql, scratch)):
            con.execute(f"drop table if exists {scratch}")
            con.execute(f"create table {scratch} as {select_sql}")
            count = con.execute(f"select count(*) from {scratch}").fetchone()[0]
            self._audit(con, table, scratch, audit)
            self._swap(con, scratch, table)
            self.analyze(con, table)
            if also is not None:
                also(con)
        return count

    def _audit(self, con: Any, table: str, candidate: str, audit: Audit | None) -> None:
        if audit is None:
            return
        failures = {name: count for name, count in audit(con, candidate).items() if count}
        if failures:
            raise AuditFailed(table, failures)

    def analyze(self, con: Any, table: str) -> None:
        """Fresh planner statistics: PostgreSQL otherwise plans the next model on a new table blind (nested loops)."""
        if self.dialect == "postgres":
            con.execute(f"analyze {ident(table)}")

    def compact_if_bloated(
        self, con: Any, table: str, *, deleting: str | None = None, appending: str | None = None
    ) -> bool:
        """DuckDB: rewrite ``table`` (in the caller's transaction) when the deleted rows its last commit left stored
        exceed DEAD_ROW_SHARE of its live rows; True when it did. A writer that deletes part of a large table calls
        it before its delete, with the delete's condition (``deleting``) and, if it then inserts the rows of a select
        of all the table's columns in order, that select (``appending``): the rewrite leaves out the rows the
        condition holds for and adds the select's in the same pass, so on True the caller skips that delete and
        insert. PostgreSQL's autovacuum does this itself."""
        if self.dialect != "duckdb":
            return False
        stored = con.execute(
            "select estimated_size from duckdb_tables() where database_name = current_database() "
            "and schema_name = 'main' and table_name = ?", [ident(table)],
        ).fetchone()
        live = con.execute(f"select count(*) from {ident(table)}").fetchone()[0]
        if stored is None or stored[0] - live <= DEAD_ROW_SHARE * live:
            return False
        started = time.perf_counter()
        scratch = f"{ident(table)}__compacted"
        kept = f"select * from {ident(table)}" + (f" where ({deleting}) is not true" if deleting else "")
        con.execute(f"drop table if exists {scratch}")
        con.execute(f"create table {scratch} as {kept}" + (f" union all {appending}" if appending else ""))
        self._swap(con, scratch, table)
        logger.info("compacted %s: %d stored rows, %d live, in %.1f s", table, stored[0], live,
                    time.perf_counter() - started)
        return True

    def _swap(self, con: Any, scratch: str, table: str) -> None:
        con.execute(f"drop table if exists {ident(table)}")
        con.execute(f"alter table {scratch} rename to {ident(table)}")


POSTGRES_WORK_MEM = "256MB"  # per sort or hash of a warehouse statement (see _open)
DEAD_ROW_SHARE = 0.5  # deleted rows a DuckDB table updated in place may keep, as a share of its live rows

_TYPE_NAMES = {
    "character varying": "text",
    "varchar": "text",
    "text": "text",
    "bigint": "bigint",
    "integer": "integer",
    "int": "integer",
    "boolean": "boolean",
    "date": "date",
    "timestamp with time zone": "timestamptz",
    "timestamptz": "timestamptz",
    "timestamp without time zone": "timestamp",
    "timestamp": "timestamp",
    "double precision": "double",
    "double": "double",
    "numeric": "numeric",
    "hugeint": "hugeint",
}


def _csv_safe(data_type: pa.DataType) -> bool:
    """Types whose Arrow CSV text PostgreSQL reads back as the same value (no floats: their text may round)."""
    return (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_integer(data_type)
        or pa.types.is_boolean(data_type)
        or pa.types.is_date32(data_type)
        or pa.types.is_timestamp(data_type)
        or pa.types.is_null(data_type)
    )


def normalize_type(data_type: str) -> str:
    return _TYPE_NAMES.get(data_type.lower(), data_type.lower())
