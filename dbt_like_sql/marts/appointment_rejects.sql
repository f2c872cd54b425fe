-- Every record that could not be used, with where it came from and why: rejected landing lines and API records of
-- both providers, and legacy leads whose appointment data breaks the rules. Lines about something other than an
-- appointment (not_an_appointment) are ignored, not bad data: they stay in the raw tables only.
with calendly as (
    select snapshot_date, file, line, record_key, reject_reason, reject_detail
    from raw_calendly_invitees
    where reject_reason is not null and reject_reason <> 'not_an_appointment'
),

ghl as (
    select snapshot_date, file, line, record_key, reject_reason, reject_detail
    from raw_ghl_appointments
    where reject_reason is not null and reject_reason <> 'not_an_appointment'
),

legacy as (
    select lead_id, reject_reason, reject_detail
    from stg_legacy_observations
    where reject_reason is not null
),

legacy_claims as (
    select lead_id, appointment_key, key_owner_lead_id
    from int_legacy_observations
    where not owns_key
),

-- "Lead" values that could not be stored (unparseable or out-of-range timestamp, NUL, PII in a key column).
lead_values as (
    select lead_id, reject_reason, reject_detail
    from raw_leads
    where reject_reason is not null
),

legacy_rejects as (
    select lead_id, reject_reason as reason, reject_detail as detail
    from legacy
    union all
    select
        lead_id,
        'legacy_duplicate_key' as reason,
        'lead ' || key_owner_lead_id || ' claims the same legacy appointment key and owns it' as detail
    from legacy_claims
    union all
    select lead_id, reject_reason as reason, reject_detail as detail
    from lead_values
)

select 'calendly' as source, snapshot_date, file, line, record_key, reject_reason as reason, reject_detail as detail
from calendly
union all
select 'ghl' as source, snapshot_date, file, line, record_key, reject_reason as reason, reject_detail as detail
from ghl
union all
select
    'legacy' as source,
    cast(null as date) as snapshot_date,
    'Lead' as file,
    cast(null as bigint) as line,
    lead_id as record_key,
    reason,
    detail
from legacy_rejects
