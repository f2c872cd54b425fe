"""Where the data starts: the source systems, every source field with its PII class, and which source fields each
``raw_*`` column is computed from (no Dagster imports).

This module is the one place that classifies source fields. The lineage (appointment_pipeline.io.lineage) continues
from here through the SQL models, and the PII proof reads the classes declared here.

Field paths:
- ``Lead:<column>``: a column of the application's ``"Lead"`` table, spelled as Prisma names it.
- ``calendly:<path>``: a field of a Calendly invitee object, whether the line holds it bare, inside a webhook
  envelope (``payload``) or as a GET body (``resource``). ``scheduled_event.<field>`` is a field of the scheduled
  event, embedded in the invitee or delivered on its own (a ``/scheduled_events`` item describes the same object).
  ``envelope.<field>`` is a field of the webhook envelope around the invitee.
- ``ghl:<path>``: a field of a GHL calendar event, bare or inside a webhook body (``appointment``);
  ``envelope.<field>`` is a field of that webhook body.
- ``snapshot:<name>``: what the loader knows about a record rather than reads from it: snapshot day, file, line and
  how the day was first loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from appointment_pipeline.io.sql_project import load_seeds, sql_project_root

SEED_SYSTEM = "seed"


class Pii(StrEnum):
    """What a source field can reveal about a person (or grant to whoever holds it)."""

    NONE = "none"
    NAME = "name"
    EMAIL = "email"
    PHONE = "phone"
    NOTES = "notes"
    FREE_TEXT = "free_text"
    CAPABILITY_URL = "capability_url"  # a link that acts on the booking (cancel, reschedule, join)


@dataclass(frozen=True)
class SourceAsset:
    """An external system on the asset graph, upstream of the raw tables."""

    key: str
    kinds: frozenset[str]
    description: str


@dataclass(frozen=True)
class SourceSystem:
    """A family of source fields with one shape, delivered by one or more source assets."""

    name: str
    assets: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class SourceField:
    system: str
    path: str
    pii: Pii
    description: str = ""

    @property
    def id(self) -> str:
        return f"{self.system}:{self.path}"


@dataclass(frozen=True)
class Derivation:
    """How one raw column is computed: from which fields its value comes (``direct``), which fields only decide
    whether or how it is set (``indirect``), and whether the value is the keyed email hash of its direct fields."""

    direct: tuple[str, ...] = ()
    indirect: tuple[str, ...] = ()
    keyed_hash: bool = False


SOURCE_ASSETS: tuple[SourceAsset, ...] = (
    SourceAsset(
        "app_lead_table",
        frozenset({"postgres"}),
        'The application\'s legacy `"Lead"` table (APPOINTMENT_SOURCE_DB_URL): ids, provider keys and the old '
        "appointment rollup columns. Also holds names, email and phone, which the pipeline never copies.",
    ),
    SourceAsset(
        "calendly_landing_zone",
        frozenset({"calendly", "file"}),
        "Calendly invitee records as JSON lines under `APPOINTMENT_LANDING_DIR/calendly/YYYY-MM-DD/`: webhook "
        "deliveries, GET bodies or bare objects, one folder per snapshot day.",
    ),
    SourceAsset(
        "calendly_api",
        frozenset({"calendly", "api"}),
        "The Calendly API v2 (`/scheduled_events` and their invitees), pulled per snapshot day when a snapshot run "
        "is configured with `source: api`.",
    ),
    SourceAsset(
        "ghl_landing_zone",
        frozenset({"ghl", "file"}),
        "GoHighLevel calendar events as JSON lines under `APPOINTMENT_LANDING_DIR/ghl/YYYY-MM-DD/`: "
        "`Appointment*` webhook bodies or bare `/calendars/events` items.",
    ),
    SourceAsset(
        "ghl_api",
        frozenset({"ghl", "api"}),
        "The GoHighLevel (LeadConnector) API v2 `/calendars/events`, pulled per snapshot day when a snapshot run "
        "is configured with `source: api`.",
    ),
)

SOURCE_SYSTEMS: dict[str, SourceSystem] = {
    s.name: s
    for s in (
        SourceSystem("Lead", ("app_lead_table",), 'columns of the application\'s `"Lead"` table'),
        SourceSystem("calendly", ("calendly_landing_zone", "calendly_api"), "fields of a Calendly invitee record"),
        SourceSystem("ghl", ("ghl_landing_zone", "ghl_api"), "fields of a GoHighLevel calendar event"),
        SourceSystem(
            "snapshot",
            ("calendly_landing_zone", "calendly_api", "ghl_landing_zone", "ghl_api"),
            "what the loader records about a provider record: day, file, line, how the day was loaded",
        ),
    )
}

N, NAME, EMAIL, PHONE, NOTES, TEXT, URL = (
    Pii.NONE, Pii.NAME, Pii.EMAIL, Pii.PHONE, Pii.NOTES, Pii.FREE_TEXT, Pii.CAPABILITY_URL
)

# One line per field. Fields the pipeline never reads are listed too when they are personal: the proof below is
# only as good as this list, and a later parser change that starts reading one is then caught by its class.
SOURCE_FIELDS: tuple[SourceField, ...] = (
    # "Lead" (Prisma model; other columns exist and are never read)
    SourceField("Lead", "id", N, "lead primary key"),
    SourceField("Lead", "email", EMAIL),
    SourceField("Lead", "phone", PHONE),
    SourceField("Lead", "firstName", NAME),
    SourceField("Lead", "lastName", NAME),
    SourceField("Lead", "ghlContactId", N),
    SourceField("Lead", "ghlAppointmentId", N),
    SourceField("Lead", "calendlyInviteeUri", N),
    SourceField("Lead", "calendlyScheduledEventUri", N),
    SourceField("Lead", "appointmentProvider", N),
    SourceField("Lead", "appointmentStatus", N),
    SourceField("Lead", "appointmentSource", N),
    SourceField("Lead", "appointmentStartAt", N),
    SourceField("Lead", "appointmentEndAt", N),
    SourceField("Lead", "appointmentBookedAt", N),
    SourceField("Lead", "appointmentCanceledAt", N),
    SourceField("Lead", "appointmentTimezone", N),
    SourceField("Lead", "createdAt", N),
    SourceField("Lead", "updatedAt", N),
    # Calendly webhook envelope
    SourceField("calendly", "envelope.event", N, "webhook event name, e.g. invitee.created"),
    SourceField("calendly", "envelope.created_at", N),
    SourceField("calendly", "envelope.created_by", N, "URI of the Calendly user who created the subscription"),
    # Calendly invitee
    SourceField("calendly", "uri", N, "invitee URI"),
    SourceField("calendly", "event", N, "URI of the invitee's scheduled event"),
    SourceField("calendly", "email", EMAIL),
    SourceField("calendly", "name", NAME),
    SourceField("calendly", "first_name", NAME),
    SourceField("calendly", "last_name", NAME),
    SourceField("calendly", "text_reminder_number", PHONE),
    SourceField("calendly", "questions_and_answers", TEXT, "booking-form answers"),
    SourceField("calendly", "status", N),
    SourceField("calendly", "timezone", N),
    SourceField("calendly", "created_at", N),
    SourceField("calendly", "updated_at", N),
    SourceField("calendly", "rescheduled", N),
    SourceField("calendly", "old_invitee", N),
    SourceField("calendly", "new_invitee", N),
    SourceField("calendly", "cancel_url", URL),
    SourceField("calendly", "reschedule_url", URL),
    SourceField("calendly", "no_show", N, "present while the invitee is marked as a no-show"),
    SourceField("calendly", "cancellation.canceler_type", N),
    SourceField("calendly", "cancellation.created_at", N),
    SourceField("calendly", "cancellation.canceled_by", NAME),
    SourceField("calendly", "cancellation.reason", TEXT),
    SourceField("calendly", "tracking", TEXT, "UTM values chosen by whoever built the link"),
    SourceField("calendly", "payment", N),
    # Calendly scheduled event (embedded or a /scheduled_events item)
    SourceField("calendly", "scheduled_event.uri", N),
    SourceField("calendly", "scheduled_event.status", N),
    SourceField("calendly", "scheduled_event.start_time", N),
    SourceField("calendly", "scheduled_event.end_time", N),
    SourceField("calendly", "scheduled_event.updated_at", N),
    SourceField("calendly", "scheduled_event.name", TEXT, "event name, set by the host"),
    SourceField("calendly", "scheduled_event.meeting_notes_plain", NOTES),
    SourceField("calendly", "scheduled_event.meeting_notes_html", NOTES),
    SourceField("calendly", "scheduled_event.location.location", TEXT, "an address or a phone number"),
    SourceField("calendly", "scheduled_event.location.join_url", URL),
    SourceField("calendly", "scheduled_event.event_memberships.user_email", EMAIL),
    SourceField("calendly", "scheduled_event.event_memberships.user_name", NAME),
    SourceField("calendly", "scheduled_event.event_guests.email", EMAIL),
    SourceField("calendly", "scheduled_event.cancellation.canceler_type", N),
    SourceField("calendly", "scheduled_event.cancellation.canceled_by", NAME),
    SourceField("calendly", "scheduled_event.cancellation.reason", TEXT),
    # GHL webhook body
    SourceField("ghl", "envelope.type", N, "AppointmentCreate, AppointmentUpdate or AppointmentDelete"),
    SourceField("ghl", "envelope.locationId", N),
    # GHL calendar event
    SourceField("ghl", "id", N, "appointment (event) id"),
    SourceField("ghl", "locationId", N),
    SourceField("ghl", "calendarId", N),
    SourceField("ghl", "contactId", N, "pseudonymous contact key"),
    SourceField("ghl", "appointmentStatus", N),
    SourceField("ghl", "appoinmentStatus", N, "the same status under an older spelling of the key"),
    SourceField("ghl", "startTime", N),
    SourceField("ghl", "endTime", N),
    SourceField("ghl", "dateAdded", N),
    SourceField("ghl", "dateUpdated", N),
    SourceField("ghl", "title", NAME, "defaults to the contact's name"),
    SourceField("ghl", "notes", NOTES),
    SourceField("ghl", "description", TEXT),
    SourceField("ghl", "address", TEXT, "a meeting link, an address or a phone number"),
    SourceField("ghl", "createdBy.name", NAME),
    # Known to the loader rather than read from the record
    SourceField("snapshot", "day", N, "landing folder date, or the day an API pull was made for"),
    SourceField("snapshot", "file", N, "landing file path, or the API endpoint"),
    SourceField("snapshot", "line", N, "line number in the file, or record number in the API pull"),
    SourceField("snapshot", "ingest_source", N, "how the run that first loaded the day was launched"),
)

# The vocabulary CSVs of dbt_like_sql/seeds: a source kept in the repository itself, one field per CSV column
# (``seed:<seed>.<column>``), delivered by the seed's own asset; reviewed code, so no personal data.
_SEEDS = load_seeds(sql_project_root())
SOURCE_SYSTEMS[SEED_SYSTEM] = SourceSystem(SEED_SYSTEM, tuple(sorted(_SEEDS)), "columns of the vocabulary CSVs")
SEED_FIELDS: tuple[SourceField, ...] = tuple(
    SourceField(SEED_SYSTEM, f"{seed.name}.{column}", Pii.NONE, description)
    for seed in _SEEDS.values()
    for column, description in seed.columns.items()
)

FIELDS: dict[str, SourceField] = {f.id: f for f in (*SOURCE_FIELDS, *SEED_FIELDS)}


def _from(*direct: str, decided_by: tuple[str, ...] = ()) -> Derivation:
    return Derivation(direct=direct, indirect=decided_by)


def _keyed_hash(source: str) -> Derivation:
    return Derivation(direct=(source,), keyed_hash=True)


_SNAPSHOT = {
    "snapshot_date": _from("snapshot:day"),
    "file": _from("snapshot:file"),
    "line": _from("snapshot:line"),
    "ingest_source": _from("snapshot:ingest_source"),
}

_CALENDLY_STATUS = (
    "calendly:status",
    "calendly:scheduled_event.status",
    "calendly:rescheduled",
    "calendly:no_show",
)
_CALENDLY_TIMES = (
    "calendly:scheduled_event.start_time",
    "calendly:scheduled_event.end_time",
    "calendly:created_at",
    "calendly:updated_at",
    "calendly:cancellation.created_at",
)
# Every field the Calendly parser reads: any of them can make a line a reject (a NUL or an unreadable time). The
# email is among them, which is an indirect use: the hash is the only value taken from it.
_CALENDLY_READ = (
    "calendly:envelope.event",
    "calendly:uri",
    "calendly:event",
    "calendly:scheduled_event.uri",
    "calendly:old_invitee",
    "calendly:new_invitee",
    "calendly:email",
    "calendly:timezone",
    "calendly:cancellation.canceler_type",
    "calendly:scheduled_event.cancellation.canceler_type",
    *_CALENDLY_STATUS,
    *_CALENDLY_TIMES,
)
_GHL_STATUS = ("ghl:appointmentStatus", "ghl:appoinmentStatus", "ghl:envelope.type")
_GHL_TIMES = ("ghl:startTime", "ghl:endTime", "ghl:dateAdded", "ghl:dateUpdated")
_GHL_READ = (
    "ghl:id",
    "ghl:envelope.locationId",
    "ghl:locationId",
    "ghl:calendarId",
    "ghl:contactId",
    *_GHL_STATUS,
    *_GHL_TIMES,
)

_LEAD_READ = tuple(
    f"Lead:{name}"
    for name in (
        "id", "ghlContactId", "ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri",
        "appointmentProvider", "appointmentStatus", "appointmentSource", "appointmentStartAt", "appointmentEndAt",
        "appointmentBookedAt", "appointmentCanceledAt", "appointmentTimezone", "createdAt", "updatedAt",
    )
)

# raw table -> raw column -> how it is computed. The extract code is the truth; tests/test_lineage.py checks that
# every raw column is listed here and that personal fields change no raw column but the hash.
RAW_COLUMN_SOURCES: dict[str, dict[str, Derivation]] = {
    "raw_leads": {
        "lead_id": _from("Lead:id"),
        "email_hash": _keyed_hash("Lead:email"),
        "ghl_contact_id": _from("Lead:ghlContactId"),
        "ghl_appointment_id": _from("Lead:ghlAppointmentId"),
        "calendly_invitee_uri": _from("Lead:calendlyInviteeUri"),
        "calendly_scheduled_event_uri": _from("Lead:calendlyScheduledEventUri"),
        "appointment_provider": _from("Lead:appointmentProvider"),
        "appointment_status": _from("Lead:appointmentStatus"),
        "appointment_source": _from("Lead:appointmentSource"),
        "appointment_start_at": _from("Lead:appointmentStartAt"),
        "appointment_end_at": _from("Lead:appointmentEndAt"),
        "appointment_booked_at": _from("Lead:appointmentBookedAt"),
        "appointment_canceled_at": _from("Lead:appointmentCanceledAt"),
        "appointment_timezone": _from("Lead:appointmentTimezone"),
        "created_at": _from("Lead:createdAt"),
        "updated_at": _from("Lead:updatedAt"),
        # which column of the lead held a value that could not be stored, never the value
        "reject_reason": _from(decided_by=_LEAD_READ),
        "reject_detail": _from(decided_by=_LEAD_READ),
    },
    "raw_calendly_invitees": {
        **_SNAPSHOT,
        "delivery": _from("calendly:envelope.event"),
        "webhook": _from(decided_by=("calendly:envelope.event",)),  # whether an envelope came, not its text
        "record_type": _from("calendly:uri", "calendly:event", "calendly:scheduled_event.start_time"),
        "invitee_uri": _from("calendly:uri"),
        "scheduled_event_uri": _from("calendly:scheduled_event.uri", "calendly:event"),
        "old_invitee_uri": _from("calendly:old_invitee"),
        "new_invitee_uri": _from("calendly:new_invitee"),
        "email_hash": _keyed_hash("calendly:email"),
        "invitee_status": _from("calendly:status"),
        "event_status": _from("calendly:scheduled_event.status"),
        "event_cancel_reason": _from("calendly:scheduled_event.cancellation.canceler_type"),
        "event_updated_at": _from("calendly:scheduled_event.updated_at"),
        "rescheduled": _from("calendly:rescheduled"),
        "status": _from(*_CALENDLY_STATUS),
        "cancel_reason": _from(
            "calendly:rescheduled",
            "calendly:cancellation.canceler_type",
            "calendly:scheduled_event.cancellation.canceler_type",
            decided_by=_CALENDLY_STATUS,
        ),
        "canceled_at": _from("calendly:cancellation.created_at", "calendly:updated_at", decided_by=_CALENDLY_STATUS),
        "start_at": _from("calendly:scheduled_event.start_time"),
        "end_at": _from("calendly:scheduled_event.end_time"),
        "timezone": _from("calendly:timezone"),
        "created_at": _from("calendly:created_at"),
        "updated_at": _from("calendly:updated_at"),
        "record_key": _from("calendly:uri"),
        "reject_reason": _from(decided_by=_CALENDLY_READ),
        # names the failing field and describes a bad value by its shape only (redaction.describe_value)
        "reject_detail": _from(*_CALENDLY_STATUS, *_CALENDLY_TIMES, decided_by=_CALENDLY_READ),
    },
    "raw_ghl_appointments": {
        **_SNAPSHOT,
        "delivery": _from("ghl:envelope.type"),
        "webhook": _from(decided_by=("ghl:envelope.type",)),
        "ghl_appointment_id": _from("ghl:id"),
        "location_id": _from("ghl:envelope.locationId", "ghl:locationId"),
        "calendar_id": _from("ghl:calendarId"),
        "contact_id": _from("ghl:contactId"),
        "provider_status": _from("ghl:appointmentStatus", "ghl:appoinmentStatus"),
        "status": _from(*_GHL_STATUS),
        "cancel_reason": _from(*_GHL_STATUS),
        "canceled_at": _from("ghl:dateUpdated", decided_by=_GHL_STATUS),
        "start_at": _from("ghl:startTime"),
        "end_at": _from("ghl:endTime"),
        "created_at": _from("ghl:dateAdded"),
        "updated_at": _from("ghl:dateUpdated"),
        "record_key": _from("ghl:id"),
        "reject_reason": _from(decided_by=_GHL_READ),
        "reject_detail": _from(*_GHL_STATUS, *_GHL_TIMES, decided_by=_GHL_READ),
    },
}

RAW_TABLE_SYSTEMS: dict[str, tuple[str, ...]] = {
    "raw_leads": ("Lead",),
    "raw_calendly_invitees": ("calendly", "snapshot"),
    "raw_ghl_appointments": ("ghl", "snapshot"),
}


@dataclass(frozen=True)
class SourceCatalog:
    """The declarations above as one value, so that a test can check a changed copy (e.g. a planted leak)."""

    fields: Mapping[str, SourceField] = field(default_factory=lambda: dict(FIELDS))
    raw_columns: Mapping[str, Mapping[str, Derivation]] = field(default_factory=lambda: RAW_COLUMN_SOURCES)

    def source_assets_of(self, raw_table: str) -> list[str]:
        """The source assets a raw table is loaded from (its upstream on the asset graph)."""
        systems = {self.fields[f].system for d in self.raw_columns[raw_table].values() for f in (*d.direct, *d.indirect)}
        return sorted({asset for s in systems if s != "snapshot" for asset in SOURCE_SYSTEMS[s].assets})

    def problems(self) -> list[str]:
        """Declarations that cannot be right: unknown fields, a hash of a field that is not an email."""
        found = []
        for table, columns in self.raw_columns.items():
            for column, derivation in columns.items():
                for source in (*derivation.direct, *derivation.indirect):
                    if source not in self.fields:
                        found.append(f"{table}.{column}: unknown source field {source}")
                if derivation.keyed_hash and any(
                    self.fields.get(s) is None or self.fields[s].pii is not Pii.EMAIL for s in derivation.direct
                ):
                    found.append(f"{table}.{column}: the keyed hash is only for email fields")
        return found


CATALOG = SourceCatalog()
