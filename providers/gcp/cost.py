"""Where GCP spend comes from: a seam with two implementations.

GCP exposes no cost API like AWS Cost Explorer; the usual source is the Cloud Billing
export to BigQuery (https://cloud.google.com/billing/docs/how-to/export-data-bigquery),
queried per project and usage day: `BillingExportCost` (billing_export.py), chosen when
[gcp] billing_export_table is set. Without one the provider reports every project's
spend as unknown (None), which the core must treat as "cannot tell", never 0.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sandbox.providers.gcp.calls import GoogleCalls
    from sandbox.providers.gcp.settings import GcpSettings

DailySpend = dict[str, dict[date, Decimal] | None]


class CostSource(Protocol):
    def daily(self, project_ids: list[str], start: date, end: date) -> tuple[DailySpend, int]:
        """Spend per project id and day in [start, end), and the number of billable
        requests made to find it out."""


class UnknownCost:
    """No cost source configured: every project's spend is unknown."""

    def daily(self, project_ids: list[str], start: date, end: date) -> tuple[DailySpend, int]:
        return {project_id: None for project_id in project_ids}, 0


def cost_source_for(settings: "GcpSettings", calls: "GoogleCalls") -> CostSource:
    """The billing export when [gcp] billing_export_table names one, else unknown spend."""
    if not settings.billing_export_table.strip():
        return UnknownCost()
    from sandbox.providers.gcp.billing_export import BillingExportCost

    return BillingExportCost(settings, calls)
