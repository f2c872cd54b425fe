"""The Dagster code location: ``dagster dev -w workspace.yaml`` or ``-m appointment_pipeline.definitions``."""

from dagster import Definitions, with_source_code_references

from appointment_pipeline.checks import build_declared_checks, build_domain_checks
from appointment_pipeline.executor import interruptible_in_process_executor
from appointment_pipeline.extract import EXTERNAL_TABLES, EXTRACT_ASSETS, OWNERS
from appointment_pipeline.jobs import FRESHNESS_CHECKS, JOBS
from appointment_pipeline.lineage_defs import build_pii_lineage_checks, build_source_specs
from appointment_pipeline.publish import PUBLISH_ASSETS, PUBLISH_CHECKS
from appointment_pipeline.resources import default_resources
from appointment_pipeline.schedules import SCHEDULES
from appointment_pipeline.sensors import SENSORS
from appointment_pipeline.sql_models import build_model_assets
from appointment_pipeline.sql_project import load_project

WAREHOUSE_TABLES = sorted(EXTERNAL_TABLES | set(load_project().models))

defs = Definitions(
    assets=[
        *build_source_specs(OWNERS),
        *with_source_code_references([*EXTRACT_ASSETS, *build_model_assets(), *PUBLISH_ASSETS]),
    ],
    asset_checks=[
        *build_declared_checks(),
        *build_domain_checks(WAREHOUSE_TABLES),
        *FRESHNESS_CHECKS,
        *build_pii_lineage_checks(),
        *PUBLISH_CHECKS,
    ],
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=default_resources(),
    # One process per run, steps in order: every writer shares one DuckDB file (pool appointment_warehouse, limit 1),
    # so a process per step (the multiprocess default) only adds ~1.5 s of imports per step: a 3-day run from the
    # UI or `dagster asset materialize` took ~2 min instead of ~10 s. docs/operations.md. Interruptible while a step
    # waits for a pool slot, so that SIGTERM ends a run stuck behind a dead slot holder.
    executor=interruptible_in_process_executor,
)
