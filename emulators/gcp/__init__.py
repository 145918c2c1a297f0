"""A local GCP emulator speaking Google's REST wire format (see server.py).

    from sandbox.emulators.gcp import GcpEmulator
    emu = GcpEmulator(port=0, polls_before_done=1)
    url = emu.start()   # point resourcemanager_v3 (transport="rest") and
    ...                 # googleapiclient.discovery at url
    emu.stop()
"""

from .catalog import KNOWN_SERVICES
from .server import GcpEmulator, serve_forever
from .state import (DEFAULT_BILLING_ACCOUNT, DEFAULT_CALLER, DEFAULT_ORGANIZATION,
                    DEFAULT_POLLS_BEFORE_DONE, EmulatorState)

__all__ = [
    "DEFAULT_BILLING_ACCOUNT",
    "DEFAULT_CALLER",
    "DEFAULT_ORGANIZATION",
    "DEFAULT_POLLS_BEFORE_DONE",
    "KNOWN_SERVICES",
    "EmulatorState",
    "GcpEmulator",
    "serve_forever",
]
