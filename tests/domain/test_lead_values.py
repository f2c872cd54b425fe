"""The legacy "Lead" table: one bad value rejects its lead (id, column, reason; never the value) instead of aborting
raw_leads; integer keys keep their exact text; both warehouse engines store the same rows. Database errors leave the
pipeline without row values. Real SQLite and PostgreSQL "Lead" tables, real runs on both warehouse engines."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from dagster import AssetSelection, DagsterInstance, materialize

from appointment_pipeline.io.db_errors import ScrubbedDatabaseError, scrub_message
from appointment_pipeline.definitions import defs
from appointment_pipeline.defs.extract.assets import LEAD_COLUMNS
from appointment_pipeline.domain.redaction import IdentifierLooksLikePii, check_identifier
from appointment_pipeline.defs.resources.resources import PipelineSettingsResource, SourceDatabaseResource, WarehouseResource
from appointment_pipeline.runner import materialize_range
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import table_rows

EMAIL = "jane.doe+lead@example.com"
BIG_ID = 123456789012345678  # a float would print it as 1.2345678901234568e+17
GOOD = {"createdAt": "2025-01-02T09:00:00.123Z", "updatedAt": "2025-01-03T09:00:00Z"}

# lead id -> (overrides, expected reject reason or None, expected detail fragments)
SQLITE_LEADS = {
    "lead-good": ({"ghlContactId": 12345, "ghlAppointmentId": "ghl-1", "appointmentStatus": "confirmed",
                   "appointmentStartAt": "2025-01-05T10:00:00Z"}, None, []),
    "lead-bigint": ({"ghlContactId": BIG_ID}, None, []),
    "lead-unparseable": ({"createdAt": "next tuesday"}, "legacy_bad_timestamp", ["createdAt: not an ISO-8601"]),
    "lead-nanos": ({"appointmentStartAt": "2025-01-05T10:00:00.123456789Z", "calendlyInviteeUri": "inv-1"},
                   "legacy_bad_timestamp", ["appointmentStartAt: more precise than microseconds"]),
    "lead-9999": ({"updatedAt": "9999-12-31T23:59:59Z"}, "legacy_bad_timestamp", ["updatedAt: outside the years"]),
    "lead-nul": ({"ghlAppointmentId": "ghl-\x00-2"}, "legacy_bad_text", ["ghlAppointmentId: holds a NUL"]),
    "lead-pii": ({"calendlyInviteeUri": EMAIL, "appointmentBookedAt": "2024-12-30 08:00:00"}, "legacy_pii_value",
                 ["calendlyInviteeUri: looks like an email"]),
    "lead-two": ({"appointmentEndAt": "soon", "appointmentTimezone": "+1 (555) 010-2233"}, "legacy_bad_timestamp",
                 ["appointmentEndAt: not an ISO-8601", "appointmentTimezone: looks like an email address or a phone"]),
}


def _row(lead_id: str, overrides: dict) -> dict:
    row = {name: None for name in LEAD_COLUMNS}
    row.update(id=lead_id, email=f"{lead_id}@example.com", **GOOD)
    row.update(overrides)
    return row


def sqlite_source(path: Path) -> str:
    con = sqlite3.connect(path)
    cols = ", ".join(
        f'"{n}" integer' if n == "ghlContactId" else f'"{n}" text' for n in ["email", *LEAD_COLUMNS]
    )
    con.execute(f'create table "Lead" ({cols}, "firstName" text)')
    names = ["email", *LEAD_COLUMNS]
    for lead_id, (overrides, *_rest) in SQLITE_LEADS.items():
        row = _row(lead_id, overrides)
        con.execute(
            f'insert into "Lead" ({", ".join(chr(34) + n + chr(34) for n in names)}) values ({", ".join("?" * len(names))})',
            [row[n] for n in names],
        )
    con.commit()
    con.close()
    return f"sqlite:///{path}"


# The real application's shape: Prisma on PostgreSQL (timestamp(3) without time zone, holding UTC), with an
# integer contact id column as some deployments have it.
PG_LEADS = {
    "lead-good": ({"ghlContactId": 12345, "ghlAppointmentId": "ghl-1", "appointmentStartAt": "2025-01-05 10:00:00.5"},
                  None, []),
    "lead-bigint": ({"ghlContactId": BIG_ID}, None, []),
    "lead-9999": ({"appointmentStartAt": "9999-12-31 23:59:59.999"}, "legacy_bad_timestamp",
                  ["appointmentStartAt: outside the years"]),
    "lead-infinity": ({"updatedAt": "infinity"}, "legacy_bad_timestamp", ["updatedAt: not an ISO-8601"]),
    "lead-bc": ({"createdAt": "0044-03-15 00:00:00 BC"}, "legacy_bad_timestamp", ["createdAt: not an ISO-8601"]),
    "lead-pii": ({"ghlAppointmentId": "+1 555-010-7788"}, "legacy_pii_value", ["ghlAppointmentId: looks like"]),
}


def pg_source(pg_database) -> str:
    url = pg_database("ap_lead_src")
    types = {n: "timestamp(3)" for n, c in LEAD_COLUMNS.items() if c.sql_type == "timestamptz"}
    types["ghlContactId"] = "bigint"
    cols = ", ".join(f'"{n}" {types.get(n, "text")}' for n in ["email", *LEAD_COLUMNS])
    names = ["email", *LEAD_COLUMNS]
    with psycopg.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(False)) as con:
        con.execute(f'create table "Lead" ({cols}, "phone" text)')
        with con.cursor() as cur:
            for lead_id, (overrides, *_rest) in PG_LEADS.items():
                row = _row(lead_id, {**{"createdAt": "2025-01-02 09:00:00.123", "updatedAt": "2025-01-03 09:00:00"},
                                     **overrides})
                cur.execute(
                    f'insert into "Lead" ({", ".join(chr(34) + n + chr(34) for n in names)}) '
                    f'values ({", ".join(["%s"] * len(names))})',
                    [row[n] for n in names],
                )
    return url


def materialize_leads(warehouse_url: str, source_url: str, instance: DagsterInstance | None = None):
    return materialize(
        [defs.get_assets_def("raw_leads")],
        resources={
            **defs.resources,
            "warehouse": WarehouseResource(url=warehouse_url),
            "source_db": SourceDatabaseResource(url=source_url),
            "pipeline_settings": PipelineSettingsResource(hash_key="lead-values-key"),
        },
        instance=instance or DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


@pytest.fixture(scope="module")
def sources(tmp_path_factory, pg_database):
    return {
        "sqlite": (sqlite_source(tmp_path_factory.mktemp("src") / "app.sqlite"), SQLITE_LEADS),
        "postgres": (pg_source(pg_database), PG_LEADS),
    }


@pytest.mark.parametrize("source", ["sqlite", "postgres"])
def test_a_bad_value_rejects_its_lead_and_both_engines_store_the_same_rows(source, sources, tmp_path, pg_database):
    source_url, leads = sources[source]
    stored = {}
    for engine, url in (("duckdb", f"duckdb:///{tmp_path / 'wh.duckdb'}"), ("postgres", pg_database("ap_leadwh"))):
        result = materialize_leads(url, source_url)
        assert result.success, engine
        wh = Warehouse(url)
        stored[engine] = table_rows(wh, "raw_leads")
        rows = {r[0]: r for r in wh.query(
            "select lead_id, reject_reason, reject_detail, ghl_contact_id, ghl_appointment_id, calendly_invitee_uri, "
            "appointment_start_at, created_at, updated_at from raw_leads")}
        assert set(rows) == set(leads)  # no lead disappears
        for lead_id, (overrides, reason, fragments) in leads.items():
            _, got_reason, detail, *_ = rows[lead_id]
            assert got_reason == reason, (lead_id, detail)
            for fragment in fragments:
                assert fragment in detail
            for value in overrides.values():  # the rejected value is never echoed
                if reason and isinstance(value, str) and len(value) > 4:
                    assert value not in (detail or "")
        # integer keys keep their exact text
        assert rows["lead-good"][3] == "12345" and rows["lead-bigint"][3] == str(BIG_ID)
        # the rejected value is gone, the rest of the lead stays
        assert rows["lead-9999"][1] == "legacy_bad_timestamp"
        text_columns = [name for name, kind in wh.table_columns("raw_leads") if kind == "text"]
        values = " ".join(str(v) for row in wh.query(f"select {', '.join(text_columns)} from raw_leads") for v in row)
        assert "@" not in values and "\x00" not in values and "555" not in values
        metadata = result.asset_materializations_for_node("raw_leads")[0].metadata
        assert metadata["rejected"].value == sum(1 for _, reason, _ in leads.values() if reason)
    assert stored["duckdb"] == stored["postgres"]


def test_lead_rejects_reach_appointment_rejects(sources, small_demo, tmp_path):
    source_url, leads = sources["sqlite"]
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    result = materialize_range(
        date(2025, 1, 1), date(2025, 1, 1),
        resources={
            "warehouse": WarehouseResource(url=url),
            "source_db": SourceDatabaseResource(url=source_url),
            "landing_zone": defs.resources["landing_zone"].__class__(root=str(small_demo[1])),
            "pipeline_settings": PipelineSettingsResource(hash_key="lead-values-key",
                                                          reference_time="2025-01-20T00:00:00Z"),
        },
        instance=DagsterInstance.ephemeral(),
        # this "Lead" database has no "Appointment" table: the publish would rightly stop at its shape check
        selection=AssetSelection.all() - AssetSelection.groups("publish"),
        raise_on_error=False,
    )
    failed_checks = [e.asset_check_evaluation_data for e in result.all_events
                     if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed]
    assert result.success
    rejects = Warehouse(url).query(
        "select record_key, reason, detail from appointment_rejects where source = 'legacy' and file = 'Lead' "
        "and reason in ('legacy_bad_timestamp', 'legacy_bad_text', 'legacy_pii_value')")
    expected = {lead_id: reason for lead_id, (_, reason, _) in leads.items() if reason}
    assert {key: reason for key, reason, _ in rejects} == expected
    assert not [c for c in failed_checks if c.check_name in ("accepted_values_reason", "no_pii_in_text_columns")]


# -- nothing sensitive leaves through an error -------------------------------------------------------------------


def test_check_identifier_rejects_emails_and_phones_without_echoing_them():
    for value in ("https://api.calendly.com/scheduled_events/8b0e-9e7f94b59db0/invitees/1f2e", "FAKECON00012",
                  "a3f9c2d1e4b5", "12345", str(BIG_ID), None):
        assert check_identifier("contact_id", value) == value
    for value in (EMAIL, "+1 (555) 010-2233", "https://x.example/invitees/jane@example.com"):
        with pytest.raises(IdentifierLooksLikePii) as info:
            check_identifier("invitee uri", value)
        assert info.value.reason == "pii_in_identifier" and value not in str(info.value)
        assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_driver_errors_lose_their_values_on_both_engines(engine, tmp_path, pg_database):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_scrub")
    wh = Warehouse(url)
    with pytest.raises(ScrubbedDatabaseError) as info:
        wh.query("select cast(%s as integer) as contact_number", [EMAIL])
    error = info.value
    assert EMAIL not in str(error) and "example.com" not in str(error)
    assert error.__cause__ is None and error.__suppress_context__
    assert "reading the warehouse failed" in str(error)
    assert (error.sqlstate == "22P02") if engine == "postgres" else ("ConversionException" in str(error))


def test_scrub_message_keeps_names_and_drops_values():
    message = ('invalid input syntax for type bigint: "jane@example.com"\nCONTEXT:  COPY raw_leads, line 1, column '
               'ghl_contact_id: "jane@example.com"')
    assert scrub_message(message, ["raw_leads"]) == "invalid input syntax for type bigint: [value]"
    assert scrub_message('column "ghl_contact_id" is of type bigint', ["ghl_contact_id"]) == (
        'column "ghl_contact_id" is of type bigint')
    assert "555" not in scrub_message("Could not convert +1 555-010-2233 to INT32")


def instance_text(instance: DagsterInstance, root: Path) -> str:
    parts = []
    for run in instance.get_runs():
        parts.extend(str(r.event_log_entry) for r in instance.get_records_for_run(run.run_id).records)
    parts.extend(p.read_bytes().decode("utf-8", errors="replace") for p in root.rglob("*") if p.is_file())
    return "\n".join(parts)


def test_a_database_error_on_lead_never_copies_the_email_into_dagster(pg_database, tmp_path, capfd):
    """A "Lead" whose key column fails to convert in the database: the driver's message holds the email."""
    url = pg_database("ap_lead_fail")
    with psycopg.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(False)) as con:
        cols = ", ".join(f'null::text as "{n}"' for n in LEAD_COLUMNS if n not in ("id", "ghlContactId"))
        con.execute('create table lead_base (id text, email text)')
        con.execute("insert into lead_base values ('lead-1', 'ok@example.org'), ('lead-2', %s)", [EMAIL])
        con.execute(
            f'create view "Lead" as select id, email, '
            f"""case when email like '%lead@%' then cast(email as bigint) end as "ghlContactId", {cols} """
            "from lead_base"
        )
    home = tmp_path / "home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        result = materialize_leads(f"duckdb:///{tmp_path / 'wh.duckdb'}", url, instance)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        error = failure.step_failure_data.error.cause
        assert error.cls_name == "ScrubbedDatabaseError"
        assert "InvalidTextRepresentation" in error.message and "SQLSTATE 22P02" in error.message
        assert error.cause is None and error.context is None
        stored = instance_text(instance, home)
    captured = capfd.readouterr()
    assert "ScrubbedDatabaseError" in stored
    for text in (stored, captured.out, captured.err):
        assert EMAIL not in text and "lead@example.com" not in text


def test_a_warehouse_write_error_keeps_names_not_values(pg_database, small_demo):
    """A warehouse table someone altered: the load fails, the message names table and column, not the row."""
    url = pg_database("ap_wh_fail")
    wh = Warehouse(url)
    with wh.transaction() as con:
        con.execute("create table snapshot_partition_loads (provider text, snapshot_date date, ingest_source integer, "
                    "content_digest text, record_count bigint)")
    result = materialize(
        [defs.get_assets_def("raw_ghl_appointments")],
        partition_key="2025-01-01",
        resources={
            **defs.resources,
            "warehouse": WarehouseResource(url=url),
            "landing_zone": defs.resources["landing_zone"].__class__(root=str(small_demo[1])),
            "pipeline_settings": PipelineSettingsResource(hash_key="k"),
        },
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    error = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").step_failure_data.error.cause
    assert error.cls_name == "ScrubbedDatabaseError"
    assert "snapshot_partition_loads" in error.message and "column ingest_source" in error.message
    assert "MANUAL" not in error.message  # the row's value
    assert not wh.table_exists("raw_ghl_appointments") or wh.scalar("select count(*) from raw_ghl_appointments") == 0
