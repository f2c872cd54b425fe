-- Calendly invitee observations completed from their scheduled event: an invitee that arrived without its event
-- takes the event's times from whatever record describes it, and an active invitee on an event known to be
-- canceled is CANCELED (the rule of appointment_pipeline.statuses.calendly_status, applied here because the
-- invitee's own record did not carry the event).
with invitees as (
    select
        snapshot_date,
        file,
        line,
        ingest_source,
        invitee_uri,
        scheduled_event_uri,
        old_invitee_uri,
        new_invitee_uri,
        email_hash,
        invitee_status,
        event_status,
        status,
        cancel_reason,
        canceled_at,
        start_at,
        end_at,
        timezone,
        created_at,
        updated_at
    from stg_calendly_invitees
),

events as (
    select scheduled_event_uri, event_status, event_cancel_reason, start_at, end_at
    from int_calendly_events
),

completed as (
    select
        i.*,
        e.start_at as event_start_at,
        e.end_at as event_end_at,
        e.event_cancel_reason as known_event_cancel_reason,
        coalesce(
            i.event_status is null
            and i.invitee_status = 'active'
            and e.event_status = 'canceled',
            false
        ) as canceled_by_event
    from invitees as i
    left join events as e on e.scheduled_event_uri = i.scheduled_event_uri
)

select
    snapshot_date,
    file,
    line,
    ingest_source,
    invitee_uri,
    scheduled_event_uri,
    old_invitee_uri,
    new_invitee_uri,
    email_hash,
    case when canceled_by_event then 'CANCELED' else status end as status,
    case when canceled_by_event then known_event_cancel_reason else cancel_reason end as cancel_reason,
    case when canceled_by_event then coalesce(canceled_at, updated_at) else canceled_at end as canceled_at,
    case when start_at is not null then start_at else event_start_at end as start_at,
    case when start_at is not null then end_at else event_end_at end as end_at,
    timezone,
    created_at,
    updated_at
from completed
