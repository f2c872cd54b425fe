"""Calendly / GHL HTTP clients against the in-process fake servers (tests/fake_providers.py)."""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta, timezone

import pytest
import requests

from appointment_pipeline.io.provider_api import (
    CALENDLY_BASE_URL,
    GHL_BASE_URL,
    CalendlyClient,
    GhlClient,
    ProviderApiError,
    RetryPolicy,
    _GhlRateLimitRules,
)

try:
    from tests.fake_providers import (
        DEFAULT_LOCATION_ID,
        DEFAULT_ORGANIZATION,
        FakeCalendly,
        FakeClock,
        FakeGhl,
        build_calendly_dataset,
        build_ghl_dataset,
        ghl_event_span_ms,
    )
except ImportError:  # tests/ is not a package: pytest put tests/ itself on sys.path
    from fake_providers import (  # type: ignore[no-redef]
        DEFAULT_LOCATION_ID,
        DEFAULT_ORGANIZATION,
        FakeCalendly,
        FakeClock,
        FakeGhl,
        build_calendly_dataset,
        build_ghl_dataset,
        ghl_event_span_ms,
    )

UTC = timezone.utc
CAL_TOKEN = "cal_SECRET_TOKEN_5f2b9c0e71"
GHL_TOKEN = "pit-SECRET-TOKEN-a83d41e977"
WINDOW = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 11, tzinfo=UTC))
FAST = RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=30.0, timeout=5.0)


# --------------------------------------------------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cal_data():
    data = build_calendly_dataset(seed=7, n_events=250)
    assert len(data) == 250
    return data


@pytest.fixture(scope="module")
def ghl_data():
    data = build_ghl_dataset(seed=11, events_per_calendar=200)
    assert len(data) == 3 and all(len(v) == 200 for v in data.values())
    return data


@pytest.fixture
def session():
    s = requests.Session()
    s.trust_env = False  # never route 127.0.0.1 through an environment proxy
    yield s
    s.close()


@pytest.fixture
def clock():
    return FakeClock()


def calendly_client(server, session, clock=None, **kw) -> CalendlyClient:
    kw.setdefault("retry", FAST)
    kw.setdefault("rng", random.Random(1))
    if clock is not None:
        kw.setdefault("sleep", clock.sleep)
        kw.setdefault("clock", clock.now)
    else:
        kw.setdefault("sleep", _forbidden_sleep)
    return CalendlyClient(server.base_url, kw.pop("token", CAL_TOKEN), DEFAULT_ORGANIZATION, session=session, **kw)


def ghl_client(server, session, calendar_ids, clock=None, **kw) -> GhlClient:
    kw.setdefault("retry", FAST)
    kw.setdefault("rng", random.Random(1))
    if clock is not None:
        kw.setdefault("sleep", clock.sleep)
        kw.setdefault("clock", clock.now)
    else:
        kw.setdefault("sleep", _forbidden_sleep)
    return GhlClient(server.base_url, kw.pop("token", GHL_TOKEN), DEFAULT_LOCATION_ID, list(calendar_ids),
                     session=session, **kw)


def _forbidden_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected sleep({seconds})")


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


# --------------------------------------------------------------------------------------------------------------------
# Calendly: completeness, shape, pagination
# --------------------------------------------------------------------------------------------------------------------


def test_calendly_dataset_is_realistic(cal_data):
    invitees = [i for item in cal_data for i in item["invitees"]]
    assert any(len(item["invitees"]) == 3 for item in cal_data)
    assert any(item["event"]["status"] == "canceled" for item in cal_data)
    assert any(i["rescheduled"] and i["new_invitee"] for i in invitees)
    assert any(i["old_invitee"] for i in invitees)
    assert any(i["no_show"] for i in invitees)
    assert all("@" in i["email"] and i["cancel_url"] for i in invitees)
    by_uri = {i["uri"]: i for i in invitees}
    for i in invitees:  # reschedule links are consistent both ways
        if i["new_invitee"]:
            assert by_uri[i["new_invitee"]]["old_invitee"] == i["uri"]
            assert i["status"] == "canceled"


def test_calendly_every_invitee_exactly_once_with_embedded_event(cal_data, session):
    with FakeCalendly(cal_data, token=CAL_TOKEN) as server:
        records = list(calendly_client(server, session).iter_invitee_records(*WINDOW))
        event_pages = server.requests_to("/scheduled_events")
    assert len(records) > 250
    assert_calendly_complete(records, cal_data)
    # the embedded event is a private copy per record
    assert len({id(r["scheduled_event"]) for r in records}) == len(records)
    # list calls carry the documented parameters
    first = event_pages[0]
    assert first.param("organization") == DEFAULT_ORGANIZATION
    assert first.param("min_start_time") == "2025-03-01T00:00:00.000000Z"
    assert first.param("max_start_time") == "2025-03-11T00:00:00.000000Z"
    assert first.param("count") == "100"
    assert first.headers.get("Accept") == "application/json"


def test_calendly_pagination_follows_next_page_token(cal_data, session):
    with FakeCalendly(cal_data, token=CAL_TOKEN) as server:
        records = list(calendly_client(server, session).iter_invitee_records(*WINDOW))
        pages = server.requests_to("/scheduled_events")
        served = list(server.served_next_page_tokens)
    assert_calendly_complete(records, cal_data)
    assert len(pages) == 3  # 250 events at 100 per page
    assert pages[0].param("page_token") is None
    assert [p.param("page_token") for p in pages[1:]] == served[:2]


def test_calendly_small_pages_paginate_events_and_invitees(cal_data, session):
    with FakeCalendly(cal_data, token=CAL_TOKEN, max_page_size=2) as server:
        records = list(calendly_client(server, session).iter_invitee_records(*WINDOW))
        event_pages = server.requests_to("/scheduled_events")
        invitee_pages = server.requests_to(prefix="/scheduled_events/")
    assert_calendly_complete(records, cal_data)
    assert len(event_pages) == 125
    three = [item for item in cal_data if len(item["invitees"]) == 3]
    assert three
    path = "/scheduled_events/" + three[0]["event"]["uri"].rsplit("/", 1)[-1] + "/invitees"
    assert [r.param("page_token") is None for r in invitee_pages if r.path == path] == [True, False]


def test_calendly_window_filters_on_start_time(cal_data, session):
    lo, hi = datetime(2025, 3, 3, 6, tzinfo=UTC), datetime(2025, 3, 5, tzinfo=timezone(timedelta(hours=-6)))
    with FakeCalendly(cal_data, token=CAL_TOKEN) as server:
        records = list(calendly_client(server, session).iter_invitee_records(lo, hi))
        first = server.requests_to("/scheduled_events")[0]
    assert first.param("max_start_time") == "2025-03-05T06:00:00.000000Z"  # sent in UTC
    assert records
    assert_calendly_complete(records, cal_data, lo, hi)


def test_calendly_iterator_streams_page_by_page(cal_data, session):
    with FakeCalendly(cal_data, token=CAL_TOKEN) as server:
        it = calendly_client(server, session).iter_invitee_records(*WINDOW)
        assert server.requests_to() == []  # lazy
        next(it)
        assert [r.path.count("/") for r in server.requests_to()] == [1, 3]  # one event page, one invitee page
        it.close()


def test_naive_datetimes_are_rejected(cal_data, ghl_data, session):
    with FakeCalendly(cal_data, token=CAL_TOKEN) as server:
        with pytest.raises(ValueError):
            list(calendly_client(server, session).iter_invitee_records(datetime(2025, 3, 1), WINDOW[1]))
    with FakeGhl(ghl_data, token=GHL_TOKEN) as server:
        with pytest.raises(ValueError):
            list(ghl_client(server, session, ghl_data).iter_appointment_records(WINDOW[0], datetime(2025, 3, 2)))


def test_default_base_urls():
    cal = CalendlyClient(token="x", organization=DEFAULT_ORGANIZATION)
    ghl = GhlClient(token="x", location_id=DEFAULT_LOCATION_ID, calendar_ids=["c"])
    assert cal.base_url == CALENDLY_BASE_URL == "https://api.calendly.com"
    assert ghl.base_url == GHL_BASE_URL == "https://services.leadconnectorhq.com"
    cal.close()
    ghl.close()


# --------------------------------------------------------------------------------------------------------------------
# GHL: completeness, slicing, dedupe, headers
# --------------------------------------------------------------------------------------------------------------------


def test_ghl_dataset_is_realistic(ghl_data):
    events = [e for evs in ghl_data.values() for e in evs]
    assert any("appoinmentStatus" in e for e in events)
    assert any(e["startTime"].endswith("-06:00") for e in events)
    assert any("_" in e["id"] for e in events)
    day_ms = 86_400_000
    crossing = [e for e in events if ghl_event_span_ms(e)[0] // day_ms != (ghl_event_span_ms(e)[1] - 1) // day_ms]
    assert len(crossing) > 20  # events that two 24 h slices both return


@pytest.mark.parametrize("slice_hours", [24, 7])
def test_ghl_every_event_exactly_once_and_untouched(ghl_data, session, slice_hours):
    with FakeGhl(ghl_data, token=GHL_TOKEN) as server:
        records = list(ghl_client(server, session, ghl_data, slice_hours=slice_hours).iter_appointment_records(*WINDOW))
        served = server.requests_to("/calendars/events")
    assert len(records) == 600
    assert_ghl_complete(records, ghl_data)
    # the slices really returned some events twice: the client deduplicated them
    assert all(r.status == 200 for r in served)


def test_ghl_sub_window_includes_overlapping_events(ghl_data, session):
    lo, hi = datetime(2025, 3, 3, 12, tzinfo=UTC), datetime(2025, 3, 6, 12, tzinfo=UTC)
    with FakeGhl(ghl_data, token=GHL_TOKEN) as server:
        records = list(ghl_client(server, session, ghl_data).iter_appointment_records(lo, hi))
    assert_ghl_complete(records, ghl_data, lo, hi)


def test_ghl_slices_cover_window_without_gaps_or_overlap(ghl_data, session):
    lo, hi = datetime(2025, 3, 1, 3, tzinfo=UTC), datetime(2025, 3, 10, 1, 30, tzinfo=UTC)
    with FakeGhl(ghl_data, token=GHL_TOKEN) as server:
        list(ghl_client(server, session, ghl_data, slice_hours=24).iter_appointment_records(lo, hi))
        served = server.requests_to("/calendars/events")
    lo_ms, hi_ms = int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)
    for calendar_id in ghl_data:
        calls = [r for r in served if r.param("calendarId") == calendar_id and r.status == 200]
        spans = [(int(r.param("startTime")), int(r.param("endTime"))) for r in calls]
        assert spans == sorted(spans) and len(spans) == len(set(spans))
        assert spans[0][0] == lo_ms
        assert spans[-1][1] == hi_ms - 1  # endTime is inclusive
        for (_, prev_end), (nxt_start, _) in zip(spans, spans[1:]):
            assert nxt_start == prev_end + 1  # no gap, no overlap
        assert all(e - s + 1 <= 24 * 3_600_000 for s, e in spans)
        assert len(spans) == 9  # 8 full days and a 22.5 h tail
        for r in calls:
            assert r.param("locationId") == DEFAULT_LOCATION_ID
            assert r.param("startTime").isdigit() and r.param("endTime").isdigit()


def test_ghl_sends_version_and_accept_headers(ghl_data, session):
    with FakeGhl(ghl_data, token=GHL_TOKEN) as server:
        list(ghl_client(server, session, ghl_data).iter_appointment_records(*WINDOW))
        calls = server.requests_to()
        # the fake enforces the header like the real API
        bare = session.get(server.base_url + "/calendars/events", headers={"Authorization": f"Bearer {GHL_TOKEN}"},
                           params={"locationId": DEFAULT_LOCATION_ID, "calendarId": "x", "startTime": "0",
                                   "endTime": "1"})
    assert calls and all(r.headers.get("Version") == "2021-04-15" for r in calls)
    assert all(r.headers.get("Accept") == "application/json" for r in calls)
    assert all("Authorization" not in r.headers for r in calls)
    assert bare.status_code == 400


def test_ghl_duplicate_across_slices_keeps_latest_date_updated(ghl_data, session):
    calendar_id = next(iter(ghl_data))
    day_ms = 86_400_000
    crossing = [
        e for e in ghl_data[calendar_id]
        if ghl_event_span_ms(e)[0] // day_ms != (ghl_event_span_ms(e)[1] - 1) // day_ms
    ]
    newer_second, newer_first = crossing[0], crossing[1]
    versions = {}  # id -> (copy served by the first slice, copy served by the second slice)
    for ev, newer_later in ((newer_second, True), (newer_first, False)):
        old = dict(ev, dateUpdated="2025-01-01T10:00:00-06:00")
        new = dict(ev, dateUpdated="2025-03-20T10:00:00-06:00", notes="edited")
        versions[ev["id"]] = (old, new) if newer_later else (new, old)

    class Drifting(FakeGhl):
        """Serves different versions of two midnight-crossing events to the two slices that return them."""

        def route(self, handler, method, path, query):
            reply = super().route(handler, method, path, query)
            if reply.status == 200:
                start = int(query["startTime"][0])
                out = []
                for e in reply.body["events"]:
                    if e["id"] in versions:
                        e = versions[e["id"]][0 if start <= ghl_event_span_ms(e)[0] else 1]
                    out.append(e)
                reply.body["events"] = out
            return reply

    with Drifting({calendar_id: ghl_data[calendar_id]}, token=GHL_TOKEN) as server:
        records = list(ghl_client(server, session, [calendar_id]).iter_appointment_records(*WINDOW))
    assert len(records) == len({r["id"] for r in records}) == 200
    for event_id in versions:
        hits = [r for r in records if r["id"] == event_id]
        assert len(hits) == 1 and hits[0]["notes"] == "edited"
        assert hits[0]["dateUpdated"] == "2025-03-20T10:00:00-06:00"


# --------------------------------------------------------------------------------------------------------------------
# rate limits
# --------------------------------------------------------------------------------------------------------------------


def test_calendly_429_then_proactive_throttling(cal_data, session, clock):
    limit = 20
    with FakeCalendly(cal_data, token=CAL_TOKEN, clock=clock.now, rate_limit=limit, rate_window=60.0,
                      prior_usage=limit) as server:
        records = list(calendly_client(server, session, clock).iter_invitee_records(*WINDOW))
        statuses = [r.status for r in server.requests_to()]
        windows = list(server.windows)
        advertised = list(server.advertised_waits)
    assert_calendly_complete(records, cal_data)
    # the shared budget was used up before we started: exactly one 429, then never again
    assert statuses[0] == 429 and statuses.count(429) == 1
    assert advertised == [60.0]
    assert clock.sleeps[0] == 60.0  # slept for the advertised X-RateLimit-Reset
    # afterwards the client stopped by itself when X-RateLimit-Remaining hit 0, sleeping until the reset
    assert all(w.arrivals <= limit and w.throttled == 0 for w in windows[1:])
    assert len(windows) >= 253 // limit
    assert all(s > 0 for s in clock.sleeps) and len(clock.sleeps) == len(windows) - 1
    assert sum(clock.sleeps) >= 60.0 * (len(windows) - 1) - 1e-6


def test_calendly_429_without_proactive_headers(cal_data, session, clock):
    limit = 50
    with FakeCalendly(cal_data, token=CAL_TOKEN, clock=clock.now, rate_limit=limit, rate_window=60.0,
                      rate_limit_headers="on_429") as server:
        records = list(calendly_client(server, session, clock).iter_invitee_records(*WINDOW))
        windows = list(server.windows)
        advertised = list(server.advertised_waits)
    assert_calendly_complete(records, cal_data)
    assert len(advertised) == len(windows) - 1 >= 4
    assert clock.sleeps == advertised  # every wait is exactly the advertised reset, nothing else
    # one 429 per window at most: the client never hammers a throttled window
    assert all(w.accepted <= limit and w.throttled <= 1 for w in windows)


def test_ghl_429_then_proactive_throttling(ghl_data, session, clock):
    limit = 10
    with FakeGhl(ghl_data, token=GHL_TOKEN, clock=clock.now, rate_limit=limit, rate_window=10.0,
                 prior_usage=limit) as server:
        records = list(ghl_client(server, session, ghl_data, clock, slice_hours=12).iter_appointment_records(*WINDOW))
        statuses = [r.status for r in server.requests_to()]
        windows = list(server.windows)
    assert_ghl_complete(records, ghl_data)
    assert statuses.count(429) == 1 and statuses[0] == 429
    assert statuses.count(200) == 3 * 20
    assert clock.sleeps[0] == 10.0  # X-RateLimit-Interval-Milliseconds
    assert all(w.arrivals <= limit and w.throttled == 0 for w in windows[1:])
    assert all(s == 10.0 for s in clock.sleeps)


def test_ghl_rate_limit_rules_prefer_retry_after_and_stop_on_daily_exhaustion():
    rules = _GhlRateLimitRules()
    assert rules.throttled_wait({"Retry-After": "3", "X-RateLimit-Interval-Milliseconds": "10000"}) == 3.0
    assert rules.throttled_wait({"X-RateLimit-Interval-Milliseconds": "10000"}) == 10.0
    assert rules.proactive_wait({"X-RateLimit-Remaining": "0", "X-RateLimit-Interval-Milliseconds": "2500"}) == 2.5
    assert rules.proactive_wait({"X-RateLimit-Remaining": "4", "X-RateLimit-Interval-Milliseconds": "2500"}) is None
    assert rules.throttled_wait({"X-RateLimit-Daily-Remaining": "0", "Retry-After": "1"}) == float("inf")


def test_ghl_daily_budget_exhausted_raises(ghl_data, session, clock):
    with FakeGhl(ghl_data, token=GHL_TOKEN, clock=clock.now, rate_limit=5, prior_usage=5,
                 daily_remaining=0) as server:
        with pytest.raises(ProviderApiError, match="429") as info:
            list(ghl_client(server, session, ghl_data, clock).iter_appointment_records(*WINDOW))
    assert info.value.status_code == 429
    assert clock.sleeps == []


def test_endless_429_gives_up_after_throttle_cap(cal_data, session, clock):
    retry = RetryPolicy(timeout=5.0, max_throttle_retries=3)
    with FakeCalendly(cal_data, token=CAL_TOKEN, clock=clock.now, rate_limit=0) as server:
        with pytest.raises(ProviderApiError, match="429"):
            list(calendly_client(server, session, clock, retry=retry).iter_invitee_records(*WINDOW))
        assert len(server.requests_to()) == 4
    assert clock.sleeps == [60.0, 60.0, 60.0]


# --------------------------------------------------------------------------------------------------------------------
# transient failures
# --------------------------------------------------------------------------------------------------------------------


def test_calendly_500s_are_retried(cal_data, session, clock):
    retry = RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=3.0, timeout=5.0)
    with FakeCalendly(cal_data, token=CAL_TOKEN, fail_every=7, fail_first={"/scheduled_events": 4}) as server:
        records = list(calendly_client(server, session, clock, retry=retry, rng=random.Random(42))
                       .iter_invitee_records(*WINDOW))
        counts = server.status_counts()
    assert_calendly_complete(records, cal_data)
    assert counts[500] > 30
    # capped exponential backoff with full jitter, reproducible from the injected RNG:
    # first 4 consecutive failures on /scheduled_events (retry index 0..3, cap min(3.0, 0.5 * 2**n)),
    # then isolated failures (retry index 0, cap 0.5)
    rng = random.Random(42)
    expected_first = [rng.uniform(0, min(3.0, 0.5 * 2**n)) for n in range(4)]
    assert clock.sleeps[:4] == pytest.approx(expected_first)
    assert all(0 <= s <= 0.5 for s in clock.sleeps[4:])
    assert len(clock.sleeps) == counts[500]


def test_ghl_500s_are_retried(ghl_data, session, clock):
    with FakeGhl(ghl_data, token=GHL_TOKEN, fail_every=2) as server:
        records = list(ghl_client(server, session, ghl_data, clock).iter_appointment_records(*WINDOW))
        counts = server.status_counts()
    assert_ghl_complete(records, ghl_data)
    assert counts[200] == 30 and counts[500] == 29  # requests 2, 4, ..., 58 failed, each retry succeeded


def test_timeouts_are_retried(cal_data, ghl_data, session, clock):
    retry = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, timeout=0.2)
    small = cal_data[:30]
    first_invitees = "/scheduled_events/" + small[0]["event"]["uri"].rsplit("/", 1)[-1] + "/invitees"
    with FakeCalendly(small, token=CAL_TOKEN, slow_first={first_invitees: 2}, slow_delay=0.6) as server:
        records = list(calendly_client(server, session, clock, retry=retry).iter_invitee_records(*WINDOW))
        assert len(server.requests_to(first_invitees)) == 3
    assert_calendly_complete(records, small, *WINDOW)
    with FakeGhl(ghl_data, token=GHL_TOKEN, slow_requests={2, 7}, slow_delay=0.6) as server:
        records = list(ghl_client(server, session, ghl_data, clock, retry=retry).iter_appointment_records(*WINDOW))
        assert len(server.requests_to()) == 32
    assert_ghl_complete(records, ghl_data)
    assert len(clock.sleeps) == 4


def test_timeouts_exhaust_max_attempts(ghl_data, session, clock):
    retry = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05, timeout=0.15)
    with FakeGhl(ghl_data, token=GHL_TOKEN, slow_every=1, slow_delay=0.4) as server:
        with pytest.raises(ProviderApiError, match="timeout") as info:
            list(ghl_client(server, session, ghl_data, clock, retry=retry).iter_appointment_records(*WINDOW))
        assert len(server.requests_to()) == 2
    assert info.value.attempts == 2


# --------------------------------------------------------------------------------------------------------------------
# permanent failures and secrecy
# --------------------------------------------------------------------------------------------------------------------


def _assert_no_secret(exc: BaseException, token: str) -> None:
    for text in (str(exc), repr(exc), repr(exc.args)):
        assert token not in text
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def test_permanent_500_raises_after_max_attempts(cal_data, session, clock):
    with FakeCalendly(cal_data, token=CAL_TOKEN, fail_always={"/scheduled_events": 500}) as server:
        with pytest.raises(ProviderApiError) as info:
            list(calendly_client(server, session, clock).iter_invitee_records(*WINDOW))
        assert len(server.requests_to("/scheduled_events")) == FAST.max_attempts
    err = info.value
    assert "HTTP 500" in str(err) and "/scheduled_events" in str(err) and "?" not in str(err)
    assert err.status_code == 500 and err.attempts == FAST.max_attempts
    assert len(clock.sleeps) == FAST.max_attempts - 1
    _assert_no_secret(err, CAL_TOKEN)


def test_permanent_403_on_one_invitee_path_raises_immediately(cal_data, session):
    uuid = cal_data[0]["event"]["uri"].rsplit("/", 1)[-1]
    path = f"/scheduled_events/{uuid}/invitees"
    with FakeCalendly(cal_data[:5], token=CAL_TOKEN, fail_always={path: 403}) as server:
        with pytest.raises(ProviderApiError) as info:
            list(calendly_client(server, session).iter_invitee_records(*WINDOW))
        assert len(server.requests_to(path)) == 1
    err = info.value
    assert err.status_code == 403 and err.path == path and err.error_code == "Permission Denied"
    assert "403" in str(err) and path in str(err)
    assert "You do not have permission" not in str(err)  # no response body, only the title
    _assert_no_secret(err, CAL_TOKEN)


def test_ghl_403_and_wrong_token(ghl_data, session):
    with FakeGhl(ghl_data, token=GHL_TOKEN, fail_always={"/calendars/events": 403}) as server:
        with pytest.raises(ProviderApiError, match="403") as info:
            list(ghl_client(server, session, ghl_data).iter_appointment_records(*WINDOW))
        assert len(server.requests_to()) == 1
    _assert_no_secret(info.value, GHL_TOKEN)
    wrong = "pit-WRONG-TOKEN-000111"
    with FakeGhl(ghl_data, token=GHL_TOKEN) as server:
        with pytest.raises(ProviderApiError, match="401") as info:
            list(ghl_client(server, session, ghl_data, token=wrong).iter_appointment_records(*WINDOW))
    _assert_no_secret(info.value, wrong)


def test_calendly_wrong_token(cal_data, session):
    wrong = "cal_WRONG_TOKEN_999"
    with FakeCalendly(cal_data, token=CAL_TOKEN) as server:
        with pytest.raises(ProviderApiError, match="401") as info:
            list(calendly_client(server, session, token=wrong).iter_invitee_records(*WINDOW))
    assert info.value.error_code == "Unauthenticated"
    _assert_no_secret(info.value, wrong)


def test_token_never_in_logs_or_repr(cal_data, ghl_data, session, clock, caplog):
    caplog.set_level(logging.DEBUG)
    small = cal_data[:40]
    with FakeCalendly(small, token=CAL_TOKEN, clock=clock.now, rate_limit=10, prior_usage=10, fail_every=4) as server:
        cal = calendly_client(server, session, clock)
        records = list(cal.iter_invitee_records(*WINDOW))
    assert_calendly_complete(records, small)
    with FakeGhl(ghl_data, token=GHL_TOKEN, clock=clock.now, rate_limit=5, prior_usage=5, fail_every=3,
                 fail_always={"/calendars/events/nope": 500}) as server:
        ghl = ghl_client(server, session, ghl_data, clock)
        list(ghl.iter_appointment_records(*WINDOW))
        with pytest.raises(ProviderApiError):
            ghl._http.get_json("/calendars/events/nope", {"locationId": DEFAULT_LOCATION_ID})
    ours = [r for r in caplog.records if r.name.startswith("appointment_pipeline")]
    assert any(r.levelno == logging.DEBUG for r in ours)
    assert any("429" in r.getMessage() for r in ours) and any("500" in r.getMessage() for r in ours)
    text = caplog.text
    for secret in (CAL_TOKEN, GHL_TOKEN, "Bearer"):
        assert secret not in text
        assert secret not in repr(cal) and secret not in repr(ghl) and secret not in repr(ghl._http)
    assert "***" in repr(cal) and "***" in repr(ghl)
    emails = {i["email"] for item in small for i in item["invitees"]}
    for r in ours:  # no query strings, no bodies, no PII in our own records
        msg = r.getMessage()
        assert "?" not in msg and "@" not in msg and "collection" not in msg
    assert not any(e in text for e in emails)


def test_client_argument_validation():
    with pytest.raises(ValueError):
        CalendlyClient("http://127.0.0.1:1", "", DEFAULT_ORGANIZATION)
    with pytest.raises(ValueError):
        GhlClient("http://127.0.0.1:1", "t", DEFAULT_LOCATION_ID, [])
    with pytest.raises(ValueError):
        GhlClient("http://127.0.0.1:1", "t", DEFAULT_LOCATION_ID, ["c"], slice_hours=0)
    with pytest.raises(ValueError) as info:
        CalendlyClient("ftp://x", "tok-in-message?", DEFAULT_ORGANIZATION)
    assert "tok-in-message" not in str(info.value)
