"""The production instance (deploy/dagster.yaml): Dagster's runs, event log and schedule storage in PostgreSQL.

The pipeline runs against an instance built from the deploy file itself (env vars pointing at a fresh database on
the local server) with a PostgreSQL warehouse in a second fresh database; the run and its events are then read
straight from Dagster's tables. A CLI run against the same DAGSTER_HOME lands in the same tables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey, DagsterInstance

from appointment_pipeline.defs.resources.resources import (
    LandingZoneResource,
    PipelineSettingsResource,
    SourceDatabaseResource,
    WarehouseResource,
)
from appointment_pipeline.runner import materialize_range
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import DAGSTER_PG_ENV, PG_ADMIN_CONNINFO, PG_ADMIN_URL, pg_conninfo

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
ADMIN = PG_ADMIN_CONNINFO
START = date(2025, 1, 1)
DAYS = 2
LAST = START + timedelta(days=DAYS - 1)
PG_ENV = DAGSTER_PG_ENV


@pytest.fixture(scope="module")
def databases():
    """Two fresh databases (Dagster instance, warehouse), dropped afterwards."""
    suffix = uuid.uuid4().hex[:10]
    names = {"instance": f"ap_ops_instance_{suffix}", "warehouse": f"ap_ops_warehouse_{suffix}"}
    with psycopg.connect(ADMIN, autocommit=True) as con:
        for name in names.values():
            con.execute(f"create database {name} template template0 encoding 'UTF8'")
    try:
        yield names
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as con:
            for name in names.values():
                con.execute(f"drop database if exists {name} with (force)")


@pytest.fixture(scope="module")
def dagster_home(databases, tmp_path_factory):
    home = tmp_path_factory.mktemp("pg_dagster_home")
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return home


@pytest.fixture(scope="module")
def instance(dagster_home, databases):
    env = {**PG_ENV, "DAGSTER_PG_DB": databases["instance"]}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    instance = DagsterInstance.from_config(str(dagster_home))
    try:
        yield instance
    finally:
        instance.dispose()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def inputs(small_demo):
    return small_demo


def query(database: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(pg_conninfo(database)) as con:
        return con.execute(sql, params).fetchall()


def test_deploy_instance_is_postgres_with_a_queue_and_one_warehouse_writer(instance):
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert instance.global_op_concurrency_default_limit == 1
    assert instance.event_log_storage.supports_global_concurrency_limits


def test_pipeline_run_is_recorded_in_postgres(instance, databases, inputs):
    source_db_url, landing = inputs
    warehouse_url = PG_ADMIN_URL.set(drivername="postgresql+psycopg", database=databases["warehouse"]).render_as_string(
        hide_password=False
    )
    result = materialize_range(
        START,
        LAST,
        resources={
            "warehouse": WarehouseResource(url=warehouse_url),
            "source_db": SourceDatabaseResource(url=source_db_url),
            "landing_zone": LandingZoneResource(root=str(landing)),
            "pipeline_settings": PipelineSettingsResource(hash_key="pg-test-key", reference_time="2025-01-20T00:00:00Z"),
        },
        instance=instance,
        tags={"appointment/trigger": "test_postgres_instance"},
    )
    assert result.success
    run_id = result.run_id

    # the run and its events, read straight from Dagster's tables in PostgreSQL
    db = databases["instance"]
    assert query(db, "select status from runs where run_id = %s", [run_id]) == [("SUCCESS",)]
    tags = dict(query(db, "select key, value from run_tags where run_id = %s", [run_id]))
    assert tags["appointment/trigger"] == "test_postgres_instance"
    assert tags["dagster/asset_partition_range_start"] == START.isoformat()
    materializations = query(
        db,
        "select asset_key, partition from event_logs where run_id = %s and dagster_event_type = 'ASSET_MATERIALIZATION'",
        [run_id],
    )
    expected = {(e.asset_key.to_string(), e.partition) for e in result.get_asset_materialization_events()}
    assert set(materializations) == expected and len(materializations) == len(expected)
    for day in range(DAYS):
        assert ('["raw_calendly_invitees"]', (START + timedelta(days=day)).isoformat()) in expected
    assert ('["appointments"]', None) in expected
    run_events = {row[0] for row in query(db, "select dagster_event_type from event_logs where run_id = %s", [run_id])}
    # run start/success keep their historical storage names
    assert {"PIPELINE_START", "PIPELINE_SUCCESS", "STEP_SUCCESS", "ASSET_CHECK_EVALUATION"} <= run_events
    assert query(db, "select count(*) from asset_check_executions where run_id = %s", [run_id])[0][0] > 0
    # the writer pool got its default limit of 1 from deploy/dagster.yaml when the first writer step claimed it
    assert query(db, "select concurrency_key, count(*) from concurrency_slots group by 1") == [
        ("appointment_warehouse", 1)
    ]
    # schedule/sensor state and ticks live here too
    assert query(db, "select to_regclass('instigators') is not null, to_regclass('job_ticks') is not null") == [
        (True, True)
    ]

    # the same instance through the API
    assert instance.get_run_by_id(run_id).is_success
    assert instance.get_latest_materialization_event(AssetKey("lead_appointment_rollups")).run_id == run_id

    wh = Warehouse(warehouse_url)
    assert wh.scalar("select count(*) from appointments") > 0
    assert {row[0] for row in wh.query("select distinct ingest_source from snapshot_partition_loads")} == {"MANUAL"}


def test_cli_run_with_the_deploy_instance_lands_in_the_same_tables(dagster_home, databases, inputs, tmp_path):
    source_db_url, landing = inputs
    env = {
        **os.environ,
        **PG_ENV,
        "DAGSTER_PG_DB": databases["instance"],
        "DAGSTER_HOME": str(dagster_home),
        "APPOINTMENT_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
        "APPOINTMENT_SOURCE_DB_URL": source_db_url,
        "APPOINTMENT_LANDING_DIR": str(landing),
        "APPOINTMENT_PARTITIONS_START": START.isoformat(),
        "APPOINTMENT_HASH_KEY": "pg-test-key",
    }
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "asset",
            "materialize",
            "-m",
            "appointment_pipeline.definitions",
            "--select",
            "raw_ghl_appointments",
            "--partition",
            LAST.isoformat(),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    rows = query(
        databases["instance"],
        "select r.status from runs r join event_logs e on e.run_id = r.run_id "
        "where e.dagster_event_type = 'ASSET_MATERIALIZATION' and e.asset_key = %s and e.partition = %s "
        "and r.pipeline_name = '__ASSET_JOB'",
        ['["raw_ghl_appointments"]', LAST.isoformat()],
    )
    assert "SUCCESS" in {row[0] for row in rows}
