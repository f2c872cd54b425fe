"""Each step of a run opens at most one warehouse connection: its lookups, writes and checks share it."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from dagster import AssetCheckExecutionContext, AssetExecutionContext, DagsterInvariantViolationError

from appointment_pipeline.io.warehouse import Warehouse
from pipeline import Inputs, run_pipeline

ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


def current_step() -> str:
    for context_type in (AssetExecutionContext, AssetCheckExecutionContext):
        try:
            return context_type.get().op_execution_context.op_handle.name
        except DagsterInvariantViolationError:
            continue
    return "(outside a step)"


@pytest.mark.parametrize("engine", ENGINES)
def test_every_step_opens_at_most_one_connection(engine, small_demo, tmp_path, pg_database, monkeypatch):
    inputs = Inputs(*small_demo)
    days = sorted(date.fromisoformat(p.name) for p in inputs.landing_dir.glob("calendly/*") if p.is_dir())
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_connections")
    opened: Counter[str] = Counter()
    open_connection = Warehouse._open

    def counting_open(self):  # instrumentation only: the real connection is opened and used
        opened[current_step()] += 1
        return open_connection(self)

    monkeypatch.setattr(Warehouse, "_open", counting_open)
    for _ in range(2):  # the first run creates every table, the second replaces them
        opened.clear()
        result = run_pipeline(url, inputs, days[0], days[-1])
        assert result.success
        steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
        assert set(opened) <= steps  # every open happened inside a step of the run
        assert {step: n for step, n in opened.items() if n > 1} == {}
        # every model and its checks on one connection; a raw table's PII check reports its write's audit: none
        assert {"sql_models", "seed_tables", "raw_leads"} <= set(opened)
        assert not [step for step in opened if step.endswith("no_pii_in_text_columns")]
        assert sum(opened.values()) == len(opened) >= 7
