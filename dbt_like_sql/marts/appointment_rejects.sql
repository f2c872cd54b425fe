-- Every record that could not be used, with where it came from and why: rejected landing lines and API records of
-- both providers and "Lead" values that could not be stored (stg_rejected_records), and legacy leads whose
-- appointment data breaks the rules.
with rejected_records as (
    select source, snapshot_date, file, line, record_key, reason, detail
    from stg_rejected_records
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

legacy_rejects as (
    select lead_id, reject_reason as reason, reject_detail as detail
    from legacy
    union all
    select
        lead_id,
        'legacy_duplicate_key' as reason,
        'lead ' || key_owner_lead_id || ' claims the same legacy appointment key and owns it' as detail
    from legacy_claims
)

select source, snapshot_date, file, line, record_key, reason, detail
from rejected_records
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
