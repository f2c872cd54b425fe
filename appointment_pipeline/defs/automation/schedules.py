"""Schedules: the daily reconcile of the previous day and the hourly freshness evaluation.

Environment (read when the code location loads):

| variable | meaning | default |
|---|---|---|
| ``APPOINTMENT_RECONCILE_CRON`` | cron string of ``reconcile_daily`` | ``0 2 * * *`` |
| ``APPOINTMENT_RECONCILE_TIMEZONE`` | IANA time zone the cron string is read in | ``UTC`` |
| ``APPOINTMENT_AUTOMATION_DEFAULT_STATUS`` | ``STOPPED`` or ``RUNNING``: how schedules and the sensor start | ``STOPPED`` |

The snapshot partitions are UTC days whatever the schedule's time zone: a tick materializes the newest UTC day
that has fully ended at the tick's scheduled time.
"""

from datetime import date, datetime, timedelta, timezone

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from appointment_pipeline.defs.automation.jobs import TRIGGER_TAG, reconcile_job, snapshot_freshness_job
from appointment_pipeline.defs.extract.partitions import snapshot_days
from appointment_pipeline.domain.ingest_source import INGEST_SOURCE_TAG, RECONCILE_SCHEDULE_NAME
from appointment_pipeline.settings import get_settings

FRESHNESS_SCHEDULE_NAME = "snapshot_freshness_hourly"


def default_schedule_status() -> DefaultScheduleStatus:
    return DefaultScheduleStatus.RUNNING if get_settings().automation_running else DefaultScheduleStatus.STOPPED


def last_complete_day(at: datetime) -> date:
    """The newest UTC day that has fully ended at ``at`` (the latest snapshot partition that exists then)."""
    return at.astimezone(timezone.utc).date() - timedelta(days=1)


RECONCILE_TAGS = {TRIGGER_TAG: "reconcile_schedule", INGEST_SOURCE_TAG: "RECONCILE_CRON"}


@schedule(
    name=RECONCILE_SCHEDULE_NAME,
    job=reconcile_job,
    cron_schedule=get_settings().reconcile_cron,
    execution_timezone=get_settings().reconcile_timezone,
    default_status=default_schedule_status(),
    description=(
        "Re-reads the previous UTC day's snapshot (both providers) and rebuilds everything downstream, including the "
        "legacy leads. Cron and time zone: APPOINTMENT_RECONCILE_CRON / APPOINTMENT_RECONCILE_TIMEZONE. Its snapshot "
        "partitions are stamped RECONCILE_CRON unless an earlier run loaded that day first."
    ),
    tags={TRIGGER_TAG: "reconcile_schedule"},
)
def reconcile_daily(context: ScheduleEvaluationContext):
    tick_time = context.scheduled_execution_time or datetime.now(timezone.utc)
    day = last_complete_day(tick_time)
    first_day = snapshot_days.start.date()
    if day < first_day:
        return SkipReason(f"{day} is before the first snapshot partition {first_day} (APPOINTMENT_PARTITIONS_START)")
    if snapshot_days.end is not None and day >= snapshot_days.end.date():
        last = snapshot_days.end.date() - timedelta(days=1)
        return SkipReason(f"{day} is after the last snapshot partition {last} (APPOINTMENT_PARTITIONS_END)")
    context.log.info(f"reconcile tick {tick_time.isoformat()}: snapshot day {day}")
    # The ingest-source tag says RECONCILE_CRON outright: ingest_source also derives it from dagster/schedule_name,
    # but a tick launched with "Test schedule" or from a test has no such tag.
    return RunRequest(partition_key=day.isoformat(), tags=dict(RECONCILE_TAGS))


@schedule(
    name=FRESHNESS_SCHEDULE_NAME,
    job=snapshot_freshness_job,
    cron_schedule="30 * * * *",
    execution_timezone="UTC",
    default_status=default_schedule_status(),
    description=(
        "Evaluates the snapshot_partition_fresh checks every hour, so that a missing day shows up as a WARN even "
        "when nothing else runs. Cheap: reads the Dagster instance, not the warehouse."
    ),
    tags={TRIGGER_TAG: "freshness_schedule"},
)
def snapshot_freshness_hourly(context: ScheduleEvaluationContext):
    return RunRequest(tags={TRIGGER_TAG: "freshness_schedule"})


SCHEDULES = [reconcile_daily, snapshot_freshness_hourly]
