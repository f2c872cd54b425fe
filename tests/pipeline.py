"""Test helpers: a real pipeline run into a real warehouse, and engine-neutral table snapshots."""

from __future__ import annotations

import os
import pickle
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import psycopg
from filelock import FileLock
from dagster import DagsterInstance
from sqlalchemy.engine import make_url

from appointment_pipeline.demo import generate_demo
from appointment_pipeline.defs.resources.resources import (
    LandingZoneResource,
    PipelineSettingsResource,
    SourceDatabaseResource,
    WarehouseResource,
)
from appointment_pipeline.runner import materialize_range
from appointment_pipeline.io.sql_project import load_project
from appointment_pipeline.io.warehouse import Warehouse

# The PostgreSQL server the tests create their databases on: any database of it that the user may connect to.
PG_ADMIN_URL = make_url(os.environ.get("APPOINTMENT_TEST_PG_URL") or "postgresql://postgres@127.0.0.1:5432/postgres")
PG_ADMIN_CONNINFO = PG_ADMIN_URL.set(drivername="postgresql").render_as_string(hide_password=False)
# deploy/dagster.yaml reads its PostgreSQL from these variables: the same server as the tests' databases
DAGSTER_PG_ENV = {
    "DAGSTER_PG_USER": PG_ADMIN_URL.username or "postgres",
    "DAGSTER_PG_PASSWORD": PG_ADMIN_URL.password or "",
    "DAGSTER_PG_HOST": PG_ADMIN_URL.host or "127.0.0.1",
    "DAGSTER_PG_PORT": str(PG_ADMIN_URL.port or 5432),
}


def pg_conninfo(database: str) -> str:
    """A libpq connection string for ``database`` on the tests' PostgreSQL server."""
    return PG_ADMIN_URL.set(drivername="postgresql", database=database).render_as_string(hide_password=False)
HASH_KEY = "test-hash-key"
DEMO_ARGS = {"leads": 120, "days": 7, "start": date(2025, 1, 1), "seed": 11}  # the session's shared demo
REFERENCE_TIME = "2025-01-10T12:00:00+00:00"

OUTPUT_TABLES = load_project().marts()  # the output tables of docs/data-contract.md
RAW_TABLES = ["raw_leads", "raw_calendly_invitees", "raw_ghl_appointments"]


def create_pg_database(prefix: str = "ap_test") -> str:
    """A fresh PostgreSQL database (C collation, UTF-8) on the local server; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_CONNINFO, autocommit=True) as con:
        con.execute(f"create database {name} template template0 encoding 'UTF8' lc_collate 'C' lc_ctype 'C'")
    return PG_ADMIN_URL.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(PG_ADMIN_CONNINFO, autocommit=True) as con:
        con.execute(f"drop database if exists {name} with (force)")


def cli_env(**settings: str) -> dict[str, str]:
    """The environment of a spawned Dagster process: this one's, without the pipeline settings a developer may have
    exported (each test sets its own), plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPOINTMENT_") and k != "DAGSTER_HOME"}
    return {**env, **settings}


@dataclass(frozen=True)
class Inputs:
    source_db_url: str
    landing_dir: Path


def resources_for(warehouse_url: str, inputs: Inputs, reference_time: str = REFERENCE_TIME) -> dict:
    return {
        "warehouse": WarehouseResource(url=warehouse_url),
        "source_db": SourceDatabaseResource(url=inputs.source_db_url),
        "landing_zone": LandingZoneResource(root=str(inputs.landing_dir)),
        "pipeline_settings": PipelineSettingsResource(hash_key=HASH_KEY, reference_time=reference_time),
    }


def run_pipeline(
    warehouse_url: str,
    inputs: Inputs,
    first: date,
    last: date,
    *,
    selection="*",
    tags: dict | None = None,
    instance: DagsterInstance | None = None,
    raise_on_error: bool = True,
    reference_time: str = REFERENCE_TIME,
    run_config: dict | None = None,
):
    return materialize_range(
        first,
        last,
        resources=resources_for(warehouse_url, inputs, reference_time),
        instance=instance or DagsterInstance.ephemeral(),
        selection=selection,
        tags=tags,
        run_config=run_config,
        raise_on_error=raise_on_error,
    )


def empty_days_config(landing_dir: Path, first: date, last: date) -> dict:
    """Run config that records the days without landing files of each provider as intentionally empty."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    ops = {}
    for provider, table in (("calendly", "raw_calendly_invitees"), ("ghl", "raw_ghl_appointments")):
        empty = [d.isoformat() for d in days if not any((landing_dir / provider / d.isoformat()).glob("*.jsonl*"))]
        ops[table] = {"config": {"empty_days": empty}}
    return {"ops": ops}


def _normalize(value):
    if isinstance(value, float) and value != value:
        return None
    return value


def table_rows(wh: Warehouse, table: str) -> list[tuple]:
    """All rows as plain Python values, sorted: equal lists mean equal tables, whatever the engine."""
    rows = [tuple(_normalize(v) for v in row) for row in wh.query(f"select * from {table}")]
    return sorted(rows, key=lambda row: tuple((v is None, str(v)) for v in row))


def table_snapshot(wh: Warehouse, tables: list[str]) -> dict[str, tuple[list, list[tuple]]]:
    return {table: (wh.table_columns(table), table_rows(wh, table)) for table in tables}


# A directory the whole test session shares (every pytest-xdist worker, or the one process without xdist): the
# reporting process creates it, the workers inherit its name through the environment.
SHARED_DIR_VARIABLE = "PIPELINE_TESTS_SHARED_DIR"
SHARED_PG_URLS = "postgres_databases.txt"  # databases built once for the session, dropped when it ends


def shared_build(name: str, build: Callable[[Path], object]) -> tuple[Path, object]:
    """Build ``name`` once per test session, whichever worker asks first (the others wait for it): returns the
    directory it was built in and the value ``build`` returned. Treat the directory as read-only."""
    shared = Path(os.environ[SHARED_DIR_VARIABLE])
    root = shared / name
    result = root / "build_result.pickle"
    with FileLock(shared / f"{name}.lock"):
        if not result.exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            value = build(root)
            result.write_bytes(pickle.dumps(value))
    return root, pickle.loads(result.read_bytes())


def private_copy(shared: Path, target: Path) -> Path:
    shutil.copytree(shared, target, ignore=shutil.ignore_patterns("build_result.pickle"), dirs_exist_ok=True)
    return target


def shared_demo(name: str, **demo_args) -> tuple[Path, object]:
    """(directory holding app.sqlite and landing/, DemoSummary) of one demo, generated once per session."""
    return shared_build(name, lambda root: generate_demo(f"sqlite:///{root / 'app.sqlite'}", root / "landing",
                                                         **demo_args))


def demo_inputs(root: Path) -> Inputs:
    return Inputs(source_db_url=f"sqlite:///{root / 'app.sqlite'}", landing_dir=root / "landing")
