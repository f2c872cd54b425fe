-- Loaded Calendly invitee observations, one per landing line or API record, with what the record itself says about
-- its scheduled event (null when the event was not embedded). A webhook body is how an observation was seen first
-- when it arrived in one; otherwise the snapshot day's ingest stamp says how. Whether the invitee is canceled comes
-- from seeds/status_mappings.csv.
with invitee_statuses as (
    select m.raw_value, s.keeps_cancellation
    from status_mappings as m
    inner join appointment_statuses as s on s.status = m.status
    where m.source = 'calendly_invitee'
)

select
    i.snapshot_date,
    i.file,
    i.line,
    case when i.webhook then 'WEBHOOK' else i.ingest_source end as ingest_source,
    i.invitee_uri,
    i.scheduled_event_uri,
    i.old_invitee_uri,
    i.new_invitee_uri,
    i.email_hash,
    lower(trim(i.invitee_status)) as invitee_status,
    m.keeps_cancellation as invitee_canceled,
    lower(trim(i.event_status)) as event_status,
    i.status,
    i.cancel_reason,
    i.canceled_at,
    i.start_at,
    i.end_at,
    i.timezone,
    i.created_at,
    i.updated_at
from raw_calendly_invitees as i
left join invitee_statuses as m on m.raw_value = lower(trim(i.invitee_status))
-- rows loaded before record_type existed are all invitees
where i.reject_reason is null and coalesce(i.record_type, 'invitee') = 'invitee'
