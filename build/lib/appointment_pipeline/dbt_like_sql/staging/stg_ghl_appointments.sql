-- Loaded GHL appointment observations, one per landing line or API record. A webhook body is how an observation was
-- seen first when it arrived in one; otherwise the snapshot day's ingest stamp says how.
with appointments as (
    select
        snapshot_date,
        file,
        line,
        ingest_source,
        webhook,
        ghl_appointment_id,
        calendar_id,
        contact_id,
        status,
        cancel_reason,
        canceled_at,
        start_at,
        end_at,
        created_at,
        updated_at,
        reject_reason
    from raw_ghl_appointments
)

select
    snapshot_date,
    file,
    line,
    case when webhook then 'WEBHOOK' else ingest_source end as ingest_source,
    ghl_appointment_id,
    calendar_id,
    contact_id,
    status,
    cancel_reason,
    canceled_at,
    start_at,
    end_at,
    created_at,
    updated_at
from appointments
where reject_reason is null
