"""Publish assets (group ``publish``): the warehouse's appointments and lead rollups into the application database.

A dry run by default. The mode comes from the run config (``mode: dry_run | apply``), else from
``APPOINTMENT_PUBLISH_MODE`` (the ``source_db`` resource's ``publish_mode``), else ``dry_run``. Every publish
records its mode in the run's tags (``appointment/publish_mode``; ``apply`` as soon as one asset of the run applies),
so applied runs can be found on the Runs page. The rules live in appointment_pipeline.io.app_database.

Each publish compares only the rows changed since the last apply (the warehouse's ``publish_state_*`` tables), or
every row when that state cannot be trusted or the run is tagged ``appointment/full_refresh=true``; the metadata's
``compare_scope`` says which.
"""

from collections.abc import Callable
from enum import Enum

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from sqlalchemy.engine import make_url

from appointment_pipeline.io.app_database import (
    DEFAULT_BATCH_SIZE,
    AppDatabase,
    PublishResult,
    publish_appointments,
    publish_lead_rollups,
    resolve_publish_mode,
)
from appointment_pipeline.defs.constants import APP_KIND, OWNERS, WAREHOUSE_POOL
from appointment_pipeline.defs.resources.resources import (
    SourceDatabaseResource,
    WarehouseResource,
    one_warehouse_connection,
)
from appointment_pipeline.defs.transform.assets import FULL_REFRESH_TAG

PUBLISH_MODE_TAG = "appointment/publish_mode"


class PublishMode(Enum):
    dry_run = "dry_run"
    apply = "apply"


class PublishConfig(Config):
    """``mode``: ``dry_run`` reports the plan and writes nothing, ``apply`` writes it; unset = the deployment default."""

    mode: PublishMode | None = None
    batch_size: int = DEFAULT_BATCH_SIZE  # rows per transaction when applying


def _mode(context: AssetExecutionContext, config: PublishConfig, source_db: SourceDatabaseResource) -> str:
    mode = resolve_publish_mode(config.mode.value if config.mode else None, source_db.publish_mode)
    # "apply" wins over "dry_run" when the two assets of one run disagree: the tag says whether the run wrote.
    if mode == "apply" or PUBLISH_MODE_TAG not in context.run.tags:
        context.instance.add_run_tags(context.run.run_id, {PUBLISH_MODE_TAG: mode})
    context.log.info(f"publish mode: {mode} (target {AppDatabase(source_db.url).display_name})")
    return mode


def _full_compare(context: AssetExecutionContext) -> str | None:
    """The reason to compare every row that the run gives, if any: the full-refresh tag."""
    if context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true":
        return f"run tag {FULL_REFRESH_TAG}=true"
    return None


def _sample_markdown(result: PublishResult) -> str:
    if not result.sample:
        return "(nothing to write)"
    rows = ["| id | action | changed fields |", "|---|---|---|"]
    for change in result.sample:
        fields = ", ".join(f"`{f}`" for f in change["fields"]) or ("(new row)" if change["action"] == "insert" else "")
        rows.append(f"| `{change['id']}` | {change['action']} | {fields} |")
    return "\n".join(rows)


def publish_metadata(result: PublishResult, mode: str, app: AppDatabase) -> dict:
    actions = result.actions
    metadata = {
        "mode": mode,
        "target": f"{app.display_name} {result.target}",
        "rows_to_insert": actions.get("insert", 0),
        "rows_to_update": actions.get("update", 0),
        "rows_unchanged": actions.get("unchanged", 0),  # compared and found equal
        "rows_skipped": result.skipped,
        "skipped_by_reason": MetadataValue.json({k: v for k, v in actions.items() if k.startswith("skip")}),
        "changed_fields": MetadataValue.json(result.changed_fields),
        "sample_changes": MetadataValue.md(_sample_markdown(result)),
        "batches": result.batches,
    }
    if result.scope is not None:
        metadata["compare_scope"] = result.scope.describe()
        metadata["rows_compared"] = result.scope.rows_compared
        # not compared: unchanged in the warehouse since an apply found them settled (equal, or newer in the app)
        metadata["rows_unchanged_since_last_apply"] = result.scope.rows_unchanged_since_last_apply
    if result.applied:
        metadata["rows_written"] = result.written
        metadata["skipped_at_write"] = result.skipped_at_write
        if result.rows_recorded is not None:
            metadata["rows_recorded_as_settled"] = result.rows_recorded
    metadata["rows_still_to_write"] = result.rows_still_to_write
    metadata["phase_seconds"] = MetadataValue.json(result.seconds)  # where the publish spent its time
    return metadata


@asset(
    group_name="publish",
    deps=[AssetKey("appointments")],
    kinds={"python", APP_KIND},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        'Upserts the warehouse `appointments` into the application\'s `"Appointment"` table '
        "(APPOINTMENT_SOURCE_DB_URL). Dry run unless run config `mode: apply` or APPOINTMENT_PUBLISH_MODE=apply. "
        "Rows match by `ghlAppointmentId` / `calendlyInviteeUri`, keyless legacy rows by an id derived from the "
        "warehouse id; a row the application updated later than the pipeline's observation is skipped. "
        "Compares only the rows changed since the last apply (`compare_scope`), all of them without a trusted state "
        "or with run tag appointment/full_refresh=true. "
        "Metadata: rows to insert, update, leave unchanged and skip, changed fields, a sample of ids."
    ),
)
@one_warehouse_connection  # the scope, the load and the state update share one warehouse connection
def app_appointments(
    context: AssetExecutionContext,
    config: PublishConfig,
    warehouse: WarehouseResource,
    source_db: SourceDatabaseResource,
) -> MaterializeResult:
    mode = _mode(context, config, source_db)
    app = AppDatabase(source_db.url)
    result = publish_appointments(
        warehouse.warehouse(), app, apply=mode == "apply", batch_size=config.batch_size,
        full_compare=_full_compare(context),
    )
    metadata = publish_metadata(result, mode, app)
    metadata["app_row_count"] = int(app.scalar('select count(*) from "Appointment"'))
    return MaterializeResult(metadata=metadata)


@asset(
    group_name="publish",
    deps=[AssetKey("lead_appointment_rollups"), AssetKey("lead_rollup_drift"), AssetKey("raw_leads")],
    kinds={"python", APP_KIND},
    owners=OWNERS,
    pool=WAREHOUSE_POOL,
    backfill_policy=BackfillPolicy.single_run(),
    description=(
        'Writes the new rollup into the `"Lead"` columns that `lead_rollup_drift` reports as different, '
        "compare-and-set: a lead is changed only while its rollup columns still hold the values `raw_leads` read "
        "(else skipped and counted). Dry run unless run config `mode: apply` or APPOINTMENT_PUBLISH_MODE=apply. "
        "Compares only the leads changed since the last apply (`compare_scope`), all of them without a trusted state "
        "or with run tag appointment/full_refresh=true."
    ),
)
@one_warehouse_connection  # the scope, the load and the state update share one warehouse connection
def app_lead_rollups(
    context: AssetExecutionContext,
    config: PublishConfig,
    warehouse: WarehouseResource,
    source_db: SourceDatabaseResource,
) -> MaterializeResult:
    mode = _mode(context, config, source_db)
    app = AppDatabase(source_db.url)
    result = publish_lead_rollups(
        warehouse.warehouse(), app, apply=mode == "apply", batch_size=config.batch_size,
        full_compare=_full_compare(context),
    )
    return MaterializeResult(metadata=publish_metadata(result, mode, app))


def _this_runs_materialization(context: AssetCheckExecutionContext, asset: AssetKey) -> dict | None:
    event = context.instance.get_latest_materialization_event(asset)
    if event is None or event.run_id != context.run.run_id or event.asset_materialization is None:
        return None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _up_to_date(
    context: AssetCheckExecutionContext, asset: AssetKey, plan_again: Callable[[], PublishResult]
) -> AssetCheckResult:
    # a dry run leaves the application behind on purpose: that is reported, not failed
    run = context.instance.get_run_by_id(context.run.run_id)
    applied = (run.tags if run else {}).get(PUBLISH_MODE_TAG) == "apply"
    metadata = _this_runs_materialization(context, asset)
    if metadata is not None and "rows_still_to_write" in metadata:
        # the publish of this run compared the written rows again: no second load and plan
        remaining, source = int(metadata["rows_still_to_write"]), "this run's publish"
        counts = {"insert": "rows_to_insert", "update": "rows_to_update", "unchanged": "rows_unchanged"}
        plan = {action: metadata[name] for action, name in counts.items() if metadata.get(name)}
        plan.update(metadata.get("skipped_by_reason") or {})
        changed = metadata.get("changed_fields") or {}
        scope = metadata.get("compare_scope")
    else:
        result = plan_again()
        remaining, source = result.planned_writes, "a new dry-run plan"
        plan, changed = result.actions, result.changed_fields
        scope = result.scope.describe() if result.scope else None
    return AssetCheckResult(
        passed=remaining == 0 or not applied,
        severity=AssetCheckSeverity.WARN,
        description=(
            f"{remaining} rows still to write (from {source})"
            + ("" if applied else " (a dry run: they are written by a publish with mode apply)")
        ),
        metadata={
            "rows_still_to_write": remaining,
            "run_applied": applied,
            "plan": MetadataValue.json(plan),
            "changed_fields": MetadataValue.json(changed),
            **({"compare_scope": scope} if scope else {}),
        },
    )


def _plan_again(
    publish: Callable[..., PublishResult], warehouse: WarehouseResource, source_db: SourceDatabaseResource
) -> PublishResult:
    with warehouse.warehouse().session() as wh:  # one warehouse connection for the scope and the load
        return publish(wh, AppDatabase(source_db.url), apply=False)


_UP_TO_DATE = (
    "After an apply, publishing again would write nothing: the publish compares every row it wrote with the "
    "application afterwards (rows the application overtook meanwhile do not count); it warns otherwise. After a "
    "dry run it passes and reports how many rows the application is behind. Without a materialization in this run "
    "it plans again."
)


@asset_check(asset=app_appointments, pool=WAREHOUSE_POOL, description=_UP_TO_DATE)
def app_appointments_up_to_date(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, source_db: SourceDatabaseResource
) -> AssetCheckResult:
    return _up_to_date(
        context,
        AssetKey("app_appointments"),
        lambda: _plan_again(publish_appointments, warehouse, source_db),
    )


@asset_check(asset=app_lead_rollups, pool=WAREHOUSE_POOL, description=_UP_TO_DATE)
def app_lead_rollups_up_to_date(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, source_db: SourceDatabaseResource
) -> AssetCheckResult:
    return _up_to_date(
        context,
        AssetKey("app_lead_rollups"),
        lambda: _plan_again(publish_lead_rollups, warehouse, source_db),
    )


PUBLISH_ASSETS = [app_appointments, app_lead_rollups]
PUBLISH_CHECKS = [app_appointments_up_to_date, app_lead_rollups_up_to_date]
