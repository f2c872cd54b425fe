-- One row per Calendly scheduled event URI that any record of any day describes: the newest description's status
-- and the newest known times (by the event's updated_at, then snapshot day, file and line).
with descriptions as (
    select
        scheduled_event_uri,
        event_status,
        event_cancel_reason,
        start_at,
        end_at,
        event_updated_at,
        snapshot_date,
        file,
        line
    from stg_calendly_scheduled_events
),

ranked as (
    select
        *,
        row_number() over (
            partition by scheduled_event_uri
            order by event_updated_at desc nulls last, snapshot_date desc, file desc, line desc
        ) as status_recency,
        row_number() over (
            partition by scheduled_event_uri
            order by
                case when start_at is null then 1 else 0 end,
                event_updated_at desc nulls last,
                snapshot_date desc,
                file desc,
                line desc
        ) as times_recency
    from descriptions
),

newest_status as (
    select scheduled_event_uri, event_status, event_cancel_reason
    from ranked
    where status_recency = 1
),

newest_times as (
    select scheduled_event_uri, start_at, end_at
    from ranked
    where times_recency = 1
)

select
    s.scheduled_event_uri,
    s.event_status,
    s.event_cancel_reason,
    t.start_at,
    t.end_at
from newest_status as s
inner join newest_times as t on t.scheduled_event_uri = s.scheduled_event_uri
