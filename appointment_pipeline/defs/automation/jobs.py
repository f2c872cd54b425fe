"""Jobs behind the operations paths (docs/operations.md).

- ``reconcile_job``: every asset for one day (or a range) of the shared daily partitions; the reconcile schedule
  runs it for the previous day. Unpartitioned assets (``raw_leads`` and every SQL model) run once per run.
- ``landing_refresh_job``: the two snapshot assets and everything downstream of them, plus the vocabulary seeds the
  models join (cheap, and a deployed CSV change takes effect) and every SQL model; the landing-zone sensor runs it for
  exactly the days whose files changed (``raw_leads`` is not re-read: new landing files do not change it).
- ``snapshot_freshness_job``: only the freshness checks of the snapshot assets (reads the Dagster instance, never
  the warehouse); the ``snapshot_freshness_hourly`` schedule runs it so that a stalled pipeline is still noticed.

Backfills are not jobs: launch them from the asset graph (Materialize -> partitions), not from a job page, so that
the assets' ``BackfillPolicy.single_run()`` applies (dagster#17404).
"""

from dagster import AssetSelection, define_asset_job

from appointment_pipeline.defs.constants import SEED_GROUP
from appointment_pipeline.io.sql_project import LAYERS
from appointment_pipeline.defs.quality.checks import FRESHNESS_CHECKS
from appointment_pipeline.defs.extract.assets import raw_calendly_invitees, raw_ghl_appointments

TRIGGER_TAG = "appointment/trigger"  # which automation launched a run: filter the Runs page by it

SNAPSHOT_ASSETS = AssetSelection.assets(raw_calendly_invitees, raw_ghl_appointments)

reconcile_job = define_asset_job(
    "reconcile_job",
    selection=AssetSelection.all(),
    description=(
        "Every asset: the snapshot partitions of the requested day(s), raw_leads and every SQL model once. "
        "Run by the reconcile_daily schedule for the previous UTC day."
    ),
)

landing_refresh_job = define_asset_job(
    "landing_refresh_job",
    # every SQL model, also those that read only "Lead": a run that builds every model can update them incrementally
    selection=SNAPSHOT_ASSETS.downstream() | AssetSelection.groups(SEED_GROUP, *LAYERS),
    description=(
        "The snapshot assets for the requested day(s), every SQL model and the vocabulary seeds. "
        "Run by landing_zone_sensor for the days whose landing files are new or changed."
    ),
)

snapshot_freshness_job = define_asset_job(
    "snapshot_freshness_job",
    selection=AssetSelection.checks(*FRESHNESS_CHECKS),
    description="Evaluates the snapshot_partition_fresh checks (WARN when yesterday's snapshot is missing).",
)

JOBS = [reconcile_job, landing_refresh_job, snapshot_freshness_job]
