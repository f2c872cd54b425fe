"""The vocabularies of dbt_like_sql/seeds/*.csv for Python: the same files the SQL models join (no Dagster imports).

The enums in domain/statuses.py name the codes Python branches on; ``check_enum`` proves at import that they equal a
seed column, so adding, renaming or dropping a code in a CSV without the code that handles it fails at once.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

from appointment_pipeline.io.sql_project import Seed, load_seeds, sql_project_root


class VocabularyError(ValueError):
    """A Python enum that no longer matches its seed CSV."""


@functools.cache
def seeds() -> Mapping[str, Seed]:
    return load_seeds(sql_project_root())


def seed_rows(name: str) -> tuple[Mapping[str, Any], ...]:
    return seeds()[name].rows


def seed_values(name: str, column: str, **where: Any) -> list[Any]:
    return seeds()[name].values(column, **where)


def check_enum(enum: type[Enum], seed: str, column: str, **where: Any) -> None:
    """Raise VocabularyError unless the enum's values are exactly ``seed.column`` (of the rows matching ``where``)."""
    check_values(enum.__name__, {member.value for member in enum}, seed, column, **where)


def check_values(name: str, declared: Iterable[Any], seed: str, column: str, **where: Any) -> None:
    """Raise VocabularyError unless ``declared`` is exactly ``seed.column`` (of the rows matching ``where``)."""
    declared = set(declared)
    seeded = set(seed_values(seed, column, **where))
    if declared != seeded:
        path = seeds()[seed].path
        raise VocabularyError(
            f"{name} differs from {path.name} column {column}"
            + (f" where {where}" if where else "")
            + f": only in Python {sorted(declared - seeded)}, only in the CSV {sorted(seeded - declared)} ({path})"
        )
