"""DuckDB tables updated in place: deleted rows stay stored, whatever later checkpoints do, until
compact_if_bloated rewrites the table."""

from __future__ import annotations

import pytest

from appointment_pipeline.io.warehouse import DEAD_ROW_SHARE, Warehouse


def stored_rows(wh: Warehouse, table: str) -> int:
    return wh.scalar("select estimated_size from duckdb_tables() where table_name = %s", [table])


@pytest.fixture
def wh(tmp_path) -> Warehouse:
    return Warehouse(f"duckdb:///{tmp_path / 'compaction.duckdb'}")


def updated_in_place(wh: Warehouse, rows: int, every: int, of: int) -> None:
    """A table of several row groups (DuckDB merges none of the last few), ``every`` rows in ``of`` deleted all
    over it."""
    with wh.transaction() as con:
        con.execute(f"create table t as select range as n, md5(range::text) as s, null::timestamptz as seen_at "
                    f"from range({rows})")
    with wh.transaction() as con:
        con.execute(f"delete from t where n % {of} < {every}")
    with wh.connect() as con:
        con.execute("checkpoint")


def test_a_table_whose_deleted_rows_exceed_the_share_is_rewritten_without_them(wh):
    with wh.session() as session:
        updated_in_place(session, 1_000_000, 2, 5)
    with wh.session() as session:  # another database instance: a checkpoint of another table's write
        with session.transaction() as con:
            con.execute("create table other as select 1 as n")
        with session.connect() as con:
            con.execute("checkpoint")
    with wh.session() as session:
        assert stored_rows(session, "t") == 1_000_000  # the checkpoints kept the deleted rows
        rows = session.query("select n, s, seen_at from t order by n")
        types = session.table_columns("t")
        with session.transaction() as con:
            assert session.compact_if_bloated(con, "t")
        assert stored_rows(session, "t") == 600_000
        assert session.query("select n, s, seen_at from t order by n") == rows
        assert session.table_columns("t") == types


def test_a_table_within_the_share_is_left_as_it_is(wh):
    assert DEAD_ROW_SHARE == 0.5  # a third of the rows deleted: exactly half of the live rows
    with wh.session() as session:
        updated_in_place(session, 300_000, 1, 3)
        with session.transaction() as con:
            assert not session.compact_if_bloated(con, "t")
        assert stored_rows(session, "t") == 300_000
        assert session.scalar("select count(*) from t") == 200_000
