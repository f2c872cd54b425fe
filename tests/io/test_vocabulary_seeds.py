"""One copy of every vocabulary: dbt_like_sql/seeds/*.csv, joined by the SQL and read by Python."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from appointment_pipeline.io.seeds import seed_table
from appointment_pipeline.domain.statuses import GHL_STATUS, LEGACY_ROLLUP_STATUS, legacy_status, ghl_status
from appointment_pipeline.io.sql_project import load_project

PROJECT = load_project()
SEEDS = PROJECT.seeds

# The only codes SQL may name outside the seeds: the GHL rebooking heuristic links a successor to a CANCELED
# predecessor (a rule about that one status, not a mapping), and the record_type of a raw Calendly row, which shares
# the spelling of a cancel reason.
RULE_LITERALS = {
    ("int_reschedule_links", "CANCELED"),
    ("stg_calendly_invitees", "invitee"),
}


def vocabulary() -> dict[str, str]:
    """Every status, spelling, mapped value and reason code -> the seed that holds it. The names of the mapping
    sources (ghl, legacy, ...) are names, not codes."""
    codes = {}
    for seed, columns in {
        "appointment_statuses": ("status", "legacy_spelling"),
        "status_mappings": ("raw_value",),
        "cancel_reasons": ("cancel_reason",),
        "reject_reasons": ("reason",),
        "unmatched_reasons": ("reason",),
    }.items():
        for column in columns:
            codes.update({value: seed for value in SEEDS[seed].values(column)})
    for name in SEEDS["status_mappings"].values("source"):
        codes.pop(name, None)
    return codes


def produced_by() -> dict[str, str]:
    return {row["reason"]: row["produced_by"] for seed in ("reject_reasons", "unmatched_reasons") for row in SEEDS[seed].rows}


def test_no_status_or_reason_literal_outside_the_seeds():
    codes, producers = vocabulary(), produced_by()
    found = []
    for model in PROJECT.models.values():
        for literal in model.expression.find_all(exp.Literal):
            value = literal.this
            if not literal.is_string or value not in codes:
                continue
            if producers.get(value) == model.name or (model.name, value) in RULE_LITERALS:
                continue
            found.append((model.name, value))
    assert found == [], f"join the seed table instead of naming the code: {found}"
    for model in [*PROJECT.models.values(), *SEEDS.values()]:
        for test in model.tests:
            if test.kind == "accepted_values" and "seed" not in test.args:
                listed = [v for v in test.args["values"] if v in codes]
                assert listed == [], f"{model.name}.{test.column}: take the values from a seed"


def test_the_literal_check_can_fail():
    planted = sqlglot.parse_one("select case when status = 'NO_SHOW' then 1 end as x from t", read="postgres")
    assert [l.this for l in planted.find_all(exp.Literal) if l.this in vocabulary()] == ["NO_SHOW"]


def _load_seeds(con) -> None:
    for seed in SEEDS.values():
        data = seed_table(seed)  # noqa: F841 (read by DuckDB's replacement scan)
        con.execute(f"create table {seed.name} as select * from data")


def test_legacy_mapping_gives_the_same_status_in_sql_and_python():
    """Every legacy row of status_mappings.csv (and a few spellings around it) through stg_legacy_observations."""
    legacy = [row for row in SEEDS["status_mappings"].rows if row["source"] == "legacy"]
    cases = []
    for row in legacy:
        canceled = [row["canceled_at_set"]] if row["canceled_at_set"] is not None else [False, True]
        spellings = [row["raw_value"]] if row["raw_value"] is None else [row["raw_value"], f"  {row['raw_value'].upper()} "]
        cases += [(text, at) for text in spellings for at in canceled]
    cases += [("pending", False), ("", True)]
    con = duckdb.connect()
    _load_seeds(con)
    con.execute(
        "create table raw_leads (lead_id text, ghl_appointment_id text, calendly_invitee_uri text, "
        "calendly_scheduled_event_uri text, appointment_provider text, appointment_status text, "
        "appointment_start_at timestamptz, appointment_end_at timestamptz, appointment_booked_at timestamptz, "
        "appointment_canceled_at timestamptz, appointment_timezone text, updated_at timestamptz)"
    )
    when = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for i, (text, canceled) in enumerate(cases):
        con.execute(
            "insert into raw_leads values (?, ?, null, null, 'GHL', ?, ?, null, null, ?, null, ?)",
            [f"lead{i}", f"ghl{i}", text, when, when if canceled else None, when],
        )
    sql = PROJECT.models["stg_legacy_observations"].render("duckdb")
    rows = {r[0]: r[1:] for r in con.execute(f"select lead_id, status, cancel_reason, canceled_at from ({sql})").fetchall()}
    for i, (text, canceled) in enumerate(cases):
        status, reason, canceled_at = rows[f"lead{i}"]
        try:
            expected = legacy_status(text, canceled_at_set=canceled)
        except ValueError:
            expected = None
        assert status == (expected and str(expected)), (text, canceled)
        mapped = next(
            (r for r in legacy if r["raw_value"] == ((text or "").strip().lower() or None)
             and r["canceled_at_set"] in (None, canceled)),
            None,
        )
        assert reason == (mapped["cancel_reason"] if mapped else None), (text, canceled)
        assert (canceled_at is not None) == (canceled and status in ("CANCELED", "RESCHEDULED")), (text, canceled)


def test_rollup_spelling_is_the_same_in_sql_and_python():
    con = duckdb.connect()
    _load_seeds(con)
    sql_spelling = dict(con.execute("select status, legacy_spelling from appointment_statuses").fetchall())
    assert sql_spelling == {str(status): spelling for status, spelling in LEGACY_ROLLUP_STATUS.items()}


@pytest.mark.parametrize("row", [r for r in SEEDS["status_mappings"].rows if r["source"] == "ghl"], ids=lambda r: r["raw_value"])
def test_ghl_mapping_follows_the_csv(row):
    status, reason = ghl_status(f" {row['raw_value'].upper()} ")
    assert (str(status), reason and str(reason)) == (row["status"], row["cancel_reason"])
    assert set(GHL_STATUS) == set(SEEDS["status_mappings"].values("raw_value", source="ghl"))


def test_an_enum_that_drifts_from_its_seed_fails_with_a_clear_error():
    from enum import StrEnum

    from appointment_pipeline.domain.vocabulary import VocabularyError, check_enum

    class Drifted(StrEnum):
        CONFIRMED = "CONFIRMED"
        PENDING = "PENDING"

    with pytest.raises(VocabularyError, match=r"only in Python \['PENDING'\].*only in the CSV \[.*'NO_SHOW'"):
        check_enum(Drifted, "appointment_statuses", "status")


def test_accepted_values_name_their_seed():
    test = next(t for t in PROJECT.models["appointments"].tests if t.name == "accepted_values_status")
    assert test.args["seed"] == "appointment_statuses"
    assert test.args["values"] == SEEDS["appointment_statuses"].values("status")
    assert "'NO_SHOW'" in test.failing_rows_sql()


def test_an_accepted_values_test_needs_a_known_seed(tmp_path):
    from appointment_pipeline.io.sql_project import ModelError

    (tmp_path / "staging").mkdir()
    (tmp_path / "staging" / "stg_x.sql").write_text("select 'a' as code\n")
    (tmp_path / "staging" / "schema.yml").write_text(
        "models:\n  - name: stg_x\n    description: x\n    columns:\n      - name: code\n        description: c\n"
        "        tests: [{accepted_values: {seed: no_such_seed, column: code}}]\n"
    )
    load_project.cache_clear()
    try:
        with pytest.raises(ModelError, match="unknown seed 'no_such_seed'"):
            load_project(tmp_path)
    finally:
        load_project.cache_clear()
