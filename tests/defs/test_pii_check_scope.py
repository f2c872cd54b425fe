"""The no_pii_in_text_columns checks look at what their run wrote: the blocking audit of a model's rebuild, of the
run's snapshot days, of the leads read; run alone they scan the whole table, so a leak in rows no run is writing is
still found."""

from __future__ import annotations

from datetime import date

import pytest
from dagster import AssetCheckKey, AssetKey, AssetSelection, DagsterInstance, materialize

from appointment_pipeline.definitions import defs
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import Inputs, resources_for, run_pipeline

ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
CHECK = "no_pii_in_text_columns"
SNAPSHOT = "raw_calendly_invitees"
LEAK = "write to pat@example.com"


def pii_evaluations(result) -> dict[str, object]:
    return {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations() if e.check_name == CHECK}


def run_check_alone(url: str, inputs: Inputs, table: str, tags: dict | None = None):
    """The check without its asset, as the UI's "execute check" launches it (``tags`` adds a partition range)."""
    result = materialize(
        [*(a for a in defs.assets or [] if hasattr(a, "check_specs")), *(defs.asset_checks or [])],
        selection=AssetSelection.checks(AssetCheckKey(AssetKey(table), CHECK)),
        resources={**(defs.resources or {}), **resources_for(url, inputs)},
        instance=DagsterInstance.ephemeral(),
        tags=tags or {},
        raise_on_error=False,
    )
    return pii_evaluations(result)[table]


def plant(wh: Warehouse, day: date) -> None:
    """An email in a text column of one loaded row of ``day``, written past every writer and its audit."""
    with wh.transaction() as con:
        wh.execute(
            con,
            f"update {SNAPSHOT} set event_status = %s where file = "
            f"(select min(file) from {SNAPSHOT} where snapshot_date = %s) and line = 1 and snapshot_date = %s",
            [LEAK, day, day],
        )


@pytest.mark.parametrize("engine", ENGINES)
def test_pii_checks_scan_what_the_run_wrote(engine, small_demo, tmp_path, pg_database):
    inputs = Inputs(*small_demo)
    days = sorted(date.fromisoformat(p.name) for p in inputs.landing_dir.glob("calendly/*") if p.is_dir())
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_pii_scope")
    wh = Warehouse(url)

    result = run_pipeline(url, inputs, days[0], days[-1])
    checks = pii_evaluations(result)
    assert checks and all(e.passed for e in checks.values())
    # every table the run wrote reports the blocking audit of what it wrote: a model's rebuild, the snapshot days
    # of the run, the leads of the read
    written = "this run's write (audited before its commit): "
    assert checks["appointments"].metadata["scope"].value.startswith("this run's rebuild")
    # appointments' text columns are all carried over from scanned upstream columns; drift's values are computed
    assert checks["appointments"].metadata["text_columns_scanned"].value == 0
    assert "lead_id" in checks["appointments"].metadata["columns_carried_over_by_lineage"].value
    assert checks["lead_rollup_drift"].metadata["text_columns_scanned"].value > 0
    assert checks[SNAPSHOT].metadata["scope"].value == f"{written}snapshot days {days[0]} .. {days[-1]}"
    assert checks[SNAPSHOT].metadata["text_columns_scanned"].value > 0
    assert checks["raw_leads"].metadata["scope"].value == f"{written}every lead (full read)"

    plant(wh, days[0])  # an old partition that the next run does not write
    result = run_pipeline(url, inputs, days[-1], days[-1], selection=[SNAPSHOT, "raw_leads"])
    outcomes = pii_evaluations(result)
    assert outcomes[SNAPSHOT].passed
    assert outcomes[SNAPSHOT].metadata["scope"].value == f"{written}snapshot days {days[-1]} .. {days[-1]}"
    assert outcomes["raw_leads"].metadata["scope"].value == f"{written}the leads this delta read"

    alone = run_check_alone(url, inputs, SNAPSHOT)  # run on its own: the whole table, the old day included
    assert not alone.passed and alone.metadata["scope"].value == "whole table"
    assert alone.metadata["columns_with_pii"].value == {"event_status": 1}

    plant(wh, days[-1])  # now in a day that a run for that day covers
    window = {"dagster/asset_partition_range_start": days[-1].isoformat(),
              "dagster/asset_partition_range_end": days[-1].isoformat()}
    in_window = run_check_alone(url, inputs, SNAPSHOT, tags=window)
    assert not in_window.passed and in_window.metadata["columns_with_pii"].value == {"event_status": 1}


def test_a_model_check_run_alone_scans_the_table(small_demo, tmp_path):
    inputs = Inputs(*small_demo)
    days = sorted(date.fromisoformat(p.name) for p in inputs.landing_dir.glob("calendly/*") if p.is_dir())
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    run_pipeline(url, inputs, days[0], days[-1])
    wh = Warehouse(url)
    with wh.transaction() as con:  # a leak written past the rebuild and its audit
        con.execute(f"update appointments set timezone = '{LEAK}' where id = (select min(id) from appointments)")
    alone = run_check_alone(url, inputs, "appointments")
    assert not alone.passed and alone.metadata["scope"].value == "whole table"
    assert alone.metadata["columns_with_pii"].value == {"timezone": 1}
