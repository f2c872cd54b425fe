"""Failing-row counts of a model's advisory row-local tests, kept so an incremental update can report them exactly
without scanning the whole table (no Dagster imports).

A ``not_null`` or ``accepted_values`` test judges each row alone, so its failing rows are additive: after an update
that deleted the rows in scope and inserted their recomputation, the table fails on the count before, minus what
failed in scope, plus what fails among the new rows. Each write of the model stores the counts in its own
transaction (``model_test_failures``); a count that was never stored is taken on the whole table once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from appointment_pipeline.io.sql_project import DeclaredTest, SqlModel, transpile
from appointment_pipeline.io.warehouse import Warehouse

TABLE = "model_test_failures"
COLUMNS = [("model", "text"), ("test", "text"), ("failing_rows", "bigint")]
ROW_LOCAL = ("not_null", "accepted_values")


def counted_tests(model: SqlModel) -> list[DeclaredTest]:
    """The tests kept here: advisory (a blocking one never lets a failing row in) and judging each row alone."""
    return [t for t in model.tests if not t.blocking and t.kind in ROW_LOCAL]


def failing_rows(wh: Warehouse, con: Any, tests: Sequence[DeclaredTest], relation: str) -> dict[str, int]:
    """Test name -> rows of ``relation`` (a table or a parenthesized query with an alias) the test fails on, all
    counted in one scan."""
    if not tests:
        return {}
    return counted_rows(wh, con, tests, relation)[1]


def counted_rows(wh: Warehouse, con: Any, tests: Sequence[DeclaredTest], relation: str) -> tuple[int, dict[str, int]]:
    """(rows of ``relation``, test name -> the rows among them the test fails on), in one scan."""
    counts = ", ".join(["count(*)", *(f"count(*) filter (where {test.failing_row_condition()})" for test in tests)])
    row = con.execute(transpile(f"select {counts} from {relation}", wh.dialect)).fetchone()
    return int(row[0]), {test.name: int(count) for test, count in zip(tests, row[1:])}


def stored(wh: Warehouse, model: str) -> dict[str, int]:
    if not wh.table_exists(TABLE):
        return {}
    return {test: int(count) for test, count in
            wh.query(f"select test, failing_rows from {TABLE} where model = %s", [model])}


def store(wh: Warehouse, con: Any, model: str, counts: Mapping[str, int]) -> None:
    """In the transaction that writes the model."""
    wh.create_table_if_missing(con, TABLE, COLUMNS)
    wh.execute(con, f"delete from {TABLE} where model = %s", [model])
    for test, count in sorted(counts.items()):
        wh.execute(con, f"insert into {TABLE} values (%s, %s, %s)", [model, test, count])
