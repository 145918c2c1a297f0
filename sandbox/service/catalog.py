"""What one may ask for: the templates of the server's own template dirs, for the clouds
it runs (a template of a cloud with no table in the config is not offered)."""

from __future__ import annotations

from typing import Any

from sandbox.config import Settings
from sandbox.templates import find_template, list_templates


# What `templates list` shows of each template: what it is and the limits one asks within.
ROW_FIELDS = ("name", "provider", "kind", "default_ttl", "min_ttl", "max_ttl", "max_extensions", "budget_usd",
              "approval_required", "max_live", "description")


def list_template_rows(settings: Settings) -> list[dict[str, Any]]:
    rows = [t.to_json() for t in list_templates(settings.template_dirs()) if t.provider in settings.clouds]
    return [{key: row[key] for key in ROW_FIELDS} for row in rows]


def show_template(settings: Settings, name: str) -> dict[str, Any]:
    return find_template(settings.template_dirs(), name).to_json()
