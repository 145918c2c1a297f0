"""What every fault test asserts afterwards: the database's story and the clouds' state."""

from __future__ import annotations

import functools
import threading
from collections import Counter, defaultdict
from typing import Any

import boto3
from sqlmodel import select

from sandbox.lifecycle import REQUESTED, TRANSITIONS
from sandbox.models import Credential, Event, Sandbox
from tests.e2e.helpers import ou_path_of


# ---- the database -----------------------------------------------------------------------

def events(app, sandbox_id: str | None = None) -> list[Event]:
    with app.session() as session:
        query = select(Event).order_by(Event.id)
        if sandbox_id is not None:
            query = query.where(Event.sandbox_id == sandbox_id)
        return list(session.exec(query).all())


def actions(app, sandbox_id: str) -> list[str]:
    return [e.action for e in events(app, sandbox_id)]


def action_counts(app, action: str) -> Counter:
    """How many `action` events each sandbox has."""
    return Counter(e.sandbox_id for e in events(app) if e.action == action)


def sandbox(app, sandbox_id: str) -> Sandbox:
    with app.session() as session:
        return session.get(Sandbox, sandbox_id)


def sandboxes(app) -> list[Sandbox]:
    with app.session() as session:
        return list(session.exec(select(Sandbox).order_by(Sandbox.created_at, Sandbox.id)).all())


def credentials(app, sandbox_id: str) -> Counter:
    """(member, name) -> rows; more than one of a pair would be a duplicated secret."""
    with app.session() as session:
        rows = session.exec(select(Credential).where(Credential.sandbox_id == sandbox_id)).all()
    return Counter((row.member_email, row.name) for row in rows)


def secret(app, sandbox_id: str, member: str, name: str) -> str | None:
    with app.session() as session:
        row = session.exec(select(Credential).where(
            Credential.sandbox_id == sandbox_id, Credential.member_email == member,
            Credential.name == name)).first()
    return None if row is None else app.vault.decrypt(row.ciphertext)


def expire_lease(app, sandbox_id: str) -> str | None:
    """What a dead worker's lease running out looks like: moved into the past. Returns its owner."""
    from datetime import timedelta

    with app.session() as session:
        row = session.get(Sandbox, sandbox_id)
        owner = row.lease_owner
        row.lease_until = app.now() - timedelta(seconds=1)
        session.add(row)
    return owner


def assert_lifecycle_legal(app) -> None:
    """Every sandbox's event log tells one legal story that ends in its current state.

    Events that carry states either change the state (from -> to must be in
    sandbox.lifecycle.TRANSITIONS) or record something in a state (from == to); each
    starts where the previous one ended; the first is the request (None -> requested).
    """
    by_sandbox: dict[str, list[Event]] = defaultdict(list)
    for event in events(app):
        if event.sandbox_id is not None and (event.from_state or event.to_state):
            by_sandbox[event.sandbox_id].append(event)
    states = {s.id: s.state for s in sandboxes(app)}
    problems = []
    for sandbox_id, state in states.items():
        current = None
        for event in by_sandbox.get(sandbox_id, []):
            step = f"{sandbox_id} event {event.id} {event.action}: {event.from_state} -> {event.to_state}"
            if current is None:
                if (event.from_state, event.to_state) != (None, REQUESTED):
                    problems.append(f"{step}: the log does not start with the request")
            elif event.from_state != current:
                problems.append(f"{step}: the previous event left it {current}")
            elif event.to_state != event.from_state and event.to_state not in TRANSITIONS[event.from_state]:
                problems.append(f"{step}: not in TRANSITIONS")
            current = event.to_state
        if current != state:
            problems.append(f"{sandbox_id}: the log ends in {current}, the row says {state}")
    assert not problems, "\n".join(problems)


# ---- AWS (moto) ---------------------------------------------------------------------------

def aws(url: str, service: str, **keys: str) -> Any:
    """A boto3 client on moto; with the default keys, one per (url, service) for the session."""
    if keys:
        return boto3.client(service, endpoint_url=url, region_name="us-east-1", **keys)
    return _client(url, service)


@functools.lru_cache(maxsize=None)
def _client(url: str, service: str) -> Any:
    # boto3's default session is not thread-safe when creating clients: make them here, once.
    with _clients_lock:
        return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")


_clients_lock = threading.Lock()


def accounts_with_email(url: str, email: str) -> list[dict]:
    pages = aws(url, "organizations").get_paginator("list_accounts").paginate()
    return [a for page in pages for a in page["Accounts"] if a["Email"].lower() == email.lower()]


def member_iam(url: str, account_id: str) -> Any:
    creds = aws(url, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName="fault-test")["Credentials"]
    return aws(url, "iam", aws_access_key_id=creds["AccessKeyId"],
               aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])


def ou_path(url: str, account_id: str) -> str:
    return ou_path_of(url, account_id)


def budgets_named(url: str, name: str) -> list[dict]:
    client = aws(url, "budgets")
    account = aws(url, "sts").get_caller_identity()["Account"]
    return [b for b in client.describe_budgets(AccountId=account).get("Budgets", [])
            if b["BudgetName"] == name]


def login_profile(iam: Any, user: str) -> dict | None:
    try:
        return iam.get_login_profile(UserName=user)["LoginProfile"]
    except iam.exceptions.NoSuchEntityException:
        return None


# ---- GCP (the emulator) ----------------------------------------------------------------------

def gcp_projects_of(emulator, sandbox_id: str) -> list[dict]:
    """Projects labelled as this sandbox's (sandbox-owner label, see sandbox.providers.gcp.naming)."""
    from sandbox.providers.gcp.naming import OWNER_LABEL, label_value

    state = emulator.state.dump()
    return [p for p in state["projects"] if p.get("labels", {}).get(OWNER_LABEL) == label_value(sandbox_id)]
