"""Extraction assets (group ``extract``): legacy leads from the application database, and one factory that builds
the daily snapshot extractor of each provider, from the landing zone or the provider's API.

Nothing personal leaves this module: "Lead" keeps only ids, keys and rollup columns plus the keyed email hash;
provider records go through appointment_pipeline.domain.parsing, which keeps only non-PII fields.
"""


import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from appointment_pipeline.settings import DEMO_HASH_KEY
from appointment_pipeline.io import lead_store
from appointment_pipeline.io.lead_source import (  # noqa: F401  (the raw_leads columns, imported from here)
    EMAIL_HASH_COLUMN,
    LEAD_COLUMNS,
    LEAD_REJECT_COLUMNS,
    RAW_LEADS_COLUMNS,
    read_leads,
)
from appointment_pipeline.io.audits import AUDIT_METADATA, pii_audit, recording_pii
from appointment_pipeline.io.db_errors import scrubbing
from appointment_pipeline.domain.key_fingerprint import check_key, record_fingerprint, window_from_tags
from appointment_pipeline.defs.transform.lineage import raw_table_metadata, source_deps
from appointment_pipeline.defs.transform.metadata import table_metadata
from appointment_pipeline.domain.parsing import (
    CALENDLY,
    GHL,
    Provider,
    SourceRecord,
    parsed_batches,
)
from appointment_pipeline.io.landing import non_day_folders, scan_landing_day
from appointment_pipeline.io.landing_duckdb import parse_landing_days
from appointment_pipeline.defs.extract.partitions import snapshot_days
from appointment_pipeline.defs.resources.resources import (
    LandingZoneResource,
    PipelineSettingsResource,
    ProviderApisResource,
    SourceDatabaseResource,
    WarehouseResource,
    one_warehouse_connection,
)
from appointment_pipeline.domain.ingest_source import ingest_source_for_run
from appointment_pipeline.domain.statuses import LineReason
from appointment_pipeline.io.warehouse import AuditFailed
from appointment_pipeline.defs.constants import OWNERS, WAREHOUSE_KIND, WAREHOUSE_POOL


# -- legacy leads ---------------------------------------------------------------------------------------------------


class LeadsConfig(Config):
    """``rehash``: this run may switch raw_leads to a new APPOINTMENT_HASH_KEY (docs/operations.md);
    ``full_refresh``: read every lead even when a delta since the last read would do."""

    rehash: bool = False
    full_refresh: bool = Field(
        default=False,
        description="Read every lead instead of those updated since the last read (deleted leads are always found).",
    )


@asset(
    group_name="extract",
    deps=source_deps("raw_leads"),
    metadata=raw_table_metadata("raw_leads"),
    kinds={"python", WAREHOUSE_KIND},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        'Legacy "Lead" rows from the application database (APPOINTMENT_SOURCE_DB_URL): ids, match keys and the '
        "appointment rollup columns; the email only as a keyed hash; no names or phones. A run reads the leads "
        "updated since the last read (and every lead id, to drop deleted leads); every lead on the first run, after "
        "a key change, with run config `full_refresh: true` and every APPOINTMENT_LEADS_FULL_READ_DAYS. "
        "raw_leads_changes lists the leads the run inserted, changed or deleted."
    ),
)
@one_warehouse_connection
def raw_leads(
    context: AssetExecutionContext,
    config: LeadsConfig,
    warehouse: WarehouseResource,
    source_db: SourceDatabaseResource,
    pipeline_settings: PipelineSettingsResource,
) -> MaterializeResult:
    _warn_on_demo_key(context, pipeline_settings)
    wh = warehouse.warehouse()
    fingerprint = check_key(
        wh, "raw_leads", pipeline_settings.hash_key, rehash=config.rehash, window=window_from_tags(context.run.tags)
    )
    source = lead_store.source_identity(source_db.url)
    plan = lead_store.plan_read(
        wh,
        source=source,
        fingerprint=fingerprint,
        full_refresh=config.full_refresh,
        rehash=config.rehash,
        full_read_every=timedelta(days=source_db.leads_full_read_days),
        overlap=timedelta(minutes=source_db.leads_delta_overlap_minutes),
    )
    context.log.info(
        f"raw_leads: full read ({plan.full_read_reason})" if plan.since is None
        else f"raw_leads: leads updated since {plan.since.isoformat()}"
    )
    rereads_until = datetime.now(timezone.utc)  # marks made after this are left for the next read
    known = lead_store.ids_to_treat_as_known(wh) if plan.since is not None else None
    read = read_leads(
        source_db.url, pipeline_settings.hash_key, since=plan.since, known_ids=known, table_identity=plan.source_table
    )
    if read.full_read_reason:
        context.log.info(f"raw_leads: read every lead instead ({read.full_read_reason})")
    audited: dict[str, Any] = {}
    try:
        outcome = lead_store.write_raw_leads(
            wh, read, plan, source=source, fingerprint=fingerprint, audit=recording_pii(pii_audit(wh), audited),
            rereads_until=rereads_until,
            also=lambda con: record_fingerprint(wh, con, "raw_leads", fingerprint),
        )
    except AuditFailed as exc:
        raise _not_published(exc) from None
    count, by_reason, with_hash = lead_store.summary(wh)
    rejected = sum(by_reason.values())
    if rejected:
        context.log.warning(f"raw_leads: {rejected} of {count} leads hold a rejected value {by_reason}")
    return MaterializeResult(
        metadata={
            **table_metadata(wh, "raw_leads", count, descriptions={c.name: c.description for c in RAW_LEADS_COLUMNS}),
            "leads_with_email_hash": with_hash,
            "rejected": rejected,
            "rejected_by_reason": MetadataValue.json(by_reason),
            "read_kind": "full" if read.full else "delta",
            "full_read_reason": plan.full_read_reason or read.full_read_reason or "",
            "leads_read": read.rows.num_rows,
            "leads_upserted": outcome.upserted,
            "leads_deleted": outcome.deleted,
            AUDIT_METADATA: MetadataValue.json(
                {**audited, "scope": "every lead (full read)" if read.full else "the leads this delta read"}
            ),
        }
    )


# -- provider snapshots --------------------------------------------------------------------------------------------


class SnapshotConfig(Config):
    """Where a snapshot partition comes from, and which days may be empty."""

    source: Literal["landing", "api"] = Field(
        default="landing", description="`landing` (the landing zone, default) or `api` (the provider's HTTP API)."
    )
    empty_days: list[str] = Field(
        default=[],
        description=(
            "Days (YYYY-MM-DD) of the run to record as loaded although they have no landing files. Without it a day "
            "with no files fails the run and stays unloaded, so the freshness check keeps reporting it."
        ),
    )
    rehash: bool = Field(
        default=False,
        description="May switch the table to a new APPOINTMENT_HASH_KEY: the run must then cover every loaded day.",
    )


PARTITION_LOADS_TABLE = "snapshot_partition_loads"
PARTITION_LOADS_COLUMNS = [
    ("provider", "text"),
    ("snapshot_date", "date"),
    ("ingest_source", "text"),
    ("content_digest", "text"),
    ("record_count", "bigint"),
]


def partition_days(context: AssetExecutionContext) -> list[date]:
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    return [start + timedelta(days=i) for i in range((end - start).days)]


def _api_records(provider: Provider, api, days: list[date]) -> Iterator[SourceRecord]:
    """Pull each day's snapshot from the provider's API: the records whose start falls in a wide window."""
    client = api.client()
    for day in days:
        day_start = datetime.combine(day, time.min, tzinfo=timezone.utc)
        start = day_start - timedelta(days=api.window_days_before)
        end = day_start + timedelta(days=1 + api.window_days_after)
        if provider is CALENDLY:
            records, endpoint = client.iter_invitee_records(start, end), "api:calendly/scheduled_events"
        else:
            records, endpoint = client.iter_appointment_records(start, end), "api:ghl/calendars/events"
        for number, obj in enumerate(records, start=1):
            yield SourceRecord(day, endpoint, number, obj=obj)


def build_snapshot_asset(provider: Provider) -> AssetsDefinition:
    """The daily snapshot extractor of one provider (both providers are built by this one factory)."""
    @asset(
        name=provider.table,
        group_name="extract",
        deps=source_deps(provider.table),
        metadata=raw_table_metadata(provider.table),
        kinds={"python", provider.name, WAREHOUSE_KIND},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        partitions_def=snapshot_days,
        backfill_policy=BackfillPolicy.single_run(),
        description=(
            f"Daily {provider.name} snapshot partitions, from the landing zone (`{provider.name}/YYYY-MM-DD/*.jsonl` or "
            "`*.jsonl.gz` under APPOINTMENT_LANDING_DIR) or the provider API (run config `source: api`): one row per "
            "line or record with the non-PII fields, the keyed email hash, and `reject_reason` for a line that was "
            "not loaded. Re-materializing a range replaces exactly those days; a day without landing files is not "
            "loaded (run config `empty_days` records an intentionally empty day)."
        ),
    )
    @one_warehouse_connection
    def snapshot(
        context: AssetExecutionContext,
        config: SnapshotConfig,
        warehouse: WarehouseResource,
        landing_zone: LandingZoneResource,
        pipeline_settings: PipelineSettingsResource,
        provider_apis: ProviderApisResource,
    ) -> MaterializeResult:
        _warn_on_demo_key(context, pipeline_settings)
        days = partition_days(context)
        wh = warehouse.warehouse()
        fingerprint = check_key(
            wh, provider.table, pipeline_settings.hash_key, rehash=config.rehash, window=(days[0], days[-1])
        )
        stamps = _first_stamps(wh, provider, days, ingest_source_for_run(context.run.tags))
        digests: dict[date, str] = {}
        if config.source == "api":
            # pulled and parsed before the write transaction opens (a slow API must not hold the warehouse),
            # spooled to a local file so that memory stays bounded
            api = provider_apis.for_provider(provider.name)
            spool = _spool(parsed_batches(provider, _api_records(provider, api, days), pipeline_settings.hash_key, stamps))
            batches: Iterable[pa.RecordBatch] = _spooled(spool)
            digests = {day: "api" for day in days}
        else:
            _require_landing_files(landing_zone, provider, days, config.empty_days)
            for name in non_day_folders(landing_zone.path, provider):
                context.log.info(f"{provider.name}/{name}: not a YYYY-MM-DD snapshot folder, skipped")
            batches = parse_landing_days(landing_zone.path, provider, days, pipeline_settings.hash_key, stamps,
                                         digests, on_skip=context.log.warning)
        columns = [(c.name, c.sql_type) for c in provider.columns]
        window = [days[0], days[-1]]
        audited: dict[str, Any] = {}
        # The parsed rows stream into one transaction, a batch at a time: a failure anywhere (a parse, the load,
        # the PII audit) rolls back and leaves the previous partitions intact.
        with wh.transaction() as con:
            wh.create_table_if_missing(con, provider.table, columns)
            wh.add_missing_columns(con, provider.table, columns)
            wh.create_table_if_missing(con, PARTITION_LOADS_TABLE, PARTITION_LOADS_COLUMNS)
            reloaded = f"snapshot_date between date '{days[0].isoformat()}' and date '{days[-1].isoformat()}'"
            if not wh.compact_if_bloated(con, provider.table, deleting=reloaded):
                wh.execute(con, f"delete from {provider.table} where {reloaded}")
            wh.execute(
                con,
                f"delete from {PARTITION_LOADS_TABLE} where provider = %s and snapshot_date between %s and %s",
                [provider.name, *window],
            )
            for batch in batches:
                wh.bulk_insert(con, provider.table, pa.Table.from_batches([batch]))
            outcomes = _line_outcomes(wh, con, provider.table, window)
            wh.bulk_insert(con, PARTITION_LOADS_TABLE, _partition_loads(provider, days, stamps, digests, outcomes))
            # what this run wrote must hold no PII before it is committed; otherwise the old days stay
            days_audit = pii_audit(wh, where="snapshot_date between %s and %s", params=window)
            _publishable(wh, con, provider.table, recording_pii(days_audit, audited))
            record_fingerprint(wh, con, provider.table, fingerprint)
            wh.analyze(con, provider.table)
        totals: Counter = Counter()
        for day in days:
            counts = outcomes.get(day, Counter())
            totals.update(counts)
            # each partition of a range reports its own figures (the shared metadata below is the run's)
            context.add_asset_metadata(_outcome_metadata(counts, stamps[day]), partition_key=day.isoformat())
        if totals["rejected"]:
            context.log.warning(
                f"{provider.table}: {totals['rejected']} of {totals['records']} records rejected "
                f"{dict(_reasons(totals, reject=True))}"
            )
        return MaterializeResult(
            metadata={
                **table_metadata(wh, provider.table, None, descriptions={c.name: c.description for c in provider.columns}),
                "run_snapshot_days": MetadataValue.text(f"{days[0]} .. {days[-1]} ({len(days)} days)"),
                "run_records": totals["records"],
                "source": config.source,
                AUDIT_METADATA: MetadataValue.json({**audited, "scope": f"snapshot days {days[0]} .. {days[-1]}"}),
            }
        )

    return snapshot


def _require_landing_files(landing_zone, provider: Provider, days: list[date], empty_days: list[str]) -> None:
    """A day without landing files is not a snapshot: fail naming the days, unless the run says they are empty."""
    allowed = {date.fromisoformat(day) for day in empty_days}
    missing = [
        day for day in days if day not in allowed and not scan_landing_day(landing_zone.path, provider, day).has_snapshot
    ]
    if missing:
        folders = ", ".join(str(landing_zone.path / provider.name / day.isoformat()) for day in missing[:5])
        raise Failure(
            description=(
                f"{provider.name}: no landing files for {', '.join(d.isoformat() for d in missing)} "
                f"(looked for *.jsonl / *.jsonl.gz in {folders}{' ...' if len(missing) > 5 else ''}). "
                "Nothing was loaded. Land the files and re-run, or, if the day really had no data, re-run with "
                f"run config `empty_days: [{', '.join(repr(d.isoformat()) for d in missing)}]`."
            ),
            metadata={"days_without_files": MetadataValue.json([d.isoformat() for d in missing])},
        )


def _line_outcomes(wh, con, table: str, window: list[date]) -> dict[date, Counter]:
    """Per snapshot day of the window: records, loaded, rejected, ignored and the count of each reason (counted by
    the warehouse on the rows this transaction wrote)."""
    rows = wh.execute(
        con,
        f"select snapshot_date, reject_reason, count(*) from {table} where snapshot_date between %s and %s "
        "group by snapshot_date, reject_reason",
        window,
    ).fetchall()
    outcomes: dict[date, Counter] = {}
    for day, reason, count in rows:
        counts = outcomes.setdefault(day, Counter())
        counts["records"] += count
        if reason is None:
            counts["loaded"] += count
        else:
            counts["rejected" if LineReason(reason).is_reject else "ignored"] += count
            counts[f"reason:{reason}"] += count
    return outcomes


def _reasons(counts: Counter, *, reject: bool) -> list[tuple[str, int]]:
    return sorted(
        (key.removeprefix("reason:"), value)
        for key, value in counts.items()
        if key.startswith("reason:") and LineReason(key.removeprefix("reason:")).is_reject == reject
    )


def _outcome_metadata(counts: Counter, ingest_source: str) -> dict:
    return {
        "dagster/row_count": counts["records"],
        "records": counts["records"],
        "loaded": counts["loaded"],
        "rejected": counts["rejected"],
        "ignored": counts["ignored"],
        "rejected_by_reason": MetadataValue.json(dict(_reasons(counts, reject=True))),
        "ignored_by_reason": MetadataValue.json(dict(_reasons(counts, reject=False))),
        "ingest_source": ingest_source,
    }


def _publishable(wh, con, table: str, audit) -> None:
    failures = {name: count for name, count in audit(con, table).items() if count}
    if failures:
        raise _not_published(AuditFailed(table, failures))


def _not_published(exc: AuditFailed) -> Failure:
    return Failure(
        description=f"{exc} Nothing of this run was written; the table is as it was.",
        metadata={"failed_audits": MetadataValue.json(exc.failures)},
    )


def _warn_on_demo_key(context: AssetExecutionContext, pipeline_settings: PipelineSettingsResource) -> None:
    if pipeline_settings.hash_key == DEMO_HASH_KEY:
        context.log.warning("APPOINTMENT_HASH_KEY is not set: email hashes use the public demo key.")


def _first_stamps(wh, provider: Provider, days: list[date], this_run: str) -> dict[date, str]:
    """How each day was first materialized: kept from an earlier load, so a re-run changes nothing."""
    stamps = {day: this_run for day in days}
    if wh.table_exists(PARTITION_LOADS_TABLE):
        rows = wh.query(
            f"select snapshot_date, ingest_source from {PARTITION_LOADS_TABLE} "
            "where provider = %s and snapshot_date between %s and %s",
            [provider.name, days[0], days[-1]],
        )
        stamps.update({day: source for day, source in rows})
    return stamps


def _partition_loads(provider, days, stamps, digests, outcomes: dict[date, Counter]) -> pa.Table:
    return pa.table(
        {
            "provider": [provider.name] * len(days),
            "snapshot_date": pa.array(days, type=pa.date32()),
            "ingest_source": [stamps[d] for d in days],
            "content_digest": [digests[d] for d in days],
            "record_count": pa.array([int(outcomes.get(d, Counter())["records"]) for d in days], type=pa.int64()),
        }
    )


def _spool(batches: Iterable[pa.RecordBatch]) -> Path:
    """Write the batches to a temporary Arrow file (deleted by :func:`_spooled`), one batch in memory at a time."""
    handle, name = tempfile.mkstemp(prefix="snapshot-", suffix=".arrow")
    os.close(handle)
    path = Path(name)
    try:
        writer = None
        for batch in batches:
            if writer is None:
                writer = pa.ipc.new_file(str(path), batch.schema)
            writer.write_batch(batch)
        if writer is not None:
            writer.close()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _spooled(path: Path) -> Iterator[pa.RecordBatch]:
    try:
        if path.stat().st_size:
            with pa.memory_map(str(path)) as source:
                reader = pa.ipc.open_file(source)
                for index in range(reader.num_record_batches):
                    yield reader.get_batch(index)
    finally:
        path.unlink(missing_ok=True)


raw_calendly_invitees = build_snapshot_asset(CALENDLY)
raw_ghl_appointments = build_snapshot_asset(GHL)
EXTRACT_ASSETS = [raw_leads, raw_calendly_invitees, raw_ghl_appointments]
