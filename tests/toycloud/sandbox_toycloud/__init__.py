"""The toy cloud: one sandbox is one JSON file under a directory that plays the cloud.

`CLOUD` (cloud.py) is what core reads; the provider (provider.py) loads on first use.
"""

from sandbox_toycloud.cloud import CLOUD

__all__ = ["CLOUD"]
