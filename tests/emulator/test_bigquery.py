"""The emulator's BigQuery: the real google-cloud-bigquery client runs GoogleSQL with
parameters over billing-export rows added through /emulator/billing-export."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import requests
from google.api_core import exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

TABLE = "billing-admin.billing.gcp_billing_export_v1_000000_000000_000001"
UTC = dt.timezone.utc

# The documented way to total cost and credits (one credit sum per row, never a join).
SPEND = f"""
SELECT project.id AS project_id, DATE(usage_start_time) AS usage_day,
       SUM(cost) + SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0)) AS total,
       COUNT(*) AS line_items
FROM `{TABLE}`
WHERE project.id IN UNNEST(@project_ids) AND usage_start_time >= @start AND usage_start_time < @end
GROUP BY project_id, usage_day
ORDER BY project_id, usage_day
"""


@pytest.fixture
def bq(emulator):
    return bigquery.Client(project="billing-admin", credentials=AnonymousCredentials(),
                           client_options=ClientOptions(api_endpoint=emulator.url))


def add_rows(control, rows, table=TABLE):
    return control.post("billing-export", {"table": table, "rows": rows})


def params(project_ids, start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 4)):
    midnight = lambda day: dt.datetime.combine(day, dt.time.min, tzinfo=UTC)  # noqa: E731
    return bigquery.QueryJobConfig(query_parameters=[
        bigquery.ArrayQueryParameter("project_ids", "STRING", project_ids),
        bigquery.ScalarQueryParameter("start", "TIMESTAMP", midnight(start)),
        bigquery.ScalarQueryParameter("end", "TIMESTAMP", midnight(end)),
    ])


def row(project, when, cost, *credits, **extra):
    return {"project_id": project, "usage_start_time": when, "cost": cost,
            "credits": [{"name": name, "amount": amount} for name, amount in credits], **extra}


def test_query_sums_cost_and_credits_per_project_and_usage_day(bq, control):
    add_rows(control, [
        row("sbx-a", "2026-01-01T00:00:00Z", 10.0, ("Free trial", -2.5)),
        row("sbx-a", "2026-01-01T23:00:00Z", 5.25, ("Free trial", -0.25), ("Sustained use", -1.0)),
        row("sbx-a", "2026-01-02T08:00:00+00:00", 3.0),
        row("sbx-b", "2026-01-03T12:00:00Z", 7.5),
        row("sbx-b", "2026-01-04T00:00:00Z", 100.0),        # on `end`: outside [start, end)
        row("sbx-a", "2025-12-31T23:59:59Z", 100.0),        # before `start`
        row("not-ours", "2026-01-02T00:00:00Z", 100.0),     # not asked for
    ])

    rows = bq.query_and_wait(SPEND, job_config=params(["sbx-a", "sbx-b", "sbx-idle"]))

    assert [tuple(r.values()) for r in rows] == [
        ("sbx-a", dt.date(2026, 1, 1), 11.5, 2),   # 10 - 2.5 + 5.25 - 0.25 - 1.0
        ("sbx-a", dt.date(2026, 1, 2), 3.0, 1),
        ("sbx-b", dt.date(2026, 1, 3), 7.5, 1),
    ]
    assert [(f.name, f.field_type) for f in rows.schema] == [
        ("project_id", "STRING"), ("usage_day", "DATE"), ("total", "FLOAT"), ("line_items", "INTEGER")]
    assert control.get("stats")["requests"] == {"POST /bigquery/v2/projects/{project}/queries": 1}


def test_pages_of_a_large_result_through_both_client_paths(bq, control):
    control.post("config", {"bigquery_page_rows": 70})
    projects = [f"sbx-{n:03d}" for n in range(100)]
    add_rows(control, [row(p, f"2026-01-0{day}T10:00:00Z", n + day / 4)
                       for n, p in enumerate(projects) for day in (1, 2, 3)])

    waited = list(bq.query_and_wait(SPEND, job_config=params(projects)))   # jobs.query
    pages = control.get("stats")["requests"]
    via_job = list(bq.query(SPEND, job_config=params(projects)).result())  # jobs.insert

    assert len(waited) == len(via_job) == 300
    assert {(r["project_id"], r["usage_day"]) for r in waited} == {
        (p, dt.date(2026, 1, day)) for p in projects for day in (1, 2, 3)}
    assert [r["total"] for r in waited] == [r["total"] for r in via_job]
    assert sum(r["total"] for r in waited) == sum(n + day / 4 for n in range(100) for day in (1, 2, 3))
    # 300 rows at 70 a page: jobs.query brings the first page, then the client looks the job up
    # once and reads the other 4 pages from getQueryResults.
    assert pages == {"POST /bigquery/v2/projects/{project}/queries": 1,
                     "GET /bigquery/v2/projects/{project}/jobs/{job}": 1,
                     "GET /bigquery/v2/projects/{project}/queries/{job}": 4}


def test_parameters_of_every_common_type_and_nested_results(bq, control):
    add_rows(control, [row("sbx-a", "2026-01-02T03:04:05.123456Z", 1.5, ("Free trial", -0.5),
                           currency="EUR", currency_conversion_rate=0.5, service_description="Compute Engine")])
    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter("day", "DATE", dt.date(2026, 1, 2)),
        bigquery.ScalarQueryParameter("min_cost", "NUMERIC", Decimal("1.25")),
        bigquery.ScalarQueryParameter("currency", "STRING", "EUR"),
        bigquery.ScalarQueryParameter("limit", "INT64", 5),
        bigquery.ScalarQueryParameter("on", "BOOL", True),
    ])

    (found,) = bq.query_and_wait(f"""
        SELECT project, usage_start_time, credits, service.description AS service,
               cost / currency_conversion_rate AS cost_usd, CAST(cost AS NUMERIC) AS exact, @on AS flag
        FROM `{TABLE}` AS e
        WHERE DATE(e.usage_start_time) = @DAY AND cost >= @min_cost AND currency = @currency
        LIMIT @limit""", job_config=config)

    assert found["project"]["id"] == "sbx-a" and found["project"]["name"] == "sbx-a"
    assert found["usage_start_time"] == dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert found["credits"] == [{"name": "Free trial", "amount": -0.5, "full_name": None, "id": None,
                                 "type": None}]
    assert (found["service"], found["cost_usd"], found["exact"], found["flag"]) == (
        "Compute Engine", 3.0, Decimal("1.5"), True)


def test_an_unknown_table_is_not_found_and_bad_sql_is_invalid_query(bq, control):
    add_rows(control, [])  # the table exists, empty

    with pytest.raises(exceptions.NotFound) as missing:
        bq.query_and_wait("SELECT cost FROM `billing-admin.billing.gcp_billing_export_v1_nope`")
    with pytest.raises(exceptions.NotFound):
        bq.query("SELECT cost FROM `other-project.billing.t`").result()  # jobs.insert, then the job's error
    with pytest.raises(exceptions.BadRequest) as syntax:
        bq.query_and_wait(f"SELECT FROM `{TABLE}` WHERE")
    with pytest.raises(exceptions.BadRequest) as unbound:
        bq.query_and_wait(f"SELECT cost FROM `{TABLE}` WHERE project.id = @missing")

    assert missing.value.errors[0]["reason"] == "notFound"
    assert missing.value.errors[0]["message"] == ("Not found: Table billing-admin:billing.gcp_billing_export_v1_nope "
                                     "was not found in location US")
    assert syntax.value.errors[0]["reason"] == "invalidQuery"
    assert syntax.value.errors[0]["message"].startswith("Syntax error:")
    assert "Query parameter 'missing' not found" in unbound.value.message
    assert list(bq.query_and_wait(f"SELECT COUNT(*) AS n FROM `{TABLE}`"))[0]["n"] == 0


def test_billing_export_rows_are_checked_counted_and_cleared_by_reset(emulator, control):
    assert add_rows(control, [row("sbx-a", "2026-01-01T00:00:00Z", 1.0)] * 3) == {"table": TABLE, "rows": 3}
    assert add_rows(control, [row("sbx-a", "2026-01-01T00:00:00Z", 1.0)])["rows"] == 4
    bad = requests.post(f"{emulator.url}/emulator/billing-export", timeout=5,
                        json={"table": TABLE, "rows": [row("sbx-a", "yesterday", 1.0)]})
    no_table = requests.post(f"{emulator.url}/emulator/billing-export", timeout=5,
                             json={"table": "just-a-name", "rows": []})

    assert bad.status_code == 400 and "usage_start_time 'yesterday'" in bad.json()["error"]
    assert no_table.status_code == 400 and "PROJECT.DATASET.TABLE" in no_table.json()["error"]
    assert control.get("billing-export") == {"tables": {TABLE: 4}}  # the bad row added nothing
    control.post("reset")
    assert control.get("billing-export") == {"tables": {}}
