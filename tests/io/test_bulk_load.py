"""Warehouse.bulk_insert reads back exactly what it was given, awkward text and nulls included, on both engines."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pyarrow as pa
import pytest

from appointment_pipeline.io.warehouse import Warehouse

COLUMNS = [("label", "text"), ("n", "bigint"), ("flag", "boolean"), ("day", "date"), ("happened_at", "timestamptz")]
TEXTS = ["", None, 'say "hi"', "line\nbreak\r\nend", "comma, here", "back\\slash", "\\N", "NULL", "é😀", " padded ",
         '"', ",", "tab\there"]
TS = pa.timestamp("us", tz="UTC")


def awkward_rows() -> pa.Table:
    count = len(TEXTS)
    return pa.table({
        "label": pa.array(TEXTS, pa.string()),
        "n": pa.array([None if i == 2 else (-1) ** i * 2**62 + i for i in range(count)], pa.int64()),
        "flag": pa.array([None if i % 3 == 0 else i % 2 == 0 for i in range(count)], pa.bool_()),
        "day": pa.array([None if i == 4 else date(2024, 2, 29 - i) for i in range(count)], pa.date32()),
        "happened_at": pa.array(
            [None if i == 1 else datetime(2025, 1, 1, 23, 59, 59, 123456 + i, tzinfo=timezone.utc) for i in range(count)],
            TS,
        ),
    })


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def wh(request, tmp_path) -> Warehouse:
    if request.param == "duckdb":
        return Warehouse(f"duckdb:///{tmp_path / 'bulk.duckdb'}")
    return Warehouse(request.getfixturevalue("pg_database")("ap_bulk"))


def test_bulk_insert_round_trips_every_value(wh):
    data = awkward_rows()
    assert wh.replace_table_with_rows("bulk_probe", COLUMNS, data) == data.num_rows
    got = wh.query("select label, n, flag, day, happened_at from bulk_probe order by n nulls first, label")
    expected = sorted(
        (tuple(row[name] for name, _ in COLUMNS) for row in data.to_pylist()),
        key=lambda row: (row[1] is not None, row[1] or 0, row[0]),
    )
    assert [tuple(row) for row in got] == expected
    assert wh.scalar("select count(*) from bulk_probe where label is null") == 1  # null and "" stay apart
    assert wh.scalar("select count(*) from bulk_probe where label = ''") == 1
