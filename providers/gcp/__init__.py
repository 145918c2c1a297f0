"""The GCP provider: one sandbox is one project under a managed folder.

Google libraries are imported lazily (on the first API call), so importing this
package stays cheap.
"""

from sandbox.providers.gcp.naming import label_key, label_value, project_id_for, sanitize_labels
from sandbox.providers.gcp.provider import GcpProvider

__all__ = ["GcpProvider", "label_key", "label_value", "project_id_for", "sanitize_labels"]
