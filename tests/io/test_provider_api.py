"""Calendly / GHL HTTP clients against the providers' published shapes served by pytest-httpserver
(tests/provider_data.py): completeness, pagination, duplicates, permanent failures, secrecy. Retries and rate limits:
test_provider_retries.py."""

from __future__ import annotations

import json
import logging
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
    ghl_event_span_ms,
)

UTC = timezone.utc
CAL_TOKEN = "cal_SECRET_TOKEN_5f2b9c0e71"
GHL_TOKEN = "pit-SECRET-TOKEN-a83d41e977"
FAST = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05, timeout=5.0)


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


def serve(httpserver, cal=(), ghl=None, **kw) -> ServedProviders:
    return ServedProviders(httpserver, calendly=cal, ghl=ghl, calendly_token=CAL_TOKEN, ghl_token=GHL_TOKEN, **kw)


def calendly_client(base_url, session, **kw) -> CalendlyClient:
    kw.setdefault("retry", FAST)
    return CalendlyClient(base_url, kw.pop("token", CAL_TOKEN), DEFAULT_ORGANIZATION, session=session, **kw)


def ghl_client(base_url, session, calendar_ids, **kw) -> GhlClient:
    kw.setdefault("retry", FAST)
    return GhlClient(base_url, kw.pop("token", GHL_TOKEN), DEFAULT_LOCATION_ID, list(calendar_ids), session=session,
                     **kw)


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


def test_calendly_every_invitee_exactly_once_with_embedded_event(cal_data, session, httpserver):
    server = serve(httpserver, cal_data)
    records = list(calendly_client(server.base_url, session).iter_invitee_records(*WINDOW))
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


def test_calendly_pagination_follows_next_page_token(cal_data, session, httpserver):
    server = serve(httpserver, cal_data)
    records = list(calendly_client(server.base_url, session).iter_invitee_records(*WINDOW))
    pages = server.requests_to("/scheduled_events")
    assert_calendly_complete(records, cal_data)
    assert len(pages) == 3  # 250 events at 100 per page
    assert pages[0].param("page_token") is None
    served_tokens = [p.body["pagination"]["next_page_token"] for p in pages]
    assert [p.param("page_token") for p in pages[1:]] == served_tokens[:2]
    assert served_tokens[2] is None


def test_calendly_next_page_link_without_token_is_followed(cal_data, session, httpserver):
    """``next_page_token`` missing: the token inside the full ``next_page`` URI is used."""
    def link_only(request, number, serve_normally):
        response = serve_normally()
        body = json.loads(response.get_data())
        body["pagination"]["next_page_token"] = None
        return Response(json.dumps(body), status=200, content_type="application/json")

    server = serve(httpserver, cal_data[:30], page_size=7, fault=link_only)
    records = list(calendly_client(server.base_url, session).iter_invitee_records(*WINDOW))
    assert_calendly_complete(records, cal_data[:30])
    assert len(server.requests_to("/scheduled_events")) == 5  # 30 events at 7 per page


def test_calendly_small_pages_paginate_events_and_invitees(cal_data, session, httpserver):
    server = serve(httpserver, cal_data, page_size=2)
    records = list(calendly_client(server.base_url, session).iter_invitee_records(*WINDOW))
    invitee_pages = server.requests_to(prefix="/scheduled_events/")
    assert_calendly_complete(records, cal_data)
    assert len(server.requests_to("/scheduled_events")) == 125
    three = [item for item in cal_data if len(item["invitees"]) == 3]
    assert three
    path = "/scheduled_events/" + three[0]["event"]["uri"].rsplit("/", 1)[-1] + "/invitees"
    assert [r.param("page_token") is None for r in invitee_pages if r.path == path] == [True, False]


def test_calendly_event_repeated_across_pages_is_yielded_once(cal_data, session, httpserver):
    """The list shifts between two page reads (an event is served on pages 1 and 2): its invitees come once."""
    def shifted(request, number, serve_normally):
        response = serve_normally()
        if request.path != "/scheduled_events" or not request.args.get("page_token"):
            return response
        body = json.loads(response.get_data())
        body["collection"].insert(0, first_page_last[0])
        return Response(json.dumps(body), status=200, content_type="application/json")

    small = cal_data[:20]
    first_page_last: list[dict] = []
    server = serve(httpserver, small, page_size=10, fault=shifted)
    lo, hi = WINDOW
    ordered = sorted((i["event"] for i in small), key=lambda e: (e["start_time"], e["uri"]))
    first_page_last.append(ordered[9])
    records = list(calendly_client(server.base_url, session).iter_invitee_records(lo, hi))
    pages = server.requests_to("/scheduled_events")
    served_uris = [e["uri"] for p in pages for e in p.body["collection"]]
    assert served_uris.count(ordered[9]["uri"]) == 2  # the server really repeated it
    assert_calendly_complete(records, small)  # ... and every invitee still arrived exactly once
    repeated_path = "/scheduled_events/" + ordered[9]["uri"].rsplit("/", 1)[-1] + "/invitees"
    assert len(server.requests_to(repeated_path)) == 1


def test_calendly_window_filters_on_start_time(cal_data, session, httpserver):
    lo, hi = datetime(2025, 3, 3, 6, tzinfo=UTC), datetime(2025, 3, 5, tzinfo=timezone(timedelta(hours=-6)))
    server = serve(httpserver, cal_data)
    records = list(calendly_client(server.base_url, session).iter_invitee_records(lo, hi))
    assert server.requests_to("/scheduled_events")[0].param("max_start_time") == "2025-03-05T06:00:00.000000Z"
    assert records
    assert_calendly_complete(records, cal_data, lo, hi)


def test_calendly_iterator_streams_page_by_page(cal_data, session, httpserver):
    server = serve(httpserver, cal_data)
    it = calendly_client(server.base_url, session).iter_invitee_records(*WINDOW)
    assert server.requests_to() == []  # lazy
    next(it)
    assert [r.path.count("/") for r in server.requests_to()] == [1, 3]  # one event page, one invitee page
    it.close()


def test_naive_datetimes_are_rejected(cal_data, ghl_data, session, httpserver):
    server = serve(httpserver, cal_data, ghl_data)
    with pytest.raises(ValueError):
        list(calendly_client(server.base_url, session).iter_invitee_records(datetime(2025, 3, 1), WINDOW[1]))
    with pytest.raises(ValueError):
        list(ghl_client(server.base_url, session, ghl_data).iter_appointment_records(WINDOW[0], datetime(2025, 3, 2)))
    assert server.requests_to() == []


def test_default_clients_retry_against_the_documented_hosts():
    """Without a base_url the clients talk to the hosts providers.md names, through the retrying adapter."""
    cal = CalendlyClient(token="x", organization=DEFAULT_ORGANIZATION)
    ghl = GhlClient(token="x", location_id=DEFAULT_LOCATION_ID, calendar_ids=["c"])
    for client, url in ((cal, "https://api.calendly.com/scheduled_events"),
                        (ghl, "https://services.leadconnectorhq.com/calendars/events")):
        retry = client._http._session.get_adapter(url).max_retries
        assert {429, 500, 503} <= set(retry.status_forcelist)
        assert retry.total == client.retry.max_attempts - 1
        assert retry.is_retry("GET", 429) and not retry.is_retry("POST", 503)
        client.close()


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
def test_ghl_events_served_by_several_slices_are_yielded_once(ghl_data, session, httpserver, slice_hours):
    server = serve(httpserver, ghl=ghl_data)
    records = list(ghl_client(server.base_url, session, ghl_data, slice_hours=slice_hours)
                   .iter_appointment_records(*WINDOW))
    served_ids = [e["id"] for r in server.requests_to("/calendars/events") for e in r.body["events"]]
    repeated = {i for i in served_ids if served_ids.count(i) > 1}
    assert len(repeated) > 20  # the slices really returned these events more than once ...
    assert len(records) == 600
    assert_ghl_complete(records, ghl_data)  # ... and each was yielded exactly once, untouched


def test_ghl_sub_window_includes_overlapping_events(ghl_data, session, httpserver):
    lo, hi = datetime(2025, 3, 3, 12, tzinfo=UTC), datetime(2025, 3, 6, 12, tzinfo=UTC)
    server = serve(httpserver, ghl=ghl_data)
    records = list(ghl_client(server.base_url, session, ghl_data).iter_appointment_records(lo, hi))
    assert_ghl_complete(records, ghl_data, lo, hi)


def test_ghl_slices_cover_window_without_gaps_or_overlap(ghl_data, session, httpserver):
    lo, hi = datetime(2025, 3, 1, 3, tzinfo=UTC), datetime(2025, 3, 10, 1, 30, tzinfo=UTC)
    server = serve(httpserver, ghl=ghl_data)
    list(ghl_client(server.base_url, session, ghl_data, slice_hours=24).iter_appointment_records(lo, hi))
    served = server.requests_to("/calendars/events")
    lo_ms, hi_ms = int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)
    for calendar_id in ghl_data:
        calls = [r for r in served if r.param("calendarId") == calendar_id]
        spans = [(int(r.param("startTime")), int(r.param("endTime"))) for r in calls]
        assert spans == sorted(spans) and len(spans) == len(set(spans))
        assert spans[0][0] == lo_ms
        assert spans[-1][1] == hi_ms - 1  # endTime is inclusive
        for (_, prev_end), (nxt_start, _) in zip(spans, spans[1:]):
            assert nxt_start == prev_end + 1  # no gap, no overlap
        assert all(e - s + 1 <= 24 * 3_600_000 for s, e in spans)
        assert len(spans) == 9  # 8 full days and a 22.5 h tail
        assert all(r.param("locationId") == DEFAULT_LOCATION_ID for r in calls)


def test_ghl_sends_version_and_accept_headers(ghl_data, session, httpserver):
    server = serve(httpserver, ghl=ghl_data)
    list(ghl_client(server.base_url, session, ghl_data).iter_appointment_records(*WINDOW))
    calls = server.requests_to()
    assert calls and all(r.status == 200 for r in calls)  # the server answers 400 without Version
    assert all(r.headers.get("Version") == "2021-04-15" for r in calls)
    assert all(r.headers.get("Accept") == "application/json" for r in calls)


def test_ghl_duplicate_across_slices_keeps_latest_date_updated(ghl_data, session, httpserver):
    calendar_id = next(iter(ghl_data))
    day_ms = 86_400_000
    crossing = [e for e in ghl_data[calendar_id]
                if ghl_event_span_ms(e)[0] // day_ms != (ghl_event_span_ms(e)[1] - 1) // day_ms]
    newer_second, newer_first = crossing[0], crossing[1]
    versions = {}  # id -> (copy served by the first slice, copy served by the second slice)
    for ev, newer_later in ((newer_second, True), (newer_first, False)):
        old = dict(ev, dateUpdated="2025-01-01T10:00:00-06:00")
        new = dict(ev, dateUpdated="2025-03-20T10:00:00-06:00", notes="edited")
        versions[ev["id"]] = (old, new) if newer_later else (new, old)

    def drift(args, events):
        start = int(args["startTime"])
        return [versions[e["id"]][0 if start <= ghl_event_span_ms(e)[0] else 1] if e["id"] in versions else e
                for e in events]

    server = serve(httpserver, ghl={calendar_id: ghl_data[calendar_id]}, alter_ghl=drift)
    records = list(ghl_client(server.base_url, session, [calendar_id]).iter_appointment_records(*WINDOW))
    assert len(records) == len({r["id"] for r in records}) == 200
    for event_id in versions:
        hits = [r for r in records if r["id"] == event_id]
        assert len(hits) == 1 and hits[0]["notes"] == "edited"
        assert hits[0]["dateUpdated"] == "2025-03-20T10:00:00-06:00"


# --------------------------------------------------------------------------------------------------------------------
# permanent failures and secrecy
# --------------------------------------------------------------------------------------------------------------------


def _assert_no_secret(exc: BaseException, token: str) -> None:
    for text in (str(exc), repr(exc), repr(exc.args)):
        assert token not in text
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def test_permanent_500_raises_after_max_attempts(cal_data, session, httpserver):
    server = serve(httpserver, cal_data, fault=lambda request, number, serve_normally: calendly_error(500))
    with pytest.raises(ProviderApiError) as info:
        list(calendly_client(server.base_url, session).iter_invitee_records(*WINDOW))
    assert len(server.requests_to("/scheduled_events")) == FAST.max_attempts
    err = info.value
    assert "HTTP 500" in str(err) and "/scheduled_events" in str(err) and "?" not in str(err)
    assert err.status_code == 500 and err.attempts == FAST.max_attempts
    _assert_no_secret(err, CAL_TOKEN)


def test_permanent_403_on_one_invitee_path_raises_immediately(cal_data, session, httpserver):
    uuid = cal_data[0]["event"]["uri"].rsplit("/", 1)[-1]
    path = f"/scheduled_events/{uuid}/invitees"
    forbid = lambda request, number, serve_normally: (  # noqa: E731
        calendly_error(403) if request.path == path else serve_normally())
    server = serve(httpserver, cal_data[:5], fault=forbid)
    with pytest.raises(ProviderApiError) as info:
        list(calendly_client(server.base_url, session).iter_invitee_records(*WINDOW))
    assert len(server.requests_to(path)) == 1
    err = info.value
    assert err.status_code == 403 and err.path == path and err.error_code == "Permission Denied"
    assert "403" in str(err) and path in str(err)
    assert "details for humans" not in str(err)  # no response body, only the title
    _assert_no_secret(err, CAL_TOKEN)


def test_wrong_tokens_get_401_once(cal_data, ghl_data, session, httpserver):
    server = serve(httpserver, cal_data, ghl_data)
    wrong_cal, wrong_ghl = "cal_WRONG_TOKEN_999", "pit-WRONG-TOKEN-000111"
    with pytest.raises(ProviderApiError, match="401") as cal_info:
        list(calendly_client(server.base_url, session, token=wrong_cal).iter_invitee_records(*WINDOW))
    with pytest.raises(ProviderApiError, match="401") as ghl_info:
        list(ghl_client(server.base_url, session, ghl_data, token=wrong_ghl).iter_appointment_records(*WINDOW))
    assert server.statuses() == [401, 401]  # not retried
    assert cal_info.value.error_code == "Unauthenticated"
    _assert_no_secret(cal_info.value, wrong_cal)
    _assert_no_secret(ghl_info.value, wrong_ghl)


@pytest.mark.parametrize("body, problem", [(b'{"collection": [', "unreadable JSON body"),
                                           (b'[{"uri": "x"}]', "not a JSON object")])
def test_malformed_body_raises_without_retrying(cal_data, session, httpserver, body, problem):
    malformed = lambda request, number, serve_normally: Response(body, 200, content_type="application/json")  # noqa: E731
    server = serve(httpserver, cal_data, fault=malformed)
    with pytest.raises(ProviderApiError, match=problem) as info:
        list(calendly_client(server.base_url, session).iter_invitee_records(*WINDOW))
    assert server.statuses() == [200]
    assert info.value.status_code == 200


def test_token_never_in_logs_or_repr(cal_data, ghl_data, session, httpserver, caplog):
    caplog.set_level(logging.DEBUG)
    small = cal_data[:10]

    def flaky(request, number, serve_normally):
        if number == 1:
            return calendly_error(429, {"X-RateLimit-Reset": "0.05"})
        return calendly_error(500) if number % 4 == 0 else serve_normally()

    server = serve(httpserver, small, ghl_data, fault=flaky)
    cal = calendly_client(server.base_url, session)
    ghl = ghl_client(server.base_url, session, ghl_data)
    assert_calendly_complete(list(cal.iter_invitee_records(*WINDOW)), small)
    list(ghl.iter_appointment_records(*WINDOW))
    ours = [r for r in caplog.records if r.name.startswith("appointment_pipeline")]
    assert any(r.levelno == logging.DEBUG for r in ours)
    assert any("429" in r.getMessage() for r in ours) and any("500" in r.getMessage() for r in ours)
    text = caplog.text  # every logger, urllib3's included
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
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError) as info:
        CalendlyClient("ftp://x", "tok-in-message?", DEFAULT_ORGANIZATION)
    assert "tok-in-message" not in str(info.value)
