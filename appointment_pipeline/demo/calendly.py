"""Calendly shapes: scheduled events, invitees, their webhook/GET/list payloads and the state changes behind them.

Calendly lines come in the shapes the provider really sends: an invitee bare, in a webhook envelope or as a GET body
``{"resource": ...}``, about one in four of them with only the event's URI instead of the embedded
``scheduled_event``; such a line is followed the same day by its event on its own (a ``/scheduled_events`` item,
bare or as a GET body), so the event's times and status are known.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from appointment_pipeline.demo.people import HOSTS, STREETS, Lead, Person
from appointment_pipeline.demo.timeline import (
    CALENDLY_API,
    Appointment,
    CalendlyLine,
    DemoBuild,
    cal_ts,
    digest,
    dumps,
)

TOPICS = ("Pricing for a test account", "Second opinion on a quote", "Switching plans", "Initial consultation")
CANCEL_REASONS_INVITEE = ("Schedule conflict", "Found another provider", None, "Feeling unwell, will rebook")
CANCEL_REASONS_HOST = ("Host unavailable", "Double booked, sorry", None)


class CalendlyEvent:
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
        self.calendar_event_id = ""


class CalendlyInvitee(Appointment):
    def __init__(
        self, key: str, uid: str, lead: Lead | None, person: Person, ev: CalendlyEvent, scenario: str
    ) -> None:
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

    def payload(self, b: DemoBuild, form: str, wtype: str | None) -> str | CalendlyLine:
        return invitee_line(b, self, form)


def new_event(b: DemoBuild, start: datetime, created: datetime, *, minutes: int = 30, limit: int = 1) -> CalendlyEvent:
    rng = b.rng
    ev = CalendlyEvent()
    ev.uuid = b.uuid()
    ev.uri = f"{CALENDLY_API}/scheduled_events/{ev.uuid}"
    ev.start = start
    ev.end = start + timedelta(minutes=minutes)
    ev.created_at = created
    ev.updated_at = created
    ev.host = rng.randrange(len(HOSTS))
    ev.limit = limit
    ev.name = "Group Workshop" if limit > 1 else ("30 Minute Meeting" if minutes == 30 else "60 Minute Consultation")
    ev.event_type = b.event_types[1 if limit > 1 else 0]
    kind = rng.random()
    if kind < 0.6:
        ev.location_type = "google_conference"
        ev.join_url = f"https://meet.example.com/{ev.uuid[:3]}-{ev.uuid[9:13]}-{ev.uuid[14:17]}"
    elif kind < 0.8:
        ev.location_type = "zoom_conference"
        ev.join_url = f"https://zoom.example.com/j/{int(ev.uuid[-8:], 16)}"
    else:
        ev.location_type = "physical"
        ev.location_text = f"{rng.randrange(1, 999)} {rng.choice(STREETS)}, Springfield"
    ev.calendar_event_id = ev.uuid.replace("-", "")[:26]
    return ev


def new_invitee(
    b: DemoBuild, person: Person, lead: Lead | None, ev: CalendlyEvent, created: datetime, scenario: str
) -> CalendlyInvitee:
    rng = b.rng
    uid = b.uuid()
    inv = CalendlyInvitee(f"{ev.uri}/invitees/{uid}", uid, lead, person, ev, scenario)
    b.cal_counter += 1
    inv.created_at = created
    inv.start, inv.end = ev.start, ev.end
    inv.split_names = rng.random() < 0.3
    if rng.random() < 0.15:  # entered with capitals (Calendly keeps the address as typed)
        local, _, domain = person.email.partition("@")
        inv.email = f"{local[:1].upper()}{local[1:]}@{domain.capitalize()}"
    r = rng.random()
    if r < 0.5:
        inv.answer = rng.choice(TOPICS)
    elif r < 0.8:
        inv.answer = f"Please call me at {person.phone}"
    else:
        inv.answer = f"{person.full}, {rng.choice(TOPICS).lower()}"
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


def event_payload(b: DemoBuild, ev: CalendlyEvent) -> dict:
    """A ``/scheduled_events`` resource."""
    host_name, host_email = HOSTS[ev.host]
    b.pii.update((host_name, host_email))
    location: dict = {"type": ev.location_type}
    if ev.join_url:
        location.update(status="pushed", join_url=ev.join_url)
    else:
        location["location"] = ev.location_text
        b.pii.add(ev.location_text or "")
    payload = {
        "uri": ev.uri,
        "name": ev.name,
        "meeting_notes_plain": ev.notes,
        "meeting_notes_html": f"<p>{ev.notes}</p>" if ev.notes else None,
        "status": ev.status,
        "start_time": cal_ts(ev.start),
        "end_time": cal_ts(ev.end),
        "event_type": ev.event_type,
        "location": location,
        "invitees_counter": {"total": ev.total, "active": ev.active, "limit": ev.limit},
        "created_at": cal_ts(ev.created_at),
        "updated_at": cal_ts(ev.updated_at),
        "event_memberships": [
            {
                "user": b.host_uris[ev.host],
                "user_email": host_email,
                "user_name": host_name,
                "buffered_start_time": cal_ts(ev.start),
                "buffered_end_time": cal_ts(ev.end),
            }
        ],
        "event_guests": [],
        "calendar_event": {"kind": "google", "external_id": ev.calendar_event_id},
    }
    if ev.guest:
        payload["event_guests"] = [
            {"email": ev.guest, "created_at": cal_ts(ev.created_at), "updated_at": cal_ts(ev.created_at)}
        ]
        b.pii.add(ev.guest)
    if ev.cancellation:
        payload["cancellation"] = dict(ev.cancellation)
        b.pii.add(ev.cancellation["canceled_by"])
    return payload


def invitee_object(b: DemoBuild, inv: CalendlyInvitee) -> dict:
    """An invitee resource with its ``scheduled_event`` embedded."""
    p = inv.person
    b.pii.update((inv.email, p.full, p.first, p.last))
    if inv.text_number:
        b.pii.add(inv.text_number)
    if p.phone in inv.answer or p.phone in (inv.ev.notes or ""):
        b.pii.add(p.phone)
    obj = {
        "uri": inv.uri,
        "email": inv.email,
        "name": p.full,
        "first_name": p.first if inv.split_names else None,
        "last_name": p.last if inv.split_names else None,
        "status": inv.status_str,
        "timezone": inv.tz,
        "event": inv.ev.uri,
        "created_at": cal_ts(inv.created_at),
        "updated_at": cal_ts(inv.updated_at),
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
        "scheduled_event": event_payload(b, inv.ev),
    }
    if inv.cancellation:
        obj["cancellation"] = dict(inv.cancellation)
        b.pii.add(inv.cancellation["canceled_by"])
    return obj


def invitee_line(b: DemoBuild, inv: CalendlyInvitee, form: str) -> str | CalendlyLine:
    """One invitee line. A quarter of them are chosen to carry only the event's URI (Calendly's own webhook
    examples and every invitee API resource do), some poll lines as a GET body; those owe the event as a line of
    its own (see ``CalendlyLine`` for the ones that keep it after all)."""
    assert b.event_line is None, "the previous invitee line was never pushed"
    obj = invitee_object(b, inv)
    embedded = _wrap(b, inv, form, obj)
    shape = digest(inv.uri, obj["updated_at"])
    if shape[0] % 4:
        return embedded
    event = obj.pop("scheduled_event")
    stripped = dumps({"resource": obj}) if form == "poll" and shape[2] % 2 == 0 else _wrap(b, inv, form, obj)
    event_line = dumps({"resource": event} if shape[1] % 3 == 0 else event)
    active_then = inv.status_str == "active" and inv.ev.status == "active"
    b.event_line = CalendlyLine(embedded, stripped, event_line, inv.ev, active_then)
    return b.event_line


def _wrap(b: DemoBuild, inv: CalendlyInvitee, form: str, obj: dict) -> str:
    """A poll line is the bare resource; a webhook wraps it in Calendly's envelope."""
    if form == "poll":
        return dumps(obj)
    envelope = {
        "event": "invitee.canceled" if inv.status_str == "canceled" else "invitee.created",
        "created_at": cal_ts(inv.updated_at + timedelta(microseconds=135_000)),  # type: ignore[operator]
        "created_by": b.host_uris[inv.ev.host],
        "payload": obj,
    }
    return dumps(envelope)


def cancel(b: DemoBuild, inv: CalendlyInvitee, t: datetime, canceler: str, *, event_too: bool = True) -> None:
    rng = b.rng
    if canceler == "host":
        by = HOSTS[inv.ev.host][0]
        reason = rng.choice(CANCEL_REASONS_HOST)
    else:
        by = inv.person.full
        reason = rng.choice(CANCEL_REASONS_INVITEE)
    cancellation = {
        "canceled_by": by,
        "reason": reason,
        "canceler_type": canceler,
        "created_at": cal_ts(t - timedelta(milliseconds=100)),
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


def book(b: DemoBuild, lead: Lead | None, person: Person, scenario: str, *, allow_past: bool = True,
         booked: datetime | None = None, start: datetime | None = None,
         email: str | None = None) -> CalendlyInvitee:  # fmt: skip
    """A one-to-one event booked by ``person`` (observed at its booking time)."""
    if booked is None or start is None:
        booked, start = b.booking_and_start(allow_past=allow_past)
    minutes = 30 if b.rng.random() < 0.7 else 60
    ev = new_event(b, start, booked - timedelta(milliseconds=80), minutes=minutes)
    inv = new_invitee(b, person, lead, ev, booked, scenario)
    if email is not None:
        inv.email = email
    b.register(inv)
    b.observe(inv, booked)
    return inv


def book_and_cancel(b: DemoBuild, lead: Lead | None, person: Person, canceler: str, scenario: str, *,
                    email: str | None = None) -> CalendlyInvitee:  # fmt: skip
    """A booking canceled inside the window before its start, played to the end."""
    booked, start, cancel_at = b.booking_with_cancel_room()
    inv = book(b, lead, person, scenario, booked=booked, start=start, email=email)
    b.touch(inv, cancel_at)
    cancel(b, inv, cancel_at, canceler)
    b.observe(inv, cancel_at)
    b.finish(inv)
    return inv
