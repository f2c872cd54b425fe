"""API pulls end, whatever the server does: a page cap, a deadline per pull and per response, and the token never
leaves the client, not even when the server echoes it back. Real HTTP on 127.0.0.1: pytest-httpserver, and
tests/stalling_server.py for a body that trickles in one byte at a time."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from dagster import DagsterInstance, materialize

from appointment_pipeline.definitions import defs
from appointment_pipeline.defs.resources.resources import CalendlyApi, GhlApi, ProviderApisResource
from appointment_pipeline.io.providers import CalendlyClient, GhlClient, ProviderApiError, PullLimits, RetryPolicy
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import Inputs, resources_for
from provider_data import (
    DEFAULT_LOCATION_ID,
    DEFAULT_ORGANIZATION,
    ServedProviders,
    build_calendly_dataset,
    build_ghl_dataset,
    json_response,
)
from stalling_server import StallingServer

UTC = timezone.utc
TOKEN = "cal_SECRET_TOKEN_9d1e44b2c7"
GHL_TOKEN = "pit-SECRET-TOKEN-77c1e0aa31"
WINDOW = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 11, tzinfo=UTC))
QUICK = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, timeout=5.0)
GIVE_UP_AFTER = 30.0  # seconds: a pull still running by then is unbounded


@pytest.fixture(scope="module")
def cal_data():
    return build_calendly_dataset(seed=3, n_events=40)


@pytest.fixture(scope="module")
def ghl_data():
    return build_ghl_dataset(seed=3, events_per_calendar=20)


@pytest.fixture
def session():
    s = requests.Session()
    s.trust_env = False
    yield s
    s.close()


def serve(httpserver, cal=(), ghl=None, **kw) -> ServedProviders:
    return ServedProviders(httpserver, calendly=cal, ghl=ghl, calendly_token=TOKEN, ghl_token=GHL_TOKEN, **kw)


def echo_authorization(status: int):
    """A misbehaving provider or proxy: quotes the request's Authorization header in its error body."""
    def answer(request, number, serve_normally):
        echoed = request.headers.get("Authorization") or ""
        return json_response(status, {"title": echoed, "error": echoed, "message": f"rejected header {echoed}"})
    return answer


def trickling_ghl(ghl_data, **kw) -> StallingServer:
    """Headers at once, then one body byte every 0.2 s: each socket read succeeds well within the read timeout."""
    return StallingServer({"events": next(iter(ghl_data.values()))}, trickle_seconds=0.2, **kw)


def bounded(fn) -> dict:
    """Run ``fn`` in a daemon thread; fail the test if it is still running after GIVE_UP_AFTER seconds."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(GIVE_UP_AFTER)
    assert not thread.is_alive(), f"the pull was still running after {GIVE_UP_AFTER:.0f}s"
    outcome["seconds"] = time.monotonic() - started
    return outcome


def calendly(base_url, session, limits: PullLimits, retry: RetryPolicy = QUICK, token: str = TOKEN) -> CalendlyClient:
    return CalendlyClient(base_url, token, DEFAULT_ORGANIZATION, retry=retry, limits=limits, session=session)


def test_endless_pages_stop_at_the_page_cap(cal_data, session, httpserver):
    server = serve(httpserver, cal_data, endless_pages=True)
    client = calendly(server.base_url, session, PullLimits(max_pages=25))
    outcome = bounded(lambda: list(client.iter_invitee_records(*WINDOW)))
    event_pages = server.requests_to("/scheduled_events")
    error = outcome.get("error")
    assert isinstance(error, ProviderApiError), outcome
    assert "max_pages" in str(error) and "/scheduled_events" in str(error)
    assert len(event_pages) == 25  # exactly the cap, not one request more
    assert all(page.status == 200 for page in event_pages)


def test_endless_pages_stop_at_the_pull_deadline(cal_data, session, httpserver):
    server = serve(httpserver, cal_data, endless_pages=True)
    client = calendly(server.base_url, session, PullLimits(max_pages=10**9, pull_seconds=1.5))
    outcome = bounded(lambda: list(client.iter_invitee_records(*WINDOW)))
    error = outcome.get("error")
    assert isinstance(error, ProviderApiError), outcome
    assert "pull deadline" in str(error) and "pull_seconds" in str(error)
    assert len(server.requests_to("/scheduled_events")) > 3  # it was really paging when the deadline hit
    assert outcome["seconds"] < 1.5 + 5.0  # the deadline plus at most one request's socket timeout


def test_a_retry_wait_past_the_pull_deadline_is_not_slept(cal_data, session, httpserver):
    throttle = lambda request, number, serve_normally: json_response(  # noqa: E731
        429, {"title": "Too Many Requests"}, {"Retry-After": "30"})
    server = serve(httpserver, cal_data, fault=throttle)
    client = calendly(server.base_url, session, PullLimits(pull_seconds=2.0))
    outcome = bounded(lambda: list(client.iter_invitee_records(*WINDOW)))
    error = outcome.get("error")
    assert isinstance(error, ProviderApiError), outcome
    assert "pull deadline" in str(error) and "retry wait of 30.0s" in str(error)
    assert error.status_code == 429
    assert server.statuses() == [429] and outcome["seconds"] < 2.0


def test_the_pull_deadline_is_per_pull(cal_data, session, httpserver):
    """A second pull with the same client gets a fresh deadline (one snapshot day after another)."""
    server = serve(httpserver, cal_data)
    client = calendly(server.base_url, session, PullLimits(pull_seconds=60))
    first = list(client.iter_invitee_records(*WINDOW))
    client._http._pull_ends = 0.0  # as if the first pull had used up its time
    second = list(client.iter_invitee_records(*WINDOW))
    assert first and first == second


def test_a_trickling_response_ends_at_the_response_deadline(ghl_data, session):
    retry = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, timeout=3.0)
    with trickling_ghl(ghl_data) as server:
        client = GhlClient(server.base_url, GHL_TOKEN, DEFAULT_LOCATION_ID, sorted(ghl_data), retry=retry,
                           limits=PullLimits(response_seconds=1.0), session=session)
        outcome = bounded(lambda: list(client.iter_appointment_records(*WINDOW)))
        arrivals = server.arrivals
    error = outcome.get("error")
    assert isinstance(error, ProviderApiError), outcome
    assert "response not complete within 1s" in str(error)
    assert arrivals == 1  # a body that does not arrive is reported, not asked for again
    assert outcome["seconds"] < 1.0 + 0.2 + 2.0


def test_a_trickling_response_also_ends_at_the_pull_deadline(ghl_data, session):
    retry = RetryPolicy(max_attempts=50, base_delay=0.01, max_delay=0.02, timeout=3.0)
    with trickling_ghl(ghl_data) as server:
        client = GhlClient(server.base_url, GHL_TOKEN, DEFAULT_LOCATION_ID, sorted(ghl_data), retry=retry,
                           limits=PullLimits(response_seconds=60, pull_seconds=1.5), session=session)
        outcome = bounded(lambda: list(client.iter_appointment_records(*WINDOW)))
    error = outcome.get("error")
    assert isinstance(error, ProviderApiError), outcome
    assert outcome["seconds"] < 1.5 + 0.2 + 2.0


@pytest.mark.parametrize("status", [401, 403, 400])
def test_an_echoed_token_is_masked_in_errors_and_logs(cal_data, ghl_data, session, caplog, httpserver, status):
    caplog.set_level(logging.DEBUG, logger="appointment_pipeline")
    server = serve(httpserver, cal_data, ghl_data, fault=echo_authorization(status))
    with pytest.raises(ProviderApiError) as info:
        list(calendly(server.base_url, session, PullLimits()).iter_invitee_records(*WINDOW))
    client = GhlClient(server.base_url, GHL_TOKEN, DEFAULT_LOCATION_ID, sorted(ghl_data), retry=QUICK,
                       session=session)
    with pytest.raises(ProviderApiError) as ghl_info:
        list(client.iter_appointment_records(*WINDOW))
    assert server.statuses() == [status, status]
    for exc, token in ((info.value, TOKEN), (ghl_info.value, GHL_TOKEN)):
        text = " ".join([str(exc), repr(exc), str(exc.error_code), str(vars(exc))])
        assert f"HTTP {status}" in str(exc)
        assert "***" in str(exc)  # the echoed header is visible as masked, so the cause stays readable
        assert token not in text and token[:12] not in text
    logged = caplog.text
    assert TOKEN[:12] not in logged and GHL_TOKEN[:12] not in logged


# -- through Dagster: the run fails, nothing is written, the instance holds neither token nor partial data ---------


def apis(cal_url: str, ghl_url: str, calendars, **limits) -> ProviderApisResource:
    common = dict(retry_max_attempts=2, retry_base_delay=0.01, **limits)
    return ProviderApisResource(
        calendly=CalendlyApi(token=TOKEN, base_url=cal_url, organization=DEFAULT_ORGANIZATION, **common),
        ghl=GhlApi(token=GHL_TOKEN, base_url=ghl_url, location_id=DEFAULT_LOCATION_ID, calendar_ids=list(calendars),
                   **common),
    )


def instance_text(instance: DagsterInstance, root: Path) -> str:
    """Everything the instance stored: event records and every file under its directory (SQLite, compute logs)."""
    parts = []
    for run in instance.get_runs():
        parts.extend(str(r.event_log_entry) for r in instance.get_records_for_run(run.run_id).records)
    for path in root.rglob("*"):
        if path.is_file():
            parts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def extract(asset: str, url: str, inputs: Inputs, resource: ProviderApisResource, instance: DagsterInstance):
    return materialize(
        [defs.get_assets_def(asset)],
        partition_key="2025-03-05",
        resources={**defs.resources, **resources_for(url, inputs), "provider_apis": resource},
        run_config={"ops": {asset: {"config": {"source": "api"}}}},
        instance=instance,
        raise_on_error=False,
    )


@pytest.fixture
def no_landing(tmp_path) -> Inputs:
    return Inputs(source_db_url=f"sqlite:///{tmp_path / 'unused.sqlite'}", landing_dir=tmp_path / "landing")


def loaded_state(wh: Warehouse, table: str):
    if not wh.table_exists(table):
        return None
    return wh.query(f"select count(*) from {table}"), wh.query("select * from snapshot_partition_loads")


def test_capped_and_trickling_pulls_fail_the_run_and_write_nothing(tmp_path, cal_data, ghl_data, no_landing, httpserver):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        served = serve(httpserver, cal_data, ghl_data)
        good = apis(served.base_url, served.base_url, sorted(ghl_data))
        for asset in ("raw_calendly_invitees", "raw_ghl_appointments"):
            assert extract(asset, url, no_landing, good, instance).success
        wh = Warehouse(url)
        before = {t: loaded_state(wh, t) for t in ("raw_calendly_invitees", "raw_ghl_appointments")}
        assert all(state is not None and state[0][0][0] > 0 for state in before.values())

        served.endless_pages = True
        with trickling_ghl(ghl_data) as ghl:
            bad = apis(served.base_url, ghl.base_url, sorted(ghl_data), max_pages_per_list=20,
                       response_deadline_seconds=1.0)
            results = {asset: bounded(lambda a=asset: extract(a, url, no_landing, bad, instance))["value"]
                       for asset in before}
        for asset, result in results.items():
            assert not result.success
            failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
            error = failure.step_failure_data.error.cause  # Dagster wraps the user error
            assert error.cls_name == "ProviderApiError"
            message = error.message
            assert ("max_pages" if asset == "raw_calendly_invitees" else "response not complete") in message
        assert {t: loaded_state(wh, t) for t in before} == before


def test_an_echoed_token_never_reaches_the_dagster_instance(tmp_path, cal_data, ghl_data, no_landing, httpserver):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        by_path = {"/scheduled_events": echo_authorization(401), "/calendars/events": echo_authorization(403)}
        served = serve(httpserver, cal_data, ghl_data,
                       fault=lambda request, number, serve_normally: by_path[request.path](request, number, None))
        resource = apis(served.base_url, served.base_url, sorted(ghl_data))
        for asset in ("raw_calendly_invitees", "raw_ghl_appointments"):
            result = extract(asset, url, no_landing, resource, instance)
            assert not result.success
        stored = instance_text(instance, home)
    assert "HTTP 401" in stored and "HTTP 403" in stored  # the failures themselves were stored
    for token in (TOKEN, GHL_TOKEN):
        assert token[:12] not in stored
