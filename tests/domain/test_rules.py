"""Domain rules as plain Python: status mappings, parsing and redaction, and the legacy mapping's SQL twin."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pyarrow as pa
import pytest

from appointment_pipeline.domain.parsing import CALENDLY, GHL, Reject, SourceRecord, parse_calendly, parse_ghl, parse_records
from appointment_pipeline.domain.redaction import email_hash, looks_like_pii
from appointment_pipeline.io.sql_project import load_project
from appointment_pipeline.domain.statuses import GHL_STATUS, LEGACY_STATUS, UnknownStatus, calendly_status, ghl_status, legacy_status
from appointment_pipeline.io.warehouse import Warehouse

KEY = "k"


def calendly_line(**overrides):
    invitee = {
        "uri": "https://api.calendly.com/scheduled_events/E/invitees/I",
        "email": "Pat@Example.com",
        "name": "Pat Example",
        "status": "active",
        "created_at": "2025-01-01T10:00:00.000000Z",
        "updated_at": "2025-01-01T10:00:00.000000Z",
        "timezone": "Europe/Paris",
        "text_reminder_number": "+1 555-010-0000",
        "scheduled_event": {"uri": "https://api.calendly.com/scheduled_events/E", "status": "active",
                            "start_time": "2025-01-05T10:00:00.000000Z", "end_time": "2025-01-05T10:30:00.000000Z"},
    }
    invitee.update(overrides)
    return invitee


@pytest.mark.parametrize(
    "invitee, event, rescheduled, no_show, expected",
    [
        ("canceled", "canceled", True, False, ("RESCHEDULED", "rescheduled")),
        ("canceled", "active", False, False, ("CANCELED", "invitee")),
        ("active", "canceled", False, False, ("CANCELED", "host")),
        ("active", "active", False, True, ("NO_SHOW", None)),
        ("active", "active", False, False, ("CONFIRMED", None)),
    ],
)
def test_calendly_status_mapping(invitee, event, rescheduled, no_show, expected):
    status, reason = calendly_status(invitee, event, rescheduled=rescheduled, no_show=no_show,
                                     canceler_type="invitee", event_canceler_type="host")
    assert (str(status), reason and str(reason)) == expected


def test_ghl_status_mapping_covers_the_contract():
    expected = {"new": "CONFIRMED", "confirmed": "CONFIRMED", "active": "CONFIRMED", "cancelled": "CANCELED",
                "invalid": "CANCELED", "showed": "SHOWED", "completed": "SHOWED", "noshow": "NO_SHOW",
                # the contact-appointments endpoint's spellings
                "booked": "CONFIRMED", "canceled": "CANCELED"}
    for provider_status, status in expected.items():
        assert str(ghl_status(provider_status)[0]) == status
        assert str(ghl_status(provider_status.upper())[0]) == status
    assert ghl_status("invalid")[1] == "invalid"
    assert ghl_status("confirmed", deleted=True) == ("CANCELED", "deleted")
    with pytest.raises(UnknownStatus):
        ghl_status("tentative")
    assert set(GHL_STATUS) == set(expected)  # a mapping the contract does not define fails too


def test_legacy_status_defaults():
    assert legacy_status(None, canceled_at_set=True) == "CANCELED"
    assert legacy_status("  ", canceled_at_set=False) == "CONFIRMED"
    assert legacy_status(" NoShow ", canceled_at_set=False) == "NO_SHOW"
    with pytest.raises(UnknownStatus):
        legacy_status("pending", canceled_at_set=False)


def test_parse_calendly_keeps_no_pii_and_hashes_the_normalized_email():
    row = parse_calendly({"event": "invitee.created", "payload": calendly_line()}, KEY)
    assert row["email_hash"] == email_hash("pat@example.com", KEY) == email_hash("  PAT@example.COM ", KEY)
    assert row["status"] == "CONFIRMED" and row["delivery"] == "invitee.created"
    assert row["start_at"] == datetime(2025, 1, 5, 10, tzinfo=timezone.utc)
    assert not any(isinstance(v, str) and looks_like_pii(v) for v in row.values())
    assert "Pat" not in json.dumps(row, default=str)


def test_parse_rejects_with_reasons():
    with pytest.raises(Reject) as missing:
        parse_calendly(calendly_line(uri=None), KEY)
    assert missing.value.reason == "missing_key"
    naive = calendly_line(scheduled_event={"uri": "u", "status": "active", "start_time": "2025-01-05 10:00:00"})
    with pytest.raises(Reject) as bad_time:
        parse_calendly(naive, KEY)
    assert bad_time.value.reason == "bad_timestamp" and bad_time.value.record_key
    with pytest.raises(Reject) as unknown:
        parse_ghl({"id": "G", "appointmentStatus": "tentative", "startTime": "2025-01-05T10:00:00-06:00"}, KEY)
    assert unknown.value.reason == "unknown_status"
    row = parse_ghl({"id": "G", "appoinmentStatus": "showed", "startTime": "2025-01-05T10:00:00-06:00"}, KEY)
    assert row["status"] == "SHOWED" and row["start_at"] == datetime(2025, 1, 5, 16, tzinfo=timezone.utc)


def test_parse_records_accounts_for_every_line():
    lines = ["{not json", json.dumps(calendly_line()), "", json.dumps(calendly_line(status="weird"))]
    records = [SourceRecord(date(2025, 1, 1), "calendly/2025-01-01/a.jsonl", n, text=t) for n, t in enumerate(lines, 1)]
    table = parse_records(CALENDLY, records, KEY, {date(2025, 1, 1): "MANUAL"})
    assert table.num_rows == 4
    assert table["reject_reason"].to_pylist() == ["malformed_json", None, "malformed_json", "unknown_status"]
    assert table.schema.field("start_at").type == pa.timestamp("us", tz="UTC")
    assert parse_records(GHL, [], KEY, {}).num_rows == 0


def test_pii_patterns():
    for text in ("pat@example.com", "+1 555-010-0000", "(555) 010-0000", "555.010.0000"):
        assert looks_like_pii(text), text
    for text in ("2025-03-10 16:30:00+00", "https://api.calendly.com/scheduled_events/0000-4000/invitees/1",
                 "lead_000123", "a3f5" * 16, "FAKEAPPT000000000001_1729821600000_1800"):
        assert not looks_like_pii(text), text


PII_CORPUS = [
    "pat@example.com", "write to pat.doe+x@mail.example.org today", "+1 555-010-0000", "(555) 010-0000",
    "555.010.0000", "call 555 010 0000", "2025-03-10 16:30:00+00", "2025-03-10T16:30:00.000Z",
    "https://api.calendly.com/scheduled_events/0000-4000/invitees/1", "lead_000123", "a3f5" * 16,
    "FAKEAPPT000000000001_1729821600000_1800", "5f0b6c1e-8d3a-4b7e-9c2d-1a2b3c4d5e6f", "@handle", "x@y", "1234567",
    "12-345-6789", "", "555-0100", "+44 20 7946 0958",
]


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_warehouse_pii_scan_matches_python(engine, tmp_path, pg_database):
    """The scan's one combined pattern flags exactly the values looks_like_pii flags, in DuckDB and PostgreSQL."""
    from appointment_pipeline.io.audits import scan_for_pii

    wh = Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_pii_scan"))
    expected = [looks_like_pii(text) for text in PII_CORPUS]
    assert any(expected) and not all(expected)
    with wh.transaction() as con:
        con.execute("drop table if exists corpus")
        con.execute("create table corpus (n bigint, value text)")
        for n, text in enumerate(PII_CORPUS):
            wh.execute(con, "insert into corpus values (%s, %s)", [n, text])
    flagged = [
        scan_for_pii(wh, "corpus", where="n = %s", params=[n])["value"] == 1 for n in range(len(PII_CORPUS))
    ]
    assert flagged == expected


def test_legacy_status_mapping_in_sql_matches_python(tmp_path):
    """stg_legacy_observations joins the status_mappings seed that LEGACY_STATUS is read from: every spelling maps alike."""
    spellings = [s for key in LEGACY_STATUS for s in (key, key.upper(), f"  {key.title()} ")] + ["pending", None]
    wh = Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    from appointment_pipeline.defs.extract.assets import RAW_LEADS_COLUMNS
    from appointment_pipeline.io.seeds import write_seed

    columns = {c.name: [] for c in RAW_LEADS_COLUMNS}
    for number, spelling in enumerate(spellings):
        for name in columns:
            columns[name].append(None)
        columns["lead_id"][-1] = f"lead_{number}"
        columns["ghl_appointment_id"][-1] = f"G{number}"
        columns["appointment_status"][-1] = spelling
    data = pa.table({c.name: pa.array(columns[c.name], type=c.arrow_type) for c in RAW_LEADS_COLUMNS})
    wh.replace_table_with_rows("raw_leads", [(c.name, c.sql_type) for c in RAW_LEADS_COLUMNS], data)
    for seed in load_project().seeds.values():
        write_seed(wh, seed)
    model = load_project().models["stg_legacy_observations"]
    wh.replace_table_with_query(model.name, model.render("duckdb"))
    rows = dict(wh.query("select lead_id, coalesce(status, reject_reason) from stg_legacy_observations"))
    for number, spelling in enumerate(spellings):
        try:
            expected = str(legacy_status(spelling, canceled_at_set=False))
        except UnknownStatus:
            expected = "legacy_unknown_status"
        assert rows[f"lead_{number}"] == expected, spelling


def test_hostile_values_are_rejected_not_fatal():
    """Values that would crash a load (overflowing offset, NUL, lone surrogate) become rejects; the rest loads."""
    good = {"id": "G1", "appointmentStatus": "confirmed", "startTime": "2025-01-05T10:00:00-06:00"}
    lines = [
        json.dumps({**good, "id": "G2", "startTime": "0001-01-01T00:00:00+01:00"}),
        json.dumps({**good, "id": "G3", "calendarId": "C\u00001"}),
        '{"id": "G4", "appointmentStatus": "confirmed", "startTime": "2025-01-05T10:00:00-06:00", "calendarId": "\\ud800"}',
        json.dumps(good),
    ]
    records = [SourceRecord(date(2025, 1, 1), "ghl/2025-01-01/a.jsonl", n, text=t) for n, t in enumerate(lines, 1)]
    table = parse_records(GHL, records, KEY, {date(2025, 1, 1): "MANUAL"})
    assert table["reject_reason"].to_pylist() == ["bad_timestamp", "malformed_json", "malformed_json", None]
    assert table["ghl_appointment_id"].to_pylist()[-1] == "G1"


def test_reject_details_never_echo_free_text():
    with pytest.raises(Reject) as status:
        parse_ghl({"id": "G", "appointmentStatus": "Call Jane Doe", "startTime": "2025-01-05T10:00:00-06:00"}, KEY)
    assert "Jane" not in status.value.detail and "shape" in status.value.detail
    with pytest.raises(Reject) as enum_like:
        parse_ghl({"id": "G", "appointmentStatus": "tentative", "startTime": "2025-01-05T10:00:00-06:00"}, KEY)
    assert "'tentative'" in enum_like.value.detail  # enum-like tokens stay readable
    with pytest.raises(Reject) as time_text:
        parse_ghl({"id": "G", "appointmentStatus": "new", "startTime": "Tuesday with Jane"}, KEY)
    assert time_text.value.reason == "bad_timestamp" and "Jane" not in time_text.value.detail


def test_the_rejects_mart_accepts_exactly_the_reject_reasons():
    """The reasons a landing line can be rejected with (statuses.LineReason) are the mart's accepted values."""
    from appointment_pipeline.domain.statuses import LineReason

    model = load_project().models["appointment_rejects"]
    (test,) = [t for t in model.tests if t.column == "reason" and t.kind == "accepted_values"]
    landing = {value for value in test.args["values"] if not value.startswith("legacy_")}
    assert landing == {str(reason) for reason in LineReason if reason.is_reject}
