"""Status vocabulary and the provider/legacy status mappings (docs/data-contract.md#status-mappings; no Dagster imports).

The codes and mappings live in dbt_like_sql/seeds/*.csv, which the SQL models join too. The enums below give the
codes static names for the Python rules; check_enum proves at import that each equals its CSV column.
"""

from __future__ import annotations

from enum import StrEnum

from appointment_pipeline.domain.redaction import describe_value
from appointment_pipeline.domain.vocabulary import check_enum, seed_rows


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
        return self.value in _REJECTS


check_enum(Status, "appointment_statuses", "status")
check_enum(CancelReason, "cancel_reasons", "cancel_reason")
check_enum(LineReason, "reject_reasons", "reason", produced_by="parsing")
_REJECTS = frozenset(row["reason"] for row in seed_rows("reject_reasons") if row["is_reject"])


class UnknownStatus(ValueError):
    """A status string outside the mapping: the record is rejected with reason ``unknown_status``.

    The message names the field and describes the value without echoing free text (redaction.describe_value).
    """

    def __init__(self, field: str, value: str | None):
        super().__init__(f"{field} is not a known status ({describe_value(value or '')})")


def _mapping(source: str) -> dict[str, tuple[Status, CancelReason | None]]:
    """status_mappings.csv rows of one source without a cancel-time condition: raw value -> (status, reason)."""
    return {
        row["raw_value"]: (Status(row["status"]), CancelReason(row["cancel_reason"]) if row["cancel_reason"] else None)
        for row in seed_rows("status_mappings")
        if row["source"] == source and row["raw_value"] is not None
    }


# GHL appointmentStatus (also spelled appoinmentStatus) -> (status, cancel_reason)
GHL_STATUS = _mapping("ghl")
# Legacy "Lead"."appointmentStatus", compared lower-cased and trimmed; stg_legacy_observations joins the same rows.
LEGACY_STATUS: dict[str, Status] = {raw: status for raw, (status, _) in _mapping("legacy").items()}
# An unset legacy status: whether appointmentCanceledAt is set -> status.
LEGACY_UNSET_STATUS: dict[bool, Status] = {
    row["canceled_at_set"]: Status(row["status"])
    for row in seed_rows("status_mappings")
    if row["source"] == "legacy" and row["raw_value"] is None
}
CALENDLY_INVITEE_STATUS = {raw: status for raw, (status, _) in _mapping("calendly_invitee").items()}
CALENDLY_EVENT_STATUS = {raw: status for raw, (status, _) in _mapping("calendly_event").items()}
# Lower-case legacy spelling written back by the rollup (docs/data-contract.md#lead_appointment_rollups).
LEGACY_ROLLUP_STATUS: dict[Status, str] = {
    Status(row["status"]): row["legacy_spelling"] for row in seed_rows("appointment_statuses")
}
# The primary-appointment rule's tiers (domain/rollup.py; lead_appointment_rollups.sql joins the same seed).
PRIMARY_TIER: dict[str, int] = {row["status"]: row["primary_tier"] for row in seed_rows("appointment_statuses")}
UPCOMING_FIRST: frozenset[str] = frozenset(row["status"] for row in seed_rows("appointment_statuses") if row["upcoming_first"])
# Statuses that keep canceled_at and cancel_reason.
KEEPS_CANCELLATION: frozenset[Status] = frozenset(
    Status(row["status"]) for row in seed_rows("appointment_statuses") if row["keeps_cancellation"]
)


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
    """An invitee's status from its own status and its event's (an event without status counts as not canceled)."""
    invitee = CALENDLY_INVITEE_STATUS.get((invitee_status or "").strip().lower())
    if invitee is None:
        raise UnknownStatus("status", invitee_status)
    if invitee == Status.CANCELED:
        if rescheduled:
            return Status.RESCHEDULED, CancelReason.RESCHEDULED
        return Status.CANCELED, _canceler(canceler_type)
    event = CALENDLY_EVENT_STATUS.get((event_status or "").strip().lower()) if event_status else Status.CONFIRMED
    if event is None:
        raise UnknownStatus("scheduled_event.status", event_status)
    if event == Status.CANCELED:
        return Status.CANCELED, _canceler(event_canceler_type)
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
        return LEGACY_UNSET_STATUS[canceled_at_set]
    try:
        return LEGACY_STATUS[text.strip().lower()]
    except KeyError:
        raise UnknownStatus("appointmentStatus", text) from None
