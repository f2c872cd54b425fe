"""Publishing the warehouse's appointments and lead rollups into the application database (no Dagster imports).

The application (Prisma) owns ``"Appointment"`` and ``"Lead"``. This module

* checks that the live tables have the shape the publish writes (``verify_app_schema``) and stops with a message
  naming every difference, instead of creating or altering anything;
* plans a publish entirely inside the application database: the warehouse rows are bulk-loaded into session
  temporary tables (PostgreSQL COPY, SQLite executemany), then a handful of set-based statements match them to the
  existing rows and classify each one (insert, update, unchanged, skip). The plan phase runs in a read-only
  transaction on PostgreSQL, so a dry run cannot write even by mistake;
* applies the plan in batches, each one ``INSERT ... SELECT ... ON CONFLICT ("id") DO UPDATE ... WHERE`` (or one
  compare-and-set ``UPDATE ... FROM`` for the leads) in its own transaction. The ``WHERE`` repeats the guards at
  write time, so a row the application changed after the plan is still left alone.

Timestamps: a Prisma ``DateTime`` holds UTC with millisecond precision (``timestamp(3)`` on PostgreSQL, ISO-8601
text on the SQLite demo). Every instant is rounded to the millisecond before it is written or compared, the same
rounding the databases apply on input, so publishing an unchanged state compares equal and writes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from appointment_pipeline.io.warehouse import Warehouse

UTC = timezone.utc
DEFAULT_BATCH_SIZE = 50_000
SAMPLE_SIZE = 10

ENUM_VALUES: dict[str, tuple[str, ...]] = {
    "AppointmentStatus": ("CONFIRMED", "CANCELED", "RESCHEDULED", "SHOWED", "NO_SHOW"),
    "AppointmentSource": ("WEBHOOK", "RECONCILE_CRON", "BACKFILL", "AUTO_BOOK", "MANUAL", "MIGRATION"),
    "MeetingBookingProvider": ("GHL", "CALENDLY"),
}


@dataclass(frozen=True)
class AppColumn:
    name: str
    kind: str  # "text", "timestamp" or the name of an enum type
    nullable: bool
    warehouse: str | None  # column of the warehouse ``appointments`` table it is written from

    @property
    def is_enum(self) -> bool:
        return self.kind in ENUM_VALUES


APPOINTMENT_COLUMNS: tuple[AppColumn, ...] = (
    AppColumn("id", "text", False, None),
    AppColumn("leadId", "text", False, "lead_id"),
    AppColumn("provider", "MeetingBookingProvider", False, "provider"),
    AppColumn("ghlAppointmentId", "text", True, "ghl_appointment_id"),
    AppColumn("calendlyInviteeUri", "text", True, "calendly_invitee_uri"),
    AppColumn("calendlyScheduledEventUri", "text", True, "calendly_scheduled_event_uri"),
    AppColumn("startAt", "timestamp", True, "start_at"),
    AppColumn("endAt", "timestamp", True, "end_at"),
    AppColumn("timezone", "text", True, "timezone"),
    AppColumn("status", "AppointmentStatus", False, "status"),
    AppColumn("statusChangedAt", "timestamp", False, "status_changed_at"),
    AppColumn("canceledAt", "timestamp", True, "canceled_at"),
    AppColumn("cancelReason", "text", True, "cancel_reason"),
    AppColumn("rescheduledFromId", "text", True, "rescheduled_from_id"),
    AppColumn("source", "AppointmentSource", False, "source"),
    AppColumn("createdAt", "timestamp", False, "created_at"),
    AppColumn("updatedAt", "timestamp", False, "updated_at"),
)
_BY_NAME = {c.name: c for c in APPOINTMENT_COLUMNS}
# Columns the pipeline keeps in step on an existing row. `source` and `createdAt` record how and when the
# application first learned of the appointment and stay as the application wrote them; `updatedAt` moves with
# every write but alone is no reason for one.
COMPARED_COLUMNS: tuple[str, ...] = (
    "leadId", "provider", "ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri", "startAt", "endAt",
    "timezone", "status", "statusChangedAt", "canceledAt", "cancelReason", "rescheduledFromId",
)
# Incoming rows carry every column but the application id and the link, which are resolved in the database.
INCOMING_COLUMNS: tuple[str, ...] = tuple(c.name for c in APPOINTMENT_COLUMNS if c.name not in ("id", "rescheduledFromId"))


@dataclass(frozen=True)
class LeadField:
    column: str  # "Lead" column
    warehouse: str  # same-named column of raw_leads (value as read) and lead_appointment_rollups (new value)
    kind: str  # "text" or "timestamp"


LEAD_ROLLUP_FIELDS: tuple[LeadField, ...] = (
    LeadField("appointmentProvider", "appointment_provider", "text"),
    LeadField("ghlAppointmentId", "ghl_appointment_id", "text"),
    LeadField("calendlyInviteeUri", "calendly_invitee_uri", "text"),
    LeadField("calendlyScheduledEventUri", "calendly_scheduled_event_uri", "text"),
    LeadField("appointmentStatus", "appointment_status", "text"),
    LeadField("appointmentSource", "appointment_source", "text"),
    LeadField("appointmentStartAt", "appointment_start_at", "timestamp"),
    LeadField("appointmentEndAt", "appointment_end_at", "timestamp"),
    LeadField("appointmentTimezone", "appointment_timezone", "text"),
    LeadField("appointmentBookedAt", "appointment_booked_at", "timestamp"),
    LeadField("appointmentCanceledAt", "appointment_canceled_at", "timestamp"),
)


class AppSchemaMismatch(RuntimeError):
    """The application database does not have the shape the publish writes; nothing was written."""


# -- values ---------------------------------------------------------------------------------------------------------


def round_ms(value: datetime | None) -> datetime | None:
    """UTC instant rounded to the millisecond (what timestamp(3) stores); naive values are UTC already."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    else:
        value = value.replace(tzinfo=UTC)
    value = value + timedelta(microseconds=500)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def sqlite_text(value: datetime | None) -> str | None:
    """The demo's text form of an instant: fixed-width ISO-8601 UTC with milliseconds."""
    value = round_ms(value)
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _identity(value: Any) -> Any:
    return value


def derived_app_id(warehouse_id: str) -> str:
    """The application id of an appointment the application does not have yet: its warehouse id (the md5 of
    provider and key, 32 hex digits) written as a uuid. ``derived_app_id_sql`` is the same in SQL."""
    h = warehouse_id
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def derived_app_id_sql(expr: str) -> str:
    parts = [(1, 8), (9, 4), (13, 4), (17, 4), (21, 12)]
    return " || '-' || ".join(f"substr({expr}, {start}, {length})" for start, length in parts)


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
            con = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            con.execute("set time zone 'UTC'")
            # The plan hash-joins the whole incoming set: at the default 4MB the joins spill to disk (4x slower).
            # Temporary tables live in session-local buffers, 8MB by default: a million incoming rows need more.
            con.execute("set work_mem = '256MB'")
            con.execute("set temp_buffers = '512MB'")
        else:
            con = sqlite3.connect(make_url(self.url).database or ":memory:", isolation_level=None)
            con.execute("pragma foreign_keys = on")
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

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self.connect() as con:
            row = self.execute(con, sql, params).fetchone()
            return row[0] if row else None

    # dialect spellings -------------------------------------------------------------------------------------------
    def distinct(self, a: str, b: str) -> str:
        return f"{a} is distinct from {b}" if self.dialect == "postgres" else f"{a} is not {b}"

    def same(self, a: str, b: str) -> str:
        return f"{a} is not distinct from {b}" if self.dialect == "postgres" else f"{a} is {b}"

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

    def incoming_timestamp(self) -> Callable[[datetime | None], Any]:
        """How an instant read from the warehouse is loaded into a temporary table: as is into PostgreSQL's
        timestamptz(3), as millisecond text on SQLite."""
        return sqlite_text if self.dialect == "sqlite" else _identity

    def load_from_warehouse(
        self, con: Any, wh: Warehouse, select_sql: str, table: str, columns: Sequence[str], timestamps: Sequence[int]
    ) -> None:
        """Bulk-load the warehouse query's rows into a temporary table of this database.

        PostgreSQL to PostgreSQL pipes COPY TO into COPY FROM (no Python per row); otherwise rows are streamed in
        bounded chunks, instants converted to the demo's text form on SQLite.
        """
        if wh.dialect == "postgres" and self.dialect == "postgres":
            names = ", ".join(f'"{c}"' for c in columns)
            with wh.connect() as source, source.cursor() as out_cur, con.cursor() as in_cur:
                with out_cur.copy(f"copy ({select_sql}) to stdout") as out, in_cur.copy(
                    f"copy {table} ({names}) from stdin"
                ) as incoming:
                    for data in out:
                        incoming.write(data)
            return
        convert = self.incoming_timestamp()

        def rows() -> Iterator[tuple]:
            for chunk in wh.stream(select_sql):
                if convert is _identity:
                    yield from chunk
                    continue
                for row in chunk:
                    row = list(row)
                    for i in timestamps:
                        row[i] = convert(row[i])
                    yield tuple(row)

        self.bulk_load(con, table, columns, rows())

    def bulk_load(self, con: Any, table: str, columns: Sequence[str], rows: Iterator[tuple]) -> int:
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


# -- the shipped schema (demo and tests only) -----------------------------------------------------------------------


def schema_ddl(dialect: str) -> str:
    """The shipped DDL of the application's ``"Appointment"`` model for ``postgres`` or ``sqlite``."""
    return resources.files("appointment_pipeline.io.app_schema").joinpath(f"{dialect}.sql").read_text()


def _statements(ddl: str) -> list[str]:
    body = "\n".join(line for line in ddl.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def supports_publish(url: str) -> bool:
    return make_url(url).get_backend_name() in ("postgresql", "postgres", "sqlite")


def drop_app_schema(url: str) -> None:
    """Drop ``"Appointment"`` (and its enum types on PostgreSQL) if present: the demo recreates ``"Lead"`` under it."""
    app = AppDatabase(url)
    if app.dialect == "sqlite":
        database = make_url(url).database
        if not database or database == ":memory:" or not Path(database).expanduser().exists():
            return
    with app.connect() as con, app.transaction(con):
        app.execute(con, 'drop table if exists "Appointment"')
        if app.dialect == "postgres":
            for name in ENUM_VALUES:
                app.execute(con, f'drop type if exists "{name}"')


def create_app_schema(url: str) -> None:
    """Create ``"Appointment"`` from the shipped DDL (the demo's stand-in for the application's migrations)."""
    app = AppDatabase(url)
    drop_app_schema(url)
    with app.connect() as con, app.transaction(con):
        for statement in _statements(schema_ddl(app.dialect)):
            app.execute(con, statement)


# -- shape verification ---------------------------------------------------------------------------------------------


def verify_app_schema(app: AppDatabase, con: Any) -> None:
    """Raise ``AppSchemaMismatch`` naming every difference between the live tables and what the publish writes."""
    problems = _postgres_shape(app, con) if app.dialect == "postgres" else _sqlite_shape(app, con)
    if problems:
        raise AppSchemaMismatch(
            f"the application database {app.display_name} does not have the expected shape; nothing was written. "
            "The application owns these tables (migrate it, the pipeline never alters them): " + "; ".join(problems)
        )


def _postgres_shape(app: AppDatabase, con: Any) -> list[str]:
    problems: list[str] = []
    rows = app.execute(
        con,
        "select table_name, column_name, data_type, udt_name, is_nullable, column_default, datetime_precision "
        "from information_schema.columns where table_schema = current_schema() and table_name in ('Appointment', 'Lead')",
    ).fetchall()
    live = {(r[0], r[1]): r[2:] for r in rows}
    if not any(t == "Appointment" for t, _ in live):
        return ['table "Appointment" is missing']
    for column in APPOINTMENT_COLUMNS:
        found = live.get(("Appointment", column.name))
        if found is None:
            problems.append(f'column "Appointment"."{column.name}" is missing')
            continue
        data_type, udt, is_nullable, _default, precision = found
        if column.is_enum:
            if udt != column.kind:
                problems.append(f'column "Appointment"."{column.name}" is {udt}, expected enum "{column.kind}"')
        elif column.kind == "timestamp":
            if data_type != "timestamp without time zone" or precision != 3:
                problems.append(
                    f'column "Appointment"."{column.name}" is {data_type}({precision}), expected timestamp(3)'
                )
        elif data_type not in ("text", "character varying"):
            problems.append(f'column "Appointment"."{column.name}" is {data_type}, expected text')
        if column.nullable and is_nullable != "YES":
            problems.append(f'column "Appointment"."{column.name}" is NOT NULL, expected nullable')
    known = {c.name for c in APPOINTMENT_COLUMNS}
    for (table, name), (_t, _u, is_nullable, default, _p) in sorted(live.items()):
        if table == "Appointment" and name not in known and is_nullable == "NO" and default is None:
            problems.append(f'column "Appointment"."{name}" is NOT NULL without a default (the publish cannot fill it)')
    labels = app.execute(
        con,
        "select t.typname, e.enumlabel from pg_type t join pg_enum e on e.enumtypid = t.oid "
        "join pg_namespace n on n.oid = t.typnamespace where n.nspname = current_schema()",
    ).fetchall()
    by_type: dict[str, set[str]] = {}
    for typname, label in labels:
        by_type.setdefault(typname, set()).add(label)
    for enum, values in ENUM_VALUES.items():
        if enum not in by_type:
            problems.append(f'enum type "{enum}" is missing')
            continue
        missing = [v for v in values if v not in by_type[enum]]
        if missing:
            problems.append(f'enum "{enum}" lacks value(s) {", ".join(missing)}')
    unique = {
        r[0]
        for r in app.execute(
            con,
            "select a.attname from pg_index i join pg_class c on c.oid = i.indrelid "
            "join pg_namespace n on n.oid = c.relnamespace join pg_attribute a on a.attrelid = c.oid "
            "and a.attnum = i.indkey[0] where c.relname = 'Appointment' and n.nspname = current_schema() "
            "and i.indisunique and i.indnkeyatts = 1 and i.indpred is null",
        ).fetchall()
    }
    for name in ("id", "ghlAppointmentId", "calendlyInviteeUri"):
        if ("Appointment", name) in live and name not in unique:
            problems.append(f'column "Appointment"."{name}" has no unique index')
    problems += _lead_problems(live, lambda t: t[0] in ("timestamp without time zone", "timestamp with time zone"))
    return problems


def _sqlite_shape(app: AppDatabase, con: Any) -> list[str]:
    problems: list[str] = []
    live: dict[tuple[str, str], tuple] = {}
    for table in ("Appointment", "Lead"):
        for _cid, name, decl, notnull, default, _pk in con.execute(f'pragma main.table_info("{table}")').fetchall():
            live[(table, name)] = ((decl or "").lower(), notnull, default)
    if not any(t == "Appointment" for t, _ in live):
        return ['table "Appointment" is missing']
    for column in APPOINTMENT_COLUMNS:
        found = live.get(("Appointment", column.name))
        if found is None:
            problems.append(f'column "Appointment"."{column.name}" is missing')
            continue
        decl, notnull, _default = found
        expected = ("datetime", "timestamp", "text") if column.kind == "timestamp" else ("text", "")
        if decl not in expected:
            problems.append(f'column "Appointment"."{column.name}" is {decl}, expected {expected[0]}')
        if column.nullable and notnull:
            problems.append(f'column "Appointment"."{column.name}" is NOT NULL, expected nullable')
    known = {c.name for c in APPOINTMENT_COLUMNS}
    for (table, name), (_decl, notnull, default) in sorted(live.items()):
        if table == "Appointment" and name not in known and notnull and default is None:
            problems.append(f'column "Appointment"."{name}" is NOT NULL without a default (the publish cannot fill it)')
    unique: set[str] = set()
    for _seq, index, is_unique, _origin, _partial in con.execute('pragma main.index_list("Appointment")').fetchall():
        cols = [r[2] for r in con.execute(f'pragma main.index_info("{index}")').fetchall()]
        if is_unique and len(cols) == 1:
            unique.add(cols[0])
    for name in ("id", "ghlAppointmentId", "calendlyInviteeUri"):
        if ("Appointment", name) in live and name not in unique:
            problems.append(f'column "Appointment"."{name}" has no unique index')
    problems += _lead_problems(live, lambda t: True)
    return problems


def _lead_problems(live: dict, timestamp_ok: Callable[[tuple], bool]) -> list[str]:
    if not any(t == "Lead" for t, _ in live):
        return ['table "Lead" is missing']
    problems = []
    for name in ["id", *(f.column for f in LEAD_ROLLUP_FIELDS)]:
        found = live.get(("Lead", name))
        if found is None:
            problems.append(f'column "Lead"."{name}" is missing')
        elif name.endswith("At") and not timestamp_ok(found):
            problems.append(f'column "Lead"."{name}" is {found[0]}, expected a timestamp')
    return problems


# -- plans and results ----------------------------------------------------------------------------------------------


@dataclass
class PublishResult:
    """What a publish found (the plan) and, when applied, what it wrote."""

    target: str
    applied: bool
    actions: dict[str, int] = field(default_factory=dict)  # insert / update / unchanged / skip_* -> rows
    changed_fields: dict[str, int] = field(default_factory=dict)  # rows to update per changed column
    sample: list[dict] = field(default_factory=list)  # a few planned changes by id
    batches: int = 0
    batches_written: int = 0
    written: int = 0  # rows actually inserted or updated
    skipped_at_write: int = 0  # planned writes the application overtook between plan and write

    @property
    def planned_writes(self) -> int:
        return self.actions.get("insert", 0) + self.actions.get("update", 0)

    @property
    def skipped(self) -> int:
        return sum(n for action, n in self.actions.items() if action.startswith("skip"))


AfterBatch = Callable[[int, int], None]  # (batch number, rows written), called after each batch commits


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")


def _run_batches(app: AppDatabase, con: Any, result: PublishResult, sql: str, after_batch: AfterBatch | None) -> None:
    for batch in range(result.batches):
        with app.transaction(con):
            written = app.execute(con, sql, [batch]).rowcount
        result.batches_written += 1
        result.written += written
        if after_batch is not None:
            after_batch(batch, written)
    result.skipped_at_write = result.planned_writes - result.written


def _collect(
    app: AppDatabase, con: Any, plan: str, key: str, order: str, flags: Sequence[str], result: PublishResult
) -> None:
    rows = app.execute(con, f"select action, count(*) from {plan} group by action").fetchall()
    result.actions = {action: int(n) for action, n in sorted(rows)}
    sums = ", ".join(f'coalesce(sum("chg_{f}"), 0)' for f in flags)
    totals = app.execute(con, f"select {sums} from {plan} where action = 'update'").fetchone()
    result.changed_fields = {f: int(n) for f, n in zip(flags, totals) if n}
    flag_list = ", ".join(f'"chg_{f}"' for f in flags)
    sample = app.execute(
        con,
        f'select "{key}", action, batch, {flag_list} from {plan} where action in (\'insert\', \'update\') '
        f"order by batch, {order} limit {SAMPLE_SIZE}",
    ).fetchall()
    # in write order, so the first rows of the sample are the first rows an apply writes
    result.sample = [
        {"id": row[0], "action": row[1], "batch": row[2],
         "fields": [f for f, v in zip(flags, row[3:]) if v and row[1] == "update"]}
        for row in sample
    ]
    result.batches = int(app.execute(con, f"select coalesce(max(batch) + 1, 0) from {plan}").fetchone()[0])


# -- appointments ---------------------------------------------------------------------------------------------------

_IN = "_publish_appointments_in"
_PLAN = "_publish_appointments_plan"
_MATCH = "_publish_appointments_match"
_WRITE_ORDER = 'depth, "whId"'  # predecessors first, so a link always points to a row already written


# Not-null application columns: the latest observation stands in for a missing booking or status time.
_WAREHOUSE_EXPRESSIONS = {
    "updated_at": "coalesce(updated_at, created_at, status_changed_at)",
    "created_at": "coalesce(created_at, updated_at, status_changed_at)",
    "status_changed_at": "coalesce(status_changed_at, updated_at, created_at)",
}
_IN_COLUMNS = ("whId", "whFromId", *INCOMING_COLUMNS)


def _incoming_appointments_sql() -> str:
    select = [_WAREHOUSE_EXPRESSIONS.get(w, w) for w in (_BY_NAME[c].warehouse for c in INCOMING_COLUMNS)]
    return f"select id, rescheduled_from_id, {', '.join(select)} from appointments"


def publish_appointments(
    wh: Warehouse,
    app: AppDatabase,
    *,
    apply: bool,
    batch_size: int = DEFAULT_BATCH_SIZE,
    after_batch: AfterBatch | None = None,
) -> PublishResult:
    """Upsert the warehouse ``appointments`` into ``"Appointment"`` (``apply``) or only report the plan."""
    result = PublishResult(target='"Appointment"', applied=apply)
    _check_batch_size(batch_size)
    with app.connect() as con:
        verify_app_schema(app, con)
        _create_appointment_temp_tables(app, con)
        with app.transaction(con, read_only=True):
            timestamps = [i for i, c in enumerate(_IN_COLUMNS) if c in _BY_NAME and _BY_NAME[c].kind == "timestamp"]
            app.load_from_warehouse(con, wh, _incoming_appointments_sql(), _IN, _IN_COLUMNS, timestamps)
            if app.dialect == "postgres":
                app.execute(con, f"analyze {_IN}")
            for statement in _appointment_plan_sql(app, batch_size):
                app.execute(con, statement)
            _collect(app, con, _PLAN, "appId", _WRITE_ORDER, COMPARED_COLUMNS, result)
        if apply:
            _run_batches(app, con, result, _appointment_upsert_sql(app), after_batch)
    return result


def _create_appointment_temp_tables(app: AppDatabase, con: Any) -> None:
    def col_type(name: str) -> str:
        return app.instant_type if _BY_NAME[name].kind == "timestamp" else "text"

    incoming = ", ".join(f'"{c}" {col_type(c)}' for c in INCOMING_COLUMNS)
    flags = ", ".join(f'"chg_{c}" integer' for c in COMPARED_COLUMNS)
    with app.transaction(con):
        app.execute(con, f"drop table if exists {_IN}")
        app.execute(con, f"drop table if exists {_PLAN}")
        app.execute(con, f"drop table if exists {_MATCH}")
        app.execute(con, f'create temp table {_IN} ("whId" text primary key, "whFromId" text, {incoming})')
        app.execute(
            con,
            f'create temp table {_MATCH} ("whId" text primary key, "existingId" text, "appId" text, '
            '"leadExists" integer, depth integer)',
        )
        app.execute(
            con,
            f'create temp table {_PLAN} ("whId" text not null, "appId" text, "fromAppId" text, action text, '
            f"depth integer, batch integer, {flags})",
        )
        # only the rows to write are looked up (by batch); unchanged rows stay out of the index
        app.execute(con, f"create index {_PLAN}_batch on {_PLAN} (batch) where batch is not null")


def _appointment_plan_sql(app: AppDatabase, batch_size: int) -> list[str]:
    """Match every incoming row, order the reschedule chains, translate the links and classify each row.

    Three statements over small, analyzed intermediate tables instead of one with nested CTEs: the planner cannot
    estimate a recursive CTE and then hash-joins the wide side of a million rows.
    """
    derived = derived_app_id_sql('i."whId"')
    match = f"""
insert into {_MATCH} ("whId", "existingId", "appId", "leadExists", depth)
select
    i."whId",
    coalesce(g.id, c.id, d.id),
    coalesce(g.id, c.id, d.id, {derived}),
    case when l.id is null then 0 else 1 end,
    0
from {_IN} as i
left join "Appointment" as g on g."ghlAppointmentId" = i."ghlAppointmentId"
left join "Appointment" as c on c."calendlyInviteeUri" = i."calendlyInviteeUri"
left join "Appointment" as d
    on d.id = {derived} and i."ghlAppointmentId" is null and i."calendlyInviteeUri" is null
left join "Lead" as l on l.id = i."leadId"
"""
    # depth in its reschedule chain: 0 for a first booking, n for the n-th successor (only linked rows change)
    depth = f"""
with recursive chain ("whId", depth) as (
    select i."whId", 1 from {_IN} as i inner join {_IN} as prev on prev."whId" = i."whFromId"
    union all
    select i."whId", chain.depth + 1 from {_IN} as i
    inner join chain on i."whFromId" = chain."whId"
    where chain.depth < 1000
)
update {_MATCH} set depth = deepest.depth
from (select "whId", max(depth) as depth from chain group by "whId") as deepest
where {_MATCH}."whId" = deepest."whId"
"""
    flags = []
    for name in COMPARED_COLUMNS:
        kind = _BY_NAME[name].kind
        new = _FROM_APP_ID if name == "rescheduledFromId" else f'i."{name}"'
        differs = app.distinct(app.as_text(f't."{name}"', kind), new)
        flags.append(f"case when t.id is not null and {differs} then 1 else 0 end")
    flag_names = ", ".join(f'"chg_{c}"' for c in COMPARED_COLUMNS)
    any_change = " or ".join(f"{f} = 1" for f in flags)
    plan = f"""
insert into {_PLAN} ("whId", "appId", "fromAppId", action, depth, batch, {flag_names})
select "whId", "appId", "fromAppId", action, depth, {_batch_number(_WRITE_ORDER, batch_size)}, {flag_names}
from (
select
    i."whId",
    m."appId",
    {_FROM_APP_ID} as "fromAppId",
    case
        when m."leadExists" = 0 then 'skip_missing_lead'
        when i."updatedAt" is null then 'skip_no_time'
        when t.id is null then 'insert'
        when t."updatedAt" > i."updatedAt" then 'skip_newer_in_app'
        when {any_change} then 'update'
        else 'unchanged'
    end as action,
    m.depth,
    {", ".join(f"{flag} as {name}" for flag, name in zip(flags, flag_names.split(", ")))}
from {_IN} as i
inner join {_MATCH} as m on m."whId" = i."whId"
left join {_MATCH} as p on p."whId" = i."whFromId"
left join "Appointment" as t on t.id = m."existingId"
) as classified
"""
    analyze = [f"analyze {_MATCH}"] if app.dialect == "postgres" else []
    return [match, depth, *analyze, plan]


# the predecessor's application id, only when that row exists or is written by this publish
_FROM_APP_ID = 'case when p."existingId" is not null or p."leadExists" = 1 then p."appId" end'


def _batch_number(order: str, batch_size: int) -> str:
    """The batch of a row to write; rows are numbered in write order (for appointments a predecessor first)."""
    writes = "action in ('insert', 'update')"
    return (
        f"case when {writes} then (row_number() over (partition by {writes} order by {order}) - 1) "
        f"/ {int(batch_size)} end"
    )


def _appointment_upsert_sql(app: AppDatabase) -> str:
    columns = [c.name for c in APPOINTMENT_COLUMNS]
    select = []
    for column in APPOINTMENT_COLUMNS:
        if column.name == "id":
            select.append('p."appId"')
        elif column.name == "rescheduledFromId":
            select.append('p."fromAppId"')
        else:
            select.append(app.cast_enum(f'i."{column.name}"', column.kind))
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in [*COMPARED_COLUMNS, "updatedAt"])
    differs = " or ".join(app.distinct(f'"Appointment"."{c}"', f'excluded."{c}"') for c in COMPARED_COLUMNS)
    return f"""
insert into "Appointment" ({", ".join(f'"{c}"' for c in columns)})
select {", ".join(select)}
from {_PLAN} as p
inner join {_IN} as i on i."whId" = p."whId"
where p.batch = %s
order by p."appId"  -- new rows arrive in primary-key order: each index page is touched once per batch
on conflict ("id") do update set {updates}
where "Appointment"."updatedAt" <= excluded."updatedAt" and ({differs})
"""


# -- lead rollups ---------------------------------------------------------------------------------------------------

_LEAD_IN = "_publish_leads_in"
_LEAD_PLAN = "_publish_leads_plan"


def _lead_candidates_sql() -> str:
    """Leads whose rollup differs from the legacy columns as read (lead_rollup_drift), with both sets of values."""
    flags = ", ".join(
        f"max(case when field = '{f.warehouse}' then 1 else 0 end) as chg_{f.warehouse}" for f in LEAD_ROLLUP_FIELDS
    )
    read = ", ".join(f"l.{f.warehouse}" for f in LEAD_ROLLUP_FIELDS)
    new = ", ".join(f"r.{f.warehouse}" for f in LEAD_ROLLUP_FIELDS)
    chg = ", ".join(f"d.chg_{f.warehouse}" for f in LEAD_ROLLUP_FIELDS)
    return (
        f"with d as (select lead_id, {flags} from lead_rollup_drift group by lead_id) "
        f"select d.lead_id, {read}, {new}, {chg} from d "
        "inner join raw_leads as l on l.lead_id = d.lead_id "
        "inner join lead_appointment_rollups as r on r.lead_id = d.lead_id"
    )


def publish_lead_rollups(
    wh: Warehouse,
    app: AppDatabase,
    *,
    apply: bool,
    batch_size: int = DEFAULT_BATCH_SIZE,
    after_batch: AfterBatch | None = None,
) -> PublishResult:
    """Compare-and-set the ``"Lead"`` rollup columns that differ from the warehouse rollup (or only report it)."""
    result = PublishResult(target='"Lead" rollup columns', applied=apply)
    _check_batch_size(batch_size)
    names = [f.column for f in LEAD_ROLLUP_FIELDS]
    with app.connect() as con:
        verify_app_schema(app, con)
        _create_lead_temp_tables(app, con)
        with app.transaction(con, read_only=True):
            columns = ["leadId", *(f"read_{c}" for c in names), *(f"new_{c}" for c in names), *(f"want_{c}" for c in names)]
            n = len(LEAD_ROLLUP_FIELDS)
            timestamps = [1 + k * n + i for k in (0, 1) for i, f in enumerate(LEAD_ROLLUP_FIELDS) if f.kind == "timestamp"]
            app.load_from_warehouse(con, wh, _lead_candidates_sql(), _LEAD_IN, columns, timestamps)
            if app.dialect == "postgres":
                app.execute(con, f"analyze {_LEAD_IN}")
            app.execute(con, _lead_plan_sql(app, batch_size))
            _collect(app, con, _LEAD_PLAN, "leadId", '"leadId"', names, result)
        if apply:
            _run_batches(app, con, result, _lead_update_sql(app), after_batch)
    return result


def _create_lead_temp_tables(app: AppDatabase, con: Any) -> None:
    def typed(prefix: str) -> list[str]:
        return [
            f'"{prefix}_{f.column}" {app.instant_type if f.kind == "timestamp" else "text"}' for f in LEAD_ROLLUP_FIELDS
        ]

    wants = [f'"want_{f.column}" integer' for f in LEAD_ROLLUP_FIELDS]
    flags = [f'"chg_{f.column}" integer' for f in LEAD_ROLLUP_FIELDS]
    with app.transaction(con):
        app.execute(con, f"drop table if exists {_LEAD_IN}")
        app.execute(con, f"drop table if exists {_LEAD_PLAN}")
        app.execute(con, f'create temp table {_LEAD_IN} ("leadId" text primary key, {", ".join(typed("read") + typed("new") + wants)})')
        app.execute(
            con, f'create temp table {_LEAD_PLAN} ("leadId" text not null, action text, batch integer, {", ".join(flags)})'
        )
        app.execute(con, f"create index {_LEAD_PLAN}_batch on {_LEAD_PLAN} (batch) where batch is not null")


def _quoted(alias: str, column: str) -> str:
    return f'{alias}."{column}"'


def _lead_current(app: AppDatabase, f: LeadField, alias: str) -> str:
    expr = f'{alias}."{f.column}"'
    return app.lead_instant(expr) if f.kind == "timestamp" else expr


def _lead_unchanged_since_read(app: AppDatabase, alias: str) -> str:
    return " and ".join(app.same(_lead_current(app, f, alias), f'i."read_{f.column}"') for f in LEAD_ROLLUP_FIELDS)


def _lead_plan_sql(app: AppDatabase, batch_size: int) -> str:
    flags = [
        f'case when i."want_{f.column}" = 1 and {app.distinct(_lead_current(app, f, "l"), _quoted("i", "new_" + f.column))} '
        "then 1 else 0 end"
        for f in LEAD_ROLLUP_FIELDS
    ]
    any_change = " or ".join(f"{flag} = 1" for flag in flags)
    flag_names = ", ".join(f'"chg_{f.column}"' for f in LEAD_ROLLUP_FIELDS)
    return f"""
insert into {_LEAD_PLAN} ("leadId", action, batch, {flag_names})
select "leadId", action, {_batch_number('"leadId"', batch_size)}, {flag_names}
from (
select
    i."leadId",
    case
        when l.id is null then 'skip_missing_lead'
        when not ({any_change}) then 'unchanged'
        when not ({_lead_unchanged_since_read(app, "l")}) then 'skip_changed_in_app'
        else 'update'
    end as action,
    {", ".join(f"{flag} as {name}" for flag, name in zip(flags, flag_names.split(", ")))}
from {_LEAD_IN} as i
left join "Lead" as l on l.id = i."leadId"
) as classified
"""


def _lead_update_sql(app: AppDatabase) -> str:
    sets = ", ".join(
        f'"{f.column}" = case when p."chg_{f.column}" = 1 then i."new_{f.column}" else "Lead"."{f.column}" end'
        for f in LEAD_ROLLUP_FIELDS
    )
    return f"""
update "Lead" set {sets}
from {_LEAD_PLAN} as p
inner join {_LEAD_IN} as i on i."leadId" = p."leadId"
where "Lead".id = p."leadId" and p.batch = %s and {_lead_unchanged_since_read(app, '"Lead"')}
"""


# -- mode -----------------------------------------------------------------------------------------------------------

PUBLISH_MODES = ("dry_run", "apply")


def resolve_publish_mode(config_mode: str | None, default_mode: str | None) -> str:
    """The run config's mode, else the deployment's default (``APPOINTMENT_PUBLISH_MODE``), else ``dry_run``."""
    for source, mode in (("run config mode", config_mode), ("APPOINTMENT_PUBLISH_MODE", default_mode)):
        if mode is None or not str(mode).strip():
            continue
        mode = str(mode).strip().lower()
        if mode not in PUBLISH_MODES:
            raise ValueError(f"{source} must be one of {', '.join(PUBLISH_MODES)}, not {mode!r}")
        return mode
    return "dry_run"
