"""One Dagster asset per SQL model in dbt_like_sql/ (groups staging, intermediate, marts; the seeds are in seeds.py),
all computed by one subsettable step with their checks.

Dependencies come from the tables each query reads (sqlglot), descriptions and column docs from the folder's
schema.yml, and each write is all-or-nothing: a full rebuild swaps in a scratch table, an incremental build replaces
the rows in the run's scope (io/model_build.py; docs/operations.md#incremental-builds says when each is chosen).
"""


from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    CodeReferencesMetadataValue,
    Failure,
    LocalFileCodeReference,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from appointment_pipeline.io.audits import AUDIT_METADATA
from appointment_pipeline.io.incremental import SCOPE_LEADS
from appointment_pipeline.io.incremental_scope import BuildPlan, BuildRequest, plan_build
from appointment_pipeline.io.model_build import build_model, code_version, project_versions
from appointment_pipeline.defs.constants import EXTERNAL_TABLES, OWNERS, WAREHOUSE_KIND, WAREHOUSE_POOL
from appointment_pipeline.domain.key_fingerprint import matches_hashes, require_one_key
from appointment_pipeline.io.lineage import ProjectLineage, build_lineage, project_lineage
from appointment_pipeline.defs.quality.checks import AUDITED_IN_RUN, UPDATED_IN_RUN
from appointment_pipeline.defs.quality.table_checks import table_checks
from appointment_pipeline.defs.transform.lineage import PII_CHECK_NAME, hop_markdown, model_definition_metadata
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


def materialize_model(
    context: AssetExecutionContext, wh, model: SqlModel, project: SqlProject, plan: BuildPlan, hop
) -> tuple[MaterializeResult, dict[str, Any]]:
    """Build one model as the plan says; (its materialization, what its audit found by check name). Raises
    AuditFailed, the previous table unchanged, when the candidate fails a blocking audit."""
    context.log.info(f"{model.name}: {plan.mode} build ({plan.reason})")
    audited: dict[str, Any] = {}
    carried = [column for column, deps in hop.items() if deps.preserving]  # values of scanned columns: not rescanned
    build = build_model(wh, model, project, plan, record=audited, pii_carried=carried)
    direct = {column: sorted(deps.direct) for column, deps in hop.items()}
    metadata = table_metadata(wh, model.name, build.row_count, descriptions=model.columns, lineage=direct)
    metadata["column_lineage"] = MetadataValue.md(hop_markdown(hop))  # direct and indirect
    metadata[AUDIT_METADATA] = MetadataValue.json(audited)
    if model.layer == "marts":
        metadata["preview"] = MetadataValue.md(preview_markdown(wh, model.name))
    metadata["build_mode"] = MetadataValue.text(build.mode)
    metadata["build_reason"] = MetadataValue.text(plan.reason)
    metadata["rows_deleted"] = MetadataValue.int(build.rows_deleted)
    metadata["rows_inserted"] = MetadataValue.int(build.rows_inserted)
    metadata["compacted"] = MetadataValue.bool(build.compacted)
    if "reference_time" in model.parameters:
        metadata["parameters"] = MetadataValue.json({"reference_time": str(plan.reference_time)})
    return MaterializeResult(asset_key=model.name, metadata=metadata), audited


def model_spec(model: SqlModel, project: SqlProject, lineage: ProjectLineage) -> AssetSpec:
    return AssetSpec(
        key=model.name,
        group_name=model.layer,
        deps=[AssetKey(table) for table in sorted(model.upstream_tables)],
        kinds={"sql", WAREHOUSE_KIND},
        owners=OWNERS,
        description=model.description,
        code_version=code_version(model),
        skippable=True,
        metadata={
            "sql_file": MetadataValue.path(str(model.path.relative_to(project.root.parent))),
            "dagster/code_references": CodeReferencesMetadataValue(
                code_references=[LocalFileCodeReference(file_path=str(model.path), line_number=1, label="SQL")]
            ),
            **model_definition_metadata(model, lineage),
        },
    )


def checks_by_table(context: AssetExecutionContext) -> dict[str, list[str]]:
    """The check names the step runs, by table."""
    found: dict[str, list[str]] = {}
    for key in sorted(context.selected_asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        found.setdefault(key.asset_key.to_user_string(), []).append(key.name)
    return found


def build_models_asset(project: SqlProject, lineage: ProjectLineage) -> AssetsDefinition:
    """Every SQL model in one subsettable step (as dagster-dbt runs a dbt project): the selected models are built
    in dependency order on one warehouse connection, each checked by its audit before its swap. A model that fails
    its audit (or its PII lineage proof) is not written, nor is anything downstream of it; the others are, and the
    step then fails naming them."""
    order = project.order()
    checks = table_checks(project, lineage, order)
    one_key_only = {name: matches_hashes(name, project.models) for name in order}  # where hashes of two keys meet

    @multi_asset(
        name="sql_models",
        specs=[model_spec(project.models[name], project, lineage) for name in order],
        check_specs=[spec for name in order for spec in checks[name].specs()],
        can_subset=True,
        pool=WAREHOUSE_POOL,
        backfill_policy=BackfillPolicy.single_run(),
        description="The SQL models of dbt_like_sql/ (staging, intermediate, marts) and their checks.",
    )
    def sql_models(
        context: AssetExecutionContext,
        warehouse: WarehouseResource,
        pipeline_settings: PipelineSettingsResource,
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        wanted = checks_by_table(context)
        to_query: dict[str, list[str]] = {}
        refused: dict[str, str] = {}  # model -> why it was not written (its previous table stays)
        updated: set[str] = set()  # models this step updated in the run's scope (not rebuilt)
        plan: BuildPlan | None = None
        with warehouse.warehouse().session() as wh:  # one connection for every model, its metadata and checks
            for name in order:
                if name not in selected:
                    if wanted.get(name):
                        to_query[name] = wanted[name]
                    continue
                blocked = sorted(project.models[name].upstream_tables & set(refused))
                if blocked:  # as a failed step's downstream: not built on the previous input
                    refused[name] = f"not built: upstream {', '.join(blocked)} was not written"
                    continue
                proof = checks[name].lineage_result()
                if proof is not None and not proof.passed:  # blocking: the table is not written at all
                    yield proof
                    refused[name] = f"a column would take its value from personal data (see {PII_CHECK_NAME})"
                    continue
                if one_key_only[name]:
                    require_one_key(wh, name)
                plan = plan or run_build_plan(context, wh, project, pipeline_settings)
                try:
                    result, audited = materialize_model(context, wh, project.models[name], project, plan,
                                                        lineage.models[name])
                except AuditFailed as exc:
                    refused[name] = str(exc)
                    context.log.error(f"{name}: {exc} The previous {name} table is unchanged.")
                    continue
                yield result
                if plan.incremental and project.models[name].scope:  # as build_model decides
                    updated.add(name)
                evaluated_on = UPDATED_IN_RUN if name in updated else AUDITED_IN_RUN
                reported, pending = checks[name].from_audit(wanted.get(name, []), audited, evaluated_on)
                yield from reported
                if pending:
                    to_query[name] = pending
            # after every write: a test may read a table this step wrote after its own
            for name, names in to_query.items():
                yield from checks[name].by_query(wh, names, SCOPE_LEADS if name in updated else None)
        if refused:
            raise Failure(
                description="Models not written (each previous table is unchanged): "
                + "; ".join(f"{name}: {why}" for name, why in refused.items()),
                metadata={"models_not_written": MetadataValue.json(refused)},
            )

    return sql_models


def build_model_assets(project: SqlProject | None = None) -> list[AssetsDefinition]:
    lineage = project_lineage() if project is None else build_lineage(project)
    project = lineage.project
    project.validate(EXTERNAL_TABLES)
    return [build_models_asset(project, lineage)]


MODEL_ASSETS = build_model_assets()
