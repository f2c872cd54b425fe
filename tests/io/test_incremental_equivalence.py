"""Property: any sequence of incremental builds leaves every model table equal, row for row, to a full rebuild.

The data are the scenario suite's (tests/scenarios), extracted once per engine; each example replays a random
sequence of steps on copies of its raw rows: snapshot days arriving in any order, the latest day re-delivered with
fewer lines, "Lead" rows changing (emails, contact ids and legacy keys moving between leads, leads deleted and
restored), each change read into raw_leads the way its asset writes it (a delta or a full read, so several reads
may come between two builds) and the reference time moving. After each step the models are built through the path
the assets use (io/model_build.py) and each table is compared with its full query; at the end the tables are
compared with a full rebuild of the same inputs.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyarrow as pa

from appointment_pipeline.io import lead_store
from appointment_pipeline.io.incremental_scope import BOOKKEEPING, KEYLESS_PREFIX, BuildRequest, plan_build
from appointment_pipeline.io.lead_source import RAW_LEADS_SCHEMA, LeadRead
from appointment_pipeline.io.model_build import build_models, model_parameters, project_versions
from appointment_pipeline.io.sql_project import load_project
from appointment_pipeline.io.warehouse import AuditFailed, Warehouse
from pipeline import _normalize, table_rows, table_snapshot
from scenarios.test_scenarios import FIRST_DAY, LAST_DAY, build, write_scenarios

PROJECT = load_project()
MODELS = PROJECT.order()
DAYS = [FIRST_DAY + timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]
TEMPLATES = ["raw_calendly_invitees", "raw_ghl_appointments", "raw_leads", "snapshot_partition_loads"]
BASE_TIME = datetime(2025, 1, 1, tzinfo=timezone.utc)
LEAD_CHANGES = ["copy_email", "drop_contact", "copy_contact", "copy_ghl_key", "copy_calendly_key", "delete",
                "restore", "touch_created"]
LEAD_TABLES = [lead_store.WATERMARK_TABLE, lead_store.CHANGES_TABLE, lead_store.READS_TABLE,
               lead_store.CHANGE_LOG_TABLE, lead_store.REREAD_TABLE]
APP = "app_leads"  # the "Lead" table as the application left it, in raw_leads columns


@pytest.fixture(scope="module")
def scenario_data(tmp_path_factory):
    return write_scenarios(tmp_path_factory.mktemp("incremental_scenarios"))


def prepared(url: str, inputs) -> Warehouse:
    """The scenario suite extracted into ``url``, its raw rows kept as templates (tpl_*)."""
    wh = build(url, inputs)
    with wh.transaction() as con:
        for table in TEMPLATES:
            con.execute(f"create table tpl_{table} as select * from {table}")
    return wh


@pytest.fixture(scope="module")
def duckdb_template(scenario_data, tmp_path_factory) -> Warehouse:
    return prepared(f"duckdb:///{tmp_path_factory.mktemp('incr_wh') / 'wh.duckdb'}", scenario_data)


@pytest.fixture(scope="module")
def postgres_template(scenario_data, pg_database) -> Warehouse:
    return prepared(pg_database("ap_incr"), scenario_data)


def reset(wh: Warehouse) -> list[str]:
    """No model, no build state, no snapshot day loaded, the original "Lead" rows read in full; returns the lead
    ids."""
    with wh.transaction() as con:
        for table in [*MODELS, *BOOKKEEPING, *LEAD_TABLES, APP]:
            con.execute(f"drop table if exists {table}")
        for table in TEMPLATES:
            con.execute(f"delete from {table}")
        con.execute(f"create table {APP} as select * from tpl_raw_leads")
    read_leads_into_warehouse(wh, "full")
    return [row[0] for row in wh.query("select lead_id from raw_leads order by lead_id")]


def read_leads_into_warehouse(wh: Warehouse, kind: str, touched: tuple[str, ...] = ()) -> None:
    """raw_leads written as its asset writes it from the application's rows: every lead (``full``), or a delta of
    the ``touched`` leads and the deletions."""
    names = RAW_LEADS_SCHEMA.names
    marks = ", ".join(["%s"] * len(touched))
    where = "" if kind == "full" else f"where lead_id in ({marks})" if touched else "where false"
    rows = wh.query(f"select {', '.join(names)} from {APP} {where}", list(touched) if kind != "full" else None)
    table = pa.Table.from_pylist([dict(zip(names, row)) for row in rows], schema=RAW_LEADS_SCHEMA)
    gone = None
    if kind != "full":
        gone = pa.array([r for r, in wh.query(f"select lead_id from raw_leads except select lead_id from {APP}")],
                        type=pa.string())
    read = LeadRead(table, datetime.now(timezone.utc), gone)
    lead_store.write_raw_leads(wh, read, lead_store.ReadPlan(None, None, None), source="test", fingerprint=None,
                               audit=lambda con, table: {}, rereads_until=datetime.now(timezone.utc))


def load_day(wh: Warehouse, day, drop_every: int, token: str) -> None:
    """(Re-)deliver ``day``: its template rows, without every ``drop_every``-th line when not 0."""
    keep = "true" if not drop_every else f"mod(line, {drop_every}) <> 0"
    with wh.transaction() as con:
        for table in ("raw_calendly_invitees", "raw_ghl_appointments"):
            wh.execute(con, f"delete from {table} where snapshot_date = %s", [day])
            wh.execute(con, f"insert into {table} select * from tpl_{table} where snapshot_date = %s and {keep}", [day])
        wh.execute(con, "delete from snapshot_partition_loads where snapshot_date = %s", [day])
        wh.execute(
            con,
            "insert into snapshot_partition_loads select provider, snapshot_date, ingest_source, "
            "content_digest || %s, record_count from tpl_snapshot_partition_loads where snapshot_date = %s",
            [token, day],
        )


def change_lead(wh: Warehouse, change: str, lead: str, other: str, read: str = "delta") -> None:
    """The application changes ``lead``; raw_leads then reads it (a delta also re-reads ``other``, as its overlap
    re-reads unchanged leads)."""
    copy = f"update {APP} set {{column}} = (select {{column}} from {APP} where lead_id = %s) where lead_id = %s"
    statements = {
        "copy_email": (copy.format(column="email_hash"), [other, lead]),
        "drop_contact": (f"update {APP} set ghl_contact_id = null where lead_id = %s", [lead]),
        "copy_contact": (copy.format(column="ghl_contact_id"), [other, lead]),
        "copy_ghl_key": (copy.format(column="ghl_appointment_id"), [other, lead]),
        "copy_calendly_key": (copy.format(column="calendly_invitee_uri"), [other, lead]),
        "delete": (f"delete from {APP} where lead_id = %s", [lead]),
        "touch_created": (
            f"update {APP} set created_at = (select max(created_at) from {APP}) where lead_id = %s", [lead]
        ),
    }
    with wh.transaction() as con:
        if change == "restore":
            wh.execute(con, f"delete from {APP} where lead_id = %s", [lead])
            wh.execute(con, f"insert into {APP} select * from tpl_raw_leads where lead_id = %s", [lead])
        else:
            sql, params = statements[change]
            wh.execute(con, sql, params)
    read_leads_into_warehouse(wh, read, (lead, other))


steps = st.lists(
    st.fixed_dictionaries({
        "day": st.one_of(st.none(), st.sampled_from(DAYS), st.just("latest")),
        "drop_every": st.sampled_from([0, 0, 2, 3]),
        "lead_changes": st.lists(
            st.tuples(st.sampled_from(LEAD_CHANGES), st.integers(0, 10_000), st.integers(0, 10_000),
                      st.sampled_from(["delta", "delta", "full"])),
            max_size=3,
        ),
        "hours": st.integers(-48, 24 * 20),
    }),
    min_size=1,
    max_size=4,
)


def assert_each_model_is_its_full_query(wh: Warehouse, reference: datetime, step: object) -> None:
    """Every model table equals its own query over the tables it reads; in dependency order, so by induction the
    tables equal a full rebuild (without writing one, which would reset the incremental state)."""
    for name in MODELS:
        model = PROJECT.models[name]
        query = model.render(wh.dialect, model_parameters(model, reference))
        expected = sorted((tuple(_normalize(v) for v in row) for row in wh.query(query)),
                          key=lambda row: tuple((v is None, str(v)) for v in row))
        assert table_rows(wh, name) == expected, f"{name} differs from its full query after step {step}"


def replay(wh: Warehouse, first_days: int, sequence: list[dict]) -> list[str]:
    leads = reset(wh)
    loaded = DAYS[:first_days]
    for day in loaded:
        load_day(wh, day, 0, "initial")
    reference = BASE_TIME + timedelta(days=first_days)
    modes = [build_models(wh, PROJECT, uuid.uuid4().hex, reference_time=reference, run_days=tuple(loaded))[0].mode]
    assert_each_model_is_its_full_query(wh, reference, "initial")
    for number, step in enumerate(sequence):
        day = step["day"]
        if day == "latest":
            day = max(loaded) if loaded else None
        if day is not None:
            load_day(wh, day, step["drop_every"], f"step{number}")
            loaded.append(day)
        for change, a, b, read in step["lead_changes"]:
            change_lead(wh, change, leads[a % len(leads)], leads[b % len(leads)], read)
        reference += timedelta(hours=step["hours"])
        run_days = (day,) if day is not None else ()
        modes.append(build_models(wh, PROJECT, uuid.uuid4().hex, reference_time=reference, run_days=run_days)[0].mode)
        assert_each_model_is_its_full_query(wh, reference, step)
    incremental = table_snapshot(wh, MODELS)
    build_models(wh, PROJECT, uuid.uuid4().hex, reference_time=reference, full_refresh="the test compares")
    full = table_snapshot(wh, MODELS)
    for model in MODELS:
        assert incremental[model] == full[model], f"{model} differs from a full rebuild after steps {sequence}"
    return modes


def check(wh: Warehouse, first_days: int, sequence: list[dict]) -> None:
    modes = replay(wh, first_days, sequence)
    assert modes[0] == "full"


PROPERTY = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                derandomize=True)


@settings(max_examples=3, **PROPERTY)
@given(first_days=st.integers(1, 4), sequence=steps)
def test_incremental_builds_equal_full_rebuild_duckdb(duckdb_template, first_days, sequence):
    check(duckdb_template, first_days, sequence)


@pytest.mark.postgres
@settings(max_examples=2, **PROPERTY)
@given(first_days=st.integers(1, 4), sequence=steps)
def test_incremental_builds_equal_full_rebuild_postgres(postgres_template, first_days, sequence):
    check(postgres_template, first_days, sequence)


@pytest.mark.slow
@settings(max_examples=60, **{**PROPERTY, "derandomize": False})
@given(first_days=st.integers(1, 4), sequence=steps)
def test_incremental_builds_equal_full_rebuild_duckdb_many(duckdb_template, first_days, sequence):
    check(duckdb_template, first_days, sequence)


@pytest.mark.slow
@pytest.mark.postgres
@settings(max_examples=20, **{**PROPERTY, "derandomize": False})
@given(first_days=st.integers(1, 4), sequence=steps)
def test_incremental_builds_equal_full_rebuild_postgres_many(postgres_template, first_days, sequence):
    check(postgres_template, first_days, sequence)


def test_a_daily_sequence_is_incremental(duckdb_template):
    """The daily path: each next day, the latest day re-delivered, a "Lead" change, time moving: never full."""
    sequence = [
        {"day": DAYS[2], "drop_every": 0, "lead_changes": [], "hours": 24},
        {"day": "latest", "drop_every": 3, "lead_changes": [("copy_email", 1, 2, "delta")], "hours": 6},
        {"day": DAYS[3], "drop_every": 0, "lead_changes": [("delete", 3, 0, "delta")], "hours": 24},
        {"day": None, "drop_every": 0, "lead_changes": [("restore", 3, 0, "delta")], "hours": 24 * 5},
    ]
    assert replay(duckdb_template, 2, sequence) == ["full"] + ["incremental"] * 4


def test_a_failed_incremental_update_leaves_every_table_as_it_was(duckdb_template):
    """A duplicated "Lead" row fails stg_leads' blocking unique test on the recomputed rows: nothing is written."""
    replay(duckdb_template, 2, [])
    wh = duckdb_template
    before = table_snapshot(wh, MODELS)
    state = wh.query("select model, build_id from model_build_state order by model")
    lead = wh.query("select min(lead_id) from raw_leads")[0][0]
    with wh.transaction() as con:  # a "Lead" row read twice by a full read
        wh.execute(con, f"insert into {APP} select * from tpl_raw_leads where lead_id = %s", [lead])
    read_leads_into_warehouse(wh, "full")
    with pytest.raises(AuditFailed, match="unique_lead_id"):
        build_models(wh, PROJECT, uuid.uuid4().hex, reference_time=BASE_TIME + timedelta(days=3))
    assert wh.query("select mode from model_build_runs order by planned_at desc limit 1") == [("incremental",)]
    assert table_snapshot(wh, MODELS) == before
    assert not wh.table_exists("stg_leads__increment")
    # the models before it committed (unchanged rows, new build id), stg_leads kept its state: the next run is full
    failed_model_state = [row for row in state if row[0] == "stg_leads"]
    assert wh.query("select model, build_id from model_build_state where model = 'stg_leads'") == failed_model_state
    with pytest.raises(AuditFailed):
        plan, _ = build_models(wh, PROJECT, uuid.uuid4().hex, reference_time=BASE_TIME + timedelta(days=3))
    assert wh.query("select mode, reason from model_build_runs order by planned_at desc limit 1") == [
        ("full", "the models were last built by different runs (a run failed or built only some of them)")
    ]


def built_then_next_day_loaded(wh: Warehouse) -> None:
    """The first two days loaded and built, the third loaded (not built yet)."""
    reset(wh)
    for day in DAYS[:2]:
        load_day(wh, day, 0, "initial")
    build_models(wh, PROJECT, uuid.uuid4().hex, reference_time=BASE_TIME, run_days=tuple(DAYS[:2]))
    load_day(wh, DAYS[2], 0, "next")


def test_the_plan_reports_how_many_scope_keys_are_keyless_legacy_keys(duckdb_template):
    """Each scoped lead brings its two keyless legacy keys, most of which no appointment has: the plan says how many
    of the scope's keys they are, so the scope's size is read right."""
    wh = duckdb_template
    built_then_next_day_loaded(wh)
    versions, digest = project_versions(PROJECT)
    plan = plan_build(wh, BuildRequest(uuid.uuid4().hex, versions, digest, BASE_TIME, (DAYS[2],)))
    assert plan.incremental, plan.reason
    keys = wh.scalar("select count(*) from model_scope_keys")
    keyless = wh.scalar(f"select count(*) from model_scope_keys where appointment_key like '{KEYLESS_PREFIX}%'")
    leads = wh.scalar("select count(*) from model_scope_leads")
    assert leads > 0 and keyless == 2 * leads  # a GHL and a Calendly one per scoped lead, none of another lead
    assert f"{keys} appointment keys ({keyless} of them the keyless legacy keys" in plan.reason


def bloat(wh: Warehouse, table: str, order_by: str) -> int:
    """Leave ``table`` with 8000 times its rows stored, all but its live rows deleted (one copy of each kept, at
    places spread over them all) and checkpointed; returns its live rows."""
    live = wh.scalar(f"select count(*) from {table}")
    assert 0 < live <= 8000
    with wh.session() as session:
        with session.transaction() as con:  # rowids 0 .. live - 1, then the copies' in order
            con.execute(f"create or replace table {table} as select * from {table}")
            con.execute(f"insert into {table} select s.* from range(8000) as r, {table} as s order by r.range, {order_by}")
        copy, row = f"((rowid - {live}) // {live})", f"((rowid - {live}) % {live})"
        with session.transaction() as con:
            con.execute(f"delete from {table} where rowid < {live} or {copy} <> {row} * {8000 // live}")
        with session.connect() as con:
            con.execute("checkpoint")
    assert wh.scalar(f"select count(*) from {table}") == live
    assert stored_rows(wh, table) > 100 * live
    return live


def stored_rows(wh: Warehouse, table: str) -> int:
    return wh.scalar("select estimated_size from duckdb_tables() where table_name = %s", [table])


def test_an_update_in_place_compacts_a_table_holding_many_deleted_rows(duckdb_template):
    """Rows deleted earlier that DuckDB kept stored are reclaimed by the model's next update, even one that
    changes no row."""
    wh = duckdb_template
    reset(wh)
    load_day(wh, DAYS[0], 0, "initial")
    build_models(wh, PROJECT, uuid.uuid4().hex, reference_time=BASE_TIME, run_days=(DAYS[0],))
    live = bloat(wh, "stg_leads", "s.lead_id")
    plan, builds = build_models(wh, PROJECT, uuid.uuid4().hex, reference_time=BASE_TIME)  # nothing changed
    assert (plan.mode, builds["stg_leads"].rows_deleted, builds["stg_leads"].compacted) == ("incremental", 0, True)
    assert not builds["stg_legacy_rollups"].compacted
    assert stored_rows(wh, "stg_leads") == live
    assert_each_model_is_its_full_query(wh, BASE_TIME, "compacted")


def test_a_compacting_update_replaces_the_rows_in_scope_in_the_same_rewrite(duckdb_template):
    """A new day on a bloated model over appointment keys: the rewrite that drops the stored deleted rows also
    leaves out the rows in scope and adds their recomputation; the table ends as its full query."""
    wh = duckdb_template
    built_then_next_day_loaded(wh)
    bloat(wh, "int_provider_observations", "s.provider, s.appointment_key, s.observation_seq")
    plan, builds = build_models(wh, PROJECT, uuid.uuid4().hex, reference_time=BASE_TIME, run_days=(DAYS[2],))
    build = builds["int_provider_observations"]
    assert (plan.mode, build.compacted) == ("incremental", True)
    assert build.rows_deleted > 0 and build.rows_inserted > build.rows_deleted
    assert stored_rows(wh, "int_provider_observations") == build.row_count
    assert_each_model_is_its_full_query(wh, BASE_TIME, "compacted with rows in scope")


def test_a_new_day_rebuilds_only_the_changed_rows_of_a_row_local_model(duckdb_template):
    """A new snapshot day and no "Lead" change: the staging models over "Lead" rows keep every row, those over the
    provider lines rebuild only the new day's, while a model over appointment keys rebuilds its whole scope."""
    wh = duckdb_template
    built_then_next_day_loaded(wh)
    plan, builds = build_models(wh, PROJECT, uuid.uuid4().hex, reference_time=BASE_TIME, run_days=(DAYS[2],))
    assert plan.mode == "incremental"
    for model in ("stg_leads", "stg_legacy_rollups", "stg_legacy_observations"):
        assert (builds[model].rows_deleted, builds[model].rows_inserted) == (0, 0), model
    for model in ("stg_calendly_invitees", "stg_calendly_scheduled_events", "stg_ghl_appointments"):
        new_day = wh.scalar(f"select count(*) from {model} where snapshot_date = %s", [DAYS[2]])
        assert (builds[model].rows_deleted, builds[model].rows_inserted) == (0, new_day) and new_day > 0, model
    older = wh.scalar("select count(*) from int_provider_observations where snapshot_date < %s", [DAYS[2]])
    assert builds["int_provider_observations"].rows_deleted > 0 and older > 0
    assert_each_model_is_its_full_query(wh, BASE_TIME, "next day")


SCOPE_SETS = ("model_scope_leads", "model_scope_keys", "model_scope_events")


class ExplainingConnection:
    """A PostgreSQL warehouse connection that explains each statement filling the scope before running it (in the
    same transaction: the closure's temporary tables exist then) and keeps the plans, and what the planner believed
    each scope set's size to be (pg_class.reltuples) beside its real size."""

    def __init__(self, con):
        self._con = con
        self.plans: list[tuple[str, dict]] = []
        self.sizes: list[tuple[str, dict[str, tuple[float, int]]]] = []

    def execute(self, sql, params=None, **kwargs):
        if re.match(r"\s*(insert into|update) model_scope_", str(sql)):
            explained = self._con.execute(f"explain (format json) {sql}", params).fetchone()[0][0]["Plan"]
            self.plans.append((str(sql), explained))
            self.sizes.append((str(sql), {
                table: (self._con.execute("select reltuples from pg_class where relname = %s", [table]).fetchone()[0],
                        self._con.execute(f"select count(*) from {table}").fetchone()[0])
                for table in SCOPE_SETS
            }))
        return self._con.execute(sql, params, **kwargs)

    def __getattr__(self, name):
        return getattr(self._con, name)


def subplans(plan: dict) -> list[str]:
    found = [plan["Subplan Name"]] if plan.get("Parent Relationship") == "SubPlan" else []
    return found + [name for child in plan.get("Plans", []) for name in subplans(child)]


def closure_round(sql: str) -> int:
    """The round a statement adds its members as (the number the insert writes into scope_round); -1 for the
    statements of no round (the scope's days)."""
    found = re.search(r", (\d+) from \(", sql)
    return int(found.group(1)) if found else -1


def explained_scope_plan(wh) -> ExplainingConnection:
    """The next day's scope planned on a connection that explains every statement filling it."""
    built_then_next_day_loaded(wh)
    versions, digest = project_versions(PROJECT)
    con = ExplainingConnection(wh._open())
    try:
        plan = plan_build(replace(wh, shared_connection=con),
                          BuildRequest(uuid.uuid4().hex, versions, digest, BASE_TIME, (DAYS[2],)))
    finally:
        con.close()
    assert plan.incremental, plan.reason
    return con


@pytest.mark.postgres
def test_the_scope_is_filled_by_joins_on_postgres(postgres_template):
    """Every statement that fills the scope reads its lookups as joins, whatever the sizes: a subquery PostgreSQL
    runs as a SubPlan (``not in``, ``in`` under ``or``) is hashed only while it fits in work_mem and is rescanned
    for every row otherwise (one statement of a day at 1M leads ran for over 21 minutes)."""
    con = explained_scope_plan(postgres_template)
    assert len(con.plans) >= 10  # the seeds and every closure round
    assert {sql[:120]: subplans(explained) for sql, explained in con.plans if subplans(explained)} == {}


@pytest.mark.postgres
def test_each_closure_lookup_is_planned_on_the_scope_sets_current_sizes(postgres_template):
    """A scope set that grew is analyzed before the next statement reads it: planned on the size it had before the
    round added its members (at 1M leads, 141,774 leads planned as one), a lookup probes the large tables by index
    once per member."""
    con = explained_scope_plan(postgres_template)
    looked_up = [(sql, sizes) for sql, sizes in con.sizes if closure_round(sql) >= 1]
    assert len(looked_up) >= 4 and any(count for _, sizes in looked_up for _, count in sizes.values())
    stale = {sql[:100]: {table: size for table, size in sizes.items() if size[0] != size[1]}
             for sql, sizes in looked_up if any(believed != count for believed, count in sizes.values())}
    assert stale == {}
