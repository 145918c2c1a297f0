"""Starting a requested sandbox's provisioning right away, so a requester does not wait
for the daemon's next pass. Nothing here must survive the process: a provision that
dies with it is resumed by the daemon once its lease runs out."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sandbox.errors import ConcurrentUpdateError, IllegalTransitionError, SandboxError

log = logging.getLogger("sandbox.server")


class Provisioner:
    def __init__(self, app, *, enabled: bool):
        self.app = app
        self.enabled = enabled
        # The same per-cloud limits as the daemon's ([NAME] concurrency): Organizations, say,
        # allows few concurrent CreateAccount calls, however many requests arrive at once.
        limits = {name: table.concurrency for name, table in app.settings.clouds.items()}
        self._slots = {name: threading.BoundedSemaphore(limit) for name, limit in limits.items()}
        self._pool = ThreadPoolExecutor(max_workers=max(1, sum(limits.values())), thread_name_prefix="provision")

    def start(self, view: dict[str, Any]) -> None:
        ready = view["state"] == "provisioning" or (
            view["state"] == "requested" and (not view["approval_required"] or view["approved_by"]))
        if self.enabled and ready:
            self._pool.submit(self._provision, view["id"], view["provider"])

    def _provision(self, sandbox_id: str, provider: str) -> None:
        from sandbox.service import provision_sandbox

        slot = self._slots.get(provider)
        if slot is None or not slot.acquire(blocking=False):
            return  # the cloud's limit is in use (or it is off): the daemon's next pass takes this one
        try:
            provision_sandbox(self.app, sandbox_id, actor="server")
        except (ConcurrentUpdateError, IllegalTransitionError):
            pass  # the daemon (or another replica) got there first
        except SandboxError as exc:
            log.warning("provision_deferred sandbox=%s error=%r", sandbox_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - a background thread has nobody to tell
            log.error("provision_error sandbox=%s error=%s", sandbox_id, type(exc).__name__)
        finally:
            slot.release()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
