"""The real `sandbox` command, killed by SIGKILL right after a named step is saved.

    python tests/faults/crashing_cli.py STEP --config sandbox.toml daemon --once --job provision

STEP is a step key ("create_request_id") or "secret:NAME". The providers the command
builds are wrapped so that the step store they are handed (by provision, grant and
destroy) kills the process as soon as the real put of that step has returned, that is,
committed: exactly as an OOM kill or a lost node would. The product knows nothing of it.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def command(step: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), step, *args]


class CrashingSteps:
    def __init__(self, inner, step: str):
        self.inner = inner
        self.step = step

    def put(self, key, value):
        self.inner.put(key, value)
        self._crash_at(key)

    def put_secret(self, member_email, name, value):
        self.inner.put_secret(member_email, name, value)
        self._crash_at(f"secret:{name}")

    def _crash_at(self, key: str) -> None:
        if key == self.step:
            os.kill(os.getpid(), signal.SIGKILL)

    def __getattr__(self, name):
        return getattr(self.inner, name)


class CrashingProvider:
    def __init__(self, inner, step: str):
        self.inner = inner
        self.step = step

    def provision(self, plan, steps):
        return self.inner.provision(plan, CrashingSteps(steps, self.step))

    def grant(self, placement, plan, member, steps):
        return self.inner.grant(placement, plan, member, CrashingSteps(steps, self.step))

    def destroy(self, placement, plan, steps):
        return self.inner.destroy(placement, plan, CrashingSteps(steps, self.step))

    def __getattr__(self, name):
        return getattr(self.inner, name)


def main(step: str, args: list[str]) -> None:
    from sandbox.cli import main as sandbox
    from sandbox.service.app import App

    real_provider = App.provider
    App.provider = lambda app, name: CrashingProvider(real_provider(app, name), step)
    sandbox(args, prog_name="sandbox")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
