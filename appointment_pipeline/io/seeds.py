"""Writing a vocabulary seed (dbt_like_sql/seeds/<name>.csv) into the warehouse (no Dagster imports).

The column types come from seeds/schema.yml, so DuckDB and PostgreSQL hold the same rows.
"""

from __future__ import annotations

import pyarrow as pa

from appointment_pipeline.io.sql_project import Seed
from appointment_pipeline.io.warehouse import Audit, Warehouse

_ARROW_TYPES = {"text": pa.string(), "integer": pa.int64(), "boolean": pa.bool_()}
_SQL_TYPES = {"text": "text", "integer": "bigint", "boolean": "boolean"}


def seed_columns(seed: Seed) -> list[tuple[str, str]]:
    return [(column, _SQL_TYPES[data_type]) for column, data_type in seed.types.items()]


def seed_table(seed: Seed) -> pa.Table:
    return pa.table(
        {column: pa.array([row[column] for row in seed.rows], type=_ARROW_TYPES[t]) for column, t in seed.types.items()}
    )


def write_seed(wh: Warehouse, seed: Seed, audit: Audit | None = None) -> int:
    """Replace the seed's table with the CSV's rows (scratch table, audited, swapped in)."""
    return wh.replace_table_with_rows(seed.name, seed_columns(seed), seed_table(seed), audit=audit)
