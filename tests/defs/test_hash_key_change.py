"""A run with another APPOINTMENT_HASH_KEY never mixes keys in the warehouse: it stops with what to do, and the
documented re-hash (deploy/rehash.yaml over every loaded day) gives exactly what a fresh build with the new key
gives. Real runs on both engines."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from dagster import AssetSelection, DagsterInstance

from appointment_pipeline.domain.key_fingerprint import FINGERPRINT_TABLE, HASHED_TABLES, key_fingerprint
from appointment_pipeline.defs.resources.resources import (
    LandingZoneResource,
    PipelineSettingsResource,
    SourceDatabaseResource,
    WarehouseResource,
)
from appointment_pipeline.runner import materialize_range
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import OUTPUT_TABLES, RAW_TABLES, table_snapshot

ROOT = Path(__file__).resolve().parents[2]
START = date(2025, 1, 1)
LAST = START + timedelta(days=2)  # small_demo holds three days
KEY_A, KEY_B = "first-secret-key-3b9", "second-secret-key-7c1"
SNAPSHOTS = ["raw_calendly_invitees", "raw_ghl_appointments"]


def run(url, small_demo, key, first=START, last=LAST, selection="*", run_config=None):
    source_db_url, landing = small_demo
    return materialize_range(
        first,
        last,
        resources={
            "warehouse": WarehouseResource(url=url),
            "source_db": SourceDatabaseResource(url=source_db_url),
            "landing_zone": LandingZoneResource(root=str(landing)),
            "pipeline_settings": PipelineSettingsResource(hash_key=key, reference_time="2025-01-20T00:00:00Z"),
        },
        instance=DagsterInstance.ephemeral(),
        selection=selection,
        raise_on_error=False,
        **({"run_config": run_config} if run_config else {}),
    )


def failure_messages(result) -> str:
    messages = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            while error is not None:
                messages.append(error.message)
                error = error.cause
    return "\n".join(messages)


@pytest.fixture(scope="module")
def built_with_key(small_demo, tmp_path_factory):
    """Factory: the path of a DuckDB file holding a fresh build of small_demo with ``key``, built once per key; copy
    it to change it."""
    built: dict[str, Path] = {}

    def build(key: str) -> Path:
        if key not in built:
            path = tmp_path_factory.mktemp("built") / "wh.duckdb"
            assert run(f"duckdb:///{path}", small_demo, key).success
            built[key] = path
        return built[key]

    return build


def copy_of(path: Path, tmp_path: Path) -> str:
    shutil.copy(path, tmp_path / "wh.duckdb")
    return f"duckdb:///{tmp_path / 'wh.duckdb'}"


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request, tmp_path, pg_database, small_demo, built_with_key):
    """A warehouse built from small_demo with KEY_A."""
    if request.param == "duckdb":
        return copy_of(built_with_key(KEY_A), tmp_path)
    url = pg_database("ap_rehash")
    assert run(url, small_demo, KEY_A).success
    return url


def test_hashed_tables_are_the_tables_with_an_email_hash():
    from appointment_pipeline.defs.extract.assets import RAW_LEADS_COLUMNS
    from appointment_pipeline.domain.parsing import CALENDLY, GHL

    with_hash = {"raw_leads"} if any(c.name == "email_hash" for c in RAW_LEADS_COLUMNS) else set()
    with_hash |= {p.table for p in (CALENDLY, GHL) if any(c.name == "email_hash" for c in p.columns)}
    assert set(HASHED_TABLES) == with_hash


def test_another_key_stops_and_the_documented_rehash_is_a_clean_rebuild(warehouse_url, small_demo, built_with_key):
    wh = Warehouse(warehouse_url)
    recorded = dict(wh.query(f"select table_name, fingerprint from {FINGERPRINT_TABLE}"))
    assert recorded == {table: key_fingerprint(KEY_A) for table in HASHED_TABLES}
    assert KEY_A not in str(wh.query(f"select * from {FINGERPRINT_TABLE}"))
    before = table_snapshot(wh, OUTPUT_TABLES + RAW_TABLES)
    assert wh.scalar("select count(*) from appointments where provider = 'CALENDLY'") > 0

    # one partition with another key: the reported failure (silent loss of Calendly matches) must not happen
    middle = START + timedelta(days=1)
    result = run(warehouse_url, small_demo, KEY_B, middle, middle)
    assert not result.success
    message = failure_messages(result)
    assert "another APPOINTMENT_HASH_KEY" in message
    assert key_fingerprint(KEY_A) in message and key_fingerprint(KEY_B) in message
    assert "rehash: true" in message and f"{START}...{LAST}" in message
    assert KEY_A not in message and KEY_B not in message
    assert table_snapshot(wh, OUTPUT_TABLES + RAW_TABLES) == before

    # a re-hash that does not cover every loaded day is refused too, and writes nothing
    rehash = yaml.safe_load((ROOT / "deploy" / "rehash.yaml").read_text())
    result = run(warehouse_url, small_demo, KEY_B, middle, middle, run_config=rehash)
    assert not result.success
    assert f"must cover every day it holds ({START}...{LAST})" in failure_messages(result)
    assert table_snapshot(wh, OUTPUT_TABLES + RAW_TABLES) == before

    # the way out: every asset over every loaded day, with deploy/rehash.yaml
    result = run(warehouse_url, small_demo, KEY_B, run_config=rehash)
    assert result.success, failure_messages(result)
    assert dict(wh.query(f"select table_name, fingerprint from {FINGERPRINT_TABLE}")) == {
        table: key_fingerprint(KEY_B) for table in HASHED_TABLES
    }
    rehashed = table_snapshot(wh, OUTPUT_TABLES)
    assert rehashed == table_snapshot(Warehouse(f"duckdb:///{built_with_key(KEY_B)}"), OUTPUT_TABLES)
    # ...and it is a different warehouse from the key-A build only where hashes differ, not in what matched
    assert rehashed["appointments"] == before["appointments"]

    # afterwards the new key is the warehouse's key: a plain partition run passes, the old key stops
    assert run(warehouse_url, small_demo, KEY_B, middle, middle).success
    assert not run(warehouse_url, small_demo, KEY_A, middle, middle, selection=SNAPSHOTS).success


def test_a_half_finished_rehash_never_reaches_the_marts(tmp_path, small_demo, built_with_key):
    url = copy_of(built_with_key(KEY_A), tmp_path)
    wh = Warehouse(url)
    before = table_snapshot(wh, OUTPUT_TABLES)
    # raw_leads alone switched to key B (allowed: it rewrites the whole table)...
    result = run(url, small_demo, KEY_B, selection=["raw_leads"],
                 run_config={"ops": {"raw_leads": {"config": {"rehash": True}}}})
    assert result.success, failure_messages(result)
    # ...then the models: the one that matches hashes refuses, nothing downstream is rebuilt
    models = AssetSelection.assets("int_appointment_leads").downstream()
    result = run(url, small_demo, KEY_B, selection=models)
    assert not result.success
    assert "email hashes of two keys" in failure_messages(result)
    assert table_snapshot(wh, OUTPUT_TABLES) == before
    # a plain run with the old key now stops at raw_leads (it holds key B)
    result = run(url, small_demo, KEY_A, selection=["raw_leads"])
    assert not result.success and "another APPOINTMENT_HASH_KEY" in failure_messages(result)
