"""Landing-zone and API records -> flat, PII-free raw rows, or rejects with a reason (no Dagster imports).

One parser per provider turns a provider object (a landing line or an API record) into the columns of its raw
table. A line that cannot be used still becomes a row, with ``reject_reason`` set and every data column null, so
that loaded + rejected = lines holds per file and the rejects mart can list it with file, line and reason.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from appointment_pipeline.domain.redaction import IdentifierLooksLikePii, check_identifier, describe_value, email_hash
from appointment_pipeline.settings import parse_instant
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


def _event_fields(event: dict, key: str | None, *, prefix: str) -> dict[str, Any]:
    """What a scheduled event record (embedded or on its own) says about the event."""
    cancellation = event.get("cancellation") if isinstance(event.get("cancellation"), dict) else {}
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
    cancellation = record.get("cancellation") if isinstance(record.get("cancellation"), dict) else {}
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
        delivery = _GHL_WEBHOOK_TYPES.get(obj.get("type"), "webhook")
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


LANDING_SUFFIXES = (".jsonl", ".jsonl.gz")
FILE_ERROR = object()  # marks a record whose error concerns the rest of its file, not one line
MAX_LINE_BYTES = 16 * 1024 * 1024  # a longer line is rejected without being held in memory whole
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class LandingDay:
    """What one provider/day folder holds: the files to read, the ``*.jsonl`` entries that cannot be read (each a
    file-level reject), and what is left alone (logged, not loaded)."""

    files: list[Path]
    unreadable: list[tuple[Path, str]]
    skipped: list[tuple[Path, str]]

    @property
    def has_snapshot(self) -> bool:
        return bool(self.files or self.unreadable)


def scan_landing_day(landing_dir: Path, provider: Provider, day: date) -> LandingDay:
    folder = landing_dir / provider.name / day.isoformat()
    files: list[Path] = []
    unreadable: list[tuple[Path, str]] = []
    skipped: list[tuple[Path, str]] = []
    if not folder.is_dir():
        return LandingDay(files, unreadable, skipped)
    root = landing_dir.resolve()
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(LANDING_SUFFIXES):
            skipped.append((path, "not a *.jsonl or *.jsonl.gz file"))
            continue
        if path.is_symlink():
            target = path.resolve()
            if not target.exists():
                unreadable.append((path, "a symbolic link to nothing"))
                continue
            if not target.is_relative_to(root):
                skipped.append((path, "a symbolic link leaving the landing zone"))
                continue
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            unreadable.append((path, f"cannot stat the file ({type(exc).__name__})"))
            continue
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
            unreadable.append((path, kind))
            continue
        files.append(path)
    return LandingDay(files, unreadable, skipped)


def non_day_folders(landing_dir: Path, provider: Provider) -> list[str]:
    """Entries of the provider folder that are not YYYY-MM-DD folders: never a snapshot, only worth a log line."""
    folder = landing_dir / provider.name
    if not folder.is_dir():
        return []
    found = []
    for child in sorted(folder.iterdir()):
        try:
            valid = child.is_dir() and date.fromisoformat(child.name).isoformat() == child.name
        except ValueError:
            valid = False
        if not valid:
            found.append(child.name)
    return found


def landing_files(landing_dir: Path, provider: Provider, day: date) -> list[Path]:
    return scan_landing_day(landing_dir, provider, day).files


class _HashingReader(io.RawIOBase):
    """Reads a file while hashing its raw bytes, so a load's digest costs no second read."""

    def __init__(self, handle, digest) -> None:
        self.handle, self.digest = handle, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.handle.readinto(buffer)
        if count:
            self.digest.update(memoryview(buffer)[:count])
        return count

    def drain(self) -> None:
        while self.handle.read(_READ_CHUNK):
            pass


def _file_digest_update(digest, name: str, file_digest: bytes) -> None:
    digest.update(name.encode() + b"\0")
    digest.update(file_digest)


def landing_digest(landing_dir: Path, provider: Provider, day: date) -> str:
    """Content digest of one day's landing files (names and bytes): the sensor's run key and a load's fingerprint."""
    digest = hashlib.sha256()
    found = scan_landing_day(landing_dir, provider, day)
    for path in found.files:
        file_digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_READ_CHUNK), b""):
                file_digest.update(chunk)
        _file_digest_update(digest, path.name, file_digest.digest())
    for path, why in found.unreadable:
        _file_digest_update(digest, path.name, why.encode())
    return digest.hexdigest()


def _read_lines(path: Path, day: date, relative: str, file_digest) -> Iterator[SourceRecord]:
    """Every line of one file; a file that breaks (corrupt or truncated gzip, unreadable bytes) ends with one
    record carrying the error, after the lines read before the break."""
    number = 0
    with open(path, "rb") as raw:
        hashing = _HashingReader(raw, file_digest)
        stream: Any = gzip.GzipFile(fileobj=io.BufferedReader(hashing)) if path.name.endswith(".gz") else io.BufferedReader(hashing)
        try:
            while True:
                line = stream.readline(MAX_LINE_BYTES + 1)
                if not line:
                    break
                number += 1
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    while True:  # skip the rest of the over-long line
                        rest = stream.readline(_READ_CHUNK)
                        if not rest or rest.endswith(b"\n"):
                            break
                    yield SourceRecord(day, relative, number, error=f"line is longer than {MAX_LINE_BYTES} bytes")
                    continue
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    yield SourceRecord(day, relative, number, error="line is not valid UTF-8")
                    continue
                # blank lines too: every line is loaded or rejected, none skipped
                yield SourceRecord(day, relative, number, text=text)
        except (OSError, EOFError, zlib.error) as exc:
            why = "truncated" if isinstance(exc, EOFError) else "not a readable gzip stream"
            yield SourceRecord(day, relative, number + 1, error=f"file is {why} after line {number}", obj=FILE_ERROR)
        hashing.drain()



def read_landing(
    landing_dir: Path,
    provider: Provider,
    days: Iterable[date],
    digests: dict[date, str] | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> Iterator[SourceRecord]:
    """Every line of the days' landing files, each file read once; fills ``digests`` (day -> landing_digest).

    A ``*.jsonl`` entry that cannot be read (a directory, a FIFO, a dangling link) becomes one file-level record;
    other names and links leaving the landing zone are passed to ``on_skip`` and not read."""
    for day in days:
        digest = hashlib.sha256()
        found = scan_landing_day(landing_dir, provider, day)
        for path, why in found.skipped:
            if on_skip:
                on_skip(f"{path.relative_to(landing_dir).as_posix()}: {why}, skipped")
        for path in found.files:
            file_digest = hashlib.sha256()
            yield from _read_lines(path, day, path.relative_to(landing_dir).as_posix(), file_digest)
            _file_digest_update(digest, path.name, file_digest.digest())
        for path, why in found.unreadable:
            _file_digest_update(digest, path.name, why.encode())
            yield SourceRecord(day, path.relative_to(landing_dir).as_posix(), None, error=f"the entry is {why}",
                               obj=FILE_ERROR)
        if digests is not None:
            digests[day] = digest.hexdigest()


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
