"""A seed is written when its table does not hold the CSV yet (or on a full refresh), and its checks run either way."""

from __future__ import annotations

import shutil

from dagster import DagsterInstance, materialize

from appointment_pipeline.defs.resources.resources import WarehouseResource
from appointment_pipeline.defs.transform.assets import FULL_REFRESH_TAG
from appointment_pipeline.defs.transform.seeds import build_seeds_asset
from appointment_pipeline.io.sql_project import load_project, sql_project_root
from appointment_pipeline.io.warehouse import Warehouse

SEED = "cancel_reasons"


def run(asset, url: str, tags: dict | None = None):
    result = materialize([asset], resources={"warehouse": WarehouseResource(url=url)},
                         instance=DagsterInstance.ephemeral(), tags=tags or {})
    written = {m.asset_key.to_user_string(): m.metadata["written"].value
               for m in (e.event_specific_data.materialization for e in result.get_asset_materialization_events())}
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    return written, checks


def test_an_unchanged_seed_is_not_written_again(tmp_path):
    root = tmp_path / "sql"
    shutil.copytree(sql_project_root(), root)
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    wh = Warehouse(url)
    load_project.cache_clear()
    try:
        asset = build_seeds_asset(load_project(root))
        written, checks = run(asset, url)
        assert written and all(written.values())
        assert checks and all(checks.values())
        first = wh.query(f"select * from {SEED} order by 1")

        written, again = run(asset, url)  # nothing changed: nothing written, every check still evaluated
        assert written and not any(written.values())
        assert again.keys() == checks.keys() and all(again.values())
        assert wh.query(f"select * from {SEED} order by 1") == first

        written, _ = run(asset, url, tags={FULL_REFRESH_TAG: "true"})
        assert all(written.values())

        path = root / "seeds" / f"{SEED}.csv"
        lines = path.read_text().splitlines()
        path.write_text("\n".join([*lines, lines[-1].replace(lines[-1].split(",")[0], "zz_new_reason", 1)]) + "\n")
        load_project.cache_clear()
        asset = build_seeds_asset(load_project(root))
        written, _ = run(asset, url)
        assert {name for name, flag in written.items() if flag} == {SEED}
        assert len(wh.query(f"select * from {SEED}")) == len(first) + 1
    finally:
        load_project.cache_clear()
