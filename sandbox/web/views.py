"""Presentation only: how long is left, what happens next and when, charts that obey the
page's Content-Security-Policy. No database, no decisions: the service made those."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from sandbox.durations import format_remaining

STATE_HELP = {
    "requested": "asked for; waiting to start (or for approval)",
    "provisioning": "being set up in the cloud",
    "active": "ready to use",
    "frozen": "access revoked, resources kept for the grace period",
    "deleting": "being torn down",
    "deleted": "gone",
    "denied": "the request was denied",
    "failed": "setting it up failed",
}
IN_PROGRESS = ("requested", "provisioning", "deleting")


def parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def when(value: str | None) -> str:
    """2026-12-07 16:40 UTC: what people read; the <time> element keeps the ISO form."""
    at = parse_iso(value)
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "-"


def time_left(view: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """For a sandbox that will expire: the text, and whether it is in its last day."""
    expires = parse_iso(view.get("expires_at"))
    if expires is None or view["state"] not in ("requested", "provisioning", "active"):
        return None
    left = expires - now
    return {"text": f"{format_remaining(left)} left" if left.total_seconds() > 0 else "expired",
            "soon": left <= timedelta(days=1), "at": view["expires_at"]}


def budget(view: dict[str, Any]) -> dict[str, Any] | None:
    if view.get("budget_usd") is None:
        return None
    spend, limit = view["spend_usd"], view["budget_usd"]
    if spend is None:  # the daemon's budget pass has not read the bill yet
        return {"spend": None, "budget": limit, "pct": None, "over": False}
    return {"spend": spend, "budget": limit, "pct": round(100 * spend / limit) if limit else 0,
            "over": limit and spend >= limit}


def next_steps(view: dict[str, Any], template: dict[str, Any] | None, warn_before, now: datetime) -> list[dict]:
    """What the daemon will do to this sandbox, in order, with when (UTC)."""
    state = view["state"]
    steps: list[dict[str, Any]] = []
    if state == "requested" and view["approval_required"] and not view["approved_by"]:
        steps.append({"at": None, "what": f"a manager of {view['department']} or an admin approves or denies it"})
    if state in ("requested", "provisioning"):
        steps.append({"at": None, "what": "it is provisioned; this page turns active by itself"})
    if view.get("next_attempt"):
        steps.append({"at": view.get("next_attempt_at"), "what": view["next_attempt"]})
    expires = parse_iso(view.get("expires_at"))
    grace = _duration(template.get("grace_period")) if template else None
    if state == "active" and expires:
        for label, delta in warn_before:
            if expires - delta > now:
                steps.append({"at": _iso(expires - delta), "what": f"the owner is warned ({label} before expiry)"})
        steps.append({"at": view["expires_at"], "what": "it is frozen: access revoked, resources kept"})
        if grace:
            steps.append({"at": _iso(expires + grace), "what": "it is deleted, unless extended before"})
    if state == "frozen":
        steps.append({"at": None, "what": view.get("access_revoked") or "extend it to get access back"})
        if view.get("delete_after"):
            steps.append({"at": view["delete_after"], "what": "it is deleted"})
    if state == "deleting":
        steps.append({"at": None, "what": "its cloud resources are removed, then it is deleted"})
    if template and state in ("active", "frozen"):
        left = max(template.get("max_extensions", 0) - view["extension_count"], 0)
        steps.append({"at": None, "what": f"{left} extension{'s' if left != 1 else ''} left "
                                          f"(template {view['template']}, at most {template.get('max_ttl')} ahead)"})
    return steps


def _duration(text: str | None) -> timedelta | None:
    from sandbox.durations import parse_duration

    return parse_duration(text) if text else None


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def access_of(template: dict[str, Any] | None, provider: str, role: str) -> str:
    """What a member's login may do, from the template's cloud table."""
    spec = (template or {}).get("spec") or {}
    if provider == "aws":
        granted = spec.get("policies") or []
    else:
        granted = spec.get("roles" if role == "owner" else "member_roles") or spec.get("roles") or []
    return ", ".join(str(g).rsplit("/", 1)[-1] for g in granted) or "as the template grants"


def console_url(credentials: dict[str, Any]) -> str | None:
    """The one-click console link: the AWS account's sign-in URL, the GCP project's dashboard."""
    from urllib.parse import quote

    if credentials.get("provider") == "aws" and credentials.get("account_id"):
        return f"https://{quote(str(credentials['account_id']), safe='')}.signin.aws.amazon.com/console"
    if credentials.get("provider") == "gcp" and credentials.get("project_id"):
        project = quote(str(credentials["project_id"]), safe="")
        return f"https://console.cloud.google.com/home/dashboard?project={project}"
    return credentials.get("console_url") or None


# ---- charts -----------------------------------------------------------------------------

_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
_STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>", re.S)
_PROPERTY = re.compile(r"^[a-z-]+$")


def csp_safe_svg(svg: str) -> str:
    """matplotlib's SVG styles its shapes with style="" attributes and a <style> element,
    which a CSP without 'unsafe-inline' refuses. SVG presentation attributes say the same
    (fill="#fff" for style="fill: #fff") and are not inline styles, so they are kept; the
    <style> element only set line joins, which our stylesheet sets for every chart."""

    def attributes(match: re.Match) -> str:
        out = []
        for declaration in match.group(1).split(";"):
            name, _, value = declaration.partition(":")
            name, value = name.strip(), value.strip()
            if name and _PROPERTY.match(name) and '"' not in value:
                out.append(f' {name}="{value}"')
        return "".join(out)

    return _STYLE_ATTR.sub(attributes, _STYLE_ELEMENT.sub("", svg))
