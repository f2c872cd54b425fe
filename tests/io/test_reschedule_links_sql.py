"""int_reschedule_links on hand-made upstream rows, on both engines: chains are followed, cycles are dropped."""

from __future__ import annotations

import pytest

from appointment_pipeline.io.sql_project import load_project
from appointment_pipeline.io.warehouse import Warehouse

MERGED_COLUMNS = ["id", "provider", "appointment_key", "lead_id", "ghl_calendar_id", "status", "canceled_at",
                  "created_at"]
MERGED = [
    # a Calendly chain a1 -> a2 -> a3, its halves given once from the old side and once from the new side
    ("a1", "CALENDLY", "ka1", "L1", None, "CANCELED", "2025-01-02 10:00+00", "2025-01-01 10:00+00"),
    ("a2", "CALENDLY", "ka2", "L1", None, "CANCELED", "2025-01-04 10:00+00", "2025-01-02 10:00+00"),
    ("a3", "CALENDLY", "ka3", "L1", None, "BOOKED", None, "2025-01-04 10:00+00"),
    # contradictory provider data: x1 and x2 each name the other as the new one, a cycle that is dropped
    ("x1", "CALENDLY", "kx1", "L2", None, "CANCELED", "2025-01-03 10:00+00", "2025-01-01 10:00+00"),
    ("x2", "CALENDLY", "kx2", "L2", None, "CANCELED", "2025-01-03 11:00+00", "2025-01-02 10:00+00"),
    # GHL: g2 is booked 3 days after g1 was canceled (a link); g3 comes 20 days after g2's cancellation (none)
    ("g1", "GHL", "kg1", "L3", "cal", "CANCELED", "2025-01-05 09:00+00", "2025-01-01 09:00+00"),
    ("g2", "GHL", "kg2", "L3", "cal", "CANCELED", "2025-01-06 09:00+00", "2025-01-08 09:00+00"),
    ("g3", "GHL", "kg3", "L3", "cal", "BOOKED", None, "2025-01-26 09:00+00"),
]
OBSERVATIONS = [  # (provider, appointment_key, old_invitee_uri, new_invitee_uri)
    ("CALENDLY", "ka1", None, "ka2"),
    ("CALENDLY", "ka3", "ka2", None),
    ("CALENDLY", "kx1", None, "kx2"),
    ("CALENDLY", "kx2", None, "kx1"),
]
EXPECTED = [("a2", "a1", "provider"), ("a3", "a2", "provider"), ("g2", "g1", "heuristic")]


def load_upstream(wh: Warehouse) -> None:
    with wh.transaction() as con:
        con.execute(
            "create table int_appointments_merged (id text, provider text, appointment_key text, lead_id text, "
            "ghl_calendar_id text, status text, canceled_at timestamptz, created_at timestamptz)"
        )
        con.execute("create table int_provider_observations "
                    "(provider text, appointment_key text, old_invitee_uri text, new_invitee_uri text)")
        placeholders = ", ".join(["%s"] * len(MERGED_COLUMNS))
        for row in MERGED:
            wh.execute(con, f"insert into int_appointments_merged ({', '.join(MERGED_COLUMNS)}) values ({placeholders})",
                       row)
        for row in OBSERVATIONS:
            wh.execute(con, "insert into int_provider_observations values (%s, %s, %s, %s)", row)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def upstream(request, tmp_path) -> Warehouse:
    if request.param == "duckdb":
        wh = Warehouse(f"duckdb:///{tmp_path / 'links.duckdb'}")
    else:
        wh = Warehouse(request.getfixturevalue("pg_database")("ap_links"))
    load_upstream(wh)
    return wh


def test_chains_are_followed_and_cycles_dropped(upstream):
    model = load_project().models["int_reschedule_links"]
    rows = upstream.query(model.render(upstream.dialect))
    assert sorted(rows) == EXPECTED
