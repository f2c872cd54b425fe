"""The publish compares only what changed since the last apply (the warehouse's publish state), and ends with the
same application database as a publish that compares every row.

Real databases throughout: private copies of the demo warehouse (DuckDB, and PostgreSQL copied from it) and fresh
application databases (SQLite, and PostgreSQL), as in test_publish.py, whose helpers these tests share.
"""

from __future__ import annotations

import random
import shutil
from datetime import datetime

import pytest

from appointment_pipeline.defs.transform.assets import FULL_REFRESH_TAG
from appointment_pipeline.io.app_database import publish_appointments, publish_lead_rollups
from appointment_pipeline.io.app_database.state import TARGETS_TABLE
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import table_rows
from test_publish import (  # noqa: F401  (fixtures)
    ENGINES,
    _app_write,
    _newer_observation,
    app_copy,
    app_state,
    dangling_links,
    materialization,
    run_publish,
    warehouse_copy,
)

STATE_TABLES = [TARGETS_TABLE, "publish_state_appointments", "publish_state_lead_rollups"]
PUBLISHED_TABLES = ["appointments", "raw_leads", "lead_appointment_rollups", "lead_rollup_drift"]


def state(wh: Warehouse) -> dict:
    """The recorded state without its times (they differ between two publishes of the same rows)."""
    def rows(table: str) -> list[tuple]:
        return table_rows(wh, table) if wh.table_exists(table) else []

    return {
        "targets": [row[:3] + row[4:] for row in rows(TARGETS_TABLE)],
        "appointments": [row[:2] for row in rows("publish_state_appointments")],
        "lead_rollups": [row[:2] for row in rows("publish_state_lead_rollups")],
    }


def isolated(wh: Warehouse) -> list[str]:
    """Appointments neither rescheduled from another nor rescheduled into one (compared alone when they change)."""
    return [r[0] for r in wh.query(
        "select id from appointments where rescheduled_from_id is null and status <> 'CANCELED' and id not in "
        "(select rescheduled_from_id from appointments where rescheduled_from_id is not null) order by id"
    )]


def observe_again(wh: Warehouse, ids: list[str], hours: int = 1) -> None:
    """The pipeline observes a new state of ``ids``: canceled, ``hours`` later."""
    if not ids:
        return
    with wh.transaction() as con:
        wh.execute(
            con,
            "update appointments set status = 'CANCELED', cancel_reason = 'host', "
            f"updated_at = updated_at + interval '{int(hours)} hours' "
            f"where id in ({', '.join('%s' for _ in ids)})",
            ids,
        )


def rebuild_unchanged(wh: Warehouse) -> None:
    """The model rebuilt with the same content: a new table, the same rows."""
    wh.replace_table_with_query("appointments", "select * from appointments")


# -- what is compared -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_unchanged_rebuild_compares_nothing_and_one_change_compares_one_row(engine, app_copy, warehouse_copy):
    wh, app = warehouse_copy, app_copy(engine)
    total = wh.scalar("select count(*) from appointments")
    first = materialization(run_publish(wh, app, mode="apply"), "app_appointments")
    assert first["compare_scope"] == "all rows (no publish state recorded)"
    assert first["rows_compared"] == first["rows_written"] == total and first["rows_unchanged_since_last_apply"] == 0

    rebuild_unchanged(wh)
    result = run_publish(wh, app, mode="apply")
    for asset in ("app_appointments", "app_lead_rollups"):
        meta = materialization(result, asset)
        assert meta["compare_scope"].startswith("changed since last apply (0 of ")
        assert meta["rows_compared"] == meta["rows_written"] == meta["rows_unchanged"] == 0
    assert materialization(result, "app_appointments")["rows_unchanged_since_last_apply"] == total
    assert all(e.passed for e in result.get_asset_check_evaluations())

    [changed] = isolated(wh)[:1]
    observe_again(wh, [changed])
    before = app_state(app)
    plan = publish_appointments(wh, app, apply=False)
    assert plan.scope.describe() == f"changed since last apply (1 of {total} rows)"
    assert plan.actions == {"update": 1}
    assert app_state(app) == before
    applied = publish_appointments(wh, app, apply=True)
    assert (applied.scope.rows_compared, applied.written, applied.scope.rows_unchanged_since_last_apply) == (1, 1, total - 1)
    assert publish_appointments(wh, app, apply=False).scope.rows_compared == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_a_changed_predecessor_brings_its_chain_and_links_stay_right(engine, app_copy, warehouse_copy):
    wh, app = warehouse_copy, app_copy(engine)
    publish_appointments(wh, app, apply=True)
    [(successor, predecessor)] = wh.query(
        "select id, rescheduled_from_id from appointments where rescheduled_from_id is not null order by id limit 1"
    )
    # the predecessor now has a provider key of its own: the application matches it by that key from now on
    with wh.transaction() as con:
        wh.execute(con, "update appointments set calendly_invitee_uri = 'https://calendly.test/new', "
                        "provider = 'CALENDLY', ghl_appointment_id = null where id = %s", [predecessor])
    plan = publish_appointments(wh, app, apply=True)
    assert not plan.scope.full and plan.scope.rows_compared >= 2  # the predecessor and its successor at least
    assert dangling_links(app) == 0
    full = publish_appointments(wh, app, apply=False, full_compare="check")
    assert full.planned_writes == 0


# -- dry runs never move the state ----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_dry_runs_leave_everything_pending_until_an_apply(engine, app_copy, warehouse_copy):
    wh, app = warehouse_copy, app_copy(engine)
    total = wh.scalar("select count(*) from appointments")
    for _ in range(2):  # dry run, dry run: no state, everything is still to insert
        meta = materialization(run_publish(wh, app, mode="dry_run"), "app_appointments")
        assert meta["compare_scope"] == "all rows (no publish state recorded)" and meta["rows_to_insert"] == total
        assert not wh.table_exists(TARGETS_TABLE)
    assert materialization(run_publish(wh, app, mode="apply"), "app_appointments")["rows_written"] == total
    recorded = state(wh)

    changed = isolated(wh)[:3]
    observe_again(wh, changed)
    for _ in range(2):  # dry run, dry run: the changed rows stay pending, the state stays
        result = run_publish(wh, app, mode="dry_run")
        meta = materialization(result, "app_appointments")
        assert (meta["rows_compared"], meta["rows_to_update"]) == (3, 3)
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert checks["app_appointments_up_to_date"].metadata["rows_still_to_write"].value == 3
        assert state(wh) == recorded
    applied = materialization(run_publish(wh, app, mode="apply"), "app_appointments")
    assert (applied["rows_compared"], applied["rows_written"], applied["rows_still_to_write"]) == (3, 3, 0)
    again = materialization(run_publish(wh, app, mode="apply"), "app_appointments")
    assert (again["rows_compared"], again["rows_written"]) == (0, 0)


# -- when everything is compared ------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_full_compare_when_the_state_cannot_be_trusted_or_the_run_asks(engine, app_copy, warehouse_copy):
    wh, app, other = warehouse_copy, app_copy(engine), app_copy(engine)
    run_publish(wh, app, mode="apply")
    scopes = lambda result: {a: materialization(result, a)["compare_scope"] for a in ("app_appointments",  # noqa: E731
                                                                                       "app_lead_rollups")}
    tagged = scopes(run_publish(wh, app, mode="dry_run", tags={FULL_REFRESH_TAG: "true"}))
    assert set(tagged.values()) == {f"all rows (run tag {FULL_REFRESH_TAG}=true)"}
    assert set(scopes(run_publish(wh, other, mode="dry_run")).values()) == {
        "all rows (the state was recorded for another application database or table)"}
    # another release of the publish code
    with wh.transaction() as con:
        wh.execute(con, f"update {TARGETS_TABLE} set columns_version = 'older'")
    assert set(scopes(run_publish(wh, app, mode="dry_run")).values()) == {
        "all rows (the published columns or the publish code changed since the state was recorded)"}
    run_publish(wh, app, mode="apply")
    assert all(s.startswith("changed since") for s in scopes(run_publish(wh, app, mode="dry_run")).values())
    # a re-created (here: emptied and rebuilt) application table is another target: everything is written again
    if engine == "postgres":
        _app_write(app, 'truncate "Appointment"', [])
    else:
        _app_write(app, 'create index "Appointment_scratch" on "Appointment" ("timezone")', [])
        _app_write(app, 'delete from "Appointment"', [])
    meta = materialization(run_publish(wh, app, mode="apply"), "app_appointments")
    assert meta["compare_scope"].startswith("all rows (the state was recorded for another")
    assert meta["rows_written"] == wh.scalar("select count(*) from appointments")


# -- a failed apply -------------------------------------------------------------------------------------------------


class Refused(Exception):
    pass


@pytest.mark.parametrize("engine", ENGINES)
def test_failed_apply_leaves_the_state_so_the_next_publish_retries(engine, app_copy, warehouse_copy):
    wh, app = warehouse_copy, app_copy(engine)
    publish_appointments(wh, app, apply=True)
    recorded = state(wh)
    changed = isolated(wh)[:4]
    observe_again(wh, changed)

    def stop_after_first(batch: int, written: int) -> None:
        raise Refused("the run died after its first batch")

    with pytest.raises(Refused):  # the first batch committed, then the run died
        publish_appointments(wh, app, apply=True, batch_size=2, after_batch=stop_after_first)
    assert state(wh) == recorded
    if engine == "postgres":  # the application refuses the rest (a trigger): the apply fails inside a batch
        _app_write(app, """create function refuse() returns trigger language plpgsql as $$
            begin raise exception 'refused'; end $$""", [])
        _app_write(app, 'create trigger refuse before update on "Appointment" for each row execute function refuse()', [])
        with pytest.raises(Exception, match="refused"):
            publish_appointments(wh, app, apply=True)
        assert state(wh) == recorded
        _app_write(app, 'drop trigger refuse on "Appointment"', [])
    retried = publish_appointments(wh, app, apply=True)
    assert retried.scope.rows_compared == 4  # the two written ones are compared again, found equal
    assert (retried.actions.get("unchanged"), retried.written) == (2, 2)
    assert publish_appointments(wh, app, apply=True).scope.rows_compared == 0


# -- the same application database as a full compare ----------------------------------------------------------------


def postgres_copy(source: Warehouse, url: str) -> Warehouse:
    """A PostgreSQL warehouse holding the tables the publish reads, copied from ``source``."""
    target = Warehouse(url)
    types = {"double": "double precision", "hugeint": "numeric"}
    with source.connect() as con:
        tables = {t: con.sql(f"select * from {t}").to_arrow_table() for t in PUBLISHED_TABLES}
    for table, data in tables.items():
        columns = [(name, types.get(kind, kind)) for name, kind in source.table_columns(table)]
        target.replace_table_with_rows(table, columns, data)
    return target


def mutate(wh: Warehouse, step: int, rng: random.Random, backup: list[tuple]) -> None:
    """One round of warehouse changes (the same on every warehouse for the same ``rng`` state)."""
    ids = [r[0] for r in wh.query("select id from appointments order by id")]
    observe_again(wh, rng.sample(ids, 5), hours=step + 1)
    predecessor = backup[0][0]
    with wh.transaction() as con:
        if step == 1:  # an appointment leaves the warehouse: its successor's link goes
            wh.execute(con, "delete from appointments where id = %s", [predecessor])
        if step == 2:  # and comes back
            names = ", ".join(name for name, _ in wh.table_columns("appointments"))
            wh.execute(con, f"insert into appointments ({names}) select {names} from appointments_backup")
        if step == 3:  # a new rollup value for a few drifting leads
            leads = [r[0] for r in wh.query("select distinct lead_id from lead_rollup_drift order by lead_id")]
            chosen = rng.sample(leads, 3)
            wh.execute(con, "update lead_appointment_rollups set appointment_timezone = 'Pacific/Chatham' "
                            f"where lead_id in ({', '.join('%s' for _ in chosen)})", chosen)


@pytest.mark.parametrize("warehouse_engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("engine", ENGINES)
def test_delta_publishes_equal_full_compare_publishes(engine, warehouse_engine, app_copy, warehouse_copy, tmp_path,
                                                      pg_database):
    copies = []
    for name in ("delta", "full"):
        path = tmp_path / f"{name}.duckdb"
        shutil.copy(warehouse_copy.url.removeprefix("duckdb:///"), path)
        wh = Warehouse(f"duckdb:///{path}")
        copies.append(postgres_copy(wh, pg_database("ap_wh")) if warehouse_engine == "postgres" else wh)
    delta_wh, full_wh = copies
    predecessor_sql = ("select * from appointments where id in (select rescheduled_from_id from appointments) "
                       "order by id limit 1")
    for wh in copies:
        with wh.transaction() as con:
            wh.execute(con, f"create table appointments_backup as {predecessor_sql}")
    backup = delta_wh.query("select * from appointments_backup")
    delta_app, full_app = app_copy(engine), app_copy(engine)
    rngs = [random.Random(5), random.Random(5)]
    far = datetime(2031, 1, 1)
    for step in range(5):
        if step:
            for wh, rng in zip(copies, rngs):
                mutate(wh, step, rng, backup)
        if step == 4:  # the application edits a row, later than any observation
            for app in (delta_app, full_app):
                _app_write(app, 'update "Appointment" set "cancelReason" = \'app\', "updatedAt" = %s where id in '
                                '(select min(id) from "Appointment")', [app.app_timestamp(far)])
        delta = [publish_appointments(delta_wh, delta_app, apply=True),
                 publish_lead_rollups(delta_wh, delta_app, apply=True)]
        full = [publish_appointments(full_wh, full_app, apply=True, full_compare="reference"),
                publish_lead_rollups(full_wh, full_app, apply=True, full_compare="reference")]
        assert all(r.scope.full == (step == 0) for r in delta), [r.scope.describe() for r in delta]
        assert all(r.scope.full for r in full)
        assert app_state(delta_app) == app_state(full_app), f"step {step}"
        assert [r.written for r in delta] == [r.written for r in full], f"step {step}"
    assert dangling_links(delta_app) == 0
    assert state(delta_wh)["appointments"] == state(full_wh)["appointments"]


@pytest.mark.postgres
def test_duckdb_and_postgres_warehouses_record_the_same_state(app_copy, warehouse_copy, pg_database):
    postgres_wh = postgres_copy(warehouse_copy, pg_database("ap_wh"))
    apps = {"duckdb": app_copy("sqlite"), "postgres": app_copy("sqlite")}
    for wh, app in ((warehouse_copy, apps["duckdb"]), (postgres_wh, apps["postgres"])):
        publish_appointments(wh, app, apply=True)
        publish_lead_rollups(wh, app, apply=True)
        observe_again(wh, isolated(wh)[:2])
        assert publish_appointments(wh, app, apply=True).scope.rows_compared == 2
    assert app_state(apps["duckdb"]) == app_state(apps["postgres"])
    duck, pg = state(warehouse_copy), state(postgres_wh)
    assert duck["appointments"] == pg["appointments"] and duck["lead_rollups"] == pg["lead_rollups"]
    assert len(duck["appointments"]) == warehouse_copy.scalar("select count(*) from appointments")
