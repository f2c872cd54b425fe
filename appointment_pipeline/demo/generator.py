"""Deterministic demo data: the legacy ``"Lead"`` table and the provider snapshot landing zone.

Plain Python (no Dagster). ``generate_demo`` writes

* the application database table ``"Lead"`` (docs/data-contract.md#legacy-lead-table), dropped and recreated on every run, on SQLite,
  PostgreSQL or DuckDB through SQLAlchemy;
* ``<landing>/calendly/<YYYY-MM-DD>/*.jsonl[.gz]`` and ``<landing>/ghl/<YYYY-MM-DD>/*.jsonl[.gz]``
  (docs/data-contract.md#provider-landing-zone, in the providers' own payload shapes); both provider folders are
  deleted first.

Calendly lines come in the shapes the provider really sends: an invitee bare, in a webhook envelope or as a GET body
``{"resource": ...}``, about one in five of them with only the event's URI instead of the embedded
``scheduled_event``; such a line is followed the same day by its event on its own (a ``/scheduled_events`` item,
bare or as a GET body), so the event's times and status are known. A few webhooks per run are about something else
(routing form submissions, event type changes, contacts): valid lines that describe no appointment
(``DemoData.ignored``), not rejects.

Everything comes from one ``random.Random(seed)``: the same arguments give byte-identical files and identical rows.
Payload shapes and the other webhooks are chosen by hashing, never by drawing from that stream, so they leave every
other value as it would be without them.

``build_demo`` returns the same data in memory together with a ground-truth manifest (``DemoData.scenarios``,
``DemoData.appointments``, ``DemoData.malformed``, ``DemoData.ignored``, ``DemoData.drift``), so tests can find every
scenario without parsing the files. Scenario names are listed in ``SCENARIOS``; each maps to the lead ids (or, for
``*_unmatched``, the provider keys) that exercise it. Every scenario is present from ``leads >= 100`` and
``days >= 2`` on (with one day the "halves of a reschedule on different days" variants cannot exist); counts grow in
proportion to ``leads``.

Ids: leads ``lead_000001`` (zero-padded to 6 digits or more), GHL contacts ``ctc`` + 17 digits (the lead number;
contacts matching no lead start ``ctc9``), GHL appointments ``apt`` + 17 digits, Calendly URIs
``https://api.calendly.com/scheduled_events/<uuid4>[/invitees/<uuid4>]``. Invitees that match no lead use
``@example.org`` addresses. The legacy rollups were computed for ``DemoData.reference_time`` (end of the last day).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import random
import shutil
import sys
import time as _time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from appointment_pipeline.settings import get_settings
from appointment_pipeline.io.app_database import create_app_schema, drop_app_schema, supports_publish
from appointment_pipeline.domain.statuses import GHL_STATUS, LEGACY_STATUS, LineReason

__all__ = [
    "DemoAppointment",
    "DemoData",
    "DemoSummary",
    "LEAD_COLUMNS",
    "EXTRA_LEAD_COLUMN",
    "SCENARIOS",
    "build_demo",
    "default_landing_dir",
    "default_partitions_start",
    "default_source_db_url",
    "generate_demo",
    "main",
]

UTC = timezone.utc

# --------------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------------

#: The legacy columns of the "Lead" table, in table order.
LEAD_COLUMNS: tuple[str, ...] = (
    "id",
    "email",
    "phone",
    "firstName",
    "lastName",
    "ghlContactId",
    "ghlAppointmentId",
    "calendlyInviteeUri",
    "calendlyScheduledEventUri",
    "appointmentProvider",
    "appointmentStatus",
    "appointmentSource",
    "appointmentStartAt",
    "appointmentEndAt",
    "appointmentBookedAt",
    "appointmentCanceledAt",
    "appointmentTimezone",
    "createdAt",
    "updatedAt",
)
#: The one extra column that the pipeline must ignore.
EXTRA_LEAD_COLUMN = "companyName"
TIMESTAMP_COLUMNS: tuple[str, ...] = (
    "appointmentStartAt",
    "appointmentEndAt",
    "appointmentBookedAt",
    "appointmentCanceledAt",
    "createdAt",
    "updatedAt",
)


@dataclass(frozen=True)
class DemoSummary:
    leads: int
    landing_files: int
    landing_lines: int  # total lines written to every landing file
    malformed_lines: int  # lines deliberately bad (not JSON / missing key / bad time / unknown status)
    ignored_lines: int  # valid lines about something else than an appointment (other Calendly webhooks)
    first_day: date
    last_day: date
    # every email, first/last name, full name, phone (and street address) string written anywhere, plus the trimmed
    # and lower-cased form of every email (what a leaking pipeline would most likely store)
    pii_values: frozenset[str]


@dataclass(frozen=True)
class DemoAppointment:
    """Ground truth for one real appointment (what the pipeline should end up with), from the generator's view.

    ``status`` is the contract status of the provider's final state (legacy-only appointments: the normalized legacy
    status). ``key`` is the idempotency key (GHL id, Calendly invitee URI, or ``legacy:<leadId>``).
    """

    provider: str  # GHL | CALENDLY
    key: str
    lead_id: str | None  # None: matches no lead (goes to unmatched_provider_appointments)
    scenario: str
    status: str  # CONFIRMED | CANCELED | RESCHEDULED | SHOWED | NO_SHOW
    cancel_reason: str | None  # invitee | host | rescheduled | invalid | deleted | legacy | None
    rescheduled_from: str | None  # key of the appointment this one replaced (Calendly chains)
    scheduled_event_uri: str | None
    start_at: datetime | None
    end_at: datetime | None
    created_at: datetime | None
    canceled_at: datetime | None
    legacy_only: bool  # no provider line at all: known only from the "Lead" table


@dataclass(frozen=True)
class DemoData:
    summary: DemoSummary
    lead_rows: tuple[dict, ...]  # "Lead" rows; timestamps as aware UTC datetimes
    files: Mapping[str, tuple[str, ...]]  # relative landing path ("calendly/2025-01-01/webhooks-000.jsonl") -> lines
    scenarios: Mapping[str, tuple[str, ...]]  # scenario -> lead ids (``*_unmatched``: provider keys)
    appointments: tuple[DemoAppointment, ...]
    malformed: tuple[tuple[str, int, str], ...]  # (relative path, 1-based line number, reason code)
    ignored: tuple[tuple[str, int, str], ...]  # (relative path, 1-based line number, webhook event name)
    drift: Mapping[str, tuple[str, ...]]  # lead id -> "Lead" columns deliberately disagreeing with the provider data
    reference_time: datetime  # end of the last snapshot day: the "now" the legacy rollups were computed for


#: Every scenario name that ``DemoData.scenarios`` can hold (with the default arguments all are non-empty).
SCENARIOS: tuple[str, ...] = (
    # Calendly
    "cal_plain",  # one active invitee, legacy keys point to it
    "cal_cancel_invitee",  # canceled, cancellation.canceler_type = invitee
    "cal_cancel_host",  # canceled, cancellation.canceler_type = host
    "cal_event_canceled_invitee_active",  # host canceled the event, the invitee still "active" -> CANCELED (host)
    "cal_reschedule",  # chain old -> new invitee, 1..3 hops (see cal_reschedule_1hop/_2hop/_3hop)
    "cal_reschedule_1hop",
    "cal_reschedule_2hop",
    "cal_reschedule_3hop",
    "cal_reschedule_split_days",  # the two halves of a hop delivered on different days
    "cal_reschedule_new_first",  # the new half delivered on an EARLIER day than the old half's cancel
    "cal_group",  # group event: 2-4 leads share one scheduled event URI, one of them cancels
    "cal_group_canceler",  # the group member who canceled
    "cal_no_show",  # active invitee with a no_show object
    "cal_email_only",  # lead has no calendly keys: matched by email hash only
    "cal_email_shared",  # two leads share an email; the later createdAt owns the invitee (both ids listed, owner last)
    "cal_event_uri_only",  # legacy has calendlyScheduledEventUri but no invitee URI: keyless, merges into provider
    # GHL
    "ghl_new",
    "ghl_confirmed",
    "ghl_cancelled",
    "ghl_showed",
    "ghl_noshow",
    "ghl_invalid",
    "ghl_reschedule",  # in place: same id, new startTime, later dateUpdated
    "ghl_delete",  # AppointmentDelete webhook
    "ghl_contact_only",  # lead has ghlContactId but no legacy appointment: matched by contactId
    "ghl_typo_status_key",  # at least one line uses "appoinmentStatus"
    # both / legacy
    "both_providers",  # a GHL appointment and a Calendly invitee for the same lead
    "legacy_start_only",  # appointmentStartAt + appointmentProvider only
    "legacy_canceled_only",  # no status, appointmentCanceledAt set -> CANCELED
    "legacy_odd_status",  # Cancelled, NOSHOW, Showed, CONFIRMED, ... (case variants)
    "legacy_unknown_status",  # "pending" -> reject legacy_unknown_status
    "legacy_ambiguous_provider",  # keys of both providers, no appointmentProvider -> reject
    "legacy_both_keys_with_provider",  # keys of both providers, appointmentProvider set
    "legacy_unknown_provider",  # appointmentStartAt but no provider and no key -> reject
    "legacy_drift",  # legacy rollup deliberately disagrees with the provider data (see DemoData.drift)
    "email_variant",  # lead email with upper case / surrounding whitespace
    "no_appointment",  # lead without any appointment data
    # no lead (values are provider keys)
    "cal_unmatched",  # invitee email matches no lead
    "ghl_unmatched",  # contactId matches no lead
)

# --------------------------------------------------------------------------------------------------------------------
# Fake reference data (distinctive names so a scan for PII has no false positives)
# --------------------------------------------------------------------------------------------------------------------

_FIRST_NAMES = (
    "Avery", "Bronwyn", "Casimir", "Delphine", "Evander", "Florentyna", "Gideon", "Henrietta", "Ignatius",
    "Jocasta", "Leopold", "Marisol", "Nikolai", "Ottilie", "Peregrine", "Quintessa", "Rosalind", "Soren",
    "Thaddeus", "Ursula", "Valentin", "Wilhelmina", "Xiomara", "Yevgeny", "Zenobia",
)  # fmt: skip
_LAST_NAMES = (
    "Testworth", "Samplesen", "Fakerley", "Demoski", "Mockford", "Placewell", "Dummond", "Pretendo", "Fictera",
    "Madeupson", "Notrealis", "Phonyman", "Shamwell", "Bogusky", "Invental", "Spoofield",
)  # fmt: skip
_HOSTS = (("Morgan Hostwell", "morgan.hostwell@example.com"), ("Rafferty Calenda", "rafferty.calenda@example.com"),
          ("Sunniva Bookerly", "sunniva.bookerly@example.com"))  # fmt: skip
_COMPANIES = ("Acme Dental", "Globex Clinics", "Initech Realty", "Umbrella Fitness", "Hooli Legal", None)
_TIMEZONES = (
    "America/Chicago", "America/New_York", "America/Denver", "America/Los_Angeles", "America/Phoenix",
    "Europe/London", "Asia/Kolkata",
)  # fmt: skip
_STREETS = ("Testworth Lane", "Placeholder Ave", "Sample Street", "Mockingbird Row")
_TOPICS = ("Pricing for a test account", "Second opinion on a quote", "Switching plans", "Initial consultation")
_CANCEL_REASONS_INVITEE = ("Schedule conflict", "Found another provider", None, "Feeling unwell, will rebook")
_CANCEL_REASONS_HOST = ("Host unavailable", "Double booked, sorry", None)
_GHL_NOTES = ("Prefers afternoon calls", "", "Asked about financing", "Returning client")
_LEGACY_SOURCES = ("webhook", "webhook", "webhook", "reconcile_cron", "backfill", "auto_book", "manual")

_CAL = "https://api.calendly.com"
_GHL_LOCATION = "DEMOLOC0000000000001"
_GHL_CALENDARS = ("DEMOCAL0000000000001", "DEMOCAL0000000000002")
_GHL_GROUP = "DEMOGROUP00000000001"
_GHL_USERS = ("DEMOUSER000000000001", "DEMOUSER000000000002", "DEMOUSER000000000003")
_GHL_SOURCES = ("booking_widget", "booking_widget", "calendar_page", "third_party")

_ZONES: dict[str, ZoneInfo] = {}

# scenario name, share of the leads, minimum number of units (a unit is one lead, a group, or a shared-email pair)
_LEAD_UNITS: tuple[tuple[str, float, int], ...] = (
    ("cal_reschedule", 0.07, 6),
    ("cal_group", 0.06, 3),
    ("cal_plain", 0.09, 3),
    ("cal_cancel_invitee", 0.04, 2),
    ("cal_cancel_host", 0.03, 2),
    ("cal_no_show", 0.03, 2),
    ("cal_email_only", 0.05, 3),
    ("cal_email_shared", 0.01, 1),
    ("cal_event_uri_only", 0.01, 2),
    ("ghl_new", 0.03, 2),
    ("ghl_confirmed", 0.07, 3),
    ("ghl_cancelled", 0.04, 2),
    ("ghl_showed", 0.04, 2),
    ("ghl_noshow", 0.03, 2),
    ("ghl_invalid", 0.02, 2),
    ("ghl_reschedule", 0.05, 3),
    ("ghl_delete", 0.03, 2),
    ("ghl_contact_only", 0.04, 2),
    ("both_providers", 0.05, 3),
    ("legacy_start_only", 0.01, 2),
    ("legacy_canceled_only", 0.01, 2),
    ("legacy_odd_status", 0.02, 6),
    ("legacy_unknown_status", 0.005, 1),
    ("legacy_ambiguous_provider", 0.005, 1),
    ("legacy_both_keys_with_provider", 0.005, 1),
    ("legacy_unknown_provider", 0.005, 1),
)
_GROUP_SIZES = (3, 2, 4)
_LEGACY_ODD_STATUSES = ("Cancelled", "NOSHOW", "Showed", "CONFIRMED", "Rescheduled", "No_Show", "canceled", "noshow")
_MALFORMED_KINDS = tuple(
    str(r) for r in (LineReason.MALFORMED_JSON, LineReason.MISSING_KEY, LineReason.BAD_TIMESTAMP, LineReason.UNKNOWN_STATUS)
)
_IGNORED = str(LineReason.NOT_AN_APPOINTMENT)  # the reason code of a valid line that describes no appointment
_LINES_PER_FILE = 25_000


def default_source_db_url() -> str:
    """``APPOINTMENT_SOURCE_DB_URL``, else the demo SQLite file under the data dir (appointment_pipeline.settings)."""
    return get_settings().source_db_url


def default_landing_dir() -> Path:
    """``APPOINTMENT_LANDING_DIR``, else ``<data dir>/landing`` (appointment_pipeline.settings)."""
    return get_settings().landing_dir


def default_partitions_start() -> date:
    return get_settings().partitions_start


def build_demo(*, leads: int = 300, days: int = 14, start: date = date(2025, 1, 1), seed: int = 7) -> DemoData:
    """Generate the demo data in memory (nothing is written)."""
    if leads < 0:
        raise ValueError("leads must be >= 0")
    if days < 1:
        raise ValueError("days must be >= 1")
    return _Builder(leads=leads, days=days, start=start, seed=seed).build()


def generate_demo(
    source_db_url: str,
    landing_dir: Path,
    *,
    leads: int = 300,
    days: int = 14,
    start: date = date(2025, 1, 1),
    seed: int = 7,
) -> DemoSummary:
    """(Re)write the ``"Lead"`` table (with an empty ``"Appointment"``) and the provider landing zone."""
    data = build_demo(leads=leads, days=days, start=start, seed=seed)
    write_landing(Path(landing_dir), data.files)
    write_leads(source_db_url, data.lead_rows)
    return data.summary


# --------------------------------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------------------------------


def write_landing(landing_dir: Path, files: Mapping[str, Iterable[str]]) -> None:
    """Delete ``calendly/`` and ``ghl/`` under ``landing_dir`` and write ``files`` (gzip with mtime 0 for ``.gz``)."""
    landing_dir = Path(landing_dir)
    for provider in ("calendly", "ghl"):
        shutil.rmtree(landing_dir / provider, ignore_errors=True)
    for rel in sorted(files):
        path = landing_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = "".join(line + "\n" for line in files[rel]).encode("utf-8")
        with open(path, "wb") as raw:
            if rel.endswith(".gz"):
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
                    gz.write(payload)
            else:
                raw.write(payload)


def lead_table(dialect_name: str, metadata: sa.MetaData | None = None) -> sa.Table:
    """The ``"Lead"`` table definition for a dialect (timestamps are ISO text on SQLite, timestamptz elsewhere)."""
    ts_type: sa.types.TypeEngine = sa.Text() if dialect_name == "sqlite" else sa.DateTime(timezone=True)
    columns = [sa.Column("id", sa.Text(), primary_key=True)]
    for name in LEAD_COLUMNS[1:]:
        columns.append(sa.Column(name, ts_type if name in TIMESTAMP_COLUMNS else sa.Text(), nullable=True))
    columns.append(sa.Column(EXTRA_LEAD_COLUMN, sa.Text(), nullable=True))
    return sa.Table("Lead", metadata if metadata is not None else sa.MetaData(), *columns)


def write_leads(source_db_url: str, rows: Iterable[Mapping]) -> None:
    """Drop and recreate ``"Lead"`` in ``source_db_url`` and bulk-insert ``rows``; on PostgreSQL and SQLite also an
    empty ``"Appointment"`` (the application's table the publish writes to) from the shipped DDL."""
    url = sa.engine.make_url(source_db_url)
    if url.get_backend_name() in ("sqlite", "duckdb") and url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if supports_publish(source_db_url):
        drop_app_schema(source_db_url)  # it references "Lead", which is recreated
    _write_lead_table(url, rows)
    if supports_publish(source_db_url):
        create_app_schema(source_db_url)


def _write_lead_table(url: sa.URL, rows: Iterable[Mapping]) -> None:
    engine = sa.create_engine(url)
    try:
        dialect = engine.dialect.name
        table = lead_table(dialect)
        if dialect == "sqlite":
            records = [
                {k: (v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
                for row in rows
            ]
        else:
            records = [dict(row) for row in rows]
        with engine.begin() as conn:
            table.drop(conn, checkfirst=True)
            table.create(conn)
            if not records:
                return
            if dialect == "duckdb":
                _duckdb_bulk_insert(conn, table, records)
            else:
                chunk = 5_000
                for i in range(0, len(records), chunk):
                    conn.execute(table.insert(), records[i : i + chunk])
    finally:
        engine.dispose()


def _duckdb_bulk_insert(conn: sa.Connection, table: sa.Table, records: list[dict]) -> None:
    """DuckDB's executemany is row by row; load a pandas frame through the native connection instead."""
    import pandas as pd

    names = [c.name for c in table.columns]
    frame = pd.DataFrame.from_records(records, columns=names)
    for name in TIMESTAMP_COLUMNS:
        frame[name] = pd.to_datetime(frame[name], utc=True)
    for name in names:
        if name not in TIMESTAMP_COLUMNS:
            frame[name] = frame[name].astype(object)
    native = conn.connection.driver_connection
    view = "__demo_lead_rows"
    native.register(view, frame)
    try:
        cols = ", ".join(f'"{n}"' for n in names)
        native.execute(f'INSERT INTO "Lead" ({cols}) SELECT {cols} FROM {view}')
    finally:
        native.unregister(view)


# --------------------------------------------------------------------------------------------------------------------
# Builder
# --------------------------------------------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    zone = _ZONES.get(name)
    if zone is None:
        zone = _ZONES[name] = ZoneInfo(name)
    return zone


@functools.lru_cache(maxsize=1 << 16)
def _cal_ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@functools.lru_cache(maxsize=1 << 16)
def _ghl_ts(t: datetime, tz: str) -> str:
    return t.astimezone(_zone(tz)).isoformat(timespec="seconds")


def _dumps(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(*parts: str) -> bytes:
    """A stable digest of ``parts``: chooses payload shapes without drawing from the builder's random stream, so
    adding a shape never changes any other generated value."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()


class _CalLine:
    """An invitee line chosen to leave its scheduled event out, settled once the event's final status is known.

    An active invitee line keeps its event when the event is canceled afterwards: the pipeline applies an event's
    newest known status to every observation of its invitees, so such a line would read as canceled from its own
    time on. Otherwise the line carries only the event's URI and ``event_line`` describes the event.
    """

    __slots__ = ("embedded", "stripped", "event_line", "ev", "active_then")

    def __init__(self, embedded: str, stripped: str, event_line: str, ev: _CalEvent, active_then: bool) -> None:
        self.embedded = embedded
        self.stripped = stripped
        self.event_line = event_line
        self.ev = ev
        self.active_then = active_then  # invitee and event both active in this line

    def strips(self) -> bool:
        return not (self.active_then and self.ev.status == "canceled")


class _EventLineOf:
    """The scheduled event line owed by a ``_CalLine`` (written only if that line leaves its event out)."""

    __slots__ = ("line",)

    def __init__(self, line: _CalLine) -> None:
        self.line = line


class _Person:
    __slots__ = ("idx", "first", "last", "full", "email", "phone", "tz")

    def __init__(self, idx: int, first: str, last: str, email: str, phone: str, tz: str) -> None:
        self.idx = idx
        self.first = first
        self.last = last
        self.full = f"{first} {last}"
        self.email = email  # canonical (lower-case) address
        self.phone = phone
        self.tz = tz


class _Lead:
    def __init__(self, person: _Person, lead_id: str) -> None:
        self.person = person
        self.id = lead_id
        self.email_db = person.email
        self.phone_db: str | None = person.phone
        self.contact_id: str | None = None
        self.company: str | None = None
        self.created_at: datetime | None = None
        self.updated_at: datetime | None = None
        self.legacy: dict = {}
        self.legacy_agree: dict = {}  # the legacy rollup before any deliberate drift
        self.appts: list[_Appt] = []


class _Appt:
    """Common truth of one provider appointment (mutable while the timeline is played)."""

    def __init__(self, provider: str, key: str, lead: _Lead | None, scenario: str, tz: str) -> None:
        self.provider = provider
        self.key = key
        self.lead = lead
        self.scenario = scenario
        self.tz = tz
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.created_at: datetime | None = None
        self.updated_at: datetime | None = None
        self.canceled_at: datetime | None = None
        self.status_changed_at: datetime | None = None
        self.rescheduled_from: str | None = None
        self.event_uri: str | None = None
        self.prev_status: str | None = None
        # delivery bookkeeping
        self.pending = False  # changed before the window: seen by a day-0 poll
        self.last_day = -1
        self.n_deliveries = 0
        self.closed = False  # deleted: never polled again

    # overridden
    def status(self) -> tuple[str, str | None]:
        raise NotImplementedError


class _CalEvent:
    def __init__(self) -> None:
        self.uuid = ""
        self.uri = ""
        self.name = "30 Minute Meeting"
        self.event_type = ""
        self.start: datetime = datetime.min
        self.end: datetime = datetime.min
        self.status = "active"
        self.cancellation: dict | None = None
        self.created_at: datetime = datetime.min
        self.updated_at: datetime = datetime.min
        self.host = 0
        self.limit = 1
        self.total = 0
        self.active = 0
        self.join_url = ""
        self.location_type = "google_conference"
        self.location_text: str | None = None
        self.notes: str | None = None
        self.guest: str | None = None
        self.calendar_external_id = ""


class _CalInvitee(_Appt):
    def __init__(self, key: str, uid: str, lead: _Lead | None, person: _Person, ev: _CalEvent, scenario: str) -> None:
        super().__init__("CALENDLY", key, lead, scenario, person.tz)
        self.uuid = uid
        self.uri = key
        self.person = person
        self.ev = ev
        self.event_uri = ev.uri
        self.email = person.email
        self.split_names = False
        self.status_str = "active"
        self.rescheduled = False
        self.old: str | None = None
        self.new: str | None = None
        self.cancellation: dict | None = None
        self.no_show: dict | None = None
        self.answer = ""
        self.text_number: str | None = None
        self.tracking: dict = {}
        self.payment: dict | None = None

    def status(self) -> tuple[str, str | None]:
        if self.status_str == "canceled":
            if self.rescheduled:
                return "RESCHEDULED", "rescheduled"
            return "CANCELED", (self.cancellation or {}).get("canceler_type")
        if self.ev.status == "canceled":
            return "CANCELED", (self.ev.cancellation or {}).get("canceler_type")
        if self.no_show:
            return "NO_SHOW", None
        return "CONFIRMED", None


# The demo's ground truth uses the pipeline's own mappings (tests/test_demo.py checks them against its own copy).
_GHL_STATUS = {
    name: (str(status), reason and str(reason)) for name, (status, reason) in GHL_STATUS.items()
}


class _GhlAppt(_Appt):
    def __init__(self, key: str, lead: _Lead | None, person: _Person, contact_id: str, scenario: str) -> None:
        super().__init__("GHL", key, lead, scenario, person.tz)
        self.person = person
        self.contact_id = contact_id
        self.status_str = "confirmed"
        self.typo = False
        self.deleted = False
        self.calendar = _GHL_CALENDARS[0]
        self.user = _GHL_USERS[0]
        self.title = person.full
        self.notes = ""
        self.address = ""
        self.source = "booking_widget"

    def status(self) -> tuple[str, str | None]:
        if self.deleted:
            return "CANCELED", "deleted"
        return _GHL_STATUS[self.status_str]


_LEGACY_STATUS = {name: str(status) for name, status in LEGACY_STATUS.items()}


class _Builder:
    def __init__(self, *, leads: int, days: int, start: date, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n_leads = leads
        self.days = days
        self.start = start
        self.w0 = datetime.combine(start, time(0), UTC)
        self.w1 = self.w0 + timedelta(days=days)
        # (provider, day, kind, sort time, seq, line, malformed/ignored reason or None); a line is text, or a
        # Calendly line whose shape is settled at assembly
        self.obs: list[tuple[str, int, str, datetime, int, str | _CalLine | _EventLineOf, str | None]] = []
        self.seq = 0
        self.event_line: _CalLine | None = None  # the invitee line being pushed may owe its event's line
        self.pii: set[str] = set()
        self.leads: list[_Lead] = []
        self.scen: dict[str, list[str]] = defaultdict(list)
        self.appts: list[_Appt] = []
        self.legacy_truth: list[DemoAppointment] = []
        self.drifting: set[str] = set()  # leads whose legacy rollup was deliberately changed
        self.ghl_counter = 0
        self.stranger_counter = 0
        self.hop_counter = 0
        self.ghl_appt_counter = 0
        self.cal_counter = 0
        self.host_uris = [f"{_CAL}/users/{self._uuid()}" for _ in _HOSTS]
        self.event_types = [f"{_CAL}/event_types/{self._uuid()}" for _ in range(2)]

    # ---------------------------------------------------------------- small helpers
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _between(self, a: datetime, b: datetime) -> datetime:
        span = int((b - a).total_seconds())
        return a + timedelta(seconds=self.rng.randrange(span) if span > 1 else 0)

    @staticmethod
    def _quarter(t: datetime) -> datetime:
        t = t.replace(second=0, microsecond=0)
        return t + timedelta(minutes=(15 - t.minute % 15) % 15)

    def _micro(self, t: datetime) -> datetime:
        return t.replace(microsecond=self.rng.randrange(1_000_000))

    def _day(self, t: datetime) -> int:
        return max(0, (t.astimezone(UTC).date() - self.start).days)

    def _ghl_id(self) -> str:
        self.ghl_counter += 1
        return f"apt{self.ghl_counter:017d}"

    def _stranger(self) -> _Person:
        self.stranger_counter += 1
        n = self.stranger_counter
        first, last = self.rng.choice(_FIRST_NAMES), self.rng.choice(_LAST_NAMES)
        email = f"{first.lower()}.{last.lower()}.x{n}@example.org"
        phone = f"+1 555-09{(n // 10000) % 100:02d}-{n % 10000:04d}"
        return _Person(n, first, last, email, phone, self.rng.choice(_TIMEZONES))

    def _booking_and_start(self, *, allow_past: bool = True) -> tuple[datetime, datetime]:
        """A booking time and a start time spread around the window (before, inside, weeks after)."""
        rng = self.rng
        if rng.random() < 0.25:
            booked = self._between(self.w0 - timedelta(days=21), self.w0 - timedelta(hours=1))
            mode = rng.choice(("past", "window", "upcoming")) if allow_past else rng.choice(("window", "upcoming"))
        else:
            booked = self._between(self.w0, self.w1 - timedelta(hours=8))
            mode = rng.choice(("window", "upcoming"))
        if mode == "past" and booked + timedelta(days=1) < self.w0 - timedelta(hours=2):
            start = self._between(booked + timedelta(days=1), self.w0 - timedelta(hours=2))
        elif mode == "window" and booked + timedelta(hours=2) < self.w1 - timedelta(hours=3):
            start = self._between(max(booked + timedelta(hours=2), self.w0), self.w1 - timedelta(hours=3))
        else:
            start = self._between(self.w1 + timedelta(days=1), self.w1 + timedelta(days=56))
        return self._micro(booked), self._quarter(start)

    # ---------------------------------------------------------------- delivery
    def _push(
        self, provider: str, day: int, kind: str, t: datetime, line: str | _CalLine, bad: str | None = None
    ) -> None:
        assert 0 <= day < self.days, (day, self.days)
        self.seq += 1
        self.obs.append((provider, day, kind, t, self.seq, line, bad))
        if self.event_line is not None:
            # An invitee line without its scheduled event: the same day's /scheduled_events pull describes the
            # event, so its times and status are known wherever the invitee is.
            assert line is self.event_line
            owed, self.event_line = _EventLineOf(self.event_line), None
            self.seq += 1
            self.obs.append((provider, day, "poll", t, self.seq, owed, None))

    def _payload(self, a: _Appt, form: str, wtype: str | None = None) -> str | _CalLine:
        if isinstance(a, _CalInvitee):
            return self._cal_line(a, form)
        assert isinstance(a, _GhlAppt)
        return self._ghl_line(a, form, wtype)

    def _touch(self, a: _Appt, t: datetime) -> None:
        """Call BEFORE changing ``a`` at time ``t``: a pre-window state becomes visible by a day-0 poll."""
        if a.pending and t >= self.w0:
            span = min(max(60, int((t - self.w0).total_seconds()) // 2), 86_399)
            when = self.w0 + timedelta(seconds=self.rng.randrange(span))
            self._push(a.provider.lower(), 0, "poll", when, self._payload(a, "poll"))
            a.pending = False
            a.last_day = max(a.last_day, 0)
            a.n_deliveries += 1

    def _observe(
        self,
        a: _Appt,
        t: datetime,
        *,
        form: str | None = None,
        delay_days: int = 0,
        wtype: str | None = None,
    ) -> None:
        """Record the state of ``a`` (already changed) as of ``t``."""
        assert t < self.w1, (t, self.w1)
        status = a.status()[0]
        if status != a.prev_status:
            a.prev_status = status
            a.status_changed_at = t
        a.updated_at = t
        if t < self.w0:
            a.pending = True
            return
        day = self._day(t) + delay_days
        if day < a.last_day:  # never deliver a newer state on an earlier day than an older one
            day = a.last_day
            delay_days = 1
        if form is None:
            form = "webhook" if self.rng.random() < 0.75 else "poll"
        if wtype is None and isinstance(a, _GhlAppt):
            wtype = "AppointmentCreate" if a.n_deliveries == 0 else "AppointmentUpdate"
        line = self._payload(a, form, wtype)
        provider = a.provider.lower()
        when = t + timedelta(seconds=1) if delay_days == 0 else self.w0 + timedelta(days=day, seconds=self.rng.randrange(3600))
        self._push(provider, day, form, when, line)
        if form == "webhook" and self.rng.random() < 0.06:  # duplicate delivery (a retry) the same day
            day_end = self.w0 + timedelta(days=day + 1) - timedelta(seconds=1)
            self._push(provider, day, form, min(when + timedelta(minutes=self.rng.randrange(1, 90)), day_end), line)
        a.last_day = max(a.last_day, day)
        a.n_deliveries += 1

    def _finish(self, a: _Appt) -> None:
        """Flush a pre-window state, then a few reconcile polls of the final state on later days."""
        if a.pending:
            self._touch(a, self.w0 + timedelta(hours=6))
        if a.closed:
            return
        extra = 0
        for day in range(a.last_day + 1, self.days):
            if extra < 2 and self.rng.random() < 0.08:
                when = self.w0 + timedelta(days=day, seconds=self.rng.randrange(86_400))
                self._push(a.provider.lower(), day, "poll", when, self._payload(a, "poll"))
                extra += 1

    # ---------------------------------------------------------------- Calendly
    def _cal_event(self, start: datetime, created: datetime, *, minutes: int = 30, limit: int = 1) -> _CalEvent:
        rng = self.rng
        ev = _CalEvent()
        ev.uuid = self._uuid()
        ev.uri = f"{_CAL}/scheduled_events/{ev.uuid}"
        ev.start = start
        ev.end = start + timedelta(minutes=minutes)
        ev.created_at = created
        ev.updated_at = created
        ev.host = rng.randrange(len(_HOSTS))
        ev.limit = limit
        ev.name = "Group Workshop" if limit > 1 else ("30 Minute Meeting" if minutes == 30 else "60 Minute Consultation")
        ev.event_type = self.event_types[1 if limit > 1 else 0]
        kind = rng.random()
        if kind < 0.6:
            ev.location_type = "google_conference"
            ev.join_url = f"https://meet.example.com/{ev.uuid[:3]}-{ev.uuid[9:13]}-{ev.uuid[14:17]}"
        elif kind < 0.8:
            ev.location_type = "zoom_conference"
            ev.join_url = f"https://zoom.example.com/j/{int(ev.uuid[-8:], 16)}"
        else:
            ev.location_type = "physical"
            ev.location_text = f"{rng.randrange(1, 999)} {rng.choice(_STREETS)}, Springfield"
        ev.calendar_event_id = ev.uuid.replace("-", "")[:26]
        return ev

    def _cal_invitee(
        self, person: _Person, lead: _Lead | None, ev: _CalEvent, created: datetime, scenario: str
    ) -> _CalInvitee:
        rng = self.rng
        uid = self._uuid()
        inv = _CalInvitee(f"{ev.uri}/invitees/{uid}", uid, lead, person, ev, scenario)
        self.cal_counter += 1
        inv.created_at = created
        inv.start, inv.end = ev.start, ev.end
        inv.split_names = rng.random() < 0.3
        if rng.random() < 0.15:  # entered with capitals (Calendly keeps the address as typed)
            local, _, domain = person.email.partition("@")
            inv.email = f"{local[:1].upper()}{local[1:]}@{domain.capitalize()}"
        r = rng.random()
        if r < 0.5:
            inv.answer = rng.choice(_TOPICS)
        elif r < 0.8:
            inv.answer = f"Please call me at {person.phone}"
        else:
            inv.answer = f"{person.full}, {rng.choice(_TOPICS).lower()}"
        r = rng.random()
        inv.text_number = person.phone if r < 0.5 else (person.phone.replace(" ", "").replace("-", "") if r < 0.7 else None)
        inv.tracking = {
            "utm_campaign": rng.choice((None, "winter_promo")),
            "utm_source": rng.choice((None, "newsletter", "google")),
            "utm_medium": rng.choice((None, "email", "cpc")),
            "utm_content": None,
            "utm_term": None,
            "salesforce_uuid": None,
        }
        if rng.random() < 0.05:
            inv.payment = {
                "external_id": f"ch_{uid.replace('-', '')[:24]}",
                "provider": "stripe",
                "amount": 50.0,
                "currency": "USD",
                "terms": None,
                "successful": True,
            }
        ev.total += 1
        ev.active += 1
        ev.updated_at = max(ev.updated_at, created)
        if ev.total == 1 and rng.random() < 0.2:
            ev.notes = f"Call {person.full} at {person.phone} before the meeting"
        if ev.total == 1 and rng.random() < 0.1:
            ev.guest = f"guest.{person.last.lower()}{person.idx}@example.net"
        return inv

    def _cal_event_payload(self, ev: _CalEvent) -> dict:
        host_name, host_email = _HOSTS[ev.host]
        self.pii.update((host_name, host_email))
        location: dict = {"type": ev.location_type}
        if ev.join_url:
            location.update(status="pushed", join_url=ev.join_url)
        else:
            location["location"] = ev.location_text
            self.pii.add(ev.location_text or "")
        payload = {
            "uri": ev.uri,
            "name": ev.name,
            "meeting_notes_plain": ev.notes,
            "meeting_notes_html": f"<p>{ev.notes}</p>" if ev.notes else None,
            "status": ev.status,
            "start_time": _cal_ts(ev.start),
            "end_time": _cal_ts(ev.end),
            "event_type": ev.event_type,
            "location": location,
            "invitees_counter": {"total": ev.total, "active": ev.active, "limit": ev.limit},
            "created_at": _cal_ts(ev.created_at),
            "updated_at": _cal_ts(ev.updated_at),
            "event_memberships": [
                {
                    "user": self.host_uris[ev.host],
                    "user_email": host_email,
                    "user_name": host_name,
                    "buffered_start_time": _cal_ts(ev.start),
                    "buffered_end_time": _cal_ts(ev.end),
                }
            ],
            "event_guests": [],
            "calendar_event": {"kind": "google", "external_id": ev.calendar_event_id},
        }
        if ev.guest:
            payload["event_guests"] = [
                {"email": ev.guest, "created_at": _cal_ts(ev.created_at), "updated_at": _cal_ts(ev.created_at)}
            ]
            self.pii.add(ev.guest)
        if ev.cancellation:
            payload["cancellation"] = dict(ev.cancellation)
            self.pii.add(ev.cancellation["canceled_by"])
        return payload

    def _cal_object(self, inv: _CalInvitee) -> dict:
        p = inv.person
        self.pii.update((inv.email, p.full, p.first, p.last))
        if inv.text_number:
            self.pii.add(inv.text_number)
        if p.phone in inv.answer or p.phone in (inv.ev.notes or ""):
            self.pii.add(p.phone)
        obj = {
            "uri": inv.uri,
            "email": inv.email,
            "name": p.full,
            "first_name": p.first if inv.split_names else None,
            "last_name": p.last if inv.split_names else None,
            "status": inv.status_str,
            "timezone": inv.tz,
            "event": inv.ev.uri,
            "created_at": _cal_ts(inv.created_at),
            "updated_at": _cal_ts(inv.updated_at),
            "questions_and_answers": [
                {"question": "What would you like to discuss?", "answer": inv.answer, "position": 0}
            ],
            "tracking": inv.tracking,
            "text_reminder_number": inv.text_number,
            "rescheduled": inv.rescheduled,
            "old_invitee": inv.old,
            "new_invitee": inv.new,
            "cancel_url": f"https://calendly.com/cancellations/{inv.uuid}",
            "reschedule_url": f"https://calendly.com/reschedulings/{inv.uuid}",
            "routing_form_submission": None,
            "payment": inv.payment,
            "no_show": inv.no_show,
            "reconfirmation": None,
            "scheduling_method": None,
            "invitee_scheduled_by": None,
            "scheduled_event": self._cal_event_payload(inv.ev),
        }
        if inv.cancellation:
            obj["cancellation"] = dict(inv.cancellation)
            self.pii.add(inv.cancellation["canceled_by"])
        return obj

    def _cal_line(self, inv: _CalInvitee, form: str) -> str | _CalLine:
        """One invitee line. A quarter of them are chosen to carry only the event's URI (Calendly's own webhook
        examples and every invitee API resource do), some poll lines as a GET body; those owe the event as a line of
        its own (see ``_CalLine`` for the ones that keep it after all)."""
        assert self.event_line is None, "the previous invitee line was never pushed"
        obj = self._cal_object(inv)
        embedded = self._cal_wrap(inv, form, obj)
        shape = _digest(inv.uri, obj["updated_at"])
        if shape[0] % 4:
            return embedded
        event = obj.pop("scheduled_event")
        stripped = _dumps({"resource": obj}) if form == "poll" and shape[2] % 2 == 0 else self._cal_wrap(inv, form, obj)
        event_line = _dumps({"resource": event} if shape[1] % 3 == 0 else event)
        active_then = inv.status_str == "active" and inv.ev.status == "active"
        self.event_line = _CalLine(embedded, stripped, event_line, inv.ev, active_then)
        return self.event_line

    def _cal_wrap(self, inv: _CalInvitee, form: str, obj: dict) -> str:
        if form == "poll":
            return _dumps(obj)
        envelope = {
            "event": "invitee.canceled" if inv.status_str == "canceled" else "invitee.created",
            "created_at": _cal_ts(inv.updated_at + timedelta(microseconds=135_000)),
            "created_by": self.host_uris[inv.ev.host],
            "payload": obj,
        }
        return _dumps(envelope)

    def _cal_cancel(self, inv: _CalInvitee, t: datetime, canceler: str, *, event_too: bool = True) -> None:
        rng = self.rng
        if canceler == "host":
            by = _HOSTS[inv.ev.host][0]
            reason = rng.choice(_CANCEL_REASONS_HOST)
        else:
            by = inv.person.full
            reason = rng.choice(_CANCEL_REASONS_INVITEE)
        cancellation = {
            "canceled_by": by,
            "reason": reason,
            "canceler_type": canceler,
            "created_at": _cal_ts(t - timedelta(milliseconds=100)),
        }
        inv.status_str = "canceled"
        inv.cancellation = cancellation
        inv.canceled_at = t - timedelta(milliseconds=100)
        inv.updated_at = t
        inv.ev.active -= 1
        inv.ev.updated_at = t
        if event_too:
            inv.ev.status = "canceled"
            inv.ev.cancellation = dict(cancellation)

    def _cal_booking(self, lead: _Lead | None, person: _Person, scenario: str, *, allow_past: bool = True,
                     booked: datetime | None = None, start: datetime | None = None,
                     email: str | None = None) -> _CalInvitee:  # fmt: skip
        if booked is None or start is None:
            booked, start = self._booking_and_start(allow_past=allow_past)
        minutes = 30 if self.rng.random() < 0.7 else 60
        ev = self._cal_event(start, booked - timedelta(milliseconds=80), minutes=minutes)
        inv = self._cal_invitee(person, lead, ev, booked, scenario)
        if email is not None:
            inv.email = email
        self._register(inv)
        self._observe(inv, booked)
        return inv

    def _register(self, a: _Appt) -> None:
        self.appts.append(a)
        if a.lead is not None:
            a.lead.appts.append(a)

    def _cancel_window(self, booked: datetime, start: datetime) -> tuple[datetime, datetime] | None:
        lo = max(booked + timedelta(minutes=10), self.w0)
        hi = min(start - timedelta(minutes=30), self.w1 - timedelta(minutes=1))
        return (lo, hi) if lo < hi else None

    def _booking_with_cancel_room(self) -> tuple[datetime, datetime, datetime]:
        """booked, start and a cancel time inside the window before the start."""
        for _ in range(50):
            booked, start = self._booking_and_start(allow_past=False)
            window = self._cancel_window(booked, start)
            if window:
                return booked, start, self._micro(self._between(*window))
        booked = self._micro(self.w0)
        start = self._quarter(self.w1 + timedelta(days=3))
        return booked, start, booked + timedelta(minutes=30)

    # scenario handlers --------------------------------------------------------------------------------------------
    def sc_cal_plain(self, lead: _Lead, k: int) -> None:
        inv = self._cal_booking(lead, lead.person, "cal_plain")
        self._finish(inv)
        self._legacy_from_appointments(lead)

    def _sc_cal_cancel(self, lead: _Lead, canceler: str, scenario: str, *, legacy: bool = True,
                       email: str | None = None) -> _CalInvitee:  # fmt: skip
        booked, start, cancel_at = self._booking_with_cancel_room()
        inv = self._cal_booking(lead, lead.person, scenario, booked=booked, start=start, email=email)
        self._touch(inv, cancel_at)
        self._cal_cancel(inv, cancel_at, canceler)
        self._observe(inv, cancel_at)
        self._finish(inv)
        if legacy:
            self._legacy_from_appointments(lead)
        return inv

    def sc_cal_cancel_invitee(self, lead: _Lead, k: int) -> None:
        self._sc_cal_cancel(lead, "invitee", "cal_cancel_invitee")

    def sc_cal_cancel_host(self, lead: _Lead, k: int) -> None:
        if k % 3 != 1:
            self._sc_cal_cancel(lead, "host", "cal_cancel_host")
            return
        # the host canceled the scheduled event; the invitee record still says "active"
        booked, start, cancel_at = self._booking_with_cancel_room()
        inv = self._cal_booking(lead, lead.person, "cal_cancel_host", booked=booked, start=start)
        self._touch(inv, cancel_at)
        inv.ev.status = "canceled"
        inv.ev.cancellation = {
            "canceled_by": _HOSTS[inv.ev.host][0],
            "reason": self.rng.choice(_CANCEL_REASONS_HOST),
            "canceler_type": "host",
            "created_at": _cal_ts(cancel_at),
        }
        inv.ev.active = 0
        inv.ev.updated_at = cancel_at
        inv.updated_at = cancel_at
        inv.canceled_at = cancel_at
        self._observe(inv, cancel_at, form="poll")
        self._finish(inv)
        self._legacy_from_appointments(lead)
        self.scen["cal_event_canceled_invitee_active"].append(lead.id)

    def sc_cal_no_show(self, lead: _Lead, k: int) -> None:
        rng = self.rng
        booked = self._micro(self._between(self.w0 - timedelta(days=10), max(self.w1 - timedelta(days=2), self.w0 - timedelta(days=1))))
        lo = max(booked + timedelta(hours=2), self.w0)
        hi = self.w1 - timedelta(hours=5)
        if lo >= hi:
            lo = booked + timedelta(hours=2)
        start = self._quarter(self._between(lo, hi))
        if start + timedelta(hours=1) >= self.w1:
            start = self._quarter(booked + timedelta(hours=2))
        inv = self._cal_booking(lead, lead.person, "cal_no_show", booked=booked, start=start)
        marked = self._micro(start + timedelta(minutes=rng.randrange(35, 150)))
        if marked >= self.w1:
            marked = self.w1 - timedelta(minutes=1)
        self._touch(inv, marked)
        inv.no_show = {"uri": f"{_CAL}/invitee_no_shows/{self._uuid()}", "created_at": _cal_ts(marked)}
        inv.updated_at = marked
        self._observe(inv, marked, form="poll")  # the envelope carries only invitee.created/canceled
        self._finish(inv)
        self._legacy_from_appointments(lead)

    def sc_cal_reschedule(self, lead: _Lead, k: int) -> None:
        rng = self.rng
        hops = 1 + (k + 2) % 3  # 3, 1, 2, 3, 1, 2, ...
        span = self.w1 - self.w0
        booked = self._micro(self._between(self.w0 - timedelta(days=5), self.w0 + span / 4))
        lo = max(booked, self.w0) + timedelta(minutes=30)
        hi = self.w1 - timedelta(hours=1)
        times = sorted(self._micro(self._between(lo, hi)) for _ in range(hops))
        for i in range(1, hops):  # keep the hops apart
            if times[i] <= times[i - 1] + timedelta(minutes=5):
                times[i] = times[i - 1] + timedelta(minutes=5)
        hops = sum(1 for t in times if t < self.w1)
        times = times[:hops]
        self.scen[f"cal_reschedule_{hops}hop"].append(lead.id)
        first_start = self._quarter(times[0] + timedelta(hours=rng.randrange(2, 240)))
        minutes = 30 if rng.random() < 0.7 else 60
        ev = self._cal_event(first_start, booked - timedelta(milliseconds=80), minutes=minutes)
        old = self._cal_invitee(lead.person, lead, ev, booked, "cal_reschedule")
        self._register(old)
        self._observe(old, booked)
        chain = [old]
        for h, r in enumerate(times):
            variant = ("same_day", "new_later", "old_later")[self.hop_counter % 3]
            self.hop_counter += 1
            if self._day(r) + 1 >= self.days:
                variant = "same_day"
            if variant == "new_later" and h + 1 < len(times) and self._day(times[h + 1]) <= self._day(r) + 1:
                variant = "same_day"  # the next hop must not be delivered before this creation
            if h + 1 < len(times):
                new_start = self._quarter(times[h + 1] + timedelta(hours=rng.randrange(2, 240)))
            else:
                new_start = self._quarter(r + timedelta(hours=rng.randrange(24, 21 * 24)))
            new_ev = self._cal_event(new_start, r, minutes=minutes)
            new = self._cal_invitee(lead.person, lead, new_ev, r + timedelta(milliseconds=300), "cal_reschedule")
            new.email = old.email
            new.split_names = old.split_names
            new.old = old.uri
            new.rescheduled_from = old.key
            self._touch(old, r)
            self._cal_cancel(old, r, "invitee")
            old.rescheduled = True
            old.new = new.uri
            old.cancellation["reason"] = rng.choice((None, "Need a later slot"))  # type: ignore[index]
            old.ev.cancellation = dict(old.cancellation)  # type: ignore[arg-type]
            self._register(new)
            self._observe(old, r, form="webhook", delay_days=1 if variant == "old_later" else 0)
            self._observe(new, r + timedelta(milliseconds=300), form="webhook",
                          delay_days=1 if variant == "new_later" else 0)  # fmt: skip
            if variant == "new_later":
                self.scen["cal_reschedule_split_days"].append(lead.id)
            elif variant == "old_later":
                self.scen["cal_reschedule_new_first"].append(lead.id)
            self._finish(old)
            chain.append(new)
            old = new
        self._finish(old)
        self._legacy_from_appointments(lead)
        if rng.random() < 0.2 and lead.legacy and len(chain) > 1 and lead.id not in self.drifting:
            # legacy never heard of the reschedule
            first = chain[0]
            lead.legacy.update(
                calendlyInviteeUri=first.key,
                calendlyScheduledEventUri=first.event_uri,
                appointmentStatus="confirmed",
                appointmentStartAt=first.start,
                appointmentEndAt=first.end,
                appointmentBookedAt=first.created_at,
                appointmentCanceledAt=None,
            )
            self.drifting.add(lead.id)

    def sc_cal_group(self, leads: list[_Lead], k: int) -> None:
        rng = self.rng
        span = self.w1 - self.w0
        bookings = sorted(
            self._micro(self._between(self.w0 - timedelta(days=3), self.w0 + span / 2)) for _ in leads
        )
        if rng.random() < 0.5:
            start = self._quarter(self._between(self.w1 + timedelta(days=1), self.w1 + timedelta(days=30)))
        else:
            start = self._quarter(self._between(max(bookings[-1], self.w0) + timedelta(hours=6), self.w1 + timedelta(days=10)))
        ev = self._cal_event(start, bookings[0] - timedelta(milliseconds=80), minutes=60, limit=len(leads) + 2)
        canceler = rng.randrange(len(leads))
        actions: list[tuple[datetime, int, str]] = [(b, i, "book") for i, b in enumerate(bookings)]
        window = self._cancel_window(bookings[canceler], start)
        if window is None:
            window = (max(bookings[canceler], self.w0) + timedelta(seconds=1), self.w1 - timedelta(seconds=1))
        cancel_at = self._micro(self._between(*window))
        actions.append((cancel_at, canceler, "cancel"))
        actions.sort()
        invitees: dict[int, _CalInvitee] = {}
        for t, i, what in actions:
            if what == "book":
                inv = self._cal_invitee(leads[i].person, leads[i], ev, t, "cal_group")
                invitees[i] = inv
                self._register(inv)
                self._observe(inv, t)
            else:
                inv = invitees[i]
                self._touch(inv, t)
                self._cal_cancel(inv, t, "invitee", event_too=False)
                self._observe(inv, t)
        for i in sorted(invitees):
            self._finish(invitees[i])
        for lead in leads:
            self.scen["cal_group"].append(lead.id)
            self._legacy_from_appointments(lead)
        self.scen["cal_group_canceler"].append(leads[canceler].id)

    def sc_cal_email_only(self, lead: _Lead, k: int) -> None:
        if k % 3 == 0:
            lead.email_db = self._email_variant(lead.person.email, k)
        email = lead.person.email.upper() if k % 3 == 1 else None  # typed in capitals on the booking page
        if k % 2 == 0:
            inv = self._cal_booking(lead, lead.person, "cal_email_only", email=email)
            self._finish(inv)
        else:
            self._sc_cal_cancel(lead, "invitee", "cal_email_only", legacy=False, email=email)

    def sc_cal_email_shared(self, leads: list[_Lead], k: int) -> None:
        older, newer = leads
        newer.person.email = older.person.email
        newer.email_db = self._email_variant(older.person.email, k) if k % 2 == 0 else older.person.email
        inv = self._cal_booking(newer, newer.person, "cal_email_shared")
        self._finish(inv)
        # createdAt order decides the owner: fix it after the booking so "newer" is strictly later
        older.created_at = inv.created_at - timedelta(days=60 + self.rng.randrange(30))  # type: ignore[operator]
        newer.created_at = inv.created_at - timedelta(days=1 + self.rng.randrange(20))  # type: ignore[operator]
        self.scen["cal_email_shared"].extend((older.id, newer.id))

    def sc_cal_event_uri_only(self, lead: _Lead, k: int) -> None:
        inv = self._cal_booking(lead, lead.person, "cal_event_uri_only")
        self._finish(inv)
        self._legacy_from_appointments(lead)
        for legacy in (lead.legacy, lead.legacy_agree):
            legacy["calendlyInviteeUri"] = None
            if k % 2:
                legacy["appointmentProvider"] = None  # the event URI alone says CALENDLY

    # ---------------------------------------------------------------- GHL
    def _ghl_object(self, a: _GhlAppt) -> dict:
        self.pii.add(a.person.full)
        if a.address and not a.address.startswith("https://"):
            self.pii.add(a.address)
        if a.person.phone in a.notes or a.person.phone in a.address:
            self.pii.add(a.person.phone)
        obj = {
            "id": a.key,
            "address": a.address,
            "title": a.title,
            "calendarId": a.calendar,
            "contactId": a.contact_id,
            "groupId": _GHL_GROUP,
            ("appoinmentStatus" if a.typo else "appointmentStatus"): a.status_str,
            "assignedUserId": a.user,
            "users": [a.user],
            "notes": a.notes,
            "startTime": _ghl_ts(a.start, a.tz),  # type: ignore[arg-type]
            "endTime": _ghl_ts(a.end, a.tz),  # type: ignore[arg-type]
            "dateAdded": _ghl_ts(a.created_at, a.tz),  # type: ignore[arg-type]
            "dateUpdated": _ghl_ts(a.updated_at, a.tz),  # type: ignore[arg-type]
        }
        return obj

    def _ghl_line(self, a: _GhlAppt, form: str, wtype: str | None) -> str:
        obj = self._ghl_object(a)
        if form == "poll":
            obj.update(
                locationId=_GHL_LOCATION,
                isRecurring=False,
                createdBy={"source": a.source, "userId": a.user},
            )
            return _dumps(obj)
        obj["source"] = a.source
        return _dumps({"type": wtype or "AppointmentUpdate", "locationId": _GHL_LOCATION, "appointment": obj})

    def _ghl_new(self, lead: _Lead | None, person: _Person, contact_id: str, scenario: str, *,
                 booked: datetime, start: datetime, status: str) -> _GhlAppt:  # fmt: skip
        rng = self.rng
        a = _GhlAppt(self._ghl_id(), lead, person, contact_id, scenario)
        self.ghl_appt_counter += 1
        a.typo = self.ghl_appt_counter % 9 == 4
        if a.typo and lead is not None:
            self.scen["ghl_typo_status_key"].append(lead.id)
        a.calendar = rng.choice(_GHL_CALENDARS)
        a.user = rng.choice(_GHL_USERS)
        a.source = rng.choice(_GHL_SOURCES)
        a.title = person.full if rng.random() < 0.7 else f"Consultation - {person.full}"
        r = rng.random()
        if r < 0.6:
            a.address = f"https://meet.example.com/{rng.getrandbits(40):010x}"
        elif r < 0.8:
            a.address = f"{rng.randrange(1, 999)} {rng.choice(_STREETS)}, Springfield"
        else:
            a.address = person.phone
        r = rng.random()
        a.notes = f"Call back at {person.phone}" if r < 0.25 else rng.choice(_GHL_NOTES)
        a.created_at = booked.replace(microsecond=0)
        a.start = start
        a.end = start + timedelta(minutes=30 if rng.random() < 0.6 else 60)
        a.status_str = status
        self._register(a)
        self._observe(a, a.created_at)
        return a

    def _ghl_set(self, a: _GhlAppt, t: datetime, *, status: str | None = None, start: datetime | None = None,
                 form: str | None = None) -> None:  # fmt: skip
        t = t.replace(microsecond=0)
        self._touch(a, t)
        if status is not None:
            a.status_str = status
            if _GHL_STATUS[status][0] == "CANCELED":
                a.canceled_at = t
        if start is not None:
            duration = a.end - a.start  # type: ignore[operator]
            a.start, a.end = start, start + duration
        self._observe(a, t, form=form)

    def _contact(self, lead: _Lead) -> str:
        if lead.contact_id is None:
            lead.contact_id = f"ctc{lead.person.idx:017d}"
        return lead.contact_id

    def _sc_ghl(self, lead: _Lead, final: str, scenario: str, k: int, *, legacy: bool = True) -> _GhlAppt:
        rng = self.rng
        contact = self._contact(lead)
        if final in ("showed", "noshow"):
            booked = self._between(self.w0 - timedelta(days=12), max(self.w1 - timedelta(days=2), self.w0 - timedelta(days=1)))
            lo = max(booked + timedelta(hours=2), self.w0 - timedelta(days=2) if k % 3 == 0 else self.w0)
            hi = self.w1 - timedelta(hours=5)
            start = self._quarter(self._between(lo, hi) if lo < hi else booked + timedelta(hours=2))
            a = self._ghl_new(lead, lead.person, contact, scenario, booked=booked, start=start, status="confirmed")
            done = start + timedelta(minutes=rng.randrange(40, 180))
            if done >= self.w1:
                done = self.w1 - timedelta(minutes=1)
            word = final
            if final == "showed" and k % 4 == 3:
                word = "completed"
            self._ghl_set(a, done, status=word)
        elif final == "cancelled":
            booked, start, cancel_at = self._booking_with_cancel_room()
            a = self._ghl_new(lead, lead.person, contact, scenario, booked=booked, start=start, status="confirmed")
            self._ghl_set(a, max(cancel_at, a.created_at + timedelta(seconds=1)), status="cancelled")  # type: ignore[operator]
        elif final in ("new", "confirmed"):
            booked, start = self._booking_and_start()
            first = "new" if (final == "new" or rng.random() < 0.5) else ("active" if k % 5 == 4 else "confirmed")
            a = self._ghl_new(lead, lead.person, contact, scenario, booked=booked, start=start, status=first)
            if final == "confirmed" and first == "new":
                t = a.created_at + timedelta(minutes=rng.randrange(5, 600))  # type: ignore[operator]
                if t < self.w1:
                    self._ghl_set(a, t, status="confirmed")
        elif final == "invalid":
            booked, start, when = self._booking_with_cancel_room()
            a = self._ghl_new(lead, lead.person, contact, scenario, booked=booked, start=start, status="new")
            self._ghl_set(a, max(when, a.created_at + timedelta(seconds=1)), status="invalid")  # type: ignore[operator]
        else:  # pragma: no cover
            raise AssertionError(final)
        self._finish(a)
        if legacy:
            self._legacy_from_appointments(lead)
        return a

    def sc_ghl_new(self, lead: _Lead, k: int) -> None:
        self._sc_ghl(lead, "new", "ghl_new", k)

    def sc_ghl_confirmed(self, lead: _Lead, k: int) -> None:
        self._sc_ghl(lead, "confirmed", "ghl_confirmed", k)

    def sc_ghl_cancelled(self, lead: _Lead, k: int) -> None:
        self._sc_ghl(lead, "cancelled", "ghl_cancelled", k)

    def sc_ghl_showed(self, lead: _Lead, k: int) -> None:
        self._sc_ghl(lead, "showed", "ghl_showed", k)

    def sc_ghl_noshow(self, lead: _Lead, k: int) -> None:
        self._sc_ghl(lead, "noshow", "ghl_noshow", k)

    def sc_ghl_invalid(self, lead: _Lead, k: int) -> None:
        self._sc_ghl(lead, "invalid", "ghl_invalid", k)

    def sc_ghl_reschedule(self, lead: _Lead, k: int) -> None:
        rng = self.rng
        contact = self._contact(lead)
        span = self.w1 - self.w0
        booked = self._between(self.w0 - timedelta(days=4), self.w0 + span / 3)
        moves = 1 + k % 2
        lo = max(booked, self.w0) + timedelta(minutes=20)
        times = sorted(self._between(lo, self.w1 - timedelta(hours=1)).replace(microsecond=0) for _ in range(moves))
        if moves == 2 and k % 4 == 1:  # twice within one day
            times[1] = min(times[0] + timedelta(minutes=rng.randrange(20, 120)), self.w1 - timedelta(minutes=1))
        for i in range(1, moves):
            if times[i] <= times[i - 1]:
                times[i] = times[i - 1] + timedelta(seconds=30)
        start = self._quarter(times[0] + timedelta(hours=rng.randrange(3, 120)))
        a = self._ghl_new(lead, lead.person, contact, "ghl_reschedule", booked=booked, start=start, status="confirmed")
        first_start = a.start
        for t in times:
            new_start = self._quarter(max(t, a.start) + timedelta(hours=rng.randrange(24, 24 * 20)))  # type: ignore[type-var]
            self._ghl_set(a, t, start=new_start)
        self._finish(a)
        self._legacy_from_appointments(lead)
        if rng.random() < 0.3 and lead.legacy and lead.id not in self.drifting:  # legacy still has the first time
            lead.legacy["appointmentStartAt"] = first_start
            lead.legacy["appointmentEndAt"] = first_start + (a.end - a.start)  # type: ignore[operator]
            self.drifting.add(lead.id)

    def sc_ghl_delete(self, lead: _Lead, k: int) -> None:
        contact = self._contact(lead)
        booked, start, when = self._booking_with_cancel_room()
        a = self._ghl_new(lead, lead.person, contact, "ghl_delete", booked=booked, start=start, status="confirmed")
        when = max(when.replace(microsecond=0), a.created_at + timedelta(seconds=1))  # type: ignore[operator]
        self._touch(a, when)
        a.deleted = True
        a.canceled_at = when
        self._observe(a, when, form="webhook", wtype="AppointmentDelete")
        a.closed = True
        self._finish(a)
        self._legacy_from_appointments(lead)

    def sc_ghl_contact_only(self, lead: _Lead, k: int) -> None:
        self._sc_ghl(lead, "cancelled" if k % 3 == 2 else "confirmed", "ghl_contact_only", k, legacy=False)

    def sc_both_providers(self, lead: _Lead, k: int) -> None:
        final = ("confirmed", "cancelled", "showed")[k % 3]
        self._sc_ghl(lead, final, "both_providers", k, legacy=False)
        if k % 2:
            inv = self._sc_cal_cancel(lead, "host", "both_providers", legacy=False)
        else:
            inv = self._cal_booking(lead, lead.person, "both_providers")
            self._finish(inv)
        self._legacy_from_appointments(lead)

    # ---------------------------------------------------------------- legacy only
    def _legacy_only(self, lead: _Lead, scenario: str, provider: str | None, key: str | None, status: str | None,
                     **fields: object) -> None:  # fmt: skip
        rng = self.rng
        booked, start = self._booking_and_start()
        minutes = 30
        legacy = {
            "appointmentProvider": provider,
            "appointmentStatus": status,
            "appointmentSource": rng.choice(_LEGACY_SOURCES),
            "appointmentStartAt": start,
            "appointmentEndAt": start + timedelta(minutes=minutes),
            "appointmentBookedAt": booked,
            "appointmentTimezone": lead.person.tz,
        }
        legacy.update(fields)
        lead.legacy = legacy
        lead.updated_at = max(booked, legacy.get("appointmentCanceledAt") or booked)  # type: ignore[type-var]
        if lead.updated_at >= self.w1:  # type: ignore[operator]
            lead.updated_at = self.w1 - timedelta(minutes=1)
        norm = _LEGACY_STATUS.get(status.lower()) if status else None
        if status is None:
            norm = "CANCELED" if legacy.get("appointmentCanceledAt") else "CONFIRMED"
        has_ghl = bool(legacy.get("ghlAppointmentId"))
        has_cal = bool(legacy.get("calendlyInviteeUri") or legacy.get("calendlyScheduledEventUri"))
        if has_ghl and has_cal:  # both keys: appointmentProvider decides, none -> legacy_ambiguous_provider
            real_provider = provider.upper() if provider else None
        elif has_ghl:
            real_provider = "GHL"
        elif has_cal:
            real_provider = "CALENDLY"
        else:
            real_provider = provider.upper() if provider else None
        if norm is not None and real_provider is not None:
            self.legacy_truth.append(
                DemoAppointment(
                    provider=real_provider,
                    key=key or f"legacy:{lead.id}",
                    lead_id=lead.id,
                    scenario=scenario,
                    status=norm,
                    cancel_reason="legacy" if norm == "CANCELED" else None,
                    rescheduled_from=None,
                    scheduled_event_uri=legacy.get("calendlyScheduledEventUri"),  # type: ignore[arg-type]
                    start_at=legacy.get("appointmentStartAt"),  # type: ignore[arg-type]
                    end_at=legacy.get("appointmentEndAt"),  # type: ignore[arg-type]
                    created_at=legacy.get("appointmentBookedAt") or lead.updated_at,  # type: ignore[arg-type]
                    canceled_at=legacy.get("appointmentCanceledAt"),  # type: ignore[arg-type]
                    legacy_only=True,
                )
            )

    def _legacy_cal_keys(self) -> tuple[str, str]:
        event = f"{_CAL}/scheduled_events/{self._uuid()}"
        return f"{event}/invitees/{self._uuid()}", event

    def sc_legacy_start_only(self, lead: _Lead, k: int) -> None:
        provider = ("GHL", "calendly", "Ghl")[k % 3]
        booked, start = self._booking_and_start()
        lead.legacy = {"appointmentProvider": provider, "appointmentStartAt": start}
        lead.updated_at = min(booked, self.w1 - timedelta(minutes=1))
        self.legacy_truth.append(
            DemoAppointment(provider.upper(), f"legacy:{lead.id}", lead.id, "legacy_start_only", "CONFIRMED", None,
                            None, None, start, None, lead.updated_at, None, True)  # fmt: skip
        )

    def sc_legacy_canceled_only(self, lead: _Lead, k: int) -> None:
        booked, _start = self._booking_and_start()
        canceled = min(booked + timedelta(hours=self.rng.randrange(1, 48)), self.w1 - timedelta(minutes=2))
        canceled = max(canceled, booked)
        if k % 2 == 0:
            key = self._ghl_id()
            self._legacy_only(lead, "legacy_canceled_only", None, key, None, ghlAppointmentId=key,
                              appointmentCanceledAt=canceled, appointmentBookedAt=booked)  # fmt: skip
        else:
            self._legacy_only(lead, "legacy_canceled_only", "CALENDLY", None, None, appointmentStartAt=None,
                              appointmentEndAt=None, appointmentCanceledAt=canceled, appointmentBookedAt=booked)  # fmt: skip

    def sc_legacy_odd_status(self, lead: _Lead, k: int) -> None:
        status = _LEGACY_ODD_STATUSES[k % len(_LEGACY_ODD_STATUSES)]
        if k % 2 == 0:
            key = self._ghl_id()
            self._legacy_only(lead, "legacy_odd_status", "ghl" if k % 4 == 0 else None, key, status,
                              ghlAppointmentId=key)  # fmt: skip
        else:
            inv, ev = self._legacy_cal_keys()
            self._legacy_only(lead, "legacy_odd_status", "Calendly", inv, status, calendlyInviteeUri=inv,
                              calendlyScheduledEventUri=ev)  # fmt: skip
        if _LEGACY_STATUS[status.lower()] == "CANCELED" and not lead.legacy.get("appointmentCanceledAt"):
            lead.legacy["appointmentCanceledAt"] = lead.legacy["appointmentBookedAt"] + timedelta(hours=3)

    def sc_legacy_unknown_status(self, lead: _Lead, k: int) -> None:
        key = self._ghl_id()
        self._legacy_only(lead, "legacy_unknown_status", "GHL", key, "pending", ghlAppointmentId=key)

    def sc_legacy_ambiguous_provider(self, lead: _Lead, k: int) -> None:
        key = self._ghl_id()
        inv, ev = self._legacy_cal_keys()
        self._legacy_only(lead, "legacy_ambiguous_provider", None, None, "confirmed", ghlAppointmentId=key,
                          calendlyInviteeUri=inv, calendlyScheduledEventUri=ev)  # fmt: skip

    def sc_legacy_both_keys_with_provider(self, lead: _Lead, k: int) -> None:
        key = self._ghl_id()
        inv, ev = self._legacy_cal_keys()
        provider = "calendly" if k % 2 == 0 else "GHL"
        self._legacy_only(lead, "legacy_both_keys_with_provider", provider, inv if provider == "calendly" else key,
                          "confirmed", ghlAppointmentId=key, calendlyInviteeUri=inv, calendlyScheduledEventUri=ev)  # fmt: skip

    def sc_legacy_unknown_provider(self, lead: _Lead, k: int) -> None:
        booked, start = self._booking_and_start()
        lead.legacy = {"appointmentStartAt": start, "appointmentStatus": "confirmed", "appointmentSource": "manual"}
        lead.updated_at = min(booked, self.w1 - timedelta(minutes=1))

    def sc_no_appointment(self, lead: _Lead, k: int) -> None:
        pass

    # ---------------------------------------------------------------- legacy rollup of provider appointments
    def _primary(self, appts: list[_Appt]) -> _Appt:
        """docs/data-contract.md#primary-appointment-rule at the end of the window (``self.w1``)."""
        t = self.w1
        stat = [(a, a.status()[0]) for a in appts]
        upcoming = [a for a, s in stat if s == "CONFIRMED" and a.start is not None and a.start > t]
        if upcoming:
            return min(upcoming, key=lambda a: (a.start, -a.created_at.timestamp(), a.key))  # type: ignore[union-attr]
        past = [a for a, s in stat if s in ("CONFIRMED", "SHOWED", "NO_SHOW")]
        if past:
            return max(past, key=lambda a: (a.start is not None, a.start or t, a.created_at))  # type: ignore[return-value]
        canceled = [a for a, s in stat if s == "CANCELED"]
        if canceled:
            return max(canceled, key=lambda a: (a.canceled_at or a.created_at, a.created_at))  # type: ignore[return-value]
        return max(appts, key=lambda a: (a.status_changed_at, a.created_at))  # type: ignore[return-value]

    def _legacy_from_appointments(self, lead: _Lead) -> None:
        rng = self.rng
        if not lead.appts:
            return
        a = self._primary(lead.appts)
        status = a.status()[0]
        legacy_status = {
            "CONFIRMED": "confirmed",
            "CANCELED": rng.choice(("canceled", "cancelled")),
            "RESCHEDULED": "rescheduled",
            "SHOWED": "showed",
            "NO_SHOW": rng.choice(("no_show", "noshow")),
        }[status]
        if rng.random() < 0.1:
            legacy_status = legacy_status.upper() if rng.random() < 0.5 else legacy_status.capitalize()
        provider: str | None = a.provider
        r = rng.random()
        if r < 0.1:
            provider = None  # the key alone says which provider
        elif r < 0.2:
            provider = a.provider.lower()
        legacy = {
            "appointmentProvider": provider,
            "appointmentStatus": legacy_status,
            "appointmentSource": rng.choice(_LEGACY_SOURCES),
            "appointmentStartAt": a.start,
            "appointmentEndAt": a.end,
            "appointmentBookedAt": a.created_at,
            "appointmentCanceledAt": a.canceled_at if status in ("CANCELED", "RESCHEDULED") else None,
            "appointmentTimezone": a.tz,
        }
        if a.provider == "GHL":
            legacy["ghlAppointmentId"] = a.key
        else:
            legacy["calendlyInviteeUri"] = a.key
            legacy["calendlyScheduledEventUri"] = a.event_uri
        lead.legacy_agree = dict(legacy)
        self.drifting.discard(lead.id)
        if rng.random() < 0.08:  # deliberate drift
            kind = rng.randrange(3)
            if kind == 0:
                legacy["appointmentStatus"] = "confirmed" if status != "CONFIRMED" else "cancelled"
            elif kind == 1 and a.start is not None:
                legacy["appointmentStartAt"] = a.start + timedelta(hours=1)
                legacy["appointmentEndAt"] = a.end + timedelta(hours=1)  # type: ignore[operator]
            else:
                legacy["appointmentTimezone"] = "America/New_York" if a.tz != "America/New_York" else "Europe/London"
            self.drifting.add(lead.id)
        lead.legacy = legacy

    # ---------------------------------------------------------------- unmatched and malformed
    def _unmatched(self) -> None:
        n = max(2, round(self.n_leads * 0.01)) if self.n_leads else 2
        for i in range(n):
            person = self._stranger()
            if i % 2:
                inv = self._sc_stranger_cal(person)
                self.scen["cal_unmatched"].append(inv.key)
            else:
                inv = self._cal_booking(None, person, "cal_unmatched")
                self._finish(inv)
                self.scen["cal_unmatched"].append(inv.key)
        for i in range(n):
            person = self._stranger()
            booked, start = self._booking_and_start()
            contact = f"ctc9{person.idx:016d}"
            a = self._ghl_new(None, person, contact, "ghl_unmatched", booked=booked, start=start, status="confirmed")
            if i % 2:
                t = a.created_at + timedelta(hours=2)  # type: ignore[operator]
                if t < self.w1:
                    self._ghl_set(a, t, status="cancelled")
            self._finish(a)
            self.scen["ghl_unmatched"].append(a.key)

    def _sc_stranger_cal(self, person: _Person) -> _CalInvitee:
        booked, start, cancel_at = self._booking_with_cancel_room()
        inv = self._cal_booking(None, person, "cal_unmatched", booked=booked, start=start)
        self._touch(inv, cancel_at)
        self._cal_cancel(inv, cancel_at, "invitee")
        self._observe(inv, cancel_at)
        self._finish(inv)
        return inv

    def _malformed(self) -> None:
        per_kind = max(1, round(self.n_leads / 150))
        j = 0
        for provider in ("calendly", "ghl"):
            for kind in _MALFORMED_KINDS:
                for _ in range(per_kind):
                    day = (j * 5 + 3) % self.days
                    j += 1
                    when = self.w0 + timedelta(days=day, seconds=self.rng.randrange(86_400))
                    form = "webhook" if j % 2 else "poll"
                    self._push(provider, day, form, when, self._bad_line(provider, kind, when, form), kind)

    def _other_webhooks(self) -> None:
        """Calendly webhooks that are not about an invitee (a subscription may include them): a routing form
        submission every other day, an event type change every third day and a new contact every fourth. They carry
        personal data (the pipeline must drop them without storing any of it) and draw nothing from ``self.rng``."""
        for day in range(self.days):
            for name, every, offset in (("routing_form_submission.created", 2, 0), ("event_type.updated", 3, 1),
                                        ("contact.created", 4, 3)):  # fmt: skip
                if day % every != offset:
                    continue
                digest = _digest(name, str(day))
                when = self.w0 + timedelta(days=day, seconds=int.from_bytes(digest[:4], "big") % 86_400,
                                           microseconds=digest[4] * 1000)  # fmt: skip
                ident = str(uuid.UUID(bytes=digest[:16], version=4))
                first = _FIRST_NAMES[digest[5] % len(_FIRST_NAMES)]
                last = _LAST_NAMES[digest[6] % len(_LAST_NAMES)]
                email = f"{first.lower()}.{last.lower()}.w{day}@example.net"
                if name == "routing_form_submission.created":
                    payload: dict = {
                        "uri": f"{_CAL}/routing_form_submissions/{ident}",
                        "routing_form": f"{_CAL}/routing_forms/{uuid.UUID(bytes=digest[16:], version=4)}",
                        "questions_and_answers": [
                            {"question_uuid": ident[:8], "question": "Email", "answer": email},
                            {"question_uuid": ident[9:13], "question": "Full name", "answer": f"{first} {last}"},
                        ],
                        "tracking": {"utm_campaign": None, "utm_source": "newsletter", "utm_medium": None,
                                     "utm_content": None, "utm_term": None, "salesforce_uuid": None},  # fmt: skip
                        "result": {"type": "event_type", "value": self.event_types[0]},
                        "submitter": None,
                        "submitter_type": None,
                        "created_at": _cal_ts(when),
                        "updated_at": _cal_ts(when),
                    }
                    self.pii.update((email, f"{first} {last}", first, last))
                elif name == "event_type.updated":
                    host_name, _ = _HOSTS[digest[7] % len(_HOSTS)]
                    payload = {
                        "uri": self.event_types[day % len(self.event_types)],
                        "name": "30 Minute Meeting",
                        "active": True,
                        "duration": 30,
                        "kind": "solo",
                        "profile": {"type": "User", "name": host_name, "owner": self.host_uris[0]},
                        "updated_at": _cal_ts(when),
                    }
                    self.pii.add(host_name)
                else:  # the shape of a contact is not documented: any object will do, it is never read
                    payload = {
                        "uri": f"{_CAL}/contacts/{ident}",
                        "email": email,
                        "first_name": first,
                        "last_name": last,
                        "created_at": _cal_ts(when),
                    }
                    self.pii.update((email, first, last))
                envelope = {"event": name, "created_at": _cal_ts(when), "created_by": self.host_uris[0],
                            "payload": payload}  # fmt: skip
                self._push("calendly", day, "webhook", when, _dumps(envelope), _IGNORED)

    def _bad_line(self, provider: str, kind: str, when: datetime, form: str) -> str:
        person = self._stranger()
        start = self._quarter(when + timedelta(days=2))
        if provider == "calendly":
            if kind == "malformed_json":
                return '{"event":"invitee.created","created_at":"' + _cal_ts(when) + '","payload":{"uri":"' + _CAL + "/sch"
            ev = self._cal_event(start, when)
            inv = _CalInvitee(f"{ev.uri}/invitees/{self._uuid()}", self._uuid(), None, person, ev, "malformed")
            inv.created_at = inv.updated_at = self._micro(when)
            inv.answer = "n/a"
            ev.total = ev.active = 1
            obj = self._cal_object(inv)
            if kind == "missing_key":
                del obj["uri"]
            elif kind == "bad_timestamp":
                obj["scheduled_event"]["start_time"] = start.strftime("%Y-%m-%dT%H:%M:%S")
            else:
                obj["status"] = "tentative"
            if form == "poll":
                return _dumps(obj)
            return _dumps({"event": "invitee.created", "created_at": _cal_ts(when), "payload": obj})
        if kind == "malformed_json":
            return '{"type":"AppointmentUpdate","locationId":"' + _GHL_LOCATION + '","appointment":{"id":"apt'
        a = _GhlAppt(self._ghl_id(), None, person, f"ctc9{person.idx:016d}", "malformed")
        a.created_at = a.updated_at = when.replace(microsecond=0)
        a.start, a.end = start, start + timedelta(minutes=30)
        a.title = person.full
        obj = self._ghl_object(a)
        if kind == "missing_key":
            del obj["id"]
        elif kind == "bad_timestamp":
            obj["startTime"] = start.astimezone(_zone(a.tz)).strftime("%Y-%m-%d %H:%M:%S")
        else:
            obj["appointmentStatus"] = "tentative"
        if form == "poll":
            obj.update(locationId=_GHL_LOCATION, isRecurring=False, createdBy={"source": a.source, "userId": a.user})
            return _dumps(obj)
        obj["source"] = a.source
        return _dumps({"type": "AppointmentCreate", "locationId": _GHL_LOCATION, "appointment": obj})

    # ---------------------------------------------------------------- units and leads
    def _email_variant(self, email: str, k: int) -> str:
        local, _, domain = email.partition("@")
        variant = k % 3
        if variant == 0:
            first, _, rest = local.partition(".")
            return f"  {first.capitalize()}.{rest.capitalize()}@{domain.capitalize()} "
        if variant == 1:
            return email.upper()
        return f"{email}  "

    def _units(self) -> list[tuple[str, int, int]]:
        n = self.n_leads
        plan: list[tuple[str, int]] = []
        for name, share, minimum in _LEAD_UNITS:
            avg = sum(_GROUP_SIZES) / len(_GROUP_SIZES) if name == "cal_group" else (2 if name == "cal_email_shared" else 1)
            plan.append((name, max(minimum, round(share * n / avg))))
        units: list[tuple[str, int, int]] = []
        used = 0

        def size_of(name: str, k: int) -> int:
            if name == "cal_group":
                return _GROUP_SIZES[k % len(_GROUP_SIZES)]
            return 2 if name == "cal_email_shared" else 1

        minimums = {name: minimum for name, _, minimum in _LEAD_UNITS}
        given: dict[str, int] = defaultdict(int)
        for phase in (0, 1):
            for name, count in plan:
                upto = minimums[name] if phase == 0 else count
                while given[name] < upto:
                    size = size_of(name, given[name])
                    if used + size > n:
                        break
                    units.append((name, given[name], size))
                    given[name] += 1
                    used += size
        for k in range(n - used):
            units.append(("no_appointment", k, 1))
        self.rng.shuffle(units)
        return units

    def _new_lead(self, idx: int, width: int) -> _Lead:
        rng = self.rng
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        email = f"{first.lower()}.{last.lower()}{idx}@example.com"
        phone = f"+1 555-01{(idx // 10000) % 100:02d}-{idx % 10000:04d}"
        person = _Person(idx, first, last, email, phone, rng.choice(_TIMEZONES))
        lead = _Lead(person, f"lead_{idx:0{width}d}")
        lead.company = rng.choice(_COMPANIES)
        if rng.random() < 0.08:
            lead.phone_db = None
        if rng.random() < 0.3:
            lead.contact_id = f"ctc{idx:017d}"
        if rng.random() < 0.08:
            lead.email_db = self._email_variant(email, idx)
        return lead

    def build(self) -> DemoData:
        width = max(6, len(str(self.n_leads)))
        idx = 0
        for name, k, size in self._units():
            group: list[_Lead] = []
            for _ in range(size):
                idx += 1
                group.append(self._new_lead(idx, width))
            self.leads.extend(group)
            handler = getattr(self, f"sc_{name}")
            if name in ("cal_group", "cal_email_shared"):
                handler(group, k)
            else:
                handler(group[0], k)
                self.scen[name].append(group[0].id)
        self._unmatched()
        self._malformed()
        self._other_webhooks()
        return self._assemble()

    def _lead_row(self, lead: _Lead) -> dict:
        rng = self.rng
        p = lead.person
        times = [a.updated_at for a in lead.appts if a.updated_at] + [a.created_at for a in lead.appts if a.created_at]
        first_booking = min((a.created_at for a in lead.appts if a.created_at), default=None)
        legacy_booked = lead.legacy.get("appointmentBookedAt")
        anchor = first_booking or legacy_booked or lead.updated_at
        if lead.created_at is None:
            if anchor is not None:
                lead.created_at = anchor - timedelta(hours=rng.randrange(1, 24 * 90), seconds=rng.randrange(3600))
            else:
                lead.created_at = self._between(self.w0 - timedelta(days=120), self.w1 - timedelta(minutes=1))
        updated = max([lead.created_at, *(t for t in times if t is not None)])
        if lead.updated_at is not None:
            updated = max(updated, lead.updated_at)
        if lead.legacy.get("appointmentCanceledAt"):
            updated = max(updated, lead.legacy["appointmentCanceledAt"])
        self.pii.update(v for v in (lead.email_db, lead.phone_db, p.first, p.last) if v)
        row = {
            "id": lead.id,
            "email": lead.email_db,
            "phone": lead.phone_db,
            "firstName": p.first,
            "lastName": p.last,
            "ghlContactId": lead.contact_id,
            "ghlAppointmentId": lead.legacy.get("ghlAppointmentId"),
            "calendlyInviteeUri": lead.legacy.get("calendlyInviteeUri"),
            "calendlyScheduledEventUri": lead.legacy.get("calendlyScheduledEventUri"),
            "appointmentProvider": lead.legacy.get("appointmentProvider"),
            "appointmentStatus": lead.legacy.get("appointmentStatus"),
            "appointmentSource": lead.legacy.get("appointmentSource"),
            "appointmentStartAt": lead.legacy.get("appointmentStartAt"),
            "appointmentEndAt": lead.legacy.get("appointmentEndAt"),
            "appointmentBookedAt": lead.legacy.get("appointmentBookedAt"),
            "appointmentCanceledAt": lead.legacy.get("appointmentCanceledAt"),
            "appointmentTimezone": lead.legacy.get("appointmentTimezone"),
            "createdAt": lead.created_at,
            "updatedAt": updated,
            EXTRA_LEAD_COLUMN: lead.company,
        }
        return row

    def _assemble(self) -> DemoData:
        rows = tuple(self._lead_row(lead) for lead in self.leads)
        drift: dict[str, tuple[str, ...]] = {}
        for lead in self.leads:
            if lead.id in self.drifting:
                fields = tuple(c for c in LEAD_COLUMNS if lead.legacy.get(c) != lead.legacy_agree.get(c))
                if fields:
                    drift[lead.id] = fields
        self.scen["legacy_drift"] = sorted(drift)
        for lead in self.leads:
            if lead.email_db != lead.person.email:
                self.scen["email_variant"].append(lead.id)
        # files
        grouped: dict[tuple[str, int, str], list[tuple[datetime, int, str, str | None]]] = defaultdict(list)
        for provider, day, kind, when, seq, line, bad in self.obs:
            if isinstance(line, _EventLineOf):
                if not line.line.strips():
                    continue
                line = line.line.event_line
            elif isinstance(line, _CalLine):
                line = line.stripped if line.strips() else line.embedded
            grouped[(provider, day, kind)].append((when, seq, line, bad))
        assert self.event_line is None
        files: dict[str, tuple[str, ...]] = {}
        malformed: list[tuple[str, int, str]] = []
        ignored: list[tuple[str, int, str]] = []
        for (provider, day, kind) in sorted(grouped):
            records = sorted(grouped[(provider, day, kind)], key=lambda r: (r[0], r[1]))
            folder = f"{provider}/{(self.start + timedelta(days=day)).isoformat()}"
            gz = (day + (kind == "poll") + (provider == "ghl")) % 2 == 1
            for part, offset in enumerate(range(0, len(records), _LINES_PER_FILE)):
                chunk = records[offset : offset + _LINES_PER_FILE]
                rel = f"{folder}/{kind}-{part:03d}.jsonl" + (".gz" if gz else "")
                files[rel] = tuple(r[2] for r in chunk)
                for i, r in enumerate(chunk, start=1):
                    if r[3]:
                        (ignored if r[3] == _IGNORED else malformed).append((rel, i, r[3]))
        truth = [self._truth(a) for a in self.appts] + self.legacy_truth
        for value in [v for v in self.pii if "@" in v]:  # the forms a pipeline would hash (trim, lower)
            self.pii.update((value.strip(), value.strip().lower()))
        self.pii.discard("")
        summary = DemoSummary(
            leads=len(rows),
            landing_files=len(files),
            landing_lines=sum(len(lines) for lines in files.values()),
            malformed_lines=len(malformed),
            ignored_lines=len(ignored),
            first_day=self.start,
            last_day=self.start + timedelta(days=self.days - 1),
            pii_values=frozenset(self.pii),
        )
        return DemoData(
            summary=summary,
            lead_rows=rows,
            files=files,
            scenarios={name: tuple(dict.fromkeys(ids)) for name, ids in sorted(self.scen.items())},
            appointments=tuple(truth),
            malformed=tuple(malformed),
            ignored=tuple(ignored),
            drift=drift,
            reference_time=self.w1,
        )

    @staticmethod
    def _truth(a: _Appt) -> DemoAppointment:
        status, reason = a.status()
        canceled_at = a.canceled_at if status in ("CANCELED", "RESCHEDULED") else None
        return DemoAppointment(
            provider=a.provider,
            key=a.key,
            lead_id=a.lead.id if a.lead is not None else None,
            scenario=a.scenario,
            status=status,
            cancel_reason=reason,
            rescheduled_from=a.rescheduled_from,
            scheduled_event_uri=a.event_uri,
            start_at=a.start,
            end_at=a.end,
            created_at=a.created_at,
            canceled_at=canceled_at,
            legacy_only=False,
        )


# --------------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m appointment_pipeline.demo.generator",
        description="Write the deterministic demo \"Lead\" table and provider landing zone (replaces earlier output).",
    )
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--start", type=date.fromisoformat, default=None, help="first snapshot day, YYYY-MM-DD "
                        "(default: APPOINTMENT_PARTITIONS_START or 2025-01-01)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--source-db-url", default=None, help="default: APPOINTMENT_SOURCE_DB_URL or data/demo_app.sqlite")
    parser.add_argument("--landing-dir", type=Path, default=None, help="default: APPOINTMENT_LANDING_DIR or data/landing")
    args = parser.parse_args(argv)
    url = args.source_db_url or default_source_db_url()
    landing = (args.landing_dir or default_landing_dir()).resolve()
    start = args.start or default_partitions_start()
    began = _time.perf_counter()
    summary = generate_demo(url, landing, leads=args.leads, days=args.days, start=start, seed=args.seed)
    elapsed = _time.perf_counter() - began
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    print(
        f"demo: {summary.leads} leads -> {shown}; {summary.landing_files} files, {summary.landing_lines} lines "
        f"({summary.malformed_lines} malformed, {summary.ignored_lines} ignored) for {summary.first_day}.."
        f"{summary.last_day} -> {landing} "
        f"[seed {args.seed}, {elapsed:.1f}s]"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
