"""The scenario suite loaded one run per day, incrementally, gives the same tables as one full run of all days."""

from __future__ import annotations

from datetime import timedelta

import pytest

from appointment_pipeline.io.sql_project import load_project
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import empty_days_config, run_pipeline, table_snapshot
from scenarios.cases import REFERENCE_TIME
from scenarios.test_scenarios import FIRST_DAY, LAST_DAY, build, scenario_inputs  # noqa: F401 (fixture)

MODELS = load_project().order()


def build_modes(result) -> dict[str, str]:
    """Model -> the build mode its materialization reports."""
    materializations = [event.event_specific_data.materialization for event in result.get_asset_materialization_events()]
    return {m.asset_key.path[-1]: m.metadata["build_mode"].value for m in materializations if "build_mode" in m.metadata}


def build_day_by_day(url: str, inputs) -> tuple[Warehouse, list[dict]]:
    modes = []
    day = FIRST_DAY
    while day <= LAST_DAY:
        result = run_pipeline(url, inputs, day, day, reference_time=REFERENCE_TIME,
                              run_config=empty_days_config(inputs.landing_dir, day, day))
        modes.append(build_modes(result))
        day += timedelta(days=1)
    return Warehouse(url), modes


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_day_by_day_incremental_equals_full_build(engine, scenario_inputs, tmp_path, pg_database):  # noqa: F811
    if engine == "duckdb":
        incremental_url, full_url = f"duckdb:///{tmp_path / 'inc.duckdb'}", f"duckdb:///{tmp_path / 'full.duckdb'}"
    else:
        incremental_url, full_url = pg_database("ap_inc"), pg_database("ap_full")
    incremental, modes = build_day_by_day(incremental_url, scenario_inputs)
    full = build(full_url, scenario_inputs)
    assert all(mode == "full" for mode in modes[0].values())
    assert modes[1:] and all(set(day.values()) == {"incremental"} for day in modes[1:])
    assert table_snapshot(incremental, MODELS) == table_snapshot(full, MODELS)
