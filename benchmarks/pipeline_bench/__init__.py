"""The pieces of benchmarks/run_benchmark.py: one module per kind of measurement, plus the report.

- ``machine``: the machine, its load, the commit, peak memory of a process;
- ``warehouses``: a fresh DuckDB file or PostgreSQL database per engine, and its removal;
- ``engine_run``: the child process of one engine (fixed cost, full rebuild, daily reconcile after each history);
- ``floor``: the child process measuring the floor (parse of the landing files plus the SQL models, no Dagster);
- ``report``: the targets, their ratios and the printed tables (text and markdown).

Children are started as ``python -m pipeline_bench.<module> SPEC OUT`` (JSON in, JSON out), so that each engine's
peak memory is its own.
"""
