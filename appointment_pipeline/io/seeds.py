"""Writing a vocabulary seed (dbt_like_sql/seeds/<name>.csv) into the warehouse (no Dagster imports).

The column types come from seeds/schema.yml, so DuckDB and PostgreSQL hold the same rows. Each write records the
digest of what it wrote (``seed_loads``, in the write's transaction); a seed whose CSV and types still have that
digest is not written again.
"""

from __future__ import annotations

import hashlib
from typing import Any

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


LOADS_TABLE = "seed_loads"
LOADS_COLUMNS = [("seed", "text"), ("digest", "text"), ("row_count", "bigint")]


def seed_digest(seed: Seed) -> str:
    """What the seed's table is made of: the CSV's bytes and the column types from schema.yml."""
    return hashlib.sha256(seed.path.read_bytes() + repr(seed_columns(seed)).encode()).hexdigest()[:16]


def write_seed(wh: Warehouse, seed: Seed, audit: Audit | None = None) -> int:
    """Replace the seed's table with the CSV's rows (scratch table, audited, swapped in), recording its digest."""
    digest = seed_digest(seed)

    def record(con: Any) -> None:
        wh.create_table_if_missing(con, LOADS_TABLE, LOADS_COLUMNS)
        wh.execute(con, f"delete from {LOADS_TABLE} where seed = %s", [seed.name])
        wh.execute(con, f"insert into {LOADS_TABLE} select %s, %s, count(*) from {seed.name}", [seed.name, digest])

    return wh.replace_table_with_rows(seed.name, seed_columns(seed), seed_table(seed), audit=audit, also=record)


def unchanged_seed_rows(wh: Warehouse, seed: Seed) -> int | None:
    """The row count of the seed's table when it holds what the CSV says now (written from the same digest), else
    None (never written, or the CSV or its types changed since)."""
    if not (wh.table_exists(LOADS_TABLE) and wh.table_exists(seed.name)):
        return None
    rows = wh.query(f"select digest, row_count from {LOADS_TABLE} where seed = %s", [seed.name])
    return int(rows[0][1]) if rows and rows[0][0] == seed_digest(seed) else None
