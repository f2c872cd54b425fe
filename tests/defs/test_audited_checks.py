"""The checks of a table rebuilt in the run report what the rebuild's audit found on the table it swapped in; a
failing test, or a check run without the rebuild, queries the table (count and sample)."""

from __future__ import annotations

from datetime import date

from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from appointment_pipeline.definitions import defs
from appointment_pipeline.io import advisory_counts
from appointment_pipeline.io.sql_project import load_project
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import Inputs, resources_for, run_pipeline

AUDITED = "this run's rebuild (audited before the swap)"
MODELS = sorted(load_project().models)


def evaluations(result) -> dict[tuple[str, str], object]:
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def test_declared_tests_report_the_audit_and_query_when_it_failed(small_demo, tmp_path):
    inputs = Inputs(*small_demo)
    days = sorted(date.fromisoformat(p.name) for p in inputs.landing_dir.glob("calendly/*") if p.is_dir())
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    checks = evaluations(run_pipeline(url, inputs, days[0], days[-1]))
    assert [key for key, e in checks.items() if not e.passed and key[1] != "snapshot_partition_fresh"] == []
    reported = {key for key, e in checks.items() if "evaluated_on" in e.metadata}
    # not_null and accepted_values of every model, and the reschedule rules of appointments, come from the audit
    assert ("appointments", "accepted_values_status") in reported
    assert ("appointments", "reschedule_links_acyclic") in reported
    assert ("int_calendly_events", "unique_scheduled_event_uri") in reported
    # a relationship to a table that is not upstream of the model is queried after the swap
    assert ("status_mappings", "relationships_status") not in reported

    wh = Warehouse(url)
    with wh.transaction() as con:  # an event status no seed knows: int_calendly_events' non-blocking test fails
        con.execute("update raw_calendly_invitees set event_status = 'paused' where event_status is not null")
    result = run_pipeline(url, inputs, days[0], days[-1], selection=MODELS, raise_on_error=False)
    failed = evaluations(result)[("int_calendly_events", "accepted_values_event_status")]
    assert not failed.passed and "evaluated_on" not in failed.metadata
    assert failed.metadata["failing_rows"].value > 0 and "paused" in failed.metadata["sample"].value

    alone = materialize(  # the same check without the rebuild: it queries the table
        [*(a for a in defs.assets or [] if hasattr(a, "check_specs")), *(defs.asset_checks or [])],
        selection=AssetSelection.checks_for_assets(AssetKey("int_calendly_events")),
        resources={**(defs.resources or {}), **resources_for(url, inputs)},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    outcome = evaluations(alone)
    assert not [key for key, e in outcome.items() if "evaluated_on" in e.metadata]
    assert outcome[("int_calendly_events", "accepted_values_event_status")].passed is False
    assert outcome[("int_calendly_events", "unique_scheduled_event_uri")].passed is True


def test_the_rollup_rule_samples_the_leads_an_incremental_build_rewrote(small_demo, tmp_path):
    inputs = Inputs(*small_demo)
    days = sorted(date.fromisoformat(p.name) for p in inputs.landing_dir.glob("calendly/*") if p.is_dir())
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    check = ("lead_appointment_rollups", "rollup_matches_python_rule")
    full = evaluations(run_pipeline(url, inputs, days[0], days[-2]))[check]
    assert full.passed and full.metadata["sampled_from"].value == "every lead with appointments"

    result = run_pipeline(url, inputs, days[-1], days[-1])  # the next day: an incremental build
    modes = {m.asset_key.to_user_string(): m.metadata["build_mode"].value for m in
             (e.event_specific_data.materialization for e in result.get_asset_materialization_events())
             if "build_mode" in m.metadata}
    assert modes["lead_appointment_rollups"] == "incremental"
    daily = evaluations(result)[check]
    in_scope = Warehouse(url).scalar(
        "select count(distinct lead_id) from appointments where lead_id in (select lead_id from model_scope_leads)")
    assert daily.passed and daily.metadata["sampled_from"].value == "the leads this run's incremental build rewrote"
    assert 0 < daily.metadata["leads_compared"].value == min(in_scope, 2000)
    assert daily.metadata["leads_compared"].value < full.metadata["leads_compared"].value


def test_advisory_counts_follow_an_incremental_update_exactly(small_demo, tmp_path):
    """A row-local advisory test after an update reports its count without a scan of the table: the count kept from
    the earlier build, minus the failing rows deleted, plus those inserted. It must equal a count on the table."""
    inputs = Inputs(*small_demo)
    days = sorted(date.fromisoformat(p.name) for p in inputs.landing_dir.glob("calendly/*") if p.is_dir())
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    wh = Warehouse(url)
    run_pipeline(url, inputs, days[0], days[-2])
    run_pipeline(url, inputs, days[-1], days[-1], selection=["raw_calendly_invitees"])
    # the new day's observation of an invitee seen before gets a status no seed knows (the staging rows of the
    # earlier days are kept as they are: only the new day's lines can have changed)
    with wh.transaction() as con:
        key = con.execute(
            "select min(invitee_uri) from raw_calendly_invitees where snapshot_date = ? and reject_reason is null "
            "and invitee_uri in (select invitee_uri from raw_calendly_invitees where snapshot_date < ? and "
            "reject_reason is null)", [days[-1], days[-1]]).fetchone()[0]
        planted = con.execute("update raw_calendly_invitees set invitee_status = 'paused' where invitee_uri = ? and "
                              "snapshot_date = ? and reject_reason is null", [key, days[-1]]).fetchone()[0]
    assert key and planted

    # the models alone: an extract of the day would load its lines again
    result = run_pipeline(url, inputs, days[-1], days[-1], selection=load_project().order(), raise_on_error=False)
    modes = {m.asset_key.to_user_string(): m.metadata["build_mode"].value for m in
             (e.event_specific_data.materialization for e in result.get_asset_materialization_events())
             if "build_mode" in m.metadata}
    assert modes["stg_calendly_invitees"] == "incremental"
    checks = evaluations(result)
    failed = checks[("stg_calendly_invitees", "accepted_values_invitee_status")]
    assert not failed.passed and "paused" in failed.metadata["sample"].value
    kept = checks[("stg_calendly_invitees", "not_null_invitee_uri")]
    assert kept.passed and kept.metadata["evaluated_on"].value.startswith("this run's incremental update")

    project = load_project()
    stored = {(m, t): n for m, t, n in wh.query("select model, test, failing_rows from model_test_failures")}
    with wh.session() as session, session.connect() as con:
        for name, model in project.models.items():
            tests = advisory_counts.counted_tests(model)
            on_table = advisory_counts.failing_rows(session, con, tests, name)
            assert {t: stored[(name, t)] for t in on_table} == on_table, name
    assert stored[("stg_calendly_invitees", "accepted_values_invitee_status")] == planted
