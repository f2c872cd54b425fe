"""GHL (LeadConnector) shapes: appointments as webhook envelopes (Create/Update/Delete) and as API items, and the
builders of the GHL scenarios (listed in ``scenarios.SCENARIO_TABLE``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from appointment_pipeline.demo.legacy_leads import legacy_from_appointments
from appointment_pipeline.demo.people import STREETS, Lead, Person
from appointment_pipeline.demo.timeline import Appointment, DemoBuild, dumps, ghl_ts
from appointment_pipeline.domain.statuses import GHL_STATUS

LOCATION = "DEMOLOC0000000000001"
CALENDARS = ("DEMOCAL0000000000001", "DEMOCAL0000000000002")
GROUP = "DEMOGROUP00000000001"
USERS = ("DEMOUSER000000000001", "DEMOUSER000000000002", "DEMOUSER000000000003")
SOURCES = ("booking_widget", "booking_widget", "calendar_page", "third_party")
NOTES = ("Prefers afternoon calls", "", "Asked about financing", "Returning client")

# The demo's ground truth uses the pipeline's own mapping (tests/demo/test_demo.py checks it against its own copy).
STATUS = {name: (str(status), reason and str(reason)) for name, (status, reason) in GHL_STATUS.items()}


class GhlAppointment(Appointment):
    def __init__(self, key: str, lead: Lead | None, person: Person, contact_id: str, scenario: str) -> None:
        super().__init__("GHL", key, lead, scenario, person.tz)
        self.person = person
        self.contact_id = contact_id
        self.status_str = "confirmed"
        self.typo = False
        self.deleted = False
        self.calendar = CALENDARS[0]
        self.user = USERS[0]
        self.title = person.full
        self.notes = ""
        self.address = ""
        self.source = "booking_widget"

    def status(self) -> tuple[str, str | None]:
        if self.deleted:
            return "CANCELED", "deleted"
        return STATUS[self.status_str]

    def payload(self, b: DemoBuild, form: str, wtype: str | None) -> str:
        return appointment_line(b, self, form, wtype)


def appointment_object(b: DemoBuild, a: GhlAppointment) -> dict:
    b.pii.add(a.person.full)
    if a.address and not a.address.startswith("https://"):
        b.pii.add(a.address)
    if a.person.phone in a.notes or a.person.phone in a.address:
        b.pii.add(a.person.phone)
    obj = {
        "id": a.key,
        "address": a.address,
        "title": a.title,
        "calendarId": a.calendar,
        "contactId": a.contact_id,
        "groupId": GROUP,
        ("appoinmentStatus" if a.typo else "appointmentStatus"): a.status_str,
        "assignedUserId": a.user,
        "users": [a.user],
        "notes": a.notes,
        "startTime": ghl_ts(a.start, a.tz),
        "endTime": ghl_ts(a.end, a.tz),
        "dateAdded": ghl_ts(a.created_at, a.tz),
        "dateUpdated": ghl_ts(a.updated_at, a.tz),
    }
    return obj


def as_line(obj: dict, a: GhlAppointment, form: str, wtype: str) -> str:
    """A poll line is the API item; a webhook wraps the appointment in an envelope of type ``wtype``."""
    if form == "poll":
        obj.update(locationId=LOCATION, isRecurring=False, createdBy={"source": a.source, "userId": a.user})
        return dumps(obj)
    obj["source"] = a.source
    return dumps({"type": wtype, "locationId": LOCATION, "appointment": obj})


def appointment_line(b: DemoBuild, a: GhlAppointment, form: str, wtype: str | None) -> str:
    return as_line(appointment_object(b, a), a, form, wtype or "AppointmentUpdate")


def new_appointment(b: DemoBuild, lead: Lead | None, person: Person, contact_id: str, scenario: str, *,
                    booked: datetime, start: datetime, status: str) -> GhlAppointment:  # fmt: skip
    """An appointment booked at ``booked`` (observed then)."""
    rng = b.rng
    a = GhlAppointment(b.ghl_id(), lead, person, contact_id, scenario)
    b.ghl_appt_counter += 1
    a.typo = b.ghl_appt_counter % 9 == 4
    if a.typo and lead is not None:
        b.scen["ghl_typo_status_key"].append(lead.id)
    a.calendar = rng.choice(CALENDARS)
    a.user = rng.choice(USERS)
    a.source = rng.choice(SOURCES)
    a.title = person.full if rng.random() < 0.7 else f"Consultation - {person.full}"
    r = rng.random()
    if r < 0.6:
        a.address = f"https://meet.example.com/{rng.getrandbits(40):010x}"
    elif r < 0.8:
        a.address = f"{rng.randrange(1, 999)} {rng.choice(STREETS)}, Springfield"
    else:
        a.address = person.phone
    r = rng.random()
    a.notes = f"Call back at {person.phone}" if r < 0.25 else rng.choice(NOTES)
    a.created_at = booked.replace(microsecond=0)
    a.start = start
    a.end = start + timedelta(minutes=30 if rng.random() < 0.6 else 60)
    a.status_str = status
    b.register(a)
    b.observe(a, a.created_at)
    return a


def change(b: DemoBuild, a: GhlAppointment, t: datetime, *, status: str | None = None,
           start: datetime | None = None, form: str | None = None) -> None:  # fmt: skip
    """Set a new status and/or move the appointment at ``t`` (observed then)."""
    t = t.replace(microsecond=0)
    b.touch(a, t)
    if status is not None:
        a.status_str = status
        if STATUS[status][0] == "CANCELED":
            a.canceled_at = t
    if start is not None:
        old_start, old_end = a.scheduled
        a.start, a.end = start, start + (old_end - old_start)
    b.observe(a, t, form=form)


def contact_of(lead: Lead) -> str:
    if lead.contact_id is None:
        lead.contact_id = f"ctc{lead.person.idx:017d}"
    return lead.contact_id


def play(b: DemoBuild, lead: Lead, final: str, scenario: str, k: int, *, legacy: bool = True) -> GhlAppointment:
    """One appointment of ``lead`` ending in status ``final`` (showed, noshow, cancelled, new, confirmed, invalid)."""
    rng = b.rng
    contact = contact_of(lead)
    if final in ("showed", "noshow"):
        booked = b.between(b.w0 - timedelta(days=12), max(b.w1 - timedelta(days=2), b.w0 - timedelta(days=1)))
        lo = max(booked + timedelta(hours=2), b.w0 - timedelta(days=2) if k % 3 == 0 else b.w0)
        hi = b.w1 - timedelta(hours=5)
        start = b.quarter(b.between(lo, hi) if lo < hi else booked + timedelta(hours=2))
        a = new_appointment(b, lead, lead.person, contact, scenario, booked=booked, start=start, status="confirmed")
        done = start + timedelta(minutes=rng.randrange(40, 180))
        if done >= b.w1:
            done = b.w1 - timedelta(minutes=1)
        word = final
        if final == "showed" and k % 4 == 3:
            word = "completed"
        change(b, a, done, status=word)
    elif final == "cancelled":
        booked, start, cancel_at = b.booking_with_cancel_room()
        a = new_appointment(b, lead, lead.person, contact, scenario, booked=booked, start=start, status="confirmed")
        change(b, a, max(cancel_at, a.booked + timedelta(seconds=1)), status="cancelled")
    elif final in ("new", "confirmed"):
        booked, start = b.booking_and_start()
        first = "new" if (final == "new" or rng.random() < 0.5) else ("active" if k % 5 == 4 else "confirmed")
        a = new_appointment(b, lead, lead.person, contact, scenario, booked=booked, start=start, status=first)
        if final == "confirmed" and first == "new":
            t = a.booked + timedelta(minutes=rng.randrange(5, 600))
            if t < b.w1:
                change(b, a, t, status="confirmed")
    elif final == "invalid":
        booked, start, when = b.booking_with_cancel_room()
        a = new_appointment(b, lead, lead.person, contact, scenario, booked=booked, start=start, status="new")
        change(b, a, max(when, a.booked + timedelta(seconds=1)), status="invalid")
    else:  # pragma: no cover
        raise AssertionError(final)
    b.finish(a)
    if legacy:
        legacy_from_appointments(b, lead)
    return a


def ghl_new(b: DemoBuild, lead: Lead, k: int) -> None:
    play(b, lead, "new", "ghl_new", k)


def ghl_confirmed(b: DemoBuild, lead: Lead, k: int) -> None:
    play(b, lead, "confirmed", "ghl_confirmed", k)


def ghl_cancelled(b: DemoBuild, lead: Lead, k: int) -> None:
    play(b, lead, "cancelled", "ghl_cancelled", k)


def ghl_showed(b: DemoBuild, lead: Lead, k: int) -> None:
    play(b, lead, "showed", "ghl_showed", k)


def ghl_noshow(b: DemoBuild, lead: Lead, k: int) -> None:
    play(b, lead, "noshow", "ghl_noshow", k)


def ghl_invalid(b: DemoBuild, lead: Lead, k: int) -> None:
    play(b, lead, "invalid", "ghl_invalid", k)


def ghl_reschedule(b: DemoBuild, lead: Lead, k: int) -> None:
    """Moved in place: same id, new startTime, later dateUpdated (once or twice)."""
    rng = b.rng
    contact = contact_of(lead)
    span = b.w1 - b.w0
    booked = b.between(b.w0 - timedelta(days=4), b.w0 + span / 3)
    moves = 1 + k % 2
    lo = max(booked, b.w0) + timedelta(minutes=20)
    times = sorted(b.between(lo, b.w1 - timedelta(hours=1)).replace(microsecond=0) for _ in range(moves))
    if moves == 2 and k % 4 == 1:  # twice within one day
        times[1] = min(times[0] + timedelta(minutes=rng.randrange(20, 120)), b.w1 - timedelta(minutes=1))
    for i in range(1, moves):
        if times[i] <= times[i - 1]:
            times[i] = times[i - 1] + timedelta(seconds=30)
    start = b.quarter(times[0] + timedelta(hours=rng.randrange(3, 120)))
    a = new_appointment(b, lead, lead.person, contact, "ghl_reschedule", booked=booked, start=start, status="confirmed")
    first_start = a.scheduled[0]
    for t in times:
        new_start = b.quarter(max(t, a.scheduled[0]) + timedelta(hours=rng.randrange(24, 24 * 20)))
        change(b, a, t, start=new_start)
    b.finish(a)
    legacy_from_appointments(b, lead)
    if rng.random() < 0.3 and lead.legacy and lead.id not in b.drifting:  # legacy still has the first time
        lead.legacy["appointmentStartAt"] = first_start
        start, end = a.scheduled
        lead.legacy["appointmentEndAt"] = first_start + (end - start)
        b.drifting.add(lead.id)


def ghl_delete(b: DemoBuild, lead: Lead, k: int) -> None:
    """Deleted by an AppointmentDelete webhook, never polled afterwards."""
    contact = contact_of(lead)
    booked, start, when = b.booking_with_cancel_room()
    a = new_appointment(b, lead, lead.person, contact, "ghl_delete", booked=booked, start=start, status="confirmed")
    when = max(when.replace(microsecond=0), a.booked + timedelta(seconds=1))
    b.touch(a, when)
    a.deleted = True
    a.canceled_at = when
    b.observe(a, when, form="webhook", wtype="AppointmentDelete")
    a.closed = True
    b.finish(a)
    legacy_from_appointments(b, lead)


def ghl_contact_only(b: DemoBuild, lead: Lead, k: int) -> None:
    play(b, lead, "cancelled" if k % 3 == 2 else "confirmed", "ghl_contact_only", k, legacy=False)
