"""Publishing to the application database, on a real PostgreSQL application database and the SQLite demo one.

The warehouse is the session's demo build (``duckdb_built``, read from the demo's "Lead" table); every test
publishes it into its own fresh copy of that application database (same "Lead" rows, empty "Appointment"), through
real Dagster runs of the ``publish`` assets or the plain functions where a test needs a hook between batches.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from dagster import DagsterInstance, materialize

from appointment_pipeline.io.app_database import (
    AppDatabase,
    AppSchemaMismatch,
    derived_app_id,
    publish_appointments,
    publish_lead_rollups,
    resolve_publish_mode,
    round_ms,
    sqlite_text,
)
from appointment_pipeline.definitions import defs
from appointment_pipeline.demo import generate_demo
from appointment_pipeline.defs.publish.assets import PUBLISH_MODE_TAG
from appointment_pipeline.defs.resources.resources import (
    PipelineSettingsResource,
    SourceDatabaseResource,
    WarehouseResource,
)
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import DEMO_ARGS, HASH_KEY, table_rows

PUBLISH = ["app_appointments", "app_lead_rollups"]
ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def app_copy(demo, pg_database, tmp_path):
    """Factory: a fresh application database holding the demo's "Lead" rows and an empty "Appointment"."""

    def make(engine: str) -> AppDatabase:
        if engine == "sqlite":
            source = demo[0].source_db_url.removeprefix("sqlite:///")
            target = tmp_path / f"app_{uuid.uuid4().hex[:6]}.sqlite"
            shutil.copy(source, target)
            return AppDatabase(f"sqlite:///{target}")
        url = pg_database("ap_app")
        generate_demo(url, tmp_path / f"landing_{uuid.uuid4().hex[:6]}", **DEMO_ARGS)
        return AppDatabase(url)

    return make


@pytest.fixture
def warehouse_copy(duckdb_built, tmp_path) -> Warehouse:
    """A private copy of the built demo warehouse, for tests that change what the pipeline observed."""
    target = tmp_path / "warehouse.duckdb"
    shutil.copy(duckdb_built.url.removeprefix("duckdb:///"), target)
    return Warehouse(f"duckdb:///{target}")


def run_publish(wh: Warehouse, app: AppDatabase, *, mode: str | None = None, env_mode: str | None = None,
                batch_size: int | None = None, raise_on_error: bool = True, instance=None, tags=None):
    """A real Dagster run of the two publish assets (and their checks) with run config ``mode``."""
    config = {}
    if mode or batch_size:
        config = {k: v for k, v in (("mode", mode), ("batch_size", batch_size)) if v is not None}
    run_config = {"ops": {name: {"config": config} for name in PUBLISH}} if config else None
    return materialize(
        [*defs.assets, *defs.asset_checks],
        selection=PUBLISH,
        resources={
            **defs.resources,
            "warehouse": WarehouseResource(url=wh.url),
            "source_db": SourceDatabaseResource(url=app.url, publish_mode=env_mode),
        },
        run_config=run_config,
        tags=tags,
        instance=instance or DagsterInstance.ephemeral(),
        raise_on_error=raise_on_error,
    )


def materialization(result, asset: str) -> dict:
    [event] = result.asset_materializations_for_node(asset)
    return {k: v.value for k, v in event.metadata.items()}


def rows(app: AppDatabase, table: str) -> list[tuple]:
    with app.connect() as con:
        return sorted(
            (tuple(row) for row in app.execute(con, f'select * from "{table}"').fetchall()),
            key=lambda row: tuple(str(v) for v in row),
        )


def app_state(app: AppDatabase) -> dict:
    return {"Appointment": rows(app, "Appointment"), "Lead": rows(app, "Lead")}


def dangling_links(app: AppDatabase) -> int:
    return app.scalar(
        'select count(*) from "Appointment" a left join "Appointment" p on p.id = a."rescheduledFromId" '
        'where a."rescheduledFromId" is not null and p.id is null'
    )


def app_ids_by_warehouse_id(wh: Warehouse, app: AppDatabase) -> dict[str, str]:
    """Each warehouse appointment's row in the application, found by provider key or derived id (test-side)."""
    with app.connect() as con:
        app_rows = app.execute(con, 'select id, "ghlAppointmentId", "calendlyInviteeUri" from "Appointment"').fetchall()
    by_key = {}
    for app_id, ghl, cal in app_rows:
        by_key[("ghl", ghl)] = app_id
        by_key[("cal", cal)] = app_id
        by_key[("id", app_id)] = app_id
    found = {}
    for wh_id, ghl, cal in wh.query("select id, ghl_appointment_id, calendly_invitee_uri from appointments"):
        key = ("ghl", ghl) if ghl else ("cal", cal) if cal else ("id", derived_app_id(wh_id))
        if key in by_key:
            found[wh_id] = by_key[key]
    return found


# -- rules ----------------------------------------------------------------------------------------------------------


def test_mode_resolution_order():
    assert resolve_publish_mode(None, None) == "dry_run"
    assert resolve_publish_mode(None, "apply") == "apply"
    assert resolve_publish_mode("dry_run", "apply") == "dry_run"
    assert resolve_publish_mode("apply", None) == "apply"
    assert resolve_publish_mode(None, " APPLY ") == "apply"
    with pytest.raises(ValueError, match="APPOINTMENT_PUBLISH_MODE"):
        resolve_publish_mode(None, "yes")


def test_millisecond_rounding_matches_the_databases():
    value = datetime(2025, 1, 2, 10, 0, 0, 999_600, tzinfo=timezone.utc)
    assert round_ms(value) == datetime(2025, 1, 2, 10, 0, 1, tzinfo=timezone.utc)
    assert sqlite_text(datetime(2025, 1, 2, 12, 0, 0, 123_400, tzinfo=timezone(timedelta(hours=2)))) == (
        "2025-01-02T10:00:00.123Z"
    )
    # derived ids are the warehouse ids (md5 hex) in uuid form
    warehouse_id = "0123456789abcdef0123456789abcdef"
    assert str(uuid.UUID(derived_app_id(warehouse_id))) == derived_app_id(warehouse_id)
    assert derived_app_id(warehouse_id).replace("-", "") == warehouse_id


# -- dry run, apply, idempotency ------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_dry_run_writes_nothing_and_reports_the_plan(engine, app_copy, duckdb_built):
    app = app_copy(engine)
    before = app_state(app)
    instance = DagsterInstance.ephemeral()
    result = run_publish(duckdb_built, app, instance=instance)  # no mode anywhere: dry run
    assert app_state(app) == before
    assert instance.get_run_by_id(result.run_id).tags[PUBLISH_MODE_TAG] == "dry_run"

    appointments = materialization(result, "app_appointments")
    leads = materialization(result, "app_lead_rollups")
    assert appointments["mode"] == "dry_run" and leads["mode"] == "dry_run"
    assert "rows_written" not in appointments
    assert appointments["rows_to_insert"] == duckdb_built.scalar("select count(*) from appointments") > 0
    assert appointments["rows_to_update"] == appointments["rows_unchanged"] == 0
    drifting = duckdb_built.scalar("select count(distinct lead_id) from lead_rollup_drift")
    assert 0 < leads["rows_to_update"] <= drifting
    assert sum(leads["changed_fields"].values()) >= leads["rows_to_update"]
    assert "lead_" in leads["sample_changes"] and "@" not in leads["sample_changes"]
    # a dry run is behind on purpose: reported (rows still to write), not failed, so a dry-run deployment is green
    checks = {e.check_name: (e.passed, e.metadata["rows_still_to_write"].value) for e in result.get_asset_check_evaluations()}
    assert checks["app_appointments_up_to_date"] == (True, appointments["rows_to_insert"])
    assert checks["app_lead_rollups_up_to_date"] == (True, leads["rows_to_update"])


@pytest.mark.parametrize("engine", ENGINES)
def test_apply_then_apply_again_writes_nothing(engine, app_copy, duckdb_built):
    app = app_copy(engine)
    instance = DagsterInstance.ephemeral()
    first = run_publish(duckdb_built, app, mode="apply", instance=instance)
    assert instance.get_run_by_id(first.run_id).tags[PUBLISH_MODE_TAG] == "apply"
    applied = materialization(first, "app_appointments")
    wh_count = duckdb_built.scalar("select count(*) from appointments")
    assert applied["rows_written"] == applied["rows_to_insert"] == wh_count == applied["app_row_count"]
    assert materialization(first, "app_lead_rollups")["rows_written"] > 0
    assert all(e.passed for e in first.get_asset_check_evaluations())

    # every warehouse appointment has exactly one row, links are in application ids
    ids = app_ids_by_warehouse_id(duckdb_built, app)
    assert len(ids) == wh_count == len(set(ids.values()))
    with app.connect() as con:
        app_links = dict(app.execute(con, 'select id, "rescheduledFromId" from "Appointment"').fetchall())
    links = duckdb_built.query("select id, rescheduled_from_id from appointments where rescheduled_from_id is not null")
    assert links, "the demo has reschedules"
    for successor, predecessor in links:
        assert app_links[ids[successor]] == ids[predecessor]
    assert dangling_links(app) == 0

    state = app_state(app)
    # the deployment default (APPOINTMENT_PUBLISH_MODE) applies when the run config does not say
    second = run_publish(duckdb_built, app, env_mode="apply", instance=instance)
    assert instance.get_run_by_id(second.run_id).tags[PUBLISH_MODE_TAG] == "apply"
    for asset in PUBLISH:
        meta = materialization(second, asset)
        assert meta["mode"] == "apply"
        assert (meta["rows_written"], meta["rows_to_insert"], meta["rows_to_update"]) == (0, 0, 0)
    # nothing changed in the warehouse since the first apply settled every row: nothing is compared again
    again = materialization(second, "app_appointments")
    assert again["compare_scope"] == f"changed since last apply (0 of {wh_count} rows)"
    assert (again["rows_compared"], again["rows_unchanged"]) == (0, 0)
    assert again["rows_unchanged_since_last_apply"] == again["rows_recorded_as_settled"] == wh_count
    assert app_state(app) == state


@pytest.mark.postgres
def test_postgres_warehouse_publishes_the_same_rows(app_copy, duckdb_built, postgres_built):
    """A PostgreSQL warehouse is piped into the application with COPY; the result equals the DuckDB path's."""
    from_duckdb, from_postgres = app_copy("postgres"), app_copy("postgres")
    for wh, app in ((duckdb_built, from_duckdb), (postgres_built, from_postgres)):
        assert publish_appointments(wh, app, apply=True).written > 0
        assert publish_lead_rollups(wh, app, apply=True).written > 0
    assert app_state(from_duckdb) == app_state(from_postgres)
    assert publish_appointments(postgres_built, from_duckdb, apply=False).planned_writes == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_run_config_dry_run_beats_the_deployment_default(engine, app_copy, duckdb_built):
    app = app_copy(engine)
    before = app_state(app)
    result = run_publish(duckdb_built, app, mode="dry_run", env_mode="apply")
    assert materialization(result, "app_appointments")["mode"] == "dry_run"
    assert app_state(app) == before


# -- never clobber newer application data ---------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_dry_run_samples_the_first_writes_of_the_apply(engine, app_copy, warehouse_copy):
    """A dry run reads its sample and batch count from the plan; the apply numbers every write in a write table.
    Both name the same first rows, batches and fields: with many writes (a first publish, reschedule chains
    included), and with a few writes most of which follow a predecessor written in the same publish."""
    app = app_copy(engine)
    chained = warehouse_copy.scalar("select count(*) from appointments where rescheduled_from_id is not null")
    assert chained > 0
    plan = publish_appointments(warehouse_copy, app, apply=False, batch_size=7)
    applied = publish_appointments(warehouse_copy, app, apply=True, batch_size=7)
    assert "write_table" not in plan.seconds and "write_table" in applied.seconds
    assert plan.actions == applied.actions and plan.actions["insert"] > 10
    assert (plan.sample, plan.batches) == (applied.sample, applied.batches)

    # a chain's predecessor and its successors change: the successors come after it (depth > 0)
    pairs = warehouse_copy.query(
        "select id, rescheduled_from_id from appointments where rescheduled_from_id is not null order by id limit 2")
    chain = sorted({i for pair in pairs for i in pair})
    with warehouse_copy.transaction() as con:
        placeholders = ", ".join("%s" for _ in chain)
        warehouse_copy.execute(con, f"update appointments set timezone = 'Asia/Tokyo', updated_at = updated_at + "
                                    f"interval 1 hour where id in ({placeholders})", chain)
    plan = publish_appointments(warehouse_copy, app, apply=False, batch_size=2)
    applied = publish_appointments(warehouse_copy, app, apply=True, batch_size=2)
    assert plan.actions.get("update") == applied.actions.get("update") == len(chain)
    assert "write_table" in plan.seconds  # too few writes without a predecessor: the write table orders them
    assert (plan.sample, plan.batches) == (applied.sample, applied.batches)
    assert {change["id"] for change in plan.sample} == set(app_ids_by_warehouse_id(warehouse_copy, app)[c] for c in chain)


def _newer_observation(wh: Warehouse, count: int) -> list[str]:
    """The pipeline observes a new state of ``count`` appointments: status CANCELED, one hour later."""
    ids = [r[0] for r in wh.query(f"select id from appointments where status <> 'CANCELED' order by id limit {count}")]
    with wh.transaction() as con:
        for chunk in [ids]:
            placeholders = ", ".join("%s" for _ in chunk)
            wh.execute(
                con,
                "update appointments set status = 'CANCELED', cancel_reason = 'host', "
                f"updated_at = updated_at + interval 1 hour where id in ({placeholders})",
                chunk,
            )
    return ids


def _app_write(app: AppDatabase, sql: str, params) -> None:
    with app.connect() as con, app.transaction(con):
        app.execute(con, sql, params)


@pytest.mark.parametrize("engine", ENGINES)
def test_row_the_application_changed_is_not_overwritten(engine, app_copy, warehouse_copy):
    app = app_copy(engine)
    publish_appointments(warehouse_copy, app, apply=True)
    changed = _newer_observation(warehouse_copy, 6)
    ids = app_ids_by_warehouse_id(warehouse_copy, app)
    far = datetime(2030, 1, 1)
    far_value = app.app_timestamp(far)

    # before the plan: the application already holds a newer state of changed[0]
    _app_write(app, 'update "Appointment" set status = \'SHOWED\', "updatedAt" = %s where id = %s',
               [far_value, ids[changed[0]]])
    plan = publish_appointments(warehouse_copy, app, apply=False, batch_size=4)
    assert plan.actions.get("skip_newer_in_app") == 1 and plan.actions.get("update") == 5
    assert plan.changed_fields.get("status") == 5

    # between the plan and the write: the application updates the row planned in the second batch
    [last] = [change["id"] for change in plan.sample if change["batch"] == 1]

    def application_webhook(batch: int, written: int) -> None:
        if batch == 0:
            _app_write(app, 'update "Appointment" set status = \'NO_SHOW\', "updatedAt" = %s where id = %s',
                       [far_value, last])

    result = publish_appointments(warehouse_copy, app, apply=True, batch_size=4, after_batch=application_webhook)
    assert result.batches == 2 and result.written == 4 and result.skipped_at_write == 1
    with app.connect() as con:
        status = dict(app.execute(con, 'select id, status from "Appointment"').fetchall())
    assert status[ids[changed[0]]] == "SHOWED" and status[last] == "NO_SHOW"
    assert sum(status[ids[c]] == "CANCELED" for c in changed) == 4


@pytest.mark.parametrize("engine", ENGINES)
def test_lead_changed_meanwhile_is_skipped(engine, app_copy, duckdb_built):
    app = app_copy(engine)
    plan = publish_lead_rollups(duckdb_built, app, apply=False, batch_size=5)
    assert plan.actions["update"] > 10
    planned = plan.sample  # in write order
    assert planned[0]["batch"] == 0 and planned[9]["batch"] == 1
    # changed before the plan (leaves batch 0), and during the apply (stays in batch 1 after the shift by one)
    before_plan, during_apply = planned[0]["id"], planned[9]["id"]

    # the application's webhook wrote a new status after raw_leads read it, before the publish planned
    _app_write(app, 'update "Lead" set "appointmentStatus" = \'showed\' where id = %s', [before_plan])

    def application_webhook(batch: int, written: int) -> None:
        if batch == 0:
            _app_write(app, 'update "Lead" set "appointmentTimezone" = \'Pacific/Auckland\' where id = %s',
                       [during_apply])

    result = publish_lead_rollups(duckdb_built, app, apply=True, batch_size=5, after_batch=application_webhook)
    assert result.actions["skip_changed_in_app"] == 1
    assert result.skipped_at_write == 1
    with app.connect() as con:
        leads = {r[0]: r[1:] for r in app.execute(
            con, 'select id, "appointmentStatus", "appointmentTimezone" from "Lead"').fetchall()}
    assert leads[before_plan][0] == "showed"
    assert leads[during_apply][1] == "Pacific/Auckland"
    # the rest were written: a second plan only finds the two leads the application changed
    again = publish_lead_rollups(duckdb_built, app, apply=False)
    assert again.actions.get("update", 0) == 0
    assert again.actions.get("skip_changed_in_app") == 2


# -- restartable ----------------------------------------------------------------------------------------------------


class Killed(Exception):
    pass


@pytest.mark.parametrize("engine", ENGINES)
def test_publish_killed_midway_then_rerun_equals_uninterrupted(engine, app_copy, duckdb_built):
    interrupted, uninterrupted = app_copy(engine), app_copy(engine)

    def kill_after(k: int):
        def hook(batch: int, written: int) -> None:
            if batch == k:
                raise Killed(f"killed after batch {batch}")
        return hook

    with pytest.raises(Killed):
        publish_appointments(duckdb_built, interrupted, apply=True, batch_size=25, after_batch=kill_after(1))
    with pytest.raises(Killed):
        publish_lead_rollups(duckdb_built, interrupted, apply=True, batch_size=7, after_batch=kill_after(1))
    # consistent at the kill: whole batches only, every link resolvable
    assert interrupted.scalar('select count(*) from "Appointment"') == 50
    assert dangling_links(interrupted) == 0

    resumed = publish_appointments(duckdb_built, interrupted, apply=True, batch_size=25)
    assert resumed.actions["unchanged"] == 50 and "update" not in resumed.actions
    publish_lead_rollups(duckdb_built, interrupted, apply=True, batch_size=7)

    publish_appointments(duckdb_built, uninterrupted, apply=True, batch_size=25)
    publish_lead_rollups(duckdb_built, uninterrupted, apply=True, batch_size=7)
    assert app_state(interrupted) == app_state(uninterrupted)
    assert dangling_links(interrupted) == 0


@pytest.mark.postgres
def test_publish_killed_in_a_dagster_run_then_rerun(app_copy, duckdb_built):
    """A failing batch inside a real run (the application rejects a row) leaves whole batches; the re-run finishes."""
    app, reference = app_copy("postgres"), app_copy("postgres")
    # the application refuses one appointment for now (e.g. a trigger or a lock timeout): its batch fails
    victim = duckdb_built.scalar("select id from appointments where rescheduled_from_id is not null order by id limit 1")
    _app_write(app, 'create table "_refuse" (id text)', [])
    _app_write(app, 'insert into "_refuse" values (%s)', [derived_app_id(victim)])
    _app_write(app, """create function refuse() returns trigger language plpgsql as $$
        begin if exists (select 1 from "_refuse" where id = new.id) then raise exception 'refused %', new.id; end if;
        return new; end $$""", [])
    _app_write(app, 'create trigger refuse before insert on "Appointment" for each row execute function refuse()', [])
    failed = run_publish(duckdb_built, app, mode="apply", batch_size=20, raise_on_error=False)
    assert not failed.success
    written = app.scalar('select count(*) from "Appointment"')
    assert written % 20 == 0 and 0 <= written < duckdb_built.scalar("select count(*) from appointments")
    assert dangling_links(app) == 0

    _app_write(app, 'delete from "_refuse"', [])
    assert run_publish(duckdb_built, app, mode="apply", batch_size=20).success
    run_publish(duckdb_built, reference, mode="apply")
    assert rows(app, "Appointment") == rows(reference, "Appointment")


# -- the target's shape ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_column_stops_the_publish_naming_it(engine, app_copy, duckdb_built):
    app = app_copy(engine)
    _app_write(app, 'alter table "Appointment" drop column "cancelReason"', [])
    before = app_state(app)
    result = run_publish(duckdb_built, app, mode="apply", raise_on_error=False)
    assert not result.success
    for event in result.get_step_failure_events():
        error = event.event_specific_data.error
        assert error.cause.cls_name == "AppSchemaMismatch"
        assert '"Appointment"."cancelReason" is missing' in error.cause.message
    assert app_state(app) == before
    with pytest.raises(AppSchemaMismatch, match="cancelReason"):
        publish_lead_rollups(duckdb_built, app, apply=False)


@pytest.mark.postgres
def test_missing_enum_value_stops_the_publish_naming_it(app_copy, duckdb_built):
    app = app_copy("postgres")
    # the application's enum as an older migration left it: no MIGRATION source
    _app_write(app, 'alter type "AppointmentSource" rename to "AppointmentSource_old"', [])
    _app_write(app, "create type \"AppointmentSource\" as enum ('WEBHOOK', 'RECONCILE_CRON', 'BACKFILL', "
                    "'AUTO_BOOK', 'MANUAL')", [])
    _app_write(app, 'alter table "Appointment" alter column source type "AppointmentSource" '
                    'using source::text::"AppointmentSource"', [])
    _app_write(app, 'drop type "AppointmentSource_old"', [])
    with pytest.raises(AppSchemaMismatch, match=r'enum "AppointmentSource" lacks value\(s\) MIGRATION'):
        publish_appointments(duckdb_built, app, apply=True)
    assert app.scalar('select count(*) from "Appointment"') == 0


@pytest.mark.postgres
def test_wrong_timestamp_type_is_named(app_copy, duckdb_built):
    app = app_copy("postgres")
    _app_write(app, 'alter table "Appointment" alter column "startAt" type timestamptz', [])
    with pytest.raises(AppSchemaMismatch, match=r'"Appointment"."startAt" is timestamp with time zone'):
        publish_appointments(duckdb_built, app, apply=False)


# -- legacy partial data --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_legacy_partial_data_publishes_and_republishes_without_duplicates(engine, app_copy, warehouse_copy):
    wh, app = warehouse_copy, app_copy(engine)
    keyless = wh.query(
        "select id, start_at, source from appointments where ghl_appointment_id is null and calendly_invitee_uri is null"
    )
    assert keyless, "the demo has legacy appointments without a provider key"
    # make sure some keyless appointment also lacks its start time (partial legacy data)
    with wh.transaction() as con:
        wh.execute(con, "update appointments set start_at = null, end_at = null where id = %s", [keyless[0][0]])

    publish_appointments(wh, app, apply=True)
    with app.connect() as con:
        by_id = {r[0]: r[1:] for r in app.execute(
            con, 'select id, "startAt", source, "ghlAppointmentId", "calendlyInviteeUri" from "Appointment"').fetchall()}
    for wh_id, _start, source in keyless:
        start, app_source, ghl, cal = by_id[derived_app_id(wh_id)]
        assert ghl is None and cal is None and app_source == source
    assert by_id[derived_app_id(keyless[0][0])][0] is None

    again = publish_appointments(wh, app, apply=True, full_compare="every row, for the test")
    assert again.written == 0 and again.actions == {"unchanged": len(by_id)}
    assert app.scalar('select count(*) from "Appointment"') == len(by_id) == wh.scalar("select count(*) from appointments")


# -- the up-to-date check -------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_up_to_date_check_reads_the_publish_and_warns_when_a_written_row_did_not_stick(app_copy, duckdb_built):
    """The check uses this run's re-compare of the written rows (no second plan); a row the application rewrites as
    it arrives (here a trigger) is still to write, and the check warns."""
    app = app_copy("postgres")
    victim = duckdb_built.scalar("select id from appointments where cancel_reason is null order by id limit 1")
    _app_write(app, """create function tamper() returns trigger language plpgsql as $$
        begin if new.id = '""" + derived_app_id(victim) + """' then new."cancelReason" = 'tampered'; end if;
        return new; end $$""", [])
    _app_write(app, 'create trigger tamper before insert or update on "Appointment" '
                    "for each row execute function tamper()", [])
    result = run_publish(duckdb_built, app, mode="apply")
    applied = materialization(result, "app_appointments")
    assert applied["rows_written"] == applied["rows_to_insert"] and applied["rows_still_to_write"] == 1
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    check = checks["app_appointments_up_to_date"]
    assert not check.passed and check.metadata["rows_still_to_write"].value == 1
    assert "this run's publish" in check.description
    assert checks["app_lead_rollups_up_to_date"].passed
    # and a plain re-plan agrees: that row is the only one a new publish would write
    assert publish_appointments(duckdb_built, app, apply=False).planned_writes == 1


def run_raw_leads(wh: Warehouse, app: AppDatabase) -> dict:
    result = materialize(
        [defs.get_assets_def("raw_leads")],
        resources={**defs.resources, "warehouse": WarehouseResource(url=wh.url),
                   "source_db": SourceDatabaseResource(url=app.url),
                   "pipeline_settings": PipelineSettingsResource(hash_key=HASH_KEY)},
        instance=DagsterInstance.ephemeral(),
    )
    return materialization(result, "raw_leads")


def test_published_leads_are_read_again_by_the_next_delta(app_copy, warehouse_copy, tmp_path):
    """The publish does not bump "updatedAt": the leads it wrote are re-read by the next delta, so raw_leads stays
    equal to a full read of the application."""
    app = app_copy("sqlite")
    assert run_raw_leads(warehouse_copy, app)["read_kind"] == "full"  # another application database: read it all
    written = materialization(run_publish(warehouse_copy, app, mode="apply"), "app_lead_rollups")["rows_written"]
    assert written > 0

    delta = run_raw_leads(warehouse_copy, app)
    assert delta["read_kind"] == "delta"
    assert delta["leads_upserted"] == written
    fresh = Warehouse(f"duckdb:///{tmp_path / 'full_read.duckdb'}")
    run_raw_leads(fresh, app)
    assert table_rows(warehouse_copy, "raw_leads") == table_rows(fresh, "raw_leads")
    # settled: the read after that reads nothing again
    assert run_raw_leads(warehouse_copy, app)["leads_upserted"] == 0
