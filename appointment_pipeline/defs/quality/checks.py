"""Check logic: declared tests, domain rules, the PII scan; the raw tables' PII checks and snapshot freshness.

The SQL models' and seeds' checks run inside the step that writes them (table_checks.py) with these functions. The
raw tables' checks are asset checks of their own, sharing the writers' pool: a DuckDB file takes no reader while a
writer holds it.
"""

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    AssetKey,
    MetadataValue,
    asset_check,
)

from appointment_pipeline.defs.constants import EXTERNAL_TABLES, WAREHOUSE_POOL
from appointment_pipeline.defs.transform.metadata import frame_markdown
from appointment_pipeline.defs.extract.partitions import snapshot_days
from appointment_pipeline.io.audits import (
    AUDIT_METADATA,
    PII_AUDIT,
    find_cycles,
    links_leaving_their_lead,
    reschedule_links,
    scan_for_pii,
)
from appointment_pipeline.domain.key_fingerprint import window_from_tags
from appointment_pipeline.domain.rollup import Appointment, select_primary_appointment
from appointment_pipeline.defs.resources.resources import WarehouseResource
from appointment_pipeline.io.sql_project import DeclaredTest, transpile
from appointment_pipeline.io.warehouse import Warehouse
from appointment_pipeline.settings import get_settings


AUDITED_IN_RUN = "this run's rebuild (audited before the swap)"
UPDATED_IN_RUN = (
    "this run's incremental update (the rows it wrote audited before its commit; the counts of the rows it kept "
    "carried over from the earlier builds)"
)
AUDITED_IN_WRITE = "this run's write (audited before its commit)"


def run_declared_test(warehouse, test: DeclaredTest, sample_size: int = 5) -> AssetCheckResult:
    sql = transpile(test.failing_rows_sql(), warehouse.dialect)
    failures = warehouse.scalar(f"select count(*) from ({sql}) as failing")
    sample = warehouse.query_df(f"select * from ({sql}) as failing limit {sample_size}") if failures else None
    metadata: dict[str, Any] = {"failing_rows": int(failures), "sql": MetadataValue.md(f"```sql\n{test.failing_rows_sql()}\n```")}
    if sample is not None:
        metadata["sample"] = MetadataValue.md(frame_markdown(sample))
    return AssetCheckResult(asset_key=test.model, check_name=test.name, passed=failures == 0, metadata=metadata)


def audited_result(test: DeclaredTest, evaluated_on: str = AUDITED_IN_RUN) -> AssetCheckResult:
    """A test the rebuild's audit ran on the table it swapped in and found no failing row in."""
    metadata: dict[str, Any] = {
        "failing_rows": 0,
        "sql": MetadataValue.md(f"```sql\n{test.failing_rows_sql()}\n```"),
        "evaluated_on": MetadataValue.text(evaluated_on),
    }
    return AssetCheckResult(asset_key=test.model, check_name=test.name, passed=True, metadata=metadata)


# -- domain checks -------------------------------------------------------------------


def reschedule_links_within_lead_result(wh: Warehouse, *, asset_key: AssetKey) -> AssetCheckResult:
    bad = links_leaving_their_lead(wh)
    sample = pd.DataFrame(bad[:5], columns=["id", "lead_id", "rescheduled_from_id", "predecessor_lead_id"])
    return AssetCheckResult(
        asset_key=asset_key,
        check_name="reschedule_links_stay_within_lead",
        passed=not bad,
        metadata={"bad_links": len(bad), "sample": MetadataValue.md(frame_markdown(sample))},
    )


def reschedule_links_acyclic_result(wh: Warehouse, *, asset_key: AssetKey) -> AssetCheckResult:
    links = reschedule_links(wh)
    cycles = find_cycles(links)
    return AssetCheckResult(
        asset_key=asset_key,
        check_name="reschedule_links_acyclic",
        passed=not cycles,
        metadata={"links": len(links), "appointments_on_cycles": len(cycles), "sample": sorted(cycles)[:5]},
    )


ROLLUP_SAMPLE_SIZE = 2000


def rollup_matches_python_rule_result(
    wh: Warehouse, *, asset_key: AssetKey, leads_from: str | None = None
) -> AssetCheckResult:
    """``leads_from``: a table of the lead ids to sample (the leads an incremental build rewrote: the others kept
    rows this check saw before); None: every lead with appointments."""
    # sample leads that have appointments, so that a lead missing from the rollup is caught too
    within = f"where lead_id in (select lead_id from {leads_from})" if leads_from else ""
    sample = (
        f"select lead_id from (select distinct lead_id from appointments {within}) as leads "
        f"order by md5(lead_id), lead_id limit {ROLLUP_SAMPLE_SIZE}"
    )
    rollups = {
        lead_id: (primary_id, reference_time)
        for lead_id, primary_id, reference_time in wh.query(
            "select lead_id, primary_appointment_id, reference_time from lead_appointment_rollups "
            f"where lead_id in ({sample})"
        )
    }
    reference_times = {reference_time for _, reference_time in rollups.values()}
    frame = wh.query_df(f"select * from appointments where lead_id in ({sample})")
    by_lead: dict[str, list[Appointment]] = {}
    fields = set(Appointment.__dataclass_fields__)
    for record in frame.to_dict("records"):
        clean: dict[str, Any] = {k: (None if v is None or v != v else v) for k, v in record.items() if k in fields}
        by_lead.setdefault(str(record["lead_id"]), []).append(Appointment(**clean))
    mismatches = []
    for lead_id, appointments in sorted(by_lead.items()):
        primary_id, reference_time = rollups.get(lead_id, (None, None))
        expected = select_primary_appointment(appointments, reference_time) if reference_time else None
        if primary_id is None or expected is None or expected.id != primary_id:
            mismatches.append({"lead_id": lead_id, "sql": primary_id, "python": expected and expected.id})
    return AssetCheckResult(
        asset_key=asset_key,
        check_name="rollup_matches_python_rule",
        passed=not mismatches and len(reference_times) <= 1,
        metadata={
            "leads_compared": len(by_lead),
            "mismatches": len(mismatches),
            "reference_times": len(reference_times),
            "sampled_from": MetadataValue.text(
                "the leads this run's incremental build rewrote" if leads_from else "every lead with appointments"
            ),
            "sample": mismatches[:5],
        },
    )


# -- the PII scan ------------------------------------------------------------------------------------------------


def pii_scan_result(
    asset_key: AssetKey, scope: str, found: Mapping[str, int] | None, *, wh: Warehouse | None = None,
    where: str | None = None, params: list | None = None, carried: list[str] | None = None,
) -> AssetCheckResult:
    """The PII scan's verdict: from counts found already (an audit), else from a scan of ``wh`` (``where``
    narrows it). ``carried``: the columns the audit did not scan because their values are an upstream scanned
    column's (io/audits.py model_audit)."""
    if found is None:
        assert wh is not None
        with wh.session() as session:  # the column list and the scan on one connection
            found = scan_for_pii(session, asset_key.to_user_string(), where=where, params=params or [])
    offenders = {column: count for column, count in found.items() if count}
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=PII_AUDIT,
        passed=not offenders,
        metadata={
            "scope": MetadataValue.text(scope),
            "text_columns_scanned": len(found),
            "columns_carried_over_by_lineage": MetadataValue.json(carried or []),
            "columns_with_pii": MetadataValue.json(offenders),
        },
    )


def audit_of_this_run(context: AssetCheckExecutionContext, table: str) -> dict[str, Any] | None:
    """What the blocking audit of ``table``'s write in this run found (AUDIT_METADATA of its materialization);
    None when this run did not write the table."""
    event = context.instance.get_latest_materialization_event(AssetKey(table))
    if event is None or event.run_id != context.run.run_id or event.asset_materialization is None:
        return None
    recorded = event.asset_materialization.metadata.get(AUDIT_METADATA)
    return dict(recorded.value) if recorded is not None else None


def raw_pii_scope(context: AssetCheckExecutionContext, table: str) -> tuple[str, str | None, list]:
    """What the PII check of a raw table scans when this run did not write it: (scope, where, params). A snapshot
    table in a run for a range of days: only those days' rows; otherwise (the check alone, e.g. from the UI): the
    whole table."""
    window = window_from_tags(context.run.tags)
    if table in SNAPSHOT_TABLES and window is not None:
        return f"snapshot days {window[0]} .. {window[1]}", "snapshot_date between %s and %s", list(window)
    return "whole table", None, []


def build_raw_pii_check(table: str) -> AssetChecksDefinition:
    @asset_check(
        name=PII_AUDIT,
        asset=table,
        blocking=True,
        pool=WAREHOUSE_POOL,
        description=(
            "No text column holds an email-like or phone-like string (PII never enters the warehouse). In a run "
            "that wrote the table it reports the blocking audit of what the run wrote (before its commit); in a "
            "run for a range of snapshot days that did not, it scans those days; run alone, the whole table."
        ),
    )
    def no_pii(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        audited = audit_of_this_run(context, table) or {}
        if isinstance(audited.get(PII_AUDIT), dict):
            scope = f"{AUDITED_IN_WRITE}: {audited.get('scope', '')}"
            return pii_scan_result(AssetKey(table), scope, audited[PII_AUDIT])
        scope, where, params = raw_pii_scope(context, table)
        return pii_scan_result(AssetKey(table), scope, None, wh=warehouse.warehouse(), where=where, params=params)

    return no_pii


# -- freshness of the snapshot partitions -----------------------------------

FRESHNESS_CHECK_NAME = "snapshot_partition_fresh"
SNAPSHOT_TABLES = ("raw_calendly_invitees", "raw_ghl_appointments")
FRESHNESS_LOOKBACK_DAYS = 7  # the metadata lists which of the last week's partitions are missing


def freshness_grace_hours() -> float:
    """Hours after a UTC day ends before its snapshot partition is overdue (``APPOINTMENT_FRESHNESS_GRACE_HOURS``).

    The default 6 h leaves room for the 02:00 UTC reconcile schedule to finish.
    """
    return get_settings().freshness_grace_hours


def expected_snapshot_day(
    now: datetime, grace_hours: float, first_day: date, last_day: date | None = None
) -> date | None:
    """The newest UTC day whose snapshot partition must exist at ``now``; None before the first one is due.

    Day D ends at D+1 00:00 UTC and is due ``grace_hours`` later; closed partitions expect no day after the last.
    """
    due = (now.astimezone(timezone.utc) - timedelta(hours=grace_hours)).date() - timedelta(days=1)
    if last_day is not None:
        due = min(due, last_day)
    return due if due >= first_day else None


def evaluate_snapshot_freshness(
    materialized: set[str], now: datetime, grace_hours: float, first_day: date, last_day: date | None = None
) -> AssetCheckResult:
    """The freshness verdict for one snapshot asset from its materialized partition keys (WARN, never blocking)."""
    expected = expected_snapshot_day(now, grace_hours, first_day, last_day)
    latest = max(materialized) if materialized else None
    window = (
        [expected - timedelta(days=i) for i in range(FRESHNESS_LOOKBACK_DAYS)] if expected is not None else []
    )
    missing = sorted(day.isoformat() for day in window if day >= first_day and day.isoformat() not in materialized)
    passed = expected is None or expected.isoformat() in materialized
    if expected is None:
        description = f"No snapshot partition is due yet (partitions start {first_day})."
    elif passed:
        description = f"The snapshot of {expected} is loaded."
    else:
        description = (
            f"No snapshot for {expected}: the day ended more than {grace_hours:g} h ago. "
            f"Latest loaded day: {latest or 'none'}."
        )
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "expected_partition": MetadataValue.text(expected.isoformat() if expected else "none"),
            "latest_materialized_partition": MetadataValue.text(latest or "none"),
            "missing_partitions_last_7_days": MetadataValue.json(missing),
            "materialized_partitions": len(materialized),
            "grace_hours": float(grace_hours),
            "evaluated_at": MetadataValue.timestamp(now.astimezone(timezone.utc)),
        },
    )


def build_snapshot_freshness_check(table: str) -> AssetChecksDefinition:
    @asset_check(
        name=FRESHNESS_CHECK_NAME,
        asset=table,
        blocking=False,
        description=(
            "WARN when yesterday's (UTC) snapshot partition is not materialized "
            "APPOINTMENT_FRESHNESS_GRACE_HOURS (default 6) after the day ended. Reads the Dagster instance only, "
            "never the warehouse; evaluated in every run that loads the asset and hourly by snapshot_freshness_hourly."
        ),
    )
    def snapshot_partition_fresh(context: AssetCheckExecutionContext) -> AssetCheckResult:
        materialized = set(context.instance.get_materialized_partitions(AssetKey(table)))
        first_day = snapshot_days.start.date()
        last_day = snapshot_days.end.date() - timedelta(days=1) if snapshot_days.end else None
        return evaluate_snapshot_freshness(
            materialized, datetime.now(timezone.utc), freshness_grace_hours(), first_day, last_day
        )

    return snapshot_partition_fresh


def build_freshness_checks() -> list[AssetChecksDefinition]:
    return [build_snapshot_freshness_check(table) for table in SNAPSHOT_TABLES]


RAW_PII_CHECKS = [build_raw_pii_check(table) for table in sorted(EXTERNAL_TABLES)]
FRESHNESS_CHECKS = build_freshness_checks()
