"""GCP spend from the Cloud Billing export to BigQuery ([gcp] billing_export_table).

The standard usage cost export (https://cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/standard-usage)
has one row per SKU, project and hour: `project.id`, `usage_start_time` (TIMESTAMP),
`cost` (FLOAT64, in the billing account's currency), `credits` (ARRAY<STRUCT<name,
amount, ...>>, amounts negative) and `currency_conversion_rate` (cost / rate = USD).

ONE query per budget pass serves every managed project: the project ids travel as one
ARRAY<STRING> parameter, never one query per project (BigQuery bills each query by the
bytes it scans, and a per-project loop would scan the table once per project). The
query runs in the table's own project, so the credentials need roles/bigquery.jobUser
there and roles/bigquery.dataViewer on the dataset. The export lags usage by hours and
revises recent days; the budgets sweep re-reads its whole period every pass.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from sandbox.errors import ProviderError
from sandbox.providers.gcp.calls import GoogleCalls
from sandbox.providers.gcp.cost import DailySpend
from sandbox.providers.gcp.settings import GcpSettings, split_table

log = logging.getLogger("sandbox.gcp")

CENT_FRACTION = Decimal("0.000001")  # FLOAT64 sums carry noise below a millionth of a dollar
API_TIMEOUT_SECONDS = 60.0  # one HTTP request to BigQuery

# Cost plus credits per project and UTC usage day, in USD. The scalar subquery sums a
# row's credits without joining them (a join would repeat the row's cost per credit).
SPEND_QUERY = """
SELECT
  project.id AS project_id,
  DATE(usage_start_time) AS usage_day,
  SUM(cost / IFNULL(currency_conversion_rate, 1))
    + SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0)
          / IFNULL(currency_conversion_rate, 1)) AS amount_usd
FROM `{table}`
WHERE project.id IN UNNEST(@project_ids)
  AND usage_start_time >= @start AND usage_start_time < @end
GROUP BY project_id, usage_day
"""


class BillingExportCost:
    """A CostSource reading the billing export table with google-cloud-bigquery."""

    def __init__(self, settings: GcpSettings, calls: GoogleCalls):
        self.table = settings.billing_export_table.strip()
        self.project, _dataset, _table = split_table(self.table)
        self.settings = settings
        self.calls = calls
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """A BigQuery client in the table's project: the emulator's endpoint with anonymous
        credentials when [gcp] endpoint is set, else Application Default Credentials."""
        with self._lock:
            if self._client is None:
                from google.api_core.client_options import ClientOptions
                from google.cloud import bigquery

                endpoint = self.calls.endpoint()
                self._client = bigquery.Client(
                    project=self.project, credentials=self.calls.credentials(),
                    client_options=ClientOptions(api_endpoint=endpoint) if endpoint else None)
            return self._client

    def daily(self, project_ids: list[str], start: date, end: date) -> tuple[DailySpend, int]:
        """Every requested project gets every day of [start, end), 0 where the export has
        nothing; returns the spend and the number of queries run (each one is billed)."""
        days = [start + timedelta(days=n) for n in range(max((end - start).days, 0))]
        ids = list(dict.fromkeys(project_ids))
        by_project: dict[str, dict[date, Decimal]] = {p: {day: Decimal(0) for day in days} for p in ids}
        if not ids or not days:
            return dict(by_project), 0
        queries = 0

        def run() -> list[Any]:
            nonlocal queries
            queries += 1
            return self._query(ids, start, end)

        try:
            rows = self.calls.call("bigquery.query", f"billing export {self.table}", run)
        except ProviderError as exc:
            raise _explain(exc, self.table, self.project) from None
        for row in rows:
            daily = by_project.get(row["project_id"])
            day = row["usage_day"]
            if daily is not None and day in daily and row["amount_usd"] is not None:
                daily[day] += Decimal(repr(float(row["amount_usd"]))).quantize(CENT_FRACTION)
        log.info("event=spend_read source=gcp-billing-export table=%s start=%s end=%s projects=%d "
                 "rows=%d queries=%d", self.table, start, end, len(ids), len(rows), queries)
        return dict(by_project), queries

    def _query(self, project_ids: list[str], start: date, end: date) -> list[Any]:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=[
            bigquery.ArrayQueryParameter("project_ids", "STRING", project_ids),
            bigquery.ScalarQueryParameter("start", "TIMESTAMP", _midnight(start)),
            bigquery.ScalarQueryParameter("end", "TIMESTAMP", _midnight(end)),
        ])
        # No retries inside the library: GoogleCalls.call retries the whole query (bounded by
        # [gcp] max_attempts); the rows are read here, so a failed page is retried too.
        rows = self.client().query_and_wait(
            SPEND_QUERY.format(table=self.table), job_config=config, retry=None, job_retry=None,
            api_timeout=API_TIMEOUT_SECONDS, wait_timeout=self.settings.poll_timeout_seconds)
        return list(rows)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def _explain(exc: ProviderError, table: str, project: str) -> ProviderError:
    """The Google error, plus what to check for the failures a configuration causes."""
    hint = {
        "NOT_FOUND": "check [gcp] billing_export_table (PROJECT.DATASET.TABLE of the Cloud Billing "
                     "standard usage cost export)",
        "PERMISSION_DENIED": f"the credentials need roles/bigquery.jobUser on project {project} and "
                             f"roles/bigquery.dataViewer on the table {table}",
        "INVALID_ARGUMENT": "is [gcp] billing_export_table the standard usage cost export "
                            "(gcp_billing_export_v1_...)?",
    }.get(exc.code or "")
    if not hint:
        return exc
    return ProviderError(f"{exc}; {hint}", retryable=exc.retryable, code=exc.code)
