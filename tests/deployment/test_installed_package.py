"""The package as a deployment installs it: a wheel in a fresh virtual environment, run from outside the checkout.

The environment holds the wheel and exactly the distributions its metadata requires (linked from this environment,
so a dependency missing from pyproject.toml is missing there too).

An editable install reads the SQL project from the checkout; a wheel must carry it as package data. Both must build
the same tables from the same inputs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from appointment_pipeline.io.warehouse import Warehouse
from pipeline import HASH_KEY, OUTPUT_TABLES, REFERENCE_TIME, cli_env, table_snapshot

REPO = Path(__file__).resolve().parents[2]


def dependency_closure(requirements: list[str]) -> dict[str, metadata.Distribution]:
    """The distributions of this environment that ``requirements`` need, transitively, extras and markers included."""
    found: dict[str, metadata.Distribution] = {}
    seen: set[tuple[str, str]] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        dist = metadata.distribution(name)
        assert requirement.specifier.contains(dist.version, prereleases=True), f"{requirement} is not satisfied here by {dist.version}"
        found[name] = dist
        for wanted_extra in ("", *requirement.extras):
            if (name, wanted_extra) not in seen:
                seen.add((name, wanted_extra))
                todo += [(Requirement(r), wanted_extra) for r in dist.requires or []]
    return found


def link_dependencies(requirements: list[str], venv: Path) -> None:
    """Make exactly the required distributions of this environment importable in ``venv`` (symlinks of their
    top-level packages and metadata, and their console scripts): a fresh install of the wheel's dependencies,
    without downloading and unpacking them again."""
    target = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    for dist in dependency_closure(requirements).values():
        for top in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (target / top).exists():
                (target / top).symlink_to(source)
        for entry in dist.entry_points.select(group="console_scripts"):
            module, _, attribute = entry.value.partition(":")
            script = venv / "bin" / entry.name
            script.write_text(f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom {module} import {attribute.split('.')[0]}\n"
                              f"sys.exit({attribute}())\n")
            script.chmod(0o755)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel built from this checkout and only its declared dependencies."""
    root = tmp_path_factory.mktemp("wheel")
    # build from a copy of the sources: an in-tree build/ left by an earlier build must not leak stale files in
    source = root / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "data", ".dagster_home", "__pycache__", ".env"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # the build backend of this environment (the dev extra carries it) instead of a freshly downloaded one
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(source)],
                   check=True, timeout=600)
    (wheel,) = (root / "dist").glob("appointment_pipeline-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    subprocess.run([*pip, "--python", str(venv / "bin" / "python"), "install", "--no-deps", str(wheel)], check=True,
                   timeout=300)
    with zipfile.ZipFile(wheel) as archive:
        (info,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        requirements = metadata.PathDistribution(zipfile.Path(archive, info.rsplit("/", 1)[0] + "/")).requires
        link_dependencies([r for r in requirements or [] if "extra ==" not in r], venv)
    return venv


def test_the_wheel_ships_the_sql_project(installed, tmp_path):
    code = (
        "import appointment_pipeline.io.sql_project as p; root = p.sql_project_root(); "
        "print(root); print(len(p.load_project().models))"
    )
    completed = subprocess.run([str(installed / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    root, count = completed.stdout.split()
    assert Path(root).is_relative_to(installed), f"the SQL project was read from {root}, not from the installed wheel"
    assert int(count) == len(list((REPO / "dbt_like_sql").glob("*/*.sql")))


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_installed_wheel_builds_the_same_tables_from_another_directory(
    installed, engine, demo, duckdb_built, pg_database, tmp_path
):
    inputs, summary = demo
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}" if engine == "duckdb" else pg_database("ap_wheel")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = cli_env(
        DAGSTER_HOME=str(home),
        APPOINTMENT_WAREHOUSE_URL=url,
        APPOINTMENT_SOURCE_DB_URL=inputs.source_db_url,
        APPOINTMENT_LANDING_DIR=str(inputs.landing_dir),
        APPOINTMENT_HASH_KEY=HASH_KEY,
        APPOINTMENT_REFERENCE_TIME=REFERENCE_TIME,
    )
    command = [str(installed / "bin" / "dagster"), "asset", "materialize", "-m", "appointment_pipeline.definitions",
               "--select", "*", "--partition-range", f"{summary.first_day}...{summary.last_day}"]
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    completed = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    built = Warehouse(url)
    for table in OUTPUT_TABLES:
        assert built.table_exists(table), f"the installed package did not build {table}"
    assert table_snapshot(built, OUTPUT_TABLES) == table_snapshot(duckdb_built, OUTPUT_TABLES)
