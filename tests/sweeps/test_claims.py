"""How sweeps claim their work: batch after batch, each sandbox once, in statements whose
size does not grow with how many a pass has handled."""

from sqlalchemy import event

from sandbox.models import Sandbox
from sandbox.service import request_sandbox
from sandbox.sweeps.base import SweepResult
from sandbox.sweeps.common import each_due
from tests.conftest import ALICE


def test_batches_are_claimed_past_the_last_one_with_statements_of_one_size(make_app):
    app = make_app(quotas={"max_live_per_user": 30})
    requested = {request_sandbox(app, ALICE, "gcp-individual")["id"] for _ in range(23)}
    claims = []

    def seen(_conn, _cursor, statement, parameters, _context, _executemany):
        if statement.lstrip().startswith("SELECT sandbox.id") and "lease_owner" in statement:
            claims.append(len(parameters))

    handled = []
    event.listen(app.engine, "before_cursor_execute", seen)
    try:
        each_due(app, SweepResult("test"), [Sandbox.state == "requested"],
                 lambda lease: handled.append(lease.sandbox_id), batch=5)
    finally:
        event.remove(app.engine, "before_cursor_execute", seen)

    assert sorted(handled) == sorted(requested)  # each one, once
    assert len(claims) == 6  # five batches, then the claim that finds none left
    assert len(set(claims)) == 1, claims  # the sixth claim is no bigger than the first
