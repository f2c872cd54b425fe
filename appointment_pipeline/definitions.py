"""The Dagster code location: ``dagster dev -w workspace.yaml`` or ``-m appointment_pipeline.definitions``."""

from dagster import Definitions, with_source_code_references

from appointment_pipeline.checks import build_declared_checks, build_domain_checks
from appointment_pipeline.extract import EXTERNAL_TABLES, EXTRACT_ASSETS
from appointment_pipeline.resources import default_resources
from appointment_pipeline.sql_models import build_model_assets
from appointment_pipeline.sql_project import load_project

WAREHOUSE_TABLES = sorted(EXTERNAL_TABLES | set(load_project().models))

defs = Definitions(
    assets=with_source_code_references([*EXTRACT_ASSETS, *build_model_assets()]),
    asset_checks=[*build_declared_checks(), *build_domain_checks(WAREHOUSE_TABLES)],
    resources=default_resources(),
)
