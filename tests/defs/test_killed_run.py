"""A run killed with kill -9 while holding the appointment_warehouse slot does not block later runs.

Real processes on the production instance (deploy/dagster.yaml on a fresh PostgreSQL database, only its polling
intervals shortened): run A claims the pool slot and is killed with SIGKILL; run B then waits for the slot; run C
waits too and is sent SIGTERM, and must end; then dagster-daemon starts, its run monitoring finds A's process gone,
fails A and frees its slot, and B completes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import psycopg
import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from pipeline import DAGSTER_PG_ENV, PG_ADMIN_CONNINFO, pg_conninfo

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
POOL = "appointment_warehouse"
ASSET = "raw_ghl_appointments"

pytestmark = pytest.mark.postgres


@pytest.fixture
def instance_db():
    name = f"ap_killed_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_CONNINFO, autocommit=True) as con:
        con.execute(f"create database {name} template template0 encoding 'UTF8'")
    try:
        yield name
    finally:
        with psycopg.connect(PG_ADMIN_CONNINFO, autocommit=True) as con:
            con.execute(f"drop database if exists {name} with (force)")


def query(db: str, sql: str, params=()):
    with psycopg.connect(pg_conninfo(db)) as con:
        return con.execute(sql, params).fetchall()


def wait_for(condition, seconds: float, what: str, processes=()):
    deadline = time.monotonic() + seconds
    while not condition():
        for p, log in processes:
            assert p.poll() is None, f"{what}: a process ended early:\n{log.read_text(errors='replace')[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_killed_run_frees_its_slot_and_a_blocked_run_ends_on_sigterm(instance_db, small_demo, tmp_path,
                                                                       monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    config = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    assert config["run_launcher"]["class"] == "LocalProcessRunLauncher" and config["run_monitoring"]["enabled"]
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
    config["run_monitoring"].update(poll_interval_seconds=1, free_slots_after_run_end_seconds=1)  # test speed only
    config["run_retries"] = {"enabled": False}  # a retry of A would only queue behind B
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    warehouse = tmp_path / "warehouse.duckdb"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        **DAGSTER_PG_ENV, "DAGSTER_PG_DB": instance_db,
        "APPOINTMENT_WAREHOUSE_URL": f"duckdb:///{warehouse}",
        "APPOINTMENT_SOURCE_DB_URL": small_demo[0],
        "APPOINTMENT_LANDING_DIR": str(small_demo[1]),
        "APPOINTMENT_PARTITIONS_START": "2025-01-01",
        "APPOINTMENT_HASH_KEY": "killed-run-key",
    }
    for key in ("DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB"):
        monkeypatch.setenv(key, env[key])
    DagsterInstance.from_config(str(home)).dispose()  # create Dagster's tables once, before processes race on them
    started: list[tuple[subprocess.Popen, Path]] = []

    def launch(name: str, partition: str, *args: str) -> tuple[subprocess.Popen, Path]:
        log = tmp_path / f"{name}.log"
        cmd = [str(BIN / "dagster"), "asset", "materialize", "-m", "appointment_pipeline.definitions",
               "--select", ASSET, "--partition", partition, *args]
        process = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                                   start_new_session=True)
        started.append((process, log))
        return process, log

    def slot_holders() -> set[str]:
        return {r[0] for r in query(instance_db, "select run_id from concurrency_slots where concurrency_key = %s "
                                                 "and run_id is not null", [POOL])}

    def runs_by_partition() -> dict[str, object]:
        with DagsterInstance.from_config(str(home)) as instance:
            return {r.tags.get("dagster/partition"): r for r in instance.get_runs(RunsFilter())}

    daemon = None
    holder = duckdb.connect(str(warehouse))  # keeps run A inside its step (waiting for the file) while it holds the slot
    try:
        a, a_log = launch("a", "2025-01-01")
        wait_for(lambda: "STEP_START" in a_log.read_text(errors="replace"), 120, "run A's step", [(a, a_log)])
        wait_for(lambda: len(slot_holders()) == 1, 30, "run A's slot claim")
        run_a = runs_by_partition()["2025-01-01"]
        assert slot_holders() == {run_a.run_id}
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(timeout=10)
        holder.close()
        holder = None

        b, b_log = launch("b", "2025-01-02")
        c, c_log = launch("c", "2025-01-03")
        for proc, log in ((b, b_log), (c, c_log)):
            wait_for(lambda log=log: "blocked by limit for pool" in log.read_text(errors="replace"), 120,
                     f"{log.stem} to wait for the pool", [(proc, log)])
        assert slot_holders() == {run_a.run_id}  # A is dead and still holds the slot: nothing else frees it

        # a blocked run ends on SIGTERM
        os.kill(c.pid, signal.SIGTERM)
        c.wait(timeout=30)
        assert c.returncode != 0
        assert runs_by_partition()["2025-01-03"].status == DagsterRunStatus.FAILURE
        assert b.poll() is None and slot_holders() == {run_a.run_id}  # B still waits, and it is not C's doing

        # the daemon's run monitoring: A's process is gone -> A failed -> its slot freed -> B runs
        daemon_log = tmp_path / "daemon.log"
        daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-m", "appointment_pipeline.definitions"],
                                  cwd=tmp_path, env=env, stdout=open(daemon_log, "wb"), stderr=subprocess.STDOUT,
                                  start_new_session=True)
        started_waiting = time.monotonic()
        b.wait(timeout=180)
        recovered_in = time.monotonic() - started_waiting
        assert b.returncode == 0, b_log.read_text(errors="replace")[-4000:]
        assert "RUN_SUCCESS" in b_log.read_text(errors="replace")
        runs = runs_by_partition()
        assert runs["2025-01-01"].status == DagsterRunStatus.FAILURE
        assert runs["2025-01-02"].status == DagsterRunStatus.SUCCESS
        with DagsterInstance.from_config(str(home)) as instance:
            a_events = " ".join(str(r.event_log_entry.message) for r in
                                instance.get_records_for_run(run_a.run_id).records)
        assert "is gone" in a_events
        assert slot_holders() == set()
        print(f"recovered {recovered_in:.1f}s after dagster-daemon started")
    finally:
        if holder is not None:
            holder.close()
        for process, _ in [*started, *([(daemon, None)] if daemon else [])]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
