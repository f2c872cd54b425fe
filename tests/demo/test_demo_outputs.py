"""The demo's outputs: the \"Lead\" table on every engine, the PII it carries, the command line and its defaults."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from appointment_pipeline import demo
from appointment_pipeline.demo import EXTRA_LEAD_COLUMN, LEAD_COLUMNS, build_demo, generate_demo
from appointment_pipeline.settings import get_settings
from demo_oracle import read_landing, read_lines
from pipeline import PG_ADMIN_URL


PG_URL = PG_ADMIN_URL.set(drivername="postgresql+psycopg")


# ---------------------------------------------------------------------------------------------------- Lead table
def check_lead_table(engine: sa.Engine, expected_rows: int, *, schema: str | None = None) -> list[dict]:
    table = f'"{schema}"."Lead"' if schema else '"Lead"'
    with engine.connect() as conn:
        result = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))
        assert list(result.keys()) == [*LEAD_COLUMNS, EXTRA_LEAD_COLUMN]
        rows = [dict(r._mapping) for r in result]
        if engine.dialect.name == "sqlite":
            pk = [r[1] for r in conn.execute(sa.text('PRAGMA table_info("Lead")')) if r[5]]
        else:
            pk = [r[0] for r in conn.execute(sa.text(
                "SELECT kcu.column_name FROM information_schema.table_constraints tc "
                "JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name "
                "AND tc.table_name = kcu.table_name AND tc.table_schema = kcu.table_schema "
                "WHERE tc.table_name = 'Lead' AND tc.constraint_type = 'PRIMARY KEY' "
                "AND tc.table_schema = coalesce(:s, current_schema())"), {"s": schema})]  # fmt: skip
    assert pk == ["id"]
    assert len(rows) == expected_rows
    assert rows[0]["id"] == "lead_000001"
    return rows


def test_lead_table_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'app.sqlite'}"
    summary = generate_demo(url, tmp_path / "landing", leads=150, days=7)
    rows = check_lead_table(sa.create_engine(url), summary.leads)
    stamps = [row[c] for row in rows for c in demo.TIMESTAMP_COLUMNS if row[c] is not None]
    assert stamps and all(isinstance(s, str) and s[-6:] == "+00:00" and s[10] == "T" for s in stamps)
    assert any(row[EXTRA_LEAD_COLUMN] for row in rows)
    expected = sorted(build_demo(leads=150, days=7).lead_rows, key=lambda r: r["id"])
    as_text = [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in expected]
    assert rows == as_text


def test_lead_table_on_duckdb(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'app.duckdb'}"
    for _ in range(2):  # the second run replaces the first
        summary = generate_demo(url, tmp_path / "landing", leads=120, days=5)
    engine = sa.create_engine(url)
    rows = check_lead_table(engine, summary.leads)
    with engine.connect() as conn:
        types = dict(conn.execute(sa.text(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'Lead'")).fetchall())  # fmt: skip
    assert {types[c] for c in demo.TIMESTAMP_COLUMNS} == {"TIMESTAMP WITH TIME ZONE"}
    assert rows == sorted(build_demo(leads=120, days=5).lead_rows, key=lambda r: r["id"])
    engine.dispose()


@pytest.mark.postgres
def test_lead_table_on_postgres(tmp_path: Path) -> None:
    admin = sa.create_engine(PG_URL)
    schema = f"demo_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = PG_URL.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
        summary = generate_demo(url, tmp_path / "landing", leads=120, days=5)
        summary = generate_demo(url, tmp_path / "landing", leads=100, days=5)
        rows = check_lead_table(admin, summary.leads, schema=schema)
        with admin.connect() as conn:
            types = dict(conn.execute(sa.text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = 'Lead'"), {"s": schema}).fetchall())  # fmt: skip
        assert {types[c] for c in demo.TIMESTAMP_COLUMNS} == {"timestamp with time zone"}
        assert rows == sorted(build_demo(leads=100, days=5).lead_rows, key=lambda r: r["id"])
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


# ---------------------------------------------------------------------------------------------------- PII
def test_pii_values_are_written_and_complete(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    landing = tmp_path / "landing"
    summary = generate_demo(url, landing, leads=150, days=7)
    assert summary.pii_values
    text = "\n".join("\n".join(read_lines(p)) for p in sorted(landing.rglob("*")) if p.is_file())
    with sa.create_engine(url).connect() as conn:
        table = "\n".join(str(v) for r in conn.execute(sa.text('SELECT * FROM "Lead"')) for v in r if v is not None)
    lowered = (text + "\n" + table).lower()
    for value in summary.pii_values:
        assert value in text or value in table or ("@" in value and value in lowered), value
    same = build_demo(leads=150, days=7)
    records, events, _, _ = read_landing(same)
    written = set()
    for r in records:
        if r["provider"] == "calendly":
            inv = r["inv"]
            written.update((inv["email"], inv["name"], inv["text_reminder_number"]))
            written.update(m["user_email"] for m in r["ev"]["event_memberships"])
            if inv.get("cancellation"):
                written.add(inv["cancellation"]["canceled_by"])
        else:
            written.add(r["appt"]["title"].removeprefix("Consultation - "))
    for e in events:
        written.update(m["user_email"] for m in e["event"]["event_memberships"])
        written.update(g["email"] for g in e["event"]["event_guests"])
        if e["event"].get("cancellation"):
            written.add(e["event"]["cancellation"]["canceled_by"])
    # the webhooks that are not about an invitee carry personal data too (form answers, a contact, a host's name)
    other = set()
    for rel, no, _ in same.ignored:
        payload = json.loads(same.files[rel][no - 1])["payload"]
        other.update(qa["answer"] for qa in payload.get("questions_and_answers", []))
        other.update(payload.get(k) for k in ("email", "first_name", "last_name"))
        other.add((payload.get("profile") or {}).get("name"))
    other.discard(None)
    assert any("@" in v for v in other) and len(other) >= 5
    written.discard(None)
    assert written | other <= summary.pii_values
    for kind in ("@example.com", "+1 555-01"):
        assert any(kind in v for v in summary.pii_values)


# ---------------------------------------------------------------------------------------------------- CLI / defaults
def test_defaults_and_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    for name in ("APPOINTMENT_SOURCE_DB_URL", "APPOINTMENT_LANDING_DIR", "APPOINTMENT_PARTITIONS_START",
                 "APPOINTMENT_DATA_DIR"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert demo.default_source_db_url() == f"sqlite:///{tmp_path.resolve() / 'data' / 'demo_app.sqlite'}"
    assert demo.default_landing_dir() == tmp_path.resolve() / "data" / "landing"
    assert demo.default_partitions_start() == date(2025, 1, 1)

    assert demo.main(["--leads", "30", "--days", "3"]) == 0
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and "30 leads" in out
    assert (tmp_path / "data" / "demo_app.sqlite").exists()
    assert sorted(p.name for p in (tmp_path / "data" / "landing" / "ghl").iterdir()) == [
        "2025-01-01", "2025-01-02", "2025-01-03"]  # fmt: skip

    monkeypatch.setenv("APPOINTMENT_SOURCE_DB_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    monkeypatch.setenv("APPOINTMENT_LANDING_DIR", str(tmp_path / "env_landing"))
    monkeypatch.setenv("APPOINTMENT_PARTITIONS_START", "2025-02-10")
    get_settings.cache_clear()  # settings are read once per process
    assert demo.main(["--leads", "20", "--days", "2", "--seed", "1"]) == 0
    assert (tmp_path / "env.sqlite").exists()
    assert sorted(p.name for p in (tmp_path / "env_landing" / "calendly").iterdir()) == ["2025-02-10", "2025-02-11"]
    assert demo.main(["--leads", "20", "--days", "1", "--start", "2025-03-01", "--landing-dir",
                      str(tmp_path / "cli_landing"), "--source-db-url", f"sqlite:///{tmp_path / 'cli.sqlite'}"]) == 0  # fmt: skip
    assert [p.name for p in (tmp_path / "cli_landing" / "ghl").iterdir()] == ["2025-03-01"]
