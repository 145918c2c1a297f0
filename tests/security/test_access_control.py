"""Who may do what: credentials for the owner, members and admins; extend and destroy for
the owner and admins; approve, deny, retry, bootstrap, rotate-key and reports for admins.
Every refusal is one line with exit code 3 (or, to a stranger who may not see the
sandbox, "not found" with exit 2), changes nothing, and is itself audited."""

import pytest

from tests.security.conftest import ADMIN, ALICE, BOB, CAROL, assert_refused


@pytest.fixture
def team(cloud_cli):
    """An active GCP group sandbox: alice owns it, bob is a member, carol is a stranger."""
    view = cloud_cli.json("request", "gcp-group", "--member", BOB)
    cloud_cli("admin", "approve", view["id"], user=ADMIN, check=True)
    cloud_cli("daemon", "--once", "--job", "provision", user=ADMIN, check=True)
    assert cloud_cli.json("show", view["id"])["state"] == "active"
    return view["id"]


def test_credentials_only_for_the_owner_a_member_or_an_admin(cloud_cli, database, team):
    for user in (ALICE, BOB, ADMIN):
        assert cloud_cli.json("credentials", team, user=user)["member"] in (ALICE, BOB)
    assert_refused(cloud_cli, database, ["credentials", team], user=CAROL,
                   attempted="see", sandbox_id=team, hidden=True)
    # A member reads their own, not another member's; an admin may read anyone's.
    assert_refused(cloud_cli, database, ["credentials", team, "--member", ALICE], user=BOB,
                   attempted="read another member's credentials", sandbox_id=team)
    assert cloud_cli.json("credentials", team, "--member", BOB, user=ADMIN)["member"] == BOB


def test_show_and_events_only_for_the_owner_a_member_or_an_admin(cloud_cli, database, team):
    for user in (ALICE, BOB, ADMIN):
        assert cloud_cli.json("show", team, user=user)["id"] == team
        assert cloud_cli.json("events", team, user=user)
    assert_refused(cloud_cli, database, ["show", team], user=CAROL, attempted="see", sandbox_id=team,
                   hidden=True)
    assert_refused(cloud_cli, database, ["events", team[:4]], user=CAROL, attempted="see", sandbox_id=team,
                   hidden=True)
    # Listing is not refused, it is filtered: a stranger sees nothing of it.
    assert cloud_cli.json("list", "--all", user=CAROL) == []
    assert [s["id"] for s in cloud_cli.json("list", user=BOB)] == [team]


def test_extend_and_destroy_only_for_the_owner_or_an_admin(cloud_cli, database, team):
    for user, hidden in ((BOB, False), (CAROL, True)):
        assert_refused(cloud_cli, database, ["extend", team, "--by", "1d"], user=user,
                       attempted="see" if hidden else "extend", sandbox_id=team, hidden=hidden)
        assert_refused(cloud_cli, database, ["destroy", team, "--yes"], user=user,
                       attempted="see" if hidden else "destroy", sandbox_id=team, hidden=hidden)
    assert cloud_cli.json("extend", team, "--by", "1d", user=ALICE)["extension_count"] == 1
    assert cloud_cli.json("extend", team, "--by", "1d", user=ADMIN)["extension_count"] == 2
    assert cloud_cli.json("destroy", team, "--yes", user=ADMIN)["state"] == "deleted"


def test_owner_may_destroy_their_own(cloud_cli, database):
    view = cloud_cli.json("request", "gcp-individual", "--wait")
    assert_refused(cloud_cli, database, ["destroy", view["id"], "--yes"], user=BOB, attempted="see",
                   sandbox_id=view["id"], hidden=True)
    assert cloud_cli.json("destroy", view["id"], "--yes", user=ALICE)["state"] == "deleted"


ADMIN_ONLY = [
    (["admin", "retry", "{id}"], "retry sandboxes", None),
    (["admin", "bootstrap"], "bootstrap", None),
    (["admin", "rotate-key", "--new-key-file", "/nonexistent"], "rotate keys", None),
    (["report", "usage"], "see reports", None),
    (["report", "cost", "--format", "json"], "see reports", None),
    (["report", "expiring"], "see reports", None),
    (["report", "compliance"], "see reports", None),
    (["report", "audit", "--format", "html", "--out", "audit.html"], "see reports", None),
]


def test_admin_commands_only_for_admins(sandbox_cli, database, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sandbox_cli("db", "upgrade", check=True)
    pending = sandbox_cli.json("request", "gcp-group", "--member", BOB)
    for args, attempted, sandbox_id in ADMIN_ONLY:
        args = [a.format(id=pending["id"]) for a in args]
        for user in (ALICE, BOB):  # the owner and a member are not admins either
            result = assert_refused(sandbox_cli, database, args, user=user, attempted=attempted,
                                    sandbox_id=sandbox_id)
            assert ("only managers and admins see reports" if args[0] == "report" else "only admins may") \
                in result.stderr
        # Approving is for a manager of the department or an admin, never the requester.
        for verb, extra in (("approve", []), ("deny", ["--reason", "no"])):
            result = assert_refused(sandbox_cli, database, ["admin", verb, pending["id"], *extra], user=user,
                                    attempted=verb, sandbox_id=pending["id"])
            assert "or an admin may " + verb in result.stderr
    assert not (tmp_path / "audit.html").exists()
    assert sandbox_cli.json("show", pending["id"])["state"] == "requested"
    assert sandbox_cli.json("admin", "approve", pending["id"], user=ADMIN)["approved_by"] == ADMIN
