"""One asset per vocabulary CSV in dbt_like_sql/seeds/ (group seeds): the table the SQL models join.

Each CSV is written whole (scratch table, audited with its blocking tests, swapped in), with the column types of
seeds/schema.yml, so DuckDB and PostgreSQL hold the same rows.
"""

import hashlib

import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    CodeReferencesMetadataValue,
    LocalFileCodeReference,
    MaterializeResult,
    MetadataValue,
    asset,
)

from appointment_pipeline.defs.constants import OWNERS, WAREHOUSE_KIND, WAREHOUSE_POOL
from appointment_pipeline.defs.resources.resources import WarehouseResource
from appointment_pipeline.defs.transform.metadata import preview_markdown, table_metadata
from appointment_pipeline.io.audits import model_audit
from appointment_pipeline.io.sql_project import Seed, load_project

_ARROW_TYPES = {"text": pa.string(), "integer": pa.int64(), "boolean": pa.bool_()}
_SQL_TYPES = {"text": "text", "integer": "bigint", "boolean": "boolean"}


def seed_table(seed: Seed) -> pa.Table:
    return pa.table(
        {column: pa.array([row[column] for row in seed.rows], type=_ARROW_TYPES[t]) for column, t in seed.types.items()}
    )


def build_seed_asset(seed: Seed) -> AssetsDefinition:
    text = seed.path.read_bytes()

    @asset(
        name=seed.name,
        group_name="seeds",
        kinds={"csv", WAREHOUSE_KIND},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        description=seed.description,
        code_version=hashlib.sha256(text).hexdigest()[:16],
        metadata={
            "seed_file": MetadataValue.path(str(seed.path.relative_to(seed.path.parent.parent.parent))),
            "dagster/code_references": CodeReferencesMetadataValue(
                code_references=[LocalFileCodeReference(file_path=str(seed.path), line_number=1, label="CSV")]
            ),
        },
    )
    def seed_asset(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        wh = warehouse.warehouse()
        columns = [(column, _SQL_TYPES[t]) for column, t in seed.types.items()]
        count = wh.replace_table_with_rows(seed.name, columns, seed_table(seed), audit=model_audit(wh, seed))
        metadata = table_metadata(wh, seed.name, count, descriptions=seed.columns)
        metadata["preview"] = MetadataValue.md(preview_markdown(wh, seed.name))
        return MaterializeResult(metadata=metadata)

    return seed_asset


SEED_ASSETS = [build_seed_asset(seed) for seed in load_project().seeds.values()]
