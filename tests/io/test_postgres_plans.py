"""PostgreSQL plans of every SQL model over moderately sized inputs: no nested loop that compares rows quadratically.

A model rebuilt without fresh statistics was once planned as a semi join estimated at one row that compared 196
million pairs (int_reschedule_links). The pipeline builds the warehouse (ANALYZE after every rebuild), then each
model's query is explained twice: the planner's estimate, and its execution (EXPLAIN ANALYZE, under a statement
timeout) for the rows each nested loop really compared.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import make_url

from appointment_pipeline.domain.instants import parse_instant
from appointment_pipeline.io.sql_project import load_project
from pipeline import (
    DEMO_ARGS,
    REFERENCE_TIME,
    create_pg_database,
    demo_inputs,
    drop_pg_database,
    run_pipeline,
    shared_demo,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROJECT = load_project()
DEMO = {"leads": 3000, "days": 14, "seed": 23, "start": DEMO_ARGS["start"]}
MAX_NESTED_LOOP_WORK = 250_000  # inner rows over all loops; the largest sound join here is ~3x10^4, a quadratic one 10^6 and up
STATEMENT_TIMEOUT = "120s"


@pytest.fixture(scope="module")
def warehouse_url():
    root, summary = shared_demo("plans_demo", **DEMO)
    url = create_pg_database("ap_plans")
    try:
        run_pipeline(url, demo_inputs(root), summary.first_day, summary.last_day)
        yield url
    finally:
        drop_pg_database(url)


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))


def nested_loops(plan: dict):
    """Every Nested Loop node of a JSON plan, with its outer and inner children."""
    children = plan.get("Plans", [])
    if plan["Node Type"] == "Nested Loop":
        outer = next(c for c in children if c.get("Parent Relationship") == "Outer")
        inner = next(c for c in children if c.get("Parent Relationship") == "Inner")
        yield plan, outer, inner
    for child in children:
        yield from nested_loops(child)


def explain(con, sql: str, analyze: bool) -> dict:
    options = "analyze, format json" if analyze else "format json"
    return con.execute(f"explain ({options}) {sql}").fetchone()[0][0]["Plan"]


def test_every_model_table_was_analyzed_after_its_rebuild(warehouse_url):
    with connect(warehouse_url) as con:
        analyzed = dict(con.execute("select relname, last_analyze from pg_stat_user_tables").fetchall())
    assert {name: analyzed.get(name) for name in PROJECT.models if analyzed.get(name) is None} == {}


@pytest.mark.parametrize("model", PROJECT.order())
def test_no_model_is_planned_as_a_large_nested_loop(warehouse_url, model):
    sql = PROJECT.models[model].render("postgres", {"reference_time": parse_instant(REFERENCE_TIME)}
                                        if "reference_time" in PROJECT.models[model].parameters else {})
    with connect(warehouse_url) as con:
        con.execute(f"set statement_timeout = '{STATEMENT_TIMEOUT}'")  # a quadratic plan fails here, not hangs
        estimated = {
            f"{outer['Node Type']} x {inner['Node Type']}": outer["Plan Rows"] * inner["Plan Rows"]
            for _, outer, inner in nested_loops(explain(con, sql, analyze=False))
        }
        executed = {  # the inner side runs once per outer row: the pairs it produced were compared
            f"{outer['Node Type']} x {inner['Node Type']}": inner["Actual Loops"] * inner["Actual Rows"]
            for _, outer, inner in nested_loops(explain(con, sql, analyze=True))
        }
    assert {k: v for k, v in estimated.items() if v > MAX_NESTED_LOOP_WORK} == {}, estimated
    assert {k: v for k, v in executed.items() if v > MAX_NESTED_LOOP_WORK} == {}, executed


def test_the_measure_flags_a_quadratic_join(warehouse_url):
    """The measure above on a join that can only be a nested loop (an inequality): both figures are over."""
    sql = ("select count(*) from int_appointments_merged as a join int_appointments_merged as b "
           "on a.created_at < b.created_at and a.lead_id <> b.lead_id")
    with connect(warehouse_url) as con:
        (_, outer, inner), = nested_loops(explain(con, sql, analyze=False))
        assert outer["Plan Rows"] * inner["Plan Rows"] > MAX_NESTED_LOOP_WORK
        (_, outer, inner), = nested_loops(explain(con, sql, analyze=True))
        assert inner["Actual Loops"] * inner["Actual Rows"] > MAX_NESTED_LOOP_WORK
