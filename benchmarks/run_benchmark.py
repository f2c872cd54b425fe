"""Pipeline benchmark: every performance target as a figure and a ratio measured in the same invocation.

    .venv/bin/python benchmarks/run_benchmark.py                        # 100,000 leads, DuckDB and PostgreSQL
    .venv/bin/python benchmarks/run_benchmark.py --leads 1000000        # the target scale
    .venv/bin/python benchmarks/run_benchmark.py --leads 10000 --json bench.json --markdown

Inputs (deterministic demo data, generated once per invocation, or reused from --workdir with --reuse-inputs):
the main demo (--leads over --days + 1 snapshot days), the sweep demo (--sweep-leads over the longest --histories
length + 1 days) and the fixed-cost demo (--fixed-leads over --fixed-days days).

Per engine, in one child process of its own (so its peak RSS is its own), real Dagster runs on fresh warehouses:
- fixed cost: the fixed-cost demo rebuilt in one run (sum of step seconds);
- full rebuild: the main demo's first --days days in one run (wall and step seconds, landing lines/s, row counts),
  then the daily reconcile of the next day on that warehouse (every asset, that day's partition, the reconcile
  schedule's tags), as ``materialize_range(day, day)``;
- per history length H of --histories: the first H days of the sweep demo rebuilt, then day H+1 reconciled:
  whether the reconcile grows with the history or with the day's lines.
And in a child of its own, the floor (DuckDB, no Dagster): the same landing days parsed and loaded, the SQL models run
on the loaded tables (see pipeline_bench/floor.py for which parser it uses).

Prints the figures and a TARGETS table (value, limit, ratio, OK/MISS), the machine, the load average at start and
end, the date and the commit; --json writes the same figures, --markdown prints the README's tables. PostgreSQL
databases are created on BENCH_PG_ADMIN (default postgresql://postgres@127.0.0.1:5432/postgres) and dropped.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, time as clock, timedelta, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from pipeline_bench.machine import load_average, machine_info  # noqa: E402
from pipeline_bench.report import render_markdown, render_text, targets  # noqa: E402
from pipeline_bench.warehouses import drop_warehouse, new_warehouse  # noqa: E402

START = date(2025, 1, 1)
SEED = 3
HASH_KEY = "bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=14, help="days of the full rebuild (the next day is reconciled)")
    parser.add_argument("--engines", default="duckdb,postgres")
    parser.add_argument("--histories", default="7,14,28",
                        help="history lengths (days) of the reconcile sweep, comma separated; empty: no sweep")
    parser.add_argument("--sweep-leads", type=int, default=None, help="leads of the sweep demo (default: --leads)")
    parser.add_argument("--fixed-leads", type=int, default=2_000)
    parser.add_argument("--fixed-days", type=int, default=14)
    parser.add_argument("--workdir", default=None, help="keep the inputs here (default: a temporary directory)")
    parser.add_argument("--reuse-inputs", action="store_true", help="reuse the demo data already in --workdir")
    parser.add_argument("--json", type=Path, default=None, help="write every figure and target to this file")
    parser.add_argument("--markdown", action="store_true", help="also print the tables as markdown (README)")
    return parser.parse_args(argv)


# -- inputs ---------------------------------------------------------------------------------------------------------


def lines_per_day(landing: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in sorted(landing.glob("*/*/*.jsonl*")):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as handle:
            counts[path.parent.name] = counts.get(path.parent.name, 0) + sum(1 for _ in handle)
    return counts


def demo_inputs(workdir: Path, name: str, leads: int, days: int, reuse: bool) -> dict:
    """One demo (the "Lead" table in SQLite and its landing zone) under workdir/name, generated unless reusable."""
    root = workdir / name
    marker = root / "inputs.json"
    wanted = {"leads": leads, "days": days, "start": START.isoformat(), "seed": SEED}
    if reuse and marker.exists():
        found = json.loads(marker.read_text())
        if {k: found.get(k) for k in wanted} == wanted:
            return found
    started = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    summary = run_child("generate", {**wanted, "dir": str(root)}, workdir, f"generate_{name}")
    found = {**wanted, "dir": str(root), "per_day": lines_per_day(root / "landing"),
             "reference_time": datetime.combine(START + timedelta(days=days), clock.min, timezone.utc).isoformat()}
    marker.write_text(json.dumps(found))
    print(f"inputs {name}: {summary['leads']:,} leads, {summary['landing_lines']:,} landing lines in "
          f"{summary['landing_files']} files over {days} days ({time.perf_counter() - started:.1f} s to generate)",
          flush=True)
    return found


def phase(demo: dict, days: int) -> dict:
    """The rebuild of a demo's first ``days`` days."""
    last = START + timedelta(days=days - 1)
    return {"demo": demo, "first_day": START.isoformat(), "last_day": last.isoformat(),
            "landing_lines": sum(n for day, n in demo["per_day"].items() if day <= last.isoformat())}


def history_phase(demo: dict, days: int) -> dict:
    new_day = (START + timedelta(days=days)).isoformat()
    return {**phase(demo, days), "days": days, "reconcile_day": new_day, "new_day_lines": demo["per_day"].get(new_day, 0)}


# -- children -------------------------------------------------------------------------------------------------------


def run_child(module: str, spec: dict, workdir: Path, label: str) -> dict:
    """Run ``python -m pipeline_bench.<module>`` on ``spec``; returns what it wrote. Its progress lines go to this
    stdout, its stderr (Dagster's event log lines) to workdir/logs/<label>.log."""
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir) as scratch, open(logs / f"{label}.log", "w") as log:
        spec_path, out_path = Path(scratch) / "spec.json", Path(scratch) / "out.json"
        spec_path.write_text(json.dumps(spec))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([sys.executable, "-m", f"pipeline_bench.{module}", str(spec_path), str(out_path)],
                              env=env, cwd=REPO, stderr=log)
        if done.returncode != 0:
            log.flush()
            tail = (logs / f"{label}.log").read_text().splitlines()[-40:]
            sys.exit(f"{label} failed (exit {done.returncode}); the end of {logs / f'{label}.log'}:\n" + "\n".join(tail))
        return json.loads(out_path.read_text())


def engine_figures(engine: str, spec: dict, workdir: Path) -> dict:
    labels = ["rebuild", *(f"history_{h['days']}" for h in spec["histories"] if not h["same_as_main"])]
    if spec["fixed"]:
        labels.append("fixed")
    urls: dict[str, str] = {}
    try:
        for label in labels:
            urls[label] = new_warehouse(engine, workdir, label)
        scratch = workdir / f"apps_{engine}"  # the application copies this engine's runs publish into
        figures = run_child("engine_run", {**spec, "engine": engine, "warehouses": urls, "app_copies": str(scratch)},
                            workdir, engine)
        shutil.rmtree(scratch, ignore_errors=True)
    finally:
        for url in urls.values():
            drop_warehouse(url)
    figures["warehouses"] = [url.rsplit("/", 1)[-1] for url in urls.values()]  # dropped above
    if not spec["fixed"]:  # the fixed-cost scale is the main one: its rebuild is that run
        figures["fixed"] = figures["rebuild"]
    return figures


def floor_figures(spec: dict, workdir: Path, counted_tables: list[str]) -> dict:
    path = workdir / f"floor_{os.getpid()}.duckdb"
    try:
        return run_child("floor", {**spec, "duckdb_path": str(path), "counted_tables": counted_tables}, workdir,
                         "floor")
    finally:
        for leftover in (path, Path(f"{path}.wal")):
            leftover.unlink(missing_ok=True)


# -- main -----------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="appointment_bench_")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return measure(args, workdir)
    finally:
        if args.workdir is None:  # nothing can reuse a temporary directory's inputs
            shutil.rmtree(workdir, ignore_errors=True)


def measure(args: argparse.Namespace, workdir: Path) -> int:
    engines = [e for e in args.engines.split(",") if e]
    histories = sorted({int(h) for h in args.histories.split(",") if h.strip()})
    sweep_leads = args.sweep_leads or args.leads
    load_start = load_average()

    # the main demo has one day more than the rebuild: the day the reconcile adds
    main_demo = demo_inputs(workdir, f"main_{args.leads}_{args.days + 1}", args.leads, args.days + 1, args.reuse_inputs)
    sweep = []
    if histories:
        sweep_days = histories[-1] + 1
        sweep_demo = (main_demo if (sweep_leads, sweep_days) == (args.leads, args.days + 1) else
                      demo_inputs(workdir, f"sweep_{sweep_leads}_{sweep_days}", sweep_leads, sweep_days,
                                  args.reuse_inputs))
        # a history as long as the full rebuild's on the main demo is the full rebuild and its reconcile
        sweep = [{**history_phase(sweep_demo, h), "same_as_main": sweep_demo is main_demo and h == args.days}
                 for h in histories]
    fixed = None
    if (args.fixed_leads, args.fixed_days) != (args.leads, args.days):
        fixed_demo = demo_inputs(workdir, f"fixed_{args.fixed_leads}_{args.fixed_days}", args.fixed_leads,
                                 args.fixed_days, args.reuse_inputs)
        fixed = phase(fixed_demo, args.fixed_days)
    spec = {"hash_key": HASH_KEY, "rebuild": phase(main_demo, args.days),
            "reconcile": history_phase(main_demo, args.days), "fixed": fixed, "histories": sweep}

    result: dict = {"engines": {}}
    for engine in engines:  # one engine at a time: each measures an otherwise idle pipeline
        result["engines"][engine] = engine_figures(engine, spec, workdir)
    counted = list(next(iter(result["engines"].values()))["rebuild"]["rows"]) if engines else []
    result["floor"] = floor_figures(spec, workdir, counted)

    rows = [f["rebuild"]["rows"] for f in result["engines"].values()]
    marts = [t for t in counted if not t.startswith("raw_")]
    result.update(
        scale={"leads": args.leads, "days": args.days, "landing_lines": spec["rebuild"]["landing_lines"],
               "reconcile_day": spec["reconcile"]["reconcile_day"], "new_day_lines": spec["reconcile"]["new_day_lines"],
               "histories": histories, "sweep_leads": sweep_leads, "fixed_leads": args.fixed_leads,
               "fixed_days": args.fixed_days},
        rows_equal=all(r == rows[0] for r in rows),
        floor_rows_equal=all({t: r[t] for t in marts} == {t: result["floor"]["rows"][t] for t in marts} for r in rows),
        machine=machine_info(REPO),
        load_start=load_start,
        load_end=load_average(),
        command=" ".join([Path(sys.executable).name, *sys.argv]),
    )
    result["targets"] = [t.as_json() for t in targets(result)]
    print(render_text(result))
    if args.markdown:
        print("\n" + render_markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["rows_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
