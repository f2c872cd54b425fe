"""Snapshot partitions pulled over HTTP (the providers' shapes served by pytest-httpserver) land exactly like the same
data as files."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from dagster import DagsterInstance, materialize

from appointment_pipeline.definitions import defs
from appointment_pipeline.defs.resources.resources import CalendlyApi, GhlApi, ProviderApisResource
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import Inputs, resources_for
from provider_data import (
    DEFAULT_LOCATION_ID,
    DEFAULT_ORGANIZATION,
    ServedProviders,
    build_calendly_dataset,
    build_ghl_dataset,
    calendly_error,
    ghl_error,
)

DAY = "2025-01-05"
START = datetime(2025, 1, 5, tzinfo=timezone.utc)
CALENDLY_TOKEN, GHL_TOKEN = "calendly-test-token", "ghl-test-token"


def api_resources(calendly_url: str, ghl_url: str, calendars: list[str]) -> ProviderApisResource:
    return ProviderApisResource(
        calendly=CalendlyApi(token=CALENDLY_TOKEN, base_url=calendly_url, organization=DEFAULT_ORGANIZATION,
                                     retry_max_attempts=3, retry_base_delay=0.01),
        ghl=GhlApi(token=GHL_TOKEN, base_url=ghl_url, location_id=DEFAULT_LOCATION_ID, calendar_ids=calendars,
                           retry_max_attempts=3, retry_base_delay=0.01),
    )


def extract(asset_name: str, url: str, inputs: Inputs, apis: ProviderApisResource, source: str):
    return materialize(
        [defs.get_assets_def(asset_name)],
        partition_key=DAY,
        resources={**defs.resources, **resources_for(url, inputs), "provider_apis": apis},
        run_config={"ops": {asset_name: {"config": {"source": source}}}},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def rows_without_position(wh: Warehouse, table: str) -> list[tuple]:
    columns = [name for name, _ in wh.table_columns(table) if name not in ("file", "line")]
    return sorted(wh.query(f"select {', '.join(columns)} from {table}"), key=str)


@pytest.fixture(scope="module")
def datasets():
    calendly = build_calendly_dataset(seed=5, n_events=130, start=START, days=6)
    ghl = build_ghl_dataset(seed=5, events_per_calendar=60, start=START, days=6)
    return calendly, ghl


@pytest.fixture
def landing_copy(tmp_path, datasets) -> Inputs:
    """The same provider data written as landing-zone lines."""
    calendly, ghl = datasets
    landing = tmp_path / "landing"
    (landing / "calendly" / DAY).mkdir(parents=True)
    (landing / "ghl" / DAY).mkdir(parents=True)
    with open(landing / "calendly" / DAY / "copy.jsonl", "w") as out:
        for item in calendly:
            for invitee in item["invitees"]:
                out.write(json.dumps({**invitee, "scheduled_event": item["event"]}) + "\n")
    with open(landing / "ghl" / DAY / "copy.jsonl", "w") as out:
        for events in ghl.values():
            for event in events:
                out.write(json.dumps(event) + "\n")
    return Inputs(source_db_url=f"sqlite:///{tmp_path / 'unused.sqlite'}", landing_dir=landing)


def failing_now_and_then():
    """Every 7th Calendly and every 5th GHL request answers 5xx."""
    counts = {"calendly": 0, "ghl": 0}

    def fault(request, number, serve_normally):
        provider = "ghl" if request.path.startswith("/calendars") else "calendly"
        counts[provider] += 1
        if provider == "calendly" and counts[provider] % 7 == 0:
            return calendly_error(500)
        if provider == "ghl" and counts[provider] % 5 == 0:
            return ghl_error(503, "Service Unavailable")
        return serve_normally()

    return fault


def test_api_pull_equals_landing_files(tmp_path, datasets, landing_copy, httpserver):
    calendly, ghl = datasets
    server = ServedProviders(httpserver, calendly=calendly, ghl=ghl, calendly_token=CALENDLY_TOKEN,
                             ghl_token=GHL_TOKEN, fault=failing_now_and_then())
    apis = api_resources(server.base_url, server.base_url, sorted(ghl))
    api_url, file_url = f"duckdb:///{tmp_path / 'api.duckdb'}", f"duckdb:///{tmp_path / 'files.duckdb'}"
    for asset_name in ("raw_calendly_invitees", "raw_ghl_appointments"):
        assert extract(asset_name, api_url, landing_copy, apis, "api").success
        assert extract(asset_name, file_url, landing_copy, apis, "landing").success
        from_api = rows_without_position(Warehouse(api_url), asset_name)
        from_files = rows_without_position(Warehouse(file_url), asset_name)
        assert len(from_api) > 100
        assert from_api == from_files
    statuses = server.statuses()
    assert 500 in statuses and 503 in statuses  # the retries were real


def test_a_permanent_failure_writes_nothing_for_the_partition(tmp_path, datasets, landing_copy, httpserver):
    calendly, ghl = datasets
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    down = lambda request, number, serve_normally: calendly_error(500)  # noqa: E731
    server = ServedProviders(httpserver, calendly=calendly, ghl=ghl, calendly_token=CALENDLY_TOKEN,
                             ghl_token=GHL_TOKEN, fault=down)
    apis = api_resources(server.base_url, server.base_url, sorted(ghl))
    assert extract("raw_calendly_invitees", url, landing_copy, apis, "landing").success
    wh = Warehouse(url)
    before = wh.query("select * from raw_calendly_invitees order by file, line")
    loads = wh.query("select * from snapshot_partition_loads")
    result = extract("raw_calendly_invitees", url, landing_copy, apis, "api")
    assert not result.success
    assert server.statuses() == [500, 500, 500]  # retry_max_attempts=3, then the run failed
    assert wh.query("select * from raw_calendly_invitees order by file, line") == before
    assert wh.query("select * from snapshot_partition_loads") == loads
    assert CALENDLY_TOKEN not in str(result.all_events)
