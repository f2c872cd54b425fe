-- One row per distinct state (status, start, end) of an appointment; consecutive identical observations collapse,
-- and valid_to of a row is valid_from of the next.
with observations as (
    select
        provider,
        appointment_key,
        observation_seq,
        observed_from,
        snapshot_date,
        status,
        start_at,
        end_at,
        effective_at
    from int_provider_observations
),

appointments as (
    select
        id,
        provider,
        appointment_key,
        status,
        start_at,
        end_at,
        status_changed_at,
        has_provider_observations
    from int_appointments_merged
),

provider_states as (
    select
        a.id as appointment_id,
        o.observation_seq,
        o.observed_from,
        o.snapshot_date,
        o.status,
        o.start_at,
        o.end_at,
        o.effective_at,
        case
            when lag(o.observation_seq) over w is null then 1
            when o.status is distinct from lag(o.status) over w then 1
            when o.start_at is distinct from lag(o.start_at) over w then 1
            when o.end_at is distinct from lag(o.end_at) over w then 1
            else 0
        end as starts_state
    from observations as o
    inner join appointments as a on a.provider = o.provider and a.appointment_key = o.appointment_key
    window w as (partition by a.id order by o.observation_seq)
),

state_starts as (
    select appointment_id, observation_seq, observed_from, snapshot_date, status, start_at, end_at, effective_at
    from provider_states
    where starts_state = 1
),

legacy_only_states as (
    select
        id as appointment_id,
        cast(0 as bigint) as observation_seq,
        'legacy' as observed_from,
        cast(null as date) as snapshot_date,
        status,
        start_at,
        end_at,
        status_changed_at as effective_at
    from appointments
    where not has_provider_observations
),

states as (
    select appointment_id, observation_seq, observed_from, snapshot_date, status, start_at, end_at, effective_at
    from state_starts
    union all
    select appointment_id, observation_seq, observed_from, snapshot_date, status, start_at, end_at, effective_at
    from legacy_only_states
)

select
    appointment_id,
    status,
    start_at,
    end_at,
    effective_at as valid_from,
    lead(effective_at) over (partition by appointment_id order by observation_seq) as valid_to,
    observed_from,
    snapshot_date
from states
