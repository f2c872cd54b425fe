"""Materialization metadata shared by every table asset: row count, table name, column schema, column lineage."""

from __future__ import annotations

from collections.abc import Mapping

from dagster import (
    AssetKey,
    MetadataValue,
    TableColumn,
    TableColumnDep,
    TableColumnLineage,
    TableSchema,
)

from appointment_pipeline.io.warehouse import Warehouse


def table_metadata(
    wh: Warehouse,
    table: str,
    row_count: int | None,
    *,
    descriptions: Mapping[str, str] | None = None,
    lineage: Mapping[str, list[tuple[str, str]]] | None = None,
) -> dict:
    descriptions = descriptions or {}
    schema = TableSchema(
        columns=[
            TableColumn(name=name, type=data_type, description=descriptions.get(name))
            for name, data_type in wh.table_columns(table)
        ]
    )
    metadata = {
        "dagster/table_name": f"{wh.dialect}:{table}",
        "dagster/column_schema": schema,
        "warehouse": wh.display_name,
    }
    if row_count is not None:  # a partitioned asset reports each partition's own count instead
        metadata["dagster/row_count"] = int(row_count)
    if lineage is not None:
        metadata["dagster/column_lineage"] = TableColumnLineage(
            deps_by_column={
                column: [TableColumnDep(asset_key=AssetKey(t), column_name=c) for t, c in sources]
                for column, sources in lineage.items()
            }
        )
        # Open-source Dagster stores column lineage but draws it only in Dagster+: show it as a table too.
        metadata["column_lineage"] = MetadataValue.md(lineage_markdown(lineage))
    return metadata


def lineage_markdown(lineage: Mapping[str, list[tuple[str, str]]]) -> str:
    rows = ["| column | computed from |", "|---|---|"]
    for column, sources in lineage.items():
        rows.append(f"| `{column}` | {', '.join(f'`{t}.{c}`' for t, c in sources) or '(constant)'} |")
    return "\n".join(rows)


def preview_markdown(wh: Warehouse, table: str, limit: int = 5) -> str:
    return frame_markdown(wh.query_df(f"select * from {table} order by 1 limit {int(limit)}"))


def frame_markdown(frame) -> str:
    if frame.empty:
        return "(empty)"
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])
