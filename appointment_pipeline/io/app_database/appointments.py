"""Publishing the warehouse's appointments into the application's ``"Appointment"``.

A publish is set-based from end to end, one connection, no statement per row:

0. scope: from the warehouse's publish state (``state``), whether every row is compared or only those changed since
   the last apply (with the reschedule chains they belong to), decided in the warehouse in one query;
1. load: those warehouse rows, with their hash, into one session temporary table (binary COPY between PostgreSQL
   databases);
2. plan: one pass matches each incoming row to its application row (provider key, else derived id) and its lead,
   and sorts it into insert / update / unchanged / skip_* with a flag per changed column; the reschedule links are
   resolved after it (they depend on the predecessor's match); the counts come from one aggregate;
3. only when an apply has something to write: the rows to write, with their final values, into a write table numbered
   in batches (reschedule predecessors first), so an unchanged publish stops after step 3 having written nothing; a
   dry run reads its sample of the first writes from the plan;
4. apply: per batch one ``INSERT ... SELECT ... ON CONFLICT ("id") DO UPDATE ... WHERE`` in its own transaction;
   the ``WHERE`` repeats the guards at write time (a row the application updated later stays as it is);
5. re-compare the written rows, so the up-to-date check reads the outcome instead of planning again;
6. after an apply that completed: record the compared rows that are settled in the warehouse's publish state.

Steps 1 to 3 run in a read-only transaction on PostgreSQL: a dry run cannot write even by mistake.
"""

from __future__ import annotations

from typing import Any

from appointment_pipeline.io.app_database.connection import AppDatabase
from appointment_pipeline.io.app_database.model import (
    APPOINTMENT_COLUMNS,
    COLUMN_BY_NAME,
    COMPARED_COLUMNS,
    DEFAULT_BATCH_SIZE,
    INCOMING_COLUMNS,
    SAMPLE_SIZE,
    derived_app_id_sql,
)
from appointment_pipeline.io.app_database.result import (
    WRITE_ACTIONS,
    AfterBatch,
    PublishResult,
    check_batch_size,
    count_actions,
    open_compare,
    run_batches,
    sample_entry,
    sample_writes,
)
from appointment_pipeline.io.app_database.state import (
    StateSpec,
    changed_keys_sql,
    gone_keys_sql,
    record_applied,
    row_hash_sql,
    state_spec,
)
from appointment_pipeline.io.warehouse import Warehouse

_IN = "_publish_appointments_in"
_PLAN = "_publish_appointments_plan"
_WRITE = "_publish_appointments_write"
_WRITE_ORDER = 'depth, "whId"'  # predecessors first, so a link always points to a row already written

# Not-null application columns: the latest observation stands in for a missing booking or status time.
_WAREHOUSE_EXPRESSIONS = {
    "updated_at": "coalesce(updated_at, created_at, status_changed_at)",
    "created_at": "coalesce(created_at, updated_at, status_changed_at)",
    "status_changed_at": "coalesce(status_changed_at, updated_at, created_at)",
}
_IN_COLUMNS = ("whId", "whFromId", *INCOMING_COLUMNS, "whHash")


def _is_instant(column: str) -> bool:
    return column in COLUMN_BY_NAME and COLUMN_BY_NAME[column].kind == "timestamp"


def _incoming_expressions() -> list[tuple[str, str]]:
    """(warehouse expression, text or timestamp) of the incoming columns after the key: the link, then the values."""
    expressions = [("rescheduled_from_id", "text")]
    for name in INCOMING_COLUMNS:
        column = COLUMN_BY_NAME[name]
        assert column.warehouse is not None, "every incoming column is written from a warehouse column"
        kind = "timestamp" if column.kind == "timestamp" else "text"
        expressions.append((_WAREHOUSE_EXPRESSIONS.get(column.warehouse, column.warehouse), kind))
    return expressions


def _row_hash(wh_dialect: str) -> str:
    return row_hash_sql(wh_dialect, _incoming_expressions())


def _incoming_appointments_sql(typed: bool, row_hash: str, scope: str | None = None) -> str:
    """The warehouse rows as the incoming table holds them, with their hash; ``typed`` casts each column to that
    table's type, as a binary COPY needs (a naive warehouse instant is UTC: the warehouse session runs in UTC).
    ``scope`` (``with recursive ... scope (id, from_id) as ...``) restricts them to its ids."""
    select = ["id", *(expression for expression, _ in _incoming_expressions()), row_hash]
    assert len(select) == len(_IN_COLUMNS)
    if typed:
        select = [f"({e})::{'timestamptz' if _is_instant(c) else 'text'}" for e, c in zip(select, _IN_COLUMNS)]
    if scope is None:
        return f"select {', '.join(select)} from appointments"
    return f"{scope}\nselect {', '.join(select)} from appointments where id in (select id from scope)"


def _changed_scope_sql(spec: StateSpec, row_hash: str) -> str:
    """The appointments to compare when the state can be trusted: those whose hash is not the recorded one, the
    successors of those and of the recorded ones gone from the warehouse (their link changes), and every predecessor
    up each of their reschedule chains (a row's link is resolved, or cleared, from its predecessor's plan)."""
    changed = changed_keys_sql(spec, f"select id as key, {row_hash} as row_hash from appointments")
    return f"""with recursive
changed (id) as ({changed}),
gone (id) as ({gone_keys_sql(spec, "select id from appointments")}),
seeds (id) as (
    select id from changed
    union
    select a.id from appointments as a
    where a.rescheduled_from_id in (select id from changed union all select id from gone)
),
scope (id, from_id) as (
    select a.id, a.rescheduled_from_id from appointments as a where a.id in (select id from seeds)
    union
    select a.id, a.rescheduled_from_id from appointments as a inner join scope as s on a.id = s.from_id
)"""


def appointments_state_spec(app: AppDatabase, wh_dialect: str) -> StateSpec:
    """The bookkeeping of this publish: its version covers every statement that decides what is written."""
    return state_spec(
        "appointments",
        _incoming_appointments_sql(False, _row_hash(wh_dialect)),
        *_appointment_plan_sql(app),
        *_appointment_write_sql(app, 1),
        _appointment_upsert_sql(app),
        _settled_sql(app),
    )


def publish_appointments(
    wh: Warehouse,
    app: AppDatabase,
    *,
    apply: bool,
    batch_size: int = DEFAULT_BATCH_SIZE,
    after_batch: AfterBatch | None = None,
    full_compare: str | None = None,
) -> PublishResult:
    """Upsert the warehouse ``appointments`` into ``"Appointment"`` (``apply``) or only report the plan.

    Only the rows changed since the last apply are compared (``state``), unless the recorded state cannot be trusted
    or ``full_compare`` gives a reason to compare every row. An apply that completed records what it left settled.
    """
    result = PublishResult(target='"Appointment"', applied=apply)
    check_batch_size(batch_size)
    postgres = app.dialect == "postgres"
    binary = postgres and wh.dialect == "postgres"
    spec = appointments_state_spec(app, wh.dialect)
    row_hash = _row_hash(wh.dialect)
    with app.connect() as con:
        scope, target = open_compare(app, con, wh, result, spec, "Appointment", _create_appointment_temp_tables,
                             "select id from appointments", full_compare)
        with app.transaction(con, read_only=True):
            with result.timed("load"):
                timestamps = [i for i, c in enumerate(_IN_COLUMNS) if _is_instant(c)]
                changed = None if scope.full else _changed_scope_sql(spec, row_hash)
                select = _incoming_appointments_sql(binary, row_hash, changed)
                app.load_from_warehouse(con, wh, select, _IN, _IN_COLUMNS, timestamps, binary=binary)
            with result.timed("plan"):
                for statement in _appointment_plan_sql(app):
                    app.execute(con, statement)
                count_actions(app, con, _PLAN, COMPARED_COLUMNS, result)
                scope.rows_compared = sum(result.actions.values())
            writes = result.planned_writes
            sampled = bool(writes) and not apply and _sample_first_writes(app, con, batch_size, result)
            if writes and not sampled:
                with result.timed("write_table"):
                    for statement in _appointment_write_sql(app, batch_size):
                        app.execute(con, statement)
                    sample_writes(app, con, _WRITE, "id", _WRITE_ORDER, COMPARED_COLUMNS, result)
        if apply and writes:
            with result.timed("apply"):
                run_batches(app, con, result, _appointment_upsert_sql(app), after_batch)
            with result.timed("recheck"):
                result.still_to_write = int(app.execute(con, _still_to_write_sql(app)).fetchone()[0])
        if apply:
            # only once every batch committed: a failed apply leaves the state as it was
            with result.timed("record_state"):
                settled = app.execute(con, _settled_sql(app)).fetchall()
                result.rows_recorded = record_applied(wh, spec, target, scope, settled)
    return result


def _create_appointment_temp_tables(app: AppDatabase, con: Any) -> None:
    def col_type(name: str) -> str:
        return app.instant_type if _is_instant(name) else "text"

    incoming = ", ".join(f'"{c}" {col_type(c)}' for c in INCOMING_COLUMNS)
    flags = ", ".join(f'"chg_{c}" integer' for c in COMPARED_COLUMNS)
    with app.transaction(con):
        for table in (_IN, _PLAN, _WRITE):
            app.execute(con, f"drop table if exists {table}")
        # no keys on the loaded and intermediate tables: every join over them is a hash join of the whole set, and
        # maintaining an index during the load costs as much again as the load
        app.execute(con, f'create temp table {_IN} ("whId" text not null, "whFromId" text, {incoming}, "whHash" text)')
        app.execute(
            con,
            f'create temp table {_PLAN} ("whId" text not null, "whFromId" text, "existingId" text, "appId" text, '
            f'"leadExists" integer, "linkNow" text, "fromAppId" text, action text, {flags})',
        )
        app.execute(
            con,
            f'create temp table {_WRITE} ("whId" text not null, depth integer, batch integer, action text, {flags}, '
            f'"id" text not null, "rescheduledFromId" text, {incoming})',
        )
        # created here: a read-only transaction (the plan's) cannot create an index, even on a temporary table
        app.execute(con, f"create index {_WRITE}_batch on {_WRITE} (batch)")


def _appointment_plan_sql(app: AppDatabase) -> list[str]:
    """Classify every incoming row against its application row, then resolve the reschedule links.

    One pass matches (provider key, else derived id) and compares every column but the link, whose new value is the
    predecessor's application id and so depends on the predecessor's own match: a second statement sets it for the
    rows whose predecessor is incoming too, and a third turns an otherwise unchanged row with a different link into
    an update. Separate statements over analyzed tables: the planner cannot estimate a CTE.
    """
    derived = derived_app_id_sql('i."whId"')
    # the hash key is computed for every incoming row: derive the id only where it is the match (no provider key)
    keyless = f'case when i."ghlAppointmentId" is null and i."calendlyInviteeUri" is null then {derived} end'
    existing = "coalesce(g.id, c.id, d.id)"
    flags = []
    for name in COMPARED_COLUMNS:
        # the link compared as if it were cleared; the rows that have a predecessor get theirs below
        new = "null" if name == "rescheduledFromId" else f'i."{name}"'
        differs = app.distinct(app.as_text(f't."{name}"', COLUMN_BY_NAME[name].kind), new)
        flags.append(f"case when t.id is not null and {differs} then 1 else 0 end")
    flag_names = [f'"chg_{c}"' for c in COMPARED_COLUMNS]
    any_change = " or ".join(f"{f} = 1" for f, c in zip(flags, COMPARED_COLUMNS) if c != "rescheduledFromId")
    classify = f"""
insert into {_PLAN} ("whId", "whFromId", "existingId", "appId", "leadExists", "linkNow", action, {", ".join(flag_names)})
select
    i."whId",
    i."whFromId",
    {existing},
    coalesce({existing}, {derived}),
    case when l.id is null then 0 else 1 end,
    t."rescheduledFromId",
    case
        when l.id is null then 'skip_missing_lead'
        when i."updatedAt" is null then 'skip_no_time'
        when t.id is null then 'insert'
        when t."updatedAt" > i."updatedAt" then 'skip_newer_in_app'
        when {any_change} then 'update'
        else 'unchanged'
    end,
    {", ".join(flags)}
from {_IN} as i
left join "Appointment" as g on g."ghlAppointmentId" = i."ghlAppointmentId"
left join "Appointment" as c on c."calendlyInviteeUri" = i."calendlyInviteeUri"
left join "Appointment" as d on d.id = {keyless}
left join "Lead" as l on l.id = i."leadId"
left join "Appointment" as t on t.id = {existing}
"""
    # the predecessor's application id, only when that row exists or is written by this publish
    link = f"""
update {_PLAN} set
    "fromAppId" = f."fromAppId",
    "chg_rescheduledFromId" = case
        when {_PLAN}."existingId" is not null and {app.distinct(f'{_PLAN}."linkNow"', 'f."fromAppId"')} then 1 else 0
    end
from (
    select "whId", case when "existingId" is not null or "leadExists" = 1 then "appId" end as "fromAppId"
    from {_PLAN}
) as f
where f."whId" = {_PLAN}."whFromId"
"""
    link_only = f"""update {_PLAN} set action = 'update' where action = 'unchanged' and "chg_rescheduledFromId" = 1"""
    analyze = [f"analyze {_PLAN}"] if app.dialect == "postgres" else []
    return [classify, *analyze, link, link_only]


def _appointment_write_sql(app: AppDatabase, batch_size: int) -> list[str]:
    """The rows to write with their final values, numbered in batches: by depth in their reschedule chain among the
    rows written now (0 for a row whose predecessor is not written now), so a predecessor is never in a later batch."""
    flag_names = ", ".join(f'"chg_{c}"' for c in COMPARED_COLUMNS)
    incoming = ", ".join(f'"{c}"' for c in INCOMING_COLUMNS)
    write = f"""
with recursive chain ("whId", depth) as (
    select w."whId", 1 from {_PLAN} as w
    inner join {_PLAN} as prev on prev."whId" = w."whFromId"
    where w.action in {WRITE_ACTIONS} and prev.action in {WRITE_ACTIONS}
    union all
    select w."whId", chain.depth + 1 from {_PLAN} as w
    inner join chain on w."whFromId" = chain."whId"
    where w.action in {WRITE_ACTIONS} and chain.depth < 1000
),
deepest as (select "whId", max(depth) as depth from chain group by "whId"),
numbered as (  -- numbered narrow: sorting the wide rows would spill
    select p."whId", coalesce(d.depth, 0) as depth,
        row_number() over (order by coalesce(d.depth, 0), {app.bytewise('p."whId"')}) - 1 as n,
        p.action, {", ".join(f"p.{f}" for f in flag_names.split(", "))}, p."appId", p."fromAppId"
    from {_PLAN} as p
    left join deepest as d on d."whId" = p."whId"
    where p.action in {WRITE_ACTIONS}
)
insert into {_WRITE} ("whId", depth, batch, action, {flag_names}, "id", "rescheduledFromId", {incoming})
select n."whId", n.depth, n.n / {int(batch_size)}, n.action, {", ".join(f"n.{f}" for f in flag_names.split(", "))},
    n."appId", n."fromAppId", {", ".join(f'i."{c}"' for c in INCOMING_COLUMNS)}
from numbered as n
inner join {_IN} as i on i."whId" = n."whId"
"""
    return [write, f"analyze {_WRITE}"] if app.dialect == "postgres" else [write]


def _sample_first_writes(app: AppDatabase, con: Any, batch_size: int, result: PublishResult) -> bool:
    """A dry run's batch count and sample without the write table (numbering every row to write costs as much as
    the plan). The first rows in write order are the first, by id, of those whose predecessor is not written now
    (depth 0): they are found among the first rows to write by id, when enough of those have depth 0. False when
    not: the write table decides then."""
    flags = ", ".join(f'"chg_{c}"' for c in COMPARED_COLUMNS)
    order = app.bytewise('"whId"')
    with result.timed("sample"):
        candidates = app.execute(
            con,
            f'select "whFromId", "appId", action, {flags} from {_PLAN} where action in {WRITE_ACTIONS} '
            f"order by {order} limit {4 * SAMPLE_SIZE}",
        ).fetchall()
        predecessors = sorted({row[0] for row in candidates if row[0] is not None})
        written_before: set[str] = set()
        if predecessors:
            placeholders = ", ".join("%s" for _ in predecessors)
            written_before = {row[0] for row in app.execute(
                con,
                f'select "whId" from {_PLAN} where action in {WRITE_ACTIONS} and "whId" in ({placeholders})',
                predecessors,
            ).fetchall()}
    first = [row[1:] for row in candidates if row[0] not in written_before][:SAMPLE_SIZE]
    if len(first) < min(SAMPLE_SIZE, result.planned_writes):
        return False
    result.sample = [sample_entry(row[0], row[1], n // batch_size, COMPARED_COLUMNS, row[2:])
                     for n, row in enumerate(first)]
    result.batches = -(-result.planned_writes // batch_size)
    return True


def _differs_from_excluded(app: AppDatabase, target: str, new: str) -> str:
    return " or ".join(app.distinct(f'{target}."{c}"', f'{new}."{c}"') for c in COMPARED_COLUMNS)


def _appointment_upsert_sql(app: AppDatabase) -> str:
    columns = [c.name for c in APPOINTMENT_COLUMNS]
    select = [app.cast_enum(f'w."{c.name}"', c.kind) for c in APPOINTMENT_COLUMNS]
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in [*COMPARED_COLUMNS, "updatedAt"])
    return f"""
insert into "Appointment" ({", ".join(f'"{c}"' for c in columns)})
select {", ".join(select)}
from {_WRITE} as w
where w.batch = %s
order by w.depth, w."id"  -- a predecessor first (SQLite checks a link at once: scanning for it otherwise); then
-- in primary-key order, so each index page is touched once per batch
on conflict ("id") do update set {updates}
where "Appointment"."updatedAt" <= excluded."updatedAt" and ({_differs_from_excluded(app, '"Appointment"', "excluded")})
"""


def _still_to_write_sql(app: AppDatabase) -> str:
    """Written rows the application still lacks: missing, or different and not newer (a newer one was overtaken)."""
    differs = " or ".join(
        app.distinct(app.as_text(f'a."{c}"', COLUMN_BY_NAME[c].kind), f'w."{c}"') for c in COMPARED_COLUMNS
    )
    return f"""
select count(*) from {_WRITE} as w
left join "Appointment" as a on a.id = w."id"
where a.id is null or (a."updatedAt" <= w."updatedAt" and ({differs}))
"""


def _settled_sql(app: AppDatabase) -> str:
    """(warehouse id, hash, settled) of every compared row. Settled: the application holds what the publish writes
    (unchanged, or written and still there) or a newer row of its own (``skip_newer_in_app``, or overtaken at write
    time), which no publish of the same warehouse row overwrites. A row skipped for a missing lead or time, or written
    but missing or different now, is not settled: the next publish compares it again."""
    differs = " or ".join(
        app.distinct(app.as_text(f'a."{c}"', COLUMN_BY_NAME[c].kind), f'w."{c}"') for c in COMPARED_COLUMNS
    )
    return f"""
select i."whId", i."whHash", case
    when p.action in ('unchanged', 'skip_newer_in_app') then 1
    when a.id is not null and (a."updatedAt" > w."updatedAt" or not ({differs})) then 1
    else 0
end
from {_IN} as i
inner join {_PLAN} as p on p."whId" = i."whId"
left join {_WRITE} as w on w."whId" = i."whId"
left join "Appointment" as a on a.id = w."id"
"""
