"""The SQL model layer: inferred dependencies, transpilation, atomic rebuilds, declared tests as asset checks."""

from __future__ import annotations

import re
import shutil

import pytest
import sqlglot
from dagster import AssetCheckKey, AssetKey, AssetSelection, DagsterInstance, materialize

from appointment_pipeline.defs.quality.checks import run_declared_test
from appointment_pipeline.definitions import defs
from appointment_pipeline.defs.constants import EXTERNAL_TABLES
from appointment_pipeline.defs.resources.resources import PipelineSettingsResource, WarehouseResource
from appointment_pipeline.defs.transform.assets import build_model_assets
from appointment_pipeline.io.sql_project import ModelError, load_project, sql_project_root
from appointment_pipeline.io.warehouse import Warehouse

PROJECT = load_project()


def tables_read_by_text(sql: str) -> set[str]:
    """An independent reading of a model file: names after FROM/JOIN that are not its own CTEs."""
    body = re.sub(r"--[^\n]*", "", sql)
    body = re.sub(r"\bis\s+(not\s+)?distinct\s+from\b", " <> ", body, flags=re.I)
    ctes = set(re.findall(r"(?:with(?:\s+recursive)?|,)\s*([a-z_][a-z0-9_]*)\s+as\s+(?:not\s+)?(?:materialized\s*)?\(", body, flags=re.I))
    referenced = set(re.findall(r"\b(?:from|join)\s+([a-z_][a-z0-9_]*)\b(?!\s*\()", body, flags=re.I))
    return {name for name in referenced if name not in ctes}


@pytest.mark.parametrize("name", sorted(PROJECT.models))
def test_inferred_dependencies_match_the_tables_each_file_reads(name):
    model = PROJECT.models[name]
    assert model.upstream_tables == tables_read_by_text(model.sql)
    asset = defs.get_assets_def(AssetKey(name))
    assert set(asset.asset_deps[AssetKey(name)]) == {AssetKey(t) for t in model.upstream_tables}


def test_every_model_is_documented_and_every_table_is_known():
    PROJECT.validate(EXTERNAL_TABLES)
    for model in PROJECT.models.values():
        assert model.description
        assert list(model.columns) == list(model.output_columns), f"{model.name}: schema.yml columns out of order"
        assert all(model.columns.values()), f"{model.name}: a column without description"


def test_groups_follow_the_folders():
    for name, model in PROJECT.models.items():
        assert defs.get_assets_def(AssetKey(name)).group_names_by_key[AssetKey(name)] == model.layer


def test_parameters_are_bound_as_typed_literals():
    from datetime import datetime, timezone

    model = PROJECT.models["lead_appointment_rollups"]
    assert model.parameters == {"reference_time"}
    for dialect in ("duckdb", "postgres"):
        sql = model.render(dialect, {"reference_time": datetime(2025, 1, 1, tzinfo=timezone.utc)})
        parsed = sqlglot.parse_one(sql, read=dialect)
        assert not list(parsed.find_all(sqlglot.exp.Placeholder))
        assert "2025-01-01T00:00:00+00:00" in sql
    with pytest.raises(ModelError):
        model.render("duckdb", {})


def test_a_model_file_must_hold_one_select(tmp_path):
    for layer in ("staging", "intermediate", "marts"):
        (tmp_path / layer).mkdir()
    (tmp_path / "staging" / "stg_bad.sql").write_text("select 1 as a; select 2 as b")
    (tmp_path / "staging" / "schema.yml").write_text(
        "models:\n  - name: stg_bad\n    description: bad\n    columns: [{name: a, description: a}]\n"
    )
    with pytest.raises(ModelError):
        _ = load_project(tmp_path).models["stg_bad"].expression


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("- not_null: {blocking: true}", "- not_nul: {blocking: true}", 1), "unknown test 'not_nul'"),
        (lambda text: text.replace("    columns:", "    colums:", 1), "colums"),
        (lambda text: text.replace("{values: [GHL, CALENDLY]}", "{value: [GHL, CALENDLY]}", 1), "value"),
        (lambda text: text.replace("- name: stg_leads", "- name: stg_lead", 1), "stg_leads.sql: no description"),
    ],
    ids=["misspelled-test", "unknown-model-key", "unknown-test-argument", "undocumented-model"],
)
def test_schema_yml_mistakes_stop_loading_with_a_clear_error(tmp_path, edit, message):
    root = _copy_project(tmp_path)
    path = root / "staging" / "schema.yml"
    original = path.read_text()
    path.write_text(edit(original))
    assert path.read_text() != original  # the mistake was really planted
    with pytest.raises(ModelError, match=re.escape(message)):
        load_project(root)


@pytest.mark.parametrize(
    ("model", "sql_edit", "message"),
    [
        ("stg_leads", None, None),  # the shipped declaration: one input row per row
        ("stg_leads", lambda sql: sql.replace("from raw_leads", "from raw_leads where lead_id in "
                                               "(select lead_id from raw_leads group by lead_id)", 1), "group by"),
        ("stg_leads", lambda sql: sql.replace("    created_at\n", "    min(created_at) over (partition by email_hash) "
                                               "as created_at\n", 1), "a window function"),
        ("stg_leads", lambda sql: sql.replace("select\n", "select distinct\n", 1), "distinct"),
        ("stg_ghl_appointments", lambda sql: sql.replace("from raw_ghl_appointments",
                                                         "from raw_ghl_appointments, raw_leads", 1), "2 tables"),
    ],
    ids=["row-local", "aggregating", "windowed", "deduplicating", "two-inputs"],
)
def test_only_a_row_local_model_may_rebuild_just_its_changed_rows(tmp_path, model, sql_edit, message):
    """``incremental.changed`` keeps the scope's other rows as they are: only right when each row is computed from
    its own input row alone."""
    root = _copy_project(tmp_path)
    if sql_edit is not None:
        path = next(root.glob(f"*/{model}.sql"))
        original = path.read_text()
        path.write_text(sql_edit(original))
        assert path.read_text() != original
    project = load_project(root)
    if message is None:
        project.validate(EXTERNAL_TABLES)
        assert project.models[model].rebuilt == project.models[model].changed != project.models[model].scope
        return
    with pytest.raises(ModelError, match=re.escape(message)):
        project.validate(EXTERNAL_TABLES)


def test_a_missing_or_empty_sql_project_stops_loading(tmp_path):
    with pytest.raises(ModelError, match="holds no models"):
        load_project(tmp_path)
    for layer in ("staging", "intermediate", "marts"):
        (tmp_path / layer).mkdir()
    with pytest.raises(ModelError, match="holds no models"):
        load_project(tmp_path)


def test_column_lineage_names_source_columns(duckdb_built):
    model = PROJECT.models["appointments"]
    upstream = {t: dict(duckdb_built.table_columns(t)) for t in model.upstream_tables}
    lineage = model.column_lineage(upstream)
    assert set(lineage) == set(model.output_columns)
    assert lineage["rescheduled_from_id"] == [("int_reschedule_links", "rescheduled_from_id")]
    assert ("int_appointments_merged", "status") in lineage["status"]


def _copy_project(tmp_path):
    root = tmp_path / "sql"
    shutil.copytree(sql_project_root(), root)
    return root


def test_a_failing_model_leaves_the_previous_table_intact(tmp_path, duckdb_built):
    """Materialize a model through Dagster, break its SQL, materialize again: the run fails, the table stays."""
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    wh = Warehouse(url)
    with wh.transaction() as con:
        con.execute("create table raw_leads as select 'lead_1' as lead_id, 'h' as email_hash, 'c' as ghl_contact_id, "
                    "'g' as ghl_appointment_id, cast(null as text) as calendly_invitee_uri, now() as created_at")
    root = _copy_project(tmp_path)
    resources = {"warehouse": WarehouseResource(url=url), "pipeline_settings": PipelineSettingsResource(hash_key="k")}

    def run(project_root):
        load_project.cache_clear()
        project = load_project(project_root)
        (asset,) = build_model_assets(project)
        return materialize([asset], selection=["stg_leads"], resources=resources,
                           instance=DagsterInstance.ephemeral(), raise_on_error=False)

    assert run(root).success
    before = wh.query("select * from stg_leads")
    assert len(before) == 1
    path = root / "staging" / "stg_leads.sql"
    broken = path.read_text().replace("created_at\nfrom raw_leads", "cast('not a number' as integer) as created_at\nfrom raw_leads")
    assert broken != path.read_text()
    path.write_text(broken)
    result = run(root)
    load_project.cache_clear()
    assert not result.success
    assert wh.query("select * from stg_leads") == before
    assert not wh.table_exists("stg_leads__scratch")


def test_a_violated_declared_test_fails_its_asset_check(tmp_path, duckdb_built):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    wh = Warehouse(url)
    with wh.transaction() as con:
        con.execute(f"attach '{Warehouse(duckdb_built.url).url.split(':///', 1)[1]}' as built (read_only)")
        for table in ("appointments", "stg_leads"):
            con.execute(f"create table {table} as select * from built.{table}")
        con.execute("detach built")
    model = PROJECT.models["appointments"]
    models = defs.get_assets_def(AssetKey("appointments"))  # the models' step also runs their checks alone
    resources = {**defs.resources, "warehouse": WarehouseResource(url=url)}

    def run_checks():
        result = materialize(
            [models],
            selection=AssetSelection.checks_for_assets("appointments"),
            resources=resources,
            instance=DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
        return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}

    outcome = run_checks()
    assert outcome and all(outcome.values()), outcome
    with wh.transaction() as con:
        con.execute("insert into appointments select * from appointments limit 1")  # duplicate id and key
        con.execute("update appointments set status = 'PENDING' where id = (select min(id) from appointments)")
    outcome = run_checks()
    assert outcome["unique_id"] is False
    assert outcome["accepted_values_status"] is False
    assert outcome["not_null_lead_id"] is True
    result = run_declared_test(wh, next(t for t in model.tests if t.name == "unique_id"))
    assert result.metadata["failing_rows"].value == 1
    assert AssetCheckKey(AssetKey("appointments"), "unique_id") in models.check_keys


def _outside_code(text: str) -> str:
    return re.sub(r"```.*?```|`[^`]*`", "", text or "", flags=re.S)


def test_descriptions_show_in_the_ui_as_written():
    """Markdown renders `<word>` as an HTML tag and drops it: placeholders must sit in backticks."""
    texts = []
    for asset in defs.assets or []:
        for spec in getattr(asset, "specs", [asset]):  # an external source is a bare AssetSpec
            texts.append((spec.key.to_user_string(), spec.description))
        for check in getattr(asset, "check_specs", []):
            texts.append((check.name, check.description))
    for check in defs.asset_checks or []:
        for spec in check.check_specs:
            texts.append((spec.name, spec.description))
    for model in PROJECT.models.values():
        texts += [(f"{model.name}.{column}", text) for column, text in model.columns.items()]
    from appointment_pipeline.domain.parsing import CALENDLY, GHL

    texts += [(f"{p.table}.{c.name}", c.description) for p in (CALENDLY, GHL) for c in p.columns]
    assert len(texts) > 100
    swallowed = [(name, text) for name, text in texts if re.search(r"<[A-Za-z/]", _outside_code(text))]
    assert swallowed == []
