"""The application's tables: the shipped DDL (demo and tests) and the shape check every publish starts with."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from appointment_pipeline.io.app_database.connection import AppDatabase
from appointment_pipeline.io.app_database.model import (
    APPOINTMENT_COLUMNS,
    ENUM_VALUES,
    LEAD_ROLLUP_FIELDS,
    AppSchemaMismatch,
)

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

