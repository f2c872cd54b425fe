"""One asset per vocabulary CSV in dbt_like_sql/seeds/ (group seeds): the table the SQL models join; one step writes
the selected ones with their checks.

Each CSV is written whole (scratch table, audited with its blocking tests, swapped in), and only when the table does
not hold it already or the run carries ``appointment/full_refresh=true``; io/seeds.py does the writing.
"""

import hashlib
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    CodeReferencesMetadataValue,
    LocalFileCodeReference,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from appointment_pipeline.defs.constants import OWNERS, SEED_GROUP, WAREHOUSE_KIND, WAREHOUSE_POOL
from appointment_pipeline.defs.resources.resources import WarehouseResource
from appointment_pipeline.defs.transform.metadata import preview_markdown, table_metadata
from appointment_pipeline.io.audits import AUDIT_METADATA, model_audit
from appointment_pipeline.io.seeds import unchanged_seed_rows, write_seed
from appointment_pipeline.defs.quality.table_checks import table_checks
from appointment_pipeline.defs.transform.assets import FULL_REFRESH_TAG, checks_by_table
from appointment_pipeline.io.sql_project import Seed, SqlProject, load_project


def seed_spec(seed: Seed) -> AssetSpec:
    return AssetSpec(
        key=seed.name,
        group_name=SEED_GROUP,
        kinds={"csv", WAREHOUSE_KIND},
        owners=OWNERS,
        description=seed.description,
        code_version=hashlib.sha256(seed.path.read_bytes()).hexdigest()[:16],
        skippable=True,
        metadata={
            "seed_file": MetadataValue.path(str(seed.path.relative_to(seed.path.parent.parent.parent))),
            "dagster/code_references": CodeReferencesMetadataValue(
                code_references=[LocalFileCodeReference(file_path=str(seed.path), line_number=1, label="CSV")]
            ),
        },
    )


def build_seeds_asset(project: SqlProject) -> AssetsDefinition:
    """Every seed in one subsettable step, each written whole and audited by its declared tests before its swap."""
    seeds = dict(sorted(project.seeds.items()))
    checks = table_checks(project, None, seeds)

    @multi_asset(
        name="seed_tables",
        specs=[seed_spec(seed) for seed in seeds.values()],
        check_specs=[spec for name in seeds for spec in checks[name].specs()],
        can_subset=True,
        pool=WAREHOUSE_POOL,
        backfill_policy=BackfillPolicy.single_run(),  # a partition range from the CLI is one run (as the models)
        description="The vocabulary CSVs of dbt_like_sql/seeds/ and their checks.",
    )
    def seed_tables(
        context: AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        wanted = checks_by_table(context)
        to_query: dict[str, list[str]] = {}
        full_refresh = context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"
        with warehouse.warehouse().session() as wh:  # one connection for every seed, its metadata and checks
            for name, seed in seeds.items():
                if name not in selected:
                    if wanted.get(name):
                        to_query[name] = wanted[name]
                    continue
                unchanged = None if full_refresh else unchanged_seed_rows(wh, seed)
                if unchanged is not None:  # the table holds this CSV already: reported, not written again
                    yield MaterializeResult(asset_key=name, metadata={
                        "dagster/row_count": unchanged,
                        "written": False,
                        "why_not_written": MetadataValue.text("the table holds this CSV already (same digest)"),
                    })
                    if wanted.get(name):
                        to_query[name] = wanted[name]
                    continue
                audited: dict[str, Any] = {}
                count = write_seed(wh, seed, audit=model_audit(wh, seed, record=audited))
                metadata = table_metadata(wh, name, count, descriptions=seed.columns)
                metadata["written"] = True
                metadata[AUDIT_METADATA] = MetadataValue.json(audited)
                metadata["preview"] = MetadataValue.md(preview_markdown(wh, name))
                yield MaterializeResult(asset_key=name, metadata=metadata)
                reported, pending = checks[name].from_audit(wanted.get(name, []), audited)
                yield from reported
                if pending:
                    to_query[name] = pending
            for name, names in to_query.items():
                yield from checks[name].by_query(wh, names)

    return seed_tables


SEED_ASSETS = [build_seeds_asset(load_project())]
