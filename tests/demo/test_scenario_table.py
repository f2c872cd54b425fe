"""The scenario table of the demo generator is explicit and complete: every row builds its scenario, as often as
its share and minimum say."""

from __future__ import annotations

from collections import Counter

import pytest

from appointment_pipeline.demo import SCENARIO_TABLE, SCENARIOS, DemoData, build_demo

# Lead scenarios that no pipeline appointment comes from: their legacy rows are rejected (unknown status, ambiguous
# or unknown provider) or have no appointment at all.
WITHOUT_APPOINTMENTS = {"legacy_unknown_status", "legacy_ambiguous_provider", "legacy_unknown_provider"}
# Scenarios recorded by the builders of other scenarios, not units of their own.
DERIVED = {
    "cal_reschedule_1hop", "cal_reschedule_2hop", "cal_reschedule_3hop", "cal_reschedule_split_days",
    "cal_reschedule_new_first", "cal_group_canceler", "cal_event_canceled_invitee_active", "ghl_typo_status_key",
    "legacy_drift", "email_variant", "cal_unmatched", "ghl_unmatched",
}  # fmt: skip


@pytest.fixture(scope="module")
def data() -> DemoData:
    return build_demo(leads=300, days=14)


def expected_leads(row, leads: int) -> int:
    """Leads of a scenario: max(minimum, round(share * leads / mean unit size)) units, unit k of size
    unit_sizes[k % len(unit_sizes)]."""
    mean = sum(row.unit_sizes) / len(row.unit_sizes)
    units = max(row.minimum, round(row.share * leads / mean))
    return sum(row.unit_sizes[k % len(row.unit_sizes)] for k in range(units))


def test_table_rows_are_named_scenarios_with_their_own_builders() -> None:
    names = [row.name for row in SCENARIO_TABLE]
    assert len(names) == len(set(names))
    assert set(names) | {"no_appointment"} | DERIVED == set(SCENARIOS)
    assert not set(names) & DERIVED
    for row in SCENARIO_TABLE:
        assert 0 < row.share < 1 and row.minimum >= 1 and row.unit_sizes and min(row.unit_sizes) >= 1, row
        assert callable(row.build)
    assert len({row.build.__name__ for row in SCENARIO_TABLE}) == len(SCENARIO_TABLE)


def test_every_row_builds_its_leads_as_often_as_the_table_says(data: DemoData) -> None:
    lead_ids = [row["id"] for row in data.lead_rows]
    planned = {row.name: expected_leads(row, len(lead_ids)) for row in SCENARIO_TABLE}
    assert sum(planned.values()) < len(lead_ids)  # the default demo has room for the whole plan
    for name, count in planned.items():
        assert len(data.scenarios[name]) == count, name
    assert len(data.scenarios["no_appointment"]) == len(lead_ids) - sum(planned.values())
    # every lead belongs to exactly one table scenario (or to none: no_appointment)
    owners = Counter(i for name in [*planned, "no_appointment"] for i in data.scenarios[name])
    assert sorted(owners) == sorted(lead_ids) and set(owners.values()) == {1}


def test_every_row_produces_records(data: DemoData) -> None:
    with_appointments = Counter(a.scenario for a in data.appointments if a.lead_id is not None)
    rows = {row["id"]: row for row in data.lead_rows}
    for table_row in SCENARIO_TABLE:
        ids = data.scenarios[table_row.name]
        assert ids and all(i in rows for i in ids), table_row.name
        if table_row.name in WITHOUT_APPOINTMENTS:
            assert with_appointments[table_row.name] == 0, table_row.name
            assert all(rows[i]["appointmentStartAt"] or rows[i]["ghlAppointmentId"] for i in ids), table_row.name
        else:
            assert with_appointments[table_row.name] >= 1, table_row.name
        built = {a.lead_id for a in data.appointments if a.scenario == table_row.name and a.lead_id is not None}
        assert built <= set(ids), table_row.name  # the row's builder made them for the row's own leads
    assert set(with_appointments) == {row.name for row in SCENARIO_TABLE} - WITHOUT_APPOINTMENTS


def test_minimums_come_first_when_leads_are_few() -> None:
    small = build_demo(leads=100, days=2)
    assert sum(expected_leads(row, 0) for row in SCENARIO_TABLE) <= 100  # leads=0: the minimums alone
    for row in SCENARIO_TABLE:
        assert len(small.scenarios[row.name]) >= expected_leads(row, 0), row.name
