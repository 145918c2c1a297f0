"""The AWS provider: one sandbox is one member account of the organization.

`CLOUD` (cloud.py) is what core reads; the provider itself (provider.py, boto3) loads on
first use.
"""

from sandbox.providers.aws.cloud import CLOUD

__all__ = ["CLOUD"]
