-- One row per lead with legacy appointment data (docs/data-contract.md#legacy-lead-table): the legacy observation, or why it is rejected.
with leads as (
    select
        lead_id,
        ghl_appointment_id,
        calendly_invitee_uri,
        calendly_scheduled_event_uri,
        appointment_provider,
        appointment_status,
        appointment_start_at,
        appointment_end_at,
        appointment_booked_at,
        appointment_canceled_at,
        appointment_timezone,
        updated_at
    from raw_leads
),

normalized as (
    select
        lead_id,
        nullif(trim(ghl_appointment_id), '') as ghl_appointment_id,
        nullif(trim(calendly_invitee_uri), '') as calendly_invitee_uri,
        nullif(trim(calendly_scheduled_event_uri), '') as calendly_scheduled_event_uri,
        upper(nullif(trim(appointment_provider), '')) as declared_provider,
        lower(nullif(trim(appointment_status), '')) as legacy_status,
        appointment_start_at,
        appointment_end_at,
        appointment_booked_at,
        appointment_canceled_at,
        nullif(trim(appointment_timezone), '') as appointment_timezone,
        updated_at
    from leads
),

with_legacy_data as (
    select *
    from normalized
    where ghl_appointment_id is not null
        or calendly_invitee_uri is not null
        or calendly_scheduled_event_uri is not null
        or appointment_start_at is not null
        or appointment_booked_at is not null
),

classified as (
    select
        *,
        case
            when ghl_appointment_id is not null
                and (calendly_invitee_uri is not null or calendly_scheduled_event_uri is not null)
                then case when declared_provider in ('GHL', 'CALENDLY') then declared_provider end
            when ghl_appointment_id is not null then 'GHL'
            when calendly_invitee_uri is not null or calendly_scheduled_event_uri is not null then 'CALENDLY'
            when declared_provider in ('GHL', 'CALENDLY') then declared_provider
        end as provider,
        case
            when legacy_status is null and appointment_canceled_at is not null then 'CANCELED'
            when legacy_status is null then 'CONFIRMED'
            when legacy_status = 'confirmed' then 'CONFIRMED'
            when legacy_status in ('canceled', 'cancelled') then 'CANCELED'
            when legacy_status = 'rescheduled' then 'RESCHEDULED'
            when legacy_status = 'showed' then 'SHOWED'
            when legacy_status in ('no_show', 'noshow') then 'NO_SHOW'
        end as status
    from with_legacy_data
)

select
    lead_id,
    provider,
    case
        when provider = 'GHL' then coalesce(ghl_appointment_id, 'legacy:' || lead_id)
        when provider = 'CALENDLY' then coalesce(calendly_invitee_uri, 'legacy:' || lead_id)
    end as appointment_key,
    case when provider = 'GHL' then ghl_appointment_id end as ghl_appointment_id,
    case when provider = 'CALENDLY' then calendly_invitee_uri end as calendly_invitee_uri,
    case when provider = 'CALENDLY' then calendly_scheduled_event_uri end as calendly_scheduled_event_uri,
    status,
    case when status in ('CANCELED', 'RESCHEDULED') then 'legacy' end as cancel_reason,
    case when status in ('CANCELED', 'RESCHEDULED') then appointment_canceled_at end as canceled_at,
    appointment_start_at as start_at,
    appointment_end_at as end_at,
    appointment_timezone as timezone,
    coalesce(appointment_booked_at, updated_at) as created_at,
    updated_at as observed_at,
    case
        when provider is null and ghl_appointment_id is not null then 'legacy_ambiguous_provider'
        when provider is null then 'legacy_unknown_provider'
        when status is null then 'legacy_unknown_status'
    end as reject_reason,
    -- says which rule failed; the offending text itself is not copied (it could be free text)
    case
        when provider is null and ghl_appointment_id is not null
            then 'keys of both providers and no appointmentProvider GHL or CALENDLY to choose'
        when provider is null then 'no provider key and no appointmentProvider GHL or CALENDLY'
        when status is null then 'appointmentStatus is not a known legacy status'
    end as reject_detail
from classified
