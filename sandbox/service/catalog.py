"""What one may ask for: the templates of the server's own template dirs, for the clouds
it runs (a template of a cloud with no table in the config is not offered)."""

from __future__ import annotations

from typing import Any

from sandbox.config import Settings
from sandbox.templates import find_template, list_templates


def list_template_rows(settings: Settings) -> list[dict[str, Any]]:
    return [{"name": t.name, "provider": t.provider, "kind": t.kind, "description": t.description}
            for t in list_templates(settings.template_dirs()) if t.provider in settings.clouds]


def show_template(settings: Settings, name: str) -> dict[str, Any]:
    return find_template(settings.template_dirs(), name).to_json()
