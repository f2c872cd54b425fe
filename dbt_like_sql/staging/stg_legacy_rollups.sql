-- Every lead's legacy rollup columns, normalized for comparison with the new rollup: provider upper case, status in
-- its lower-case legacy spelling (seeds status_mappings and appointment_statuses; an unknown status as written, lower
-- case), source lower case, blanks as null.
with legacy_spellings as (
    select m.raw_value, s.legacy_spelling
    from status_mappings as m
    inner join appointment_statuses as s on s.status = m.status
    where m.source = 'legacy' and m.raw_value is not null
)

select
    l.lead_id,
    upper(nullif(trim(l.appointment_provider), '')) as appointment_provider,
    nullif(trim(l.ghl_appointment_id), '') as ghl_appointment_id,
    nullif(trim(l.calendly_invitee_uri), '') as calendly_invitee_uri,
    nullif(trim(l.calendly_scheduled_event_uri), '') as calendly_scheduled_event_uri,
    coalesce(s.legacy_spelling, lower(nullif(trim(l.appointment_status), ''))) as appointment_status,
    lower(nullif(trim(l.appointment_source), '')) as appointment_source,
    l.appointment_start_at,
    l.appointment_end_at,
    nullif(trim(l.appointment_timezone), '') as appointment_timezone,
    l.appointment_booked_at,
    l.appointment_canceled_at
from raw_leads as l
left join legacy_spellings as s on s.raw_value = lower(nullif(trim(l.appointment_status), ''))
