-- Where the new rollup disagrees with the legacy "Lead" rollup columns: one row per lead and differing field, for
-- every lead with a rollup or with legacy values (a lead whose legacy appointment went to another lead, or was
-- rejected, has no rollup: all its legacy values show as drift).
-- Values are compared normalized by stg_legacy_rollups (provider upper case, status and source in their lower-case
-- legacy spelling); times as instants and shown as text; a field the legacy row left empty but the rollup fills is drift too.
-- The source of a migrated appointment is MIGRATION by contract, which replaces (not contradicts) the legacy value.
with rollups as (
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
    from lead_appointment_rollups
),

legacy as (
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
    from stg_legacy_rollups
),

compared as (
    select l.*
    from legacy as l
    left join rollups as r on r.lead_id = l.lead_id
    where r.lead_id is not null
        or l.appointment_provider is not null
        or l.ghl_appointment_id is not null
        or l.calendly_invitee_uri is not null
        or l.calendly_scheduled_event_uri is not null
        or l.appointment_status is not null
        or l.appointment_source is not null
        or l.appointment_start_at is not null
        or l.appointment_end_at is not null
        or l.appointment_timezone is not null
        or l.appointment_booked_at is not null
        or l.appointment_canceled_at is not null
),

paired as (
    select
        l.lead_id,
        l.appointment_provider as legacy_provider,
        r.appointment_provider as new_provider,
        l.ghl_appointment_id as legacy_ghl_appointment_id,
        r.ghl_appointment_id as new_ghl_appointment_id,
        l.calendly_invitee_uri as legacy_calendly_invitee_uri,
        r.calendly_invitee_uri as new_calendly_invitee_uri,
        l.calendly_scheduled_event_uri as legacy_calendly_scheduled_event_uri,
        r.calendly_scheduled_event_uri as new_calendly_scheduled_event_uri,
        l.appointment_status as legacy_status,
        r.appointment_status as new_status,
        l.appointment_source as legacy_source,
        r.appointment_source as new_source,
        l.appointment_start_at as legacy_start_at,
        r.appointment_start_at as new_start_at,
        l.appointment_end_at as legacy_end_at,
        r.appointment_end_at as new_end_at,
        l.appointment_timezone as legacy_timezone,
        r.appointment_timezone as new_timezone,
        l.appointment_booked_at as legacy_booked_at,
        r.appointment_booked_at as new_booked_at,
        l.appointment_canceled_at as legacy_canceled_at,
        r.appointment_canceled_at as new_canceled_at
    from compared as l
    left join rollups as r on r.lead_id = l.lead_id
),

differences as (
    select lead_id, 'appointment_provider' as field, legacy_provider as legacy_value, new_provider as new_value
    from paired where legacy_provider is distinct from new_provider
    union all
    select lead_id, 'ghl_appointment_id', legacy_ghl_appointment_id, new_ghl_appointment_id
    from paired where legacy_ghl_appointment_id is distinct from new_ghl_appointment_id
    union all
    select lead_id, 'calendly_invitee_uri', legacy_calendly_invitee_uri, new_calendly_invitee_uri
    from paired where legacy_calendly_invitee_uri is distinct from new_calendly_invitee_uri
    union all
    select lead_id, 'calendly_scheduled_event_uri', legacy_calendly_scheduled_event_uri, new_calendly_scheduled_event_uri
    from paired where legacy_calendly_scheduled_event_uri is distinct from new_calendly_scheduled_event_uri
    union all
    select lead_id, 'appointment_status', legacy_status, new_status
    from paired where legacy_status is distinct from new_status
    union all
    select lead_id, 'appointment_source', legacy_source, new_source
    from paired where legacy_source is distinct from new_source and coalesce(new_source, '') <> 'migration'
    union all
    select lead_id, 'appointment_start_at', cast(legacy_start_at as text), cast(new_start_at as text)
    from paired where legacy_start_at is distinct from new_start_at
    union all
    select lead_id, 'appointment_end_at', cast(legacy_end_at as text), cast(new_end_at as text)
    from paired where legacy_end_at is distinct from new_end_at
    union all
    select lead_id, 'appointment_timezone', legacy_timezone, new_timezone
    from paired where legacy_timezone is distinct from new_timezone
    union all
    select lead_id, 'appointment_booked_at', cast(legacy_booked_at as text), cast(new_booked_at as text)
    from paired where legacy_booked_at is distinct from new_booked_at
    union all
    select lead_id, 'appointment_canceled_at', cast(legacy_canceled_at as text), cast(new_canceled_at as text)
    from paired where legacy_canceled_at is distinct from new_canceled_at
)

select
    lead_id,
    field,
    legacy_value,
    new_value
from differences
