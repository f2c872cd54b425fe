-- One row per real appointment (docs/data-contract.md#appointments).
with merged as (
    select
        id,
        lead_id,
        provider,
        ghl_appointment_id,
        calendly_invitee_uri,
        calendly_scheduled_event_uri,
        start_at,
        end_at,
        timezone,
        status,
        status_changed_at,
        canceled_at,
        cancel_reason,
        source,
        created_at,
        updated_at
    from int_appointments_merged
),

links as (
    select appointment_id, rescheduled_from_id, link_method
    from int_reschedule_links
)

select
    merged.id,
    merged.lead_id,
    merged.provider,
    merged.ghl_appointment_id,
    merged.calendly_invitee_uri,
    merged.calendly_scheduled_event_uri,
    merged.start_at,
    merged.end_at,
    merged.timezone,
    merged.status,
    merged.status_changed_at,
    merged.canceled_at,
    merged.cancel_reason,
    links.rescheduled_from_id,
    links.link_method as reschedule_link_method,
    merged.source,
    merged.created_at,
    merged.updated_at
from merged
left join links on links.appointment_id = merged.id
