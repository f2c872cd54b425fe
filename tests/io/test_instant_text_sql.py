"""The warehouse's SQL writes an instant as the demo application's text exactly as ``sqlite_text`` does (the Python
rule is the oracle), on DuckDB and PostgreSQL: rounding half up to the millisecond, across second, day and year."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appointment_pipeline.io.app_database.connection import instants_as_sqlite_text
from appointment_pipeline.io.app_database.model import sqlite_text
from appointment_pipeline.io.warehouse import Warehouse

ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
EDGES = [
    datetime(2025, 1, 1, 0, 0, 0, 0, tzinfo=timezone.utc),
    datetime(2025, 1, 1, 0, 0, 0, 499, tzinfo=timezone.utc),
    datetime(2025, 1, 1, 0, 0, 0, 500, tzinfo=timezone.utc),
    datetime(2025, 1, 1, 12, 30, 59, 999_499, tzinfo=timezone.utc),
    datetime(2025, 1, 1, 12, 30, 59, 999_500, tzinfo=timezone.utc),
    datetime(2024, 12, 31, 23, 59, 59, 999_600, tzinfo=timezone.utc),  # rounds into the next year
    datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-5))),
    datetime(1999, 6, 15, 8, 5, 3, 123_456, tzinfo=timezone(timedelta(hours=9, minutes=30))),
]


def warehouse(engine: str, tmp_path, pg_database) -> Warehouse:
    return Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_instant_text"))


def as_text(wh: Warehouse, values: list[datetime | None]) -> list[str | None]:
    with wh.transaction() as con:
        con.execute("drop table if exists instants")
        con.execute("create table instants (n bigint, instant timestamptz)")
    with wh.transaction() as con:
        for i, v in enumerate(values):
            wh.execute(con, "insert into instants values (%s, %s)", [i, v])
    sql = instants_as_sqlite_text("select n, instant from instants", 2, [1], wh.dialect)
    return [text for _, text in sorted(wh.query(sql))]


@pytest.mark.parametrize("engine", ENGINES)
def test_edge_instants(engine, tmp_path, pg_database):
    wh = warehouse(engine, tmp_path, pg_database)
    values = [*EDGES, None]
    assert as_text(wh, values) == [sqlite_text(v) for v in values]


@pytest.mark.parametrize("engine", ENGINES)
def test_any_instant(engine, tmp_path, pg_database):
    wh = warehouse(engine, tmp_path, pg_database)

    @settings(max_examples=5, deadline=None)
    @given(st.lists(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31),
                                 timezones=st.just(timezone.utc)), min_size=1, max_size=40))
    def check(values):
        assert as_text(wh, values) == [sqlite_text(v) for v in values]

    check()
