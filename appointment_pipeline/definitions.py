"""The Dagster code location: ``dagster dev -w workspace.yaml`` or ``-m appointment_pipeline.definitions``."""


import warnings

from dagster import BetaWarning, Definitions, with_source_code_references

from appointment_pipeline.checks import build_declared_checks
from appointment_pipeline.extract import EXTRACT_ASSETS
from appointment_pipeline.resources import default_resources
from appointment_pipeline.sql_models import build_model_assets

# Code references and include_sources are beta in 1.13; their warnings would drown every CLI command.
warnings.filterwarnings("ignore", category=BetaWarning)

defs = Definitions(
    assets=with_source_code_references([*EXTRACT_ASSETS, *build_model_assets()]),
    asset_checks=build_declared_checks(),
    resources=default_resources(),
)
