-- Which appointment each appointment replaced. Provider links come from Calendly old_invitee/new_invitee (either
-- half, any day, any order), in the direction Calendly gives; heuristic links pair a GHL booking with a cancellation
-- of the same lead and calendar in the 14 days before it (always pointing back in time). A link never crosses leads;
-- links that would close a cycle (only contradictory provider data can) are dropped.
-- The import CTEs are read several times: NOT MATERIALIZED lets PostgreSQL plan on the tables' statistics.
with recursive appointments as not materialized (
    select
        id,
        provider,
        appointment_key,
        lead_id,
        ghl_calendar_id,
        status,
        canceled_at,
        coalesce(created_at, cast('1970-01-01 00:00:00+00' as timestamptz)) as booked_at
    from int_appointments_merged
),

calendly_observations as not materialized (
    select appointment_key, old_invitee_uri, new_invitee_uri
    from int_provider_observations
    where provider = 'CALENDLY'
),

observed_pairs as (
    select appointment_key as old_key, new_invitee_uri as new_key
    from calendly_observations
    where new_invitee_uri is not null
    union
    select old_invitee_uri as old_key, appointment_key as new_key
    from calendly_observations
    where old_invitee_uri is not null
),

provider_candidates as (
    select
        successor.id as appointment_id,
        predecessor.id as rescheduled_from_id,
        successor.booked_at as successor_booked_at,
        predecessor.booked_at as predecessor_rank_at
    from observed_pairs as p
    inner join appointments as successor
        on successor.provider = 'CALENDLY' and successor.appointment_key = p.new_key
    inner join appointments as predecessor
        on predecessor.provider = 'CALENDLY' and predecessor.appointment_key = p.old_key
    where successor.lead_id = predecessor.lead_id
        and successor.id <> predecessor.id
),

heuristic_candidates as (
    select
        successor.id as appointment_id,
        predecessor.id as rescheduled_from_id,
        successor.booked_at as successor_booked_at,
        predecessor.canceled_at as predecessor_rank_at
    from appointments as successor
    inner join appointments as predecessor
        on predecessor.lead_id = successor.lead_id
        and predecessor.ghl_calendar_id = successor.ghl_calendar_id
        and predecessor.provider = 'GHL'
        and successor.provider = 'GHL'
    where predecessor.status = 'CANCELED'
        and predecessor.canceled_at is not null
        and successor.booked_at >= predecessor.canceled_at
        and successor.booked_at <= predecessor.canceled_at + interval '14 days'
        and (
            predecessor.booked_at < successor.booked_at
            or (predecessor.booked_at = successor.booked_at and predecessor.id < successor.id)
        )
),

candidates as (
    select appointment_id, rescheduled_from_id, successor_booked_at, predecessor_rank_at, 'provider' as link_method
    from provider_candidates
    union all
    select appointment_id, rescheduled_from_id, successor_booked_at, predecessor_rank_at, 'heuristic' as link_method
    from heuristic_candidates
),

best_predecessor as (
    -- one predecessor per appointment: provider links first, then the most recent one
    select *
    from (
        select
            *,
            row_number() over (
                partition by appointment_id
                order by case when link_method = 'provider' then 0 else 1 end, predecessor_rank_at desc, rescheduled_from_id
            ) as pick
        from candidates
    ) as ranked
    where pick = 1
),

best_successor as (
    -- and one successor per predecessor: the earliest booked
    select *
    from (
        select
            *,
            row_number() over (
                partition by rescheduled_from_id
                order by case when link_method = 'provider' then 0 else 1 end, successor_booked_at, appointment_id
            ) as pick_successor
        from best_predecessor
    ) as ranked
    where pick_successor = 1
),

chain_links as (
    -- the links reachable from the start of a chain; with one predecessor and one successor each, a link that is
    -- never reached lies on a cycle. The recursion carries the link itself: a membership test of every link against
    -- the reached set afterwards gets a nested-loop plan on PostgreSQL (it cannot estimate these CTEs' sizes).
    select appointment_id, rescheduled_from_id, link_method
    from best_successor
    where rescheduled_from_id not in (select appointment_id from best_successor)
    union all
    select links.appointment_id, links.rescheduled_from_id, links.link_method
    from best_successor as links
    inner join chain_links as reached on links.rescheduled_from_id = reached.appointment_id
)

select
    appointment_id,
    rescheduled_from_id,
    link_method
from chain_links
