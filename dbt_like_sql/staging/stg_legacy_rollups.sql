-- Every lead's legacy rollup columns, normalized for comparison with the new rollup: provider upper case, status in
-- its lower-case legacy spelling (seeds status_mappings and appointment_statuses; an unknown status as written, lower
-- case), source lower case, blanks as null.
with leads as (
    select
        lead_id,
        appointment_provider,
        ghl_appointment_id,
        calendly_invitee_uri,
        calendly_scheduled_event_uri,
        appointment_status,
        appointment_source,
        appointment_start_at,
        appointment_end_at,
        appointment_timezone,
        appointment_booked_at,
        appointment_canceled_at
    from raw_leads
),

legacy_spellings as (
    select m.raw_value, s.legacy_spelling
    from status_mappings as m
    inner join appointment_statuses as s on s.status = m.status
    where m.source = 'legacy' and m.raw_value is not null
),

trimmed as (
    select
        lead_id,
        upper(nullif(trim(appointment_provider), '')) as appointment_provider,
        nullif(trim(ghl_appointment_id), '') as ghl_appointment_id,
        nullif(trim(calendly_invitee_uri), '') as calendly_invitee_uri,
        nullif(trim(calendly_scheduled_event_uri), '') as calendly_scheduled_event_uri,
        lower(nullif(trim(appointment_status), '')) as appointment_status,
        lower(nullif(trim(appointment_source), '')) as appointment_source,
        appointment_start_at,
        appointment_end_at,
        nullif(trim(appointment_timezone), '') as appointment_timezone,
        appointment_booked_at,
        appointment_canceled_at
    from leads
)

select
    t.lead_id,
    t.appointment_provider,
    t.ghl_appointment_id,
    t.calendly_invitee_uri,
    t.calendly_scheduled_event_uri,
    coalesce(s.legacy_spelling, t.appointment_status) as appointment_status,
    t.appointment_source,
    t.appointment_start_at,
    t.appointment_end_at,
    t.appointment_timezone,
    t.appointment_booked_at,
    t.appointment_canceled_at
from trimmed as t
left join legacy_spellings as s on s.raw_value = t.appointment_status
