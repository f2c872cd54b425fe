"""The one place that imports Dagster's private API (``dagster._...``), pinned to the minor version it was written for.

Dagster's public API has no hook for a run launcher's health check or for an executor that stops while a step waits
for a pool slot, and its daemon-side backfill loop has no public entry for tests. Everything private the project
uses comes through this module, so that an upgrade has one file to review: importing it under another minor version
fails with a message instead of misbehaving later.
"""

from __future__ import annotations

import dagster

PINNED_MINOR = "1.13"

if ".".join(dagster.__version__.split(".")[:2]) != PINNED_MINOR:
    raise ImportError(
        f"appointment_pipeline uses private Dagster APIs checked against Dagster {PINNED_MINOR}.x, but "
        f"{dagster.__version__} is installed: review appointment_pipeline/defs/runtime/dagster_internals.py"
    )

from dagster._core.execution.backfill import BulkActionStatus  # noqa: E402
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus  # noqa: E402
from dagster._utils.interrupts import raise_interrupts_as  # noqa: E402

# Instance configuration of an in-process deployment (tests): module paths of Dagster's own classes.
SYNC_RUN_LAUNCHER = {"module": "dagster._core.launcher.sync_in_memory_run_launcher", "class": "SyncInMemoryRunLauncher"}
DEFAULT_RUN_COORDINATOR = {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}


def daemon_workspace_context(instance, **target: str):
    """A workspace context as the daemon builds it (a context manager), loading the code location in process;
    ``target`` are LoadableTargetOrigin fields (python_file, attribute, working_directory). Tests drive the daemon."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

    origin = InProcessCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(**target),
        location_name="appointment_pipeline",
    )
    return create_test_daemon_workspace_context(InProcessWorkspaceLoadTarget(origin), instance)


def execute_backfill_iteration(workspace_context, logger):
    """One iteration of the backfill daemon."""
    from dagster._daemon.backfill import execute_backfill_iteration as iteration

    return iteration(workspace_context, logger)


__all__ = ["BulkActionStatus", "CheckRunHealthResult", "WorkerStatus", "raise_interrupts_as"]
