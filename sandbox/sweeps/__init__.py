"""The daemon's sweeps: each a function (app) -> SweepResult, safe to run on any replica.

Every sweep holds its job's advisory lock while it runs (another replica gets
SweepResult(skipped=True)), leases each sandbox it works on, counts one sandbox's error
without stopping, and reads time only from app.now().
"""

from sandbox.sweeps.base import SweepResult, claim_due, exclusive
from sandbox.sweeps.budgets import read_budgets
from sandbox.sweeps.expiry import expire_due
from sandbox.sweeps.provisioning import provision_due
from sandbox.sweeps.reconcile import reconcile
from sandbox.sweeps.tags import check_tags

__all__ = ["SweepResult", "check_tags", "claim_due", "exclusive", "expire_due",
           "provision_due", "read_budgets", "reconcile"]
