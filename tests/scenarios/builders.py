"""Small builders for scenario inputs in the providers' own shapes (PII included, so redaction is exercised)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

UTC = timezone.utc
CST = timezone(timedelta(hours=-6))
CAL = "https://api.calendly.com/scheduled_events"


def t(text: str) -> datetime:
    """'2025-01-02 10:00' -> aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cal_ts(text: str) -> str:
    return t(text).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ghl_ts(text: str) -> str:
    return t(text).astimezone(CST).isoformat()


def invitee_uri(event: str, invitee: str) -> str:
    return f"{CAL}/{event}/invitees/{invitee}"


def event_uri(event: str) -> str:
    return f"{CAL}/{event}"


def lead(lead_id: str, *, email: str | None = None, contact: str | None = None, created: str = "2024-11-01 00:00",
         updated: str = "2024-12-01 00:00", **legacy) -> dict:
    """A "Lead" row; legacy keyword names are the camelCase column names; times as 'YYYY-MM-DD HH:MM' UTC."""
    row = {
        "id": lead_id,
        "email": email,
        "phone": "+1 555-010-4242",
        "firstName": "Scenario",
        "lastName": f"Person {lead_id}",
        "ghlContactId": contact,
        "createdAt": t(created),
        "updatedAt": t(updated),
    }
    for name, value in legacy.items():
        row[name] = t(value) if name.endswith("At") and value is not None else value
    return row


def calendly(event: str, invitee: str, *, email: str, start: str, created: str, updated: str, status: str = "active",
             event_status: str = "active", canceler: str | None = None, canceled: str | None = None,
             rescheduled: bool = False, old: str | None = None, new: str | None = None, no_show: bool = False,
             minutes: int = 30, webhook: str | None = None, tz: str = "America/Chicago", embed_event: bool = True,
             resource: bool = False) -> str:
    """A Calendly invitee in one of its real shapes: bare (``/invitees`` list item), in a webhook envelope
    (``webhook``), or as a GET body (``resource``); with its scheduled event embedded or, like Calendly's own webhook
    examples and every API invitee resource, with only the event's URI (``embed_event=False``)."""
    invitee_obj = {
        "uri": invitee_uri(event, invitee),
        "email": email,
        "name": "Scenario Person",
        "first_name": None,
        "last_name": None,
        "status": status,
        "timezone": tz,
        "event": event_uri(event),
        "created_at": cal_ts(created),
        "updated_at": cal_ts(updated),
        "questions_and_answers": [{"question": "Anything else?", "answer": "Call me at +1 555-010-9999", "position": 0}],
        "text_reminder_number": "+1 555-010-4242",
        "rescheduled": rescheduled,
        "old_invitee": old,
        "new_invitee": new,
        "cancel_url": f"https://calendly.com/cancellations/{invitee}",
        "reschedule_url": f"https://calendly.com/reschedulings/{invitee}",
        "no_show": {"uri": f"https://api.calendly.com/invitee_no_shows/{invitee}", "created_at": cal_ts(updated)} if no_show else None,
        "scheduled_event": {
            "uri": event_uri(event),
            "name": "30 Minute Meeting",
            "meeting_notes_plain": "Scenario notes",
            "status": event_status,
            "start_time": cal_ts(start),
            "end_time": cal_ts((t(start) + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M")),
            "event_memberships": [{"user": "https://api.calendly.com/users/HOST", "user_email": "host@example.com", "user_name": "Host Person"}],
            "location": {"type": "google_conference", "join_url": "https://meet.example.com/abc"},
        },
    }
    if canceler:
        invitee_obj["cancellation"] = {"canceled_by": "Scenario Person", "reason": "Personal reasons", "canceler_type": canceler,
                                       "created_at": cal_ts(canceled or updated)}
    if event_status == "canceled":
        invitee_obj["scheduled_event"]["cancellation"] = {"canceled_by": "Host Person", "reason": "Host sick",
                                                          "canceler_type": "host", "created_at": cal_ts(updated)}
    if not embed_event:
        del invitee_obj["scheduled_event"]
    if webhook:
        return json.dumps({"event": webhook, "created_at": cal_ts(updated), "created_by": "https://api.calendly.com/users/HOST",
                           "payload": invitee_obj})
    if resource:
        return json.dumps({"resource": invitee_obj})
    return json.dumps(invitee_obj)


def calendly_event(event: str, *, start: str, updated: str, status: str = "active", minutes: int = 30,
                   canceler: str | None = None, resource: bool = False) -> str:
    """A scheduled event as a ``GET /scheduled_events`` list item (or, with ``resource``, a GET body)."""
    event_obj = {
        "uri": event_uri(event),
        "name": "30 Minute Meeting",
        "meeting_notes_plain": "Notes about Scenario Person, +1 555-010-4242",
        "meeting_notes_html": None,
        "status": status,
        "start_time": cal_ts(start),
        "end_time": cal_ts((t(start) + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M")),
        "event_type": "https://api.calendly.com/event_types/TYPE1",
        "location": {"type": "physical", "location": "1 Main Street, Springfield"},
        "invitees_counter": {"total": 1, "active": 0 if status == "canceled" else 1, "limit": 1},
        "created_at": cal_ts("2024-12-01 00:00"),
        "updated_at": cal_ts(updated),
        "event_memberships": [{"user": "https://api.calendly.com/users/HOST", "user_email": "host@example.com",
                               "user_name": "Host Person"}],
        "event_guests": [{"email": "guest@example.com", "created_at": cal_ts(updated), "updated_at": cal_ts(updated)}],
    }
    if canceler:
        event_obj["cancellation"] = {"canceled_by": "Host Person", "reason": "Host sick", "canceler_type": canceler,
                                     "created_at": cal_ts(updated)}
    return json.dumps({"resource": event_obj} if resource else event_obj)


def calendly_other_webhook(name: str, payload: dict) -> str:
    """A webhook of a subscription that is not about an invitee (routing forms, event types, ...)."""
    return json.dumps({"event": name, "created_at": cal_ts("2025-01-02 10:00"),
                       "created_by": "https://api.calendly.com/users/HOST", "payload": payload})


def ghl(appointment_id: str, *, contact: str | None, start: str, added: str, updated: str, status: str = "confirmed",
        calendar: str = "CAL1", minutes: int = 30, webhook: str | None = None, typo: bool = False) -> str:
    body = {
        "id": appointment_id,
        "title": "Scenario Person",
        "calendarId": calendar,
        "locationId": "LOC1",
        "contactId": contact,
        "groupId": "GRP1",
        "assignedUserId": "USER1",
        "users": ["USER1"],
        "notes": "Call +1 555-010-4242 first",
        "address": "1 Main Street",
        "startTime": ghl_ts(start),
        "endTime": ghl_ts((t(start) + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M")),
        "dateAdded": ghl_ts(added),
        "dateUpdated": ghl_ts(updated),
    }
    body["appoinmentStatus" if typo else "appointmentStatus"] = status
    if contact is None:
        del body["contactId"]
    if webhook:
        return json.dumps({"type": webhook, "locationId": "LOC1", "appointment": body})
    return json.dumps(body)
