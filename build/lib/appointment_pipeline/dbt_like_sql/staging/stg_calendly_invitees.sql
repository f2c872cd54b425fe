-- Loaded Calendly invitee observations, one per landing line or API record, with what the record itself says about
-- its scheduled event (null when the event was not embedded). A webhook body is how an observation was seen first
-- when it arrived in one; otherwise the snapshot day's ingest stamp says how.
with invitees as (
    select
        snapshot_date,
        file,
        line,
        ingest_source,
        webhook,
        record_type,
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
        updated_at,
        reject_reason
    from raw_calendly_invitees
)

select
    snapshot_date,
    file,
    line,
    case when webhook then 'WEBHOOK' else ingest_source end as ingest_source,
    invitee_uri,
    scheduled_event_uri,
    old_invitee_uri,
    new_invitee_uri,
    email_hash,
    lower(trim(invitee_status)) as invitee_status,
    lower(trim(event_status)) as event_status,
    status,
    cancel_reason,
    canceled_at,
    start_at,
    end_at,
    timezone,
    created_at,
    updated_at
from invitees
-- rows loaded before record_type existed are all invitees
where reject_reason is null and coalesce(record_type, 'invitee') = 'invitee'
