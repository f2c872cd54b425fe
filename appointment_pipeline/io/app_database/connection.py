"""The application database connection: dialect spellings, transactions and bulk loads into temporary tables."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy.engine import make_url

from appointment_pipeline.io.app_database.model import ENUM_VALUES, round_ms, sqlite_text
from appointment_pipeline.io.warehouse import Warehouse

# -- the database ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppDatabase:
    """The application database (``APPOINTMENT_SOURCE_DB_URL``): PostgreSQL in production, SQLite in the demo."""

    url: str

    @cached_property
    def dialect(self) -> str:
        backend = make_url(self.url).get_backend_name()
        if backend in ("postgresql", "postgres"):
            return "postgres"
        if backend == "sqlite":
            return "sqlite"
        raise ValueError(f"publishing supports PostgreSQL and SQLite application databases, not {backend!r}")

    @property
    def display_name(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A DB-API connection: psycopg in UTC, or sqlite3 in autocommit mode with foreign keys enforced."""
        if self.dialect == "postgres":
            import psycopg

            url = make_url(self.url).set(drivername="postgresql")
            # autocommit: transactions are explicit statements, so a plan can run in a read-only one
            con: Any = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            con.execute("set time zone 'UTC'")
            # The plan hash-joins the whole incoming set: at the default 4MB the joins spill to disk (4x slower).
            # Temporary tables live in session-local buffers, 8MB by default: a million incoming rows need more.
            con.execute("set work_mem = '256MB'")
            # (the loaded rows, the plan and the rows to write of a first publish: about 1 GB at a million rows)
            con.execute("set temp_buffers = '1GB'")
            # JIT compiles the wide plan expressions anew for every statement: seconds per statement, no gain here
            con.execute("set jit = off")
        else:
            con = sqlite3.connect(make_url(self.url).database or ":memory:", isolation_level=None)
            con.execute("pragma foreign_keys = on")
            # SQLite's default page cache is 2 MB: an upsert into a large "Appointment" re-reads its index pages
            # row after row, and the plan's temporary tables (the loaded rows, the plan, the rows to write) spill.
            # 256 MB each (in KiB), taken only as pages are read; beyond it the temporary tables spill to a file.
            con.execute("pragma main.cache_size = -262144")
            con.execute("pragma temp.cache_size = -262144")
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self, con: Any, *, read_only: bool = False) -> Iterator[None]:
        if self.dialect == "postgres":
            con.execute("begin read only" if read_only else "begin")
        else:
            con.execute("begin" if read_only else "begin immediate")
        try:
            yield
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")

    def execute(self, con: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.dialect == "sqlite":
            sql = sql.replace("%s", "?")
        return con.execute(sql, params) if params else con.execute(sql)

    def target_identity(self, con: Any, table: str) -> str:
        """Which table of which database a publish writes (no password): a re-created or truncated table is another
        target (PostgreSQL oid and file node; SQLite file and schema version, which moves with every DDL)."""
        if self.dialect == "postgres":
            row = self.execute(
                con, "select oid, pg_relation_filenode(oid) from pg_class where oid = to_regclass(%s)", [f'"{table}"']
            ).fetchone()
            found = f"{row[0]}:{row[1]}" if row else "missing"
        else:
            version = self.execute(con, "pragma main.schema_version").fetchone()[0]
            path = make_url(self.url).database or ":memory:"
            # an in-memory database is a new one every connection: never the recorded target
            found = f"{os.stat(path).st_ino}:{version}" if os.path.exists(path) else f"memory:{os.urandom(8).hex()}"
        return f"{self.display_name} {table} {found}"

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self.connect() as con:
            row = self.execute(con, sql, params).fetchone()
            return row[0] if row else None

    # dialect spellings -------------------------------------------------------------------------------------------
    def distinct(self, a: str, b: str) -> str:
        return f"{a} is distinct from {b}" if self.dialect == "postgres" else f"{a} is not {b}"

    def same(self, a: str, b: str) -> str:
        return f"{a} is not distinct from {b}" if self.dialect == "postgres" else f"{a} is {b}"

    def bytewise(self, expr: str) -> str:
        """``expr`` ordered byte by byte (ids are hex and ASCII: the database's collation adds cost, not meaning)."""
        return f'{expr} collate "C"' if self.dialect == "postgres" else expr

    def cast_enum(self, expr: str, kind: str) -> str:
        return f'{expr}::"{kind}"' if self.dialect == "postgres" and kind in ENUM_VALUES else expr

    def as_text(self, expr: str, kind: str) -> str:
        return f"{expr}::text" if self.dialect == "postgres" and kind in ENUM_VALUES else expr

    def lead_instant(self, expr: str) -> str:
        """A "Lead" timestamp as a millisecond UTC instant, whatever its column type (timestamp, timestamptz, text)."""
        if self.dialect == "postgres":
            return f"({expr})::timestamptz(3)"
        return f"strftime('%Y-%m-%dT%H:%M:%fZ', {expr})"

    @property
    def instant_type(self) -> str:
        """Type of the instants in the temporary tables; PostgreSQL rounds them to the millisecond on input, and
        compares and assigns them to the application's timestamp(3) columns in the session's time zone, UTC."""
        return "timestamptz(3)" if self.dialect == "postgres" else "text"

    def app_timestamp(self, value: datetime | None) -> Any:
        """An instant in the form the application's ``"Appointment"`` stores."""
        if self.dialect == "sqlite":
            return sqlite_text(value)
        value = round_ms(value)
        return value.replace(tzinfo=None) if value is not None else None

    def load_from_warehouse(
        self,
        con: Any,
        wh: Warehouse,
        select_sql: str,
        table: str,
        columns: Sequence[str],
        timestamps: Sequence[int],
        *,
        binary: bool = False,
    ) -> None:
        """Bulk-load the warehouse query's rows into a temporary table of this database.

        PostgreSQL to PostgreSQL pipes COPY TO into COPY FROM (no Python per row); ``binary`` skips the text
        round trip as well, for a query that yields exactly the table's column types (cast in the query). Otherwise
        rows are streamed in bounded chunks, instants converted to the demo's text form on SQLite.
        """
        if wh.dialect == "postgres" and self.dialect == "postgres":
            names = ", ".join(f'"{c}"' for c in columns)
            form = " (format binary)" if binary else ""
            with wh.connect() as source, source.cursor() as out_cur, con.cursor() as in_cur:
                with out_cur.copy(f"copy ({select_sql}) to stdout{form}") as out, in_cur.copy(
                    f"copy {table} ({names}) from stdin{form}"
                ) as incoming:
                    for data in out:
                        incoming.write(data)
            return
        if self.dialect == "sqlite" and timestamps:
            # the warehouse writes the instants as the demo's text (sqlite_text, proven equal by a test): no Python
            # call per value
            select_sql = instants_as_sqlite_text(select_sql, len(columns), timestamps, wh.dialect)

        def rows() -> Iterator[tuple]:
            for chunk in wh.stream(select_sql):
                yield from chunk

        self.bulk_load(con, table, columns, rows())

    def bulk_load(self, con: Any, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
        """Append rows to a (temporary) table: COPY on PostgreSQL, executemany on SQLite."""
        names = ", ".join(f'"{c}"' for c in columns)
        count = 0
        if self.dialect == "postgres":
            with con.cursor() as cur, cur.copy(f"copy {table} ({names}) from stdin") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        marks = ", ".join("?" for _ in columns)
        batch: list[tuple] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= 10_000:
                con.executemany(f"insert into {table} ({names}) values ({marks})", batch)
                count += len(batch)
                batch = []
        if batch:
            con.executemany(f"insert into {table} ({names}) values ({marks})", batch)
            count += len(batch)
        return count



def sqlite_text_sql(expr: str, dialect: str) -> str:
    """``sqlite_text`` in the warehouse's SQL: the instant rounded half up to the millisecond, as fixed-width
    ISO-8601 UTC text (the session's time zone is UTC)."""
    rounded = f"date_trunc('milliseconds', {expr} + interval '500 microseconds')"
    if dialect == "duckdb":
        return f"strftime(cast({rounded} as timestamp), '%Y-%m-%dT%H:%M:%S.%g') || 'Z'"
    return f"""to_char({rounded}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""


def instants_as_sqlite_text(select_sql: str, width: int, timestamps: Sequence[int], dialect: str) -> str:
    """``select_sql`` (``width`` columns) with the columns at ``timestamps`` written as the demo's instant text."""
    names = [f"c{i}" for i in range(width)]
    exprs = [sqlite_text_sql(name, dialect) if i in set(timestamps) else name for i, name in enumerate(names)]
    return f"select {', '.join(exprs)} from ({select_sql}) as loaded({', '.join(names)})"
