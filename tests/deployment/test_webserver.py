"""The Dagster UI's view of the code location: a real ``dagster-webserver`` process, asked through its GraphQL API.

Every asset must reach the UI with its group, kinds, description, dependencies, pool and asset checks, and the jobs,
schedules and sensors of the operations paths must be there with their settings, exactly as ``defs`` declares them.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest
import requests

from appointment_pipeline.definitions import defs
from appointment_pipeline.defs.constants import WAREHOUSE_KIND
from pipeline import cli_env

ROOT = Path(__file__).resolve().parents[2]
WEBSERVER = Path(sys.executable).with_name("dagster-webserver")
DAEMON = Path(sys.executable).with_name("dagster-daemon")
WORKSPACE = str(ROOT / "workspace.yaml")
READY_TIMEOUT = 120  # seconds: server start plus loading the code location (a gRPC subprocess)

ASSETS_QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    kinds
    description
    isPartitioned
    pools
    jobNames
    dependencyKeys { path }
    backfillPolicy { policyType maxPartitionsPerRun }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name blocking description } }
    }
  }
}
"""

REPOSITORY_QUERY = """
{
  repositoriesOrError {
    __typename
    ... on RepositoryConnection {
      nodes {
        name
        jobs { name isAssetJob }
        schedules {
          name cronSchedule executionTimezone pipelineName defaultStatus description
          scheduleState { status }
        }
        sensors {
          name minIntervalSeconds defaultStatus description
          targets { pipelineName }
          sensorState { status }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

LOCATION_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(tmp: Path) -> dict[str, str]:
    home = tmp / "dagster_home"
    home.mkdir(exist_ok=True)
    return cli_env(
        DAGSTER_HOME=str(home),
        APPOINTMENT_WAREHOUSE_URL=f"duckdb:///{tmp / 'warehouse.duckdb'}",
        APPOINTMENT_SOURCE_DB_URL=f"sqlite:///{tmp / 'app.sqlite'}",
        APPOINTMENT_LANDING_DIR=str(tmp / "landing"),
        APPOINTMENT_PARTITIONS_START="2025-01-01",
        APPOINTMENT_HASH_KEY="webserver-test-key",
        DAGSTER_DISABLE_TELEMETRY="1",
    )


class Webserver:
    def __init__(self, url: str):
        self.url = url

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("webserver")
    port = free_port()
    log = open(tmp / "webserver.log", "wb")
    process = subprocess.Popen(
        [str(WEBSERVER), "-w", WORKSPACE, "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp,
        env=child_env(tmp),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Webserver(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            assert process.poll() is None, (tmp / "webserver.log").read_text(errors="replace")[-4000:]
            assert time.monotonic() < deadline, "dagster-webserver did not come up in time"
            try:
                if requests.get(f"{server.url}/server_info", timeout=2).ok:
                    entries = server.graphql(LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
                    if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
                        break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        errors = [e["locationOrLoadError"] for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
        assert not errors, errors
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def expected_kinds(kinds) -> set[str]:
    # the warehouse kind is read from APPOINTMENT_WAREHOUSE_URL at import; the server runs on a DuckDB warehouse
    return {"duckdb" if kind == WAREHOUSE_KIND else kind for kind in kinds}


def test_every_asset_reaches_the_ui_as_declared(webserver):
    nodes = {tuple(n["assetKey"]["path"]): n for n in webserver.graphql(ASSETS_QUERY)["assetNodes"]}
    graph = defs.resolve_asset_graph()
    keys = {tuple(key.path) for key in graph.materializable_asset_keys}
    sources = {tuple(key.path) for key in graph.get_all_asset_keys()} - keys
    assert set(nodes) == keys | sources
    for key in sources:  # the external systems the data starts in: shown, described, never materialized
        assert nodes[key]["groupName"] == "sources" and nodes[key]["description"], key

    checks_by_asset = defaultdict(dict)
    for check_key in graph.asset_check_keys:
        checks_by_asset[tuple(check_key.asset_key.path)][check_key.name] = graph.get(check_key)

    for key in graph.materializable_asset_keys:
        node, declared = nodes[tuple(key.path)], graph.get(key)
        name = key.to_user_string()
        assert node["groupName"] == declared.group_name, name
        assert set(node["kinds"]) == expected_kinds(declared.kinds), name
        assert node["description"] == declared.description, name
        assert node["description"], f"{name} has no description"
        assert {tuple(d["path"]) for d in node["dependencyKeys"]} == {tuple(p.path) for p in declared.parent_keys}, name
        assert node["isPartitioned"] == declared.is_partitioned, name
        assert node["pools"] == ["appointment_warehouse"], name
        assert node["backfillPolicy"]["policyType"] == "SINGLE_RUN", name

        checks = node["assetChecksOrError"]
        assert checks["__typename"] == "AssetChecks", checks
        shown = {c["name"]: c for c in checks["checks"]}
        assert set(shown) == set(checks_by_asset[tuple(key.path)]), name
        for check_name, check in shown.items():
            assert check["blocking"] == checks_by_asset[tuple(key.path)][check_name].blocking, (name, check_name)
            assert check["description"], (name, check_name)

    # the operations pieces: freshness checks on both snapshots, jobs listed on the assets
    for table in ("raw_calendly_invitees", "raw_ghl_appointments"):
        node = nodes[(table,)]
        assert "snapshot_partition_fresh" in {c["name"] for c in node["assetChecksOrError"]["checks"]}
        assert {"reconcile_job", "landing_refresh_job"} <= set(node["jobNames"])
    assert "reconcile_job" in nodes[("raw_leads",)]["jobNames"]
    assert "landing_refresh_job" not in nodes[("raw_leads",)]["jobNames"]


def test_jobs_schedules_and_sensors_reach_the_ui(webserver):
    repositories = webserver.graphql(REPOSITORY_QUERY)["repositoriesOrError"]
    assert repositories["__typename"] == "RepositoryConnection", repositories
    (repository,) = repositories["nodes"]

    jobs = {job["name"]: job for job in repository["jobs"]}
    assert {"reconcile_job", "landing_refresh_job", "snapshot_freshness_job"} <= set(jobs)
    assert all(jobs[name]["isAssetJob"] for name in ("reconcile_job", "landing_refresh_job"))

    schedules = {s["name"]: s for s in repository["schedules"]}
    assert set(schedules) == {s.name for s in defs.schedules}
    reconcile = schedules["reconcile_daily"]
    assert (reconcile["cronSchedule"], reconcile["executionTimezone"]) == ("0 2 * * *", "UTC")
    assert reconcile["pipelineName"] == "reconcile_job"
    assert reconcile["defaultStatus"] == "STOPPED" and reconcile["scheduleState"]["status"] == "STOPPED"
    assert "APPOINTMENT_RECONCILE_CRON" in reconcile["description"]
    assert schedules["snapshot_freshness_hourly"]["pipelineName"] == "snapshot_freshness_job"

    sensors = {s["name"]: s for s in repository["sensors"]}
    assert set(sensors) == {s.name for s in defs.sensors}
    landing = sensors["landing_zone_sensor"]
    assert {t["pipelineName"] for t in landing["targets"]} == {"landing_refresh_job", "reconcile_job"}
    assert landing["minIntervalSeconds"] == 60
    assert landing["defaultStatus"] == "STOPPED" and landing["sensorState"]["status"] == "STOPPED"


# -- the whole deployment at work (slow: the backfill daemon iterates every 30 s) -------------------------------------

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""

START_SENSOR = """
mutation($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""

SENSOR_TICKS = """
query($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { ticks(limit: 10) { status skipReason runIds } } }
  }
}
"""


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


@pytest.mark.slow
def test_ui_backfill_and_sensor_with_the_daemon(tmp_path):
    """dagster-webserver + dagster-daemon on a SQLite instance with the queued run coordinator and the warehouse pool:
    a backfill launched from the asset graph completes as one snapshot run + the marts once; the landing sensor,
    started from the UI, requests one run for the changed days and then skips."""
    from appointment_pipeline.demo import generate_demo
    from appointment_pipeline.io.warehouse import Warehouse
    from dagster import DagsterInstance, RunsFilter
    from appointment_pipeline.defs.runtime.dagster_internals import BulkActionStatus

    env = child_env(tmp_path)
    env.update({"APPOINTMENT_LANDING_SENSOR_INTERVAL_SECONDS": "5", "APPOINTMENT_LANDING_SETTLE_SECONDS": "0",
                "APPOINTMENT_REFERENCE_TIME": "2025-01-20T00:00:00Z"})
    home = Path(env["DAGSTER_HOME"])
    (home / "dagster.yaml").write_text(
        "run_coordinator:\n  module: dagster.core.run_coordinator\n  class: QueuedRunCoordinator\n"
        "concurrency:\n  pools:\n    default_limit: 1\ntelemetry:\n  enabled: false\n"
    )
    generate_demo(env["APPOINTMENT_SOURCE_DB_URL"], Path(env["APPOINTMENT_LANDING_DIR"]), leads=20, days=2,
                  start=date(2025, 1, 1), seed=17)
    DagsterInstance.from_config(str(home)).dispose()  # create the storage before two processes race for it

    port = free_port()
    logs = [open(tmp_path / name, "wb") for name in ("webserver.log", "daemon.log")]
    processes = [
        subprocess.Popen([str(WEBSERVER), "-w", WORKSPACE, "-h", "127.0.0.1", "-p", str(port)], cwd=tmp_path,
                         env=env, stdout=logs[0], stderr=subprocess.STDOUT),
        subprocess.Popen([str(DAEMON), "run", "-w", WORKSPACE], cwd=tmp_path,
                         env=env, stdout=logs[1], stderr=subprocess.STDOUT),
    ]
    server = Webserver(f"http://127.0.0.1:{port}")
    instance = DagsterInstance.from_config(str(home))
    try:
        def ready():
            assert all(p.poll() is None for p in processes), (tmp_path / "daemon.log").read_text(errors="replace")
            try:
                entries = server.graphql(LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
            except requests.ConnectionError:
                return False
            return entries and all(e["loadStatus"] == "LOADED" for e in entries) and entries

        entries = wait_for(ready, READY_TIMEOUT, "the webserver")
        location = entries[0]["name"]
        repository = webserver_repository_name(server)

        graph = defs.resolve_asset_graph()
        launched = server.graphql(LAUNCH_BACKFILL, {"params": {
            "assetSelection": [{"path": k.path} for k in graph.materializable_asset_keys],
            "partitionNames": ["2025-01-01", "2025-01-02"],
            "fromFailure": False,
        }})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]
        status = wait_for(
            lambda: (s := instance.get_backfill(backfill_id).status) != BulkActionStatus.REQUESTED and s,
            300, "the backfill", interval=2,
        )
        assert status == BulkActionStatus.COMPLETED_SUCCESS, (tmp_path / "daemon.log").read_text(errors="replace")[-4000:]
        runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert all(r.is_success for r in runs)
        snapshot_runs = [r for r in runs if any(k.path[0].startswith("raw_c") for k in r.asset_selection or ())]
        assert len(snapshot_runs) == 1
        appointments = [r for r in runs if any(k.path == ["appointments"] for k in r.asset_selection or ())]
        assert len(appointments) == 1

        selector = {"repositoryLocationName": location, "repositoryName": repository, "sensorName": "landing_zone_sensor"}
        started = server.graphql(START_SENSOR, {"selector": selector})["startSensor"]
        assert started["__typename"] == "Sensor", started

        def sensor_run():
            found = instance.get_runs(RunsFilter(tags={"appointment/trigger": "landing_zone_sensor"}))
            return found and found[0].is_finished and found

        sensor_runs = wait_for(sensor_run, 240, "the sensor's run", interval=2)
        assert len(sensor_runs) == 1 and sensor_runs[0].is_success
        assert sensor_runs[0].job_name == "landing_refresh_job"
        assert sensor_runs[0].tags["dagster/asset_partition_range_start"] == "2025-01-01"
        assert sensor_runs[0].tags["dagster/asset_partition_range_end"] == "2025-01-02"

        def skipped_tick():
            ticks = server.graphql(SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]["ticks"]
            return [t for t in ticks if t["status"] == "SKIPPED"]

        skipped = wait_for(skipped_tick, 60, "a skipped sensor tick", interval=2)
        assert "no new or changed landing files" in skipped[0]["skipReason"]
        assert len(instance.get_runs(RunsFilter(tags={"appointment/trigger": "landing_zone_sensor"}))) == 1
    finally:
        instance.dispose()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for handle in logs:
            handle.close()

    wh = Warehouse(env["APPOINTMENT_WAREHOUSE_URL"])
    assert {row[0] for row in wh.query("select distinct ingest_source from snapshot_partition_loads")} == {"BACKFILL"}


def webserver_repository_name(server: Webserver) -> str:
    repositories = server.graphql("{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }")
    (repository,) = repositories["repositoriesOrError"]["nodes"]
    return repository["name"]
