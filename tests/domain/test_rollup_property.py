"""One rule, two faces: lead_appointment_rollups.sql and rollup.select_primary_appointment pick the same appointment."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appointment_pipeline.domain.rollup import (
    Appointment,
    build_lead_rollup_from_appointment,
    find_by_provider_key,
    select_primary_appointment,
)
from appointment_pipeline.io.sql_project import load_project
from appointment_pipeline.domain.statuses import Status
from appointment_pipeline.io.seeds import write_seed
from appointment_pipeline.io.warehouse import Warehouse

REFERENCE = datetime(2025, 1, 10, 12, tzinfo=timezone.utc)
# Few distinct instants, the reference itself included, so that ties and boundary cases are common.
INSTANTS = [REFERENCE + timedelta(hours=h) for h in (-48, -1, 0, 1, 48)]
maybe_instant = st.one_of(st.none(), st.sampled_from(INSTANTS))

APPOINTMENT_COLUMNS = [
    ("id", "text"), ("lead_id", "text"), ("provider", "text"), ("ghl_appointment_id", "text"),
    ("calendly_invitee_uri", "text"), ("calendly_scheduled_event_uri", "text"), ("start_at", "timestamptz"),
    ("end_at", "timestamptz"), ("timezone", "text"), ("status", "text"), ("status_changed_at", "timestamptz"),
    ("canceled_at", "timestamptz"), ("cancel_reason", "text"), ("rescheduled_from_id", "text"),
    ("reschedule_link_method", "text"), ("source", "text"), ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
]


@st.composite
def appointment_sets(draw) -> list[Appointment]:
    """Several leads, each with 1-6 appointments of any status, times drawn from a small set (ties, nulls)."""
    ids = iter(draw(st.lists(st.text("0123456789abcdef", min_size=3, max_size=3), min_size=60, max_size=60, unique=True)))
    appointments = []
    for lead_number in range(draw(st.integers(1, 8))):
        for _ in range(draw(st.integers(1, 6))):
            appointment_id = next(ids)
            appointments.append(Appointment(
                id=appointment_id,
                lead_id=f"lead_{lead_number}",
                provider="GHL",
                ghl_appointment_id=f"G-{appointment_id}",
                status=draw(st.sampled_from(list(Status))),
                start_at=draw(maybe_instant),
                created_at=draw(maybe_instant),
                canceled_at=draw(maybe_instant),
                status_changed_at=draw(maybe_instant),
                source="MANUAL",
            ))
    return appointments


def load_appointments(wh: Warehouse, appointments: list[Appointment]) -> None:
    data = pa.table({
        name: pa.array([getattr(a, name) for a in appointments],
                       type=pa.timestamp("us", tz="UTC") if sql_type == "timestamptz" else pa.string())
        for name, sql_type in APPOINTMENT_COLUMNS
    })
    wh.replace_table_with_rows("appointments", APPOINTMENT_COLUMNS, data)


def sql_primaries(wh: Warehouse) -> dict[str, str]:
    model = load_project().models["lead_appointment_rollups"]
    wh.replace_table_with_query(model.name, model.render(wh.dialect, {"reference_time": REFERENCE}))
    return dict(wh.query("select lead_id, primary_appointment_id from lead_appointment_rollups"))


def python_primaries(appointments: list[Appointment]) -> dict[str, str]:
    by_lead = {lead: list(group) for lead, group in itertools.groupby(sorted(appointments, key=lambda a: a.lead_id), key=lambda a: a.lead_id)}
    return {lead: select_primary_appointment(items, REFERENCE).id for lead, items in by_lead.items()}


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def rule_warehouse(request, tmp_path_factory, pg_database) -> Warehouse:
    if request.param == "duckdb":
        wh = Warehouse(f"duckdb:///{tmp_path_factory.mktemp('rule') / 'wh.duckdb'}")
    else:
        wh = Warehouse(pg_database("ap_rule"))
    write_seed(wh, load_project().seeds["appointment_statuses"])  # the tiers the SQL rule joins
    return wh


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(appointments=appointment_sets())
def test_sql_and_python_choose_the_same_primary(rule_warehouse, appointments):
    load_appointments(rule_warehouse, appointments)
    assert sql_primaries(rule_warehouse) == python_primaries(appointments)


def test_rule_tiers_by_hand():
    t = REFERENCE
    upcoming = Appointment("a", "l", "GHL", "CONFIRMED", start_at=t + timedelta(days=2))
    sooner = Appointment("b", "l", "GHL", "CONFIRMED", start_at=t + timedelta(days=1))
    past = Appointment("c", "l", "GHL", "SHOWED", start_at=t - timedelta(days=1))
    now_exactly = Appointment("d", "l", "GHL", "CONFIRMED", start_at=t)  # not upcoming: start must be after T
    canceled = Appointment("e", "l", "GHL", "CANCELED", created_at=t, canceled_at=t - timedelta(days=3))
    rescheduled = Appointment("f", "l", "GHL", "RESCHEDULED", status_changed_at=t)
    assert select_primary_appointment([past, upcoming, sooner, canceled], t) is sooner
    assert select_primary_appointment([past, now_exactly, canceled], t) is now_exactly
    assert select_primary_appointment([canceled, rescheduled], t) is canceled
    assert select_primary_appointment([rescheduled], t) is rescheduled
    assert select_primary_appointment([], t) is None
    tie_late = Appointment("z", "l", "GHL", "CONFIRMED", start_at=t + timedelta(days=1), created_at=t)
    tie_early = Appointment("y", "l", "GHL", "CONFIRMED", start_at=t + timedelta(days=1), created_at=t - timedelta(days=1))
    assert select_primary_appointment([tie_early, tie_late], t) is tie_late
    tie_same = Appointment("x", "l", "GHL", "CONFIRMED", start_at=t + timedelta(days=1), created_at=t)
    assert select_primary_appointment([tie_late, tie_same], t) is tie_same  # then the smallest id


def test_rollup_fields_and_lookup():
    appointment = Appointment("a", "l", "CALENDLY", "NO_SHOW", calendly_invitee_uri="uri-1", source="BACKFILL")
    rollup = build_lead_rollup_from_appointment(appointment)
    assert rollup.appointment_status == "no_show" and rollup.appointment_source == "backfill"
    assert rollup.primary_appointment_id == "a"
    assert find_by_provider_key([appointment], "calendly", "uri-1") is appointment
    assert find_by_provider_key([appointment], "GHL", "uri-1") is None
