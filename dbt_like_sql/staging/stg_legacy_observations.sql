-- One row per lead with legacy appointment data (docs/data-contract.md#legacy-lead-table): the legacy observation, or why it is rejected.
with normalized as (
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
    from raw_leads
),

legacy_statuses as (
    -- dbt_like_sql/seeds/status_mappings.csv: an unset status decides by whether a cancel time is known
    select raw_value, canceled_at_set, status, cancel_reason
    from status_mappings
    where source = 'legacy'
),

statuses as (
    select status, keeps_cancellation
    from appointment_statuses
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
        d.*,
        case
            when ghl_appointment_id is not null
                and (calendly_invitee_uri is not null or calendly_scheduled_event_uri is not null)
                then case when declared_provider in ('GHL', 'CALENDLY') then declared_provider end
            when ghl_appointment_id is not null then 'GHL'
            when calendly_invitee_uri is not null or calendly_scheduled_event_uri is not null then 'CALENDLY'
            when declared_provider in ('GHL', 'CALENDLY') then declared_provider
        end as provider,
        m.status,
        m.cancel_reason,
        s.keeps_cancellation
    from with_legacy_data as d
    left join legacy_statuses as m
        on m.raw_value is not distinct from d.legacy_status
        and (m.canceled_at_set is null or m.canceled_at_set = (d.appointment_canceled_at is not null))
    left join statuses as s on s.status = m.status
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
    cancel_reason,
    case when keeps_cancellation then appointment_canceled_at end as canceled_at,
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
