"""The Dagster UI's view of the code location: a real ``dagster-webserver`` process, asked through its GraphQL API.

Every asset must reach the UI with its group, kinds, description, dependencies, pool, backfill policy and asset checks
as the SQL project's files, the README's asset table and the documented extract and publish assets say (not as the
served ``defs`` says, which would agree with itself); the jobs, schedules and sensors of the operations paths must be
there with their settings.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
import requests
import sqlglot
import yaml
from sqlglot import exp

from appointment_pipeline.definitions import defs
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


# -- what the UI must show, from sources independent of the served ``defs`` ------------------------------------------
# The SQL project's own files (read with yaml and sqlglot here, not through the package's loader), the README's asset
# table, and the documented extract, publish and check declarations below. The server runs on a DuckDB warehouse and
# a SQLite application database (child_env), so those are the warehouse and application kinds.

SERVED_WAREHOUSE_KIND, SERVED_APP_KIND = "duckdb", "sqlite"
POOL = "appointment_warehouse"
SQL_LAYERS = ("staging", "intermediate", "marts")
# (kinds, upstream assets, partitioned) of the assets written in Python
PYTHON_ASSETS = {
    "raw_leads": ({"python", SERVED_WAREHOUSE_KIND}, {"app_lead_table"}, False),
    "raw_calendly_invitees": (
        {"python", "calendly", SERVED_WAREHOUSE_KIND}, {"calendly_landing_zone", "calendly_api"}, True),
    "raw_ghl_appointments": ({"python", "ghl", SERVED_WAREHOUSE_KIND}, {"ghl_landing_zone", "ghl_api"}, True),
    "app_appointments": ({"python", SERVED_APP_KIND}, {"appointments"}, False),
    "app_lead_rollups": (
        {"python", SERVED_APP_KIND}, {"lead_appointment_rollups", "lead_rollup_drift", "raw_leads"}, False),
}
# checks beyond the schema.yml tests: {asset: {check: blocking}} (README "Further checks", docs/operations.md,
# docs/publish.md); both PII checks run on every warehouse table
OTHER_CHECKS = {
    "appointments": {"reschedule_links_stay_within_lead": True, "reschedule_links_acyclic": True},
    "lead_appointment_rollups": {"rollup_matches_python_rule": False},
    "raw_calendly_invitees": {"snapshot_partition_fresh": False},
    "raw_ghl_appointments": {"snapshot_partition_fresh": False},
    "app_appointments": {"app_appointments_up_to_date": False},
    "app_lead_rollups": {"app_lead_rollups_up_to_date": False},
}
PII_CHECKS = {"no_pii_in_text_columns": True, "no_pii_by_lineage": True}


@dataclass
class ExpectedAsset:
    group: str
    kinds: set[str] = field(default_factory=set)
    description: str | None = None  # None: any non-empty description
    deps: set[str] = field(default_factory=set)
    partitioned: bool = False
    checks: dict[str, bool] = field(default_factory=dict)  # check name -> blocking


def documented_groups(readme: Path) -> dict[str, str]:
    """asset -> group, from the README's table under "## The assets"."""
    table = readme.read_text().split("## The assets", 1)[1].split("\n\n", 2)[1]
    groups = {}
    for row in table.splitlines()[2:]:
        group, assets = (cell.strip() for cell in row.strip("|").split("|")[:2])
        groups.update({asset: group for asset in re.findall(r"`(\w+)`", assets)})
    return groups


def tables_read(sql: str) -> set[str]:
    """The tables named after FROM and JOIN, without the query's own CTEs."""
    tree = sqlglot.parse_one(sql, read="postgres")
    return {t.name for t in tree.find_all(exp.Table)} - {cte.alias for cte in tree.find_all(exp.CTE)}


def declared_tests(model: dict) -> dict[str, bool]:
    tests = {}
    for column in model.get("columns", []):
        for entry in column.get("tests", []):
            kind, args = (entry, None) if isinstance(entry, str) else next(iter(entry.items()))
            tests[f"{kind}_{column['name']}"] = bool((args or {}).get("blocking", False))
    return tests


def expected_assets(sql_root: Path, readme: Path) -> dict[str, ExpectedAsset]:
    expected: dict[str, ExpectedAsset] = {}
    for layer in SQL_LAYERS:
        docs = {m["name"]: m for m in yaml.safe_load((sql_root / layer / "schema.yml").read_text())["models"]}
        for path in sorted((sql_root / layer).glob("*.sql")):
            doc = docs[path.stem]
            expected[path.stem] = ExpectedAsset(
                group=layer,
                kinds={"sql", SERVED_WAREHOUSE_KIND},
                description=" ".join(doc["description"].split()),
                deps=tables_read(path.read_text()),
                checks=declared_tests(doc),
            )
    seeds = {s["name"]: s for s in yaml.safe_load((sql_root / "seeds" / "schema.yml").read_text())["seeds"]}
    for path in sorted((sql_root / "seeds").glob("*.csv")):
        doc = seeds[path.stem]
        expected[path.stem] = ExpectedAsset(
            group="seeds",
            kinds={"csv", SERVED_WAREHOUSE_KIND},
            description=" ".join(doc["description"].split()),
            checks=declared_tests(doc),
        )
    for name, (kinds, deps, partitioned) in PYTHON_ASSETS.items():
        expected[name] = ExpectedAsset(group="", kinds=kinds, deps=deps, partitioned=partitioned)
    for name, asset in expected.items():
        if name.startswith("raw_") or "sql" in asset.kinds:  # a table the pipeline derives (seeds hold no PII)
            asset.checks.update(PII_CHECKS)
        asset.checks.update(OTHER_CHECKS.get(name, {}))
    groups = documented_groups(readme)
    for name, group in groups.items():
        if group == "sources":
            expected[name] = ExpectedAsset(group="sources")
        else:
            assert name in expected, f"the README lists {name}, which nothing here expects"
            assert group == expected[name].group or not expected[name].group, (name, group)
            expected[name].group = group
    undocumented = sorted(name for name in expected if name not in groups)
    assert not undocumented, f"missing from the README's asset table: {undocumented}"
    return expected


def differences(nodes: dict[str, dict], expected: dict[str, ExpectedAsset]) -> list[str]:
    """Every way the UI's asset nodes differ from the expectations, one line each."""
    found = []
    if set(nodes) != set(expected):
        found.append(f"assets: shown only {sorted(set(nodes) - set(expected))}, missing {sorted(set(expected) - set(nodes))}")
    for name in sorted(set(nodes) & set(expected)):
        node, want = nodes[name], expected[name]
        shown = {
            "group": node["groupName"],
            "deps": {"/".join(d["path"]) for d in node["dependencyKeys"]},
            "partitioned": node["isPartitioned"],
        }
        wanted = {"group": want.group, "deps": want.deps, "partitioned": want.partitioned}
        if want.group != "sources":
            checks = node["assetChecksOrError"]
            shown |= {
                "kinds": set(node["kinds"]),
                "pools": node["pools"],
                "backfill": node["backfillPolicy"] and node["backfillPolicy"]["policyType"],
                "checks": {c["name"]: c["blocking"] for c in checks.get("checks", [])} or checks["__typename"],
            }
            wanted |= {"kinds": want.kinds, "pools": [POOL], "backfill": "SINGLE_RUN", "checks": want.checks}
        found += [f"{name} {what}: shown {shown[what]!r}, expected {wanted[what]!r}"
                  for what in wanted if shown[what] != wanted[what]]
        description = " ".join((node["description"] or "").split())
        if not description or (want.description is not None and description != want.description):
            found.append(f"{name} description: shown {description!r}, expected {want.description or 'one'!r}")
        if want.group != "sources":
            found += [f"{name} check {c['name']} has no description"
                      for c in node["assetChecksOrError"].get("checks", []) if not c["description"]]
    return found


@pytest.fixture(scope="module")
def asset_nodes(webserver) -> dict[str, dict]:
    return {"/".join(n["assetKey"]["path"]): n for n in webserver.graphql(ASSETS_QUERY)["assetNodes"]}


def test_every_asset_reaches_the_ui_as_declared(asset_nodes):
    expected = expected_assets(ROOT / "dbt_like_sql", ROOT / "README.md")
    assert len([a for a in expected.values() if a.group in SQL_LAYERS]) == len(list(ROOT.glob("dbt_like_sql/*/*.sql")))
    assert differences(asset_nodes, expected) == []

    # the operations pieces: jobs listed on the assets
    for table in ("raw_calendly_invitees", "raw_ghl_appointments"):
        assert {"reconcile_job", "landing_refresh_job"} <= set(asset_nodes[table]["jobNames"])
    assert "reconcile_job" in asset_nodes["raw_leads"]["jobNames"]
    assert "landing_refresh_job" not in asset_nodes["raw_leads"]["jobNames"]
    assert not any(asset_nodes[name]["jobNames"] for name, a in expected.items() if a.group == "sources")


def test_the_ui_comparison_catches_a_changed_sql_project(asset_nodes, tmp_path):
    """The expectations follow the SQL project's files: a changed copy disagrees with what the server shows."""
    sql_root = tmp_path / "dbt_like_sql"
    shutil.copytree(ROOT / "dbt_like_sql", sql_root)
    assert differences(asset_nodes, expected_assets(sql_root, ROOT / "README.md")) == []

    schema = sql_root / "marts" / "schema.yml"
    docs = yaml.safe_load(schema.read_text())
    rollups = next(m for m in docs["models"] if m["name"] == "lead_appointment_rollups")
    rollups["description"] = "A description the served definitions do not have."
    appointments = next(m for m in docs["models"] if m["name"] == "appointments")
    appointments["columns"][0].setdefault("tests", []).append({"accepted_values": {"values": ["x"], "blocking": True}})
    schema.write_text(yaml.safe_dump(docs, sort_keys=False))
    (sql_root / "marts" / "lead_rollup_drift.sql").write_text("select * from appointments join raw_leads using (lead_id)")
    found = "\n".join(differences(asset_nodes, expected_assets(sql_root, ROOT / "README.md")))
    assert "lead_appointment_rollups description" in found
    assert "appointments checks" in found and f"accepted_values_{appointments['columns'][0]['name']}" in found
    assert "lead_rollup_drift deps" in found and "'raw_leads'" in found


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
