"""The AWS provider: `providers.aws:AwsProvider` (loaded lazily by sandbox.provider)."""

from providers.aws.provider import AwsProvider

__all__ = ["AwsProvider"]
