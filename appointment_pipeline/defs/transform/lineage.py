"""Lineage on the asset graph: the source systems as external assets, lineage metadata for the raw and model
assets, and the PII proof as an asset check that reads no data."""

from collections.abc import Iterable, Mapping, Sequence

from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetKey,
    AssetSpec,
    MetadataValue,
    TableColumnDep,
    TableColumnLineage,
    asset_check,
)

from appointment_pipeline.io.lineage import (
    EXPORT_COMMAND,
    Deps,
    PiiProof,
    ProjectLineage,
    Ref,
    field_of,
    project_lineage,
)
from appointment_pipeline.io.sources import CATALOG, SOURCE_ASSETS, SOURCE_SYSTEMS, Pii, SourceCatalog
from appointment_pipeline.io.sql_project import SqlModel
from appointment_pipeline.defs.constants import OWNERS

# -- lineage as Markdown for the UI -------------------------------------------------------------------------------

_SYSTEM_LABELS = {"Lead": '"Lead"', "calendly": "Calendly", "ghl": "GHL", "snapshot": "snapshot"}


def _fields_text(entries: Iterable[str]) -> str:
    by_system: dict[str, list[str]] = {}
    for entry in sorted(entries):
        field_id, hashed = field_of(entry)
        system, path = field_id.split(":", 1)
        by_system.setdefault(system, []).append(f"`{path}`" + (" (keyed hash)" if hashed else ""))
    return "; ".join(f"{_SYSTEM_LABELS.get(s, s)}: {', '.join(paths)}" for s, paths in by_system.items()) or "-"


def _refs_text(refs: Iterable[Ref]) -> str:
    return ", ".join(f"`{t}.{c}`" for t, c in sorted(refs)) or "-"


def trace_markdown(lineage: ProjectLineage, table: str) -> str:
    """One row per column: the source fields its value comes from, and those that decide its row. Fields that
    decide the row of every column (the table's filters, joins and ranking, usually) are listed once above."""
    traces = {column: lineage.trace(table, column) for column in lineage.columns[table]}
    common = frozenset.intersection(*(t.indirect for t in traces.values())) if traces else frozenset()
    rows = [
        f"**Every row is decided by:** {_fields_text(common)}",
        "",
        "| column | value from (direct) | row also decided by (indirect) | via raw columns |",
        "|---|---|---|---|",
    ]
    for column, trace in traces.items():
        rows.append(
            f"| `{column}` | {_fields_text(trace.direct)} | {_fields_text(trace.indirect - common)} "
            f"| {_refs_text(trace.raw_direct)} |"
        )
    return "\n".join(rows)


def hop_markdown(deps_by_column: Mapping[str, Deps]) -> str:
    """One hop up: the upstream columns of each column, direct and indirect (with the clause that uses them)."""
    rows = ["| column | computed from (direct) | row decided by (indirect) |", "|---|---|---|"]
    for column, deps in deps_by_column.items():
        indirect = ", ".join(f"`{t}.{c}` ({'/'.join(sorted(k))})" for (t, c), k in sorted(deps.indirect.items()))
        rows.append(f"| `{column}` | {_refs_text(deps.direct) if deps.direct else '(no column)'} | {indirect or '-'} |")
    return "\n".join(rows)


def proof_markdown(proof: PiiProof) -> str:
    lines = []
    for title, findings in (("Derived from a personal field", proof.violations), ("Decided by a personal field (indirect, allowed)", proof.indirect)):
        if findings:
            lines += [f"**{title}**", "", "| column | field | class |", "|---|---|---|"]
            lines += [f"| `{f.table}.{f.column}` | `{f.field}` | {f.pii} |" for f in findings]
            lines.append("")
    lines += [f"- {p}" for p in proof.problems]
    return "\n".join(lines) or "No column depends on a personal field."


SOURCES_GROUP = "sources"
PII_CHECK_NAME = "no_pii_by_lineage"


def _fields_markdown(catalog: SourceCatalog, asset_key: str) -> str:
    systems = [s.name for s in SOURCE_SYSTEMS.values() if asset_key in s.assets]
    rows = ["| field | PII class | note |", "|---|---|---|"]
    for source in sorted(catalog.fields.values(), key=lambda f: f.id):
        if source.system in systems:
            rows.append(f"| `{source.id}` | {source.pii.value} | {source.description} |")
    return "\n".join(rows)


def build_source_specs(owners: Sequence[str], catalog: SourceCatalog = CATALOG) -> list[AssetSpec]:
    """The systems the data starts in, as external (not materializable) assets upstream of the raw tables."""
    return [
        AssetSpec(
            key=source.key,
            group_name=SOURCES_GROUP,
            kinds=set(source.kinds),
            owners=list(owners),
            description=source.description,
            metadata={"source_fields": MetadataValue.md(_fields_markdown(catalog, source.key))},
        )
        for source in SOURCE_ASSETS
    ]


def source_deps(raw_table: str) -> list[AssetKey]:
    """The source assets a raw table is loaded from."""
    return [AssetKey(key) for key in CATALOG.source_assets_of(raw_table)]


def _column_lineage(deps_by_column) -> TableColumnLineage:
    return TableColumnLineage(
        deps_by_column={
            column: [TableColumnDep(asset_key=AssetKey(asset), column_name=name) for asset, name in sorted(deps)]
            for column, deps in deps_by_column.items()
        }
    )


def raw_table_metadata(raw_table: str) -> dict:
    """Definition metadata of a raw asset: which source fields each column is computed from."""
    lineage = project_lineage()
    upstream = set(lineage.catalog.source_assets_of(raw_table))
    deps = {}
    for column, derivation in lineage.catalog.raw_columns[raw_table].items():
        deps[column] = {
            (asset, field_id.split(":", 1)[1])
            for field_id in derivation.direct
            for asset in SOURCE_SYSTEMS[lineage.catalog.fields[field_id].system].assets
            if asset in upstream
        }
    return {
        "dagster/column_lineage": _column_lineage(deps),
        "lineage_to_source": MetadataValue.md(trace_markdown(lineage, raw_table)),
    }


def model_definition_metadata(model: SqlModel, lineage: ProjectLineage) -> dict:
    """Definition metadata of a SQL model asset: its SQL, its column lineage one hop up and down to the sources."""
    hop = lineage.models[model.name]
    return {
        "sql": MetadataValue.md(f"```sql\n{model.sql.strip()}\n```"),
        "dagster/column_lineage": _column_lineage({c: d.direct for c, d in hop.items()}),
        "column_lineage": MetadataValue.md(hop_markdown(hop)),
        "lineage_to_source": MetadataValue.md(trace_markdown(lineage, model.name)),
    }


PII_LINEAGE_DESCRIPTION = (
    "Walks the column lineage (SQL models and the source declarations) back from every source field classified as "
    "personal: fails if a column of this table takes its value from one, other than an email through the keyed "
    "hash. Fields that only decide rows are listed, not failed. Reads no data."
)


def pii_lineage_result(lineage: ProjectLineage, table: str, asset_key: AssetKey | None = None) -> AssetCheckResult:
    """The PII lineage proof's verdict on one table (computed from the code, never from data)."""
    personal = sum(1 for f in lineage.catalog.fields.values() if f.pii is not Pii.NONE)
    found = lineage.pii_proof().for_table(table)
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=PII_CHECK_NAME if asset_key is not None else None,
        passed=found.passed,
        metadata={
            "columns_checked": len(lineage.columns[table]),
            "personal_fields_classified": personal,
            "columns_derived_from_personal_fields": len({(f.table, f.column) for f in found.violations}),
            "columns_decided_by_personal_fields": len({(f.table, f.column) for f in found.indirect}),
            "findings": MetadataValue.md(proof_markdown(found)),
            "regenerate_export": MetadataValue.text(EXPORT_COMMAND),
        },
    )


def build_pii_lineage_checks(
    lineage: ProjectLineage | None = None, tables: Sequence[str] | None = None
) -> list[AssetChecksDefinition]:
    """One blocking check per table (default: every warehouse table): no column may take its value from a personal
    source field, except an email through the keyed hash. The SQL models carry the same check in their own step
    (defs/quality/table_checks.py); the raw tables get these.

    One check per table rather than one multi-asset check: a check runs after its asset only, so it can still stop
    the downstream models of the same run."""
    lineage = lineage or project_lineage()
    return [_pii_lineage_check(lineage, table) for table in (lineage.tables() if tables is None else tables)]


def _pii_lineage_check(lineage: ProjectLineage, table: str) -> AssetChecksDefinition:
    @asset_check(name=PII_CHECK_NAME, asset=table, blocking=True, description=PII_LINEAGE_DESCRIPTION)
    def no_pii_by_lineage() -> AssetCheckResult:
        return pii_lineage_result(lineage, table)

    return no_pii_by_lineage


SOURCE_SPECS = build_source_specs(OWNERS)
PII_LINEAGE_CHECKS = build_pii_lineage_checks(tables=sorted(project_lineage().catalog.raw_columns))
