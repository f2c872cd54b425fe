"""The scenario suite loaded one run per day, incrementally, gives the same tables as one full run of all days."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from appointment_pipeline.io.lead_store import REREAD_TABLE, mark_for_reread
from appointment_pipeline.io.sql_project import load_project
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import Inputs, empty_days_config, run_pipeline, table_rows, table_snapshot
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


class App:
    """The application's "Lead" table (a copy of the scenarios' SQLite database): changes as the application makes
    them (``"updatedAt"`` bumped) or as the publish does (not bumped, the lead marked for a re-read)."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(url)

    def ids_of_distinct(self, column: str) -> list[str]:
        """A lead per distinct non-null value of ``column``."""
        with self.engine.connect() as con:
            return [r for r, in con.execute(sa.text(
                f'select min(id) from "Lead" where "{column}" is not null group by "{column}" order by 1'))]

    def copy(self, column: str, source: str, target: str, *, bump: bool = True) -> None:
        bumped = ', "updatedAt" = :now' if bump else ""
        with self.engine.begin() as con:
            con.execute(sa.text(f'update "Lead" set "{column}" = (select "{column}" from "Lead" where id = :source)'
                                f"{bumped} where id = :target"),
                        {"source": source, "target": target, "now": datetime.now(UTC).isoformat()})

    def delete(self, lead: str) -> None:
        with self.engine.begin() as con:
            con.execute(sa.text('delete from "Lead" where id = :lead'), {"lead": lead})


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_lead_changes_between_runs_equal_full_build(engine, scenario_inputs, tmp_path, pg_database):  # noqa: F811
    """"Lead" rows changed between the daily runs reach the models through the raw_leads change log: a lead changed
    by the application, one deleted, a raw_leads-only run between two builds, a change the publish made and marked
    for a re-read, and one only a full read finds; each day's build stays incremental and the tables end equal to a
    full build of the same inputs."""
    shutil.copy(make_url(scenario_inputs.source_db_url).database, tmp_path / "app.sqlite")
    inputs = Inputs(f"sqlite:///{tmp_path / 'app.sqlite'}", scenario_inputs.landing_dir)
    app = App(inputs.source_db_url)
    if engine == "duckdb":
        url, full_url = f"duckdb:///{tmp_path / 'inc.duckdb'}", f"duckdb:///{tmp_path / 'full.duckdb'}"
    else:
        url, full_url = pg_database("ap_leadchg"), pg_database("ap_leadchg_full")
    wh = Warehouse(url)
    with_email, with_contact = app.ids_of_distinct("email"), app.ids_of_distinct("ghlContactId")

    def day_run(day, **raw_leads_config):
        config = empty_days_config(inputs.landing_dir, day, day)
        if raw_leads_config:
            config["ops"]["raw_leads"] = {"config": raw_leads_config}
        return build_modes(run_pipeline(url, inputs, day, day, reference_time=REFERENCE_TIME, run_config=config))

    days = [FIRST_DAY + timedelta(days=i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]
    modes = [day_run(days[0])]
    app.copy("email", with_email[0], with_email[1])  # a lead takes another's email, so its Calendly invitees
    app.delete(with_contact[0])
    modes.append(day_run(days[1]))
    app.copy("ghlContactId", with_contact[1], with_contact[2])
    run_pipeline(url, inputs, days[2], days[2], selection=["raw_leads"])  # a raw_leads-only run
    app.copy("email", with_email[2], with_email[3])
    modes.append(day_run(days[2]))  # two reads since the previous build
    app.copy("email", with_email[4], with_email[5], bump=False)  # as the publish writes "Lead" ...
    mark_for_reread(wh, [with_email[5]])  # ... and marks what it wrote
    modes.append(day_run(days[3]))
    assert not wh.query(f"select * from {REREAD_TABLE}")
    app.copy("ghlContactId", with_contact[3], with_contact[4], bump=False)  # found by a full read only
    modes.append(day_run(days[4], full_refresh=True))
    for day in days[5:]:
        modes.append(day_run(day))
    assert all(mode == "full" for mode in modes[0].values())
    assert all(set(day.values()) == {"incremental"} for day in modes[1:]), modes
    reasons = [r for r, in wh.query("select reason from model_build_runs order by planned_at")]
    changed = [int(re.search(r"(\d+) changed", reason).group(1)) for reason in reasons[1:5]]
    assert all(changed), reasons  # each read changed leads
    full = build(full_url, inputs)
    assert table_rows(wh, "raw_leads") == table_rows(full, "raw_leads")
    assert table_snapshot(wh, MODELS) == table_snapshot(full, MODELS)
