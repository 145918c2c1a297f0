"""Where GCP spend comes from: a seam with one implementation today.

GCP exposes no cost API like AWS Cost Explorer; the usual source is the Cloud Billing
export to BigQuery (https://cloud.google.com/billing/docs/how-to/export-data-bigquery),
queried per project and usage day. Until one is configured the provider reports every
project's spend as unknown (None), which the core must treat as "cannot tell", never 0.
A BigQuery source implements `CostSource` and is assigned to `GcpProvider.cost_source`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Protocol

DailySpend = dict[str, dict[date, Decimal] | None]


class CostSource(Protocol):
    def daily(self, project_ids: list[str], start: date, end: date) -> tuple[DailySpend, int]:
        """Spend per project id and day in [start, end), and the number of billable
        requests made to find it out."""


class UnknownCost:
    """No cost source configured: every project's spend is unknown."""

    def daily(self, project_ids: list[str], start: date, end: date) -> tuple[DailySpend, int]:
        return {project_id: None for project_id in project_ids}, 0
