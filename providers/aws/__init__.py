"""The AWS provider: `sandbox.providers.aws:AwsProvider` (loaded lazily by sandbox.provider)."""

from sandbox.providers.aws.provider import AwsProvider

__all__ = ["AwsProvider"]
