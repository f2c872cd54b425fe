"""The in-process executor, made to stop on SIGTERM/SIGINT while a step waits for a pool slot.

Dagster holds interrupts back while its own bookkeeping runs and lets them through only inside a step's user code.
A step that waits for a slot of the ``appointment_warehouse`` pool is in neither: the in-process executor sleeps
and retries the claim without looking at held-back interrupts, so a run blocked behind a dead slot holder ignored
SIGTERM for as long as the slot stayed taken. This executor runs the same in-process execution and lets an
interrupt through, as ``DagsterExecutionInterruptedError``, while a step is blocked on a pool: the run then ends
as failed ("interrupted") and gives back its pending claim.
"""

from __future__ import annotations

from collections.abc import Iterator

from dagster import (
    DagsterEvent,
    DagsterEventType,
    DagsterExecutionInterruptedError,
    Definitions,
    Executor,
    executor,
    in_process_executor,
)
from appointment_pipeline.defs.runtime.dagster_internals import raise_interrupts_as


def _blocked_on_pool(event: DagsterEvent) -> bool:
    if event.event_type != DagsterEventType.ENGINE_EVENT or not event.step_key:
        return False
    data = event.engine_event_data
    return bool(data and data.metadata and "pool" in data.metadata)


class InterruptibleInProcessExecutor(Executor):
    def __init__(self, inner: Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan) -> Iterator[DagsterEvent]:
        events = iter(self._inner.execute(plan_context, execution_plan))
        blocked: set[str] = set()
        while True:
            if blocked:
                with raise_interrupts_as(DagsterExecutionInterruptedError):
                    event = next(events, None)
            else:
                event = next(events, None)
            if event is None:
                return
            if _blocked_on_pool(event) and event.step_key:
                blocked.add(event.step_key)
            elif event.step_key:
                blocked.discard(event.step_key)
            yield event


@executor(
    name="in_process",
    config_schema=in_process_executor.config_schema,  # type: ignore[call-overload]  # a schema object, as Dagster's own
)
def interruptible_in_process_executor(init_context):
    """Execute all steps in a single process; an interrupt ends a run that is waiting for a pool slot."""
    return InterruptibleInProcessExecutor(in_process_executor.executor_creation_fn(init_context))


defs = Definitions(executor=interruptible_in_process_executor)
