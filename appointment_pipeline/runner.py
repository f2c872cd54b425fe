"""Run the asset graph in-process for a range of snapshot days (quickstart, tests, benchmarks).

The CLI equivalent is ``dagster asset materialize -m appointment_pipeline.definitions --select '*'
--partition-range A...B``; both execute one real Dagster run with the single-run backfill policy.
"""

from collections.abc import Mapping, Sequence
from datetime import date

from dagster import AssetsDefinition, AssetSelection, AssetSpec, DagsterInstance, ExecuteInProcessResult, materialize

from appointment_pipeline.definitions import defs


def materialize_range(
    first_day: date,
    last_day: date,
    *,
    resources: Mapping[str, object] | None = None,
    instance: DagsterInstance | None = None,
    selection: str | Sequence[str] | AssetSelection = "*",
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, object] | None = None,
    raise_on_error: bool = True,
) -> ExecuteInProcessResult:
    """Materialize ``selection`` (default: every asset) for snapshot days first_day..last_day as one run."""
    assets = [a for a in defs.assets or [] if isinstance(a, (AssetsDefinition, AssetSpec))]
    checks = list(defs.asset_checks or [])
    run_tags = {
        "dagster/asset_partition_range_start": first_day.isoformat(),
        "dagster/asset_partition_range_end": last_day.isoformat(),
        **(tags or {}),
    }
    return materialize(
        [*assets, *checks],
        selection=selection,
        resources={**(defs.resources or {}), **(resources or {})},
        instance=instance,
        tags=run_tags,
        run_config=dict(run_config or {}),
        raise_on_error=raise_on_error,
    )
