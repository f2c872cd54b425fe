"""A run launcher whose run workers can be health-checked, so that a killed run frees its pool slot.

Dagster's ``DefaultRunLauncher`` starts each run as a local subprocess but cannot tell whether that process is
still alive, so the run-monitoring daemon never notices a run worker killed with ``kill -9`` (or by the OOM killer):
the run stays STARTED and keeps its ``appointment_warehouse`` slot, and every later writer waits forever. The same
happens to a ``dagster asset materialize`` process, which executes its run itself.

:class:`LocalProcessRunLauncher` launches exactly like ``DefaultRunLauncher`` and adds the health check: the process
that started the run (the pid of its RUN_START event) must still exist on this machine, and not as a zombie or a
later process that reused the pid. A run whose process is gone is reported FAILED; the monitoring daemon then marks
it failed, and ``run_monitoring.free_slots_after_run_end_seconds`` frees its slots. This is valid when run workers
run on the daemon's machine: the single-machine deployment of deploy/dagster.yaml.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher
from appointment_pipeline.defs.runtime.dagster_internals import CheckRunHealthResult, WorkerStatus

# Slack between a process's start and its run's RUN_START event (which the process itself writes later).
_CLOCK_SLACK_SECONDS = 2.0


def process_state(pid: int, started_by: float | None = None) -> str:
    """'alive', 'gone' (no such process, a zombie, or a process started after ``started_by``: the pid was reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        pass  # exists, owned by someone else
    stat = Path(f"/proc/{pid}/stat")
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return "alive"  # no /proc (not Linux): existence is all we can tell
    if fields[0] in ("Z", "X"):
        return "gone"
    if started_by is not None:
        try:
            boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                        if line.startswith("btime "))
            started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, StopIteration, IndexError):
            return "alive"
        if started > started_by + _CLOCK_SLACK_SECONDS:
            return "gone"
    return "alive"


class LocalProcessRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` plus a run worker health check by process id (one machine)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        records = self._instance.get_records_for_run(run.run_id, of_type=DagsterEventType.RUN_START, limit=1).records
        event = records[0].event_log_entry if records else None
        pid = event.dagster_event.pid if event and event.dagster_event else None
        if event is None or pid is None:
            # Not started yet, or started elsewhere: leave it to the start timeout, never fail a run on a guess.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run worker process recorded yet")
        state = process_state(pid, started_by=event.timestamp)
        if state == "alive":
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker process {pid} is alive")
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker process {pid} is gone (killed or crashed without reporting)"
        )
