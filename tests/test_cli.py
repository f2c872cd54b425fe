"""The documented commands, run for real: `dagster definitions validate` and `dagster asset materialize --partition-range`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from appointment_pipeline.warehouse import Warehouse
from pipeline import HASH_KEY, OUTPUT_TABLES, REFERENCE_TIME, table_snapshot

REPO = Path(__file__).resolve().parent.parent
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def cli_env(tmp_path, inputs, warehouse_url: str) -> dict:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "APPOINTMENT_WAREHOUSE_URL": warehouse_url,
        "APPOINTMENT_SOURCE_DB_URL": inputs.source_db_url,
        "APPOINTMENT_LANDING_DIR": str(inputs.landing_dir),
        "APPOINTMENT_HASH_KEY": HASH_KEY,
        "APPOINTMENT_REFERENCE_TIME": REFERENCE_TIME,
    }


def test_definitions_validate():
    completed = subprocess.run([DAGSTER, "definitions", "validate", "-w", "workspace.yaml"], cwd=REPO,
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "Validation successful" in completed.stderr + completed.stdout


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_partition_range_from_the_cli_builds_everything(engine, demo, tmp_path, pg_database, duckdb_built):
    inputs, summary = demo
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_cli")
    command = [DAGSTER, "asset", "materialize", "-m", "appointment_pipeline.definitions", "--select", "*",
               "--partition-range", f"{summary.first_day}...{summary.last_day}"]
    completed = subprocess.run(command, cwd=REPO, env=cli_env(tmp_path, inputs, url), capture_output=True, text=True,
                               timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "RUN_SUCCESS" in completed.stderr
    # the same tables as the in-process build of the same inputs
    assert table_snapshot(Warehouse(url), OUTPUT_TABLES) == table_snapshot(duckdb_built, OUTPUT_TABLES)
