"""The floor: the least work a full rebuild must do, measured on the same inputs without Dagster.

    python -m pipeline_bench.floor SPEC.json OUT.json

In one DuckDB file: parse each provider's landing files for the run's days (``parse_landing``, the one adapter to
the parser), read the legacy leads, load the three raw tables and the seeds, then run every SQL model in
dependency order as a plain ``create or replace table ... as <select>`` rendered by the project's own loader (no
audits, no metadata, no scratch tables). Each part is timed; the floor is their sum.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import time
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from appointment_pipeline.io.lead_source import RAW_LEADS_COLUMNS, read_leads
from appointment_pipeline.domain.instants import parse_instant
from appointment_pipeline.domain.parsing import CALENDLY, GHL, Provider, arrow_schema
from appointment_pipeline.io.seeds import seed_columns, seed_table
from appointment_pipeline.io.sql_project import load_project
from appointment_pipeline.io.warehouse import Warehouse
from pipeline_bench.machine import peak_rss_mb

DUCKDB_MODULE = "appointment_pipeline.io.landing_duckdb"
PYTHON_PARSER = "Python: io.landing.read_landing + domain.parsing.parse_records"
DUCKDB_PARSER = "DuckDB: io.landing_duckdb.parse_landing_days"


def parse_landing(
    landing_dir: Path, provider: Provider, days: list[date], hash_key: str, ingest_sources: dict[date, str]
) -> tuple[pa.Table, str]:
    """The provider's raw rows for ``days`` and the name of the parser that made them: the DuckDB-native
    extraction when the package has it, else the Python reader and parser the extract assets use today."""
    if importlib.util.find_spec(DUCKDB_MODULE) is None:
        from appointment_pipeline.domain.parsing import parse_records
        from appointment_pipeline.io.landing import read_landing

        return parse_records(provider, read_landing(landing_dir, provider, days), hash_key, ingest_sources), PYTHON_PARSER
    module = importlib.import_module(DUCKDB_MODULE)
    if not hasattr(module, "parse_landing_days"):
        raise RuntimeError(f"{DUCKDB_MODULE} has no parse_landing_days: point parse_landing (this file) at its entry")
    parsed = module.parse_landing_days(landing_dir, provider, days, hash_key, ingest_sources)
    return _as_arrow(parsed, arrow_schema(provider.columns)), DUCKDB_PARSER


def _as_arrow(parsed: Any, schema: pa.Schema) -> pa.Table:
    """An Arrow table from what the parser returns: a table, a DuckDB relation, an Arrow stream or record batches."""
    if isinstance(parsed, pa.Table):
        return parsed
    for method in ("to_arrow_table", "arrow", "read_all"):
        if hasattr(parsed, method):
            table = getattr(parsed, method)()
            return table if isinstance(table, pa.Table) else pa.Table.from_batches(table)
    batches = list(parsed)
    if batches and all(isinstance(b, pa.RecordBatch) for b in batches):
        return pa.Table.from_batches(batches)
    if not batches:
        return schema.empty_table()
    raise TypeError(f"parse_landing_days returned {type(parsed).__name__}, not Arrow data")


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def timed(figures: dict, name: str, work) -> Any:
    started = time.perf_counter()
    value = work()
    figures[name] = round(time.perf_counter() - started, 4)
    return value


def load(wh: Warehouse, table: str, columns: Iterable[tuple[str, str]], data: pa.Table) -> None:
    with wh.transaction() as con:
        wh.create_table_if_missing(con, table, list(columns))
        wh.bulk_insert(con, table, data)


def run(spec: dict) -> dict:
    demo = spec["rebuild"]["demo"]
    landing = Path(demo["dir"]) / "landing"
    days = days_between(date.fromisoformat(spec["rebuild"]["first_day"]), date.fromisoformat(spec["rebuild"]["last_day"]))
    stamps = {day: "MANUAL" for day in days}  # what a manual run (the full rebuild's) stamps
    wh = Warehouse(f"duckdb:///{spec['duckdb_path']}")
    parts: dict[str, float] = {}
    parsers = set()
    raw: dict[str, pa.Table] = {}
    for provider in (CALENDLY, GHL):
        table, parser = timed(parts, f"parse {provider.name}",
                              lambda p=provider: parse_landing(landing, p, days, spec["hash_key"], stamps))
        raw[provider.table] = table
        parsers.add(parser)
    leads = timed(parts, "read leads", lambda: read_leads(f"sqlite:///{Path(demo['dir']) / 'app.sqlite'}",
                                                          spec["hash_key"]).rows)
    timed(parts, "load raw tables", lambda: [
        load(wh, "raw_leads", [(c.name, c.sql_type) for c in RAW_LEADS_COLUMNS], leads),
        *(load(wh, p.table, [(c.name, c.sql_type) for c in p.columns], raw[p.table]) for p in (CALENDLY, GHL)),
    ])
    project = load_project()
    timed(parts, "load seeds", lambda: [load(wh, s.name, seed_columns(s), seed_table(s)) for s in project.seeds.values()])
    reference_time: datetime = parse_instant(demo["reference_time"])
    models: dict[str, float] = {}
    with wh.connect() as con:
        for name in project.order():
            model = project.models[name]
            parameters = {"reference_time": reference_time} if "reference_time" in model.parameters else {}
            sql = model.render("duckdb", parameters)
            timed(models, name, lambda: con.execute(f"create or replace table {name} as {sql}"))
    parts["SQL models"] = round(sum(models.values()), 4)
    return {
        "parser": " + ".join(sorted(parsers)),
        "landing_lines": spec["rebuild"]["landing_lines"],
        "parts_s": parts,
        "models_s": models,
        "total_s": round(sum(parts.values()), 3),
        "rows": {t: int(wh.scalar(f"select count(*) from {t}")) for t in spec["counted_tables"]},
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main(argv: list[str]) -> int:
    spec_path, out_path = argv
    out = run(json.loads(Path(spec_path).read_text()))
    Path(out_path).write_text(json.dumps(out, indent=2))
    print(f"[floor] {out['total_s']:.1f} s ({out['parser']})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
