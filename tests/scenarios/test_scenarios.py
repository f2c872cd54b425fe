"""Hand-written domain scenarios (tests/scenarios/cases.py), all materialized together once per engine."""

from __future__ import annotations

from datetime import date

import pytest

from appointment_pipeline.demo import write_landing, write_leads
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import OUTPUT_TABLES, Inputs, empty_days_config, run_pipeline, table_snapshot
from scenarios.cases import REFERENCE_TIME, SCENARIOS, Scenario

FIRST_DAY, LAST_DAY = date(2025, 1, 1), date(2025, 1, 6)
APPOINTMENT_COLUMNS = [
    "id", "lead_id", "provider", "ghl_appointment_id", "calendly_invitee_uri", "calendly_scheduled_event_uri", "start_at",
    "end_at", "timezone", "status", "status_changed_at", "canceled_at", "cancel_reason", "rescheduled_from_id",
    "reschedule_link_method", "source", "created_at", "updated_at",
]


def write_scenarios(root) -> Inputs:
    inputs = Inputs(source_db_url=f"sqlite:///{root / 'app.sqlite'}", landing_dir=root / "landing")
    files: dict[str, list[str]] = {}
    for scenario in SCENARIOS:
        for (provider, day), lines in scenario.landing.items():
            files[f"{provider}/{day}/{scenario.name}.jsonl"] = lines
    columns = {"id", "email", "phone", "firstName", "lastName", "ghlContactId", "createdAt", "updatedAt"}
    leads = [lead for scenario in SCENARIOS for lead in scenario.leads]
    all_columns = sorted({c for lead in leads for c in lead} | columns)
    write_leads(inputs.source_db_url, [{c: lead.get(c) for c in all_columns} for lead in leads])
    write_landing(inputs.landing_dir, files)
    return inputs


@pytest.fixture(scope="module")
def scenario_inputs(tmp_path_factory) -> Inputs:
    return write_scenarios(tmp_path_factory.mktemp("scenarios"))


def build(url: str, inputs: Inputs) -> Warehouse:
    run_pipeline(url, inputs, FIRST_DAY, LAST_DAY, reference_time=REFERENCE_TIME,
                 run_config=empty_days_config(inputs.landing_dir, FIRST_DAY, LAST_DAY))
    return Warehouse(url)


@pytest.fixture(scope="module")
def duckdb_wh(scenario_inputs, tmp_path_factory) -> Warehouse:
    return build(f"duckdb:///{tmp_path_factory.mktemp('scen_wh') / 'wh.duckdb'}", scenario_inputs)


@pytest.fixture(scope="module")
def postgres_wh(scenario_inputs, pg_database) -> Warehouse:
    return build(pg_database("ap_scen"), scenario_inputs)


@pytest.fixture(params=["duckdb_wh", pytest.param("postgres_wh", marks=pytest.mark.postgres)])
def wh(request) -> Warehouse:
    return request.getfixturevalue(request.param)


def appointments_by_key(wh: Warehouse) -> dict[tuple[str, str], dict]:
    rows = [dict(zip(APPOINTMENT_COLUMNS, r)) for r in wh.query(f"select {', '.join(APPOINTMENT_COLUMNS)} from appointments")]
    by_id = {r["id"]: r for r in rows}
    result = {}
    for row in rows:
        key = row["ghl_appointment_id"] or row["calendly_invitee_uri"] or f"legacy:{row['lead_id']}"
        predecessor = by_id.get(row["rescheduled_from_id"])
        row["rescheduled_from"] = None if predecessor is None else (
            predecessor["provider"], predecessor["ghl_appointment_id"] or predecessor["calendly_invitee_uri"]
            or f"legacy:{predecessor['lead_id']}")
        result[(row["provider"], key)] = row
    return result


def scenario_keys(scenario: Scenario) -> set[tuple[str, str]]:
    return set(scenario.appointments) | set(scenario.history) | {r["primary"] for r in scenario.rollups.values()}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_appointments(wh, scenario):
    actual = appointments_by_key(wh)
    lead_ids = {lead["id"] for lead in scenario.leads}
    owned = {key for key, row in actual.items() if row["lead_id"] in lead_ids}
    if scenario.appointments:
        # the scenario names every appointment of its leads: nothing extra, nothing missing, no duplicates
        assert owned == {key for key in scenario_keys(scenario) if key[1] not in {u[1] for u in scenario.unmatched}}
        assert wh.scalar(
            "select count(*) from appointments where lead_id in (" + ", ".join(["%s"] * len(lead_ids)) + ")", sorted(lead_ids)
        ) == len(owned)
    for key, expected in scenario.appointments.items():
        assert key in actual, f"missing appointment {key}"
        row = actual[key]
        for column, value in expected.items():
            assert row[column] == value, f"{key} {column}: {row[column]!r} != {value!r}"


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.history], ids=lambda s: s.name)
def test_history(wh, scenario):
    ids = {key: row["id"] for key, row in appointments_by_key(wh).items()}
    for key, expected in scenario.history.items():
        rows = wh.query(
            "select status, start_at, valid_from, valid_to, observed_from, snapshot_date "
            "from appointment_status_history where appointment_id = %s order by valid_from, valid_to nulls last",
            [ids[key]],
        )
        as_text = [tuple(str(v) if isinstance(v, date) and not hasattr(v, "hour") else v for v in row) for row in rows]
        assert as_text == expected, f"history of {key}"


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.rollups], ids=lambda s: s.name)
def test_rollups(wh, scenario):
    ids = {key: row["id"] for key, row in appointments_by_key(wh).items()}
    frame = wh.query_df("select * from lead_appointment_rollups")
    rollups = {r["lead_id"]: r for r in frame.to_dict("records")}
    for lead_id, expected in scenario.rollups.items():
        row = rollups[lead_id]
        assert row["primary_appointment_id"] == ids[expected["primary"]], f"{lead_id}: wrong primary"
        for column, value in expected.items():
            if column != "primary":
                assert row[column] == value, f"{lead_id} {column}: {row[column]!r} != {value!r}"


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.rejects], ids=lambda s: s.name)
def test_rejects(wh, scenario):
    rows = wh.query("select source, file, line, record_key, reason from appointment_rejects")
    keys = {r[3] for r in scenario.rejects} | {lead["id"] for lead in scenario.leads}
    files = {r[1] for r in scenario.rejects}
    mine = sorted((r for r in rows if r[1] in files and (r[0] != "legacy" or r[3] in keys)), key=str)
    assert mine == sorted(scenario.rejects, key=str)


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.unmatched], ids=lambda s: s.name)
def test_unmatched(wh, scenario):
    rows = {(p, k, str(d), r) for p, k, d, r in wh.query("select provider, key, snapshot_date, reason from unmatched_provider_appointments")}
    assert set(scenario.unmatched) <= rows
    keys = {u[1] for u in scenario.unmatched}
    assert {r for r in rows if r[1] in keys} == set(scenario.unmatched)


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.drift], ids=lambda s: s.name)
def test_drift(wh, scenario):
    rows = {(lead, field): (legacy, new) for lead, field, legacy, new in wh.query(
        "select lead_id, field, legacy_value, new_value from lead_rollup_drift")}
    for lead_id, fields in scenario.drift.items():
        for field_name, expected in fields.items():
            assert rows.get((lead_id, field_name)) == expected, f"{lead_id} {field_name}"


def test_history_intervals_chain(wh):
    """valid_to of one state is valid_from of the next; exactly one open state per appointment."""
    broken = wh.scalar(
        "select count(*) from (select valid_to, lead(valid_from) over (partition by appointment_id order by valid_from, valid_to nulls last) as next_from "
        "from appointment_status_history) h where valid_to is distinct from next_from"
    )
    assert broken == 0
    open_states = wh.query("select appointment_id, count(*) from appointment_status_history where valid_to is null group by 1 having count(*) <> 1")
    assert open_states == []
    assert wh.scalar("select count(*) from appointments a where not exists (select 1 from appointment_status_history h where h.appointment_id = a.id)") == 0


@pytest.mark.postgres
def test_engines_agree_on_every_scenario_table(duckdb_wh, postgres_wh):
    tables = OUTPUT_TABLES + ["int_reschedule_links", "int_appointment_leads"]
    assert table_snapshot(duckdb_wh, tables) == table_snapshot(postgres_wh, tables)
