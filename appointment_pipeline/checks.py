"""Asset checks: every test declared in dbt_like_sql/*/schema.yml, run as SQL against the warehouse."""


from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSpec,
    AssetChecksDefinition,
    MetadataValue,
    multi_asset_check,
)

from appointment_pipeline.metadata import frame_markdown
from appointment_pipeline.resources import WarehouseResource
from appointment_pipeline.sql_project import DeclaredTest, SqlModel, SqlProject, load_project, transpile


def run_declared_test(warehouse, test: DeclaredTest, sample_size: int = 5) -> AssetCheckResult:
    sql = transpile(test.failing_rows_sql(), warehouse.dialect)
    failures = warehouse.scalar(f"select count(*) from ({sql}) as failing")
    sample = warehouse.query_df(f"select * from ({sql}) as failing limit {sample_size}") if failures else None
    metadata = {"failing_rows": int(failures), "sql": MetadataValue.md(f"```sql\n{test.failing_rows_sql()}\n```")}
    if sample is not None:
        metadata["sample"] = MetadataValue.md(frame_markdown(sample))
    return AssetCheckResult(asset_key=test.model, check_name=test.name, passed=failures == 0, metadata=metadata)


def build_declared_test_checks(model: SqlModel) -> AssetChecksDefinition:
    specs = [
        AssetCheckSpec(
            name=test.name,
            asset=model.name,
            description=test.description,
            blocking=test.blocking,
            additional_deps=sorted(test.referenced_tables() - {model.name}),
        )
        for test in model.tests
    ]
    tests = {test.name: test for test in model.tests}

    @multi_asset_check(name=f"{model.name}_declared_tests", specs=specs, can_subset=True)
    def declared_tests(context: AssetCheckExecutionContext, warehouse: WarehouseResource):
        wh = warehouse.warehouse()
        for check_key in context.selected_asset_check_keys:
            yield run_declared_test(wh, tests[check_key.name])

    return declared_tests


def build_declared_checks(project: SqlProject | None = None) -> list[AssetChecksDefinition]:
    project = project or load_project()
    return [build_declared_test_checks(project.models[name]) for name in project.order() if project.models[name].tests]
