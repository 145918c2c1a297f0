"""The GCP provider: one sandbox is one project under a managed folder.

`CLOUD` (cloud.py) is what core reads; Google libraries are imported lazily (on the
first API call), so importing this package stays cheap.
"""

from sandbox.providers.gcp.cloud import CLOUD

__all__ = ["CLOUD"]
