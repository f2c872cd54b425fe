-- One row per appointment key with a lead: the newest provider state, legacy filling only what providers never
-- said, the booking time, how it was first seen and when its current status began.
with provider_observations as (
    select
        provider,
        appointment_key,
        observation_seq,
        first_seen_seq,
        ingest_source,
        status,
        cancel_reason,
        canceled_at,
        start_at,
        end_at,
        timezone,
        created_at,
        observed_at,
        effective_at,
        ghl_appointment_id,
        calendly_invitee_uri,
        calendly_scheduled_event_uri,
        ghl_calendar_id
    from int_provider_observations
),

key_leads as (
    select provider, appointment_key, lead_id
    from int_appointment_leads
    where lead_id is not null
),

legacy_observations as (
    select
        lead_id,
        provider,
        appointment_key,
        ghl_appointment_id,
        calendly_invitee_uri,
        calendly_scheduled_event_uri,
        status,
        cancel_reason,
        canceled_at,
        start_at,
        end_at,
        timezone,
        created_at,
        observed_at,
        owns_key
    from int_legacy_observations
),

resolved as (
    select o.*, k.lead_id
    from provider_observations as o
    inner join key_leads as k on k.provider = o.provider and k.appointment_key = o.appointment_key
),

status_changes as (
    select
        *,
        case
            when status is distinct from lag(status) over (
                partition by provider, appointment_key order by observation_seq
            ) then 1
            else 0
        end as starts_streak
    from resolved
),

streaks as (
    select
        *,
        sum(starts_streak) over (
            partition by provider, appointment_key
            order by observation_seq
            rows between unbounded preceding and current row
        ) as streak
    from status_changes
),

timeline as (
    -- one pass of window functions instead of joining aggregates back (planners misjudge such self-joins)
    select
        *,
        first_value(effective_at) over (
            partition by provider, appointment_key, streak order by observation_seq
        ) as streak_started_at,
        first_value(canceled_at) over (
            partition by provider, appointment_key, streak order by observation_seq
        ) as streak_canceled_at,
        first_value(ingest_source) over (
            partition by provider, appointment_key order by first_seen_seq
        ) as first_ingest_source,
        min(created_at) over (partition by provider, appointment_key) as first_created_at,
        max(observed_at) over (partition by provider, appointment_key) as last_observed_at,
        row_number() over (partition by provider, appointment_key order by observation_seq desc) as recency
    from streaks
),

newest as (
    -- the newest observation lies in the current status streak, so its streak values are the current ones
    select *, streak_started_at as status_changed_at
    from timeline
    where recency = 1
),

legacy as (
    select *
    from legacy_observations
    where owns_key
),

merged as (
    select
        coalesce(n.provider, l.provider) as provider,
        coalesce(n.appointment_key, l.appointment_key) as appointment_key,
        coalesce(n.lead_id, l.lead_id) as lead_id,
        coalesce(n.ghl_appointment_id, l.ghl_appointment_id) as ghl_appointment_id,
        coalesce(n.calendly_invitee_uri, l.calendly_invitee_uri) as calendly_invitee_uri,
        coalesce(n.calendly_scheduled_event_uri, l.calendly_scheduled_event_uri) as calendly_scheduled_event_uri,
        n.ghl_calendar_id,
        coalesce(n.start_at, l.start_at) as start_at,
        coalesce(n.end_at, l.end_at) as end_at,
        coalesce(n.timezone, l.timezone) as timezone,
        coalesce(n.status, l.status) as status,
        case when n.provider is not null then n.status_changed_at else coalesce(l.observed_at, l.created_at) end
            as status_changed_at,
        coalesce(n.streak_canceled_at, l.canceled_at) as candidate_canceled_at,
        case when n.provider is not null then n.cancel_reason else l.cancel_reason end as cancel_reason,
        case when l.provider is not null then 'MIGRATION' else n.first_ingest_source end as source,
        case
            when n.first_created_at is null then l.created_at
            when l.created_at is null then n.first_created_at
            when l.created_at < n.first_created_at then l.created_at
            else n.first_created_at
        end as created_at,
        coalesce(n.last_observed_at, l.observed_at) as updated_at,
        n.provider is not null as has_provider_observations
    from newest as n
    full outer join legacy as l on l.provider = n.provider and l.appointment_key = n.appointment_key
),

statuses as (
    select status, keeps_cancellation
    from appointment_statuses
),

with_status as (
    select m.*, s.keeps_cancellation
    from merged as m
    left join statuses as s on s.status = m.status
)

select
    md5(provider || ':' || appointment_key) as id,
    provider,
    appointment_key,
    lead_id,
    ghl_appointment_id,
    calendly_invitee_uri,
    calendly_scheduled_event_uri,
    ghl_calendar_id,
    start_at,
    end_at,
    timezone,
    status,
    status_changed_at,
    case when keeps_cancellation then candidate_canceled_at end as canceled_at,
    case when keeps_cancellation then cancel_reason end as cancel_reason,
    source,
    created_at,
    updated_at,
    has_provider_observations
from with_status
