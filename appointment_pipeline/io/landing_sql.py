"""The DuckDB SQL that parses landing lines into the raw snapshot columns (no Dagster imports).

Each query reads the registered table ``landing_lines(snapshot_date, file, line, text)`` and returns one row per
line: the provider's raw columns plus ``to_python``. A line is parsed here only when the outcome is certain to equal
appointment_pipeline.domain.parsing (the rules' reference); anything else - JSON that DuckDB reads more leniently
than Python (trailing commas, nan/inf, huge integers, deep nesting, duplicate keys, NUL or surrogate escapes),
a timestamp outside the plain ISO-8601 forms, a status outside the seed mapping, non-ASCII text that Python would
strip or lower-case differently, an identifier that looks like PII, a missing key - is marked ``to_python`` and
parsed by the Python rules, so every reject reason and detail stays theirs.

Statuses come from the ``status_mappings`` seed (registered from dbt_like_sql/seeds/status_mappings.csv, the rows
domain/statuses.py reads); the email hash is HMAC-SHA256 from ``sha256`` over the key pads of ``hash_pads``.
"""

from __future__ import annotations

from appointment_pipeline.domain.redaction import PII_REGEX

# Macros shared by both providers. A JSON value is read as (json_type, json_extract_string) of one path.
MACROS = f"""
-- a JSON fragment (json_extract of one path; null when the path is missing) -> its type, named like json_type's
create or replace macro fragment_type(f) as case
    when f is null then null
    when starts_with(f, '"') then 'VARCHAR' when starts_with(f, '{{') then 'OBJECT' when starts_with(f, '[') then 'ARRAY'
    when f = 'null' then 'NULL' when f = 'true' or f = 'false' then 'BOOLEAN' else 'NUMBER' end;
-- a string fragment's value (unescaped only when it holds an escape); other fragments as they are
create or replace macro fragment_value(f) as case
    when not starts_with(f, '"') then f when contains(f, '\\') then json_extract_string(f, '$') else f[2:-2] end;
create or replace macro is_text(t, v) as t = 'VARCHAR' and v <> '';
-- parsing._text: a non-empty string, else null (NUL and surrogates never reach here: see UNCERTAIN_JSON)
create or replace macro text_of(t, v) as case when is_text(t, v) then v end;
-- text Python's str.strip()/lower() treat like SQL's trim()/lower(): printable ASCII only
create or replace macro plain_ascii(v) as regexp_full_match(v, '[ -~]*');
create or replace macro folded(v) as lower(trim(v));
-- parse_instant's common forms; anything else (and impossible dates) is left to Python
create or replace macro instant_of(t, v) as case
    when is_text(t, v) and regexp_full_match(v,
        '(19|2[0-9])[0-9][0-9]-[01][0-9]-[0-3][0-9][T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{{1,6}})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])')
    then try_cast(v as timestamptz) end;
-- parsing._instant rejects (or may reject) it: not null, not "", and no certain instant i = instant_of(t, v)
create or replace macro instant_uncertain(t, v, i) as
    t is not null and t <> 'NULL' and not (t = 'VARCHAR' and v = '') and i is null;
-- v: one value, or several joined by a newline (concat_ws skips nulls): neither pattern spans a newline, and a
-- newline bounds a phone number as a value's start or end does; one call compiles the regex once per query
create or replace macro looks_like_pii(v) as
    v is not null and regexp_matches(v, '{PII_REGEX.replace("'", "''")}');
create or replace macro no_duplicate_keys(keys) as
    len(list_filter(keys, lambda k: k is not null and len(k) <> len(list_distinct(k)))) = 0;
create or replace macro email_hmac(email, ipad, opad) as case
    when email is not null and trim(email) <> ''
    then sha256(opad || unhex(sha256(ipad || encode(lower(trim(email)))))) end;
"""

# JSON that DuckDB accepts but Python's json.loads refuses or reads differently; also any text escape that could
# decode to a NUL or a lone surrogate. Over-matching only sends a line to Python.
UNCERTAIN_JSON = [  # one literal first character each: RE2 runs these far faster than one alternation
    r",\s*[\]}]",  # trailing comma
    # nan / inf / NaN / Infinity (in any case) as a value: every literal DuckDB reads so starts with nan or inf
    # (a shorter prefix would also match free text such as ", initial" inside strings)
    r":\s*[-+]?([nN][aA][nN]|[iI][nN][fF])",
    r",\s*[-+]?([nN][aA][nN]|[iI][nN][fF])",
    r"\[\s*[-+]?([nN][aA][nN]|[iI][nN][fF])",
    r"\\u0000|\\u[dD][89a-fA-F]",  # NUL, surrogates
]
MAX_DIGITS = 4300  # Python refuses an integer of more digits (sys.get_int_max_str_digits)
MAX_BRACKETS = 200  # far below Python's recursion limit, far above a provider record's nesting

_LINES = f"""
landing as (
    select snapshot_date, file, line, text,
        left(text, 1) = '{{'
            {" ".join(f"and not regexp_matches(text, '{pattern}')" for pattern in UNCERTAIN_JSON)}
            and (strlen(text) <= {MAX_DIGITS} or not regexp_matches(text, '[0-9]{{1000}}'))
            and (strlen(text) <= {2 * MAX_BRACKETS}
                 or strlen(text) - strlen(replace(replace(text, '{{', ''), '[', '')) <= {MAX_BRACKETS}) as certain_text
    from landing_lines
)"""

OBJECT_KEYS = ["", "scheduled_event", "cancellation", "scheduled_event.cancellation"]


def _path(*parts: str) -> str:
    return ".".join(["$", *(p for p in parts if p)])


def _odd_wrapper(wrappers: list[str]) -> str:
    """True when a wrapper key is present but holds no object keys (its key list in ``_extraction``'s order)."""
    return "\n            or ".join(
        f"list_contains(keys[1], '{wrapper}') and len(keys[{n * len(OBJECT_KEYS) + 1}]) = 0"
        for n, wrapper in enumerate(wrappers) if wrapper
    )


def _extraction(top_leaves: list[str], record_leaves: list[str], wrappers: list[str]) -> str:
    """Two parses per line: the keys of every object the rules read (also: is it valid JSON, are its keys unique,
    is a field present, is it a non-empty object) and the JSON fragments of the leaf fields, at the top and under
    each wrapper ('' = the line itself)."""
    keys = [_path(w, k) for w in wrappers for k in OBJECT_KEYS]
    leaves = [_path(p) for p in top_leaves] + [_path(w, p) for w in wrappers for p in record_leaves]
    return f"""
extracted as (
    select snapshot_date, file, line, text, keys,
        coalesce(certain_text and keys is not null and no_duplicate_keys(keys), false) as certain_json,
        case when keys is not null then json_extract(text, [{", ".join(f"'{p}'" for p in leaves)}])::varchar[] end
            as fragments
    from (
        select *,
            case when certain_text and json_valid(text) then json_keys(text, [{", ".join(f"'{k}'" for k in keys)}]) end
                as keys
        from landing
    )
)"""


def _record_fragments(top_count: int, record_leaves: list[str], wrapper_index: str) -> str:
    """The record's keys (``record_keys``, ``<object>_keys``) and leaf fragments (``f_<field>``) under the wrapper the
    shape picked: slices of the extracted lists, taken once."""
    keys = ",\n            ".join(
        f"picked_keys[{i}] as {(k or 'record').replace('.', '__')}_keys" for i, k in enumerate(OBJECT_KEYS, start=1)
    )
    leaves = ",\n            ".join(f"picked[{i}] as f_{p.replace('.', '__')}" for i, p in enumerate(record_leaves, start=1))
    return f"""{keys},
            {leaves}
        from (
            select *,
                list_slice(keys, {wrapper_index} * {len(OBJECT_KEYS)} + 1, {wrapper_index} * {len(OBJECT_KEYS)} + {len(OBJECT_KEYS)})
                    as picked_keys,
                list_slice(fragments, {top_count} + {wrapper_index} * {len(record_leaves)} + 1,
                           {top_count} + {wrapper_index} * {len(record_leaves)} + {len(record_leaves)}) as picked"""


def _typed_leaves(record_leaves: list[str]) -> str:
    """``t_<field>``/``v_<field>``: each leaf fragment's type and value."""
    return ",\n        ".join(
        f"fragment_type(f_{n}) as t_{n}, fragment_value(f_{n}) as v_{n}"
        for n in (p.replace(".", "__") for p in record_leaves)
    )


# -- Calendly ---------------------------------------------------------------------------------------------------

CALENDLY_TOP_LEAVES = ["event"]
CALENDLY_RECORD_LEAVES = [
    "uri", "status", "email", "timezone", "created_at", "updated_at", "old_invitee", "new_invitee", "rescheduled",
    "no_show", "event", "invitee_scheduled_by", "start_time", "end_time", "cancellation.canceler_type",
    "cancellation.created_at", "scheduled_event.uri", "scheduled_event.status", "scheduled_event.updated_at",
    "scheduled_event.start_time", "scheduled_event.end_time", "scheduled_event.cancellation.canceler_type",
]
_CALENDLY_WRAPPERS = ["", "payload", "resource"]  # parsing._calendly_record: bare, webhook envelope, GET body

CALENDLY_SQL = f"""
with {_LINES},
{_extraction(CALENDLY_TOP_LEAVES, CALENDLY_RECORD_LEAVES, _CALENDLY_WRAPPERS)},
shaped as (
    select *,
        -- a wrapper with keys is an object; one present without keys may be {{}}, null or no object: Python's
        {_odd_wrapper(_CALENDLY_WRAPPERS)} as odd_wrapper,
        case
            when len(keys[{len(OBJECT_KEYS) + 1}]) > 0 and list_contains(keys[1], 'event') then 'webhook'
            when len(keys[{2 * len(OBJECT_KEYS) + 1}]) > 0 then 'resource'
            when list_contains(keys[1], 'collection') then 'collection'
            else 'snapshot'
        end as shape,
        fragments[1] as top_event
    from extracted
),
named as (
    select *, fragment_type(top_event) as top_event_type, fragment_value(top_event) as top_event_value from shaped
),
named_event as (
    select *,
        -- parsing._event_name (Python's $ also matches before a final newline: such a value goes to Python)
        case when top_event_type = 'VARCHAR' and regexp_full_match(top_event_value, '[a-z_]{{1,40}}\\.[a-z_]{{1,40}}')
             then top_event_value else 'webhook' end as event_name,
        coalesce(top_event_type = 'VARCHAR'
                 and regexp_full_match(top_event_value, '[a-z_]{{1,40}}\\.[a-z_]{{1,40}}\\n'), false) as odd_event_name
    from named
),
picked as (
    select snapshot_date, file, line, text, certain_json, odd_wrapper, shape, event_name, odd_event_name,
        {_record_fragments(len(CALENDLY_TOP_LEAVES), CALENDLY_RECORD_LEAVES,
                           "(case shape when 'webhook' then 1 when 'resource' then 2 else 0 end)")}
            from named_event
        )
),
fields as (
    select *,
        {_typed_leaves(CALENDLY_RECORD_LEAVES)}
    from picked
),
kinds as (
    select *,
        shape = 'webhook' and not starts_with(event_name, 'invitee.') and not starts_with(event_name, 'invitee_no_show.')
            as other_webhook,
        -- parsing._is_scheduled_event
        case
            when t_uri = 'VARCHAR' and contains(v_uri, '/invitees/') then false
            when t_event is not null or list_contains(record_keys, 'scheduled_event') or t_email is not null
                 or t_invitee_scheduled_by is not null then false
            else t_start_time is not null or (t_uri = 'VARCHAR' and contains(v_uri, '/scheduled_events/'))
        end as is_event,
        -- an embedded event counts only when it is a non-empty object (Python: ``if event``)
        coalesce(len(scheduled_event_keys) > 0, false) as has_event
    from fields
),
event_parts as (
    -- the scheduled event's own fields: the record itself (a /scheduled_events item), or the embedded event
    select *,
        case when is_event then t_status else t_scheduled_event__status end as et_status,
        case when is_event then v_status else v_scheduled_event__status end as ev_status,
        case when is_event then t_cancellation__canceler_type else t_scheduled_event__cancellation__canceler_type end
            as et_canceler,
        case when is_event then v_cancellation__canceler_type else v_scheduled_event__cancellation__canceler_type end
            as ev_canceler,
        case when is_event then t_updated_at else t_scheduled_event__updated_at end as et_updated,
        case when is_event then v_updated_at else v_scheduled_event__updated_at end as ev_updated,
        case when is_event then t_start_time else t_scheduled_event__start_time end as et_start,
        case when is_event then v_start_time else v_scheduled_event__start_time end as ev_start,
        case when is_event then t_end_time else t_scheduled_event__end_time end as et_end,
        case when is_event then v_end_time else v_scheduled_event__end_time end as ev_end
    from kinds
),
described as (
    select *,
        is_event or has_event as describes_event,
        text_of(t_uri, v_uri) as uri_text,
        text_of(et_status, ev_status) as event_status_text,
        case when folded(text_of(et_canceler, ev_canceler)) in ('host', 'invitee')
             then folded(text_of(et_canceler, ev_canceler)) end as event_canceler,
        text_of(t_status, v_status) as invitee_status_text,
        t_rescheduled = 'BOOLEAN' and v_rescheduled = 'true' as is_rescheduled,
        text_of(t_cancellation__canceler_type, v_cancellation__canceler_type) as canceler_text,
        text_of(t_email, v_email) as email_text,
        coalesce(case when has_event then text_of(t_scheduled_event__uri, v_scheduled_event__uri) end,
                 text_of(t_event, v_event)) as event_uri_text,
        instant_of(et_updated, ev_updated) as i_event_updated,
        instant_of(et_start, ev_start) as i_start,
        instant_of(et_end, ev_end) as i_end,
        instant_of(t_updated_at, v_updated_at) as i_updated,
        instant_of(t_created_at, v_created_at) as i_created,
        instant_of(t_cancellation__created_at, v_cancellation__created_at) as i_cancellation_created
    from event_parts
),
mapped as (
    select d.*, inv.status as invitee_mapped, ev.status as event_mapped
    from described as d
    left join status_mappings as inv
        on inv.source = 'calendly_invitee' and inv.raw_value = folded(d.invitee_status_text)
    left join status_mappings as ev
        on ev.source = 'calendly_event' and ev.raw_value = folded(d.event_status_text)
),
statused as (
    select *,
        -- statuses.calendly_status (an event without a status counts as not canceled)
        case
            when invitee_mapped = 'CANCELED' and is_rescheduled then 'RESCHEDULED'
            when invitee_mapped = 'CANCELED' then 'CANCELED'
            when has_event and event_mapped = 'CANCELED' then 'CANCELED'
            when t_no_show = 'OBJECT' then 'NO_SHOW'
            else 'CONFIRMED'
        end as status_code,
        case
            when invitee_mapped = 'CANCELED' and is_rescheduled then 'rescheduled'
            when invitee_mapped = 'CANCELED' and folded(canceler_text) in ('host', 'invitee') then folded(canceler_text)
            when invitee_mapped = 'CANCELED' then null
            when has_event and event_mapped = 'CANCELED' then event_canceler
        end as cancel_code
    from mapped
),
decided as (
    select *,
        coalesce(case
            when not certain_json or odd_wrapper or shape = 'collection' then true
            when other_webhook then odd_event_name
            -- a text field the rules strip or lower-case: Python and SQL agree on printable ASCII
            when not plain_ascii(concat(ev_status, ev_canceler, case when not is_event
                                        then concat(v_status, v_cancellation__canceler_type, email_text) end)) then true
            when is_event then
                uri_text is null
                or event_mapped is null
                or instant_uncertain(et_updated, ev_updated, i_event_updated)
                or instant_uncertain(et_end, ev_end, i_end)
                or i_start is null
                or looks_like_pii(uri_text)
            else
                uri_text is null
                or invitee_mapped is null
                or (has_event and event_status_text is not null and event_mapped is null)
                or (has_event and (instant_uncertain(et_updated, ev_updated, i_event_updated)
                                   or instant_uncertain(et_start, ev_start, i_start)
                                   or instant_uncertain(et_end, ev_end, i_end)))
                or instant_uncertain(t_updated_at, v_updated_at, i_updated)
                or instant_uncertain(t_created_at, v_created_at, i_created)
                or (status_code in ('CANCELED', 'RESCHEDULED')
                    and instant_uncertain(t_cancellation__created_at, v_cancellation__created_at, i_cancellation_created))
                or looks_like_pii(concat_ws(chr(10), uri_text, event_uri_text, text_of(t_old_invitee, v_old_invitee),
                                            text_of(t_new_invitee, v_new_invitee)))
        end, true) as to_python  -- a line nothing above could decide (a null condition) is Python's too
    from statused
),
classified as (
    select *, not to_python and not other_webhook as loaded from decided
)
select
    snapshot_date, file, line, ingest_source,
    case when loaded then shape = 'webhook' end as webhook,
    case when loaded then (case shape when 'webhook' then event_name when 'resource' then 'resource'
                                      else 'snapshot' end) end as delivery,
    case when loaded then (case when is_event then 'scheduled_event' else 'invitee' end) end as record_type,
    case when loaded and not is_event then uri_text end as invitee_uri,
    case when loaded and is_event then uri_text when loaded then event_uri_text end as scheduled_event_uri,
    case when loaded and not is_event then text_of(t_old_invitee, v_old_invitee) end as old_invitee_uri,
    case when loaded and not is_event then text_of(t_new_invitee, v_new_invitee) end as new_invitee_uri,
    case when loaded and not is_event then email_hmac(email_text, pads.ipad, pads.opad) end as email_hash,
    case when loaded and not is_event then invitee_status_text end as invitee_status,
    case when loaded and describes_event then event_status_text end as event_status,
    case when loaded and describes_event then event_canceler end as event_cancel_reason,
    case when loaded and describes_event then i_event_updated end as event_updated_at,
    case when loaded and not is_event then is_rescheduled end as rescheduled,
    case when loaded and not is_event then status_code end as status,
    case when loaded and not is_event then cancel_code end as cancel_reason,
    case when loaded and not is_event and status_code in ('CANCELED', 'RESCHEDULED')
         then coalesce(i_cancellation_created, i_updated) end as canceled_at,
    case when loaded and describes_event then i_start end as start_at,
    case when loaded and describes_event then i_end end as end_at,
    case when loaded and not is_event then text_of(t_timezone, v_timezone) end as timezone,
    case when loaded and not is_event then i_created end as created_at,
    case when loaded and not is_event then i_updated end as updated_at,
    case when loaded then uri_text end as record_key,
    case when not to_python and other_webhook then 'not_an_appointment' end as reject_reason,
    case when not to_python and other_webhook then 'webhook ' || event_name || ' is not about an invitee' end
        as reject_detail,
    to_python,
    case when to_python then text end as text
from classified
cross join hash_pads as pads
join ingest_sources using (snapshot_date)
"""

# -- GHL --------------------------------------------------------------------------------------------------------

GHL_TOP_LEAVES = ["type", "locationId"]
GHL_RECORD_LEAVES = [
    "id", "appointmentStatus", "appoinmentStatus", "locationId", "calendarId", "contactId", "startTime", "endTime",
    "dateAdded", "dateUpdated",
]
_GHL_WRAPPERS = ["", "appointment", "event"]  # parsing.parse_ghl: bare, Appointment* webhook body, GET body

GHL_SQL = f"""
with {_LINES},
{_extraction(GHL_TOP_LEAVES, GHL_RECORD_LEAVES, _GHL_WRAPPERS)},
shaped as (
    select *,
        -- a wrapper with keys is an object; one present without keys may be {{}}, null or no object: Python's
        {_odd_wrapper(_GHL_WRAPPERS)} as odd_wrapper,
        case
            when len(keys[{len(OBJECT_KEYS) + 1}]) > 0 then (
                case when type_fragment in ('"AppointmentCreate"', '"AppointmentUpdate"', '"AppointmentDelete"')
                     then fragment_value(type_fragment) else 'webhook' end)
            when len(keys[{2 * len(OBJECT_KEYS) + 1}]) > 0 then 'resource'
            else 'snapshot'
        end as delivery_name
    from (select *, fragments[1] as type_fragment from extracted)
),
picked as (
    select snapshot_date, file, line, text, certain_json, odd_wrapper, delivery_name,
        case when delivery_name not in ('snapshot', 'resource') then fragments[2] end as envelope_location_fragment,
        {_record_fragments(len(GHL_TOP_LEAVES), GHL_RECORD_LEAVES,
                           "(case delivery_name when 'snapshot' then 0 when 'resource' then 2 else 1 end)")}
            from shaped
        )
),
fields as (
    select *,
        text_of(fragment_type(envelope_location_fragment), fragment_value(envelope_location_fragment))
            as envelope_location,
        {_typed_leaves(GHL_RECORD_LEAVES)}
    from picked
),
mapped as (
    select *,
        coalesce(text_of(t_appointmentStatus, v_appointmentStatus), text_of(t_appoinmentStatus, v_appoinmentStatus))
            as provider_status_text,
        delivery_name = 'AppointmentDelete' as deleted,
        text_of(t_id, v_id) as id_text,
        coalesce(envelope_location, text_of(t_locationId, v_locationId)) as location_text,
        instant_of(t_startTime, v_startTime) as i_start,
        instant_of(t_endTime, v_endTime) as i_end,
        instant_of(t_dateAdded, v_dateAdded) as i_added,
        instant_of(t_dateUpdated, v_dateUpdated) as i_updated
    from fields
),
statused as (
    select m.*,
        case when deleted then 'CANCELED' else s.status end as status_code,
        case when deleted then 'deleted' else s.cancel_reason end as cancel_code
    from mapped as m
    left join status_mappings as s
        on s.source = 'ghl' and s.raw_value = folded(m.provider_status_text)
),
decided as (
    select *,
        coalesce(
            not certain_json or odd_wrapper
            or id_text is null
            or (not deleted and (not plain_ascii(coalesce(provider_status_text, '')) or status_code is null))
            or instant_uncertain(t_dateUpdated, v_dateUpdated, i_updated)
            or i_start is null
            or instant_uncertain(t_endTime, v_endTime, i_end)
            or instant_uncertain(t_dateAdded, v_dateAdded, i_added)
            or looks_like_pii(concat_ws(chr(10), id_text, location_text, text_of(t_calendarId, v_calendarId),
                                        text_of(t_contactId, v_contactId))),
        true) as to_python  -- a line nothing above could decide (a null condition) is Python's too
    from statused
)
select
    snapshot_date, file, line, ingest_source,
    case when not to_python then delivery_name not in ('snapshot', 'resource') end as webhook,
    case when not to_python then delivery_name end as delivery,
    case when not to_python then id_text end as ghl_appointment_id,
    case when not to_python then location_text end as location_id,
    case when not to_python then text_of(t_calendarId, v_calendarId) end as calendar_id,
    case when not to_python then text_of(t_contactId, v_contactId) end as contact_id,
    case when not to_python then provider_status_text end as provider_status,
    case when not to_python then status_code end as status,
    case when not to_python then cancel_code end as cancel_reason,
    case when not to_python and status_code = 'CANCELED' then i_updated end as canceled_at,
    case when not to_python then i_start end as start_at,
    case when not to_python then i_end end as end_at,
    case when not to_python then i_added end as created_at,
    case when not to_python then i_updated end as updated_at,
    case when not to_python then id_text end as record_key,
    null::varchar as reject_reason,
    null::varchar as reject_detail,
    to_python,
    case when to_python then text end as text
from decided
join ingest_sources using (snapshot_date)
"""

PROVIDER_SQL = {"calendly": CALENDLY_SQL, "ghl": GHL_SQL}
