from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from appointment_pipeline.io.warehouse import Warehouse
from appointment_pipeline.settings import get_settings
from pipeline import (
    DEMO_ARGS,
    SHARED_DIR_VARIABLE,
    SHARED_PG_URLS,
    Inputs,
    create_pg_database,
    demo_inputs,
    drop_pg_database,
    private_copy,
    run_pipeline,
    shared_build,
    shared_demo,
)

# The files that take longest (real runs, spawned Dagster processes) start first, in this order, so that the xdist
# workers finish together instead of one running a long file alone at the end. Every other file follows as collected.
LONGEST_FIRST = [
    "tests/deployment/test_cli.py",
    "tests/defs/test_hash_key_change.py",
    "tests/defs/test_operations.py",
    "tests/defs/test_pipeline.py",
    "tests/benchmarks/test_run_benchmark.py",
    "tests/deployment/test_installed_package.py",
    "tests/deployment/test_postgres_instance.py",
    "tests/defs/test_concurrency.py",
    "tests/defs/test_audits.py",
    "tests/defs/test_killed_run.py",
    "tests/deployment/test_static_checks.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep their order


@pytest.fixture(autouse=True)
def fresh_settings():
    """Settings are read once per process: a test that changes the environment reads them again."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """A small deterministic demo (DEMO_ARGS): "Lead" table in SQLite and a landing zone of a week. Each worker gets
    its own copy, so a test may move files in it (and put them back)."""
    root, summary = shared_demo("demo", **DEMO_ARGS)
    return demo_inputs(private_copy(root, tmp_path_factory.mktemp("demo"))), summary


@pytest.fixture(scope="session")
def pg_database():
    """Factory of fresh PostgreSQL databases, all dropped at the end of the session."""
    created: list[str] = []

    def make(prefix: str = "ap_test") -> str:
        url = create_pg_database(prefix)
        created.append(url)
        return url

    yield make
    for url in created:
        drop_pg_database(url)


@pytest.fixture(scope="session")
def duckdb_built(tmp_path_factory) -> Warehouse:
    """The demo materialized once into a DuckDB warehouse (the whole graph, all days as one run); each worker reads
    its own copy of the file (DuckDB lets one process at a time open a file for writing)."""
    def build(root: Path) -> None:
        demo_root, summary = shared_demo("demo", **DEMO_ARGS)
        run_pipeline(f"duckdb:///{root / 'warehouse.duckdb'}", demo_inputs(demo_root), summary.first_day,
                     summary.last_day)

    root, _ = shared_build("duckdb_built", build)
    return Warehouse(f"duckdb:///{private_copy(root, tmp_path_factory.mktemp('wh')) / 'warehouse.duckdb'}")


@pytest.fixture(scope="session")
def postgres_built() -> Warehouse:
    """The same demo materialized once into a PostgreSQL warehouse that every worker reads (never writes)."""
    def build(root: Path) -> str:
        demo_root, summary = shared_demo("demo", **DEMO_ARGS)
        url = create_pg_database("ap_built")
        with open(root.parent / SHARED_PG_URLS, "a") as registry:
            registry.write(url + "\n")
        run_pipeline(url, demo_inputs(demo_root), summary.first_day, summary.last_day)
        return url

    _, url = shared_build("postgres_built", build)
    return Warehouse(url)


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """30 leads over three days for the operations tests: (source_db_url, landing_dir). Read-only: copy to change."""
    root, _ = shared_demo("small_demo", leads=30, days=3, start=DEMO_ARGS["start"], seed=5)
    inputs = demo_inputs(private_copy(root, tmp_path_factory.mktemp("small_demo")))
    return inputs.source_db_url, inputs.landing_dir


@pytest.fixture(scope="session")
def httpserver_listen_address():
    """pytest-httpserver on 127.0.0.1 (not "localhost", which may resolve to ::1 first)."""
    return ("127.0.0.1", 0)

# -- one progress line per finished test file (with or without pytest-xdist) ------------------------------------------


class FileProgress:
    """Prints ``tests/io/test_sql_layer.py  34 passed  12.3s  [ 40%]`` once the last test of a file has finished.

    Registered on the process that reports (the xdist controller, or the only process without xdist). The time is the
    sum of the file's setup, call and teardown durations, so a shared session fixture counts where it is first built.
    """

    def __init__(self, config: pytest.Config):
        self.config = config
        self.expected: Counter[str] | None = None
        self.finished: Counter[str] = Counter()
        self.outcomes: dict[str, Counter[str]] = defaultdict(Counter)
        self.seconds: Counter[str] = Counter()
        self.printed: set[str] = set()

    @property
    def reporter(self):
        return self.config.pluginmanager.get_plugin("terminalreporter")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if session.items:  # without xdist: the items this process runs
            self.expected = Counter(item.nodeid.split("::")[0] for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids) -> None:
        if self.expected is None:  # every worker collects the same items
            self.expected = Counter(nodeid.split("::")[0] for nodeid in ids)

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report, config):
        # the file line replaces the per-test letters (its counts say what failed; the summary lists it)
        category, letter, word = yield
        return category, "" if config.get_verbosity() <= 0 else letter, word

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        path = report.nodeid.split("::")[0]
        self.seconds[path] += report.duration
        if report.when == "call" or report.outcome != "passed":
            outcome = report.outcome if report.when == "call" or report.outcome == "skipped" else "error"
            if hasattr(report, "wasxfail"):
                outcome = "xfailed" if report.skipped else "xpassed"
            self.outcomes[path][outcome] += 1
        if report.when == "teardown":
            self.finished[path] += 1
            if self.expected is not None and self.finished[path] >= self.expected[path]:
                self.print_line(path)

    def print_line(self, path: str) -> None:
        if path in self.printed or self.reporter is None:
            return
        self.printed.add(path)
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes[path].items()))
        total = sum(self.expected.values()) if self.expected else 0
        done = sum(self.finished.values())
        progress = f"[{100 * done // total:3d}%]" if total else ""
        self.reporter.ensure_newline()
        self.reporter.write_line(f"{path:<48} {counts:<24} {self.seconds[path]:6.1f}s  {progress}")

    def pytest_sessionfinish(self) -> None:
        for path in sorted(set(self.finished) - self.printed):  # e.g. a worker that crashed mid-file
            self.print_line(path)


MEMORY_TMP = Path("/dev/shm")  # tmpfs on Linux


def use_memory_tmp() -> None:
    """Temporary files (pytest's tmp_path, Dagster's SQLite instances, DuckDB files) in memory when the machine has a
    tmpfs and TMPDIR is not set: the tests commit to SQLite hundreds of times per run, and a busy disk's fsync made
    them wait longer than they computed. An exported TMPDIR wins."""
    if "TMPDIR" in os.environ or not os.access(MEMORY_TMP, os.W_OK):
        return
    if shutil.disk_usage(MEMORY_TMP).free < 2 * 1024**3:
        return
    os.environ["TMPDIR"] = str(MEMORY_TMP)  # spawned Dagster processes inherit it
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again


def pytest_configure(config: pytest.Config) -> None:
    use_memory_tmp()
    if hasattr(config, "workerinput"):  # an xdist worker: the controller prints and owns the shared directory
        return
    os.environ[SHARED_DIR_VARIABLE] = tempfile.mkdtemp(prefix="appointment_pipeline_tests_")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and config.get_verbosity() <= 0:
        reporter.showfspath = False  # the file lines carry the path
    config.pluginmanager.register(FileProgress(config), "file_progress")


def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or SHARED_DIR_VARIABLE not in os.environ:
        return
    shared = Path(os.environ.pop(SHARED_DIR_VARIABLE))
    if (shared / SHARED_PG_URLS).exists():
        for url in (shared / SHARED_PG_URLS).read_text().split():
            drop_pg_database(url)
    shutil.rmtree(shared, ignore_errors=True)


# -- tables a test recorded for the log (record_property), printed after the run --------------------------------------
SUMMARY_PROPERTIES = {"benchmark_targets": "benchmark ratios at a tiny scale (tests/benchmarks)"}


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    """Shown with or without pytest-xdist: a worker's report carries its test's user properties to the controller."""
    printed: set[tuple[str, str]] = set()
    for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed"):
        for name, text in getattr(report, "user_properties", []):
            if name in SUMMARY_PROPERTIES and (report.nodeid, name) not in printed:
                printed.add((report.nodeid, name))
                terminalreporter.write_sep("-", SUMMARY_PROPERTIES[name])
                terminalreporter.write_line(str(text))
