-- Loaded (not rejected) Calendly invitee observations, one per landing line or API record.
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
    ingest_source,
    invitee_uri,
    scheduled_event_uri,
    old_invitee_uri,
    new_invitee_uri,
    email_hash,
    status,
    cancel_reason,
    canceled_at,
    start_at,
    end_at,
    timezone,
    created_at,
    updated_at
from invitees
where reject_reason is null
