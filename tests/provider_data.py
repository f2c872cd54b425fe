"""Provider data for the API tests, served by pytest-httpserver in the providers' published shapes.

:func:`build_calendly_dataset` / :func:`build_ghl_dataset` make seeded, realistic datasets with fake PII.
:class:`ServedProviders` serves them on a pytest-httpserver (providers.md 1.5 / 2.4): Calendly's
``/scheduled_events`` and ``/scheduled_events/{uuid}/invitees`` (start-time window, ``count``, opaque
``page_token``, full ``next_page`` links), GHL's ``/calendars/events`` (epoch-ms window, ``Version`` header, no
pagination), both behind a bearer token with the providers' error shapes. A ``fault`` hook may answer any
request itself or change the normal answer (429, 5xx, malformed bodies, rate-limit headers ...); every answer is recorded in ``.served``.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlencode

from werkzeug import Request, Response

CALENDLY_API = "https://api.calendly.com"
DEFAULT_ORGANIZATION = f"{CALENDLY_API}/organizations/00000000-0000-4000-8000-00000000000a"
DEFAULT_LOCATION_ID = "FAKELOC0000000000001"
DEFAULT_GHL_CALENDARS = ("FAKECAL0000000000001", "FAKECAL0000000000002", "FAKECAL0000000000003")
GHL_VERSION = "2021-04-15"

CALENDLY_ERRORS = {
    400: "Invalid Argument", 401: "Unauthenticated", 403: "Permission Denied", 404: "Resource Not Found",
    429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
}


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=dict(headers or {}), content_type="application/json")


def calendly_error(status: int, headers: Mapping[str, str] | None = None) -> Response:
    title = CALENDLY_ERRORS.get(status, "Error")
    return json_response(status, {"title": title, "message": f"{title} (details for humans)"}, headers)


def ghl_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(status, {"statusCode": status, "message": message, "error": message}, headers)


@dataclass
class Served:
    """One request the server answered."""

    number: int
    at: float  # time.monotonic() on arrival
    path: str
    params: dict[str, str]
    headers: dict[str, str]  # without Authorization
    status: int
    body: Any  # decoded JSON of the answer, None if not JSON

    def param(self, name: str) -> str | None:
        return self.params.get(name)


# (request, its 1-based number, serve) -> the answer; ``serve()`` computes the normal answer
Fault = Callable[[Request, int, Callable[[], Response]], Response]


class ServedProviders:
    """Calendly and GHL endpoints on one pytest-httpserver (their paths do not overlap)."""

    def __init__(
        self,
        httpserver,
        *,
        calendly: Sequence[Mapping[str, Any]] = (),
        ghl: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        calendly_token: str = "calendly-test-token",
        ghl_token: str = "ghl-test-token",
        page_size: int = 100,
        endless_pages: bool = False,
        fault: Fault | None = None,
        alter_ghl: Callable[[Mapping[str, str], list[dict]], list[dict]] | None = None,
    ) -> None:
        self.base_url = httpserver.url_for("/").rstrip("/")
        self.calendly_token, self.ghl_token = calendly_token, ghl_token
        self.page_size = page_size
        self.endless_pages = endless_pages
        self.fault = fault
        self.alter_ghl = alter_ghl
        self.events = {item["event"]["uri"].rsplit("/", 1)[-1]: item["event"] for item in calendly}
        self.invitees = {item["event"]["uri"].rsplit("/", 1)[-1]: list(item["invitees"]) for item in calendly}
        self.calendars = {k: list(v) for k, v in (ghl or {}).items()}
        self.served: list[Served] = []
        self._lock = threading.Lock()
        httpserver.expect_request("/scheduled_events").respond_with_handler(self._handle)
        httpserver.expect_request(re.compile(r"^/scheduled_events/[^/]+/invitees$")).respond_with_handler(self._handle)
        httpserver.expect_request("/calendars/events").respond_with_handler(self._handle)

    def requests_to(self, path: str | None = None, *, prefix: str | None = None) -> list[Served]:
        with self._lock:
            out = list(self.served)
        if path is not None:
            out = [s for s in out if s.path == path]
        if prefix is not None:
            out = [s for s in out if s.path.startswith(prefix)]
        return out

    def statuses(self) -> list[int]:
        return [s.status for s in self.requests_to()]

    def _handle(self, request: Request) -> Response:
        arrived = time.monotonic()
        with self._lock:
            number = len(self.served) + 1
        serve = lambda: self._route(request)  # noqa: E731
        response = self.fault(request, number, serve) if self.fault else serve()
        try:
            body = json.loads(response.get_data())
        except ValueError:
            body = None
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        with self._lock:
            self.served.append(Served(number, arrived, request.path, request.args.to_dict(), headers,
                                      response.status_code, body))
        return response

    def _route(self, request: Request) -> Response:
        if request.path == "/calendars/events":
            if request.headers.get("Authorization") != f"Bearer {self.ghl_token}":
                return ghl_error(401, "Invalid JWT")
            return self._ghl_events(request)
        if request.headers.get("Authorization") != f"Bearer {self.calendly_token}":
            return calendly_error(401)
        if request.path == "/scheduled_events":
            return self._calendly_events(request)
        event_uuid = request.path.split("/")[2]
        if event_uuid not in self.events:
            return calendly_error(404)
        invitees = sorted(self.invitees[event_uuid], key=lambda i: (i["created_at"], i["uri"]))
        return self._page(request, invitees)

    def _calendly_events(self, request: Request) -> Response:
        if request.args.get("organization") != DEFAULT_ORGANIZATION:
            return calendly_error(403)
        lo = parse_iso(request.args.get("min_start_time", "1970-01-01T00:00:00Z"))
        hi = parse_iso(request.args.get("max_start_time", "9999-01-01T00:00:00Z"))
        events = [e for e in self.events.values() if lo <= parse_iso(e["start_time"]) < hi]
        events.sort(key=lambda e: (e["start_time"], e["uri"]))
        return self._page(request, events, endless=self.endless_pages)

    def _page(self, request: Request, items: list[dict], endless: bool = False) -> Response:
        count = min(int(request.args.get("count", "20")), 100, self.page_size)
        offset = 0
        if request.args.get("page_token"):
            offset = json.loads(base64.urlsafe_b64decode(request.args["page_token"].encode()))["offset"]
        page = items[offset: offset + count]
        next_page = next_token = None
        if offset + count < len(items) or endless:
            payload = {"offset": offset + count, "nonce": uuid.uuid4().hex[:8]}
            next_token = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
            params = {**request.args.to_dict(), "page_token": next_token}
            next_page = f"{self.base_url}{request.path}?{urlencode(params)}"
        pagination = {"count": len(page), "next_page": next_page, "next_page_token": next_token,
                      "previous_page": None, "previous_page_token": None}
        return json_response(200, {"collection": page, "pagination": pagination})

    def _ghl_events(self, request: Request) -> Response:
        if request.headers.get("Version") != GHL_VERSION:
            return ghl_error(400, "Version header was not found")
        if request.args.get("locationId") != DEFAULT_LOCATION_ID:
            return ghl_error(403, "Forbidden")
        lo, hi = int(request.args["startTime"]), int(request.args["endTime"])
        out = []
        for calendar_id, events in self.calendars.items():
            if calendar_id != request.args.get("calendarId"):
                continue
            out.extend(e for e in events if ghl_event_span_ms(e)[0] <= hi and ghl_event_span_ms(e)[1] > lo)
        out.sort(key=lambda e: (ghl_event_span_ms(e), e["id"]))
        if self.alter_ghl is not None:
            out = self.alter_ghl(request.args, out)
        return json_response(200, {"events": out, "traceId": str(uuid.uuid4())})


WINDOW = (datetime(2025, 3, 1, tzinfo=timezone.utc), datetime(2025, 3, 11, tzinfo=timezone.utc))


def invitees_in(data, lo=WINDOW[0], hi=WINDOW[1]) -> dict[str, tuple[dict, dict]]:
    """invitee uri -> (invitee, event) for events starting in [lo, hi)."""
    out = {}
    for item in data:
        start = datetime.fromisoformat(item["event"]["start_time"].replace("Z", "+00:00"))
        if lo <= start < hi:
            for inv in item["invitees"]:
                out[inv["uri"]] = (inv, item["event"])
    return out


def ghl_events_in(data, lo=WINDOW[0], hi=WINDOW[1]) -> dict[str, dict]:
    lo_ms, hi_ms = int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)
    out = {}
    for events in data.values():
        for ev in events:
            s, e = ghl_event_span_ms(ev)
            if s < hi_ms and e > lo_ms:
                out[ev["id"]] = ev
    return out


def assert_calendly_complete(records, data, lo=WINDOW[0], hi=WINDOW[1]):
    expected = invitees_in(data, lo, hi)
    uris = [r["uri"] for r in records]
    assert len(uris) == len(set(uris)), "an invitee arrived twice"
    assert set(uris) == set(expected)
    for rec in records:
        invitee, event = expected[rec["uri"]]
        assert rec["scheduled_event"] == event
        assert {k: v for k, v in rec.items() if k != "scheduled_event"} == invitee
        assert rec["event"] == rec["scheduled_event"]["uri"]


def assert_ghl_complete(records, data, lo=WINDOW[0], hi=WINDOW[1]):
    expected = ghl_events_in(data, lo, hi)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "an event arrived twice"
    assert set(ids) == set(expected)
    for rec in records:
        assert rec == expected[rec["id"]]  # passed through untouched


def gaps(served) -> list[float]:
    """Seconds between consecutive arrivals."""
    return [b.at - a.at for a, b in zip(served, served[1:])]


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ghl_event_span_ms(event: Mapping[str, Any]) -> tuple[int, int]:
    """(start, end) of a GHL event in epoch ms."""
    start = parse_iso(event["startTime"])
    end = parse_iso(event["endTime"])
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


_FIRST = ["Pat", "Sam", "Alex", "Jordan", "Casey", "Riley", "Morgan", "Taylor", "Jamie", "Quinn", "Avery", "Drew"]
_LAST = ["Example", "Sample", "Tester", "Demo", "Placeholder", "Mock", "Fixture", "Dummy"]
_QUESTIONS = ["What would you like to discuss?", "Anything we should know before the call?"]
_ANSWERS = ["Pricing for a test account", "Call me at +1 555-010-4477", "Knee surgery follow-up", "Migration help"]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ts(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_calendly_dataset(
    seed: int = 0,
    n_events: int = 250,
    *,
    start: datetime = datetime(2025, 3, 1, tzinfo=timezone.utc),
    days: int = 10,
    organization: str = DEFAULT_ORGANIZATION,
) -> list[dict]:
    """``n_events`` scheduled events spread over ``days`` from ``start``, each ``{"event": ..., "invitees": [...]}``
    with 1-3 invitees. About 15 % of events are canceled (their invitees canceled by host or invitee), about 10 %
    of invitees are rescheduled into a new one-invitee event (old: canceled, ``rescheduled: true``, ``new_invitee``;
    new: ``old_invitee``; the new events are part of the ``n_events``), some are no-shows. PII fields are filled
    with fake values as in providers.md section 5."""
    rng = random.Random(seed)
    host_uuid = _uuid(rng)
    host_uri = f"{CALENDLY_API}/users/{host_uuid}"
    event_type = f"{CALENDLY_API}/event_types/{_uuid(rng)}"
    items: list[dict] = []
    span_minutes = days * 24 * 60

    def make_event(start_at: datetime, status: str, limit: int) -> dict:
        event_uuid = _uuid(rng)
        created = start_at - timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 600))
        location = rng.choice(
            [
                {"type": "google_conference", "status": "pushed", "join_url": f"https://meet.example.com/{event_uuid[:8]}"},
                {"type": "zoom", "join_url": f"https://zoom.example.com/j/{rng.randint(10**9, 10**10)}"},
                {"type": "outbound_call", "location": f"+1 555-010-{rng.randint(1000, 9999)}"},
                {"type": "physical", "location": f"{rng.randint(1, 999)} Example Street, Springfield"},
            ]
        )
        event = {
            "uri": f"{CALENDLY_API}/scheduled_events/{event_uuid}",
            "name": "30 Minute Meeting" if limit == 1 else "Group Session",
            "meeting_notes_plain": rng.choice([None, "Internal: prefers afternoons"]),
            "meeting_notes_html": None,
            "status": status,
            "start_time": _ts(start_at),
            "end_time": _ts(start_at + timedelta(minutes=30)),
            "event_type": event_type,
            "location": location,
            "invitees_counter": {"total": 0, "active": 0, "limit": limit},
            "created_at": _ts(created),
            "updated_at": _ts(created + timedelta(seconds=1)),
            "event_memberships": [{"user": host_uri, "user_email": "host@example.com", "user_name": "Host Example"}],
            "event_guests": [],
            "calendar_event": {"kind": "google", "external_id": uuid.UUID(int=rng.getrandbits(128)).hex},
        }
        return event

    def make_invitee(event: dict, status: str) -> dict:
        inv_uuid = _uuid(rng)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        created = parse_iso(event["created_at"]) + timedelta(seconds=rng.randint(0, 5))
        return {
            "uri": f"{event['uri']}/invitees/{inv_uuid}",
            "email": f"{first.lower()}.{last.lower()}{rng.randint(1, 999)}@example.com",
            "name": f"{first} {last}",
            "first_name": None,
            "last_name": None,
            "status": status,
            "timezone": rng.choice(["America/Chicago", "Europe/Berlin", "Asia/Kolkata", None]),
            "event": event["uri"],
            "created_at": _ts(created),
            "updated_at": _ts(created),
            "questions_and_answers": [{"question": _QUESTIONS[0], "answer": rng.choice(_ANSWERS), "position": 0}],
            "tracking": {"utm_campaign": None, "utm_source": rng.choice([None, "newsletter"]), "utm_medium": None,
                         "utm_content": None, "utm_term": None, "salesforce_uuid": None},
            "text_reminder_number": rng.choice([None, f"+1 555-010-{rng.randint(1000, 9999)}"]),
            "rescheduled": False,
            "old_invitee": None,
            "new_invitee": None,
            "cancel_url": f"https://calendly.com/cancellations/{inv_uuid}",
            "reschedule_url": f"https://calendly.com/reschedulings/{inv_uuid}",
            "routing_form_submission": None,
            "payment": None,
            "no_show": None,
            "reconfirmation": None,
            "scheduling_method": None,
            "invitee_scheduled_by": None,
        }

    def cancel(record: dict, when: datetime, canceler: str) -> None:
        record["status"] = "canceled"
        record["updated_at"] = _ts(when)
        record["cancellation"] = {
            "canceled_by": "Host Example" if canceler == "host" else record.get("name", "Someone"),
            "reason": rng.choice([None, "Schedule conflict", "Feeling unwell"]),
            "canceler_type": canceler,
            "created_at": _ts(when),
        }

    def finish_counter(item: dict) -> None:
        invitees = item["invitees"]
        counter = item["event"]["invitees_counter"]
        counter["total"] = len(invitees)
        counter["active"] = sum(1 for i in invitees if i["status"] == "active")

    while len(items) < n_events:
        start_at = start + timedelta(minutes=rng.randrange(0, span_minutes - 120, 15))
        group = rng.random() < 0.2
        limit = rng.randint(2, 3) if group else 1
        canceled_event = rng.random() < 0.15
        event = make_event(start_at, "canceled" if canceled_event else "active", limit)
        item = {"event": event, "invitees": []}
        items.append(item)
        for _ in range(limit if group else 1):
            invitee = make_invitee(event, "active")
            item["invitees"].append(invitee)
            when = parse_iso(invitee["created_at"]) + timedelta(hours=rng.randint(1, 48))
            if canceled_event:
                cancel(invitee, when, "host")
            elif rng.random() < 0.1 and len(items) < n_events:
                # reschedule: a new one-invitee event later on, linked both ways
                new_start = min(start_at + timedelta(hours=rng.randint(2, 72)), start + timedelta(days=days) -
                                timedelta(hours=1))
                new_event = make_event(new_start, "active", 1)
                new_item = {"event": new_event, "invitees": []}
                new_invitee = make_invitee(new_event, "active")
                new_invitee.update(email=invitee["email"], name=invitee["name"], old_invitee=invitee["uri"])
                new_item["invitees"].append(new_invitee)
                items.append(new_item)
                cancel(invitee, when, "invitee")
                invitee["rescheduled"] = True
                invitee["new_invitee"] = new_invitee["uri"]
                if limit == 1:
                    event["status"] = "canceled"
                    event["cancellation"] = dict(invitee["cancellation"])
                finish_counter(new_item)
            elif rng.random() < 0.08:
                cancel(invitee, when, "invitee")
            elif rng.random() < 0.05:
                invitee["no_show"] = {"uri": f"{CALENDLY_API}/invitee_no_shows/{_uuid(rng)}",
                                      "created_at": _ts(start_at + timedelta(minutes=40))}
        if canceled_event:
            event["cancellation"] = {"canceled_by": "Host Example", "reason": "Host unavailable",
                                     "canceler_type": "host", "created_at": item["invitees"][0]["updated_at"]}
        finish_counter(item)
    return items


_GHL_OFFSETS = [timedelta(hours=-6), timedelta(hours=-5), timedelta(0), timedelta(hours=5, minutes=30)]
_GHL_STATUSES = ["confirmed"] * 6 + ["new", "cancelled", "showed", "noshow", "invalid"]
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _ghl_id(rng: random.Random) -> str:
    return "".join(rng.choice(_ID_CHARS) for _ in range(20))


def _ghl_time(value: datetime, offset: timedelta) -> str:
    return value.astimezone(timezone(offset)).isoformat(timespec="seconds")


def build_ghl_dataset(
    seed: int = 0,
    calendar_ids: Sequence[str] = DEFAULT_GHL_CALENDARS,
    events_per_calendar: int = 200,
    *,
    start: datetime = datetime(2025, 3, 1, tzinfo=timezone.utc),
    days: int = 10,
    location_id: str = DEFAULT_LOCATION_ID,
) -> dict[str, list[dict]]:
    """``events_per_calendar`` GHL calendar events per calendar over ``days`` from ``start``, times with offsets like
    ``-06:00`` / ``+05:30`` / ``+00:00``. Mixed statuses (some records spell the key ``appoinmentStatus``), a few
    recurring instance ids (``<master>_<startMs>_<n>``), and about 10 % of events placed across a UTC midnight so
    they overlap two 24-hour slices. Titles carry contact names; notes and addresses carry fake PII."""
    rng = random.Random(seed)
    out: dict[str, list[dict]] = {}
    group_id = _ghl_id(rng)
    for calendar_id in calendar_ids:
        events = []
        for n in range(events_per_calendar):
            day = rng.randrange(days)
            if rng.random() < 0.1 and day < days - 1:
                start_at = start + timedelta(days=day + 1, minutes=-rng.choice([15, 30, 45]))  # crosses midnight
                minutes = 60
            else:
                start_at = start + timedelta(days=day, minutes=rng.randrange(0, 22 * 60, 15))
                minutes = rng.choice([15, 30, 45, 60, 90])
            end_at = start_at + timedelta(minutes=minutes)
            offset = rng.choice(_GHL_OFFSETS)
            added = start_at - timedelta(days=rng.randint(1, 14), minutes=rng.randint(0, 900))
            updated = added + timedelta(hours=rng.randint(0, 48))
            master = _ghl_id(rng)
            event_id = master if rng.random() > 0.05 else f"{master}_{int(start_at.timestamp() * 1000)}_{minutes * 60}"
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            status_key = "appoinmentStatus" if rng.random() < 0.1 else "appointmentStatus"
            event = {
                "id": event_id,
                "title": f"{first} {last}",
                "calendarId": calendar_id,
                "locationId": location_id,
                "contactId": _ghl_id(rng),
                "groupId": group_id,
                status_key: rng.choice(_GHL_STATUSES),
                "assignedUserId": "FAKEUSER000000000001",
                "users": [],
                "address": rng.choice([f"https://meet.example.com/{event_id[:6]}", f"+1 555-010-{rng.randint(1000, 9999)}",
                                       "12 Example Road, Springfield"]),
                "notes": rng.choice(["", "Prefers afternoon calls", f"Call {first} at +1 555-010-{n:04d}"]),
                "isRecurring": "_" in event_id,
                "startTime": _ghl_time(start_at, offset),
                "endTime": _ghl_time(end_at, offset),
                "dateAdded": _ghl_time(added, offset),
                "dateUpdated": _ghl_time(updated, offset),
                "createdBy": {"source": rng.choice(["booking_widget", "third_party", "calendar_page"])},
            }
            if "_" in event_id:
                event["masterEventId"] = master
            events.append(event)
        out[calendar_id] = events
    return out
