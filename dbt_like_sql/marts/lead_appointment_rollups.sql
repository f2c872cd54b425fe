-- Per lead: the primary appointment at :reference_time (docs/data-contract.md#primary-appointment-rule) in the legacy rollup columns.
-- appointment_pipeline.domain.rollup.select_primary_appointment is the same rule in Python; a property test keeps them equal.
with lead_appointments as (
    select
        id,
        lead_id,
        provider,
        ghl_appointment_id,
        calendly_invitee_uri,
        calendly_scheduled_event_uri,
        start_at,
        end_at,
        timezone,
        status,
        status_changed_at,
        canceled_at,
        source,
        created_at
    from appointments
),

statuses as (
    select status, legacy_spelling, primary_tier, upcoming_first
    from appointment_statuses
),

tiered as (
    -- dbt_like_sql/seeds/appointment_statuses.csv: tier 1 is an upcoming appointment of an upcoming_first status
    select
        a.*,
        s.legacy_spelling,
        case when s.upcoming_first and a.start_at > :reference_time then 1 else s.primary_tier end as tier
    from lead_appointments as a
    left join statuses as s on s.status = a.status
),

ranked as (
    select
        *,
        row_number() over (
            partition by lead_id
            order by
                tier,
                case when tier = 1 then start_at end asc nulls last,
                case when tier = 2 then start_at end desc nulls last,
                case when tier = 3 then coalesce(canceled_at, created_at) end desc nulls last,
                case when tier = 4 then status_changed_at end desc nulls last,
                created_at desc nulls last,
                id asc
        ) as preference,
        count(*) over (partition by lead_id) as appointment_count
    from tiered
)

select
    lead_id,
    id as primary_appointment_id,
    appointment_count,
    :reference_time as reference_time,
    provider as appointment_provider,
    ghl_appointment_id,
    calendly_invitee_uri,
    calendly_scheduled_event_uri,
    legacy_spelling as appointment_status,
    lower(source) as appointment_source,
    start_at as appointment_start_at,
    end_at as appointment_end_at,
    timezone as appointment_timezone,
    created_at as appointment_booked_at,
    canceled_at as appointment_canceled_at
from ranked
where preference = 1
