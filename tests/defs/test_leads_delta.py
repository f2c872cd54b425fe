"""raw_leads reads only what changed since its last read, and the table stays identical to a full read: random
inserts, updates and deletes of "Lead" rows between real runs, on SQLite and PostgreSQL application databases and
on both warehouse engines. Full reads happen when the watermark cannot be trusted."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, materialize

from appointment_pipeline.defs.resources.resources import PipelineSettingsResource, SourceDatabaseResource, WarehouseResource
from appointment_pipeline.definitions import defs
from appointment_pipeline.demo import build_demo
from appointment_pipeline.demo.writer import lead_table, write_leads
from appointment_pipeline.io.lead_store import CHANGES_TABLE, WATERMARK_TABLE
from appointment_pipeline.io.warehouse import Warehouse
from pipeline import table_rows

KEY = "delta-key"


def run_leads(wh_url: str, source_url: str, *, full_refresh: bool = False, key: str = KEY, rehash: bool = False,
              full_read_days: float = 7.0):
    result = materialize(
        [defs.get_assets_def("raw_leads")],
        resources={
            **defs.resources,
            "warehouse": WarehouseResource(url=wh_url),
            "source_db": SourceDatabaseResource(url=source_url, leads_full_read_days=full_read_days),
            "pipeline_settings": PipelineSettingsResource(hash_key=key),
        },
        run_config={"ops": {"raw_leads": {"config": {"full_refresh": full_refresh, "rehash": rehash}}}},
        instance=DagsterInstance.ephemeral(),
    )
    return result.asset_materializations_for_node("raw_leads")[0].metadata


class App:
    """The application's side: writes "Lead" rows the way the application does (updatedAt = now on a change)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = sa.create_engine(url)
        self.table = lead_table(self.engine.dialect.name)
        self.rng = random.Random(7)
        self.serial = 0

    def now(self):
        now = datetime.now(UTC)
        return now.isoformat() if self.engine.dialect.name == "sqlite" else now

    def ids(self) -> list[str]:
        with self.engine.connect() as con:
            return sorted(con.execute(sa.select(self.table.c.id)).scalars())

    def changes(self, n: int, *, touch: bool = True) -> tuple[set[str], set[str]]:
        """Random inserts, updates and deletes; returns (ids inserted or updated, ids deleted)."""
        ids = self.ids()
        before = set(ids)
        written, deleted = set(), set()
        with self.engine.begin() as con:
            for _ in range(n):
                action = self.rng.choice(["insert", "update", "update", "delete", "odd"] if touch else ["update", "odd"])
                self.serial += 1
                if action == "insert":
                    lead_id = f"new-{self.serial}"
                    con.execute(self.table.insert().values(
                        id=lead_id, email=f"New.{self.serial}@Example.com ", createdAt=self.now(), updatedAt=self.now(),
                        ghlContactId=str(10**17 + self.serial), appointmentStatus="booked"))
                    written.add(lead_id)
                    ids.append(lead_id)
                elif action == "delete" and ids:
                    lead_id = ids.pop(self.rng.randrange(len(ids)))
                    con.execute(self.table.delete().where(self.table.c.id == lead_id))
                    written.discard(lead_id)
                    deleted.add(lead_id)
                elif ids:
                    lead_id = self.rng.choice(ids)
                    values = {"appointmentStatus": f"status-{self.serial}", "email": f"changed{self.serial}@x.io"}
                    if action == "odd":  # a value the read must reject, and a PII-looking one
                        values = {"appointmentTimezone": "+1 (555) 010-2233", "ghlAppointmentId": "ghl\nline, \"q\""}
                    if touch:
                        values["updatedAt"] = self.now()
                    con.execute(self.table.update().where(self.table.c.id == lead_id).values(**values))
                    written.add(lead_id)
        return written, deleted & before  # a lead inserted and deleted in between never reached raw_leads

    def restore(self, lead_id: str) -> None:
        """A lead inserted with an old "updatedAt" (restored from a backup)."""
        old = datetime(2020, 1, 1, tzinfo=UTC)
        with self.engine.begin() as con:
            con.execute(self.table.insert().values(
                id=lead_id, email="restored@x.io", createdAt=old.isoformat() if self.engine.dialect.name == "sqlite"
                else old, updatedAt=old.isoformat() if self.engine.dialect.name == "sqlite" else old))


@pytest.fixture
def app(request, tmp_path, pg_database):
    url = f"sqlite:///{tmp_path / 'app.sqlite'}" if request.param == "sqlite" else pg_database("ap_delta_app")
    write_leads(url, build_demo(leads=60, days=3, seed=3).lead_rows)
    application = App(url)
    yield application
    application.engine.dispose()


def changes(wh: Warehouse) -> tuple[set[str], set[str]]:
    rows = wh.query(f"select lead_id, change from {CHANGES_TABLE}")
    return {i for i, c in rows if c == "upserted"}, {i for i, c in rows if c == "deleted"}


@pytest.mark.parametrize("app", ["sqlite", "postgres"], indirect=True)
@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_delta_reads_keep_raw_leads_identical_to_a_full_read(app, engine, tmp_path, pg_database):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_delta_wh")
    reference = f"duckdb:///{tmp_path / 'full.duckdb'}"
    wh, ref = Warehouse(url), Warehouse(reference)
    first = run_leads(url, app.url)
    assert first["read_kind"].value == "full" and first["full_read_reason"].value == "no watermark recorded"
    assert changes(wh)[0] == set(app.ids())
    for round_number in range(3):
        written, deleted = app.changes(12)
        restored = f"restored-{round_number}"
        app.restore(restored)
        meta = run_leads(url, app.url)
        assert meta["read_kind"].value == "delta"
        # the changed leads, the restored one, and the overlap's few: far fewer than all
        assert len(written) + 1 <= meta["leads_read"].value < len(app.ids())
        run_leads(reference, app.url, full_refresh=True)
        assert table_rows(wh, "raw_leads") == table_rows(ref, "raw_leads"), round_number
        upserted, gone = changes(wh)
        assert upserted == written | {restored} and gone == deleted
        assert meta["leads_deleted"].value == len(deleted) and meta["dagster/row_count"].value == len(app.ids())
    # a run with nothing changed writes nothing
    again = run_leads(url, app.url)
    assert (again["read_kind"].value, again["leads_upserted"].value, again["leads_deleted"].value) == ("delta", 0, 0)
    assert table_rows(wh, "raw_leads") == table_rows(ref, "raw_leads")


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_full_reads_when_the_watermark_cannot_be_trusted(app, tmp_path):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    reference = f"duckdb:///{tmp_path / 'full.duckdb'}"
    wh = Warehouse(url)
    run_leads(url, app.url)
    # an update that does not bump "updatedAt" escapes a delta ...
    written, _ = app.changes(6, touch=False)
    assert written
    assert run_leads(url, app.url)["read_kind"].value == "delta"
    run_leads(reference, app.url, full_refresh=True)
    assert table_rows(wh, "raw_leads") != table_rows(Warehouse(reference), "raw_leads")
    # ... until the next full read: asked for, or periodic
    meta = run_leads(url, app.url, full_refresh=True)
    assert (meta["read_kind"].value, meta["full_read_reason"].value) == ("full", "run config full_refresh")
    assert table_rows(wh, "raw_leads") == table_rows(Warehouse(reference), "raw_leads")
    assert changes(wh)[0] == written
    assert run_leads(url, app.url, full_read_days=0)["full_read_reason"].value.startswith("periodic full read")
    assert changes(wh) == (set(), set())  # a full read that finds nothing new records no change
    # another hash key: every email hash changes, so every lead is read
    meta = run_leads(url, app.url, key="another-key", rehash=True)
    assert (meta["read_kind"].value, meta["full_read_reason"].value) == ("full", "run config rehash")
    assert changes(wh)[0] == {i for i, in wh.query("select lead_id from raw_leads where email_hash is not null")}
    # the watermark was written with the rows
    (kind, started), = wh.query(f"select read_kind, read_started_at from {WATERMARK_TABLE}")
    assert kind == "full" and datetime.now(UTC) - started < timedelta(minutes=5)


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_a_failed_delta_write_leaves_raw_leads_and_the_watermark_as_they_were(app, engine, tmp_path, pg_database):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_delta_fail")
    wh = Warehouse(url)
    run_leads(url, app.url)
    before = (table_rows(wh, "raw_leads"), table_rows(wh, WATERMARK_TABLE))
    with wh.transaction() as con:  # a bookkeeping table someone altered: the write fails after raw_leads was changed
        wh.execute(con, f"drop table {CHANGES_TABLE}")
        wh.execute(con, f"create table {CHANGES_TABLE} (lead_id text, change integer, read_started_at timestamptz)")
    app.changes(8)
    result = materialize(
        [defs.get_assets_def("raw_leads")],
        resources={**defs.resources, "warehouse": WarehouseResource(url=url),
                   "source_db": SourceDatabaseResource(url=app.url),
                   "pipeline_settings": PipelineSettingsResource(hash_key=KEY)},
        instance=DagsterInstance.ephemeral(), raise_on_error=False,
    )
    assert not result.success
    error = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").step_failure_data.error.cause
    assert error.cls_name == "ScrubbedDatabaseError" and "writing the warehouse failed" in error.message
    assert "@" not in error.message  # no email of a changed lead
    assert (table_rows(wh, "raw_leads"), table_rows(wh, WATERMARK_TABLE)) == before
    assert not wh.table_exists("raw_leads__incoming")


def test_the_full_read_period_and_overlap_are_settings(monkeypatch):
    from appointment_pipeline.defs.resources.resources import default_resources
    from appointment_pipeline.settings import get_settings

    monkeypatch.setenv("APPOINTMENT_LEADS_FULL_READ_DAYS", "2.5")
    monkeypatch.setenv("APPOINTMENT_LEADS_DELTA_OVERLAP_MINUTES", "15")
    get_settings.cache_clear()
    source_db = default_resources()["source_db"]
    assert (source_db.leads_full_read_days, source_db.leads_delta_overlap_minutes) == (2.5, 15.0)


@pytest.mark.parametrize("app", ["sqlite", "postgres"], indirect=True)
def test_a_replaced_lead_table_with_old_update_times_is_read_whole(app, tmp_path):
    """A "Lead" table dropped and re-created under the same URL (a restore, a regenerated demo): its rows carry old
    "updatedAt" values, so the next read is a full one."""
    url, reference = f"duckdb:///{tmp_path / 'wh.duckdb'}", f"duckdb:///{tmp_path / 'full.duckdb'}"
    run_leads(url, app.url)
    app.engine.dispose()  # the table is dropped and recreated
    write_leads(app.url, build_demo(leads=40, days=3, seed=5).lead_rows)
    meta = run_leads(url, app.url)
    run_leads(reference, app.url, full_refresh=True)
    assert table_rows(Warehouse(url), "raw_leads") == table_rows(Warehouse(reference), "raw_leads")
    assert (meta["read_kind"].value, meta["full_read_reason"].value) == ("full", 'another "Lead" table than the last read')
    upserted, deleted = changes(Warehouse(url))
    assert upserted and deleted and meta["dagster/row_count"].value == len(app.ids())
    assert run_leads(url, app.url)["read_kind"].value == "delta"  # the new table is the one read last now


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_a_watermark_of_an_older_release_gives_a_full_read(app, tmp_path):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    wh = Warehouse(url)
    run_leads(url, app.url)
    with wh.transaction() as con:
        wh.execute(con, f"alter table {WATERMARK_TABLE} drop column source_table")
    meta = run_leads(url, app.url)
    assert (meta["read_kind"].value, meta["full_read_reason"].value) == ("full", 'another "Lead" table than the last read')
    assert run_leads(url, app.url)["read_kind"].value == "delta"
