-- Calendly invitee observations completed from their scheduled event. An invitee that arrived without its event
-- takes the event's times from whatever record describes it. An event's cancellation is an observation of its
-- active invitees too (appointment_pipeline.domain.statuses.calendly_status: an active invitee on a canceled event is
-- CANCELED): an invitee observation made after the cancellation that did not carry the event itself reads
-- CANCELED, and an invitee whose newest state is active and older than the cancellation gets one more observation,
-- at the cancellation time, read from the event's record. So history shows when the appointment was canceled.
with invitees as (
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
        invitee_status,
        invitee_canceled,
        event_status,
        status,
        cancel_reason,
        canceled_at,
        start_at,
        end_at,
        timezone,
        created_at,
        updated_at
    from stg_calendly_invitees
),

events as (
    select
        scheduled_event_uri,
        event_status,
        canceled_status,
        event_cancel_reason,
        start_at,
        end_at,
        canceled_at,
        canceled_snapshot_date,
        canceled_file,
        canceled_line
    from int_calendly_events
),

completed as (
    select
        i.*,
        coalesce(i.updated_at, cast(i.snapshot_date as timestamptz)) as observed_at,
        e.start_at as event_start_at,
        e.end_at as event_end_at,
        e.event_cancel_reason as known_event_cancel_reason,
        e.canceled_status as event_canceled_status,
        e.canceled_at as event_canceled_at,
        e.canceled_snapshot_date,
        e.canceled_file,
        e.canceled_line,
        coalesce(
            i.event_status is null
            and not i.invitee_canceled
            and e.canceled_at is not null
            and coalesce(i.updated_at, cast(i.snapshot_date as timestamptz)) >= e.canceled_at,
            false
        ) as canceled_by_event
    from invitees as i
    left join events as e on e.scheduled_event_uri = i.scheduled_event_uri
),

own_observations as (
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
        case when canceled_by_event then event_canceled_status else status end as status,
        case when canceled_by_event then known_event_cancel_reason else cancel_reason end as cancel_reason,
        case when canceled_by_event then coalesce(canceled_at, updated_at) else canceled_at end as canceled_at,
        case when start_at is not null then start_at else event_start_at end as start_at,
        case when start_at is not null then end_at else event_end_at end as end_at,
        timezone,
        created_at,
        updated_at
    from completed
),

statuses as (
    select status as known_status, keeps_cancellation
    from appointment_statuses
),

newest_own as (
    select *
    from (
        select
            *,
            row_number() over (
                partition by invitee_uri order by observed_at desc, snapshot_date desc, file desc, line desc
            ) as recency
        from completed
    ) as ranked
    where recency = 1
),

event_cancellations as (
    select
        canceled_snapshot_date as snapshot_date,
        canceled_file as file,
        canceled_line as line,
        ingest_source,
        invitee_uri,
        scheduled_event_uri,
        old_invitee_uri,
        new_invitee_uri,
        email_hash,
        event_canceled_status as status,
        known_event_cancel_reason as cancel_reason,
        event_canceled_at as canceled_at,
        coalesce(start_at, event_start_at) as start_at,
        case when start_at is not null then end_at else event_end_at end as end_at,
        timezone,
        created_at,
        event_canceled_at as updated_at
    from newest_own
    left join statuses on statuses.known_status = newest_own.status
    -- a live invitee state (not one that already keeps a cancellation) older than the event's cancellation
    where not invitee_canceled
        and not statuses.keeps_cancellation
        and event_canceled_at is not null
        and observed_at < event_canceled_at
)

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
from own_observations
union all
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
from event_cancellations
