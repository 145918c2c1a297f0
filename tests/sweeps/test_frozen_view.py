"""A frozen sandbox does not look live (issue 13, 6): `show` says where it is now and that
access is revoked until it is extended; `credentials` says so beside the sign-in details."""

from datetime import timedelta

from sandbox.service import get_credentials, request_sandbox, show_sandbox
from tests.conftest import ALICE
from tests.sweeps.conftest import run


def test_show_and_credentials_of_a_frozen_aws_sandbox_say_where_it_is_and_that_access_is_revoked(
        bootstrapped, clock, aws):
    app = bootstrapped
    sandbox_id = request_sandbox(app, ALICE, "aws-individual", ttl="1d")["id"]
    run(app, "provision")
    clock.advance(timedelta(days=1))
    run(app, "expiry")

    shown = show_sandbox(app, ALICE, sandbox_id)

    assert shown["state"] == "frozen"
    account = aws.org.list_parents(ChildId=shown["cloud_id"])["Parents"][0]["Id"]
    assert account == aws.ou_id("/sandbox/frozen")
    assert (shown["location"], shown["home_location"]) == ("/sandbox/frozen", "/sandbox/active/engineering")
    assert shown["access_revoked"] == (f"until it is extended (sandbox extend {sandbox_id} --by 1d); resources kept "
                               f"until {shown['delete_after']}")
    keys = list(shown)
    assert keys.index("home_location") == keys.index("location") + 1  # read together in the table
    credentials = get_credentials(app, ALICE, sandbox_id)
    # Still shown to the owner (they need them again after an extend), with the line beside them.
    assert credentials["access_revoked"] == shown["access_revoked"] and credentials["password"]
    active = request_sandbox(app, ALICE, "aws-individual")["id"]
    run(app, "provision")
    assert "access_revoked" not in get_credentials(app, ALICE, active) and "home_location" not in show_sandbox(
        app, ALICE, active)
