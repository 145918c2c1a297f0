"""The daemon's jobs: the one list the scheduler, the [daemon] intervals, `sandbox daemon
--job` and the metrics read.

A job's function is named as "module:function" and imported when the job first runs, so
that `sandbox --help` (which lists the names) loads no sweep and no database library.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from sandbox.errors import UsageError

if TYPE_CHECKING:
    from sandbox.sweeps.base import SweepResult

    JobFunction = Callable[..., SweepResult]  # (app, *, stop=None): stop is the daemon's SIGTERM flag


@dataclass(frozen=True)
class Job:
    name: str
    function: str  # "module:function", called as function(app, stop=...)
    interval_key: str  # the [daemon] setting of how often it runs

    def load(self) -> JobFunction:
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)


# In run order (`--once`): provision first so a new sandbox is live before the others look
# at it; notify last so it sends what the others queued in the same run.
JOBS = (
    Job("provision", "sandbox.sweeps.provisioning:provision_due", "provision_interval"),
    Job("expiry", "sandbox.sweeps.expiry:expire_due", "expiry_interval"),
    Job("budgets", "sandbox.sweeps.budgets:read_budgets", "budget_interval"),
    Job("tags", "sandbox.sweeps.tags:check_tags", "tags_interval"),
    Job("reconcile", "sandbox.sweeps.reconcile:reconcile", "reconcile_interval"),
    Job("pool", "sandbox.sweeps.pool:keep_pool", "pool_interval"),  # a no-op unless a cloud has a pool
    Job("notify", "sandbox.notify:deliver_notifications", "notify_interval"),
)
JOB_NAMES = tuple(job.name for job in JOBS)


def select_jobs(names: list[str] | tuple[str, ...] = ()) -> list[Job]:
    """The jobs named (every one if none), in run order, each once."""
    unknown = [name for name in names if name not in JOB_NAMES]
    if unknown:
        raise UsageError(f"unknown job {unknown[0]!r}; jobs: {', '.join(JOB_NAMES)}")
    return [job for job in JOBS if job.name in names or not names]
