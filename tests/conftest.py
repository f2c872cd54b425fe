from __future__ import annotations

import pytest

from appointment_pipeline.demo import generate_demo
from appointment_pipeline.io.warehouse import Warehouse
from appointment_pipeline.settings import get_settings
from pipeline import DEMO_ARGS, Inputs, create_pg_database, drop_pg_database, run_pipeline


@pytest.fixture(autouse=True)
def fresh_settings():
    """Settings are read once per process: a test that changes the environment reads them again."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """A small deterministic demo (DEMO_ARGS): "Lead" table in SQLite and a landing zone of a week."""
    root = tmp_path_factory.mktemp("demo")
    inputs = Inputs(source_db_url=f"sqlite:///{root / 'app.sqlite'}", landing_dir=root / "landing")
    summary = generate_demo(inputs.source_db_url, inputs.landing_dir, **DEMO_ARGS)
    return inputs, summary


@pytest.fixture(scope="session")
def pg_database():
    """Factory of fresh PostgreSQL databases, all dropped at the end of the session."""
    created: list[str] = []

    def make(prefix: str = "ap_test") -> str:
        url = create_pg_database(prefix)
        created.append(url)
        return url

    yield make
    for url in created:
        drop_pg_database(url)


@pytest.fixture(scope="session")
def duckdb_built(demo, tmp_path_factory) -> Warehouse:
    """The demo materialized once into a DuckDB warehouse (the whole graph, all days as one run)."""
    inputs, summary = demo
    url = f"duckdb:///{tmp_path_factory.mktemp('wh') / 'warehouse.duckdb'}"
    run_pipeline(url, inputs, summary.first_day, summary.last_day)
    return Warehouse(url)


@pytest.fixture(scope="session")
def postgres_built(demo, pg_database) -> Warehouse:
    """The same demo materialized once into a PostgreSQL warehouse."""
    inputs, summary = demo
    url = pg_database("ap_built")
    run_pipeline(url, inputs, summary.first_day, summary.last_day)
    return Warehouse(url)


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """30 leads over three days for the operations tests: (source_db_url, landing_dir). Read-only: copy to change."""
    root = tmp_path_factory.mktemp("small_demo")
    source_db_url = f"sqlite:///{root / 'app.sqlite'}"
    generate_demo(source_db_url, root / "landing", leads=30, days=3, start=DEMO_ARGS["start"], seed=5)
    return source_db_url, root / "landing"


@pytest.fixture(scope="session")
def httpserver_listen_address():
    """pytest-httpserver on 127.0.0.1 (not "localhost", which may resolve to ::1 first)."""
    return ("127.0.0.1", 0)
