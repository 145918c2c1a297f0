"""Request-side use cases on a real database (no cloud call happens before provisioning)."""

import threading

import pytest
from sqlmodel import Session, select

from sandbox.errors import (ConfigError, IllegalTransitionError, PermissionDeniedError,
                            QuotaExceededError, UsageError)
from sandbox.models import Event, Member, Sandbox
from sandbox.service import (approve_sandbox, deny_sandbox, destroy_sandbox, list_sandboxes,
                             request_sandbox, show_sandbox)
from tests.conftest import ADMIN, ALICE, BOB


def rows(app, model):
    with Session(app.engine) as session:
        return session.exec(select(model)).all()


def test_request_records_sandbox_owner_and_event(db_app):
    view = request_sandbox(db_app, ALICE, "aws-individual", ttl="2d")
    assert view["state"] == "requested" and view["name"] == f"alice-{view['id']}"
    (sandbox,) = rows(db_app, Sandbox)
    assert sandbox.expires_at - sandbox.created_at == __import__("datetime").timedelta(days=2)
    assert sandbox.location == "/sandbox/active/engineering"
    assert sandbox.desired_tags["sandbox-owner"] == "alice@example.com"
    assert sandbox.desired_tags["cost-center"] == "sandbox"
    assert [(m.email, m.role) for m in rows(db_app, Member)] == [("alice@example.com", "owner")]
    (event,) = rows(db_app, Event)
    assert (event.action, event.to_state, event.actor) == ("request", "requested", "alice@example.com")


@pytest.mark.parametrize("kwargs, message", [
    ({"ttl": "31d"}, "longer than template"),
    ({"ttl": "soon"}, "not a duration"),
    ({"ttl": "1m"}, r"shorter than template aws-individual allows \(at least 1h; m means minutes"),
    ({"ttl": "59m"}, "at least 1h"),
    ({"ttl": "30mo"}, "months are ambiguous; use days, e.g. 30d"),
    ({"ttl": "1month"}, "months are ambiguous"),
    ({"ttl": ""}, "not a duration"),  # not "the template's default"
    ({"ttl": "  "}, "not a duration"),
    ({"members": ["bob@example.com"]}, "for one person"),
    ({"name": "Load Test"}, "lowercase letters"),
    ({"name": "-x"}, "single hyphens"),
    ({"name": "a" * 21}, "1-20"),
])
def test_bad_requests_write_nothing(db_app, kwargs, message):
    with pytest.raises(UsageError, match=message):
        request_sandbox(db_app, ALICE, "aws-individual", **kwargs)
    assert rows(db_app, Sandbox) == [] and rows(db_app, Event) == []


def test_a_chosen_name_replaces_the_handle_and_keeps_the_id(db_app):
    view = request_sandbox(db_app, ALICE, "aws-individual", name="load-test")
    (sandbox,) = rows(db_app, Sandbox)
    assert view["name"] == sandbox.name == f"load-test-{sandbox.id}"
    assert sandbox.owner == "alice@example.com"


def test_department_without_mapping_names_config_key(db_app):
    lost = ALICE.__class__(email="carol@example.com", department="marketing")
    with pytest.raises(ConfigError, match=r"\[departments.marketing\] aws_ou"):
        request_sandbox(db_app, lost, "aws-individual")


def test_user_quota(db_app):
    for _ in range(3):
        request_sandbox(db_app, ALICE, "aws-individual")
    with pytest.raises(QuotaExceededError, match="limit 3"):
        request_sandbox(db_app, ALICE, "aws-individual")
    request_sandbox(db_app, BOB, "aws-individual")  # quotas are per user


def test_concurrent_requests_cannot_squeeze_past_quota(db_app):
    outcomes = []

    def ask():
        try:
            request_sandbox(db_app, ALICE, "gcp-individual")
            outcomes.append("ok")
        except QuotaExceededError:
            outcomes.append("quota")

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 3 and outcomes.count("quota") == 9
    assert len(rows(db_app, Sandbox)) == 3


def test_group_request_needs_approval_and_only_admins_approve(db_app):
    view = request_sandbox(db_app, ALICE, "aws-group", members=["bob@example.com"])
    assert view["approval_required"]
    with pytest.raises(PermissionDeniedError):
        approve_sandbox(db_app, ALICE, view["id"])
    refused = [e for e in rows(db_app, Event) if e.action == "denied_access"]
    assert refused and refused[0].actor == ALICE.email
    approved = approve_sandbox(db_app, ADMIN, view["id"][:4])
    assert approved["approved_by"] == ADMIN.email and approved["state"] == "requested"
    with pytest.raises(IllegalTransitionError):
        approve_sandbox(db_app, ADMIN, view["id"])
    assert {m.email for m in rows(db_app, Member)} == {ALICE.email, BOB.email}


def test_deny_and_withdraw(db_app):
    first = request_sandbox(db_app, ALICE, "aws-group")
    assert deny_sandbox(db_app, ADMIN, first["id"], "no budget")["state"] == "denied"
    second = request_sandbox(db_app, ALICE, "aws-individual")
    assert destroy_sandbox(db_app, ALICE, second["id"])["state"] == "deleted"
    with pytest.raises(IllegalTransitionError):
        deny_sandbox(db_app, ADMIN, second["id"])
    assert list_sandboxes(db_app, ALICE) == []
    assert {v["state"] for v in list_sandboxes(db_app, ALICE, everything=True)} == {"denied", "deleted"}


def test_others_cannot_see_or_destroy(db_app):
    """To an outsider another's sandbox does not exist (ids cannot be probed), yet each
    refusal is audited with the real caller."""
    from sandbox.errors import NotFoundError
    from sandbox.models import Event

    view = request_sandbox(db_app, ALICE, "aws-individual")
    with pytest.raises(NotFoundError, match="no sandbox with id"):
        show_sandbox(db_app, BOB, view["id"])
    with pytest.raises(NotFoundError, match="no sandbox with id"):
        destroy_sandbox(db_app, BOB, view["id"][:3])
    assert rows(db_app, Sandbox)[0].state == "requested"
    denied = [(e.actor, e.sandbox_id) for e in rows(db_app, Event) if e.action == "denied_access"]
    assert denied == [(BOB.email, view["id"])] * 2
    assert show_sandbox(db_app, ADMIN, view["id"])["owner"] == ALICE.email
    assert list_sandboxes(db_app, BOB) == []
    assert len(list_sandboxes(db_app, ADMIN, everything=True)) == 1


def chosen_ids(monkeypatch, *ids: str) -> None:
    """Sandbox ids drawn in this order instead of at random (secrets.token_hex cannot be seeded)."""
    import sandbox.service.requests

    drawn = iter(ids)
    monkeypatch.setattr(sandbox.service.requests, "new_sandbox_id", lambda: next(drawn))


def test_unknown_and_ambiguous_ids(db_app, monkeypatch):
    from sandbox.errors import NotFoundError

    # Two ids share the prefix "abc0"; the third only "ab". The second draw collides with
    # the first and is drawn again, as a random collision would be.
    chosen_ids(monkeypatch, "abc00001", "abc00001", "abc00002", "abd00003")
    ids = [request_sandbox(db_app, who, "gcp-individual")["id"] for who in (ALICE, BOB, ALICE)]
    assert ids == ["abc00001", "abc00002", "abd00003"]
    assert [s.name for s in rows(db_app, Sandbox) if s.id == "abc00002"] == ["bob-abc00002"]

    with pytest.raises(NotFoundError, match="no sandbox with id 'ffffffff'"):
        show_sandbox(db_app, ALICE, "ffffffff")
    with pytest.raises(UsageError, match="give a sandbox id"):
        show_sandbox(db_app, ADMIN, "  ")
    for prefix, matching in (("a", ids), ("ab", ids), ("abc", ids[:2]), ("abc0000", ids[:2])):
        assert ambiguity(db_app, ADMIN, prefix) <= set(matching)
    assert show_sandbox(db_app, ADMIN, "abc00002")["owner"] == BOB.email
    assert show_sandbox(db_app, ADMIN, "abd")["id"] == "abd00003"  # a unique prefix is enough
    assert show_sandbox(db_app, ADMIN, "ABC00001 ")["id"] == "abc00001"  # case and spaces do not matter
    # Only what the caller may see is searched: to Alice "abc" is hers alone, to Bob his
    # alone, so an ambiguity cannot reveal that another's id exists.
    assert show_sandbox(db_app, ALICE, "abc")["id"] == "abc00001"
    assert show_sandbox(db_app, BOB, "abc")["id"] == "abc00002"
    assert ambiguity(db_app, ALICE, "ab") == {"abc00001", "abd00003"}


def ambiguity(app, identity, prefix: str) -> set[str]:
    """The two ids an AmbiguousIdError names (which two of more is the database's choice)."""
    import re

    from sandbox.errors import AmbiguousIdError

    with pytest.raises(AmbiguousIdError) as refused:
        show_sandbox(app, identity, prefix)
    shown = re.fullmatch(rf"'{prefix}' matches several sandboxes \(([0-9a-f]{{8}}), ([0-9a-f]{{8}}), \.\.\.\); "
                         "give more characters of the id", str(refused.value))
    assert shown, str(refused.value)
    assert shown[1] != shown[2]
    return {shown[1], shown[2]}


def test_pages_walk_every_visible_sandbox_once_newest_first(db_app, clock):
    from datetime import timedelta

    from sandbox.service import list_sandbox_page

    made = []
    for n in range(7):
        made.append(request_sandbox(db_app, (ALICE, BOB, ADMIN)[n % 3], "gcp-individual")["id"])
        if n != 3:  # two share a creation time: the id breaks the tie
            clock.advance(timedelta(minutes=1))
    seen, cursor = [], None
    while True:
        page = list_sandbox_page(db_app, ADMIN, mine=False, limit=3, cursor=cursor)
        assert len(page["items"]) <= 3
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == 7
    created = [s["created_at"] for s in list_sandbox_page(db_app, ADMIN, mine=False)["items"]]
    assert created == sorted(created, reverse=True)
    # Another user's page holds only what they may see.
    alices = list_sandbox_page(db_app, ALICE, mine=False, limit=100)["items"]
    assert {s["owner"] for s in alices} == {ALICE.email} and len(alices) == 3
    with pytest.raises(UsageError, match="cursor"):
        list_sandbox_page(db_app, ADMIN, mine=False, cursor="garbage!")


@pytest.mark.parametrize("sort", ["name", "-name", "owner", "-owner", "template", "state", "-expires", "created"])
def test_pages_walk_every_sandbox_once_in_the_order_asked(db_app, clock, sort):
    from datetime import timedelta

    from sandbox.service import list_sandbox_page

    for n, template in enumerate(["gcp-individual", "gcp-group", "gcp-individual", "gcp-individual", "gcp-group"]):
        request_sandbox(db_app, (ALICE, BOB)[n % 2], template, ttl=f"{n + 1}d" if n != 2 else "1d")
        if n != 1:  # two share a creation time: the id breaks the tie
            clock.advance(timedelta(minutes=1))
    seen, cursor = [], None
    while True:
        page = list_sandbox_page(db_app, ADMIN, mine=False, limit=2, cursor=cursor, sort=sort)
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    key = {"created": "created_at", "expires": "expires_at"}.get(sort.lstrip("-"), sort.lstrip("-"))
    expected = sorted(seen, key=lambda s: (s[key], s["id"]), reverse=sort.startswith("-"))
    assert [s["id"] for s in seen] == [s["id"] for s in expected] and len(seen) == 5
    first = list_sandbox_page(db_app, ADMIN, mine=False, limit=2, sort=sort)["next_cursor"]
    with pytest.raises(UsageError, match="for this order"):  # a cursor belongs to its order
        list_sandbox_page(db_app, ADMIN, mine=False, cursor=first, sort="-created" if sort != "-created" else "name")
    with pytest.raises(UsageError, match="not a sort key"):
        list_sandbox_page(db_app, ADMIN, mine=False, sort="secret")


def test_an_admin_approves_their_own_request_only_where_allow_self_says_so(db_url, clock):
    from sandbox.service import build_app
    from tests.conftest import make_settings

    for allow_self in (False, True):
        app = build_app(make_settings(db_url, "http://127.0.0.1:9", "http://127.0.0.1:9",
                                      approval={"allow_self": allow_self}), clock=clock)
        try:
            view = request_sandbox(app, ADMIN, "aws-group")
            if allow_self:
                assert approve_sandbox(app, ADMIN, view["id"])["approved_by"] == ADMIN.email
            else:
                with pytest.raises(PermissionDeniedError, match="another manager or admin must approve it"):
                    approve_sandbox(app, ADMIN, view["id"])
                (sandbox,) = [s for s in rows(app, Sandbox) if s.id == view["id"]]
                assert sandbox.approved_by is None
        finally:
            app.close()


def test_the_approvals_badge_counts_every_waiting_request_the_caller_may_answer(db_app):
    from sandbox.config import Identity
    from sandbox.service.queries import count_awaiting_approval

    db_app.settings.quotas.max_live_per_user = 0  # no per-user cap: several requests wait at once
    waiting = [request_sandbox(db_app, ALICE, "aws-group")["id"] for _ in range(4)]
    request_sandbox(db_app, ALICE, "aws-individual")  # needs no approval
    approve_sandbox(db_app, ADMIN, waiting[0])  # answered: no longer waits
    request_sandbox(db_app, ADMIN, "aws-group")  # the admin's own: not theirs to answer

    assert count_awaiting_approval(db_app, ADMIN) == 3
    manager = Identity(email="erin@example.com", department="engineering", manages=frozenset({"engineering"}))
    elsewhere = Identity(email="frank@example.com", department="research", manages=frozenset({"research"}))
    assert count_awaiting_approval(db_app, manager) == 4  # the admin's request is engineering's too
    assert count_awaiting_approval(db_app, elsewhere) == 0
