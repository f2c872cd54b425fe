-- Loaded GHL appointment observations, one per landing line or API record. A webhook body is how an observation was
-- seen first when it arrived in one; otherwise the snapshot day's ingest stamp says how. One source, one select:
-- each column is stated once.
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
from raw_ghl_appointments
where reject_reason is null
