"""Scale: a larger demo through the whole graph, every asset check green. Slow: run with `pytest -m slow`."""

from __future__ import annotations

import pytest
from dagster import AssetCheckSeverity, DagsterInstance

from appointment_pipeline.demo import generate_demo
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import Inputs, run_pipeline

pytestmark = pytest.mark.slow


def test_twenty_thousand_leads_build_with_every_check_passing(tmp_path):
    inputs = Inputs(source_db_url=f"sqlite:///{tmp_path / 'app.sqlite'}", landing_dir=tmp_path / "landing")
    summary = generate_demo(inputs.source_db_url, inputs.landing_dir, leads=20_000, days=14, seed=21)
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    result = run_pipeline(url, inputs, summary.first_day, summary.last_day, instance=DagsterInstance.ephemeral())
    evaluations = result.get_asset_check_evaluations()
    failed = [(str(e.asset_key), e.check_name) for e in evaluations
              if not e.passed and e.severity == AssetCheckSeverity.ERROR]
    assert failed == []  # (snapshot freshness WARNs: the demo's days are long past)
    assert len(evaluations) > 80
    wh = Warehouse(url)
    lines = wh.scalar("select (select count(*) from raw_calendly_invitees) + (select count(*) from raw_ghl_appointments)")
    assert lines == summary.landing_lines
    assert wh.scalar("select count(*) from lead_appointment_rollups") > 10_000
