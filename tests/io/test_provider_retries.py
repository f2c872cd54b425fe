"""Retries (urllib3 ``Retry``) and the proactive rate-limit throttle of the Calendly / GHL clients, measured from the
server's side: how many requests arrived and how long the client waited between them. Waits are real but short."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import requests
from werkzeug import Response

from appointment_pipeline.io.providers import CalendlyClient, GhlClient, ProviderApiError, RetryPolicy
from provider_data import (
    DEFAULT_LOCATION_ID,
    DEFAULT_ORGANIZATION,
    WINDOW,
    ServedProviders,
    assert_calendly_complete,
    assert_ghl_complete,
    build_calendly_dataset,
    build_ghl_dataset,
    calendly_error,
    gaps,
    ghl_error,
)
from stalling_server import StallingServer

UTC = timezone.utc
CAL_TOKEN = "cal_SECRET_TOKEN_5f2b9c0e71"
GHL_TOKEN = "pit-SECRET-TOKEN-a83d41e977"
FAST = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05, timeout=5.0)
SLACK = 0.3  # seconds a measured wait may exceed the advertised one (scheduling on a shared machine)


@pytest.fixture(scope="module")
def cal_data():
    return build_calendly_dataset(seed=7, n_events=20)


@pytest.fixture(scope="module")
def ghl_data():
    return build_ghl_dataset(seed=11, events_per_calendar=60)


@pytest.fixture
def session():
    s = requests.Session()
    s.trust_env = False  # never route 127.0.0.1 through an environment proxy
    yield s
    s.close()


def serve(httpserver, cal=(), ghl=None, **kw) -> ServedProviders:
    return ServedProviders(httpserver, calendly=cal, ghl=ghl, calendly_token=CAL_TOKEN, ghl_token=GHL_TOKEN, **kw)


def calendly_client(base_url, session, **kw) -> CalendlyClient:
    kw.setdefault("retry", FAST)
    return CalendlyClient(base_url, kw.pop("token", CAL_TOKEN), DEFAULT_ORGANIZATION, session=session, **kw)


def ghl_client(base_url, session, calendar_ids, **kw) -> GhlClient:
    kw.setdefault("retry", FAST)
    return GhlClient(base_url, kw.pop("token", GHL_TOKEN), DEFAULT_LOCATION_ID, list(calendar_ids), session=session,
                     **kw)


class Budget:
    """A provider's fixed-window rate limit, in real time: ``limit`` answers per ``window`` seconds, then 429.
    ``prior`` answers of someone else already used the first window."""

    def __init__(self, provider: str, limit: int, window: float, prior: int = 0, daily_remaining: int = 199_000):
        self.provider, self.limit, self.window, self.prior = provider, limit, window, prior
        self.daily_remaining = daily_remaining
        self.start: float | None = None
        self.accepted = 0
        self.windows = 0

    def headers(self, remaining: int, reset: float) -> dict[str, str]:
        if self.provider == "calendly":
            return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(remaining),
                    "X-RateLimit-Reset": f"{reset:.3f}"}
        return {"X-RateLimit-Max": str(self.limit), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Interval-Milliseconds": str(int(self.window * 1000)),
                "X-RateLimit-Limit-Daily": "200000", "X-RateLimit-Daily-Remaining": str(self.daily_remaining)}

    def __call__(self, request, number, serve_normally) -> Response:
        now = time.monotonic()
        if self.start is None or now >= self.start + self.window:
            self.accepted = self.prior if self.start is None else 0
            self.start = now
            self.windows += 1
        reset = self.start + self.window - now
        if self.accepted >= self.limit or self.daily_remaining <= 0:
            headers = self.headers(0, reset)
            if self.provider == "calendly":
                return calendly_error(429, headers)
            return ghl_error(429, "Too Many Requests", headers)
        self.accepted += 1
        response = serve_normally()
        response.headers.update(self.headers(self.limit - self.accepted, reset))
        return response


# --------------------------------------------------------------------------------------------------------------------
# rate limits: 429 waits and the proactive throttle
# --------------------------------------------------------------------------------------------------------------------


def test_calendly_429_waits_for_the_reset_then_paces_itself(cal_data, session, httpserver):
    small = cal_data[:8]
    budget = Budget("calendly", limit=3, window=0.4, prior=3)  # someone else used up the first window
    server = serve(httpserver, small, fault=budget)
    records = list(calendly_client(server.base_url, session).iter_invitee_records(*WINDOW))
    served = server.requests_to()
    assert_calendly_complete(records, small)
    statuses = [r.status for r in served]
    assert statuses[0] == 429 and statuses.count(429) == 1  # after the first 429 the client never hit the limit
    assert 0.4 - 0.05 <= gaps(served)[0] < 0.4 + SLACK  # X-RateLimit-Reset of the 429 was waited out
    assert budget.windows >= len(served[1:]) // 3  # it stopped itself when X-RateLimit-Remaining hit 0


def test_retry_after_is_honoured(cal_data, session, httpserver):
    def throttle_first(request, number, serve_normally):
        if number == 1:
            return calendly_error(429, {"Retry-After": "1", "X-RateLimit-Reset": "5"})
        return serve_normally()

    server = serve(httpserver, cal_data[:2], fault=throttle_first)
    records = list(calendly_client(server.base_url, session).iter_invitee_records(*WINDOW))
    served = server.requests_to()
    assert_calendly_complete(records, cal_data[:2])
    assert [r.status for r in served[:2]] == [429, 200] and served[0].path == served[1].path
    assert 1.0 - 0.05 <= gaps(served)[0] < 1.0 + SLACK  # Retry-After wins over the provider header


def test_ghl_429_waits_the_burst_interval_then_paces_itself(ghl_data, session, httpserver):
    calendar = next(iter(ghl_data))
    budget = Budget("ghl", limit=4, window=0.3, prior=4)
    server = serve(httpserver, ghl={calendar: ghl_data[calendar]}, fault=budget)
    records = list(ghl_client(server.base_url, session, [calendar]).iter_appointment_records(*WINDOW))
    served = server.requests_to()
    assert_ghl_complete(records, {calendar: ghl_data[calendar]})
    assert [r.status for r in served].count(429) == 1 and served[0].status == 429
    assert len(served) == 1 + 10  # ten 24 h slices
    assert 0.3 - 0.05 <= gaps(served)[0] < 0.3 + SLACK  # X-RateLimit-Interval-Milliseconds
    # after each 4th answer (remaining 0) the client waited out the interval before the next request
    paced = [g for i, g in enumerate(gaps(served)[1:], start=1) if i % 4 == 0]
    assert paced and all(g >= 0.3 - 0.1 for g in paced)


def test_ghl_daily_budget_exhausted_raises_without_waiting(ghl_data, session, httpserver):
    budget = Budget("ghl", limit=5, window=10.0, daily_remaining=0)
    server = serve(httpserver, ghl=ghl_data, fault=budget)
    started = time.monotonic()
    with pytest.raises(ProviderApiError, match="daily budget") as info:
        list(ghl_client(server.base_url, session, ghl_data).iter_appointment_records(*WINDOW))
    assert info.value.status_code == 429
    assert server.statuses() == [429]
    assert time.monotonic() - started < 2.0


def test_endless_429_gives_up_after_max_attempts(cal_data, session, httpserver):
    server = serve(httpserver, cal_data, fault=lambda request, number, serve_normally: calendly_error(429))
    retry = RetryPolicy(max_attempts=3, base_delay=0.01, timeout=5.0)
    with pytest.raises(ProviderApiError, match="HTTP 429") as info:
        list(calendly_client(server.base_url, session, retry=retry).iter_invitee_records(*WINDOW))
    assert server.statuses() == [429, 429, 429]
    assert info.value.status_code == 429 and info.value.attempts == 3
    assert info.value.error_code == "Too Many Requests"


# --------------------------------------------------------------------------------------------------------------------
# transient failures
# --------------------------------------------------------------------------------------------------------------------


def test_5xx_then_success_with_growing_capped_backoff(cal_data, session, httpserver):
    def fail_first_four(request, number, serve_normally):
        return calendly_error(500 if number % 2 else 503) if number <= 4 else serve_normally()

    server = serve(httpserver, cal_data[:3], fault=fail_first_four)
    retry = RetryPolicy(max_attempts=6, base_delay=0.1, max_delay=0.25, timeout=5.0)
    records = list(calendly_client(server.base_url, session, retry=retry).iter_invitee_records(*WINDOW))
    assert_calendly_complete(records, cal_data[:3])
    first_path = server.requests_to("/scheduled_events")
    assert [r.status for r in first_path] == [500, 503, 500, 503, 200]
    waits = gaps(first_path)
    assert waits[0] < 0.1  # the first retry goes at once
    assert 0.2 - 0.02 <= waits[1] < 0.2 + SLACK  # base_delay * 2
    assert all(0.25 - 0.02 <= w < 0.25 + SLACK for w in waits[2:])  # 0.4 and 0.8, capped at max_delay


def test_unreadable_retry_after_falls_back_to_the_backoff(cal_data, session, httpserver):
    def unavailable_once(request, number, serve_normally):
        return calendly_error(503, {"Retry-After": "soon"}) if number == 1 else serve_normally()

    server = serve(httpserver, cal_data[:2], fault=unavailable_once)
    records = list(calendly_client(server.base_url, session).iter_invitee_records(*WINDOW))
    assert_calendly_complete(records, cal_data[:2])
    assert server.statuses()[:2] == [503, 200]


def test_ghl_5xx_are_retried(ghl_data, session, httpserver):
    fail_even = lambda request, number, serve_normally: (  # noqa: E731
        ghl_error(502, "Bad Gateway") if number % 2 == 0 else serve_normally())
    server = serve(httpserver, ghl=ghl_data, fault=fail_even)
    records = list(ghl_client(server.base_url, session, ghl_data).iter_appointment_records(*WINDOW))
    assert_ghl_complete(records, ghl_data)
    statuses = server.statuses()
    assert statuses.count(200) == 30 and statuses.count(502) == 29  # every failed request was tried again


def one_slice_ghl(base_url, session, events, retry) -> list[dict]:
    calendar = events[0]["calendarId"]
    day = datetime(2025, 3, 2, tzinfo=UTC)
    return list(ghl_client(base_url, session, [calendar], retry=retry).iter_appointment_records(day, day + timedelta(1)))


def test_timeouts_are_retried(ghl_data, session):
    events = next(iter(ghl_data.values()))[:5]
    retry = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, timeout=0.2)
    with StallingServer({"events": events}, stall_first=2, stall_seconds=0.6) as server:
        records = one_slice_ghl(server.base_url, session, events, retry)
        assert server.arrivals == 3  # two timed out, the third was answered in time
    assert sorted(records, key=lambda e: e["id"]) == sorted(events, key=lambda e: e["id"])


def test_timeouts_exhaust_max_attempts(ghl_data, session):
    events = next(iter(ghl_data.values()))[:5]
    retry = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05, timeout=0.15)
    with StallingServer({"events": events}, stall_first=None, stall_seconds=0.5) as server:
        with pytest.raises(ProviderApiError, match="timeout") as info:
            one_slice_ghl(server.base_url, session, events, retry)
        assert server.arrivals == 2
    assert info.value.attempts == 2
