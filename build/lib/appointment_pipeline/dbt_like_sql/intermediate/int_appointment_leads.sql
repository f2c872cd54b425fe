-- Lead resolution per provider key (docs/data-contract.md#lead-resolution): legacy key, then GHL contact, then Calendly email hash.
with observations as (
    select
        provider,
        appointment_key,
        observation_seq,
        email_hash,
        ghl_contact_id
    from int_provider_observations
),

leads as (
    select
        lead_id,
        email_hash,
        ghl_contact_id,
        ghl_appointment_id,
        calendly_invitee_uri,
        created_at
    from stg_leads
),

newest as (
    -- match on what the newest observation of the key says
    select
        provider,
        appointment_key,
        email_hash,
        ghl_contact_id,
        row_number() over (partition by provider, appointment_key order by observation_seq desc) as recency
    from observations
),

provider_keys as (
    select provider, appointment_key, email_hash, ghl_contact_id
    from newest
    where recency = 1
),

candidates as (
    select k.provider, k.appointment_key, l.lead_id, l.created_at, 1 as method_rank, 'legacy_key' as match_method
    from provider_keys as k
    inner join leads as l on k.provider = 'GHL' and l.ghl_appointment_id = k.appointment_key
    union all
    select k.provider, k.appointment_key, l.lead_id, l.created_at, 1 as method_rank, 'legacy_key' as match_method
    from provider_keys as k
    inner join leads as l on k.provider = 'CALENDLY' and l.calendly_invitee_uri = k.appointment_key
    union all
    select k.provider, k.appointment_key, l.lead_id, l.created_at, 2 as method_rank, 'ghl_contact' as match_method
    from provider_keys as k
    inner join leads as l on k.provider = 'GHL' and l.ghl_contact_id = k.ghl_contact_id
    union all
    select k.provider, k.appointment_key, l.lead_id, l.created_at, 3 as method_rank, 'email_hash' as match_method
    from provider_keys as k
    inner join leads as l on k.provider = 'CALENDLY' and l.email_hash = k.email_hash
),

ranked as (
    select
        provider,
        appointment_key,
        lead_id,
        match_method,
        row_number() over (
            partition by provider, appointment_key
            order by method_rank, created_at desc nulls last, lead_id
        ) as preference
    from candidates
)

select
    k.provider,
    k.appointment_key,
    r.lead_id,
    r.match_method,
    case
        when r.lead_id is not null then null
        when k.provider = 'GHL' and k.ghl_contact_id is null then 'missing_contact_id'
        when k.provider = 'GHL' then 'no_lead_for_contact'
        when k.email_hash is null then 'missing_email'
        else 'no_lead_for_email'
    end as unmatched_reason
from provider_keys as k
left join ranked as r
    on r.provider = k.provider and r.appointment_key = k.appointment_key and r.preference = 1
