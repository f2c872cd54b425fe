"""The one daily partitions definition every snapshot asset shares (different starts split backfills: dagster#19625)."""


from dagster import DailyPartitionsDefinition

from appointment_pipeline import settings

snapshot_days = DailyPartitionsDefinition(start_date=settings.partitions_start().isoformat(), timezone="UTC")
