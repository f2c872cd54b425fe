"""The ``"Lead"`` rows: their legacy appointment rollup columns, the legacy-only scenarios (listed in
``scenarios.SCENARIO_TABLE``) and the final row of each lead.

The rollup of a lead with provider appointments follows docs/data-contract.md#primary-appointment-rule at the end
of the window (``DemoBuild.w1``), with deliberate drift now and then (``DemoData.drift``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from appointment_pipeline.demo.model import EXTRA_LEAD_COLUMN, DemoAppointment
from appointment_pipeline.demo.people import Lead
from appointment_pipeline.demo.timeline import CALENDLY_API, Appointment, DemoBuild
from appointment_pipeline.domain.statuses import LEGACY_STATUS

LEGACY_SOURCES = ("webhook", "webhook", "webhook", "reconcile_cron", "backfill", "auto_book", "manual")
LEGACY_ODD_STATUSES = ("Cancelled", "NOSHOW", "Showed", "CONFIRMED", "Rescheduled", "No_Show", "canceled", "noshow")
STATUS = {name: str(status) for name, status in LEGACY_STATUS.items()}


# ---------------------------------------------------------------- rollup of provider appointments
def primary(b: DemoBuild, appts: list[Appointment]) -> Appointment:
    """docs/data-contract.md#primary-appointment-rule at the end of the window (``b.w1``)."""
    t = b.w1
    stat = [(a, a.status()[0]) for a in appts]
    upcoming = [a for a, s in stat if s == "CONFIRMED" and a.start is not None and a.start > t]
    if upcoming:
        return min(upcoming, key=lambda a: (a.start, -a.created_at.timestamp(), a.key))  # type: ignore[union-attr]
    past = [a for a, s in stat if s in ("CONFIRMED", "SHOWED", "NO_SHOW")]
    if past:
        return max(past, key=lambda a: (a.start is not None, a.start or t, a.created_at))
    canceled = [a for a, s in stat if s == "CANCELED"]
    if canceled:
        return max(canceled, key=lambda a: (a.canceled_at or a.created_at, a.created_at))
    return max(appts, key=lambda a: (a.status_changed_at, a.created_at))


def legacy_from_appointments(b: DemoBuild, lead: Lead) -> None:
    """Set the lead's legacy rollup from its primary appointment (sometimes deliberately wrong)."""
    rng = b.rng
    if not lead.appts:
        return
    a = primary(b, lead.appts)
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
    legacy: dict[str, Any] = {
        "appointmentProvider": provider,
        "appointmentStatus": legacy_status,
        "appointmentSource": rng.choice(LEGACY_SOURCES),
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
    b.drifting.discard(lead.id)
    if rng.random() < 0.08:  # deliberate drift
        kind = rng.randrange(3)
        if kind == 0:
            legacy["appointmentStatus"] = "confirmed" if status != "CONFIRMED" else "cancelled"
        elif kind == 1 and a.start is not None:
            legacy["appointmentStartAt"] = a.start + timedelta(hours=1)
            legacy["appointmentEndAt"] = a.scheduled[1] + timedelta(hours=1)
        else:
            legacy["appointmentTimezone"] = "America/New_York" if a.tz != "America/New_York" else "Europe/London"
        b.drifting.add(lead.id)
    lead.legacy = legacy


# ---------------------------------------------------------------- legacy-only appointments
def legacy_only(b: DemoBuild, lead: Lead, scenario: str, provider: str | None, key: str | None, status: str | None,
                **fields: object) -> None:  # fmt: skip
    """An appointment known only from the lead's legacy columns (no provider line)."""
    rng = b.rng
    booked, start = b.booking_and_start()
    minutes = 30
    legacy: dict[str, Any] = {
        "appointmentProvider": provider,
        "appointmentStatus": status,
        "appointmentSource": rng.choice(LEGACY_SOURCES),
        "appointmentStartAt": start,
        "appointmentEndAt": start + timedelta(minutes=minutes),
        "appointmentBookedAt": booked,
        "appointmentTimezone": lead.person.tz,
    }
    legacy.update(fields)
    lead.legacy = legacy
    lead.updated_at = max(booked, legacy.get("appointmentCanceledAt") or booked)
    if lead.updated_at >= b.w1:
        lead.updated_at = b.w1 - timedelta(minutes=1)
    norm = STATUS.get(status.lower()) if status else None
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
        b.legacy_truth.append(
            DemoAppointment(
                provider=real_provider,
                key=key or f"legacy:{lead.id}",
                lead_id=lead.id,
                scenario=scenario,
                status=norm,
                cancel_reason="legacy" if norm == "CANCELED" else None,
                rescheduled_from=None,
                scheduled_event_uri=legacy.get("calendlyScheduledEventUri"),
                start_at=legacy.get("appointmentStartAt"),
                end_at=legacy.get("appointmentEndAt"),
                created_at=legacy.get("appointmentBookedAt") or lead.updated_at,
                canceled_at=legacy.get("appointmentCanceledAt"),
                legacy_only=True,
            )
        )


def calendly_keys(b: DemoBuild) -> tuple[str, str]:
    """(invitee URI, scheduled event URI) that no landing line mentions."""
    event = f"{CALENDLY_API}/scheduled_events/{b.uuid()}"
    return f"{event}/invitees/{b.uuid()}", event


def legacy_start_only(b: DemoBuild, lead: Lead, k: int) -> None:
    provider = ("GHL", "calendly", "Ghl")[k % 3]
    booked, start = b.booking_and_start()
    lead.legacy = {"appointmentProvider": provider, "appointmentStartAt": start}
    lead.updated_at = min(booked, b.w1 - timedelta(minutes=1))
    b.legacy_truth.append(
        DemoAppointment(provider.upper(), f"legacy:{lead.id}", lead.id, "legacy_start_only", "CONFIRMED", None,
                        None, None, start, None, lead.updated_at, None, True)  # fmt: skip
    )


def legacy_canceled_only(b: DemoBuild, lead: Lead, k: int) -> None:
    booked, _start = b.booking_and_start()
    canceled = min(booked + timedelta(hours=b.rng.randrange(1, 48)), b.w1 - timedelta(minutes=2))
    canceled = max(canceled, booked)
    if k % 2 == 0:
        key = b.ghl_id()
        legacy_only(b, lead, "legacy_canceled_only", None, key, None, ghlAppointmentId=key,
                    appointmentCanceledAt=canceled, appointmentBookedAt=booked)  # fmt: skip
    else:
        legacy_only(b, lead, "legacy_canceled_only", "CALENDLY", None, None, appointmentStartAt=None,
                    appointmentEndAt=None, appointmentCanceledAt=canceled, appointmentBookedAt=booked)  # fmt: skip


def legacy_odd_status(b: DemoBuild, lead: Lead, k: int) -> None:
    status = LEGACY_ODD_STATUSES[k % len(LEGACY_ODD_STATUSES)]
    if k % 2 == 0:
        key = b.ghl_id()
        legacy_only(b, lead, "legacy_odd_status", "ghl" if k % 4 == 0 else None, key, status, ghlAppointmentId=key)
    else:
        inv, ev = calendly_keys(b)
        legacy_only(b, lead, "legacy_odd_status", "Calendly", inv, status, calendlyInviteeUri=inv,
                    calendlyScheduledEventUri=ev)  # fmt: skip
    if STATUS[status.lower()] == "CANCELED" and not lead.legacy.get("appointmentCanceledAt"):
        lead.legacy["appointmentCanceledAt"] = lead.legacy["appointmentBookedAt"] + timedelta(hours=3)


def legacy_unknown_status(b: DemoBuild, lead: Lead, k: int) -> None:
    key = b.ghl_id()
    legacy_only(b, lead, "legacy_unknown_status", "GHL", key, "pending", ghlAppointmentId=key)


def legacy_ambiguous_provider(b: DemoBuild, lead: Lead, k: int) -> None:
    key = b.ghl_id()
    inv, ev = calendly_keys(b)
    legacy_only(b, lead, "legacy_ambiguous_provider", None, None, "confirmed", ghlAppointmentId=key,
                calendlyInviteeUri=inv, calendlyScheduledEventUri=ev)  # fmt: skip


def legacy_both_keys_with_provider(b: DemoBuild, lead: Lead, k: int) -> None:
    key = b.ghl_id()
    inv, ev = calendly_keys(b)
    provider = "calendly" if k % 2 == 0 else "GHL"
    legacy_only(b, lead, "legacy_both_keys_with_provider", provider, inv if provider == "calendly" else key,
                "confirmed", ghlAppointmentId=key, calendlyInviteeUri=inv, calendlyScheduledEventUri=ev)  # fmt: skip


def legacy_unknown_provider(b: DemoBuild, lead: Lead, k: int) -> None:
    booked, start = b.booking_and_start()
    lead.legacy = {"appointmentStartAt": start, "appointmentStatus": "confirmed", "appointmentSource": "manual"}
    lead.updated_at = min(booked, b.w1 - timedelta(minutes=1))


def no_appointment(b: DemoBuild, lead: Lead, k: int) -> None:
    """A lead without any appointment data."""


# ---------------------------------------------------------------- the final row
def lead_row(b: DemoBuild, lead: Lead) -> dict:
    """The ``"Lead"`` row (createdAt drawn now unless a scenario fixed it; updatedAt covers every change)."""
    rng = b.rng
    p = lead.person
    times = [a.updated_at for a in lead.appts if a.updated_at] + [a.created_at for a in lead.appts if a.created_at]
    first_booking = min((a.created_at for a in lead.appts if a.created_at), default=None)
    legacy_booked = lead.legacy.get("appointmentBookedAt")
    anchor = first_booking or legacy_booked or lead.updated_at
    if lead.created_at is None:
        if anchor is not None:
            lead.created_at = anchor - timedelta(hours=rng.randrange(1, 24 * 90), seconds=rng.randrange(3600))
        else:
            lead.created_at = b.between(b.w0 - timedelta(days=120), b.w1 - timedelta(minutes=1))
    updated = max([lead.created_at, *(t for t in times if t is not None)])
    if lead.updated_at is not None:
        updated = max(updated, lead.updated_at)
    if lead.legacy.get("appointmentCanceledAt"):
        updated = max(updated, lead.legacy["appointmentCanceledAt"])
    b.pii.update(v for v in (lead.email_db, lead.phone_db, p.first, p.last) if v)
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
