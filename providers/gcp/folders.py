"""Folder paths ("sandbox/active/engineering", from the organization) ↔ folders/N.

A path is resolved component by component, listing each parent's folders and matching
displayName (folder names are unique among ACTIVE siblings in GCP). Resolved names are
cached for the provider's lifetime: folders are created by bootstrap and never moved.
"""

from __future__ import annotations

import threading

from sandbox.errors import ProviderError

from sandbox.providers.gcp.calls import GoogleCalls


def split_path(path: str) -> list[str]:
    return [part for part in path.strip().strip("/").split("/") if part]


def is_folder_name(location: str) -> bool:
    return location.startswith("folders/")


class FolderResolver:
    def __init__(self, calls: GoogleCalls, organization: str):
        self.calls = calls
        self.organization = organization
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def resolve(self, location: str) -> str:
        """folders/N for a path or folders/N; a non-retryable ProviderError if missing."""
        name = self.find(location)
        if name is None:
            raise ProviderError(
                f"GCP folder {location} does not exist; run: sandbox admin bootstrap",
                code="FOLDER_NOT_FOUND")
        return name

    def find(self, location: str) -> str | None:
        location = location.strip()
        if location in self._cache:
            return self._cache[location]
        if is_folder_name(location):
            found = self._get(location)
        else:
            found = self._walk(location, create=False)[0]
        if found:
            with self._lock:
                self._cache[location] = found
        return found

    def ensure(self, location: str) -> list[tuple[str, str]]:
        """Create what is missing of `location`; (path, line) per path component."""
        location = location.strip()
        if is_folder_name(location):
            if self._get(location) is None:
                raise ProviderError(
                    f"GCP folder {location} (from the config) does not exist or is not "
                    "visible to these credentials; fix gcp.active_folder / frozen_folder / "
                    "[departments] gcp_folder", code="FOLDER_NOT_FOUND")
            self._cache[location] = location
            return [(location, f"exists folder {location}")]
        name, lines = self._walk(location, create=True)
        assert name is not None
        with self._lock:
            self._cache[location] = name
        return lines

    def _walk(self, path: str, create: bool) -> tuple[str | None, list[tuple[str, str]]]:
        parts = split_path(path)
        if not parts:
            raise ProviderError(f"GCP folder path {path!r} is empty", code="FOLDER_NOT_FOUND")
        parent = self.organization
        lines: list[tuple[str, str]] = []
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            cached = self._cache.get(prefix)
            child = cached or self._child(parent, parts[depth - 1], prefix)
            if child is None:
                if not create:
                    return None, lines
                child = self._create(parent, parts[depth - 1], prefix)
                lines.append((prefix, f"created folder {prefix} ({child})"))
            else:
                lines.append((prefix, f"exists folder {prefix} ({child})"))
            with self._lock:
                self._cache[prefix] = child
            parent = child
        return parent, lines

    def _child(self, parent: str, display_name: str, path: str) -> str | None:
        def list_children() -> str | None:
            for folder in self.calls.folders.list_folders(parent=parent, retry=None):
                if folder.display_name == display_name and folder.state.name == "ACTIVE":
                    return folder.name
            return None

        return self.calls.call("folders.list", path, list_children)

    def _create(self, parent: str, display_name: str, path: str) -> str:
        from google.cloud import resourcemanager_v3

        def create() -> str:
            op = self.calls.folders.create_folder(
                folder=resourcemanager_v3.Folder(parent=parent, display_name=display_name),
                retry=None)
            return self.calls.wait(op, "folders.create", path).name

        try:
            return self.calls.call("folders.create", path, create)
        except ProviderError as exc:
            # Another bootstrap made it first: GCP refuses a duplicate display name.
            if exc.code not in ("ALREADY_EXISTS", "FAILED_PRECONDITION"):
                raise
            existing = self._child(parent, display_name, path)
            if existing is None:
                raise
            return existing

    def _get(self, name: str) -> str | None:
        def get() -> str | None:
            folder = self.calls.folders.get_folder(name=name, retry=None)
            return folder.name if folder.state.name == "ACTIVE" else None

        try:
            return self.calls.call("folders.get", name, get)
        except ProviderError as exc:
            if exc.code in ("NOT_FOUND", "PERMISSION_DENIED"):
                return None
            raise
