"""GHL (LeadConnector) API v2 client: calendar events per calendar (scope ``calendars/events.readonly``).

Yields the calendar event dicts as ``GET /calendars/events`` returns them, untouched (the shape of a bare
landing-zone line, docs/data-contract.md#provider-landing-zone). Not thread-safe: use one client per thread.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Mapping, Sequence

import requests

from appointment_pipeline.io.providers.http import (
    MASK,
    ClientBase,
    JsonHttp,
    ProviderApiError,
    PullLimits,
    RateLimitRules,
    RetryPolicy,
    header_float,
    require_aware,
)

GHL_BASE_URL = "https://services.leadconnectorhq.com"
GHL_CALENDAR_API_VERSION = "2021-04-15"


class GhlRateLimitRules(RateLimitRules):
    """Burst window: ``X-RateLimit-Max`` / ``X-RateLimit-Remaining`` / ``X-RateLimit-Interval-Milliseconds``;
    daily budget: ``X-RateLimit-Limit-Daily`` / ``X-RateLimit-Daily-Remaining``."""

    @staticmethod
    def _interval(headers: Mapping[str, str]) -> float | None:
        interval_ms = header_float(headers, "X-RateLimit-Interval-Milliseconds")
        return None if interval_ms is None else max(0.0, interval_ms / 1000.0)

    def proactive_wait(self, headers: Mapping[str, str]) -> float | None:
        remaining = header_float(headers, "X-RateLimit-Remaining")
        if remaining is not None and remaining <= 0:
            return self._interval(headers)
        return None

    def throttled_wait(self, headers: Mapping[str, str]) -> float | None:
        daily_remaining = header_float(headers, "X-RateLimit-Daily-Remaining")
        if daily_remaining is not None and daily_remaining <= 0:
            return math.inf  # the daily budget is gone: waiting a burst interval will not help
        return self._interval(headers)


def _epoch_ms(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _loose_instant(value: Any) -> float | None:
    """Best-effort POSIX seconds for a GHL time (ISO with offset, or epoch ms); None when unknown or naive."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1000.0
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text) / 1000.0
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return parsed.timestamp()
    return None


def _check_slice_hours(slice_hours: int) -> None:
    if not (isinstance(slice_hours, int) and slice_hours >= 1):
        raise ValueError("slice_hours must be a positive integer")


class GhlClient(ClientBase):
    """Reads calendar events (appointments) from GHL API v2 (scope ``calendars/events.readonly``)."""

    def __init__(
        self,
        base_url: str = GHL_BASE_URL,
        token: str = "",
        location_id: str = "",
        calendar_ids: Sequence[str] = (),
        *,
        slice_hours: int = 24,
        retry: RetryPolicy = RetryPolicy(),
        limits: PullLimits = PullLimits(),
        session: requests.Session | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        _check_slice_hours(slice_hours)
        if not location_id:
            raise ValueError("location_id is required")
        if isinstance(calendar_ids, str):
            calendar_ids = [calendar_ids]
        ids = tuple(dict.fromkeys(c for c in calendar_ids if c))
        if not ids:
            raise ValueError("at least one calendar id is required")
        self.location_id = location_id
        self.calendar_ids = ids
        self.slice_hours = slice_hours
        self._http = JsonHttp(
            provider="ghl",
            base_url=base_url or GHL_BASE_URL,
            token=token,
            extra_headers={"Version": GHL_CALENDAR_API_VERSION},
            rules=GhlRateLimitRules(),
            retry=retry,
            session=session,
            logger=logger or logging.getLogger(__name__),
            limits=limits,
        )

    def __repr__(self) -> str:
        return (
            f"GhlClient(base_url={self.base_url!r}, location_id={self.location_id!r}, "
            f"calendar_ids={self.calendar_ids!r}, slice_hours={self.slice_hours}, token={MASK!r})"
        )

    def time_slices(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """``[start, end)`` cut into consecutive half-open slices of at most ``slice_hours``."""
        lo = require_aware(start, "start")
        hi = require_aware(end, "end")
        step = timedelta(hours=self.slice_hours)
        slices = []
        cursor = lo
        while cursor < hi:
            nxt = min(cursor + step, hi)
            slices.append((cursor, nxt))
            cursor = nxt
        return slices

    def fetch_events(self, calendar_id: str, start: datetime, end: datetime) -> list[dict]:
        """One ``GET /calendars/events`` call for ``[start, end)`` (endTime is sent inclusive: end - 1 ms)."""
        lo_ms = _epoch_ms(require_aware(start, "start"))
        hi_ms = _epoch_ms(require_aware(end, "end"))
        params = {
            "locationId": self.location_id,
            "calendarId": calendar_id,
            "startTime": str(lo_ms),
            "endTime": str(max(lo_ms, hi_ms - 1)),
        }
        body = self._http.get_json("/calendars/events", params)
        events = body.get("events")
        if not isinstance(events, list):
            raise ProviderApiError(
                "ghl GET /calendars/events: malformed response (no events list)", provider="ghl",
                path="/calendars/events",
            )
        return [e for e in events if isinstance(e, dict)]

    def iter_appointment_records(self, start: datetime, end: datetime) -> Iterator[dict]:
        """Every calendar event of the configured calendars that overlaps ``[start, end)``, as returned.

        The endpoint does not paginate, so the window is cut into ``slice_hours`` slices. An event returned by
        several slices is yielded once, in its version with the latest ``dateUpdated``: it is held back until the
        slice that contains its end time has been read, so memory stays bounded by the events crossing a slice
        boundary. (Only if the provider returns a strictly newer version of an already-yielded event in a later
        slice, i.e. it changed during the pull, is that newer state yielded too.)
        """
        self._http.begin_pull()  # one pull: its deadline starts at the first record asked for
        slices = self.time_slices(start, end)
        yielded: dict[str, float | None] = {}  # id -> dateUpdated (POSIX s) of the yielded version
        for calendar_id in self.calendar_ids:
            pending: dict[str, tuple[dict, float | None]] = {}
            for lo, hi in slices:
                for event in self.fetch_events(calendar_id, lo, hi):
                    event_id = event.get("id")
                    if not isinstance(event_id, str) or not event_id:
                        yield event  # keyless: pass through, the parser rejects it (missing_key)
                        continue
                    updated = _loose_instant(event.get("dateUpdated"))
                    if event_id in yielded:
                        before = yielded[event_id]
                        if updated is not None and before is not None and updated > before:
                            yielded[event_id] = updated
                            yield event
                        continue
                    held = pending.get(event_id)
                    if held is not None and held[1] is not None and (updated is None or updated < held[1]):
                        continue  # keep the newer version already held
                    pending[event_id] = (event, updated)
                hi_s = hi.timestamp()
                for event_id in [k for k, (ev, _) in pending.items() if self._ends_by(ev, hi_s)]:
                    event, updated = pending.pop(event_id)
                    yielded[event_id] = updated
                    yield event
            for event_id, (event, updated) in pending.items():
                yielded[event_id] = updated
                yield event

    @staticmethod
    def _ends_by(event: dict, boundary_s: float) -> bool:
        end_s = _loose_instant(event.get("endTime"))
        return end_s is not None and end_s <= boundary_s
