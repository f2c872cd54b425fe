"""The operations paths, driven through Dagster's own APIs and executed for real (issue: Operations in the Dagster UI).

- ``reconcile_daily``: a tick (``build_schedule_context``) -> its RunRequest -> ``reconcile_job`` executed with the
  request's partition and tags against a temp DuckDB warehouse: the previous day is loaded, stamped RECONCILE_CRON.
- ``landing_zone_sensor``: evaluations (``build_sensor_context``) against a temp landing zone -> their RunRequests
  executed; unchanged files request nothing, a changed file requests exactly its day.
- Backfills: a backfill launched the way the asset graph's "Materialize" dialog does (the ``launchPartitionBackfill``
  GraphQL mutation with an asset selection), driven by the backfill daemon's own iteration: one run for the whole
  snapshot range, the unpartitioned marts once after it. A backfill from the reconcile_job page is one run too.
- ``snapshot_partition_fresh``: WARN while yesterday's partition is missing, passes once it is materialized.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import textwrap
import time
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunsFilter,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)

from appointment_pipeline.defs.quality.checks import FRESHNESS_CHECK_NAME, expected_snapshot_day
from appointment_pipeline.definitions import defs
from appointment_pipeline.defs.resources.resources import (
    LandingZoneResource,
    PipelineSettingsResource,
    SourceDatabaseResource,
    WarehouseResource,
)
from appointment_pipeline.domain.ingest_source import INGEST_SOURCE_TAG, RECONCILE_SCHEDULE_NAME
from appointment_pipeline.defs.automation.schedules import last_complete_day
from appointment_pipeline.defs.automation.sensors import contiguous_ranges, load_cursor
from appointment_pipeline.io.warehouse import Warehouse
from appointment_pipeline.settings import get_settings
from appointment_pipeline.defs.runtime.dagster_internals import (
    DEFAULT_RUN_COORDINATOR,
    SYNC_RUN_LAUNCHER,
    BulkActionStatus,
    daemon_workspace_context,
    execute_backfill_iteration,
)

START = date(2025, 1, 1)
DAYS = 3
LAST = START + timedelta(days=DAYS - 1)
SNAPSHOT_TABLES = {"calendly": "raw_calendly_invitees", "ghl": "raw_ghl_appointments"}
MARTS = ["appointments", "appointment_status_history", "lead_appointment_rollups", "lead_rollup_drift"]
SETTLED = time.time() - 3600  # landing files older than the sensor's settle time


@pytest.fixture(scope="module")
def source(small_demo):
    return small_demo


@pytest.fixture()
def landing(source, tmp_path) -> Path:
    copy = tmp_path / "landing"
    shutil.copytree(source[1], copy)
    settle(copy)
    return copy


def settle(root: Path, when: float = SETTLED) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (when, when))


def resources(source, landing: Path, warehouse_url: str) -> dict:
    return {
        "warehouse": WarehouseResource(url=warehouse_url),
        "source_db": SourceDatabaseResource(url=source[0]),
        "landing_zone": LandingZoneResource(root=str(landing)),
        "pipeline_settings": PipelineSettingsResource(hash_key="ops-test-key", reference_time="2025-01-20T00:00:00Z"),
    }


def execute(job_name: str, request, res: dict, instance: DagsterInstance):
    """Run a schedule's or sensor's RunRequest the way the daemon would: same job, partition and tags."""
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        partition_key=request.partition_key, tags=request.tags, resources=res, instance=instance
    )
    assert result.success
    return result


def landing_lines(root: Path, provider: str, day: date) -> int:
    import gzip

    total = 0
    for path in sorted((root / provider / day.isoformat()).iterdir()):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            total += sum(1 for _ in handle)
    return total


def loads(wh: Warehouse) -> dict[tuple[str, str], tuple[str, int]]:
    rows = wh.query("select provider, snapshot_date, ingest_source, record_count from snapshot_partition_loads")
    return {(provider, day.isoformat()): (stamp, count) for provider, day, stamp, count in rows}


# -- definitions ----------------------------------------------------------------------------------------------------


def test_operations_definitions_are_registered():
    assert {job.name for job in defs.jobs} >= {"reconcile_job", "landing_refresh_job", "snapshot_freshness_job"}
    schedule = defs.resolve_schedule_def(RECONCILE_SCHEDULE_NAME)
    settings = get_settings()  # whatever this shell exports: the defaults themselves are tests/test_settings.py's
    assert (schedule.cron_schedule, schedule.execution_timezone) == (settings.reconcile_cron, settings.reconcile_timezone)
    assert schedule.job_name == "reconcile_job"
    running = settings.automation_default_status == "RUNNING"
    assert schedule.default_status == (DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED)
    sensor = defs.resolve_sensor_def("landing_zone_sensor")
    assert {target.job_name for target in sensor.targets} == {"landing_refresh_job", "reconcile_job"}
    assert sensor.default_status == (DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED)
    assert defs.resolve_schedule_def("snapshot_freshness_hourly").job_name == "snapshot_freshness_job"
    graph = defs.resolve_asset_graph()
    for table in SNAPSHOT_TABLES.values():
        key = AssetKey(table)
        assert graph.get(key).backfill_policy is not None
        check_key = next(k for k in graph.asset_check_keys if k.asset_key == key and k.name == FRESHNESS_CHECK_NAME)
        assert not graph.get(check_key).blocking
    reconcile = defs.resolve_job_def("reconcile_job")
    assert reconcile.partitions_def == defs.resolve_job_def("landing_refresh_job").partitions_def
    assert AssetKey("raw_leads") in reconcile.asset_layer.selected_asset_keys
    refresh = defs.resolve_job_def("landing_refresh_job").asset_layer.selected_asset_keys
    assert AssetKey("raw_leads") not in refresh and {AssetKey(m) for m in MARTS} <= refresh


def test_schedule_cron_and_timezone_come_from_the_environment(tmp_path):
    """The env vars are read when the code location loads: check them in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "from appointment_pipeline.definitions import defs\n"
        "s = defs.resolve_schedule_def('reconcile_daily')\n"
        "print(s.cron_schedule, s.execution_timezone, s.default_status.value)\n"
        "print(defs.resolve_sensor_def('landing_zone_sensor').default_status.value)\n"
    )
    env = {
        **os.environ,
        "APPOINTMENT_RECONCILE_CRON": "30 5 * * *",
        "APPOINTMENT_RECONCILE_TIMEZONE": "America/Chicago",
        "APPOINTMENT_AUTOMATION_DEFAULT_STATUS": "RUNNING",
        "APPOINTMENT_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'unused.duckdb'}",
    }
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True
    ).stdout.split("\n")
    assert out[0] == "30 5 * * * America/Chicago RUNNING"
    assert out[1] == "RUNNING"


# -- reconcile schedule ---------------------------------------------------------------------------------------------


def test_last_complete_day_is_a_utc_day_whatever_the_schedule_timezone():
    assert last_complete_day(datetime(2025, 1, 3, 2, 0, tzinfo=timezone.utc)) == date(2025, 1, 2)
    assert last_complete_day(datetime(2025, 1, 3, 0, 0, tzinfo=timezone.utc)) == date(2025, 1, 2)
    assert last_complete_day(datetime(2025, 1, 2, 23, 59, tzinfo=timezone.utc)) == date(2025, 1, 1)
    # 02:00 in Chicago is 08:00 UTC: the 2nd has ended; 02:00 in Tokyo is 17:00 UTC the day before
    assert last_complete_day(datetime(2025, 1, 3, 2, 0, tzinfo=ZoneInfo("America/Chicago"))) == date(2025, 1, 2)
    assert last_complete_day(datetime(2025, 1, 3, 2, 0, tzinfo=ZoneInfo("Asia/Tokyo"))) == date(2025, 1, 1)


def test_schedule_tick_before_the_first_partition_is_skipped():
    schedule = defs.resolve_schedule_def(RECONCILE_SCHEDULE_NAME)
    with instance_for_test() as instance:
        context = build_schedule_context(
            instance=instance,
            repository_def=defs.get_repository_def(),
            scheduled_execution_time=datetime(2024, 12, 31, 2, 0, tzinfo=timezone.utc),
        )
        result = schedule.evaluate_tick(context)
    assert not result.run_requests
    assert "before the first snapshot partition" in result.skip_message


def test_reconcile_schedule_tick_loads_the_previous_day_stamped_reconcile_cron(source, landing, tmp_path):
    schedule = defs.resolve_schedule_def(RECONCILE_SCHEDULE_NAME)
    day = START + timedelta(days=1)
    tick = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=2)
    warehouse_url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    with instance_for_test() as instance:
        context = build_schedule_context(
            instance=instance, repository_def=defs.get_repository_def(), scheduled_execution_time=tick
        )
        requests = schedule.evaluate_tick(context).run_requests
        assert len(requests) == 1
        request = requests[0]
        assert request.partition_key == day.isoformat()
        assert request.tags["appointment/trigger"] == "reconcile_schedule"
        assert request.tags[INGEST_SOURCE_TAG] == "RECONCILE_CRON"
        assert request.tags["dagster/schedule_name"] == RECONCILE_SCHEDULE_NAME

        result = execute("reconcile_job", request, resources(source, landing, warehouse_url), instance)

        run = instance.get_run_by_id(result.run_id)
        assert run.tags["dagster/partition"] == day.isoformat()
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        assert {AssetKey("raw_leads"), *(AssetKey(t) for t in SNAPSHOT_TABLES.values())} <= materialized
        assert {AssetKey(m) for m in MARTS} <= materialized
        # the freshness check ran in the same run; it judges against the real clock (2025 data is old): WARN only
        fresh = [e for e in result.get_asset_check_evaluations() if e.check_name == FRESHNESS_CHECK_NAME]
        assert len(fresh) == 2 and all(e.severity == AssetCheckSeverity.WARN for e in fresh)

    wh = Warehouse(warehouse_url)
    assert loads(wh) == {
        (provider, day.isoformat()): ("RECONCILE_CRON", landing_lines(landing, provider, day))
        for provider in SNAPSHOT_TABLES
    }
    for table in SNAPSHOT_TABLES.values():
        assert wh.query(f"select distinct snapshot_date, ingest_source from {table}") == [(day, "RECONCILE_CRON")]
    sources = dict(wh.query("select source, count(*) from appointments group by source"))
    assert sources.get("RECONCILE_CRON", 0) > 0  # provider appointments first seen in the reconcile run's polls
    assert sources.get("WEBHOOK", 0) > 0  # and those first seen in a webhook body that day
    assert set(sources) <= {"RECONCILE_CRON", "WEBHOOK", "MIGRATION"}
    assert wh.scalar("select count(*) from lead_appointment_rollups") > 0


# -- landing-zone sensor --------------------------------------------------------------------------------------------


def evaluate_sensor(instance, landing: Path, cursor: str | None):
    sensor = defs.resolve_sensor_def("landing_zone_sensor")
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        repository_def=defs.get_repository_def(),
        resources={"landing_zone": LandingZoneResource(root=str(landing))},
    )
    return sensor.evaluate_tick(context)


def test_contiguous_ranges():
    assert contiguous_ranges([]) == []
    assert contiguous_ranges(["2025-01-03", "2025-01-01", "2025-01-02", "2025-01-05"]) == [
        ("2025-01-01", "2025-01-03"),
        ("2025-01-05", "2025-01-05"),
    ]


def test_landing_sensor_requests_exactly_the_changed_days(source, landing, tmp_path):
    warehouse_url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    res = resources(source, landing, warehouse_url)
    wh = Warehouse(warehouse_url)
    with instance_for_test() as instance:
        # 1. a new landing zone: one run for the whole block of days (single-run range, marts rebuilt once); a
        # fresh instance has never built raw_leads, so this first run is reconcile_job (every asset)
        first = evaluate_sensor(instance, landing, None)
        assert len(first.run_requests) == 1
        request = first.run_requests[0]
        assert request.job_name == "reconcile_job"
        assert request.partition_key is None
        assert request.tags["dagster/asset_partition_range_start"] == START.isoformat()
        assert request.tags["dagster/asset_partition_range_end"] == LAST.isoformat()
        assert request.tags["appointment/trigger"] == "landing_zone_sensor"
        assert request.run_key
        cursor = json.loads(first.cursor)
        assert sorted(cursor["days"]) == [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
        assert all(set(v) == set(SNAPSHOT_TABLES) for v in cursor["days"].values())

        result = execute(request.job_name, request, res, instance)
        materialized = {(e.asset_key, e.partition) for e in result.get_asset_materialization_events()}
        for table in SNAPSHOT_TABLES.values():
            for i in range(DAYS):
                assert (AssetKey(table), (START + timedelta(days=i)).isoformat()) in materialized
        assert sum(1 for key, _ in materialized if key == AssetKey("appointments")) == 1
        before = loads(wh)
        assert set(before) == {(p, (START + timedelta(days=i)).isoformat()) for p in SNAPSHOT_TABLES for i in range(DAYS)}
        assert {stamp for stamp, _ in before.values()} == {"RECONCILE_CRON"}  # an automated reconcile load
        assert request.tags[INGEST_SOURCE_TAG] == "RECONCILE_CRON"

        # 2. nothing changed: no run, and the skip reason says so
        second = evaluate_sensor(instance, landing, first.cursor)
        assert not second.run_requests
        assert "no new or changed landing files" in second.skip_message
        assert f"{DAYS * 2} provider/day(s) unchanged" in second.skip_message
        # a touched file with the same bytes is no change either
        touched = next((landing / "ghl" / START.isoformat()).iterdir())
        os.utime(touched, (SETTLED + 60, SETTLED + 60))
        third = evaluate_sensor(instance, landing, second.cursor)
        assert not third.run_requests

        # 3. one changed file: exactly that day, a new run key
        changed_day = START + timedelta(days=1)
        extra = landing / "calendly" / changed_day.isoformat() / "late-000.jsonl"
        extra.write_text('{"not": "an invitee"}\n', encoding="utf-8")
        settle(landing)
        fourth = evaluate_sensor(instance, landing, third.cursor)
        assert len(fourth.run_requests) == 1
        request = fourth.run_requests[0]
        assert request.job_name == "landing_refresh_job"  # raw_leads is built now: snapshots + downstream only
        assert request.partition_key == changed_day.isoformat()
        assert "dagster/asset_partition_range_start" not in request.tags
        assert request.run_key != first.run_requests[0].run_key
        # the same evaluation repeated (lost cursor update): the same run key, which Dagster runs only once
        assert evaluate_sensor(instance, landing, third.cursor).run_requests[0].run_key == request.run_key

        result = execute(request.job_name, request, res, instance)
        assert AssetKey("raw_leads") not in {e.asset_key for e in result.get_asset_materialization_events()}
        after = loads(wh)
        key = ("calendly", changed_day.isoformat())
        assert after[key] == (before[key][0], before[key][1] + 1)  # one more line, the first stamp kept
        assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in before.items() if k != key}
        rejected = wh.scalar(
            "select count(*) from appointment_rejects where file like %s", [f"%{extra.name}"]
        )
        assert rejected == 1  # the new line went all the way to the rejects mart

        assert not evaluate_sensor(instance, landing, fourth.cursor).run_requests


def test_landing_sensor_reports_what_it_skips(landing):
    today = datetime.now(timezone.utc).date()
    (landing / "ghl" / today.isoformat()).mkdir()
    (landing / "ghl" / today.isoformat() / "w.jsonl").write_text("{}\n")
    (landing / "calendly" / "notes").mkdir()
    (landing / "calendly" / "2024-12-31").mkdir()
    (landing / "calendly" / "2024-12-31" / "w.jsonl").write_text("{}\n")
    settle(landing)
    with instance_for_test() as instance:
        first = evaluate_sensor(instance, landing, None)
        assert len(first.run_requests) == 1  # the demo days; nothing else
        assert sorted(load_cursor(first.cursor)) == [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]

        # a file still being written holds its whole day back, and the cursor does not move for it
        fresh = landing / "ghl" / LAST.isoformat() / "poll-999.jsonl"
        fresh.write_text("{}\n")
        held = evaluate_sensor(instance, landing, first.cursor)
        assert not held.run_requests
        for reason in (
            "still being written",
            "day not over yet",
            "folder name is not a YYYY-MM-DD day",
            "before the first partition",
        ):
            assert reason in held.skip_message
        assert load_cursor(held.cursor) == load_cursor(first.cursor)
        settle(landing)
        released = evaluate_sensor(instance, landing, held.cursor)
        assert [r.partition_key for r in released.run_requests] == [LAST.isoformat()]

        # removed files: dropped from the cursor, no run (retention must not delete warehouse rows)
        shutil.rmtree(landing / "ghl" / START.isoformat())
        removed = evaluate_sensor(instance, landing, released.cursor)
        assert not removed.run_requests
        assert "files removed" in removed.skip_message
        assert set(load_cursor(removed.cursor)[START.isoformat()]) == {"calendly"}

        # an unreadable cursor counts as empty: everything is requested again (idempotent loads)
        again = evaluate_sensor(instance, landing, "not json")
        assert again.run_requests


# -- backfills -----------------------------------------------------------------------------------------------------

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on PartitionSetNotFoundError { message }
  }
}
"""


def backfill_workspace(tmp_path: Path, res_source, landing: Path, warehouse_url: str) -> Path:
    """A code location file with the real definitions and the test's resources (the daemon loads it in-process)."""
    path = tmp_path / f"ops_backfill_defs_{uuid.uuid4().hex[:8]}.py"
    path.write_text(
        textwrap.dedent(
            f"""
            from dagster import Definitions
            from appointment_pipeline.definitions import defs as base
            from appointment_pipeline.defs.resources.resources import (
                LandingZoneResource, PipelineSettingsResource, SourceDatabaseResource, WarehouseResource,
            )

            defs = Definitions(
                assets=base.assets, asset_checks=base.asset_checks, jobs=base.jobs, schedules=base.schedules,
                sensors=base.sensors, executor=base.executor,
                resources={{
                    **base.resources,
                    "warehouse": WarehouseResource(url={warehouse_url!r}),
                    "source_db": SourceDatabaseResource(url={res_source!r}),
                    "landing_zone": LandingZoneResource(root={str(landing)!r}),
                    "pipeline_settings": PipelineSettingsResource(hash_key="ops-test-key", reference_time="2025-01-20T00:00:00Z"),
                }},
            )
            """
        )
    )
    return path


@contextmanager
def daemon_workspace(instance, defs_file: Path):
    """The workspace a daemon sees, with the code location loaded in-process."""
    target = {"python_file": str(defs_file), "attribute": "defs", "working_directory": str(defs_file.parent)}
    with daemon_workspace_context(instance, **target) as context:
        yield context


def launch_backfill(context, params: dict) -> str:
    """Launch a backfill the way the UI does: the launchPartitionBackfill GraphQL mutation."""
    from dagster_graphql.test.utils import execute_dagster_graphql

    result = execute_dagster_graphql(context.create_request_context(), LAUNCH_BACKFILL, {"params": params})
    launched = result.data["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def run_backfill_daemon(context, instance, backfill_id: str, max_iterations: int = 10):
    for _ in range(max_iterations):
        for error in execute_backfill_iteration(context, logging.getLogger("test_backfill")):
            assert error is None, error
        status = instance.get_backfill(backfill_id).status
        if status != BulkActionStatus.REQUESTED:
            return status
    return instance.get_backfill(backfill_id).status


SYNC_RUNS = {"run_coordinator": DEFAULT_RUN_COORDINATOR, "run_launcher": SYNC_RUN_LAUNCHER}


def test_asset_graph_backfill_is_one_range_run_then_the_marts_once(source, landing, tmp_path):
    warehouse_url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    defs_file = backfill_workspace(tmp_path, source[0], landing, warehouse_url)
    all_assets = [{"path": key.path} for key in defs.resolve_asset_graph().materializable_asset_keys]
    days = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
    with instance_for_test(overrides=SYNC_RUNS) as instance:
        with daemon_workspace(instance, defs_file) as context:
            # the asset graph's "Materialize" dialog: an asset selection and partition keys, no job
            backfill_id = launch_backfill(
                context, {"assetSelection": all_assets, "partitionNames": days, "fromFailure": False}
            )
            assert run_backfill_daemon(context, instance, backfill_id) == BulkActionStatus.COMPLETED_SUCCESS

        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert runs and all(run.status.value == "SUCCESS" for run in runs)
        snapshot_keys = {AssetKey(t) for t in SNAPSHOT_TABLES.values()}
        snapshot_runs = [run for run in runs if set(run.asset_selection or ()) & snapshot_keys]
        assert len(snapshot_runs) == 1, "the whole range must be one run (BackfillPolicy.single_run)"
        assert set(snapshot_runs[0].asset_selection) >= snapshot_keys
        assert snapshot_runs[0].tags["dagster/asset_partition_range_start"] == days[0]
        assert snapshot_runs[0].tags["dagster/asset_partition_range_end"] == days[-1]

        for mart in MARTS:
            events = instance.fetch_materializations(AssetKey(mart), limit=10).records
            assert len(events) == 1, f"{mart} must be rebuilt once for the whole backfill"
            mart_run = instance.get_run_by_id(events[0].run_id)
            assert mart_run.tags["dagster/backfill"] == backfill_id
            snapshot_done = max(
                r.timestamp for r in instance.fetch_materializations(AssetKey("raw_ghl_appointments"), limit=10).records
            )
            assert events[0].timestamp > snapshot_done  # after the range

    wh = Warehouse(warehouse_url)
    assert {stamp for stamp, _ in loads(wh).values()} == {"BACKFILL"}
    assert len(loads(wh)) == 2 * DAYS
    assert dict(wh.query("select source, count(*) from appointments group by source")).get("BACKFILL", 0) > 0


def test_job_page_backfill_is_one_run_while_every_partitioned_asset_is_single_run(source, landing, tmp_path):
    """dagster#17404 (job-page backfills ignore backfill policies) does not bite in 1.13 here: a job's policy is the
    strictest of its partitioned assets', and both snapshot assets are single_run, so a backfill launched from the
    reconcile_job page is also one run with a range. This test fails if a partitioned asset without single_run joins
    the job; the asset graph stays the documented place to launch backfills from."""
    from dagster_graphql.test.utils import infer_repository_selector

    warehouse_url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    defs_file = backfill_workspace(tmp_path, source[0], landing, warehouse_url)
    days = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
    with instance_for_test() as instance:  # queued run coordinator, no daemon: runs are created, not executed
        with daemon_workspace(instance, defs_file) as context:
            repository = infer_repository_selector(context.create_request_context())
            backfill_id = launch_backfill(
                context,
                {
                    "selector": {
                        "partitionSetName": "reconcile_job_partition_set",
                        "repositorySelector": {
                            "repositoryLocationName": repository["repositoryLocationName"],
                            "repositoryName": repository["repositoryName"],
                        },
                    },
                    "partitionNames": days,
                    "fromFailure": False,
                },
            )
            run_backfill_daemon(context, instance, backfill_id, max_iterations=3)
        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert len(runs) == 1
    assert runs[0].job_name == "reconcile_job"
    assert (runs[0].tags["dagster/asset_partition_range_start"], runs[0].tags["dagster/asset_partition_range_end"]) == (
        days[0],
        days[-1],
    )


# -- freshness ------------------------------------------------------------------------------------------------------


def test_expected_snapshot_day():
    first = date(2025, 1, 1)
    assert expected_snapshot_day(datetime(2025, 1, 5, 7, tzinfo=timezone.utc), 6, first) == date(2025, 1, 4)
    assert expected_snapshot_day(datetime(2025, 1, 5, 5, tzinfo=timezone.utc), 6, first) == date(2025, 1, 3)
    assert expected_snapshot_day(datetime(2025, 1, 1, 12, tzinfo=timezone.utc), 6, first) is None
    # closed partitions (the demo's) expect nothing after their last day, however late it is
    assert expected_snapshot_day(datetime(2026, 11, 5, 7, tzinfo=timezone.utc), 6, first, date(2025, 1, 14)) == date(2025, 1, 14)


def test_closed_partitions_leave_later_days_to_nobody(landing):
    from appointment_pipeline.defs.automation.sensors import scan_landing

    (landing / "ghl" / "2025-02-01").mkdir()
    (landing / "ghl" / "2025-02-01" / "w.jsonl").write_text("{}\n")
    settle(landing)
    scan = scan_landing(landing, {}, now=time.time(), first_day=START, settle=0, hash_budget=60, last_day=LAST)
    assert "ghl/2025-02-01" in " ".join(item for items in scan.skipped.values() for item in items)
    assert sorted(scan.changed) == [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]


def test_freshness_check_warns_until_yesterday_is_materialized():
    job = defs.resolve_job_def("snapshot_freshness_job")
    with instance_for_test() as instance:
        stale = job.execute_in_process(instance=instance)
        assert stale.success  # a WARN check does not fail the run
        evaluations = stale.get_asset_check_evaluations()
        assert {e.asset_key for e in evaluations} == {AssetKey(t) for t in SNAPSHOT_TABLES.values()}
        # the check reads the real clock: the day it expects is yesterday or the day before (grace period)
        due = date.fromisoformat(evaluations[0].metadata["expected_partition"].value)
        today = datetime.now(timezone.utc).date()
        assert today - timedelta(days=2) <= due <= today - timedelta(days=1)
        for evaluation in evaluations:
            assert not evaluation.passed
            assert evaluation.severity == AssetCheckSeverity.WARN
            assert evaluation.metadata["expected_partition"].value == due.isoformat()
            assert evaluation.metadata["latest_materialized_partition"].value == "none"
            assert evaluation.description.startswith(f"No snapshot for {due}")

        for table in SNAPSHOT_TABLES.values():
            instance.report_runless_asset_event(AssetMaterialization(asset_key=table, partition=due.isoformat()))
        fresh = job.execute_in_process(instance=instance)
        for evaluation in fresh.get_asset_check_evaluations():
            assert evaluation.passed, evaluation.description
            assert evaluation.metadata["latest_materialized_partition"].value == due.isoformat()
            assert due.isoformat() not in evaluation.metadata["missing_partitions_last_7_days"].value

        checks = instance.event_log_storage.get_asset_check_summary_records(
            [k for k in defs.resolve_asset_graph().asset_check_keys if k.name == FRESHNESS_CHECK_NAME]
        )
        assert all(r.last_check_execution_record is not None for r in checks.values())
