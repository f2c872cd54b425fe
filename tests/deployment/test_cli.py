"""The documented commands, run for real: `dagster definitions validate` and `dagster asset materialize --partition-range`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from appointment_pipeline.io.warehouse import Warehouse
from pipeline import HASH_KEY, OUTPUT_TABLES, REFERENCE_TIME, cli_env, table_snapshot

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def pipeline_env(tmp_path, inputs, warehouse_url: str) -> dict:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return cli_env(
        DAGSTER_HOME=str(home),
        APPOINTMENT_WAREHOUSE_URL=warehouse_url,
        APPOINTMENT_SOURCE_DB_URL=inputs.source_db_url,
        APPOINTMENT_LANDING_DIR=str(inputs.landing_dir),
        APPOINTMENT_HASH_KEY=HASH_KEY,
        APPOINTMENT_REFERENCE_TIME=REFERENCE_TIME,
    )


def test_definitions_validate(tmp_path):
    # run from elsewhere: a developer's .env in the checkout (written by the quickstart) must not change the answer
    completed = subprocess.run([DAGSTER, "definitions", "validate", "-w", str(REPO / "workspace.yaml")], cwd=tmp_path,
                               env=cli_env(), capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "Validation successful" in completed.stderr + completed.stdout


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_partition_range_from_the_cli_builds_everything(engine, demo, tmp_path, pg_database, duckdb_built):
    inputs, summary = demo
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_cli")
    command = [DAGSTER, "asset", "materialize", "-m", "appointment_pipeline.definitions", "--select", "*",
               "--partition-range", f"{summary.first_day}...{summary.last_day}"]
    completed = subprocess.run(command, cwd=tmp_path, env=pipeline_env(tmp_path, inputs, url), capture_output=True,
                               text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "RUN_SUCCESS" in completed.stderr
    # the same tables as the in-process build of the same inputs
    assert table_snapshot(Warehouse(url), OUTPUT_TABLES) == table_snapshot(duckdb_built, OUTPUT_TABLES)


def test_quickstart_comes_up_green_in_a_persistent_instance(tmp_path):
    """The README's first command on a small demo: progress and a summary, no failing check, and a .env that points
    the CLI and the UI at the instance that holds the run."""
    completed = subprocess.run([sys.executable, "-m", "appointment_pipeline.quickstart", "--leads", "40", "--days", "3"],
                               cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    out = completed.stdout
    assert "DEBUG" not in out and "asset checks:" in out and "failed" not in out.split("asset checks:")[1].split("next:")[0]
    assert re.search(r"\[\s*(\d+)/\1\] ", out)  # progress lines while the run works, up to the last asset
    env = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines() if "=" in line)
    assert env["APPOINTMENT_PARTITIONS_START"] == "2025-01-01" and env["APPOINTMENT_PARTITIONS_END"] == "2025-01-03"
    home = Path(env["DAGSTER_HOME"])
    assert home == tmp_path / ".dagster_home"
    from dagster import DagsterInstance, DagsterRunStatus

    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert [run.status for run in runs] == [DagsterRunStatus.SUCCESS]
    # a later shell command from the same directory writes into the same instance, with the demo's partitions
    listed = subprocess.run([DAGSTER, "asset", "materialize", "-m", "appointment_pipeline.definitions", "--select",
                             "raw_ghl_appointments", "--partition", "2025-01-04"], cwd=tmp_path, env=cli_env(),
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode != 0 and "2025-01-04" in listed.stderr  # the demo's partitions end on its last day
    again = subprocess.run([DAGSTER, "asset", "materialize", "-m", "appointment_pipeline.definitions", "--select",
                            "raw_ghl_appointments", "--partition", "2025-01-03"], cwd=tmp_path, env=cli_env(),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    with DagsterInstance.from_config(str(home)) as instance:
        assert len(instance.get_runs()) == 2
