"""The Dagster code location: ``dagster dev -w workspace.yaml``, ``dg dev`` or ``-m appointment_pipeline.definitions``.

Every definition lives under ``defs/``, one folder per concern; ``load_from_defs_folder`` finds them. The package
ships its own ``dg.toml`` so that an installed wheel loads exactly like the checkout.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from dagster import AssetsDefinition, Definitions, load_from_defs_folder, with_source_code_references

T = TypeVar("T")


def _once(objects: Iterable[T] | None) -> list[T]:
    """A module that imports another module's definition (a job's selection, a schedule's job) lists it again."""
    return list({id(obj): obj for obj in objects or []}.values())


def _assemble() -> Definitions:
    loaded = load_from_defs_folder(path_within_project=Path(__file__).parent)
    assets = _once(loaded.assets)
    with_code = [a for a in assets if isinstance(a, AssetsDefinition) and a.specs and not a.is_external]
    return Definitions(
        assets=[*(a for a in assets if a not in with_code), *with_source_code_references(with_code)],
        asset_checks=_once(loaded.asset_checks),
        jobs=_once(loaded.jobs),
        schedules=_once(loaded.schedules),
        sensors=_once(loaded.sensors),
        resources=loaded.resources,
        executor=loaded.executor,
    )


defs = _assemble()
