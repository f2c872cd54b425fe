-- Records of the raw tables that could not be used: rejected landing lines and API records of both providers, and
-- "Lead" values that could not be stored (unparseable or out-of-range timestamp, NUL, PII in a key column). A reason
-- that reject_reasons.csv marks as no reject (a record about something else) stays in the raw tables only.
with calendly as (
    select snapshot_date, file, line, record_key, reject_reason, reject_detail
    from raw_calendly_invitees
    where reject_reason is not null
),

ghl as (
    select snapshot_date, file, line, record_key, reject_reason, reject_detail
    from raw_ghl_appointments
    where reject_reason is not null
),

lead_values as (
    select lead_id, reject_reason, reject_detail
    from raw_leads
    where reject_reason is not null
),

reasons as (
    select reason, is_reject
    from reject_reasons
),

rejected as (
    select 'calendly' as source, snapshot_date, file, line, record_key, reject_reason, reject_detail
    from calendly
    union all
    select 'ghl' as source, snapshot_date, file, line, record_key, reject_reason, reject_detail
    from ghl
    union all
    select
        'legacy' as source,
        cast(null as date) as snapshot_date,
        'Lead' as file,
        cast(null as bigint) as line,
        lead_id as record_key,
        reject_reason,
        reject_detail
    from lead_values
)

select
    r.source,
    r.snapshot_date,
    r.file,
    r.line,
    r.record_key,
    r.reject_reason as reason,
    r.reject_detail as detail
from rejected as r
left join reasons on reasons.reason = r.reject_reason
-- an unknown code is kept: the accepted_values test on appointment_rejects.reason reports it
where coalesce(reasons.is_reject, true)
