"""What the publish writes into the application database: its columns, value forms and modes (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

UTC = timezone.utc
DEFAULT_BATCH_SIZE = 50_000
SAMPLE_SIZE = 10

ENUM_VALUES: dict[str, tuple[str, ...]] = {
    "AppointmentStatus": ("CONFIRMED", "CANCELED", "RESCHEDULED", "SHOWED", "NO_SHOW"),
    "AppointmentSource": ("WEBHOOK", "RECONCILE_CRON", "BACKFILL", "AUTO_BOOK", "MANUAL", "MIGRATION"),
    "MeetingBookingProvider": ("GHL", "CALENDLY"),
}


@dataclass(frozen=True)
class AppColumn:
    name: str
    kind: str  # "text", "timestamp" or the name of an enum type
    nullable: bool
    warehouse: str | None  # column of the warehouse ``appointments`` table it is written from

    @property
    def is_enum(self) -> bool:
        return self.kind in ENUM_VALUES


APPOINTMENT_COLUMNS: tuple[AppColumn, ...] = (
    AppColumn("id", "text", False, None),
    AppColumn("leadId", "text", False, "lead_id"),
    AppColumn("provider", "MeetingBookingProvider", False, "provider"),
    AppColumn("ghlAppointmentId", "text", True, "ghl_appointment_id"),
    AppColumn("calendlyInviteeUri", "text", True, "calendly_invitee_uri"),
    AppColumn("calendlyScheduledEventUri", "text", True, "calendly_scheduled_event_uri"),
    AppColumn("startAt", "timestamp", True, "start_at"),
    AppColumn("endAt", "timestamp", True, "end_at"),
    AppColumn("timezone", "text", True, "timezone"),
    AppColumn("status", "AppointmentStatus", False, "status"),
    AppColumn("statusChangedAt", "timestamp", False, "status_changed_at"),
    AppColumn("canceledAt", "timestamp", True, "canceled_at"),
    AppColumn("cancelReason", "text", True, "cancel_reason"),
    AppColumn("rescheduledFromId", "text", True, "rescheduled_from_id"),
    AppColumn("source", "AppointmentSource", False, "source"),
    AppColumn("createdAt", "timestamp", False, "created_at"),
    AppColumn("updatedAt", "timestamp", False, "updated_at"),
)
COLUMN_BY_NAME = {c.name: c for c in APPOINTMENT_COLUMNS}
# Columns the pipeline keeps in step on an existing row. `source` and `createdAt` record how and when the
# application first learned of the appointment and stay as the application wrote them; `updatedAt` moves with
# every write but alone is no reason for one.
COMPARED_COLUMNS: tuple[str, ...] = (
    "leadId", "provider", "ghlAppointmentId", "calendlyInviteeUri", "calendlyScheduledEventUri", "startAt", "endAt",
    "timezone", "status", "statusChangedAt", "canceledAt", "cancelReason", "rescheduledFromId",
)
# Incoming rows carry every column but the application id and the link, which are resolved in the database.
INCOMING_COLUMNS: tuple[str, ...] = tuple(c.name for c in APPOINTMENT_COLUMNS if c.name not in ("id", "rescheduledFromId"))


@dataclass(frozen=True)
class LeadField:
    column: str  # "Lead" column
    warehouse: str  # same-named column of raw_leads (value as read) and lead_appointment_rollups (new value)
    kind: str  # "text" or "timestamp"


LEAD_ROLLUP_FIELDS: tuple[LeadField, ...] = (
    LeadField("appointmentProvider", "appointment_provider", "text"),
    LeadField("ghlAppointmentId", "ghl_appointment_id", "text"),
    LeadField("calendlyInviteeUri", "calendly_invitee_uri", "text"),
    LeadField("calendlyScheduledEventUri", "calendly_scheduled_event_uri", "text"),
    LeadField("appointmentStatus", "appointment_status", "text"),
    LeadField("appointmentSource", "appointment_source", "text"),
    LeadField("appointmentStartAt", "appointment_start_at", "timestamp"),
    LeadField("appointmentEndAt", "appointment_end_at", "timestamp"),
    LeadField("appointmentTimezone", "appointment_timezone", "text"),
    LeadField("appointmentBookedAt", "appointment_booked_at", "timestamp"),
    LeadField("appointmentCanceledAt", "appointment_canceled_at", "timestamp"),
)


class AppSchemaMismatch(RuntimeError):
    """The application database does not have the shape the publish writes; nothing was written."""


# -- values ---------------------------------------------------------------------------------------------------------


def round_ms(value: datetime | None) -> datetime | None:
    """UTC instant rounded to the millisecond (what timestamp(3) stores); naive values are UTC already."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    else:
        value = value.replace(tzinfo=UTC)
    value = value + timedelta(microseconds=500)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def sqlite_text(value: datetime | None) -> str | None:
    """The demo's text form of an instant: fixed-width ISO-8601 UTC with milliseconds."""
    value = round_ms(value)
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def derived_app_id(warehouse_id: str) -> str:
    """The application id of an appointment the application does not have yet: its warehouse id (the md5 of
    provider and key, 32 hex digits) written as a uuid. ``derived_app_id_sql`` is the same in SQL."""
    h = warehouse_id
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def derived_app_id_sql(expr: str) -> str:
    parts = [(1, 8), (9, 4), (13, 4), (17, 4), (21, 12)]
    return " || '-' || ".join(f"substr({expr}, {start}, {length})" for start, length in parts)

# -- mode -----------------------------------------------------------------------------------------------------------

PUBLISH_MODES = ("dry_run", "apply")


def resolve_publish_mode(config_mode: str | None, default_mode: str | None) -> str:
    """The run config's mode, else the deployment's default (``APPOINTMENT_PUBLISH_MODE``), else ``dry_run``."""
    for source, mode in (("run config mode", config_mode), ("APPOINTMENT_PUBLISH_MODE", default_mode)):
        if mode is None or not str(mode).strip():
            continue
        mode = str(mode).strip().lower()
        if mode not in PUBLISH_MODES:
            raise ValueError(f"{source} must be one of {', '.join(PUBLISH_MODES)}, not {mode!r}")
        return mode
    return "dry_run"
