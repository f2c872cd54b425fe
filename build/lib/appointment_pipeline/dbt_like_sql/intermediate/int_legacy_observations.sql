-- Accepted legacy observations with their final key: a keyless Calendly observation merges into the provider
-- appointment of the same lead and scheduled event once one appears (docs/data-contract.md#legacy-lead-table).
with legacy as (
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
        observed_at
    from stg_legacy_observations
    where reject_reason is null
),

leads as (
    select lead_id, created_at
    from stg_leads
),

provider_observations as (
    select provider, appointment_key, calendly_scheduled_event_uri
    from int_provider_observations
    where provider = 'CALENDLY'
),

resolved_keys as (
    select provider, appointment_key, lead_id
    from int_appointment_leads
    where lead_id is not null
),

calendly_event_keys as (
    select distinct o.appointment_key, o.calendly_scheduled_event_uri, k.lead_id
    from provider_observations as o
    inner join resolved_keys as k on k.provider = o.provider and k.appointment_key = o.appointment_key
    where o.calendly_scheduled_event_uri is not null
),

keyless_matches as (
    select
        l.lead_id,
        min(e.appointment_key) as appointment_key
    from legacy as l
    inner join calendly_event_keys as e
        on e.lead_id = l.lead_id and e.calendly_scheduled_event_uri = l.calendly_scheduled_event_uri
    where l.provider = 'CALENDLY' and l.calendly_invitee_uri is null
    group by l.lead_id
),

keyed as (
    select
        l.lead_id,
        l.provider,
        coalesce(m.appointment_key, l.appointment_key) as appointment_key,
        coalesce(l.calendly_invitee_uri, m.appointment_key) as calendly_invitee_uri,
        l.ghl_appointment_id,
        l.calendly_scheduled_event_uri,
        l.status,
        l.cancel_reason,
        l.canceled_at,
        l.start_at,
        l.end_at,
        l.timezone,
        l.created_at,
        l.observed_at,
        leads.created_at as lead_created_at
    from legacy as l
    left join keyless_matches as m on m.lead_id = l.lead_id
    left join leads on leads.lead_id = l.lead_id
),

claims as (
    -- two leads may carry the same legacy key: the key belongs to the lead that lead resolution picks (latest
    -- createdAt, then smallest id); the other claims stay visible as rejects instead of vanishing
    select
        *,
        row_number() over (
            partition by provider, appointment_key order by lead_created_at desc nulls last, lead_id
        ) as claim_rank,
        first_value(lead_id) over (
            partition by provider, appointment_key order by lead_created_at desc nulls last, lead_id
        ) as key_owner_lead_id
    from keyed
)

select
    lead_id,
    provider,
    appointment_key,
    calendly_invitee_uri,
    ghl_appointment_id,
    calendly_scheduled_event_uri,
    status,
    cancel_reason,
    canceled_at,
    start_at,
    end_at,
    timezone,
    created_at,
    observed_at,
    lead_created_at,
    claim_rank = 1 as owns_key,
    key_owner_lead_id
from claims
