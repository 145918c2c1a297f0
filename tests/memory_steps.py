"""A StepStore kept in memory for provider tests: a real implementation of the protocol.

Values go through JSON, as the database column stores them, so a provider that saves
something unserialisable fails here too.
"""

from __future__ import annotations

import json
from typing import Any


class MemorySteps:
    def __init__(self, values: dict[str, Any] | None = None):
        self.values: dict[str, str] = {}
        self.secrets: dict[tuple[str, str], str] = {}
        self.messages: list[str] = []
        for key, value in (values or {}).items():
            self.put(key, value)

    def get(self, key: str) -> Any | None:
        raw = self.values.get(key)
        return None if raw is None else json.loads(raw)

    def put(self, key: str, value: Any) -> None:
        self.values[key] = json.dumps(value)

    def get_secret(self, member_email: str, name: str) -> str | None:
        return self.secrets.get((member_email, name))

    def put_secret(self, member_email: str, name: str, value: str) -> None:
        self.secrets[(member_email, name)] = value

    def progress(self, message: str) -> None:
        self.messages.append(message)

    def keys(self) -> list[str]:
        return list(self.values)
