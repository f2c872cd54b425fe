"""The one daily partitions definition every snapshot asset shares (different starts split backfills: dagster#19625)."""


from datetime import timedelta

from dagster import DailyPartitionsDefinition

from appointment_pipeline.settings import get_settings

_settings = get_settings()
_last_day = _settings.partitions_end
snapshot_days = DailyPartitionsDefinition(
    start_date=_settings.partitions_start.isoformat(),
    end_date=(_last_day + timedelta(days=1)).isoformat() if _last_day else None,  # Dagster's end is exclusive
    timezone="UTC",
)
