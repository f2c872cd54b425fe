"""Audit before publish: a table that fails a blocking test is never swapped in; the previous one stays."""

from __future__ import annotations

import pyarrow as pa
import pytest

from appointment_pipeline.io.audits import pii_audit
from appointment_pipeline.io.sql_project import load_project
from appointment_pipeline.io.warehouse import AuditFailed, Warehouse
from pipeline import Inputs, run_pipeline, table_snapshot

ENGINES = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
MODELS = sorted(load_project().models)


def warehouse_url(engine: str, tmp_path, pg_database) -> str:
    return f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_audit")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_lead_without_id_stops_the_build_before_anything_is_published(engine, small_demo, tmp_path, pg_database):
    source_db_url, landing = small_demo
    inputs = Inputs(source_db_url=source_db_url, landing_dir=landing)
    url = warehouse_url(engine, tmp_path, pg_database)
    run_pipeline(url, inputs, *_days(landing))
    wh = Warehouse(url)
    before = table_snapshot(wh, MODELS)
    with wh.transaction() as con:  # a "Lead" row without id, as the application database let through
        wh.execute(con, "insert into raw_leads (lead_id, ghl_appointment_id, created_at, updated_at) "
                        "values (null, 'GHL-NO-LEAD', now(), now())")
    result = run_pipeline(url, inputs, *_days(landing), selection=MODELS, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["sql_models"]
    refused = failures[0].event_specific_data.error.message
    # the models that read every raw_leads row fail their audit, and everything downstream of them is not built
    audited = {"stg_leads", "stg_legacy_observations", "stg_legacy_rollups"}
    assert all(f"{model}: " in refused for model in audited), refused
    assert refused.count("not_null_lead_id") == 3, refused
    assert "appointments: not built: upstream" in refused, refused
    written = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert written and not written & audited  # the models apart from the failures' lineage were written
    assert table_snapshot(wh, MODELS) == before  # nothing downstream read the bad row, nothing was swapped
    assert not wh.table_exists("stg_leads__scratch")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_table_with_pii_is_not_swapped_in(engine, tmp_path, pg_database):
    wh = Warehouse(warehouse_url(engine, tmp_path, pg_database))
    columns = [("lead_id", "text"), ("note", "text")]
    wh.replace_table_with_rows("audited", columns, pa.table({"lead_id": ["a"], "note": ["fine"]}), audit=pii_audit(wh))
    leaked = pa.table({"lead_id": ["b"], "note": ["write to pat@example.com"]})
    with pytest.raises(AuditFailed, match="no_pii_in_text_columns.note"):
        wh.replace_table_with_rows("audited", columns, leaked, audit=pii_audit(wh))
    assert wh.query("select lead_id, note from audited") == [("a", "fine")]


def _days(landing):
    days = sorted({p.name for p in landing.glob("*/*") if p.is_dir()})
    from datetime import date

    return date.fromisoformat(days[0]), date.fromisoformat(days[-1])
