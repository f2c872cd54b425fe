"""Publishing the warehouse's lead rollups into the rollup columns of the application's ``"Lead"``.

Only leads that ``lead_rollup_drift`` reports are loaded, and of those only the ones whose values (as read and new)
changed since the last apply settled them (``state``); each is written compare-and-set: its rollup columns change
only while they still hold the values ``raw_leads`` read, so a lead the application changed meanwhile is skipped.
"""

from __future__ import annotations

import logging
from typing import Any

from appointment_pipeline.io.app_database.connection import AppDatabase
from appointment_pipeline.io.app_database.model import DEFAULT_BATCH_SIZE, LEAD_ROLLUP_FIELDS, LeadField
from appointment_pipeline.io.app_database.result import (
    AfterBatch,
    PublishResult,
    batch_number,
    check_batch_size,
    count_actions,
    open_compare,
    run_batches,
    sample_writes,
)
from appointment_pipeline.io.app_database.state import (
    StateSpec,
    record_applied,
    row_hash_sql,
    state_spec,
)
from appointment_pipeline.io.lead_store import mark_for_reread
from appointment_pipeline.io.warehouse import Warehouse

logger = logging.getLogger(__name__)
_LEAD_IN = "_publish_leads_in"
_LEAD_PLAN = "_publish_leads_plan"


def _lead_candidates_sql() -> str:
    """Leads whose rollup differs from the legacy columns as read (lead_rollup_drift), with both sets of values."""
    flags = ", ".join(
        f"max(case when field = '{f.warehouse}' then 1 else 0 end) as chg_{f.warehouse}" for f in LEAD_ROLLUP_FIELDS
    )
    read = ", ".join(f"l.{f.warehouse} as read_{f.warehouse}" for f in LEAD_ROLLUP_FIELDS)
    new = ", ".join(f"r.{f.warehouse} as new_{f.warehouse}" for f in LEAD_ROLLUP_FIELDS)
    chg = ", ".join(f"d.chg_{f.warehouse}" for f in LEAD_ROLLUP_FIELDS)
    return (
        f"with d as (select lead_id, {flags} from lead_rollup_drift group by lead_id) "
        f"select d.lead_id, {read}, {new}, {chg} from d "
        "inner join raw_leads as l on l.lead_id = d.lead_id "
        "inner join lead_appointment_rollups as r on r.lead_id = d.lead_id"
    )


def _candidate_values() -> list[tuple[str, str]]:
    """(column of the candidates query, text or timestamp) of everything a candidate is planned from."""
    values = []
    for prefix in ("read", "new"):
        values += [(f"{prefix}_{f.warehouse}", "timestamp" if f.kind == "timestamp" else "text")
                   for f in LEAD_ROLLUP_FIELDS]
    return values + [(f"chg_{f.warehouse}", "text") for f in LEAD_ROLLUP_FIELDS]


def _hashed_candidates_sql(wh_dialect: str) -> str:
    values = ", ".join(name for name, _ in _candidate_values())
    row_hash = row_hash_sql(wh_dialect, _candidate_values())
    return f"select c.lead_id, {values}, {row_hash} as row_hash from ({_lead_candidates_sql()}) as c"


def _lead_incoming_sql(spec: StateSpec, wh_dialect: str, full: bool) -> str:
    """The candidates with their hash: all of them, or those whose hash is not the recorded one. The hash covers the
    values as read too, so a lead the application changed (and ``raw_leads`` read again) is compared again."""
    hashed = _hashed_candidates_sql(wh_dialect)
    if full:
        return hashed
    return (
        f"with hashed as ({hashed}) select h.* from hashed as h left join {spec.table} as s on s.key = h.lead_id "
        "where s.row_hash is null or s.row_hash <> h.row_hash"
    )


def lead_rollups_state_spec(app: AppDatabase, wh_dialect: str) -> StateSpec:
    """The bookkeeping of this publish: its version covers every statement that decides what is written."""
    return state_spec(
        "lead_rollups", _hashed_candidates_sql(wh_dialect), _lead_plan_sql(app, 1), _lead_update_sql(app),
        _lead_settled_sql(app),
    )


def publish_lead_rollups(
    wh: Warehouse,
    app: AppDatabase,
    *,
    apply: bool,
    batch_size: int = DEFAULT_BATCH_SIZE,
    after_batch: AfterBatch | None = None,
    full_compare: str | None = None,
) -> PublishResult:
    """Compare-and-set the ``"Lead"`` rollup columns that differ from the warehouse rollup (or only report it).

    Only the drifting leads changed since the last apply are compared (``state``), unless the recorded state cannot
    be trusted or ``full_compare`` gives a reason to compare them all. An apply that completed records what it settled.
    """
    result = PublishResult(target='"Lead" rollup columns', applied=apply)
    check_batch_size(batch_size)
    names = [f.column for f in LEAD_ROLLUP_FIELDS]
    spec = lead_rollups_state_spec(app, wh.dialect)
    with app.connect() as con:
        candidates = f"select lead_id from ({_lead_candidates_sql()}) as c"
        scope, target = open_compare(app, con, wh, result, spec, "Lead", _create_lead_temp_tables, candidates,
                                     full_compare)
        with app.transaction(con, read_only=True):
            with result.timed("load"):
                columns = ["leadId", *(f"read_{c}" for c in names), *(f"new_{c}" for c in names),
                           *(f"want_{c}" for c in names), "whHash"]
                n = len(LEAD_ROLLUP_FIELDS)
                timestamps = [1 + k * n + i for k in (0, 1) for i, f in enumerate(LEAD_ROLLUP_FIELDS)
                              if f.kind == "timestamp"]
                select = _lead_incoming_sql(spec, wh.dialect, scope.full)
                app.load_from_warehouse(con, wh, select, _LEAD_IN, columns, timestamps)
                if app.dialect == "postgres":
                    app.execute(con, f"analyze {_LEAD_IN}")
            with result.timed("plan"):
                app.execute(con, _lead_plan_sql(app, batch_size))
                count_actions(app, con, _LEAD_PLAN, names, result)
                scope.rows_compared = sum(result.actions.values())
                sample_writes(app, con, _LEAD_PLAN, "leadId", '"leadId"', names, result)
        if apply:
            with result.timed("apply"):
                try:
                    run_batches(app, con, result, _lead_update_sql(app), after_batch)
                finally:
                    _mark_planned_for_reread(app, con, wh)
            if result.written:
                with result.timed("recheck"):
                    result.still_to_write = int(app.execute(con, _lead_still_to_write_sql(app)).fetchone()[0])
            # only once every batch committed: a failed apply leaves the state as it was
            with result.timed("record_state"):
                settled = app.execute(con, _lead_settled_sql(app)).fetchall()
                result.rows_recorded = record_applied(wh, spec, target, scope, settled)
    return result


def _mark_planned_for_reread(app: AppDatabase, con: Any, wh: Warehouse) -> None:
    """"updatedAt" is not bumped by the publish: the warehouse's next delta read must read these leads again (every
    planned update, also of a batch that failed: re-reading a lead that did not change is harmless)."""
    try:
        planned = app.execute(con, f'select "leadId" from {_LEAD_PLAN} where action = \'update\'').fetchall()
        mark_for_reread(wh, [row[0] for row in planned])
    except Exception:  # the publish's own outcome matters more; the periodic full read still catches up
        logger.warning("could not mark the published leads for a re-read of raw_leads", exc_info=True)


def _create_lead_temp_tables(app: AppDatabase, con: Any) -> None:
    def typed(prefix: str) -> list[str]:
        return [
            f'"{prefix}_{f.column}" {app.instant_type if f.kind == "timestamp" else "text"}' for f in LEAD_ROLLUP_FIELDS
        ]

    wants = [f'"want_{f.column}" integer' for f in LEAD_ROLLUP_FIELDS]
    flags = [f'"chg_{f.column}" integer' for f in LEAD_ROLLUP_FIELDS]
    with app.transaction(con):
        app.execute(con, f"drop table if exists {_LEAD_IN}")
        app.execute(con, f"drop table if exists {_LEAD_PLAN}")
        columns = ", ".join([*typed("read"), *typed("new"), *wants, '"whHash" text'])
        app.execute(con, f'create temp table {_LEAD_IN} ("leadId" text primary key, {columns})')
        app.execute(
            con, f'create temp table {_LEAD_PLAN} ("leadId" text not null, action text, batch integer, {", ".join(flags)})'
        )
        app.execute(con, f"create index {_LEAD_PLAN}_batch on {_LEAD_PLAN} (batch) where batch is not null")


def _quoted(alias: str, column: str) -> str:
    return f'{alias}."{column}"'


def _lead_current(app: AppDatabase, f: LeadField, alias: str) -> str:
    expr = f'{alias}."{f.column}"'
    return app.lead_instant(expr) if f.kind == "timestamp" else expr


def _lead_unchanged_since_read(app: AppDatabase, alias: str) -> str:
    return " and ".join(app.same(_lead_current(app, f, alias), f'i."read_{f.column}"') for f in LEAD_ROLLUP_FIELDS)


def _lead_plan_sql(app: AppDatabase, batch_size: int) -> str:
    flags = [
        f'case when i."want_{f.column}" = 1 and {app.distinct(_lead_current(app, f, "l"), _quoted("i", "new_" + f.column))} '
        "then 1 else 0 end"
        for f in LEAD_ROLLUP_FIELDS
    ]
    any_change = " or ".join(f"{flag} = 1" for flag in flags)
    flag_names = ", ".join(f'"chg_{f.column}"' for f in LEAD_ROLLUP_FIELDS)
    return f"""
insert into {_LEAD_PLAN} ("leadId", action, batch, {flag_names})
select "leadId", action, {batch_number('"leadId"', batch_size)}, {flag_names}
from (
select
    i."leadId",
    case
        when l.id is null then 'skip_missing_lead'
        when not ({any_change}) then 'unchanged'
        when not ({_lead_unchanged_since_read(app, "l")}) then 'skip_changed_in_app'
        else 'update'
    end as action,
    {", ".join(f"{flag} as {name}" for flag, name in zip(flags, flag_names.split(", ")))}
from {_LEAD_IN} as i
left join "Lead" as l on l.id = i."leadId"
) as classified
"""


def _lead_update_sql(app: AppDatabase) -> str:
    sets = ", ".join(
        f'"{f.column}" = case when p."chg_{f.column}" = 1 then i."new_{f.column}" else "Lead"."{f.column}" end'
        for f in LEAD_ROLLUP_FIELDS
    )
    return f"""
update "Lead" set {sets}
from {_LEAD_PLAN} as p
inner join {_LEAD_IN} as i on i."leadId" = p."leadId"
where "Lead".id = p."leadId" and p.batch = %s and {_lead_unchanged_since_read(app, '"Lead"')}
"""


def _lead_still_to_write_sql(app: AppDatabase) -> str:
    """Planned updates the lead still lacks although the application did not change it since the read."""
    lacking = " or ".join(
        f'(p."chg_{f.column}" = 1 and {app.distinct(_lead_current(app, f, "l"), _quoted("i", "new_" + f.column))})'
        for f in LEAD_ROLLUP_FIELDS
    )
    return f"""
select count(*) from {_LEAD_PLAN} as p
inner join {_LEAD_IN} as i on i."leadId" = p."leadId"
inner join "Lead" as l on l.id = p."leadId"
where p.action = 'update' and ({lacking}) and {_lead_unchanged_since_read(app, "l")}
"""


def _lead_settled_sql(app: AppDatabase) -> str:
    """(lead id, hash, settled) of every compared lead. Settled: its wanted columns hold the new values (unchanged,
    or written and still there). A lead skipped, or written but different now, is compared again next time."""
    lacking = " or ".join(
        f'(p."chg_{f.column}" = 1 and {app.distinct(_lead_current(app, f, "l"), _quoted("i", "new_" + f.column))})'
        for f in LEAD_ROLLUP_FIELDS
    )
    return f"""
select i."leadId", i."whHash", case
    when p.action = 'unchanged' then 1
    when p.action = 'update' and l.id is not null and not ({lacking}) then 1
    else 0
end
from {_LEAD_IN} as i
inner join {_LEAD_PLAN} as p on p."leadId" = i."leadId"
left join "Lead" as l on l.id = p."leadId"
"""
