-- Leads as match targets: ids, match keys and the timestamps that break ties between candidate leads. One source,
-- one select: each column is stated once.
select
    lead_id,
    email_hash,
    nullif(trim(ghl_contact_id), '') as ghl_contact_id,
    nullif(trim(ghl_appointment_id), '') as ghl_appointment_id,
    nullif(trim(calendly_invitee_uri), '') as calendly_invitee_uri,
    created_at
from raw_leads
