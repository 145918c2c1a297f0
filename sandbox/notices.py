"""Messages to owners and members, queued in the outbox in the lifecycle step's transaction.

Delivery (log, SMTP, webhook) happens later and separately, so a mail server that is down
never blocks or rolls back a freeze or a delete.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from sandbox.models import Member, Notification, Sandbox

KINDS = ("ready", "expiry_warning", "frozen", "deleted", "budget_threshold", "provision_failed")


def queue_notice(session: Session, sandbox: Sandbox, kind: str, now: datetime, **facts) -> Notification:
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind}")
    recipients = sorted(
        {sandbox.owner}
        | set(session.exec(select(Member.email).where(Member.sandbox_id == sandbox.id)).all())
    )
    subject, body = _compose(sandbox, kind, facts)
    notice = Notification(sandbox_id=sandbox.id, kind=kind, recipients=recipients,
                          subject=subject, body=body, created_at=now, next_attempt_at=now)
    session.add(notice)
    return notice


def _compose(sandbox: Sandbox, kind: str, facts: dict) -> tuple[str, str]:
    label = f"{sandbox.name} ({sandbox.provider} {sandbox.cloud_id or 'not created'})"
    expires = sandbox.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    if kind == "ready":
        return (f"Sandbox {sandbox.name} is ready",
                f"Your sandbox {label} is active until {expires}.\n"
                f"Get your sign-in details with: sandbox credentials {sandbox.id}")
    if kind == "expiry_warning":
        return (f"Sandbox {sandbox.name} expires in {facts.get('left') or facts['lead']}",
                f"Your sandbox {label} expires at {expires}. It will then be frozen and, "
                f"after the grace period, deleted.\nTo keep it: sandbox extend {sandbox.id} --by 3d")
    if kind == "frozen":
        return (f"Sandbox {sandbox.name} is frozen",
                f"Your sandbox {label} was frozen ({facts.get('reason', 'expired')}); access is revoked "
                f"but resources are kept until {facts['delete_after']:%Y-%m-%d %H:%M UTC}.\n"
                f"To unfreeze: sandbox extend {sandbox.id} --by 3d")
    if kind == "deleted":
        return (f"Sandbox {sandbox.name} was deleted", f"Your sandbox {label} was deleted.")
    if kind == "budget_threshold":
        return (f"Sandbox {sandbox.name} reached {facts['percent']}% of its budget",
                f"Your sandbox {label} has spent {facts['spend']} USD of its {facts['budget']} USD "
                f"budget ({facts['percent']}% threshold, action: {facts['action']}).")
    return (f"Sandbox {sandbox.name} could not be provisioned",
            f"Provisioning {label} failed: {facts.get('error', 'unknown error')}.\n"
            f"An admin can retry it with: sandbox admin retry {sandbox.id}")
