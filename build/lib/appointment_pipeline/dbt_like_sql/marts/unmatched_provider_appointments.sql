-- Provider appointments that belong to no known lead (docs/data-contract.md#lead-resolution): kept, never guessed. One row per
-- key and snapshot day on which it was observed.
with observations as (
    select provider, appointment_key, snapshot_date
    from int_provider_observations
),

unmatched_keys as (
    select provider, appointment_key, unmatched_reason
    from int_appointment_leads
    where lead_id is null
)

select distinct
    o.provider,
    o.appointment_key as key,
    o.snapshot_date,
    u.unmatched_reason as reason
from observations as o
inner join unmatched_keys as u on u.provider = o.provider and u.appointment_key = o.appointment_key
