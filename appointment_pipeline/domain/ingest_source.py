"""What a run's tags say about how it was launched (no Dagster imports: tags are a plain mapping)."""

from __future__ import annotations

from collections.abc import Mapping

from appointment_pipeline.domain.vocabulary import seed_values

INGEST_SOURCE_TAG = "appointment/ingest_source"
RECONCILE_SCHEDULE_NAME = "reconcile_daily"
# the sources a run tag may set (dbt_like_sql/seeds/appointment_sources.csv)
INGEST_SOURCES = frozenset(seed_values("appointment_sources", "source", run_tag=True))


def ingest_source_for_run(tags: Mapping[str, str]) -> str:
    """How a run's snapshot days count as first seen: a backfill stamps BACKFILL, the reconcile schedule
    RECONCILE_CRON, anything else MANUAL. An explicit ``appointment/ingest_source`` tag wins (the landing-zone sensor
    sets RECONCILE_CRON; scripted runs may set any source). A webhook body overrides the stamp with WEBHOOK later,
    in the staging models."""
    explicit = tags.get(INGEST_SOURCE_TAG)
    if explicit:
        if explicit.upper() not in INGEST_SOURCES:
            raise ValueError(f"tag {INGEST_SOURCE_TAG}={explicit!r} is not one of {sorted(INGEST_SOURCES)}")
        return explicit.upper()
    if tags.get("dagster/backfill"):
        return "BACKFILL"
    if tags.get("dagster/schedule_name") == RECONCILE_SCHEDULE_NAME:
        return "RECONCILE_CRON"
    return "MANUAL"
