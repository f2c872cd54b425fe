"""The primary-appointment rule (docs/data-contract.md#primary-appointment-rule), in plain Python over plain data (no Dagster imports).

``lead_appointment_rollups.sql`` is the same rule in SQL; tests/test_rollup_property.py feeds both the same random
appointment sets and asserts they choose the same appointment. Nulls sort last wherever the rule orders by a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from appointment_pipeline.domain.statuses import LEGACY_ROLLUP_STATUS, PRIMARY_TIER, UPCOMING_FIRST, Status


@dataclass(frozen=True)
class Appointment:
    """An ``appointments`` row (docs/data-contract.md#appointments)."""

    id: str
    lead_id: str
    provider: str
    status: str
    start_at: datetime | None = None
    end_at: datetime | None = None
    timezone: str | None = None
    created_at: datetime | None = None
    canceled_at: datetime | None = None
    status_changed_at: datetime | None = None
    ghl_appointment_id: str | None = None
    calendly_invitee_uri: str | None = None
    calendly_scheduled_event_uri: str | None = None
    source: str | None = None
    cancel_reason: str | None = None
    rescheduled_from_id: str | None = None
    reschedule_link_method: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class LeadRollup:
    """The legacy-compatible rollup fields of ``lead_appointment_rollups``."""

    primary_appointment_id: str
    appointment_provider: str
    ghl_appointment_id: str | None
    calendly_invitee_uri: str | None
    calendly_scheduled_event_uri: str | None
    appointment_status: str
    appointment_source: str | None
    appointment_start_at: datetime | None
    appointment_end_at: datetime | None
    appointment_timezone: str | None
    appointment_booked_at: datetime | None
    appointment_canceled_at: datetime | None


def tier(appointment: Appointment, reference_time: datetime) -> int | None:
    """1 for an upcoming appointment of an upcoming_first status, else the status's primary_tier (seeds)."""
    status = appointment.status
    if status in UPCOMING_FIRST and appointment.start_at is not None and appointment.start_at > reference_time:
        return 1
    return PRIMARY_TIER.get(status)


class _Descending:
    """Wraps a value so that a plain ascending sort puts larger values first."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value


def _nulls_last(value, *, descending: bool) -> tuple:
    if value is None:
        return (1, None)
    return (0, _Descending(value) if descending else value)


def _sort_key(appointment: Appointment, reference_time: datetime) -> tuple:
    rank = tier(appointment, reference_time)
    if rank == 1:
        within = _nulls_last(appointment.start_at, descending=False)
    elif rank == 2:
        within = _nulls_last(appointment.start_at, descending=True)
    elif rank == 3:
        within = _nulls_last(appointment.canceled_at or appointment.created_at, descending=True)
    else:
        within = _nulls_last(appointment.status_changed_at, descending=True)
    return (rank, within, _nulls_last(appointment.created_at, descending=True), appointment.id)


def select_primary_appointment(appointments: Iterable[Appointment], reference_time: datetime) -> Appointment | None:
    """The lead's primary appointment at ``reference_time``; None when there is none with a known status."""
    eligible = [a for a in appointments if tier(a, reference_time) is not None]
    if not eligible:
        return None
    return min(eligible, key=lambda a: _sort_key(a, reference_time))


def build_lead_rollup_from_appointment(appointment: Appointment) -> LeadRollup:
    """The legacy "Lead" rollup columns that the primary appointment writes."""
    return LeadRollup(
        primary_appointment_id=appointment.id,
        appointment_provider=appointment.provider,
        ghl_appointment_id=appointment.ghl_appointment_id,
        calendly_invitee_uri=appointment.calendly_invitee_uri,
        calendly_scheduled_event_uri=appointment.calendly_scheduled_event_uri,
        appointment_status=LEGACY_ROLLUP_STATUS[Status(appointment.status)],
        appointment_source=appointment.source.lower() if appointment.source else None,
        appointment_start_at=appointment.start_at,
        appointment_end_at=appointment.end_at,
        appointment_timezone=appointment.timezone,
        appointment_booked_at=appointment.created_at,
        appointment_canceled_at=appointment.canceled_at,
    )


def find_by_provider_key(appointments: Iterable[Appointment], provider: str, key: str) -> Appointment | None:
    """The appointment with this idempotency key: GHL appointment id or Calendly invitee URI."""
    provider = provider.upper()
    for appointment in appointments:
        if appointment.provider != provider:
            continue
        if provider == "GHL" and appointment.ghl_appointment_id == key:
            return appointment
        if provider == "CALENDLY" and appointment.calendly_invitee_uri == key:
            return appointment
    return None
