"""The [toy] config table."""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.provider import join_location


@dataclass
class ToySettings:
    root: str = ""  # the directory that plays the cloud; every process using it must see the same one
    active_location: str = "active"  # department locations live under it
    frozen_location: str = "frozen"
    concurrency: int = 2
    departments: dict[str, str] = field(default_factory=dict)  # filled from [departments.X] toy_location

    def department_location(self, department: str) -> str | None:
        # No absolute locations: every location is a directory under root.
        return join_location(self.active_location, self.departments.get(department), ())

    def managed_locations(self) -> list[str]:
        departments = [self.department_location(d) for d in self.departments]
        return list(dict.fromkeys([self.active_location, *departments, self.frozen_location]))
