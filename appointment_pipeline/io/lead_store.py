"""raw_leads in the warehouse: a full read swaps the table, a delta read upserts the leads updated since the last
read and deletes the leads gone from the application (no Dagster imports).

A delta is trusted only from a recorded watermark (``raw_leads_watermark``, written in the transaction that writes
raw_leads) of the same source and hash key; anything else reads everything. Since the application may change a row
without bumping ``"updatedAt"``, a full read also comes around every ``full_read_every``. Each write records in
``raw_leads_changes`` which leads it inserted, changed or deleted, compared with the table as it was.

The publish writes "Lead" rollup columns without bumping ``"updatedAt"``: it marks the leads it wrote in
``raw_leads_reread``, and the next delta reads them again as if it did not know them.

Every write also appends its changes to a log the model builds read (``raw_leads_change_log``), under an id of the
read that is chained to the read before it (``raw_leads_reads``; the watermark holds the latest read's id): the leads
changed between any two reads are the log of the reads in between, however many there were. The log is pruned by
the model build plan, which knows which reads are still needed.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy.engine import make_url

from appointment_pipeline.io.db_errors import scrubbing
from appointment_pipeline.io.lead_source import RAW_LEADS_COLUMNS, LeadRead, csv_table, joined_ids
from appointment_pipeline.io.warehouse import Audit, AuditFailed, Warehouse, normalize_type

TABLE = "raw_leads"
WATERMARK_TABLE = "raw_leads_watermark"
WATERMARK_COLUMNS = [
    ("source", "text"),  # which application database (a digest of its URL without password)
    ("source_table", "text"),  # which "Lead" table of it (a re-created table is another one)
    ("key_fingerprint", "text"),  # which hash key made the email hashes
    ("read_kind", "text"),  # full or delta
    ("full_read_reason", "text"),
    ("read_started_at", "timestamptz"),  # the source's clock at the start of the read: the next delta reads from it
    ("read_from", "timestamptz"),  # a delta's lower bound on "updatedAt" (null for a full read)
    ("last_full_read_at", "timestamptz"),
    ("leads_read", "bigint"),
    ("read_id", "text"),  # this read's row in raw_leads_reads
]
CHANGES_TABLE = "raw_leads_changes"
CHANGES_COLUMNS = [("lead_id", "text"), ("change", "text"), ("read_started_at", "timestamptz")]
UPSERTED, DELETED = "upserted", "deleted"
REREAD_TABLE = "raw_leads_reread"
REREAD_COLUMNS = [("lead_id", "text"), ("marked_at", "timestamptz")]
READS_TABLE = "raw_leads_reads"
READS_COLUMNS = [
    ("read_id", "text"),
    ("previous_read_id", "text"),  # the read whose table this one changed (null: none recorded)
    ("read_started_at", "timestamptz"),
    ("read_kind", "text"),
    ("diffed", "boolean"),  # the changes were diffed against the table before (else: every lead counts as changed)
]
CHANGE_LOG_TABLE = "raw_leads_change_log"
CHANGE_LOG_COLUMNS = [("read_id", "text"), ("lead_id", "text")]
_INCOMING = "raw_leads__incoming"
_IDS = "raw_leads__source_ids"
_SCRATCH = "raw_leads__scratch"
RAW_LEADS_TABLE_COLUMNS = [(c.name, c.sql_type) for c in RAW_LEADS_COLUMNS]


@dataclass(frozen=True)
class ReadPlan:
    since: datetime | None  # None: read every lead
    full_read_reason: str | None  # why the read is full
    last_full_read_at: datetime | None
    source_table: str | None = None  # the "Lead" table the last read saw


@dataclass(frozen=True)
class WriteOutcome:
    upserted: int
    deleted: int


def source_identity(source_url: str) -> str:
    return hashlib.sha256(make_url(source_url).render_as_string(hide_password=True).encode()).hexdigest()[:16]


def plan_read(
    wh: Warehouse,
    *,
    source: str,
    fingerprint: str | None,
    full_refresh: bool,
    rehash: bool,
    full_read_every: timedelta,
    overlap: timedelta,
    now: datetime | None = None,
) -> ReadPlan:
    """A delta from the last watermark when it can be trusted; otherwise a full read, and why."""
    now = now or datetime.now(UTC)
    last = _watermark(wh)
    last_full = last["last_full_read_at"] if last else None

    def full(reason: str) -> ReadPlan:
        return ReadPlan(None, reason, last_full)

    if full_refresh:
        return full("run config full_refresh")
    if rehash:
        return full("run config rehash")
    if last is None:
        return full("no watermark recorded")
    if not _same_columns(wh):
        return full("raw_leads has other columns than this release writes")
    if last["source"] != source:
        return full("another application database")
    if last["key_fingerprint"] != fingerprint:
        return full("another hash key")
    if last_full is None or now - last_full >= full_read_every:
        return full(f"periodic full read (every {full_read_every})")
    return ReadPlan(last["read_started_at"] - overlap, None, last_full, last["source_table"])


def _watermark(wh: Warehouse) -> dict[str, Any] | None:
    if not wh.table_exists(WATERMARK_TABLE) or not wh.table_exists(TABLE):
        return None
    # a watermark of an older release lacks the newer columns: they read as null (and force a full read)
    present = {name for name, _ in wh.table_columns(WATERMARK_TABLE)}
    names = [name for name, _ in WATERMARK_COLUMNS if name in present]
    rows = wh.query(f"select {', '.join(names)} from {WATERMARK_TABLE}")
    if len(rows) != 1:
        return None
    return {name: None for name, _ in WATERMARK_COLUMNS} | dict(zip(names, rows[0]))


def _same_columns(wh: Warehouse, con: Any = None) -> bool:
    expected = [(name, normalize_type(kind)) for name, kind in RAW_LEADS_TABLE_COLUMNS]
    return wh.table_columns(TABLE, con) == expected


def write_raw_leads(
    wh: Warehouse, read: LeadRead, plan: ReadPlan, *, source: str, fingerprint: str | None, audit: Audit,
    also: Any = None, rereads_until: datetime | None = None,
) -> WriteOutcome:
    """One transaction: the rows, the changes, the watermark (and ``also(con)``); an audit failure writes nothing.
    The re-read marks made up to ``rereads_until`` (before the read began) are settled by this read."""
    with wh.transaction() as con:
        for table, columns in (
            (CHANGES_TABLE, CHANGES_COLUMNS), (WATERMARK_TABLE, WATERMARK_COLUMNS), (REREAD_TABLE, REREAD_COLUMNS),
            (READS_TABLE, READS_COLUMNS), (CHANGE_LOG_TABLE, CHANGE_LOG_COLUMNS),
        ):
            wh.create_table_if_missing(con, table, columns)
            wh.add_missing_columns(con, table, columns)
        if rereads_until is not None:
            wh.execute(con, f"delete from {REREAD_TABLE} where marked_at <= %s", [rereads_until])
        previous = wh.execute(con, f"select read_id from {WATERMARK_TABLE}").fetchall()
        previous_read_id = previous[0][0] if len(previous) == 1 else None
        wh.execute(con, f"delete from {CHANGES_TABLE}")
        diffed = _swap_in(wh, con, read.rows, audit) if read.full else _upsert(wh, con, read, audit)
        upserted, deleted = _count_changes(wh, con)
        wh.execute(con, f"update {CHANGES_TABLE} set read_started_at = %s", [read.started_at])
        read_id = uuid.uuid4().hex
        kind = "full" if read.full else "delta"
        wh.execute(con, f"insert into {READS_TABLE} values (%s, %s, %s, %s, %s)",
                   [read_id, previous_read_id, read.started_at, kind, diffed])
        wh.execute(con, f"insert into {CHANGE_LOG_TABLE} select distinct %s, lead_id from {CHANGES_TABLE}", [read_id])
        wh.execute(con, f"delete from {WATERMARK_TABLE}")
        full_at = read.started_at if read.full else plan.last_full_read_at
        values = [source, read.table_identity, fingerprint, kind, plan.full_read_reason or read.full_read_reason,
                  read.started_at, None if read.full else plan.since, full_at, read.rows.num_rows, read_id]
        names = ", ".join(name for name, _ in WATERMARK_COLUMNS)
        wh.execute(con, f"insert into {WATERMARK_TABLE} ({names}) values ({', '.join(['%s'] * len(values))})", values)
        if also is not None:
            also(con)
    return WriteOutcome(upserted, deleted)


def _swap_in(wh: Warehouse, con: Any, rows: pa.Table, audit: Audit) -> bool:
    """Full read: a scratch table, audited, compared with the table it replaces, then swapped in. False when there
    was no table of these columns to compare with (every lead is then listed as changed)."""
    wh.execute(con, f"drop table if exists {_SCRATCH}")
    wh.create_table_if_missing(con, _SCRATCH, RAW_LEADS_TABLE_COLUMNS)
    wh.bulk_insert(con, _SCRATCH, rows)
    _audit(con, audit, _SCRATCH)
    names = ", ".join(name for name, _ in RAW_LEADS_TABLE_COLUMNS)
    # on ``con`` only: a statement on another connection of a session would end this transaction
    if _same_columns(wh, con):
        wh.execute(
            con,
            f"insert into {CHANGES_TABLE} (lead_id, change) select lead_id, '{UPSERTED}' from "
            f"(select {names} from {_SCRATCH} except select {names} from {TABLE}) as changed",
        )
        wh.execute(
            con,
            f"insert into {CHANGES_TABLE} (lead_id, change) select lead_id, '{DELETED}' from "
            f"(select lead_id from {TABLE} except select lead_id from {_SCRATCH}) as gone",
        )
        # the comparison is of distinct rows: a lead with several rows, read or replaced, is a change too
        wh.execute(
            con,
            f"insert into {CHANGES_TABLE} (lead_id, change) select lead_id, '{UPSERTED}' from "
            f"(select lead_id from {_SCRATCH} group by lead_id having count(*) > 1 union "
            f"select lead_id from {TABLE} group by lead_id having count(*) > 1) as repeated "
            f"where not exists (select 1 from {CHANGES_TABLE} as c where c.lead_id = repeated.lead_id)",
        )
        diffed = True
    else:
        wh.execute(con, f"insert into {CHANGES_TABLE} (lead_id, change) select lead_id, '{UPSERTED}' from {_SCRATCH}")
        diffed = False
    wh.execute(con, f"drop table if exists {TABLE}")
    wh.execute(con, f"alter table {_SCRATCH} rename to {TABLE}")
    wh.analyze(con, TABLE)
    return diffed


def _upsert(wh: Warehouse, con: Any, read: LeadRead, audit: Audit) -> bool:
    """Delta read: the rows read replace their leads where they differ; leads whose id is gone are deleted."""
    assert read.deleted_ids is not None
    names = ", ".join(name for name, _ in RAW_LEADS_TABLE_COLUMNS)
    for table, columns in ((_INCOMING, RAW_LEADS_TABLE_COLUMNS), (_IDS, [("lead_id", "text")])):
        wh.execute(con, f"drop table if exists {table}")
        wh.create_table_if_missing(con, table, columns)
    wh.bulk_insert(con, _INCOMING, read.rows)
    wh.bulk_insert(con, _IDS, pa.table({"lead_id": read.deleted_ids}))
    _audit(con, audit, _INCOMING)
    wh.analyze(con, _INCOMING)
    wh.execute(
        con,
        f"insert into {CHANGES_TABLE} (lead_id, change) select lead_id, '{UPSERTED}' from "
        f"(select {names} from {_INCOMING} except select {names} from {TABLE} as r "
        f"where r.lead_id in (select lead_id from {_INCOMING})) as changed",
    )
    wh.execute(
        con,
        f"insert into {CHANGES_TABLE} (lead_id, change) select distinct lead_id, '{DELETED}' from {_IDS}",
    )
    changed = f"lead_id in (select lead_id from {CHANGES_TABLE})"
    if not wh.compact_if_bloated(con, TABLE, deleting=changed):
        wh.execute(con, f"delete from {TABLE} where {changed}")
    wh.execute(
        con,
        f"insert into {TABLE} ({names}) select {names} from {_INCOMING} "
        f"where lead_id in (select lead_id from {CHANGES_TABLE} where change = '{UPSERTED}')",
    )
    for table in (_INCOMING, _IDS):
        wh.execute(con, f"drop table {table}")
    wh.analyze(con, TABLE)
    return True


def mark_for_reread(wh: Warehouse, lead_ids: list[str]) -> None:
    """Leads whose "Lead" row was written without a new "updatedAt": the next delta reads them again."""
    if not lead_ids:
        return
    marked_at = datetime.now(UTC)
    with wh.transaction() as con:
        wh.create_table_if_missing(con, REREAD_TABLE, REREAD_COLUMNS)
        wh.bulk_insert(con, REREAD_TABLE, pa.table({
            "lead_id": pa.array(lead_ids, type=pa.string()),
            "marked_at": pa.array([marked_at] * len(lead_ids), type=pa.timestamp("us", tz="UTC")),
        }))


def ids_to_treat_as_known(wh: Warehouse) -> pa.Array:
    """The ids raw_leads holds, less those marked for a re-read (a delta then reads those again by id)."""
    known = known_lead_ids(wh)
    if not wh.table_exists(REREAD_TABLE):
        return known
    marked = pa.array([row[0] for row in wh.query(f"select distinct lead_id from {REREAD_TABLE}")], type=pa.string())
    if len(marked) == 0:
        return known
    return known.filter(pc.invert(pc.is_in(known, value_set=marked)))


def known_lead_ids(wh: Warehouse) -> pa.Array:
    """Every lead id raw_leads holds, as one Arrow column."""
    sql = f"select lead_id from {TABLE}"
    with wh.connect() as con, scrubbing("reading the warehouse", [TABLE, "lead_id"]):
        if wh.dialect == "duckdb":
            return con.sql(sql).to_arrow_table().column(0).combine_chunks()
        joined = joined_ids(lambda query: con.execute(query).fetchone(), TABLE, "lead_id", "postgres")
        if joined is not None:
            return joined
        with con.cursor() as cur, cur.copy(f"copy ({sql}) to stdout (format csv)") as copy:
            table = csv_table(copy, ["lead_id"])
    return table.column(0).combine_chunks()


def _audit(con: Any, audit: Audit, table: str) -> None:
    failures = {name: count for name, count in audit(con, table).items() if count}
    if failures:
        raise AuditFailed(TABLE, failures)


def _count_changes(wh: Warehouse, con: Any) -> tuple[int, int]:
    counts = dict(
        wh.execute(con, f"select change, count(*) from {CHANGES_TABLE} group by change").fetchall()
    )
    return int(counts.get(UPSERTED, 0)), int(counts.get(DELETED, 0))


def summary(wh: Warehouse) -> tuple[int, dict[str, int], int]:
    """(leads, rejected leads by reason, leads with an email hash) of the whole table."""
    rows = wh.query(
        f"select reject_reason, count(*), count(email_hash) from {TABLE} group by reject_reason order by reject_reason"
    )
    total = sum(int(n) for _, n, _ in rows)
    with_hash = sum(int(h) for _, _, h in rows)
    return total, {str(reason): int(n) for reason, n, _ in rows if reason is not None}, with_hash

