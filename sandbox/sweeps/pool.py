"""The pool job: for every cloud with an account pool, return the leases deleted
sandboxes left behind (sandbox.service.pool.reclaim_leases), resume or start the account
creations that keep min_ready accounts ready or on their way (within max_size), then clean
the accounts waiting in cleaning (sandbox.service.pool decides ready or quarantine).

A no-op where no cloud has a pool. One replica at a time (the job's lock); each cleaning
account is claimed with a lease as well, for `sandbox admin pool clean` run meanwhile.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sandbox.errors import ProviderError
from sandbox.service.app import App
from sandbox.service.pool import CLEANING, claim_for_cleaning, clean_account, pool_clouds, reclaim_leases, refill
from sandbox.sweeps.base import SweepResult, sweep
from sandbox.sweeps.common import Stop

log = logging.getLogger("sandbox.sweeps.pool")

JOB = "pool"


@sweep(JOB)
def keep_pool(app: App, result: SweepResult, now: datetime, stop: Stop | None) -> None:
    for provider in pool_clouds(app):
        try:
            reclaimed = reclaim_leases(app, provider)  # before refill: they count as on their way
            result.due += len(reclaimed)
            result.done += len(reclaimed)
        except ProviderError as exc:
            result.due += 1
            result.failed += 1
            result.errors.append(f"{provider} pool reclaim: {exc}")
            log.warning("event=pool_reclaim_failed provider=%s error=%r", provider, str(exc))
        try:
            made = refill(app, provider)
            result.due += len(made)
            result.done += len(made)
        except ProviderError as exc:  # the account quota, say: cleaning still goes on
            result.due += 1
            result.failed += 1
            result.errors.append(f"{provider} pool refill: {exc}")
            log.warning("event=pool_refill_failed provider=%s error=%r", provider, str(exc))
        for row in claim_for_cleaning(app, provider):
            if stop and stop():
                return
            result.due += 1
            try:
                after = clean_account(app, row)
            except ProviderError as exc:
                result.failed += 1
                result.errors.append(f"pool account {row.cloud_id}: {exc}")
                continue
            if after.state == CLEANING:  # a failed pass, retried next run
                result.failed += 1
                result.errors.append(f"pool account {after.cloud_id}: {after.last_clean}")
            else:
                result.done += 1
