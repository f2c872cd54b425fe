"""Asset checks: every test declared in dbt_like_sql/*/schema.yml, run as SQL against the warehouse."""


from dagster import (
    AssetCheckExecutionContext,
    asset_check,
    AssetCheckResult,
    AssetCheckSpec,
    AssetChecksDefinition,
    MetadataValue,
    multi_asset_check,
)

from appointment_pipeline.metadata import frame_markdown
from appointment_pipeline.redaction import EMAIL_REGEX, PHONE_REGEX
from appointment_pipeline.rollup import Appointment, select_primary_appointment
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


# -- domain checks (issue: appointment domain) -------------------------------------------------------------------


@asset_check(
    asset="appointments",
    blocking=True,
    description="Every rescheduled_from_id points to an existing appointment of the same lead.",
)
def reschedule_links_stay_within_lead(warehouse: WarehouseResource) -> AssetCheckResult:
    wh = warehouse.warehouse()
    bad = wh.query_df(
        "select a.id, a.lead_id, a.rescheduled_from_id, p.lead_id as predecessor_lead_id "
        "from appointments as a left join appointments as p on p.id = a.rescheduled_from_id "
        "where a.rescheduled_from_id is not null and (p.id is null or p.lead_id <> a.lead_id)"
    )
    return AssetCheckResult(
        passed=bad.empty,
        metadata={"bad_links": len(bad), "sample": MetadataValue.md(frame_markdown(bad.head(5)))},
    )


def find_cycles(links: dict[str, str]) -> list[str]:
    """Appointment ids that lie on a cycle of successor -> predecessor links (each id has one predecessor)."""
    state: dict[str, int] = {}  # 1 = on the current walk, 2 = done
    on_cycle: list[str] = []
    for start in links:
        path = []
        node = start
        while node is not None and state.get(node) is None:
            state[node] = 1
            path.append(node)
            node = links.get(node)
        if node is not None and state.get(node) == 1:
            on_cycle.extend(path[path.index(node):])
        for visited in path:
            state[visited] = 2
    return on_cycle


@asset_check(asset="appointments", blocking=True, description="Reschedule links never form a cycle.")
def reschedule_links_acyclic(warehouse: WarehouseResource) -> AssetCheckResult:
    rows = warehouse.warehouse().query(
        "select id, rescheduled_from_id from appointments where rescheduled_from_id is not null"
    )
    cycles = find_cycles(dict(rows))
    return AssetCheckResult(
        passed=not cycles,
        metadata={"links": len(rows), "appointments_on_cycles": len(cycles), "sample": sorted(cycles)[:5]},
    )


ROLLUP_SAMPLE_SIZE = 2000


@asset_check(
    asset="lead_appointment_rollups",
    additional_deps=["appointments"],
    description=(
        "The SQL rollup agrees with appointment_pipeline.rollup.select_primary_appointment, recomputed in Python for a "
        f"deterministic sample of up to {ROLLUP_SAMPLE_SIZE} leads."
    ),
)
def rollup_matches_python_rule(warehouse: WarehouseResource) -> AssetCheckResult:
    wh = warehouse.warehouse()
    sample = (
        f"select lead_id from lead_appointment_rollups order by md5(lead_id), lead_id limit {ROLLUP_SAMPLE_SIZE}"
    )
    rollups = wh.query(
        f"select lead_id, primary_appointment_id, reference_time from lead_appointment_rollups "
        f"where lead_id in ({sample})"
    )
    frame = wh.query_df(f"select * from appointments where lead_id in ({sample})")
    by_lead: dict[str, list[Appointment]] = {}
    fields = set(Appointment.__dataclass_fields__)
    for record in frame.to_dict("records"):
        clean = {k: (None if v is None or v != v else v) for k, v in record.items() if k in fields}
        by_lead.setdefault(record["lead_id"], []).append(Appointment(**clean))
    mismatches = []
    for lead_id, primary_id, reference_time in rollups:
        expected = select_primary_appointment(by_lead.get(lead_id, []), reference_time)
        if expected is None or expected.id != primary_id:
            mismatches.append({"lead_id": lead_id, "sql": primary_id, "python": expected and expected.id})
    return AssetCheckResult(
        passed=not mismatches,
        metadata={"leads_compared": len(rollups), "mismatches": len(mismatches), "sample": mismatches[:5]},
    )


def pii_condition(dialect: str, column: str) -> str:
    if dialect == "duckdb":
        return f"(regexp_matches({column}, %s) or regexp_matches({column}, %s))"
    return f"({column} ~ %s or {column} ~ %s)"


def scan_for_pii(wh, table: str) -> dict[str, int]:
    """Text column -> number of values that look like an email address or a phone number."""
    text_columns = [name for name, data_type in wh.table_columns(table) if data_type == "text"]
    if not text_columns:
        return {}
    counts = ", ".join(
        f"count(*) filter (where {pii_condition(wh.dialect, column)}) as {column}" for column in text_columns
    )
    params = [pattern for _ in text_columns for pattern in (EMAIL_REGEX, PHONE_REGEX)]
    row = wh.query(f"select {counts} from {table}", params)[0]
    return {column: int(count) for column, count in zip(text_columns, row)}


def build_pii_check(table: str) -> AssetChecksDefinition:
    @asset_check(
        name="no_pii_in_text_columns",
        asset=table,
        blocking=True,
        description="No text column holds an email-like or phone-like string (PII never enters the warehouse).",
    )
    def no_pii(warehouse: WarehouseResource) -> AssetCheckResult:
        found = scan_for_pii(warehouse.warehouse(), table)
        offenders = {column: count for column, count in found.items() if count}
        return AssetCheckResult(
            passed=not offenders,
            metadata={"text_columns_scanned": len(found), "columns_with_pii": MetadataValue.json(offenders)},
        )

    return no_pii


def build_domain_checks(tables: list[str]) -> list[AssetChecksDefinition]:
    return [
        reschedule_links_stay_within_lead,
        reschedule_links_acyclic,
        rollup_matches_python_rule,
        *(build_pii_check(table) for table in tables),
    ]
