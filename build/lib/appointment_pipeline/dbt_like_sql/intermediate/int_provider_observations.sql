-- Calendly and GHL observations in one shape, each with its place in the key's timeline (observation_seq): the
-- provider's update time orders observations (a late re-delivery of an old state never becomes the newest), then the
-- snapshot day, file and line. first_seen_seq orders them by arrival (snapshot day, file, line) instead.
with calendly as (
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
    from int_calendly_observations
),

ghl as (
    select
        snapshot_date,
        file,
        line,
        ingest_source,
        ghl_appointment_id,
        calendar_id,
        contact_id,
        status,
        cancel_reason,
        canceled_at,
        start_at,
        end_at,
        created_at,
        updated_at
    from stg_ghl_appointments
),

unioned as (
    select
        'CALENDLY' as provider,
        invitee_uri as appointment_key,
        'calendly' as observed_from,
        snapshot_date,
        file,
        line,
        ingest_source,
        status,
        cancel_reason,
        canceled_at,
        start_at,
        end_at,
        timezone,
        created_at,
        updated_at,
        cast(null as text) as ghl_appointment_id,
        invitee_uri as calendly_invitee_uri,
        scheduled_event_uri as calendly_scheduled_event_uri,
        old_invitee_uri,
        new_invitee_uri,
        email_hash,
        cast(null as text) as ghl_contact_id,
        cast(null as text) as ghl_calendar_id
    from calendly
    union all
    select
        'GHL' as provider,
        ghl_appointment_id as appointment_key,
        'ghl' as observed_from,
        snapshot_date,
        file,
        line,
        ingest_source,
        status,
        cancel_reason,
        canceled_at,
        start_at,
        end_at,
        cast(null as text) as timezone,
        created_at,
        updated_at,
        ghl_appointment_id,
        cast(null as text) as calendly_invitee_uri,
        cast(null as text) as calendly_scheduled_event_uri,
        cast(null as text) as old_invitee_uri,
        cast(null as text) as new_invitee_uri,
        cast(null as text) as email_hash,
        contact_id as ghl_contact_id,
        calendar_id as ghl_calendar_id
    from ghl
),

sequenced as (
    select
        *,
        coalesce(updated_at, cast(snapshot_date as timestamptz)) as observed_at
    from unioned
),

ordered as (
    select
        *,
        -- an observation without a provider update time counts as of the start of its snapshot day
        row_number() over (
            partition by provider, appointment_key
            order by observed_at, snapshot_date, file, line
        ) as observation_seq,
        row_number() over (
            partition by provider, appointment_key
            order by snapshot_date, file, line
        ) as first_seen_seq
    from sequenced
)

select
    provider,
    appointment_key,
    observed_from,
    snapshot_date,
    file,
    line,
    ingest_source,
    status,
    cancel_reason,
    canceled_at,
    start_at,
    end_at,
    timezone,
    created_at,
    updated_at,
    observed_at,
    -- never earlier than what came before in the timeline, so history intervals stay ordered
    max(observed_at) over (
        partition by provider, appointment_key
        order by observation_seq
        rows between unbounded preceding and current row
    ) as effective_at,
    ghl_appointment_id,
    calendly_invitee_uri,
    calendly_scheduled_event_uri,
    old_invitee_uri,
    new_invitee_uri,
    email_hash,
    ghl_contact_id,
    ghl_calendar_id,
    observation_seq,
    first_seen_seq
from ordered
