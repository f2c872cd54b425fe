"""One Dagster asset per SQL model in dbt_like_sql/ (groups staging, intermediate, marts; the seeds are in seeds.py).

Dependencies come from the tables each query reads (sqlglot), descriptions and column docs from the folder's
schema.yml, and each write is all-or-nothing: a full rebuild swaps in a scratch table, an incremental build replaces
the rows in the run's scope (io/model_build.py; docs/operations.md#incremental-builds says when each is chosen).
"""


import hashlib
from datetime import date, datetime, timedelta, timezone
from typing import Any

from dagster import (
    AssetExecutionContext,
    Failure,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    CodeReferencesMetadataValue,
    LocalFileCodeReference,
    MaterializeResult,
    MetadataValue,
    asset,
)

from appointment_pipeline.io.audits import AUDIT_METADATA
from appointment_pipeline.io.incremental_scope import BuildPlan, BuildRequest, plan_build
from appointment_pipeline.io.model_build import build_model, project_versions
from appointment_pipeline.defs.constants import EXTERNAL_TABLES, OWNERS, WAREHOUSE_KIND, WAREHOUSE_POOL
from appointment_pipeline.domain.key_fingerprint import matches_hashes, require_one_key
from appointment_pipeline.io.lineage import ProjectLineage, build_lineage, project_lineage
from appointment_pipeline.defs.transform.lineage import hop_markdown, model_definition_metadata
from appointment_pipeline.defs.transform.metadata import preview_markdown, table_metadata
from appointment_pipeline.defs.resources.resources import PipelineSettingsResource, WarehouseResource
from appointment_pipeline.io.sql_project import SqlModel, SqlProject
from appointment_pipeline.io.warehouse import AuditFailed


def run_start_time(context: AssetExecutionContext) -> datetime:
    record = context.instance.get_run_record_by_id(context.run.run_id)
    started = record.start_time if record and record.start_time else None
    return datetime.fromtimestamp(started, tz=timezone.utc) if started else datetime.now(timezone.utc)


FULL_REFRESH_TAG = "appointment/full_refresh"  # "true" on a run: every model is rebuilt over all history


def run_partition_days(context: AssetExecutionContext) -> list[date]:
    """The snapshot days the run materializes (its partition or partition range; none for an unpartitioned run)."""
    tags = context.run.tags
    start = tags.get("dagster/asset_partition_range_start") or tags.get("dagster/partition")
    end = tags.get("dagster/asset_partition_range_end") or start
    if not start or not end:
        return []
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except (TypeError, ValueError):
        return []
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def run_selects_every_model(context: AssetExecutionContext, project: SqlProject) -> bool:
    selected = context.run.asset_selection
    if not selected:  # no subset: the job's own selection
        selected = context.job_def.asset_layer.selected_asset_keys
    return {AssetKey(name) for name in project.models} <= set(selected)


def run_build_plan(
    context: AssetExecutionContext, wh, project: SqlProject, pipeline_settings: PipelineSettingsResource
) -> BuildPlan:
    """The run's build plan: made by the run's first model step, read back by the others."""
    versions, digest = project_versions(project)
    full_refresh = context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"
    request = BuildRequest(
        build_id=context.run.run_id,
        code_versions=versions,
        project_digest=digest,
        reference_time=pipeline_settings.resolve_reference_time(run_start_time(context)),
        run_days=run_partition_days(context),
        selects_every_model=run_selects_every_model(context, project),
        full_refresh=f"run tag {FULL_REFRESH_TAG}=true" if full_refresh else None,
    )
    return plan_build(wh, request)


def build_model_asset(model: SqlModel, project: SqlProject, lineage: ProjectLineage | None = None) -> AssetsDefinition:
    lineage = lineage or build_lineage(project)
    hop = lineage.models[model.name]
    direct = {column: sorted(deps.direct) for column, deps in hop.items()}
    one_key_only = matches_hashes(model.name, project.models)  # where hashes of two keys would meet

    @asset(
        name=model.name,
        group_name=model.layer,
        deps=[AssetKey(table) for table in sorted(model.upstream_tables)],
        kinds={"sql", WAREHOUSE_KIND},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        backfill_policy=BackfillPolicy.single_run(),
        description=model.description,
        code_version=hashlib.sha256(model.sql.encode()).hexdigest()[:16],
        metadata={
            "sql_file": MetadataValue.path(str(model.path.relative_to(project.root.parent))),
            "dagster/code_references": CodeReferencesMetadataValue(
                code_references=[LocalFileCodeReference(file_path=str(model.path), line_number=1, label="SQL")]
            ),
            **model_definition_metadata(model, lineage),
        },
    )
    def sql_model(
        context: AssetExecutionContext,
        warehouse: WarehouseResource,
        pipeline_settings: PipelineSettingsResource,
    ) -> MaterializeResult:
        with warehouse.warehouse().session() as wh:  # one connection for the rebuild and its metadata lookups
            if one_key_only:
                require_one_key(wh, model.name)
            plan = run_build_plan(context, wh, project, pipeline_settings)
            context.log.info(f"{model.name}: {plan.mode} build ({plan.reason})")
            audited: dict[str, Any] = {}
            try:
                build = build_model(wh, model, project, plan, record=audited)
            except AuditFailed as exc:
                raise Failure(
                    description=f"{exc} The previous {model.name} table is unchanged.",
                    metadata={"failed_audits": MetadataValue.json(exc.failures)},
                ) from None
            count = build.row_count
            metadata = table_metadata(wh, model.name, count, descriptions=model.columns, lineage=direct)
            metadata["column_lineage"] = MetadataValue.md(hop_markdown(hop))  # direct and indirect
            # this run's checks of the table report what the audit found instead of querying it again
            metadata[AUDIT_METADATA] = MetadataValue.json(audited)
            if model.layer == "marts":
                metadata["preview"] = MetadataValue.md(preview_markdown(wh, model.name))
            metadata["build_mode"] = MetadataValue.text(build.mode)
            metadata["build_reason"] = MetadataValue.text(plan.reason)
            metadata["rows_deleted"] = MetadataValue.int(build.rows_deleted)
            metadata["rows_inserted"] = MetadataValue.int(build.rows_inserted)
            if "reference_time" in model.parameters:
                metadata["parameters"] = MetadataValue.json({"reference_time": str(plan.reference_time)})
        return MaterializeResult(metadata=metadata)

    return sql_model


def build_model_assets(project: SqlProject | None = None) -> list[AssetsDefinition]:
    lineage = project_lineage() if project is None else build_lineage(project)
    project = lineage.project
    project.validate(EXTERNAL_TABLES)
    return [build_model_asset(project.models[name], project, lineage) for name in project.order()]


MODEL_ASSETS = build_model_assets()
