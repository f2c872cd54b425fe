"""appointment_pipeline: appointment history from legacy Lead rollups and Calendly/GHL snapshots."""

import warnings

# Dagster 1.13 marks backfill_policy, code references and a few selection options as beta and warns on every
# import; the warnings drown CLI output and test logs without telling a user anything actionable.
warnings.filterwarnings("ignore", message=r".*is currently in beta.*")
