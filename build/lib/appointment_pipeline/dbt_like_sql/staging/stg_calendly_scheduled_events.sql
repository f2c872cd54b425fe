-- Every description of a Calendly scheduled event: a /scheduled_events item landed on its own, or the event
-- embedded in an invitee record. Invitees that arrive without their event take its times and status from here.
with records as (
    select
        snapshot_date,
        file,
        line,
        record_type,
        scheduled_event_uri,
        event_status,
        event_cancel_reason,
        start_at,
        end_at,
        event_updated_at,
        reject_reason
    from raw_calendly_invitees
)

select
    scheduled_event_uri,
    lower(trim(event_status)) as event_status,
    event_cancel_reason,
    start_at,
    end_at,
    event_updated_at,
    snapshot_date,
    file,
    line
from records
where reject_reason is null
    and scheduled_event_uri is not null
    and (record_type = 'scheduled_event' or start_at is not null or event_status is not null)
