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

-- One pass grouped by event, each column taken from the row its order ranks first. (Joining three filtered copies
-- of ranked instead left PostgreSQL blind: it cannot estimate a filter on a row number, planned a one-row side and
-- compared every event with every other in a nested loop.)
events as (
    select
        scheduled_event_uri,
        max(event_status) filter (where status_recency = 1) as event_status,
        bool_or(event_canceled) filter (where status_recency = 1) as event_canceled,
        max(canceled_status) filter (where status_recency = 1) as canceled_status,
        max(event_cancel_reason) filter (where status_recency = 1) as event_cancel_reason,
        max(start_at) filter (where times_recency = 1) as start_at,
        max(end_at) filter (where times_recency = 1) as end_at,
        max(coalesce(event_updated_at, cast(snapshot_date as timestamptz)))
            filter (where cancel_order = 1 and event_canceled) as canceled_at,
        max(snapshot_date) filter (where cancel_order = 1 and event_canceled) as canceled_snapshot_date,
        max(file) filter (where cancel_order = 1 and event_canceled) as canceled_file,
        max(line) filter (where cancel_order = 1 and event_canceled) as canceled_line
    from ranked
    group by scheduled_event_uri
)

select
    scheduled_event_uri,
    event_status,
    canceled_status,
    event_cancel_reason,
    start_at,
    end_at,
    case when event_canceled then canceled_at end as canceled_at,
    case when event_canceled then canceled_snapshot_date end as canceled_snapshot_date,
    case when event_canceled then canceled_file end as canceled_file,
    case when event_canceled then canceled_line end as canceled_line
from events
