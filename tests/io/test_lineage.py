"""Column lineage (direct and indirect) from the SQL down to source fields, the export, the sources on the graph and
the PII proof, including a planted leak."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from appointment_pipeline.settings import get_settings
from dagster import AssetCheckKey, AssetKey, AssetSelection, AssetSpec, DagsterInstance, asset, materialize

from appointment_pipeline.defs.extract.assets import EMAIL_HASH_COLUMN, LEAD_COLUMNS, RAW_LEADS_COLUMNS
from appointment_pipeline.io.lineage import (
    EXPORT_PATH,
    FILTER,
    GROUP_BY,
    JOIN,
    WINDOW,
    build_lineage,
    export_json,
    project_lineage,
    sql_lineage,
)
from appointment_pipeline.defs.resources.resources import PipelineSettingsResource, WarehouseResource
from appointment_pipeline.defs.transform.assets import build_models_asset
from appointment_pipeline.defs.transform.lineage import PII_CHECK_NAME, build_pii_lineage_checks
from appointment_pipeline.io.warehouse import Warehouse
from appointment_pipeline.domain.parsing import CALENDLY, GHL, Reject, parse_calendly, parse_ghl
from appointment_pipeline.io.sources import CATALOG, SOURCE_ASSETS, Derivation, Pii, SourceCatalog
from appointment_pipeline.io.sql_project import load_project, sql_project_root
from appointment_pipeline.settings import get_settings

REPO = Path(__file__).resolve().parents[2]
SCHEMA = {
    "t": {"a": "int", "b": "int", "c": "int", "d": "int", "e": "int"},
    "u": {"k": "int", "x": "int", "y": "int"},
}


def deps_of(sql: str, column: str):
    deps = sql_lineage(sql, SCHEMA)[column]
    return deps.direct, {ref: kinds for ref, kinds in deps.indirect.items()}


# -- direct vs indirect on small hand-written queries ----------------------------------------------------------


def test_a_filter_column_is_indirect_not_direct():
    direct, indirect = deps_of("select a from t where b > 0", "a")
    assert direct == {("t", "a")}
    assert indirect == {("t", "b"): {FILTER}}


def test_an_aggregate_filter_column_is_indirect_not_direct():
    direct, indirect = deps_of("select a, max(b) filter (where c = 1) as m from t group by a", "m")
    assert direct == {("t", "b")}
    assert indirect == {("t", "c"): {FILTER}, ("t", "a"): {GROUP_BY}}


def test_indirect_columns_follow_the_cte_chain_to_the_tables():
    sql = """
        with picked as (select a, b from t where c = 1)
        select picked.a from picked inner join u on u.k = picked.b
    """
    direct, indirect = deps_of(sql, "a")
    assert direct == {("t", "a")}
    # t.c filters the CTE's rows, so it also decides which rows the join sees
    assert indirect == {("t", "c"): {FILTER, JOIN}, ("t", "b"): {JOIN}, ("u", "k"): {JOIN}}


def test_window_partition_and_order_decide_but_do_not_flow():
    sql = "select first_value(a) over (partition by b order by c) as v from t"
    direct, indirect = deps_of(sql, "v")
    assert direct == {("t", "a")}
    assert indirect == {("t", "b"): {WINDOW}, ("t", "c"): {WINDOW}}


def test_group_by_and_ranking_filters_are_indirect():
    direct, indirect = deps_of("select b, sum(a) as total from t group by b", "total")
    assert direct == {("t", "a")} and indirect == {("t", "b"): {GROUP_BY}}
    sql = """
        with ranked as (select a, row_number() over (partition by b order by c desc) as pick from t)
        select a from ranked where pick = 1
    """
    direct, indirect = deps_of(sql, "a")
    assert direct == {("t", "a")}
    assert set(indirect) == {("t", "b"), ("t", "c")}
    assert all(kinds == {FILTER, WINDOW} for kinds in indirect.values())


def test_union_branches_and_subquery_filters():
    direct, indirect = deps_of("select a from t union all select x from u where y = 1", "a")
    assert direct == {("t", "a"), ("u", "x")} and indirect == {("u", "y"): {FILTER}}
    direct, indirect = deps_of("select a from t where b in (select k from u where y = 2)", "a")
    assert direct == {("t", "a")}
    assert set(indirect) == {("t", "b"), ("u", "k"), ("u", "y")}


# -- the question of the issue: lead_appointment_rollups.appointment_start_at ---------------------------------


def test_rollup_start_answered_down_to_source_fields():
    lineage = project_lineage()
    hop = lineage.models["lead_appointment_rollups"]["appointment_start_at"]
    assert hop.direct == {("appointments", "start_at")}
    # every column that decides which appointment is the primary one is an indirect input
    for column in ("status", "canceled_at", "created_at", "status_changed_at", "id", "lead_id"):
        assert ("appointments", column) in hop.indirect, column

    trace = lineage.trace("lead_appointment_rollups", "appointment_start_at")
    assert trace.direct == {"calendly:scheduled_event.start_time", "ghl:startTime", "Lead:appointmentStartAt"}
    assert {("raw_calendly_invitees", "start_at"), ("raw_ghl_appointments", "start_at")} <= trace.raw_direct
    expected_indirect = {
        # status
        "calendly:status", "calendly:scheduled_event.status", "ghl:appointmentStatus", "Lead:appointmentStatus",
        # canceled_at
        "calendly:cancellation.created_at", "ghl:dateUpdated", "Lead:appointmentCanceledAt",
        # created_at (booking time)
        "calendly:created_at", "ghl:dateAdded", "Lead:appointmentBookedAt",
        # status_changed_at: when an observation was made
        "calendly:updated_at", "snapshot:day",
        # id: provider + key
        "calendly:uri", "ghl:id",
    }
    missing = expected_indirect - trace.indirect
    assert not missing, missing
    assert "calendly:status" not in trace.direct  # the status decides the row, it does not flow into the start


def test_every_model_column_has_a_trace_and_uses_only_declared_fields():
    lineage = project_lineage()
    for name in lineage.project.order():
        assert set(lineage.models[name]) == set(lineage.columns[name])
        for column in lineage.columns[name]:
            trace = lineage.trace(name, column)
            for entry in trace.direct | trace.indirect:
                assert entry.removesuffix(" (keyed hash)") in CATALOG.fields, entry


# -- the source declarations cannot go stale --------------------------------------------------------------------


def test_every_raw_column_is_mapped_to_source_fields():
    physical = {
        "raw_leads": [c.name for c in RAW_LEADS_COLUMNS],
        CALENDLY.table: [c.name for c in CALENDLY.columns],
        GHL.table: [c.name for c in GHL.columns],
    }
    assert set(CATALOG.raw_columns) == set(physical)
    for table, columns in physical.items():
        assert set(CATALOG.raw_columns[table]) == set(columns), table
    assert CATALOG.problems() == []
    for lead_column, raw in LEAD_COLUMNS.items():
        assert CATALOG.raw_columns["raw_leads"][raw.name] == Derivation(direct=(f"Lead:{lead_column}",))
    assert CATALOG.raw_columns["raw_leads"][EMAIL_HASH_COLUMN.name] == Derivation(("Lead:email",), keyed_hash=True)


CALENDLY_LINE = {
    "event": "invitee.canceled",
    "created_at": "2025-03-05T09:12:00.000000Z",
    "created_by": "https://api.calendly.com/users/A1",
    "payload": {
        "uri": "https://api.calendly.com/scheduled_events/E1/invitees/I1",
        "email": "pat.example@example.com",
        "name": "Pat Example",
        "first_name": "Pat",
        "last_name": "Example",
        "status": "canceled",
        "timezone": "America/Chicago",
        "event": "https://api.calendly.com/scheduled_events/E1",
        "created_at": "2025-03-03T15:00:01.987654Z",
        "updated_at": "2025-03-05T09:11:59.500000Z",
        "questions_and_answers": [{"question": "Topic?", "answer": "Call me at +1 555-010-0000", "position": 0}],
        "tracking": {"utm_source": "newsletter"},
        "text_reminder_number": "+1 555-010-0000",
        "rescheduled": False,
        "old_invitee": "https://api.calendly.com/scheduled_events/E0/invitees/I0",
        "new_invitee": None,
        "cancel_url": "https://calendly.com/cancellations/I1",
        "reschedule_url": "https://calendly.com/reschedulings/I1",
        "cancellation": {
            "canceled_by": "Pat Example",
            "reason": "Schedule conflict",
            "canceler_type": "invitee",
            "created_at": "2025-03-05T09:11:59.400000Z",
        },
        "scheduled_event": {
            "uri": "https://api.calendly.com/scheduled_events/E1",
            "name": "30 Minute Meeting",
            "meeting_notes_plain": "bring the contract",
            "meeting_notes_html": "<p>bring the contract</p>",
            "status": "canceled",
            "start_time": "2025-03-10T16:00:00.000000Z",
            "end_time": "2025-03-10T16:30:00.000000Z",
            "location": {"type": "physical", "location": "1 Main St", "join_url": "https://meet.example.com/x"},
            "event_memberships": [{"user_email": "host@example.com", "user_name": "Host Example"}],
            "event_guests": [{"email": "guest@example.com"}],
            "cancellation": {"canceled_by": "Pat Example", "reason": "Conflict", "canceler_type": "invitee"},
        },
    },
}
GHL_LINE = {
    "type": "AppointmentUpdate",
    "locationId": "LOC1",
    "appointment": {
        "id": "APPT1",
        "address": "https://meet.example.com/xyz",
        "title": "Pat Example",
        "calendarId": "CAL1",
        "contactId": "CONTACT1",
        "appointmentStatus": "cancelled",
        "notes": "Prefers afternoon calls",
        "description": "first call",
        "createdBy": {"userId": "U1", "name": "Host Example"},
        "startTime": "2025-03-10T10:00:00-06:00",
        "endTime": "2025-03-10T10:30:00-06:00",
        "dateAdded": "2025-03-03T09:00:01-06:00",
        "dateUpdated": "2025-03-05T08:15:40-06:00",
    },
}
WRAPPERS = {"calendly": ("payload", CALENDLY_LINE, parse_calendly), "ghl": ("appointment", GHL_LINE, parse_ghl)}


def _set_path(obj, path: list[str], change) -> bool:
    """Change the value at a dotted path (through lists); False when the sample does not hold it."""
    if isinstance(obj, list):
        return any([_set_path(item, path, change) for item in obj])
    if not isinstance(obj, dict) or path[0] not in obj:
        return False
    if len(path) == 1:
        obj[path[0]] = change(obj[path[0]])
        return True
    return _set_path(obj[path[0]], path[1:], change)


def _parse_with(system: str, path: str, change):
    wrapper, line, parse = WRAPPERS[system]
    changed = copy.deepcopy(line)
    parts = path.split(".")
    target, parts = (changed, parts[1:]) if parts[0] == "envelope" else (changed[wrapper], parts)
    if not _set_path(target, parts, change):
        return None
    return parse(changed, "test-key")


def _altered(value):
    if isinstance(value, str):
        return value[:-1] + ("Q" if value[-1:] != "Q" else "R")
    if isinstance(value, (dict, list)):
        return json.loads(json.dumps(value).replace("e", "o"))
    return value


@pytest.mark.parametrize("system", ["calendly", "ghl"])
def test_personal_fields_change_no_raw_column_but_the_hash(system):
    """The declarations are checked against the parser: altering a personal field of a realistic record changes
    only the raw columns declared to come from it through the keyed hash (none for anything but the email)."""
    wrapper, line, parse = WRAPPERS[system]
    table = CALENDLY.table if system == "calendly" else GHL.table
    before = parse(copy.deepcopy(line), "test-key")
    personal = [f for f in CATALOG.fields.values() if f.system == system and f.pii is not Pii.NONE]
    exercised = 0
    for source in personal:
        after = _parse_with(system, source.path, _altered)
        if after is None:
            continue
        exercised += 1
        changed = {column for column in before if before[column] != after[column]}
        allowed = {
            column
            for column, derivation in CATALOG.raw_columns[table].items()
            if derivation.keyed_hash and source.id in derivation.direct
        }
        assert changed <= allowed, (source.id, changed)
        if allowed:
            assert changed == allowed, source.id  # the hash really is computed from it
    assert exercised == len(personal), "add the new personal field to the sample record above"


@pytest.mark.parametrize("system", ["calendly", "ghl"])
def test_declared_single_sources_really_feed_their_raw_column(system):
    """A raw column declared to come from exactly one field changes when that field changes."""
    wrapper, line, parse = WRAPPERS[system]
    table = CALENDLY.table if system == "calendly" else GHL.table
    before = parse(copy.deepcopy(line), "test-key")
    checked = 0
    for column, derivation in CATALOG.raw_columns[table].items():
        if len(derivation.direct) != 1 or not derivation.direct[0].startswith(f"{system}:"):
            continue
        path = derivation.direct[0].split(":", 1)[1]

        def change(value):
            if isinstance(value, str) and value[:4].isdigit() and "T" in value:  # a time: one hour later
                return value[:11] + f"{(int(value[11:13]) + 1) % 24:02d}" + value[13:]
            return _altered(value) if isinstance(value, str) else value

        try:
            after = _parse_with(system, path, change)
        except Reject:
            continue  # an enum value cannot be altered freely
        if after is None or after == before:
            continue
        assert before[column] != after[column], (column, path)
        checked += 1
    assert checked >= 8


# -- export ------------------------------------------------------------------------------------------------------


def test_export_is_deterministic_across_processes(tmp_path):
    outputs = []
    for seed in ("1", "2"):
        target = tmp_path / f"lineage-{seed}.json"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-m", "appointment_pipeline.io.lineage", "export", str(target)],
            cwd=REPO, env=env, check=True, capture_output=True, timeout=120,
        )
        outputs.append(target.read_text())
    assert outputs[0] == outputs[1]
    data = json.loads(outputs[0])
    assert data["models"]["lead_appointment_rollups"]["appointment_start_at"]["direct"] == ["appointments.start_at"]


def test_committed_lineage_equals_a_fresh_export():
    fresh = export_json(build_lineage())
    committed = EXPORT_PATH.read_text() if EXPORT_PATH.exists() else ""
    assert committed == fresh, (
        "docs/lineage.json differs from the lineage of the current SQL and source declarations. Review the change, "
        "then regenerate it with: python -m appointment_pipeline.io.lineage export"
    )


# -- the PII proof -----------------------------------------------------------------------------------------------


def run_pii_check(lineage) -> tuple[dict[str, bool], bool]:
    """Execute the Dagster check in-process with nothing but the check: no warehouse, no rows."""
    checks = build_pii_lineage_checks(lineage)
    stand_ins = [AssetSpec(table) for table in lineage.tables()]
    result = materialize(
        [*stand_ins, *checks],
        selection=AssetSelection.checks(*checks),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,  # a failed blocking check fails the run: that is what a leak should do
    )
    return {e.asset_key.to_user_string(): e.passed for e in result.get_asset_check_evaluations()}, result.success


def test_the_real_project_passes_the_pii_proof():
    lineage = project_lineage()
    proof = lineage.pii_proof()
    assert proof.passed, proof.as_dict()
    # the email reaches the warehouse only as the keyed hash, and the hash is used (to match leads)
    trace = lineage.trace("int_appointment_leads", "lead_id")
    assert "calendly:email (keyed hash)" in trace.indirect
    outcomes, run_succeeded = run_pii_check(lineage)
    assert run_succeeded
    assert set(outcomes) == set(lineage.tables()) and all(outcomes.values())


def leak_catalog(catalog: SourceCatalog, derivation: Derivation) -> SourceCatalog:
    """A parser change: the Calendly extract now also keeps a raw column ``invitee_name``."""
    raw = {table: dict(columns) for table, columns in catalog.raw_columns.items()}
    raw[CALENDLY.table]["invitee_name"] = derivation
    return replace(catalog, raw_columns=raw)


def project_with_model(tmp_path, sql: str):
    """The real models plus one staging model of invitee names (uncached: each test writes its own)."""
    root = tmp_path / "dbt_like_sql"
    shutil.copytree(sql_project_root(), root)
    (root / "staging" / "stg_invitee_names.sql").write_text(sql)
    docs = root / "staging" / "schema.yml"
    docs.write_text(
        docs.read_text()
        + "\n  - name: stg_invitee_names\n    description: Invitee names for a sales report.\n    columns:\n"
        + "      - name: invitee_uri\n        description: The invitee.\n"
        + "      - name: display_name\n        description: The name to show.\n"
    )
    return load_project.__wrapped__(root)


def test_a_planted_name_leak_fails_the_check(tmp_path):
    project = project_with_model(
        tmp_path,
        "with invitees as (select invitee_uri, invitee_name, reject_reason from raw_calendly_invitees)\n"
        "select invitee_uri, upper(invitee_name) as display_name from invitees where reject_reason is null\n",
    )
    lineage = build_lineage(project, leak_catalog(CATALOG, Derivation(direct=("calendly:name",))))
    proof = lineage.pii_proof()
    assert not proof.passed
    leaked = {(f.table, f.column, f.field) for f in proof.violations}
    assert leaked == {
        (CALENDLY.table, "invitee_name", "calendly:name"),
        ("stg_invitee_names", "display_name", "calendly:name"),
    }
    outcomes, run_succeeded = run_pii_check(lineage)
    assert not run_succeeded  # the check is blocking: the run that carries it fails
    assert outcomes[CALENDLY.table] is False and outcomes["stg_invitee_names"] is False
    assert outcomes["appointments"] is True and outcomes["lead_appointment_rollups"] is True


def test_the_leak_check_stops_the_models_downstream_in_the_same_run(tmp_path):
    project = project_with_model(
        tmp_path, "select invitee_uri, invitee_name as display_name from raw_calendly_invitees\n"
    )
    lineage = build_lineage(project, leak_catalog(CATALOG, Derivation(direct=("calendly:name",))))
    checks = {next(iter(c.check_keys)).asset_key.to_user_string(): c for c in build_pii_lineage_checks(lineage)}
    built = []

    @asset(name=CALENDLY.table)
    def raw():  # stands in for the extract: no warehouse needed to see the order of events
        built.append(CALENDLY.table)

    @asset(name="stg_invitee_names", deps=[raw])
    def names():
        built.append("stg_invitee_names")

    result = materialize(
        [raw, names, checks[CALENDLY.table], checks["stg_invitee_names"]],
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    assert built == [CALENDLY.table]  # the model reading the leaked column never ran


def test_the_models_step_does_not_write_a_model_whose_lineage_leaks(tmp_path):
    """In the models' step the proof comes first: the leaking model and its downstream are not written at all."""
    project = project_with_model(
        tmp_path, "select invitee_uri, invitee_name as display_name from raw_calendly_invitees\n"
    )
    lineage = build_lineage(project, leak_catalog(CATALOG, Derivation(direct=("calendly:name",))))
    models = build_models_asset(project, lineage)
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    wh = Warehouse(url)
    with wh.transaction() as con:  # the leaked column exists, with a name in it: only the proof can stop it
        con.execute(f"create table {CALENDLY.table} (invitee_uri text, invitee_name text)")
        con.execute(f"insert into {CALENDLY.table} values ('u1', 'Pat Doe')")
    result = materialize(
        [models],
        selection=AssetSelection.assets("stg_invitee_names"),
        resources={"warehouse": WarehouseResource(url=url), "pipeline_settings": PipelineSettingsResource(hash_key="k")},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    proof = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert proof[PII_CHECK_NAME] is False
    assert not result.get_asset_materialization_events()
    assert not wh.table_exists("stg_invitee_names")


def test_a_personal_field_that_only_filters_is_reported_not_failed(tmp_path):
    project = project_with_model(
        tmp_path,
        "with invitees as (select invitee_uri, invitee_name from raw_calendly_invitees)\n"
        "select invitee_uri, invitee_uri as display_name from invitees where invitee_name is not null\n",
    )
    proof = build_lineage(project, leak_catalog(CATALOG, Derivation(direct=("calendly:name",)))).pii_proof()
    assert {(f.table, f.column) for f in proof.violations} == {(CALENDLY.table, "invitee_name")}
    decided = {(f.table, f.column) for f in proof.indirect if f.field == "calendly:name"}
    assert {("stg_invitee_names", "display_name"), ("stg_invitee_names", "invitee_uri")} <= decided
    # the same raw column holding a keyed email hash instead is fine everywhere
    hashed = leak_catalog(CATALOG, Derivation(direct=("calendly:email",), keyed_hash=True))
    assert build_lineage(project, hashed).pii_proof().passed


def test_a_keyed_hash_of_anything_but_an_email_is_refused():
    raw = {table: dict(columns) for table, columns in CATALOG.raw_columns.items()}
    raw[GHL.table]["contact_id"] = Derivation(direct=("ghl:title",), keyed_hash=True)
    catalog = SourceCatalog(raw_columns=raw)
    assert catalog.problems()
    assert not build_lineage(catalog=catalog).pii_proof().passed


# -- the asset graph ---------------------------------------------------------------------------------------------


def test_sources_are_external_assets_upstream_of_the_raw_tables():
    from appointment_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    source_keys = {AssetKey(s.key) for s in SOURCE_ASSETS}
    for key in source_keys:
        node = graph.get(key)
        assert not node.is_materializable and node.group_name == "sources" and node.description
    parents = {table: {k.to_user_string() for k in graph.get(AssetKey(table)).parent_keys} for table in CATALOG.raw_columns}
    assert parents == {
        "raw_leads": {"app_lead_table"},
        CALENDLY.table: {"calendly_landing_zone", "calendly_api"},
        GHL.table: {"ghl_landing_zone", "ghl_api"},
    }
    # a run of "everything" still runs only what can be materialized
    assert not source_keys & set(graph.materializable_asset_keys)
    job = defs.resolve_job_def("reconcile_job")
    assert not source_keys & set(job.asset_layer.selected_asset_keys)


def test_model_pages_carry_sql_and_lineage():
    from appointment_pipeline.definitions import defs

    key = AssetKey("lead_appointment_rollups")
    metadata = defs.get_assets_def(key).specs_by_key[key].metadata
    assert metadata["sql"].value.startswith("```sql\n") and "row_number()" in metadata["sql"].value
    deps = metadata["dagster/column_lineage"].deps_by_column["appointment_start_at"]
    assert [(d.asset_key, d.column_name) for d in deps] == [(AssetKey("appointments"), "start_at")]
    page = metadata["lineage_to_source"].value
    row = next(line for line in page.splitlines() if line.startswith("| `appointment_start_at`"))
    assert "`scheduled_event.start_time`" in row and "`startTime`" in row and "`appointmentStartAt`" in row
    assert "`appointments.status` (filter, window)" not in page  # that is the one-hop table
    assert "`appointments.status` (filter/join/window)" in metadata["column_lineage"].value
    raw_key = AssetKey(CALENDLY.table)
    raw_lineage = defs.get_assets_def(raw_key).specs_by_key[raw_key].metadata["dagster/column_lineage"]
    start = {(d.asset_key.to_user_string(), d.column_name) for d in raw_lineage.deps_by_column["start_at"]}
    assert start == {("calendly_landing_zone", "scheduled_event.start_time"), ("calendly_api", "scheduled_event.start_time")}
    checks = {k for k in defs.resolve_asset_graph().asset_check_keys if k.name == PII_CHECK_NAME}
    assert AssetCheckKey(key, PII_CHECK_NAME) in checks and AssetCheckKey(raw_key, PII_CHECK_NAME) in checks


def test_an_undeclared_source_field_is_a_problem():
    raw = {table: dict(columns) for table, columns in CATALOG.raw_columns.items()}
    raw[GHL.table]["calendar_id"] = Derivation(direct=("ghl:calendarName",))
    proof = build_lineage(catalog=SourceCatalog(raw_columns=raw)).pii_proof()
    assert not proof.passed and any("ghl:calendarName" in p for p in proof.problems)


def test_a_model_reading_an_undeclared_raw_column_fails_the_proof_not_the_load(tmp_path):
    project = project_with_model(
        tmp_path, "select invitee_uri, guest_names as display_name from raw_calendly_invitees\n"
    )
    lineage = build_lineage(project, CATALOG)  # loads: the rest of the graph still has its lineage
    assert lineage.models["lead_appointment_rollups"]["appointment_start_at"].direct
    proof = lineage.pii_proof()
    assert not proof.passed and any("stg_invitee_names" in p and "sources.py" in p for p in proof.problems)


def test_the_disk_cache_gives_the_same_lineage(tmp_path, monkeypatch):
    import appointment_pipeline.io.lineage as lineage_module

    monkeypatch.setenv("APPOINTMENT_LINEAGE_CACHE", "off")
    get_settings.cache_clear()  # settings are read once per process
    monkeypatch.setattr(lineage_module, "_MODEL_CACHE", {})
    computed = export_json(build_lineage())
    monkeypatch.setenv("APPOINTMENT_LINEAGE_CACHE", str(tmp_path))
    get_settings.cache_clear()
    monkeypatch.setattr(lineage_module, "_MODEL_CACHE", {})
    assert export_json(build_lineage()) == computed  # written
    files = sorted(tmp_path.glob("*.json"))
    assert len(files) == len(load_project().models)
    files[0].write_text("{not json")  # a damaged entry is recomputed, not trusted
    monkeypatch.setattr(lineage_module, "_MODEL_CACHE", {})
    assert export_json(build_lineage()) == computed  # read back


def test_value_preserving_columns_are_told_apart_from_computed_ones():
    """A column whose every value is an upstream column's value (or a literal) needs no PII scan of its own; a
    computed one does: concatenation, a cast, a replacement, an aggregate that joins values."""
    schema = {"t": {"a": "text", "b": "text", "c": "text", "n": "text"}}
    lineage = sql_lineage(
        "with u as (select a, b, c, n, upper(trim(b)) as ub from t) "
        "select a, lower(a) as la, coalesce(a, 'none') as ca, case when c = 'x' then ub else 'lit' end as cs, "
        "nullif(a, '') as na, a || b as ab, cast(n as text) as nt, min(a) over (partition by b) as wa, "
        "replace(a, 'x', '@') as ra, trim(a, 'x') as ta, last_value(ub) over (order by c) as lv, "
        "string_agg(a, ',') over () as sa, cast(null as text) as nn from u",
        schema,
    )
    assert {column for column, deps in lineage.items() if deps.preserving} == {"a", "la", "ca", "cs", "na", "wa", "lv", "nn"}


def test_the_models_audit_skips_only_columns_carried_over_from_scanned_ones(tmp_path):
    from appointment_pipeline.io.audits import PII_AUDIT, PII_CARRIED, model_audit

    lineage = project_lineage()
    model = lineage.project.models["stg_legacy_observations"]
    carried = {c for c, d in lineage.models[model.name].items() if d.preserving}
    assert "lead_id" in carried and "appointment_key" not in carried  # appointment_key is computed
    wh = Warehouse(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    columns = list(model.output_columns)
    with wh.transaction() as con:
        con.execute(f"create table candidate ({', '.join(f'{c} text' for c in columns)})")
        con.execute(f"insert into candidate ({', '.join(columns)}) values ({', '.join('%s' for _ in columns)})".replace(
            "%s", "?"), ["pat@example.com" if c in ("lead_id", "appointment_key") else None for c in columns])
        record: dict = {}
        failures = model_audit(wh, model, record=record, pii_carried=carried)(con, "candidate")
    # the computed column is scanned and fails; the carried one is not scanned (its source's audit covers it)
    assert failures.get(f"{PII_AUDIT}.appointment_key") == 1 and f"{PII_AUDIT}.lead_id" not in failures
    assert "lead_id" in record[PII_CARRIED] and "appointment_key" in record[PII_AUDIT]
