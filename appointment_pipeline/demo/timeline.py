"""The state of one demo build and the delivery of appointment states as landing lines.

Everything random comes from ``DemoBuild.rng`` (one ``random.Random(seed)``); the order of the draws is what makes
the same arguments give the same output, so helpers here draw exactly as documented and nothing else draws.
Payload shapes are chosen by hashing (``digest``), never by drawing, so they leave every other value unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from appointment_pipeline.demo.people import HOSTS

if TYPE_CHECKING:
    from appointment_pipeline.demo.calendly import CalendlyEvent
    from appointment_pipeline.demo.model import DemoAppointment
    from appointment_pipeline.demo.people import Lead

UTC = timezone.utc
CALENDLY_API = "https://api.calendly.com"

_ZONES: dict[str, ZoneInfo] = {}


def zone(name: str) -> ZoneInfo:
    found = _ZONES.get(name)
    if found is None:
        found = _ZONES[name] = ZoneInfo(name)
    return found


@functools.lru_cache(maxsize=1 << 16)
def cal_ts(t: datetime) -> str:
    """Calendly's instant format: UTC with microseconds and ``Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@functools.lru_cache(maxsize=1 << 16)
def ghl_ts(t: datetime, tz: str) -> str:
    """GHL's instant format: local time of ``tz`` with its offset, to the second."""
    return t.astimezone(zone(tz)).isoformat(timespec="seconds")


def dumps(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(*parts: str) -> bytes:
    """A stable digest of ``parts``: chooses payload shapes without drawing from the build's random stream, so
    adding a shape never changes any other generated value."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()


class Appointment:
    """Common truth of one provider appointment (mutable while the timeline is played)."""

    def __init__(self, provider: str, key: str, lead: Lead | None, scenario: str, tz: str) -> None:
        self.provider = provider
        self.key = key
        self.lead = lead
        self.scenario = scenario
        self.tz = tz
        self.start: datetime | None = None
        self.end: datetime | None = None
        self.created_at: datetime | None = None
        self.updated_at: datetime | None = None
        self.canceled_at: datetime | None = None
        self.status_changed_at: datetime | None = None
        self.rescheduled_from: str | None = None
        self.event_uri: str | None = None
        self.prev_status: str | None = None
        # delivery bookkeeping
        self.pending = False  # changed before the window: seen by a day-0 poll
        self.last_day = -1
        self.n_deliveries = 0
        self.closed = False  # deleted: never polled again

    @property
    def booked(self) -> datetime:
        """``created_at``, set when the appointment was made."""
        assert self.created_at is not None
        return self.created_at

    @property
    def scheduled(self) -> tuple[datetime, datetime]:
        """(start, end), set when the appointment was made."""
        assert self.start is not None and self.end is not None
        return self.start, self.end

    def status(self) -> tuple[str, str | None]:
        """(contract status, cancel reason) of the current state."""
        raise NotImplementedError

    def payload(self, b: DemoBuild, form: str, wtype: str | None) -> str | CalendlyLine:
        """The landing line of the current state (``form``: webhook | poll; ``wtype``: GHL webhook type)."""
        raise NotImplementedError


class CalendlyLine:
    """An invitee line chosen to leave its scheduled event out, settled once the event's final status is known.

    An active invitee line keeps its event when the event is canceled afterwards: the pipeline applies an event's
    newest known status to every observation of its invitees, so such a line would read as canceled from its own
    time on. Otherwise the line carries only the event's URI and ``event_line`` describes the event.
    """

    __slots__ = ("embedded", "stripped", "event_line", "ev", "active_then")

    def __init__(self, embedded: str, stripped: str, event_line: str, ev: CalendlyEvent, active_then: bool) -> None:
        self.embedded = embedded
        self.stripped = stripped
        self.event_line = event_line
        self.ev = ev  # read for its final status
        self.active_then = active_then  # invitee and event both active in this line

    def strips(self) -> bool:
        return not (self.active_then and self.ev.status == "canceled")


class EventLineOf:
    """The scheduled event line owed by a ``CalendlyLine`` (written only if that line leaves its event out)."""

    __slots__ = ("line",)

    def __init__(self, line: CalendlyLine) -> None:
        self.line = line


#: (provider, day, kind, sort time, seq, line, malformed/ignored reason or None)
Observation = tuple[str, int, str, datetime, int, "str | CalendlyLine | EventLineOf", "str | None"]


class DemoBuild:
    """Shared state of one build: the random stream, the snapshot window, the observations and the manifest."""

    def __init__(self, *, leads: int, days: int, start: date, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n_leads = leads
        self.days = days
        self.start = start
        self.w0 = datetime.combine(start, time(0), UTC)
        self.w1 = self.w0 + timedelta(days=days)
        # a line is text, or a Calendly line whose shape is settled at assembly
        self.obs: list[Observation] = []
        self.seq = 0
        self.event_line: CalendlyLine | None = None  # the invitee line being pushed may owe its event's line
        self.pii: set[str] = set()
        self.leads: list[Lead] = []
        self.scen: dict[str, list[str]] = defaultdict(list)
        self.appts: list[Appointment] = []
        self.legacy_truth: list[DemoAppointment] = []
        self.drifting: set[str] = set()  # leads whose legacy rollup was deliberately changed
        self.ghl_counter = 0
        self.stranger_counter = 0
        self.hop_counter = 0
        self.ghl_appt_counter = 0
        self.cal_counter = 0
        self.host_uris = [f"{CALENDLY_API}/users/{self.uuid()}" for _ in HOSTS]
        self.event_types = [f"{CALENDLY_API}/event_types/{self.uuid()}" for _ in range(2)]

    # ---------------------------------------------------------------- small helpers
    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def between(self, a: datetime, b: datetime) -> datetime:
        span = int((b - a).total_seconds())
        return a + timedelta(seconds=self.rng.randrange(span) if span > 1 else 0)

    @staticmethod
    def quarter(t: datetime) -> datetime:
        t = t.replace(second=0, microsecond=0)
        return t + timedelta(minutes=(15 - t.minute % 15) % 15)

    def micro(self, t: datetime) -> datetime:
        return t.replace(microsecond=self.rng.randrange(1_000_000))

    def day(self, t: datetime) -> int:
        return max(0, (t.astimezone(UTC).date() - self.start).days)

    def ghl_id(self) -> str:
        self.ghl_counter += 1
        return f"apt{self.ghl_counter:017d}"

    def booking_and_start(self, *, allow_past: bool = True) -> tuple[datetime, datetime]:
        """A booking time and a start time spread around the window (before, inside, weeks after)."""
        rng = self.rng
        if rng.random() < 0.25:
            booked = self.between(self.w0 - timedelta(days=21), self.w0 - timedelta(hours=1))
            mode = rng.choice(("past", "window", "upcoming")) if allow_past else rng.choice(("window", "upcoming"))
        else:
            booked = self.between(self.w0, self.w1 - timedelta(hours=8))
            mode = rng.choice(("window", "upcoming"))
        if mode == "past" and booked + timedelta(days=1) < self.w0 - timedelta(hours=2):
            start = self.between(booked + timedelta(days=1), self.w0 - timedelta(hours=2))
        elif mode == "window" and booked + timedelta(hours=2) < self.w1 - timedelta(hours=3):
            start = self.between(max(booked + timedelta(hours=2), self.w0), self.w1 - timedelta(hours=3))
        else:
            start = self.between(self.w1 + timedelta(days=1), self.w1 + timedelta(days=56))
        return self.micro(booked), self.quarter(start)

    def cancel_window(self, booked: datetime, start: datetime) -> tuple[datetime, datetime] | None:
        lo = max(booked + timedelta(minutes=10), self.w0)
        hi = min(start - timedelta(minutes=30), self.w1 - timedelta(minutes=1))
        return (lo, hi) if lo < hi else None

    def booking_with_cancel_room(self) -> tuple[datetime, datetime, datetime]:
        """booked, start and a cancel time inside the window before the start."""
        for _ in range(50):
            booked, start = self.booking_and_start(allow_past=False)
            window = self.cancel_window(booked, start)
            if window:
                return booked, start, self.micro(self.between(*window))
        booked = self.micro(self.w0)
        start = self.quarter(self.w1 + timedelta(days=3))
        return booked, start, booked + timedelta(minutes=30)

    def register(self, a: Appointment) -> None:
        self.appts.append(a)
        if a.lead is not None:
            a.lead.appts.append(a)

    # ---------------------------------------------------------------- delivery
    def push(
        self, provider: str, day: int, kind: str, t: datetime, line: str | CalendlyLine, bad: str | None = None
    ) -> None:
        assert 0 <= day < self.days, (day, self.days)
        self.seq += 1
        self.obs.append((provider, day, kind, t, self.seq, line, bad))
        if self.event_line is not None:
            # An invitee line without its scheduled event: the same day's /scheduled_events pull describes the
            # event, so its times and status are known wherever the invitee is.
            assert line is self.event_line
            owed, self.event_line = EventLineOf(self.event_line), None
            self.seq += 1
            self.obs.append((provider, day, "poll", t, self.seq, owed, None))

    def touch(self, a: Appointment, t: datetime) -> None:
        """Call BEFORE changing ``a`` at time ``t``: a pre-window state becomes visible by a day-0 poll."""
        if a.pending and t >= self.w0:
            span = min(max(60, int((t - self.w0).total_seconds()) // 2), 86_399)
            when = self.w0 + timedelta(seconds=self.rng.randrange(span))
            self.push(a.provider.lower(), 0, "poll", when, a.payload(self, "poll", None))
            a.pending = False
            a.last_day = max(a.last_day, 0)
            a.n_deliveries += 1

    def observe(
        self,
        a: Appointment,
        t: datetime,
        *,
        form: str | None = None,
        delay_days: int = 0,
        wtype: str | None = None,
    ) -> None:
        """Record the state of ``a`` (already changed) as of ``t``."""
        assert t < self.w1, (t, self.w1)
        status = a.status()[0]
        if status != a.prev_status:
            a.prev_status = status
            a.status_changed_at = t
        a.updated_at = t
        if t < self.w0:
            a.pending = True
            return
        day = self.day(t) + delay_days
        if day < a.last_day:  # never deliver a newer state on an earlier day than an older one
            day = a.last_day
            delay_days = 1
        if form is None:
            form = "webhook" if self.rng.random() < 0.75 else "poll"
        if wtype is None and a.provider == "GHL":
            wtype = "AppointmentCreate" if a.n_deliveries == 0 else "AppointmentUpdate"
        line = a.payload(self, form, wtype)
        provider = a.provider.lower()
        when = t + timedelta(seconds=1) if delay_days == 0 else self.w0 + timedelta(days=day, seconds=self.rng.randrange(3600))
        self.push(provider, day, form, when, line)
        if form == "webhook" and self.rng.random() < 0.06:  # duplicate delivery (a retry) the same day
            day_end = self.w0 + timedelta(days=day + 1) - timedelta(seconds=1)
            self.push(provider, day, form, min(when + timedelta(minutes=self.rng.randrange(1, 90)), day_end), line)
        a.last_day = max(a.last_day, day)
        a.n_deliveries += 1

    def finish(self, a: Appointment) -> None:
        """Flush a pre-window state, then a few reconcile polls of the final state on later days."""
        if a.pending:
            self.touch(a, self.w0 + timedelta(hours=6))
        if a.closed:
            return
        extra = 0
        for day in range(a.last_day + 1, self.days):
            if extra < 2 and self.rng.random() < 0.08:
                when = self.w0 + timedelta(days=day, seconds=self.rng.randrange(86_400))
                self.push(a.provider.lower(), day, "poll", when, a.payload(self, "poll", None))
                extra += 1
