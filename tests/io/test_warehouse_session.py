"""Warehouse.session(): one connection for a block of reads and writes, no transaction left open between them."""

from __future__ import annotations

import pytest

from appointment_pipeline.io.warehouse import Warehouse


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def wh(request, tmp_path) -> Warehouse:
    if request.param == "duckdb":
        return Warehouse(f"duckdb:///{tmp_path / 'session.duckdb'}")
    return Warehouse(request.getfixturevalue("pg_database")("ap_session"))


def create_temp_table(wh: Warehouse) -> None:
    with wh.transaction() as con:  # a temporary table lives only as long as its connection
        con.execute("create temporary table session_probe (n integer)")
        con.execute("insert into session_probe values (1), (2)")


def test_a_session_reuses_one_connection(wh):
    with wh.session() as shared:
        create_temp_table(shared)
        assert shared.scalar("select sum(n) from session_probe") == 3
        assert shared.query("select count(*) from session_probe") == [(2,)]
        with shared.session() as nested:  # a nested session is the same one
            assert nested.scalar("select count(*) from session_probe") == 2
    with pytest.raises(Exception):  # a new connection does not see it: the session's was closed
        wh.scalar("select count(*) from session_probe")


def test_without_a_session_each_statement_has_its_own_connection(wh):
    create_temp_table(wh)
    with pytest.raises(Exception):
        wh.scalar("select count(*) from session_probe")


@pytest.mark.postgres
def test_a_postgres_session_holds_no_transaction_between_statements(pg_database):
    import psycopg

    wh = Warehouse(pg_database("ap_session"))
    idle = psycopg.pq.TransactionStatus.IDLE
    with wh.session() as shared:
        assert shared.scalar("select 1") == 1
        assert shared.shared_connection.info.transaction_status == idle  # its locks and snapshot are released
        with pytest.raises(Exception):
            shared.scalar("select * from no_such_table")
        assert shared.shared_connection.info.transaction_status == idle
        assert shared.scalar("select 2") == 2  # a failed statement does not poison the session


def test_a_duckdb_warehouse_connection_takes_the_memory_limit(tmp_path):
    from appointment_pipeline.defs.resources.resources import default_resources

    limited = Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}", memory_limit="300MB")
    assert limited.scalar("select current_setting('memory_limit')") in ("286.1 MiB", "300.0 MB")
    unlimited = Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    assert unlimited.scalar("select current_setting('memory_limit')") != limited.scalar(
        "select current_setting('memory_limit')")
    resource = default_resources()["warehouse"]
    assert resource.duckdb_memory_limit == "1.5GB"  # the documented default reaches the warehouse's connections


@pytest.mark.postgres
def test_a_postgres_warehouse_connection_plans_without_jit_and_with_the_work_mem(pg_database):
    from appointment_pipeline.io.warehouse import POSTGRES_WORK_MEM

    def settings(reader: Warehouse) -> list[tuple]:
        with reader.transaction() as con:  # a write transaction's, and a read's below
            written = con.execute("select current_setting('jit'), current_setting('work_mem')").fetchone()
        return [tuple(written), *reader.query("select current_setting('jit'), current_setting('work_mem')")]

    wh = Warehouse(pg_database("ap_session"))
    assert settings(wh) == [("off", POSTGRES_WORK_MEM)] * 2  # a connection per statement
    with wh.session() as shared:
        assert settings(shared) == [("off", POSTGRES_WORK_MEM)] * 2
