"""A fresh warehouse per engine: a DuckDB file in the work directory, or a database on the local PostgreSQL server
(BENCH_PG_ADMIN, default postgresql://postgres@127.0.0.1:5432/postgres) created and dropped by the parent process,
so that a child that dies leaves nothing behind."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_admin() -> str:
    return os.environ.get("BENCH_PG_ADMIN") or DEFAULT_PG_ADMIN


def _admin_conninfo(admin: str) -> str:
    return make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)


def new_warehouse(engine: str, workdir: Path, label: str) -> str:
    """The SQLAlchemy URL of an empty warehouse for ``engine`` (``duckdb`` or ``postgres``)."""
    suffix = f"{label}_{uuid.uuid4().hex[:8]}"
    if engine == "duckdb":
        return f"duckdb:///{workdir / f'bench_{suffix}.duckdb'}"
    if engine != "postgres":
        raise ValueError(f"unknown engine {engine!r}: duckdb or postgres")
    admin = pg_admin()
    name = f"ap_bench_{suffix}"
    with psycopg.connect(_admin_conninfo(admin), autocommit=True) as con:
        con.execute(f"create database {name} template template0 encoding 'UTF8' lc_collate 'C' lc_ctype 'C'")
    return make_url(admin).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


def drop_warehouse(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "duckdb":
        for path in (Path(parsed.database or ""), Path(f"{parsed.database}.wal")):
            if path.name and path.exists():
                path.unlink()
        return
    with psycopg.connect(_admin_conninfo(pg_admin()), autocommit=True) as con:
        con.execute(f"drop database if exists {parsed.database} with (force)")


def engine_version(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "duckdb":
        import duckdb

        return f"DuckDB {duckdb.__version__}"
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as con:
        row = con.execute("show server_version").fetchone()
    return f"PostgreSQL {row[0].split()[0] if row else '?'}"
