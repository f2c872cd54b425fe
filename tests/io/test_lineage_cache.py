"""Column lineage is derived once per model code version: a later load reads it back, an edited model is derived
again (and only it), and the result is the one a derivation from scratch gives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import appointment_pipeline.io.lineage as lineage_module
from appointment_pipeline.io.lineage import build_lineage, export_json
from appointment_pipeline.io.sources import CATALOG
from appointment_pipeline.io.sql_project import load_project, sql_project_root
from appointment_pipeline.settings import get_settings
from pipeline import cli_env

EXTRA_MODEL = "stg_invitee_statuses"


@pytest.fixture
def derivations(tmp_path, monkeypatch) -> list[str]:
    """The models whose lineage is derived (not read back), with the disk cache in a fresh directory."""
    monkeypatch.setenv("APPOINTMENT_LINEAGE_CACHE", str(tmp_path / "cache"))
    get_settings.cache_clear()
    derived: list[str] = []
    qualified = lineage_module.qualified

    def counting(model, schema):  # instrumentation: the real derivation runs
        derived.append(model.name)
        return qualified(model, schema)

    monkeypatch.setattr(lineage_module, "qualified", counting)
    return derived


def new_process(monkeypatch) -> None:
    """What a new process starts with: nothing derived in memory."""
    monkeypatch.setattr(lineage_module, "_MODEL_CACHE", {})


def project_with_extra_model(tmp_path, status_column: str):
    root = tmp_path / "dbt_like_sql"
    if not root.exists():
        shutil.copytree(sql_project_root(), root)
        docs = root / "staging" / "schema.yml"
        docs.write_text(
            docs.read_text()
            + f"\n  - name: {EXTRA_MODEL}\n    description: Invitee statuses.\n    columns:\n"
            + "      - name: invitee_uri\n        description: The invitee.\n"
            + "      - name: status\n        description: Its status.\n"
        )
    (root / "staging" / f"{EXTRA_MODEL}.sql").write_text(
        f"select invitee_uri, {status_column} as status from raw_calendly_invitees\n"
    )
    return load_project.__wrapped__(root)


def test_a_second_load_reads_the_lineage_back_and_an_edit_derives_it_again(tmp_path, monkeypatch, derivations):
    new_process(monkeypatch)
    first = build_lineage(project_with_extra_model(tmp_path, "invitee_status"), CATALOG)
    assert sorted(derivations) == sorted([*load_project().models, EXTRA_MODEL])  # every model, once

    derivations.clear()
    new_process(monkeypatch)
    again = build_lineage(project_with_extra_model(tmp_path, "invitee_status"), CATALOG)
    assert derivations == []  # a second load derives nothing
    assert export_json(again) == export_json(first)
    assert again.models[EXTRA_MODEL]["status"].direct == {("raw_calendly_invitees", "invitee_status")}

    derivations.clear()
    new_process(monkeypatch)
    edited = build_lineage(project_with_extra_model(tmp_path, "event_status"), CATALOG)
    assert derivations == [EXTRA_MODEL]  # only the edited model, the others are read back
    assert edited.models[EXTRA_MODEL]["status"].direct == {("raw_calendly_invitees", "event_status")}

    monkeypatch.setenv("APPOINTMENT_LINEAGE_CACHE", "off")  # from scratch: the same lineage
    get_settings.cache_clear()
    new_process(monkeypatch)
    assert export_json(build_lineage(project_with_extra_model(tmp_path, "event_status"), CATALOG)) == export_json(edited)


def test_definitions_load_twice_derives_the_lineage_once(tmp_path):
    cache = tmp_path / "cache"
    env = cli_env(APPOINTMENT_LINEAGE_CACHE=str(cache))
    load = [sys.executable, "-c", "import appointment_pipeline.definitions"]
    subprocess.run(load, env=env, check=True, capture_output=True, cwd=tmp_path)
    written = {path.name: path.stat().st_ino for path in cache.glob("*.json")}
    assert len(written) == len(load_project().models)
    subprocess.run(load, env=env, check=True, capture_output=True, cwd=tmp_path)
    # an entry is written (a new file replacing the name) only when it was derived: the second load wrote none
    assert {path.name: path.stat().st_ino for path in cache.glob("*.json")} == written
    assert not [name for name in os.listdir(cache) if not name.endswith(".json")]


def test_transpiled_sql_is_derived_once_per_text(tmp_path, monkeypatch):
    import sqlglot

    import appointment_pipeline.io.sql_project as sql_project

    monkeypatch.setenv("APPOINTMENT_LINEAGE_CACHE", str(tmp_path))
    get_settings.cache_clear()
    transpiled: list[str] = []
    real = sqlglot.transpile

    def counting(sql, **kwargs):  # instrumentation: the real transpilation runs
        transpiled.append(sql)
        return real(sql, **kwargs)

    monkeypatch.setattr(sql_project.sqlglot, "transpile", counting)
    sql_project._transpiled.cache_clear()  # what earlier tests of this process transpiled is not this test's
    model = load_project().models["int_calendly_events"]
    sql = model.render("postgres")
    first = sql_project.transpile(sql, "duckdb")
    assert transpiled == [sql] and "FROM events" in first
    sql_project._transpiled.cache_clear()  # a new process: read back from disk, not derived
    assert sql_project.transpile(sql, "duckdb") == first and len(transpiled) == 1
    edited = sql.replace("MAX(line)", "MIN(line)")
    assert edited != sql and "MIN(line)" in sql_project.transpile(edited, "duckdb") and len(transpiled) == 2
    monkeypatch.setenv("APPOINTMENT_LINEAGE_CACHE", "off")
    get_settings.cache_clear()
    sql_project._transpiled.cache_clear()
    assert sql_project.transpile(sql, "duckdb") == first and len(transpiled) == 3  # from scratch: the same text
