"""One asset per vocabulary CSV in dbt_like_sql/seeds/ (group seeds): the table the SQL models join.

Each CSV is written whole (scratch table, audited with its blocking tests, swapped in); io/seeds.py does the writing.
"""

import hashlib
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    CodeReferencesMetadataValue,
    LocalFileCodeReference,
    MaterializeResult,
    MetadataValue,
    asset,
)

from appointment_pipeline.defs.constants import OWNERS, SEED_GROUP, WAREHOUSE_KIND, WAREHOUSE_POOL
from appointment_pipeline.defs.resources.resources import WarehouseResource
from appointment_pipeline.defs.transform.metadata import preview_markdown, table_metadata
from appointment_pipeline.io.audits import AUDIT_METADATA, model_audit
from appointment_pipeline.io.seeds import write_seed
from appointment_pipeline.io.sql_project import Seed, load_project


def build_seed_asset(seed: Seed) -> AssetsDefinition:
    text = seed.path.read_bytes()

    @asset(
        name=seed.name,
        group_name=SEED_GROUP,
        kinds={"csv", WAREHOUSE_KIND},
        owners=OWNERS,
        pool=WAREHOUSE_POOL,
        backfill_policy=BackfillPolicy.single_run(),  # a partition range from the CLI is one run (as the models)
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
        with warehouse.warehouse().session() as wh:  # one connection for the write and its metadata lookups
            audited: dict[str, Any] = {}
            count = write_seed(wh, seed, audit=model_audit(wh, seed, record=audited))
            metadata = table_metadata(wh, seed.name, count, descriptions=seed.columns)
            metadata[AUDIT_METADATA] = MetadataValue.json(audited)  # this run's declared tests report it
            metadata["preview"] = MetadataValue.md(preview_markdown(wh, seed.name))
        return MaterializeResult(metadata=metadata)

    return seed_asset


SEED_ASSETS = [build_seed_asset(seed) for seed in load_project().seeds.values()]
