"""The wheel's package list is written out in pyproject.toml (the SQL project is mapped in from the top level):
every package of the source tree must be on it, or an installed copy misses modules the checkout has."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_for_the_wheel():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    in_tree = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "appointment_pipeline").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert in_tree <= listed, sorted(in_tree - listed)
    assert "appointment_pipeline.dbt_like_sql" in listed
    assert config["package-dir"]["appointment_pipeline.dbt_like_sql"] == "dbt_like_sql"


def test_the_packaged_dg_project_matches_pyproject():
    """load_from_defs_folder reads appointment_pipeline/dg.toml (installed copies have no pyproject.toml);
    the dg CLI reads pyproject.toml: both must describe one project."""
    packaged = tomllib.loads((REPO / "appointment_pipeline" / "dg.toml").read_text())["project"]
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    assert packaged == declared


def test_no_module_is_over_600_lines():
    long = {
        path.relative_to(REPO).as_posix(): count
        for path in [*(REPO / "appointment_pipeline").rglob("*.py"), *(REPO / "tests").rglob("*.py")]
        if (count := len(path.read_text().splitlines())) > 600
    }
    assert long == {}, long
