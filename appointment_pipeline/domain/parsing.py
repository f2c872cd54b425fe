"""Landing-zone and API records -> flat, PII-free raw rows, or rejects with a reason (no Dagster imports).

One parser per provider turns a provider object (a landing line or an API record) into the columns of its raw
table. A line that cannot be used still becomes a row, with ``reject_reason`` set and every data column null, so
that loaded + rejected = lines holds per file and the rejects mart can list it with file, line and reason.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from appointment_pipeline.domain.redaction import IdentifierLooksLikePii, check_identifier, describe_value, email_hash
from appointment_pipeline.domain.instants import parse_instant
from appointment_pipeline.domain.statuses import (
    CALENDLY_EVENT_STATUS,
    LineReason,
    UnknownStatus,
    calendly_status,
    ghl_status,
    provider_canceler,
)


class Reject(Exception):
    """A record that is not loaded as an observation: ``reason`` is a LineReason code, ``detail`` holds no PII."""

    def __init__(self, reason: LineReason, detail: str, record_key: str | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.record_key = LineReason(reason), detail, record_key


@dataclass(frozen=True)
class RawColumn:
    name: str
    arrow_type: pa.DataType
    sql_type: str
    description: str


TS = pa.timestamp("us", tz="UTC")

# Columns every snapshot table starts and ends with.
LINEAGE_COLUMNS = [
    RawColumn("snapshot_date", pa.date32(), "date", "Snapshot day = landing folder date = partition key."),
    RawColumn("file", pa.string(), "text", "Landing file path relative to the provider folder, or `api:{endpoint}`."),
    RawColumn("line", pa.int64(), "bigint", "1-based line number in the file (record number for API pulls)."),
    RawColumn("ingest_source", pa.string(), "text", "How the partition was first materialized: MANUAL, BACKFILL or RECONCILE_CRON."),
    RawColumn("webhook", pa.bool_(), "boolean", "The record arrived in a webhook body (a Calendly envelope, a GHL Appointment* body)."),
]
REJECT_COLUMNS = [
    RawColumn("record_key", pa.string(), "text", "The idempotency key when it could be read, also on rejected lines."),
    RawColumn(
        "reject_reason",
        pa.string(),
        "text",
        "Null for a loaded line; else why it was not loaded: malformed_json, missing_key, bad_timestamp, unknown_status "
        "(rejects), or not_an_appointment (an ignored record about something else, not bad data).",
    ),
    RawColumn("reject_detail", pa.string(), "text", "Which field and why, never the record's personal data."),
]

CALENDLY_COLUMNS = [
    *LINEAGE_COLUMNS,
    RawColumn(
        "delivery",
        pa.string(),
        "text",
        "Webhook event name (invitee.created, invitee.canceled, ...), 'resource' for an API GET body or 'snapshot' for "
        "a bare object.",
    ),
    RawColumn(
        "record_type",
        pa.string(),
        "text",
        "invitee (an appointment observation) or scheduled_event (a description of an event's times and status, "
        "from a /scheduled_events item); null on a line that was not loaded.",
    ),
    RawColumn("invitee_uri", pa.string(), "text", "Calendly invitee URI: the idempotency key (null on a scheduled_event row)."),
    RawColumn("scheduled_event_uri", pa.string(), "text", "Scheduled event URI (shared by the invitees of a group event)."),
    RawColumn("old_invitee_uri", pa.string(), "text", "On a rescheduled booking: the invitee it replaced."),
    RawColumn("new_invitee_uri", pa.string(), "text", "On a rescheduled-away booking: its replacement."),
    RawColumn("email_hash", pa.string(), "text", "HMAC-SHA256 of the invitee's normalized email."),
    RawColumn("invitee_status", pa.string(), "text", "Provider invitee status (active, canceled)."),
    RawColumn("event_status", pa.string(), "text", "Scheduled event status (active, canceled) when the record describes the event."),
    RawColumn("event_cancel_reason", pa.string(), "text", "Cancel reason code of a canceled scheduled event: host or invitee."),
    RawColumn("event_updated_at", TS, "timestamptz", "The scheduled event's updated_at: orders descriptions of one event."),
    RawColumn("rescheduled", pa.bool_(), "boolean", "Provider flag: this invitee was replaced by a reschedule."),
    RawColumn(
        "status",
        pa.string(),
        "text",
        "Normalized status from the invitee and, when the record embeds it, the scheduled event (docs/data-contract.md).",
    ),
    RawColumn("cancel_reason", pa.string(), "text", "Cancel reason code: invitee, host, rescheduled."),
    RawColumn("canceled_at", TS, "timestamptz", "cancellation.created_at, else updated_at, for canceled states."),
    RawColumn("start_at", TS, "timestamptz", "Scheduled event start, when the record describes the event; else null."),
    RawColumn("end_at", TS, "timestamptz", "Scheduled event end, when the record describes the event; else null."),
    RawColumn("timezone", pa.string(), "text", "Invitee's IANA time zone."),
    RawColumn("created_at", TS, "timestamptz", "Invitee created_at: the booking time."),
    RawColumn("updated_at", TS, "timestamptz", "Invitee updated_at: orders observations of one key."),
    *REJECT_COLUMNS,
]

GHL_COLUMNS = [
    *LINEAGE_COLUMNS,
    RawColumn("delivery", pa.string(), "text", "Webhook type (AppointmentCreate/Update/Delete) or 'snapshot' for a bare object."),
    RawColumn("ghl_appointment_id", pa.string(), "text", "GHL appointment (event) id: the idempotency key."),
    RawColumn("location_id", pa.string(), "text", "GHL sub-account id."),
    RawColumn("calendar_id", pa.string(), "text", "GHL calendar id."),
    RawColumn("contact_id", pa.string(), "text", "GHL contact id (pseudonymous key, matched to Lead.ghlContactId)."),
    RawColumn("provider_status", pa.string(), "text", "appointmentStatus as sent (either spelling of the key)."),
    RawColumn("status", pa.string(), "text", "Normalized status (docs/data-contract.md, status mappings)."),
    RawColumn("cancel_reason", pa.string(), "text", "Cancel reason code: invalid, deleted."),
    RawColumn("canceled_at", TS, "timestamptz", "dateUpdated of a canceled state."),
    RawColumn("start_at", TS, "timestamptz", "startTime in UTC."),
    RawColumn("end_at", TS, "timestamptz", "endTime in UTC."),
    RawColumn("created_at", TS, "timestamptz", "dateAdded: the booking time."),
    RawColumn("updated_at", TS, "timestamptz", "dateUpdated: orders observations of one key."),
    *REJECT_COLUMNS,
]


def arrow_schema(columns: list[RawColumn]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow_type) for c in columns])


def _instant(obj: dict, field: str, *, required: bool, key: str | None, label: str | None = None) -> datetime | None:
    value = obj.get(field)
    name = label or field
    if value is None or value == "":
        if required:
            raise Reject(LineReason.BAD_TIMESTAMP, f"{name} is missing", key)
        return None
    if not isinstance(value, str):
        raise Reject(LineReason.BAD_TIMESTAMP, f"{name} is not a string", key)
    try:
        return parse_instant(value)
    except (ValueError, OverflowError):
        raise Reject(
            LineReason.BAD_TIMESTAMP, f"{name} is not an ISO-8601 instant with an offset ({describe_value(value)})", key
        ) from None


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or value == "":
        return None
    # A NUL or a lone surrogate cannot be stored as text (PostgreSQL refuses NUL, Arrow refuses surrogates).
    if "\x00" in value or not _encodable(value):
        raise Reject(LineReason.MALFORMED_JSON, "a text field holds a NUL or an invalid unicode character")
    return value


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_INVITEE_WEBHOOKS = ("invitee.", "invitee_no_show.")
_EVENT_NAME = re.compile(r"^[a-z_]{1,40}\.[a-z_]{1,40}$")


def _event_name(value: Any) -> str:
    """A webhook's event name as stored: the provider's dotted token, anything else as 'webhook' (never free text)."""
    return value if isinstance(value, str) and _EVENT_NAME.match(value) else "webhook"


def _calendly_record(obj: Any) -> tuple[dict, str, bool]:
    """Unwrap a Calendly line: (record, delivery, arrived in a webhook). Raises Reject for what is not a record."""
    if not isinstance(obj, dict):
        raise Reject(LineReason.MALFORMED_JSON, "line is not a JSON object")
    if isinstance(obj.get("payload"), dict) and "event" in obj:
        name = _event_name(obj.get("event"))
        if not name.startswith(_INVITEE_WEBHOOKS):
            raise Reject(LineReason.NOT_AN_APPOINTMENT, f"webhook {name} is not about an invitee")
        return obj["payload"], name, True
    if isinstance(obj.get("resource"), dict):
        return obj["resource"], "resource", False
    if isinstance(obj.get("collection"), list):
        raise Reject(LineReason.MALFORMED_JSON, "a list response: land one record of its collection per line")
    return obj, "snapshot", False


def _is_scheduled_event(record: dict) -> bool:
    """A /scheduled_events item (its own times and status) rather than an invitee of one."""
    uri = record.get("uri")
    if isinstance(uri, str) and "/invitees/" in uri:
        return False
    if any(field in record for field in ("event", "scheduled_event", "email", "invitee_scheduled_by")):
        return False
    return "start_time" in record or (isinstance(uri, str) and "/scheduled_events/" in uri)


def _object(value: Any) -> dict[str, Any]:
    """A nested JSON object, or an empty one when the field is absent or not an object."""
    return value if isinstance(value, dict) else {}


def _event_fields(event: dict, key: str | None, *, prefix: str) -> dict[str, Any]:
    """What a scheduled event record (embedded or on its own) says about the event."""
    cancellation = _object(event.get("cancellation"))
    return {
        "event_status": _text(event.get("status")),
        "event_cancel_reason": provider_canceler(_text(cancellation.get("canceler_type"))),
        "event_updated_at": _instant(event, "updated_at", required=False, key=key, label=f"{prefix}updated_at"),
        "start_at": _instant(event, "start_time", required=False, key=key, label=f"{prefix}start_time"),
        "end_at": _instant(event, "end_time", required=False, key=key, label=f"{prefix}end_time"),
    }


def parse_calendly(obj: Any, hash_key: str) -> dict[str, Any]:
    """A Calendly invitee (bare, in a webhook envelope or a GET body; with its scheduled event embedded or only the
    event's URI), or a scheduled event on its own (a /scheduled_events item) -> raw columns."""
    record, delivery, webhook = _calendly_record(obj)
    if _is_scheduled_event(record):
        return _parse_calendly_event(record, delivery, webhook)
    key = _text(record.get("uri"))
    if key is None:
        raise Reject(LineReason.MISSING_KEY, "invitee uri is missing")
    event = record.get("scheduled_event") if isinstance(record.get("scheduled_event"), dict) else None
    cancellation = _object(record.get("cancellation"))
    rescheduled = record.get("rescheduled") is True
    event_fields = _event_fields(event, key, prefix="scheduled_event.") if event else {}
    try:
        # Without an embedded event the event's status is not known here: the SQL layer completes it from any
        # record that describes the event (int_calendly_observations).
        status, cancel_reason = calendly_status(
            _text(record.get("status")),
            event_fields.get("event_status"),
            rescheduled=rescheduled,
            no_show=isinstance(record.get("no_show"), dict),
            canceler_type=_text(cancellation.get("canceler_type")),
            event_canceler_type=event_fields.get("event_cancel_reason"),
        )
    except UnknownStatus as exc:
        raise Reject(LineReason.UNKNOWN_STATUS, str(exc), key) from None
    updated_at = _instant(record, "updated_at", required=False, key=key)
    canceled_at = None
    if status in ("CANCELED", "RESCHEDULED"):  # cancellation.created_at, else updated_at
        canceled_at = _instant(cancellation, "created_at", required=False, key=key, label="cancellation.created_at")
        canceled_at = canceled_at or updated_at
    return {
        **event_fields,
        "delivery": delivery,
        "webhook": webhook,
        "record_type": "invitee",
        "invitee_uri": key,
        "scheduled_event_uri": (_text(event.get("uri")) if event else None) or _text(record.get("event")),
        "old_invitee_uri": _text(record.get("old_invitee")),
        "new_invitee_uri": _text(record.get("new_invitee")),
        "email_hash": email_hash(_text(record.get("email")), hash_key),
        "invitee_status": _text(record.get("status")),
        "rescheduled": rescheduled,
        "status": str(status),
        "cancel_reason": cancel_reason and str(cancel_reason),
        "canceled_at": canceled_at,
        "timezone": _text(record.get("timezone")),
        "created_at": _instant(record, "created_at", required=False, key=key),
        "updated_at": updated_at,
        "record_key": key,
    }


def _parse_calendly_event(event: dict, delivery: str, webhook: bool) -> dict[str, Any]:
    key = _text(event.get("uri"))
    if key is None:
        raise Reject(LineReason.MISSING_KEY, "scheduled event uri is missing")
    status = _text(event.get("status"))
    if (status or "").strip().lower() not in CALENDLY_EVENT_STATUS:
        raise Reject(LineReason.UNKNOWN_STATUS, f"scheduled event status is not a known status ({describe_value(status or '')})", key)
    fields = _event_fields(event, key, prefix="")
    if fields["start_at"] is None:
        raise Reject(LineReason.BAD_TIMESTAMP, "scheduled event start_time is missing", key)
    return {
        **fields,
        "delivery": delivery,
        "webhook": webhook,
        "record_type": "scheduled_event",
        "scheduled_event_uri": key,
        "record_key": key,
    }


_GHL_WEBHOOK_TYPES = {name: name for name in ("AppointmentCreate", "AppointmentUpdate", "AppointmentDelete")}


def parse_ghl(obj: Any, hash_key: str) -> dict[str, Any]:
    """A GHL calendar event, bare or in an AppointmentCreate/Update/Delete webhook body -> raw columns."""
    del hash_key  # GHL records carry no email: contactId is the match key
    if not isinstance(obj, dict):
        raise Reject(LineReason.MALFORMED_JSON, "line is not a JSON object")
    delivery = "snapshot"
    location_id = None
    if isinstance(obj.get("appointment"), dict):
        delivery = _GHL_WEBHOOK_TYPES.get(str(obj.get("type")), "webhook")
        location_id = _text(obj.get("locationId"))
        obj = obj["appointment"]
    elif isinstance(obj.get("event"), dict):  # GET /calendars/events/appointments/{id} body
        delivery = "resource"
        obj = obj["event"]
    key = _text(obj.get("id"))
    if key is None:
        raise Reject(LineReason.MISSING_KEY, "appointment id is missing")
    provider_status = _text(obj.get("appointmentStatus")) or _text(obj.get("appoinmentStatus"))
    deleted = delivery == "AppointmentDelete"
    if provider_status is None and not deleted:
        raise Reject(LineReason.UNKNOWN_STATUS, "appointmentStatus is missing", key)
    try:
        status, cancel_reason = ghl_status(provider_status, deleted=deleted)
    except UnknownStatus as exc:
        raise Reject(LineReason.UNKNOWN_STATUS, str(exc), key) from None
    updated_at = _instant(obj, "dateUpdated", required=False, key=key)
    return {
        "delivery": delivery,
        "webhook": delivery not in ("snapshot", "resource"),
        "ghl_appointment_id": key,
        "location_id": location_id or _text(obj.get("locationId")),
        "calendar_id": _text(obj.get("calendarId")),
        "contact_id": _text(obj.get("contactId")),
        "provider_status": provider_status,
        "status": str(status),
        "cancel_reason": cancel_reason and str(cancel_reason),
        "canceled_at": updated_at if status == "CANCELED" else None,
        "start_at": _instant(obj, "startTime", required=True, key=key),
        "end_at": _instant(obj, "endTime", required=False, key=key),
        "created_at": _instant(obj, "dateAdded", required=False, key=key),
        "updated_at": updated_at,
        "record_key": key,
    }


@dataclass(frozen=True)
class Provider:
    """What differs between the two snapshot sources; everything else is shared."""

    name: str  # folder name under the landing zone and the rejects' `source`
    table: str
    columns: list[RawColumn]
    parse: Callable[[Any, str], dict[str, Any]]
    identifiers: tuple[str, ...]  # raw columns copied from provider id fields: never an email or phone


CALENDLY = Provider(
    "calendly",
    "raw_calendly_invitees",
    CALENDLY_COLUMNS,
    parse_calendly,
    ("invitee_uri", "scheduled_event_uri", "old_invitee_uri", "new_invitee_uri", "record_key"),
)
GHL = Provider(
    "ghl",
    "raw_ghl_appointments",
    GHL_COLUMNS,
    parse_ghl,
    ("ghl_appointment_id", "location_id", "calendar_id", "contact_id", "record_key"),
)
PROVIDERS = {p.name: p for p in (CALENDLY, GHL)}


@dataclass(frozen=True)
class SourceRecord:
    """One landing line (``text``), one API record (``obj``), or a file that could not be read on (``error``)."""

    snapshot_date: date
    file: str
    line: int | None
    text: str | None = None
    obj: Any = None
    error: str | None = None  # the file broke here: the reject's detail


FILE_ERROR = object()  # marks a record whose error concerns the rest of its file, not one line


def parse_records(
    provider: Provider,
    records: Iterable[SourceRecord],
    hash_key: str,
    ingest_sources: Mapping[date, str],
    batch_size: int = 50_000,
) -> pa.Table:
    """Parse every record into one Arrow table of the provider's raw schema; rejects are rows too.

    ``ingest_sources`` gives each snapshot day's stamp (how the day was first materialized). Rows become Arrow in
    batches, so Python objects for at most ``batch_size`` records are alive at once.
    """
    schema = arrow_schema(provider.columns)
    names = schema.names
    batches: list[pa.RecordBatch] = []
    columns: dict[str, list] = {name: [] for name in names}
    for count, record in enumerate(records, start=1):
        try:
            if record.error is not None:
                reason = LineReason.UNREADABLE_FILE if record.obj is FILE_ERROR else LineReason.MALFORMED_JSON
                raise Reject(reason, record.error)
            obj = record.obj if record.text is None else json.loads(record.text)
            row = provider.parse(obj, hash_key)
            for column in provider.identifiers:
                check_identifier(column, row.get(column))
            row["reject_reason"] = row["reject_detail"] = None
        except json.JSONDecodeError as exc:
            row = {"reject_reason": str(LineReason.MALFORMED_JSON), "reject_detail": f"{exc.msg} at column {exc.colno}"}
        except RecursionError:
            row = {"reject_reason": str(LineReason.MALFORMED_JSON), "reject_detail": "JSON nested too deeply"}
        except IdentifierLooksLikePii as exc:
            # the key itself may be the offending value: keep neither
            row = {"reject_reason": str(LineReason.PII_IN_IDENTIFIER),
                   "reject_detail": f"{exc.field} looks like an email address or a phone number"}
        except ValueError as exc:  # e.g. an integer beyond Python's digit limit
            row = {"reject_reason": str(LineReason.MALFORMED_JSON), "reject_detail": f"JSON value out of range ({type(exc).__name__})"}
        except Reject as exc:
            row = {"record_key": exc.record_key, "reject_reason": str(exc.reason), "reject_detail": exc.detail}
        row.update(
            snapshot_date=record.snapshot_date,
            file=record.file,
            line=record.line,
            ingest_source=ingest_sources[record.snapshot_date],
        )
        for name in names:
            columns[name].append(row.get(name))
        if count % batch_size == 0:
            batches.append(pa.RecordBatch.from_pydict(columns, schema=schema))
            columns = {name: [] for name in names}
    batches.append(pa.RecordBatch.from_pydict(columns, schema=schema))
    return pa.Table.from_batches(batches, schema=schema).combine_chunks()


def parsed_batches(
    provider: Provider,
    records: Iterable[SourceRecord],
    hash_key: str,
    ingest_sources: Mapping[date, str],
    batch_size: int = 50_000,
) -> Iterator[pa.RecordBatch]:
    """:func:`parse_records` a chunk of ``batch_size`` records at a time: memory bounded by the chunk, not the input."""
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, batch_size)):
        yield from parse_records(provider, chunk, hash_key, ingest_sources, batch_size).to_batches()
