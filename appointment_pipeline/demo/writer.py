"""Writing the demo: the landing zone files and the application database's ``"Lead"`` table."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from appointment_pipeline.demo.model import EXTRA_LEAD_COLUMN, LEAD_COLUMNS, TIMESTAMP_COLUMNS
from appointment_pipeline.demo.timeline import UTC
from appointment_pipeline.io.app_database import create_app_schema, drop_app_schema, supports_publish


def write_landing(landing_dir: Path, files: Mapping[str, Iterable[str]]) -> None:
    """Delete ``calendly/`` and ``ghl/`` under ``landing_dir`` and write ``files`` (gzip with mtime 0 for ``.gz``)."""
    landing_dir = Path(landing_dir)
    for provider in ("calendly", "ghl"):
        shutil.rmtree(landing_dir / provider, ignore_errors=True)
    for rel in sorted(files):
        path = landing_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = "".join(line + "\n" for line in files[rel]).encode("utf-8")
        with open(path, "wb") as raw:
            if rel.endswith(".gz"):
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                    gz.write(payload)
            else:
                raw.write(payload)


def lead_table(dialect_name: str, metadata: sa.MetaData | None = None) -> sa.Table:
    """The ``"Lead"`` table definition for a dialect (timestamps are ISO text on SQLite, timestamptz elsewhere)."""
    ts_type: sa.types.TypeEngine = sa.Text() if dialect_name == "sqlite" else sa.DateTime(timezone=True)
    columns = [sa.Column("id", sa.Text(), primary_key=True)]
    for name in LEAD_COLUMNS[1:]:
        columns.append(sa.Column(name, ts_type if name in TIMESTAMP_COLUMNS else sa.Text(), nullable=True))
    columns.append(sa.Column(EXTRA_LEAD_COLUMN, sa.Text(), nullable=True))
    return sa.Table("Lead", metadata if metadata is not None else sa.MetaData(), *columns)


def write_leads(source_db_url: str, rows: Iterable[Mapping]) -> None:
    """Drop and recreate ``"Lead"`` in ``source_db_url`` and bulk-insert ``rows``; on PostgreSQL and SQLite also an
    empty ``"Appointment"`` (the application's table the publish writes to) from the shipped DDL."""
    url = sa.engine.make_url(source_db_url)
    if url.get_backend_name() in ("sqlite", "duckdb") and url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if supports_publish(source_db_url):
        drop_app_schema(source_db_url)  # it references "Lead", which is recreated
    _write_lead_table(url, rows)
    if supports_publish(source_db_url):
        create_app_schema(source_db_url)


def _write_lead_table(url: sa.URL, rows: Iterable[Mapping]) -> None:
    engine = sa.create_engine(url)
    try:
        dialect = engine.dialect.name
        table = lead_table(dialect)
        if dialect == "sqlite":
            records = [
                {k: (v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
                for row in rows
            ]
        else:
            records = [dict(row) for row in rows]
        with engine.begin() as conn:
            table.drop(conn, checkfirst=True)
            table.create(conn)
            if not records:
                return
            if dialect == "duckdb":
                _duckdb_bulk_insert(conn, table, records)
            else:
                chunk = 5_000
                for i in range(0, len(records), chunk):
                    conn.execute(table.insert(), records[i : i + chunk])
    finally:
        engine.dispose()


def _duckdb_bulk_insert(conn: sa.Connection, table: sa.Table, records: list[dict]) -> None:
    """DuckDB's executemany is row by row; load a pandas frame through the native connection instead."""
    import pandas as pd

    names = [c.name for c in table.columns]
    frame = pd.DataFrame.from_records(records, columns=names)
    for name in TIMESTAMP_COLUMNS:
        frame[name] = pd.to_datetime(frame[name], utc=True)
    for name in names:
        if name not in TIMESTAMP_COLUMNS:
            frame[name] = frame[name].astype(object)
    native = conn.connection.driver_connection
    assert native is not None
    view = "__demo_lead_rows"
    native.register(view, frame)
    try:
        cols = ", ".join(f'"{n}"' for n in names)
        native.execute(f'INSERT INTO "Lead" ({cols}) SELECT {cols} FROM {view}')
    finally:
        native.unregister(view)
