-- One row per Calendly scheduled event URI that any record of any day describes: the newest description's status,
-- the newest known times (by the event's updated_at, then snapshot day, file and line), and for a canceled event
-- the first description that says so (when, and where it was read), and the status that gives its active invitees.
with descriptions as (
    select
        scheduled_event_uri,
        event_status,
        event_canceled,
        canceled_status,
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
        ) as times_recency,
        row_number() over (
            partition by scheduled_event_uri
            order by
                case when event_canceled then 0 else 1 end,
                coalesce(event_updated_at, cast(snapshot_date as timestamptz)),
                snapshot_date,
                file,
                line
        ) as cancel_order
    from descriptions
),

newest_status as (
    select scheduled_event_uri, event_status, event_canceled, canceled_status, event_cancel_reason
    from ranked
    where status_recency = 1
),

newest_times as (
    select scheduled_event_uri, start_at, end_at
    from ranked
    where times_recency = 1
),

first_cancellation as (
    select
        scheduled_event_uri,
        coalesce(event_updated_at, cast(snapshot_date as timestamptz)) as canceled_at,
        snapshot_date as canceled_snapshot_date,
        file as canceled_file,
        line as canceled_line
    from ranked
    where cancel_order = 1 and event_canceled
)

select
    s.scheduled_event_uri,
    s.event_status,
    s.canceled_status,
    s.event_cancel_reason,
    t.start_at,
    t.end_at,
    case when s.event_canceled then c.canceled_at end as canceled_at,
    case when s.event_canceled then c.canceled_snapshot_date end as canceled_snapshot_date,
    case when s.event_canceled then c.canceled_file end as canceled_file,
    case when s.event_canceled then c.canceled_line end as canceled_line
from newest_status as s
inner join newest_times as t on t.scheduled_event_uri = s.scheduled_event_uri
left join first_cancellation as c on c.scheduled_event_uri = s.scheduled_event_uri
