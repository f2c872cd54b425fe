-- Every description of a Calendly scheduled event: a /scheduled_events item landed on its own, or the event
-- embedded in an invitee record. Invitees that arrive without their event take its times and status from here.
-- Whether the event is canceled, and what that makes its active invitees, come from seeds/status_mappings.csv.
with event_statuses as (
    select m.raw_value, m.status, s.keeps_cancellation
    from status_mappings as m
    inner join appointment_statuses as s on s.status = m.status
    where m.source = 'calendly_event'
)

select
    e.scheduled_event_uri,
    lower(trim(e.event_status)) as event_status,
    m.keeps_cancellation as event_canceled,
    case when m.keeps_cancellation then m.status end as canceled_status,
    e.event_cancel_reason,
    e.start_at,
    e.end_at,
    e.event_updated_at,
    e.snapshot_date,
    e.file,
    e.line
from raw_calendly_invitees as e
left join event_statuses as m on m.raw_value = lower(trim(e.event_status))
where e.reject_reason is null
    and e.scheduled_event_uri is not null
    and (e.record_type = 'scheduled_event' or e.start_at is not null or e.event_status is not null)
