"""Two runs launched at once against one DuckDB warehouse file both succeed.

DuckDB takes one read-write process per file. Two protections, each proven here with two real
``dagster asset materialize`` processes sharing one DAGSTER_HOME and one warehouse file:

1. the warehouse's connect waits for the file lock (warehouse.py ``_open``): no pool limit at all, and the test itself
   holds the file until both runs are inside their first step, so both must wait for the lock (the snapshot assets
   by default; the whole graph, every model rebuilt by both runs, with ``-m slow``);
2. the ``appointment_warehouse`` pool with limit 1 (deploy/dagster.yaml): writer steps of concurrent runs take turns.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, RunsFilter

from appointment_pipeline.io.warehouse import Warehouse

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")
START = date(2025, 1, 1)
DAYS = 2
RUN_TIMEOUT = 240


@pytest.fixture(scope="module")
def inputs(small_demo):
    return small_demo


def child_env(home: Path, warehouse: Path, inputs) -> dict[str, str]:
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "APPOINTMENT_WAREHOUSE_URL": f"duckdb:///{warehouse}",
        "APPOINTMENT_SOURCE_DB_URL": inputs[0],
        "APPOINTMENT_LANDING_DIR": str(inputs[1]),
        "APPOINTMENT_PARTITIONS_START": START.isoformat(),
        "APPOINTMENT_HASH_KEY": "concurrency-test-key",
        "APPOINTMENT_REFERENCE_TIME": "2025-01-20T00:00:00Z",
    }


def launch(env: dict, select: str, partition: str, log: Path) -> subprocess.Popen:
    handle = open(log, "wb")
    return subprocess.Popen(
        [str(DAGSTER), "asset", "materialize", "-m", "appointment_pipeline.definitions", "--select", select,
         "--partition", partition],
        cwd=log.parent,  # not the checkout: a developer's .env there must not reach these runs
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


def finish(process: subprocess.Popen, log: Path) -> None:
    try:
        process.wait(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, log.read_text(errors="replace")[-4000:]
    assert "RUN_SUCCESS" in log.read_text(errors="replace")


def home_with(tmp_path: Path, yaml_text: str) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml_text)
    # create the SQLite storage once: two processes creating it at the same moment race on its schema
    DagsterInstance.from_config(str(home)).dispose()
    return home


SNAPSHOTS = "raw_calendly_invitees,raw_ghl_appointments"


@pytest.mark.parametrize(
    "select",
    [
        pytest.param(SNAPSHOTS, id="snapshots"),
        pytest.param("*", id="whole-graph", marks=pytest.mark.slow),  # every model swapped by both runs
    ],
)
def test_two_runs_wait_for_the_duckdb_file_lock(tmp_path, inputs, select):
    home = home_with(tmp_path, "telemetry:\n  enabled: false\n")  # no pool limits: only the lock retry protects
    warehouse = tmp_path / "warehouse.duckdb"
    env = child_env(home, warehouse, inputs)
    days = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
    logs = [tmp_path / f"run-{day}.log" for day in days]

    holder = duckdb.connect(str(warehouse))  # an outside writer holds the file while both runs start
    try:
        processes = [launch(env, select, day, log) for day, log in zip(days, logs)]
        deadline = time.monotonic() + 120
        while not all("STEP_START" in log.read_text(errors="replace") for log in logs):
            assert all(p.poll() is None for p in processes), [log.read_text(errors="replace")[-3000:] for log in logs]
            assert time.monotonic() < deadline, "the runs did not reach their first step"
            time.sleep(0.2)
        # both now retry the connect of their first step, and say so (the warehouse logs each wait)
        while not all("is locked by another process" in log.read_text(errors="replace") for log in logs):
            assert all(p.poll() is None for p in processes), [log.read_text(errors="replace")[-3000:] for log in logs]
            assert time.monotonic() < deadline, "the runs never reported waiting for the lock"
            time.sleep(0.2)
    finally:
        holder.close()
    for process, log in zip(processes, logs):
        finish(process, log)

    wh = Warehouse(f"duckdb:///{warehouse}")
    loaded = {(p, d.isoformat()) for p, d in wh.query("select provider, snapshot_date from snapshot_partition_loads")}
    assert loaded == {(p, day) for p in ("calendly", "ghl") for day in days}
    if select == "*":
        assert wh.scalar("select count(*) from appointments") > 0

    instance = DagsterInstance.from_config(str(home))
    try:
        runs = instance.get_runs(RunsFilter())
        assert len(runs) == 2 and all(run.is_success for run in runs)
    finally:
        instance.dispose()


def test_pool_limit_one_makes_writer_steps_of_concurrent_runs_take_turns(tmp_path, inputs):
    home = home_with(
        tmp_path, "concurrency:\n  pools:\n    default_limit: 1\n    granularity: op\ntelemetry:\n  enabled: false\n"
    )
    warehouse = tmp_path / "warehouse.duckdb"
    env = child_env(home, warehouse, inputs)
    select = SNAPSHOTS
    days = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
    logs = [tmp_path / f"run-{day}.log" for day in days]
    processes = [launch(env, select, day, log) for day, log in zip(days, logs)]
    for process, log in zip(processes, logs):
        finish(process, log)

    instance = DagsterInstance.from_config(str(home))
    try:
        runs = instance.get_runs(RunsFilter())
        assert len(runs) == 2 and all(run.is_success for run in runs)
        intervals = []
        for run in runs:
            starts, ends = {}, {}
            for record in instance.get_records_for_run(run.run_id).records:
                event = record.event_log_entry
                if event.dagster_event_type == DagsterEventType.STEP_START:
                    starts[event.step_key] = event.timestamp
                elif event.dagster_event_type == DagsterEventType.STEP_SUCCESS:
                    ends[event.step_key] = event.timestamp
            for step in ("raw_calendly_invitees", "raw_ghl_appointments"):
                intervals.append((starts[step], ends[step], run.run_id, step))
        assert instance.event_log_storage.get_pool_limits()[0].name == "appointment_warehouse"
        assert instance.event_log_storage.get_concurrency_info("appointment_warehouse").slot_count == 1
    finally:
        instance.dispose()
    intervals.sort()
    for (start_a, end_a, *a), (start_b, end_b, *b) in zip(intervals, intervals[1:]):
        assert end_a <= start_b, f"writer steps overlapped: {a} and {b}"
    assert len({run_id for *_, run_id, _ in intervals}) == 2

    wh = Warehouse(f"duckdb:///{warehouse}")
    assert wh.scalar("select count(*) from snapshot_partition_loads") == 2 * DAYS
