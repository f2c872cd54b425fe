"""Landing lines that describe no appointment: deliberately malformed ones (rejects) and Calendly webhooks about
something else (``DemoData.ignored``, valid lines that are not rejects)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from appointment_pipeline.demo import calendly, ghl
from appointment_pipeline.demo.people import FIRST_NAMES, HOSTS, LAST_NAMES, stranger
from appointment_pipeline.domain.statuses import LineReason
from appointment_pipeline.demo.timeline import CALENDLY_API, DemoBuild, cal_ts, digest, dumps, zone

MALFORMED_KINDS = tuple(
    str(r) for r in (LineReason.MALFORMED_JSON, LineReason.MISSING_KEY, LineReason.BAD_TIMESTAMP, LineReason.UNKNOWN_STATUS)
)
IGNORED = str(LineReason.NOT_AN_APPOINTMENT)  # the reason code of a valid line that describes no appointment


def push_malformed(b: DemoBuild) -> None:
    """Every malformed kind for both providers, about one per 150 leads, spread over the days."""
    per_kind = max(1, round(b.n_leads / 150))
    j = 0
    for provider in ("calendly", "ghl"):
        for kind in MALFORMED_KINDS:
            for _ in range(per_kind):
                day = (j * 5 + 3) % b.days
                j += 1
                when = b.w0 + timedelta(days=day, seconds=b.rng.randrange(86_400))
                form = "webhook" if j % 2 else "poll"
                b.push(provider, day, form, when, bad_line(b, provider, kind, when, form), kind)


def bad_line(b: DemoBuild, provider: str, kind: str, when: datetime, form: str) -> str:
    person = stranger(b)
    start = b.quarter(when + timedelta(days=2))
    if provider == "calendly":
        if kind == LineReason.MALFORMED_JSON:
            return '{"event":"invitee.created","created_at":"' + cal_ts(when) + '","payload":{"uri":"' + CALENDLY_API + "/sch"
        ev = calendly.new_event(b, start, when)
        inv = calendly.CalendlyInvitee(f"{ev.uri}/invitees/{b.uuid()}", b.uuid(), None, person, ev, "malformed")
        inv.created_at = inv.updated_at = b.micro(when)
        inv.answer = "n/a"
        ev.total = ev.active = 1
        obj = calendly.invitee_object(b, inv)
        if kind == LineReason.MISSING_KEY:
            del obj["uri"]
        elif kind == LineReason.BAD_TIMESTAMP:
            obj["scheduled_event"]["start_time"] = start.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            obj["status"] = "tentative"
        if form == "poll":
            return dumps(obj)
        return dumps({"event": "invitee.created", "created_at": cal_ts(when), "payload": obj})
    if kind == LineReason.MALFORMED_JSON:
        return '{"type":"AppointmentUpdate","locationId":"' + ghl.LOCATION + '","appointment":{"id":"apt'
    a = ghl.GhlAppointment(b.ghl_id(), None, person, f"ctc9{person.idx:016d}", "malformed")
    a.created_at = a.updated_at = when.replace(microsecond=0)
    a.start, a.end = start, start + timedelta(minutes=30)
    a.title = person.full
    obj = ghl.appointment_object(b, a)
    if kind == LineReason.MISSING_KEY:
        del obj["id"]
    elif kind == LineReason.BAD_TIMESTAMP:
        obj["startTime"] = start.astimezone(zone(a.tz)).strftime("%Y-%m-%d %H:%M:%S")
    else:
        obj["appointmentStatus"] = "tentative"
    return ghl.as_line(obj, a, form, "AppointmentCreate")


def push_other_webhooks(b: DemoBuild) -> None:
    """Calendly webhooks that are not about an invitee (a subscription may include them): a routing form
    submission every other day, an event type change every third day and a new contact every fourth. They carry
    personal data (the pipeline must drop them without storing any of it) and draw nothing from ``b.rng``."""
    for day in range(b.days):
        for name, every, offset in (("routing_form_submission.created", 2, 0), ("event_type.updated", 3, 1),
                                    ("contact.created", 4, 3)):  # fmt: skip
            if day % every != offset:
                continue
            hashed = digest(name, str(day))
            when = b.w0 + timedelta(days=day, seconds=int.from_bytes(hashed[:4], "big") % 86_400,
                                    microseconds=hashed[4] * 1000)  # fmt: skip
            ident = str(uuid.UUID(bytes=hashed[:16], version=4))
            first = FIRST_NAMES[hashed[5] % len(FIRST_NAMES)]
            last = LAST_NAMES[hashed[6] % len(LAST_NAMES)]
            email = f"{first.lower()}.{last.lower()}.w{day}@example.net"
            if name == "routing_form_submission.created":
                payload: dict = {
                    "uri": f"{CALENDLY_API}/routing_form_submissions/{ident}",
                    "routing_form": f"{CALENDLY_API}/routing_forms/{uuid.UUID(bytes=hashed[16:], version=4)}",
                    "questions_and_answers": [
                        {"question_uuid": ident[:8], "question": "Email", "answer": email},
                        {"question_uuid": ident[9:13], "question": "Full name", "answer": f"{first} {last}"},
                    ],
                    "tracking": {"utm_campaign": None, "utm_source": "newsletter", "utm_medium": None,
                                 "utm_content": None, "utm_term": None, "salesforce_uuid": None},  # fmt: skip
                    "result": {"type": "event_type", "value": b.event_types[0]},
                    "submitter": None,
                    "submitter_type": None,
                    "created_at": cal_ts(when),
                    "updated_at": cal_ts(when),
                }
                b.pii.update((email, f"{first} {last}", first, last))
            elif name == "event_type.updated":
                host_name, _ = HOSTS[hashed[7] % len(HOSTS)]
                payload = {
                    "uri": b.event_types[day % len(b.event_types)],
                    "name": "30 Minute Meeting",
                    "active": True,
                    "duration": 30,
                    "kind": "solo",
                    "profile": {"type": "User", "name": host_name, "owner": b.host_uris[0]},
                    "updated_at": cal_ts(when),
                }
                b.pii.add(host_name)
            else:  # the shape of a contact is not documented: any object will do, it is never read
                payload = {
                    "uri": f"{CALENDLY_API}/contacts/{ident}",
                    "email": email,
                    "first_name": first,
                    "last_name": last,
                    "created_at": cal_ts(when),
                }
                b.pii.update((email, first, last))
            envelope = {"event": name, "created_at": cal_ts(when), "created_by": b.host_uris[0], "payload": payload}
            b.push("calendly", day, "webhook", when, dumps(envelope), IGNORED)
