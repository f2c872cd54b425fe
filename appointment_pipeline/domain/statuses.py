"""Status vocabulary and the provider/legacy status mappings (docs/data-contract.md#status-mappings; no Dagster imports)."""

from __future__ import annotations

from enum import StrEnum

from appointment_pipeline.domain.redaction import describe_value


class Status(StrEnum):
    CONFIRMED = "CONFIRMED"
    CANCELED = "CANCELED"
    RESCHEDULED = "RESCHEDULED"
    SHOWED = "SHOWED"
    NO_SHOW = "NO_SHOW"


class CancelReason(StrEnum):
    """Codes only: provider free text never enters the warehouse."""

    INVITEE = "invitee"
    HOST = "host"
    RESCHEDULED = "rescheduled"
    INVALID = "invalid"
    DELETED = "deleted"
    LEGACY = "legacy"


class LineReason(StrEnum):
    """Why a landing line or API record was not loaded as an observation (the raw tables' ``reject_reason``)."""

    MALFORMED_JSON = "malformed_json"
    MISSING_KEY = "missing_key"
    BAD_TIMESTAMP = "bad_timestamp"
    UNKNOWN_STATUS = "unknown_status"
    UNREADABLE_FILE = "unreadable_file"  # a landing entry that is no readable file, or a file that breaks midway
    PII_IN_IDENTIFIER = "pii_in_identifier"  # an id field holding an email address or phone number
    # Not bad data: a record about something else (a routing form, an event type, ...). Counted apart from rejects.
    NOT_AN_APPOINTMENT = "not_an_appointment"

    @property
    def is_reject(self) -> bool:
        return self is not LineReason.NOT_AN_APPOINTMENT


class UnknownStatus(ValueError):
    """A status string outside the mapping: the record is rejected with reason ``unknown_status``.

    The message names the field and describes the value without echoing free text (redaction.describe_value).
    """

    def __init__(self, field: str, value: str | None):
        super().__init__(f"{field} is not a known status ({describe_value(value or '')})")


# GHL appointmentStatus (also spelled appoinmentStatus) -> (status, cancel_reason)
GHL_STATUS: dict[str, tuple[Status, CancelReason | None]] = {
    "new": (Status.CONFIRMED, None),
    "confirmed": (Status.CONFIRMED, None),
    "active": (Status.CONFIRMED, None),
    "booked": (Status.CONFIRMED, None),  # contact-appointments schema spells a live booking this way
    "cancelled": (Status.CANCELED, None),
    "canceled": (Status.CANCELED, None),
    "invalid": (Status.CANCELED, CancelReason.INVALID),
    "showed": (Status.SHOWED, None),
    "completed": (Status.SHOWED, None),
    "noshow": (Status.NO_SHOW, None),
}

# Legacy "Lead"."appointmentStatus", compared lower-cased and trimmed. The SQL model stg_legacy_observations
# carries the same mapping; tests/test_rules.py proves the two agree.
LEGACY_STATUS: dict[str, Status] = {
    "confirmed": Status.CONFIRMED,
    "canceled": Status.CANCELED,
    "cancelled": Status.CANCELED,
    "rescheduled": Status.RESCHEDULED,
    "showed": Status.SHOWED,
    "no_show": Status.NO_SHOW,
    "noshow": Status.NO_SHOW,
}

# Lower-case legacy spelling written back by the rollup (docs/data-contract.md#lead_appointment_rollups).
LEGACY_ROLLUP_STATUS: dict[Status, str] = {
    Status.CONFIRMED: "confirmed",
    Status.CANCELED: "canceled",
    Status.RESCHEDULED: "rescheduled",
    Status.SHOWED: "showed",
    Status.NO_SHOW: "no_show",
}


def ghl_status(provider_status: str | None, *, deleted: bool = False) -> tuple[Status, CancelReason | None]:
    if deleted:
        return Status.CANCELED, CancelReason.DELETED
    try:
        return GHL_STATUS[(provider_status or "").strip().lower()]
    except KeyError:
        raise UnknownStatus("appointmentStatus", provider_status) from None


def calendly_status(
    invitee_status: str | None,
    event_status: str | None,
    *,
    rescheduled: bool,
    no_show: bool,
    canceler_type: str | None,
    event_canceler_type: str | None,
) -> tuple[Status, CancelReason | None]:
    invitee = (invitee_status or "").strip().lower()
    event = (event_status or "active").strip().lower()
    if invitee == "canceled":
        if rescheduled:
            return Status.RESCHEDULED, CancelReason.RESCHEDULED
        return Status.CANCELED, _canceler(canceler_type)
    if invitee != "active":
        raise UnknownStatus("status", invitee_status)
    if event == "canceled":
        return Status.CANCELED, _canceler(event_canceler_type)
    if event != "active":
        raise UnknownStatus("scheduled_event.status", event_status)
    if no_show:
        return Status.NO_SHOW, None
    return Status.CONFIRMED, None


def provider_canceler(canceler_type: str | None) -> str | None:
    """Calendly's ``canceler_type`` as a cancel reason code (host, invitee), else None."""
    reason = _canceler(canceler_type)
    return str(reason) if reason else None


def _canceler(canceler_type: str | None) -> CancelReason | None:
    value = (canceler_type or "").strip().lower()
    return CancelReason(value) if value in (CancelReason.HOST, CancelReason.INVITEE) else None


def legacy_status(text: str | None, *, canceled_at_set: bool) -> Status:
    """Contracts section 2: unset -> CANCELED when a cancel time is known, else CONFIRMED."""
    if text is None or not text.strip():
        return Status.CANCELED if canceled_at_set else Status.CONFIRMED
    try:
        return LEGACY_STATUS[text.strip().lower()]
    except KeyError:
        raise UnknownStatus("appointmentStatus", text) from None
