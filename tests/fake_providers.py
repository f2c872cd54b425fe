"""In-process fake Calendly API v2 and GHL API v2 servers for tests (stdlib only).

Each server is a context manager that serves on ``127.0.0.1`` (a free port) from a background thread and exposes
``.base_url``. They serve the documented shapes (providers.md 1.5 / 2.4) from an in-memory dataset, check auth,
filter and paginate like the real APIs, and can be told to misbehave:

* rate limiting: ``rate_limit=N, rate_window=seconds`` -> fixed windows on ``clock``; the (N+1)-th request of a
  window gets 429 with the provider's rate-limit headers. ``rate_limit_headers="always"`` (default) also sends the
  headers on every answer, ``"on_429"`` only on 429s. ``prior_usage=k`` pretends k requests of someone else already
  used the first window. Every window is recorded in ``.windows`` (arrivals, accepted, throttled).
* ``fail_every=n``: every n-th request (global count, 1-based) answers 500.
* ``fail_first={path: k}``: the first k requests to ``path`` answer 500.
* ``fail_always={path: status}``: every request to ``path`` answers ``status`` (e.g. 500, 403).
* ``slow_every=n`` / ``slow_first={path: k}`` / ``slow_requests={seq, ...}``: the answer is delayed by ``slow_delay``
  real seconds (longer than the client's timeout), then sent normally.
* ``trickle={path: seconds}``: the answer's headers go out at once, then its body one byte every ``seconds``
  (each socket read succeeds, so a per-read timeout never fires).
* ``echo_authorization={path: status}``: answer ``status`` with the request's ``Authorization`` header quoted in
  the error body (a misbehaving proxy or provider).
* ``FakeCalendly(endless_pages=True)``: after the last real page of ``/scheduled_events``, empty pages with a fresh
  ``next_page_token`` forever.

Every request is recorded in ``.requests`` as :class:`RecordedRequest` (headers without ``Authorization``).

Dataset helpers: :func:`build_calendly_dataset` and :func:`build_ghl_dataset` (seeded, realistic, fake PII).
"""

from __future__ import annotations

import base64
import json
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Collection, Mapping, Sequence
from urllib.parse import parse_qs, urlencode, urlsplit

CALENDLY_API = "https://api.calendly.com"
DEFAULT_ORGANIZATION = f"{CALENDLY_API}/organizations/00000000-0000-4000-8000-00000000000a"
DEFAULT_LOCATION_ID = "FAKELOC0000000000001"
DEFAULT_GHL_CALENDARS = ("FAKECAL0000000000001", "FAKECAL0000000000002", "FAKECAL0000000000003")


# --------------------------------------------------------------------------------------------------------------------
# Clock shared by a client (sleep) and a server (rate windows)
# --------------------------------------------------------------------------------------------------------------------


class FakeClock:
    """A monotonic fake clock. Pass ``clock.now`` to servers and clients, ``clock.sleep`` to clients: sleeping
    records the delay and advances the clock instantly."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


# --------------------------------------------------------------------------------------------------------------------
# Base server
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    seq: int
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int | None = None

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class RateWindow:
    start: float
    arrivals: int = 0
    accepted: int = 0
    throttled: int = 0


@dataclass
class _Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):  # clients time out on purpose: stay quiet about it
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class _FakeServer:
    provider = "fake"

    def __init__(
        self,
        *,
        token: str,
        clock: Callable[[], float] = time.monotonic,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        rate_limit_headers: str = "always",
        prior_usage: int = 0,
        fail_every: int = 0,
        fail_first: Mapping[str, int] | None = None,
        fail_always: Mapping[str, int] | None = None,
        slow_every: int = 0,
        slow_first: Mapping[str, int] | None = None,
        slow_requests: Collection[int] = (),
        slow_delay: float = 1.0,
        trickle: Mapping[str, float] | None = None,
        echo_authorization: Mapping[str, int] | None = None,
    ) -> None:
        if rate_limit_headers not in ("always", "on_429"):
            raise ValueError("rate_limit_headers must be 'always' or 'on_429'")
        self.token = token
        self.clock = clock
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.rate_limit_headers = rate_limit_headers
        self.prior_usage = prior_usage
        self.fail_every = fail_every
        self.fail_first = dict(fail_first or {})
        self.fail_always = dict(fail_always or {})
        self.slow_every = slow_every
        self.slow_first = dict(slow_first or {})
        self.slow_requests = set(slow_requests)
        self.slow_delay = slow_delay
        self.trickle = dict(trickle or {})
        self.echo_authorization = dict(echo_authorization or {})

        self.requests: list[RecordedRequest] = []
        self.windows: list[RateWindow] = []
        self.advertised_waits: list[float] = []  # waits advertised on 429 answers, in order
        self._per_path: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes: avoid 40 ms delayed ACKs

            def do_GET(self):  # noqa: N802
                fake._handle(self, "GET")

            def do_POST(self):  # noqa: N802
                fake._handle(self, "POST")

            def log_message(self, format, *args):  # noqa: A002
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), name=f"fake-{self.provider}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- assertions helpers ----------------------------------------------------------------------------------------

    def requests_to(self, path: str | None = None, *, prefix: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            out = list(self.requests)
        if path is not None:
            out = [r for r in out if r.path == path]
        if prefix is not None:
            out = [r for r in out if r.path.startswith(prefix)]
        return out

    def status_counts(self) -> dict[int | None, int]:
        counts: dict[int | None, int] = {}
        for r in self.requests_to():
            counts[r.status] = counts.get(r.status, 0) + 1
        return counts

    @property
    def max_arrivals_per_window(self) -> int:
        return max((w.arrivals for w in self.windows), default=0)

    # -- request pipeline ------------------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        parts = urlsplit(handler.path)
        path = parts.path
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "authorization"}
        with self._lock:
            seq = len(self.requests) + 1
            record = RecordedRequest(seq, method, path, query, headers)
            self.requests.append(record)
            self._per_path[path] = path_count = self._per_path.get(path, 0) + 1
        reply, delay = self._decide(handler, method, path, query, seq, path_count)
        record.status = reply.status
        if delay:
            time.sleep(delay)
        body = json.dumps(reply.body).encode()
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(body)))
            for k, v in reply.headers.items():
                handler.send_header(k, v)
            handler.end_headers()
            if path in self.trickle:
                for i in range(len(body)):
                    handler.wfile.write(body[i:i + 1])
                    handler.wfile.flush()
                    time.sleep(self.trickle[path])
            else:
                handler.wfile.write(body)
        except OSError:
            handler.close_connection = True

    def _decide(self, handler, method, path, query, seq, path_count) -> tuple[_Reply, float]:
        if path in self.echo_authorization:
            status = self.echo_authorization[path]
            echoed = handler.headers.get("Authorization") or ""
            return _Reply(status, {"title": echoed, "error": echoed, "message": f"rejected header {echoed}"}), 0.0
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            return self._unauthorized(), 0.0
        rate_headers: dict[str, str] = {}
        if self.rate_limit is not None:
            throttled, rate_headers = self._count_rate(seq)
            if throttled is not None:
                return throttled, 0.0
            if self.rate_limit_headers != "always":
                rate_headers = {}
        reply = self._faults(path, seq, path_count)
        if reply is None:
            reply = self.route(handler, method, path, query)
        reply.headers.update(rate_headers)
        delay = 0.0
        if (
            (self.slow_every and seq % self.slow_every == 0)
            or seq in self.slow_requests
            or path_count <= self.slow_first.get(path, 0)
        ):
            delay = self.slow_delay
        return reply, delay

    def _faults(self, path, seq, path_count) -> _Reply | None:
        if path in self.fail_always:
            status = self.fail_always[path]
            return _Reply(status, self.error_body(status))
        if path_count <= self.fail_first.get(path, 0):
            return _Reply(500, self.error_body(500))
        if self.fail_every and seq % self.fail_every == 0:
            return _Reply(500, self.error_body(500))
        return None

    def _count_rate(self, seq) -> tuple[_Reply | None, dict[str, str]]:
        now = self.clock()
        with self._lock:
            if not self.windows or now >= self.windows[-1].start + self.rate_window:
                first = not self.windows
                self.windows.append(RateWindow(start=now))
                if first and self.prior_usage:
                    self.windows[-1].accepted = self.prior_usage
            window = self.windows[-1]
            window.arrivals += 1
            remaining_time = max(0.0, window.start + self.rate_window - now)
            if window.accepted >= self.rate_limit:
                window.throttled += 1
                headers = self.rate_headers(0, remaining_time, throttled=True)
                self.advertised_waits.append(self.advertised_wait(headers))
                return _Reply(429, self.error_body(429), headers), {}
            window.accepted += 1
            return None, self.rate_headers(self.rate_limit - window.accepted, remaining_time, throttled=False)

    # -- per provider --------------------------------------------------------------------------------------------------

    def route(self, handler, method, path, query) -> _Reply:
        raise NotImplementedError

    def error_body(self, status: int) -> dict:
        raise NotImplementedError

    def rate_headers(self, remaining: int, remaining_time: float, *, throttled: bool) -> dict[str, str]:
        raise NotImplementedError

    def advertised_wait(self, headers: Mapping[str, str]) -> float:
        raise NotImplementedError

    def _unauthorized(self) -> _Reply:
        return _Reply(401, self.error_body(401))


def _encode_token(payload: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True).encode()).decode().rstrip("=")


def _decode_token(token: str) -> dict | None:
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _parse_iso(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return value if value.tzinfo is not None else None


# --------------------------------------------------------------------------------------------------------------------
# Fake Calendly
# --------------------------------------------------------------------------------------------------------------------

_CALENDLY_ERRORS = {
    400: ("Invalid Argument", "The supplied parameters are invalid."),
    401: ("Unauthenticated", "The access token is invalid"),
    403: ("Permission Denied", "You do not have permission to access this resource."),
    404: ("Resource Not Found", "The server could not find the requested resource."),
    429: ("Too Many Requests", "Rate limit exceeded"),
    500: ("Internal Server Error", "The server encountered an unexpected condition."),
}


class FakeCalendly(_FakeServer):
    """Fake Calendly API v2.

    ``dataset``: list of ``{"event": <scheduled event resource>, "invitees": [<invitee resource>, ...]}``
    (see :func:`build_calendly_dataset`). Serves ``GET /scheduled_events`` (organization / user required,
    ``min_start_time`` inclusive, ``max_start_time`` exclusive, ``status``, ``sort``, ``count`` (default 20, capped at
    100 and at ``max_page_size``), ``page_token``), ``GET /scheduled_events/{uuid}`` and
    ``GET /scheduled_events/{uuid}/invitees`` (``status``, ``sort`` on created_at, ``count``, ``page_token``).
    """

    provider = "calendly"

    def __init__(
        self,
        dataset: Sequence[Mapping[str, Any]],
        *,
        token: str = "calendly-test-token",
        organization: str = DEFAULT_ORGANIZATION,
        max_page_size: int = 100,
        endless_pages: bool = False,
        **knobs: Any,
    ) -> None:
        super().__init__(token=token, **knobs)
        self.organization = organization
        self.max_page_size = max_page_size
        self.endless_pages = endless_pages
        self.events: dict[str, dict] = {}
        self.invitees: dict[str, list[dict]] = {}
        for item in dataset:
            event = item["event"]
            event_uuid = event["uri"].rstrip("/").rsplit("/", 1)[-1]
            self.events[event_uuid] = event
            self.invitees[event_uuid] = list(item.get("invitees", []))
        self.served_next_page_tokens: list[str] = []

    def error_body(self, status: int) -> dict:
        title, message = _CALENDLY_ERRORS.get(status, ("Error", "Something went wrong"))
        return {"title": title, "message": message}

    def rate_headers(self, remaining, remaining_time, *, throttled):
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(max(1, math.ceil(remaining_time))),
        }

    def advertised_wait(self, headers):
        return float(headers["X-RateLimit-Reset"])

    def _bad(self, message: str) -> _Reply:
        return _Reply(400, {"title": "Invalid Argument", "message": message})

    def _count(self, query) -> int | None:
        raw = (query.get("count") or ["20"])[0]
        try:
            count = int(raw)
        except ValueError:
            return None
        if count < 1:
            return None
        return min(count, 100, self.max_page_size)

    def _page(self, base_path: str, query, items: list[dict], endless: bool = False) -> _Reply:
        count = self._count(query)
        if count is None:
            return self._bad("count must be an integer between 1 and 100")
        offset = 0
        token = (query.get("page_token") or [None])[0]
        if token:
            decoded = _decode_token(token)
            if decoded is None or decoded.get("path") != base_path or not isinstance(decoded.get("offset"), int):
                return self._bad("invalid page_token")
            offset = decoded["offset"]
        page = items[offset: offset + count]

        def link(new_offset: int | None) -> tuple[str | None, str | None]:
            if new_offset is None:
                return None, None
            tok = _encode_token({"path": base_path, "offset": new_offset, "nonce": uuid.uuid4().hex[:8]})
            params = {k: v[0] for k, v in query.items() if k != "page_token"}
            params["page_token"] = tok
            return f"{self.base_url}{base_path}?{urlencode(params)}", tok

        has_more = offset + count < len(items) or endless
        next_page, next_token = link(offset + count if has_more else None)
        prev_page, prev_token = link(max(0, offset - count) if offset > 0 else None)
        if next_token:
            with self._lock:
                self.served_next_page_tokens.append(next_token)
        return _Reply(
            200,
            {
                "collection": page,
                "pagination": {
                    "count": len(page),
                    "next_page": next_page,
                    "next_page_token": next_token,
                    "previous_page": prev_page,
                    "previous_page_token": prev_token,
                },
            },
        )

    def route(self, handler, method, path, query) -> _Reply:
        if method != "GET":
            return _Reply(405, {"title": "Method Not Allowed", "message": "Method not allowed"})
        segments = [s for s in path.split("/") if s]
        if segments == ["scheduled_events"]:
            return self._list_events(path, query)
        if len(segments) == 2 and segments[0] == "scheduled_events":
            event = self.events.get(segments[1])
            if event is None:
                return _Reply(404, self.error_body(404))
            return _Reply(200, {"resource": event})
        if len(segments) == 3 and segments[0] == "scheduled_events" and segments[2] == "invitees":
            if segments[1] not in self.events:
                return _Reply(404, self.error_body(404))
            invitees = list(self.invitees[segments[1]])
            status = (query.get("status") or [None])[0]
            if status:
                invitees = [i for i in invitees if i.get("status") == status]
            reverse = (query.get("sort") or ["created_at:asc"])[0] == "created_at:desc"
            invitees.sort(key=lambda i: (i.get("created_at") or "", i["uri"]), reverse=reverse)
            return self._page(path, query, invitees)
        return _Reply(404, self.error_body(404))

    def _list_events(self, path, query) -> _Reply:
        organization = (query.get("organization") or [None])[0]
        user = (query.get("user") or [None])[0]
        if not organization and not user and not query.get("group"):
            return self._bad("One of user, group or organization must be provided")
        if organization and organization != self.organization:
            return _Reply(403, self.error_body(403))
        lo = hi = None
        for name in ("min_start_time", "max_start_time"):
            raw = (query.get(name) or [None])[0]
            if raw is None:
                continue
            parsed = _parse_iso(raw)
            if parsed is None:
                return self._bad(f"{name} must be an ISO-8601 UTC time")
            if name == "min_start_time":
                lo = parsed
            else:
                hi = parsed
        status = (query.get("status") or [None])[0]
        selected = []
        for event in self.events.values():
            start = _parse_iso(event["start_time"])
            if lo is not None and start < lo:
                continue
            if hi is not None and start >= hi:
                continue
            if status and event.get("status") != status:
                continue
            if user and not any(m.get("user") == user for m in event.get("event_memberships", [])):
                continue
            selected.append(event)
        reverse = (query.get("sort") or ["start_time:asc"])[0] == "start_time:desc"
        selected.sort(key=lambda e: (_parse_iso(e["start_time"]), e["uri"]), reverse=reverse)
        return self._page(path, query, selected, endless=self.endless_pages)


# --------------------------------------------------------------------------------------------------------------------
# Fake GHL
# --------------------------------------------------------------------------------------------------------------------


class FakeGhl(_FakeServer):
    """Fake GHL / LeadConnector API v2, calendars part.

    ``events_by_calendar``: ``{calendarId: [CalendarEventDTO dict, ...]}`` (see :func:`build_ghl_dataset`).
    Serves ``GET /calendars/events`` (``Version: 2021-04-15`` required -> 400 otherwise; ``locationId`` must match
    -> 403; ``startTime``/``endTime`` epoch-ms strings required -> 422; one of ``calendarId``/``userId``/``groupId``
    required -> 422). Returns ``{"events": [...], "traceId": ...}`` with every event whose
    ``[startTime, endTime)`` overlaps the inclusive query range, i.e. ``ev.start <= endTime and ev.end > startTime``,
    sorted by start. No pagination. ``retry_after``: add ``Retry-After: <seconds>`` to 429 answers.
    """

    provider = "ghl"
    VERSION = "2021-04-15"

    def __init__(
        self,
        events_by_calendar: Mapping[str, Sequence[Mapping[str, Any]]],
        *,
        token: str = "ghl-test-token",
        location_id: str = DEFAULT_LOCATION_ID,
        retry_after: float | None = None,
        daily_remaining: int = 199_000,
        rate_window: float = 10.0,
        **knobs: Any,
    ) -> None:
        super().__init__(token=token, rate_window=rate_window, **knobs)
        self.location_id = location_id
        self.retry_after = retry_after
        self.daily_remaining = daily_remaining
        self.calendars: dict[str, list[dict]] = {c: list(evs) for c, evs in events_by_calendar.items()}

    def error_body(self, status: int) -> dict:
        names = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 422: "Unprocessable Entity",
                 429: "Too Many Requests", 500: "Internal Server Error"}
        message = "Invalid JWT" if status == 401 else names.get(status, "Error")
        return {"statusCode": status, "message": message, "error": names.get(status, "Error")}

    def rate_headers(self, remaining, remaining_time, *, throttled):
        headers = {
            "X-RateLimit-Max": str(self.rate_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Interval-Milliseconds": str(int(self.rate_window * 1000)),
            "X-RateLimit-Limit-Daily": "200000",
            "X-RateLimit-Daily-Remaining": str(self.daily_remaining),
        }
        if throttled and self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return headers

    def advertised_wait(self, headers):
        if "Retry-After" in headers:
            return float(headers["Retry-After"])
        return int(headers["X-RateLimit-Interval-Milliseconds"]) / 1000.0

    def route(self, handler, method, path, query) -> _Reply:
        if handler.headers.get("Version") != self.VERSION:
            return _Reply(400, {"statusCode": 400, "message": "Version header was not found", "error": "Bad Request"})
        if method != "GET" or path != "/calendars/events":
            return _Reply(404, {"statusCode": 404, "message": f"Cannot {method} {path}", "error": "Not Found"})

        def one(name):
            return (query.get(name) or [None])[0]

        if one("locationId") != self.location_id:
            return _Reply(403, {"statusCode": 403, "message": "The token does not have access to this location.",
                                "error": "Forbidden"})
        start_raw, end_raw = one("startTime"), one("endTime")
        if not (start_raw and start_raw.isdigit() and end_raw and end_raw.isdigit()):
            return _Reply(422, {"statusCode": 422, "message": ["startTime and endTime must be epoch ms"],
                                "error": "Unprocessable Entity"})
        calendar_id = one("calendarId")
        if not calendar_id and not one("userId") and not one("groupId"):
            return _Reply(422, {"statusCode": 422, "message": ["calendarId, userId or groupId is required"],
                                "error": "Unprocessable Entity"})
        lo, hi = int(start_raw), int(end_raw)
        out = []
        for cal, events in self.calendars.items():
            if calendar_id and cal != calendar_id:
                continue
            for event in events:
                if one("userId") and event.get("assignedUserId") != one("userId"):
                    continue
                if one("groupId") and event.get("groupId") != one("groupId"):
                    continue
                ev_lo, ev_hi = ghl_event_span_ms(event)
                if ev_lo <= hi and ev_hi > lo:
                    out.append(event)
        out.sort(key=lambda e: (ghl_event_span_ms(e), e["id"]))
        return _Reply(200, {"events": out, "traceId": str(uuid.uuid4())})


def ghl_event_span_ms(event: Mapping[str, Any]) -> tuple[int, int]:
    """(start, end) of a GHL event in epoch ms."""
    start = _parse_iso(event["startTime"])
    end = _parse_iso(event["endTime"])
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


# --------------------------------------------------------------------------------------------------------------------
# Dataset helpers
# --------------------------------------------------------------------------------------------------------------------

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
        created = _parse_iso(event["created_at"]) + timedelta(seconds=rng.randint(0, 5))
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
            when = _parse_iso(invitee["created_at"]) + timedelta(hours=rng.randint(1, 48))
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
