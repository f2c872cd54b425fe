"""Which build a run does (full or incremental) and, for an incremental one, its scope (no Dagster imports).

A build is planned once per run, before any model is written: the plan decides the mode, records the inputs the
next run will compare with (the raw_leads read it sees, the loaded snapshot days) and fills the scope tables. Each
model then records, in the transaction that writes it, that it was built by this plan (``model_build_state``). The
next run trusts the previous build only when every model was built by the same plan with today's code: a failed or
partial run, a changed model or seed, makes the next one full.

The scope starts from what changed since that build (the snapshot day loaded or re-delivered, the leads the raw_leads
reads since then inserted, changed or deleted, as their change log records them: io/lead_store.py, the leads whose
primary appointment can change because the reference time moved) and is closed over every relation the models
compute across rows: the keys of each scoped lead and the leads of each scoped key (before the change, from the
previous tables, and after it, from every lead that could match the key by any method), every invitee of a scoped
Calendly event and the event of every scoped invitee, and reschedule partners.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from appointment_pipeline.io import lead_store
from appointment_pipeline.io.incremental import SCOPE_DAYS, SCOPE_EVENTS, SCOPE_KEYS, SCOPE_LEADS
from appointment_pipeline.io.warehouse import Warehouse, ident

logger = logging.getLogger(__name__)

RUNS_TABLE = "model_build_runs"
STATE_TABLE = "model_build_state"
OLD_LEAD_ROWS_TABLE = "model_build_lead_rows"  # "Lead" row hashes of an older release, dropped
DAY_LOADS_TABLE = "model_build_day_loads"
PARTITION_LOADS_TABLE = "snapshot_partition_loads"  # written by the snapshot assets
FULL, INCREMENTAL = "full", "incremental"

BOOKKEEPING = {
    RUNS_TABLE: [("build_id", "text"), ("mode", "text"), ("reason", "text"), ("project_digest", "text"),
                 ("reference_time", "timestamptz"), ("last_snapshot_date", "date"), ("planned_at", "timestamptz"),
                 ("leads_read_id", "text")],  # the raw_leads read the build saw (lead_store's watermark)
    STATE_TABLE: [("model", "text"), ("build_id", "text"), ("mode", "text"), ("code_version", "text"),
                  ("rows_deleted", "bigint"), ("rows_inserted", "bigint")],
    DAY_LOADS_TABLE: [("build_id", "text"), ("provider", "text"), ("snapshot_date", "date"), ("ingest_source", "text"),
                      ("content_digest", "text"), ("record_count", "bigint")],
    # scope_round: the closure round that added the member (0: what changed)
    SCOPE_LEADS: [("lead_id", "text"), ("scope_round", "integer")],
    SCOPE_KEYS: [("provider", "text"), ("appointment_key", "text"), ("appointment_id", "text"),
                 ("scope_round", "integer")],
    SCOPE_EVENTS: [("scheduled_event_uri", "text"), ("scope_round", "integer")],
    SCOPE_DAYS: [("snapshot_date", "date")],
}


@dataclass(frozen=True)
class BuildPlan:
    build_id: str
    mode: str
    reason: str
    reference_time: datetime | None

    @property
    def incremental(self) -> bool:
        return self.mode == INCREMENTAL


@dataclass(frozen=True)
class BuildRequest:
    """What the run asks for: the plan decides whether the previous build can be updated in place."""

    build_id: str
    code_versions: Mapping[str, str]  # every SQL model -> code version
    project_digest: str  # changes with any model's SQL, scope declaration or seed
    reference_time: datetime | None
    run_days: Sequence[date] = ()  # the snapshot days the run loads (its partitions)
    selects_every_model: bool = True
    full_refresh: str | None = None  # why the run asks for a full rebuild, if it does


def existing_plan(wh: Warehouse, build_id: str) -> BuildPlan | None:
    if not wh.table_exists(RUNS_TABLE):
        return None
    rows = wh.query(f"select mode, reason, reference_time from {RUNS_TABLE} where build_id = %s", [build_id])
    return BuildPlan(build_id, rows[0][0], rows[0][1], rows[0][2]) if rows else None


def plan_build(wh: Warehouse, request: BuildRequest) -> BuildPlan:
    """The run's plan: read back when a model of the run planned it already, else decided, recorded and scoped
    now, in one transaction."""
    plan = existing_plan(wh, request.build_id)
    if plan is not None:
        return plan
    baseline, reason = _baseline(wh, request)
    with wh.transaction() as con:
        for table, columns in BOOKKEEPING.items():
            wh.create_table_if_missing(con, table, columns)
        for table in (RUNS_TABLE, SCOPE_LEADS, SCOPE_KEYS, SCOPE_EVENTS):
            wh.add_missing_columns(con, table, BOOKKEEPING[table])
        con.execute(f"drop table if exists {OLD_LEAD_ROWS_TABLE}")  # an older release's "Lead" row hashes
        read_id = _snapshot_inputs(wh, con, request.build_id)
        changed_days = _changed_days(wh, con, request, baseline)
        if baseline is not None and reason is None:
            reason = _day_reason(wh, con, baseline, changed_days)
        if reason is None and _has_leads_without_id(wh, con):
            reason = "raw_leads has rows without a lead_id (only a full build audits them)"
        lead_reads: list[str] = []
        if baseline is not None and reason is None:
            lead_reads, reason = _lead_reads_since(wh, con, baseline, read_id)
        mode = FULL if reason else INCREMENTAL
        for table in (SCOPE_LEADS, SCOPE_KEYS, SCOPE_EVENTS, SCOPE_DAYS):
            con.execute(f"delete from {table}")
        if mode == INCREMENTAL:
            assert baseline is not None
            reason = _fill_scope(wh, con, request, baseline, changed_days, lead_reads)
        last_day = wh.execute(
            con, f"select max(snapshot_date) from {DAY_LOADS_TABLE} where build_id = %s", [request.build_id]
        ).fetchone()[0]
        names = ", ".join(name for name, _ in BOOKKEEPING[RUNS_TABLE])
        wh.execute(
            con,
            f"insert into {RUNS_TABLE} ({names}) values (%s, %s, %s, %s, %s, %s, current_timestamp, %s)",
            [request.build_id, mode, reason, request.project_digest, request.reference_time, last_day, read_id],
        )
        # only the trusted build's snapshot and this one are ever read again
        wh.execute(con, f"delete from {DAY_LOADS_TABLE} where build_id not in (%s, %s)",
                   [request.build_id, baseline or request.build_id])
        _prune_lead_log(wh, con, lead_reads if mode == INCREMENTAL else [])
    plan = BuildPlan(request.build_id, mode, reason or "", request.reference_time)
    logger.info("model build %s: %s (%s)", request.build_id, mode, plan.reason)
    return plan


def record_model_build(wh: Warehouse, con: Any, model: str, plan: BuildPlan, code_version: str,
                       deleted: int, inserted: int) -> None:
    """In the transaction that writes the model: the model now holds what this plan built."""
    wh.create_table_if_missing(con, STATE_TABLE, BOOKKEEPING[STATE_TABLE])
    wh.execute(con, f"delete from {STATE_TABLE} where model = %s", [model])
    wh.execute(con, f"insert into {STATE_TABLE} values (%s, %s, %s, %s, %s, %s)",
               [model, plan.build_id, plan.mode, code_version, deleted, inserted])


# -- the decision ------------------------------------------------------------------------------------------------
def _baseline(wh: Warehouse, request: BuildRequest) -> tuple[str | None, str | None]:
    """(the build every model holds, why a full rebuild is needed instead — None when the build can be updated)."""
    if request.full_refresh:
        return None, request.full_refresh
    if not request.selects_every_model:
        return None, "the run does not build every SQL model"
    if not all(wh.table_exists(t) for t in (RUNS_TABLE, STATE_TABLE, DAY_LOADS_TABLE)):
        return None, "no previous build state"
    state = {m: (b, v) for m, b, v in wh.query(f"select model, build_id, code_version from {STATE_TABLE}")}
    missing = sorted(set(request.code_versions) - set(state))
    if missing:
        return None, f"no previous build of {', '.join(missing)}"
    changed = sorted(m for m, v in request.code_versions.items() if state[m][1] != v)
    if changed:
        return None, f"the SQL of {', '.join(changed)} changed"
    builds = {state[m][0] for m in request.code_versions}
    if len(builds) != 1:
        return None, "the models were last built by different runs (a run failed or built only some of them)"
    (baseline,) = builds
    digest = wh.query(f"select project_digest from {RUNS_TABLE} where build_id = %s", [baseline])
    if not digest:
        return None, "no previous build state"
    if digest[0][0] != request.project_digest:
        return None, "the seeds or the scope declarations changed"
    if not all(wh.table_exists(m) for m in request.code_versions):
        return None, "a model table is missing"
    return baseline, None


def _changed_days(wh: Warehouse, con: Any, request: BuildRequest, baseline: str | None) -> list[date]:
    days = set(request.run_days)
    if baseline is not None:
        columns = "provider, snapshot_date, ingest_source, content_digest, record_count"
        for row in wh.execute(
            con,
            f"select snapshot_date from ((select {columns} from {DAY_LOADS_TABLE} where build_id = %s except "
            f"select {columns} from {DAY_LOADS_TABLE} where build_id = %s) union all "
            f"(select {columns} from {DAY_LOADS_TABLE} where build_id = %s except "
            f"select {columns} from {DAY_LOADS_TABLE} where build_id = %s)) as differing",
            [request.build_id, baseline, baseline, request.build_id],
        ).fetchall():
            days.add(row[0])
    return sorted(days)


def _day_reason(wh: Warehouse, con: Any, baseline: str, days: list[date]) -> str | None:
    if len(days) > 1:
        return f"{len(days)} snapshot days changed ({days[0]} .. {days[-1]}): a range or backfill"
    last = wh.execute(con, f"select last_snapshot_date from {RUNS_TABLE} where build_id = %s", [baseline]).fetchone()
    if days and last and last[0] is not None and days[0] < last[0]:
        return f"snapshot day {days[0]} is earlier than the last loaded day {last[0]}"
    return None


def _snapshot_inputs(wh: Warehouse, con: Any, build_id: str) -> str | None:
    """What the next run compares with: the loaded snapshot days; returns the raw_leads read this build sees (the
    id the watermark holds; None when none is recorded)."""
    wh.execute(con, f"delete from {DAY_LOADS_TABLE} where build_id = %s", [build_id])
    if wh.table_columns(PARTITION_LOADS_TABLE, con=con):
        wh.execute(
            con,
            f"insert into {DAY_LOADS_TABLE} select %s, provider, snapshot_date, ingest_source, content_digest, "
            f"record_count from {PARTITION_LOADS_TABLE}",
            [build_id],
        )
    watermark = {name for name, _ in wh.table_columns(lead_store.WATERMARK_TABLE, con=con)}
    if "read_id" not in watermark:
        return None
    rows = wh.execute(con, f"select read_id from {lead_store.WATERMARK_TABLE}").fetchall()
    return rows[0][0] if len(rows) == 1 else None


def _has_leads_without_id(wh: Warehouse, con: Any) -> bool:
    if not wh.table_columns(lead_store.TABLE, con=con):
        return False
    _index(wh, con, lead_store.TABLE, "lead_id")  # PostgreSQL: the probe below and the scope's lookups by lead
    found = wh.execute(con, f"select exists (select 1 from {lead_store.TABLE} where lead_id is null)").fetchone()
    return bool(found[0])


def _lead_reads_since(wh: Warehouse, con: Any, baseline: str, read_id: str | None) -> tuple[list[str], str | None]:
    """(the raw_leads reads since the baseline build's, whose logged changes are the leads that changed; why a full
    build is needed instead). The reads are followed back, each to the one before it, from the read this build sees
    to the baseline's: a read missing on the way (pruned, or written by another release) or one that could not diff
    its changes (every lead listed) breaks the chain."""
    row = wh.execute(con, f"select leads_read_id from {RUNS_TABLE} where build_id = %s", [baseline]).fetchone()
    since = row[0] if row else None
    if since is None:
        return [], "the previous build recorded no raw_leads read to compare with"
    if read_id is None:
        return [], "raw_leads has no recorded read (its watermark holds none)"
    if not wh.table_columns(lead_store.READS_TABLE, con=con):
        return [], "no raw_leads change log"
    reads = {r: (previous, diffed) for r, previous, diffed in wh.execute(
        con, f"select read_id, previous_read_id, diffed from {lead_store.READS_TABLE}").fetchall()}
    path: list[str] = []
    current: str | None = read_id
    while current != since:
        if current is None or current not in reads or len(path) > len(reads):
            return [], "the raw_leads change log does not reach back to the previous build's read"
        if not reads[current][1]:
            return [], "a raw_leads read since the previous build could not list the leads it changed"
        path.append(current)
        current = reads[current][0]
    return path, None


def _prune_lead_log(wh: Warehouse, con: Any, keep: list[str]) -> None:
    """Drop the reads (and their logged changes) no later plan needs: a later build's baseline is this build or,
    if this one fails, the baseline, so only the reads since the baseline's are kept. Only the reads known here are
    dropped: one committed meanwhile stays."""
    if not wh.table_columns(lead_store.READS_TABLE, con=con):
        return
    stale = [r for (r,) in wh.execute(con, f"select read_id from {lead_store.READS_TABLE}").fetchall() if r not in keep]
    if stale:
        marks = ", ".join(["%s"] * len(stale))
        for table in (lead_store.READS_TABLE, lead_store.CHANGE_LOG_TABLE):
            wh.execute(con, f"delete from {table} where read_id in ({marks})", stale)


# -- the scope ---------------------------------------------------------------------------------------------------
_IN_DAYS = f"snapshot_date in (select snapshot_date from {SCOPE_DAYS})"
# The provider relations the closure follows, after the change (every raw row) and before it (the replaced days'
# rows): read once per plan into temporary tables, each relation once (a snapshot table repeats it every day).
_RELATIONS = {
    "scope_calendly_relations": (
        "select distinct invitee_uri, scheduled_event_uri, old_invitee_uri, new_invitee_uri, email_hash from ("
        "select invitee_uri, scheduled_event_uri, old_invitee_uri, new_invitee_uri, email_hash "
        "from raw_calendly_invitees where reject_reason is null "
        "union all select invitee_uri, scheduled_event_uri, old_invitee_uri, new_invitee_uri, email_hash "
        f"from stg_calendly_invitees where {_IN_DAYS}) as c"
    ),
    "scope_ghl_relations": (
        "select distinct ghl_appointment_id, contact_id from ("
        "select ghl_appointment_id, contact_id from raw_ghl_appointments where reject_reason is null "
        f"union all select ghl_appointment_id, contact_id from stg_ghl_appointments where {_IN_DAYS}) as g"
    ),
}
_CALENDLY_ROWS = "scope_calendly_relations as c"
_GHL_ROWS = "scope_ghl_relations as g"
# The closure looks up only from the members added since the round before (a member added in round r is looked up
# from in rounds r and r + 1, so by every lookup): each lookup is a semi-join on one scope set, so the members looked
# up before add nothing new. _SINCE is replaced by that round's number.
_SINCE = "__since_round__"
_NEW = f"scope_round >= {_SINCE}"
# A legacy appointment without a provider key is keyed by its lead (stg_legacy_observations): every scoped lead
# brings both such keys, which exist only for the leads whose legacy rollup has no provider key
KEYLESS_PREFIX = "legacy:"
_K_GHL = f"(select appointment_key from {SCOPE_KEYS} where provider = 'GHL' and {_NEW})"
_K_CAL = f"(select appointment_key from {SCOPE_KEYS} where provider = 'CALENDLY' and {_NEW})"
_IN_K = f"exists (select 1 from {SCOPE_KEYS} as k where k.provider = {{q}}.provider and k.appointment_key = {{q}}.{{key}})"
_IN_NEW_K = _IN_K[:-1] + f" and k.{_NEW})"
_L = f"(select lead_id from {SCOPE_LEADS} where {_NEW})"
_E = f"(select scheduled_event_uri from {SCOPE_EVENTS} where {_NEW})"

_SEED_KEYS = [
    f"select 'GHL', ghl_appointment_id from raw_ghl_appointments where {_IN_DAYS}",
    f"select 'GHL', ghl_appointment_id from stg_ghl_appointments where {_IN_DAYS}",
    *(f"select 'CALENDLY', {column} from {table} where {_IN_DAYS}"
      for table in ("raw_calendly_invitees", "stg_calendly_invitees")
      for column in ("invitee_uri", "old_invitee_uri", "new_invitee_uri")),
]
_SEED_EVENTS = [
    f"select scheduled_event_uri from {table} where {_IN_DAYS}"
    for table in ("raw_calendly_invitees", "stg_calendly_invitees", "stg_calendly_scheduled_events")
]
_EVENTS_OF_KEYS = [f"select c.scheduled_event_uri from {_CALENDLY_ROWS} where c.invitee_uri in {_K_CAL}"]
_KEYS_OF_KEYS = [  # the invitees of scoped events, and reschedule partners
    f"select 'CALENDLY', c.invitee_uri from {_CALENDLY_ROWS} where c.scheduled_event_uri in {_E}",
    f"select 'CALENDLY', c.new_invitee_uri from {_CALENDLY_ROWS} where c.invitee_uri in {_K_CAL}",
    f"select 'CALENDLY', c.old_invitee_uri from {_CALENDLY_ROWS} where c.invitee_uri in {_K_CAL}",
    f"select 'CALENDLY', c.invitee_uri from {_CALENDLY_ROWS} where c.old_invitee_uri in {_K_CAL}",
    f"select 'CALENDLY', c.invitee_uri from {_CALENDLY_ROWS} where c.new_invitee_uri in {_K_CAL}",
]
_LEADS_OF_KEYS = [
    # before: the lead each key resolved to or was claimed by
    f"select m.lead_id from int_appointments_merged as m where {_IN_NEW_K.format(q='m', key='appointment_key')}",
    f"select o.lead_id from int_legacy_observations as o where {_IN_NEW_K.format(q='o', key='appointment_key')}",
    # after: every lead that can match the key by any method (legacy key, GHL contact, email hash)
    f"select lead_id from raw_leads where trim(ghl_appointment_id) in {_K_GHL}",
    f"select lead_id from raw_leads where trim(calendly_invitee_uri) in {_K_CAL}",
    f"select lead_id from raw_leads where trim(ghl_contact_id) in "
    f"(select g.contact_id from {_GHL_ROWS} where g.ghl_appointment_id in {_K_GHL})",
    f"select lead_id from raw_leads where email_hash in "
    f"(select c.email_hash from {_CALENDLY_ROWS} where c.invitee_uri in {_K_CAL})",
]
_KEYS_OF_LEADS = [
    f"select provider, appointment_key from int_appointments_merged where lead_id in {_L}",
    f"select provider, appointment_key from int_legacy_observations where lead_id in {_L}",
    f"select 'GHL', trim(ghl_appointment_id) from raw_leads where lead_id in {_L}",
    f"select 'CALENDLY', trim(calendly_invitee_uri) from raw_leads where lead_id in {_L}",
    f"select 'GHL', '{KEYLESS_PREFIX}' || lead_id from {SCOPE_LEADS} where {_NEW}",
    f"select 'CALENDLY', '{KEYLESS_PREFIX}' || lead_id from {SCOPE_LEADS} where {_NEW}",
    f"select 'GHL', g.ghl_appointment_id from {_GHL_ROWS} "
    f"where g.contact_id in (select trim(ghl_contact_id) from raw_leads where lead_id in {_L})",
    f"select 'CALENDLY', c.invitee_uri from {_CALENDLY_ROWS} "
    f"where c.email_hash in (select email_hash from raw_leads where lead_id in {_L})",
]


# PostgreSQL: what the closure looks rows up by, so each round reads the rows it needs rather than whole tables
# (a full rebuild re-creates the model tables without them; the next incremental plan creates them again)
_PROBED = {
    "raw_leads": ["lead_id", "btrim(ghl_appointment_id)", "btrim(calendly_invitee_uri)", "btrim(ghl_contact_id)",
                  "email_hash"],
    "raw_calendly_invitees": ["snapshot_date"],
    "raw_ghl_appointments": ["snapshot_date"],
    "stg_calendly_invitees": ["snapshot_date"],
    "stg_ghl_appointments": ["snapshot_date"],
    "stg_calendly_scheduled_events": ["snapshot_date"],
    "int_appointments_merged": ["lead_id", "appointment_key"],
    "int_legacy_observations": ["lead_id", "appointment_key"],
    "appointments": ["start_at"],
}


def _index(wh: Warehouse, con: Any, table: str, expression: str) -> None:
    """An index on ``table`` (``expression``) on PostgreSQL, unless it has one; DuckDB scans instead."""
    if wh.dialect != "postgres":
        return
    name = f"{table}__{hashlib.md5(expression.encode()).hexdigest()[:8]}"
    column = expression if expression.isidentifier() else f"({expression})"
    con.execute(f"create index if not exists {ident(name)} on {ident(table)} ({column})")


def _index_probed(wh: Warehouse, con: Any) -> None:
    for table, expressions in _PROBED.items():
        for expression in expressions:
            _index(wh, con, table, expression)


def _union(selects: list[str], scope_round: int) -> str:
    return " union ".join(selects).replace(_SINCE, str(max(scope_round - 1, 0)))


def _add_leads(wh: Warehouse, con: Any, selects: list[str], scope_round: int, params: Sequence[Any] = ()) -> int:
    """Add the leads ``selects`` find (looking up from the members of the round before and this one) as members
    of ``scope_round``; returns how many were new."""
    return _rowcount(con.execute(wh._params(
        f"insert into {SCOPE_LEADS} (lead_id, scope_round) select distinct x.lead_id, {scope_round} "
        f"from ({_union(selects, scope_round)}) as x(lead_id) where x.lead_id is not null "
        f"and not exists (select 1 from {SCOPE_LEADS} as s where s.lead_id = x.lead_id)"), params))


def _add_keys(con: Any, selects: list[str], scope_round: int) -> int:
    return _rowcount(con.execute(
        f"insert into {SCOPE_KEYS} (provider, appointment_key, appointment_id, scope_round) "
        f"select x.provider, x.appointment_key, md5(x.provider || ':' || x.appointment_key), {scope_round} "
        f"from (select distinct * from ({_union(selects, scope_round)}) as u(provider, appointment_key)) as x "
        f"where x.appointment_key is not null and not {_IN_K.format(q='x', key='appointment_key')}"))


def _add_events(con: Any, selects: list[str], scope_round: int) -> int:
    return _rowcount(con.execute(
        f"insert into {SCOPE_EVENTS} (scheduled_event_uri, scope_round) select distinct x.uri, {scope_round} "
        f"from ({_union(selects, scope_round)}) as x(uri) where x.uri is not null "
        f"and not exists (select 1 from {SCOPE_EVENTS} as s where s.scheduled_event_uri = x.uri)"))


def _grown(wh: Warehouse, con: Any, table: str, added: int) -> int:
    """``added``; a scope set that grew gets fresh statistics at once. PostgreSQL plans the next statement (the
    next lookup, or a model's semi-join) on them: planned on the set's size before a round added 141,774 leads, one
    lookup probed the 1M-row tables by index once per lead (9.6 s; 4.5 s planned on its size)."""
    if added:
        wh.analyze(con, table)
    return added


def _rowcount(cursor: Any) -> int:
    count = cursor.rowcount
    if count is None or count < 0:  # DuckDB returns the count as a result row
        count = cursor.fetchone()[0]
    return int(count)


def _fill_scope(
    wh: Warehouse, con: Any, request: BuildRequest, baseline: str, days: list[date], lead_reads: list[str]
) -> str:
    for day in days:
        wh.execute(con, f"insert into {SCOPE_DAYS} values (%s)", [day])
    _index_probed(wh, con)
    for table, select in _RELATIONS.items():
        con.execute(f"drop table if exists {table}")
        con.execute(f"create temporary table {table} as {select}")
    _add_keys(con, _SEED_KEYS, 0)
    _add_events(con, _SEED_EVENTS, 0)
    if lead_reads:  # the leads the raw_leads reads since the previous build inserted, changed or deleted
        marks = ", ".join(["%s"] * len(lead_reads))
        _add_leads(wh, con, [f"select lead_id from {lead_store.CHANGE_LOG_TABLE} where read_id in ({marks})"], 0,
                   lead_reads)
    changed_leads = wh.execute(con, f"select count(*) from {SCOPE_LEADS}").fetchone()[0]
    previous = wh.execute(con, f"select reference_time from {RUNS_TABLE} where build_id = %s", [baseline]).fetchone()
    previous_time = previous[0] if previous else None
    if previous_time != request.reference_time and previous_time is not None and request.reference_time is not None:
        # an upcoming confirmed appointment that started in between is no longer the lead's next one (or is again)
        low, high = sorted([previous_time, request.reference_time])
        _add_leads(wh, con, [
            "select a.lead_id from appointments as a inner join appointment_statuses as s on s.status = a.status "
            "where s.upcoming_first and a.start_at > %s and a.start_at <= %s"
        ], 0, [low, high])
    for table in (SCOPE_DAYS, SCOPE_LEADS, SCOPE_KEYS, SCOPE_EVENTS, *_RELATIONS):
        wh.analyze(con, table)  # PostgreSQL: the seeded sets' sizes (each set is analyzed again as it grows)
    rounds = 0
    while True:
        rounds += 1
        added = _grown(wh, con, SCOPE_EVENTS, _add_events(con, _EVENTS_OF_KEYS, rounds))
        added += _grown(wh, con, SCOPE_KEYS, _add_keys(con, _KEYS_OF_KEYS, rounds))
        added += _grown(wh, con, SCOPE_LEADS, _add_leads(wh, con, _LEADS_OF_KEYS, rounds))
        added += _grown(wh, con, SCOPE_KEYS, _add_keys(con, _KEYS_OF_LEADS, rounds))
        if not added:
            break
    for table in _RELATIONS:
        con.execute(f"drop table {table}")
    sizes = {t: wh.execute(con, f"select count(*) from {t}").fetchone()[0]
             for t in (SCOPE_DAYS, SCOPE_LEADS, SCOPE_KEYS, SCOPE_EVENTS)}
    keyless = wh.execute(
        con, f"select count(*) from {SCOPE_KEYS} where appointment_key like %s", [f"{KEYLESS_PREFIX}%"]
    ).fetchone()[0]
    return (
        f"days {[str(d) for d in days]}, {changed_leads} changed or time-affected leads; scope closed in {rounds} "
        f"rounds: {sizes[SCOPE_LEADS]} leads, {sizes[SCOPE_KEYS]} appointment keys ({keyless} of them the keyless "
        f"legacy keys of the scoped leads, most of which no appointment has), {sizes[SCOPE_EVENTS]} events"
    )
