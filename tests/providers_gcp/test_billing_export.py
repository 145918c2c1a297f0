"""GcpProvider.spend from the Cloud Billing export in BigQuery: the emulator's export over
the real google-cloud-bigquery client, one query for any number of projects."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest

from sandbox.config import parse_settings
from sandbox.errors import ConfigError, ProviderError
from sandbox.provider import Placement
from sandbox.providers.gcp.cost import UnknownCost
from sandbox.providers.gcp.provider import GcpProvider

TABLE = "billing-admin.billing.gcp_billing_export_v1_000000_000000_000001"
JAN1, JAN2, JAN3, JAN4 = (date(2026, 1, d) for d in (1, 2, 3, 4))
QUERIES = "POST /bigquery/v2/projects/{project}/queries"


@pytest.fixture
def export_provider(gcp_settings) -> GcpProvider:
    return GcpProvider(dataclasses.replace(gcp_settings, billing_export_table=TABLE))


def seed(control, rows) -> None:
    control._request("POST", "/emulator/billing-export", {"table": TABLE, "rows": rows})


def stats(control) -> dict[str, int]:
    return control._request("GET", "/emulator/stats")["requests"]


def placements(*ids: str) -> list[Placement]:
    return [Placement(cloud_id=i, location="sandbox/active/default") for i in ids]


def test_daily_spend_of_every_project_and_day_from_one_query(export_provider, control):
    seed(control, [
        {"project_id": "sbx-a", "usage_start_time": "2026-01-01T01:00:00Z", "cost": 12.5,
         "credits": [{"name": "Free tier", "amount": -2.5}]},
        {"project_id": "sbx-a", "usage_start_time": "2026-01-01T22:00:00Z", "cost": 0.1},
        {"project_id": "sbx-a", "usage_start_time": "2026-01-01T23:00:00Z", "cost": 0.2},
        {"project_id": "sbx-a", "usage_start_time": "2026-01-03T05:00:00Z", "cost": 4.0},
        {"project_id": "sbx-b", "usage_start_time": "2026-01-02T00:00:00Z", "cost": 3.0,
         "credits": [{"name": "Promotion", "amount": -3.0}]},   # fully credited: 0, still a row
        {"project_id": "sbx-c", "usage_start_time": "2026-01-02T10:00:00Z", "cost": 9.0,
         "currency": "EUR", "currency_conversion_rate": 0.9},   # 9 EUR = 10 USD
        {"project_id": "sbx-a", "usage_start_time": "2026-01-04T00:00:00Z", "cost": 50.0},  # on `end`
        {"project_id": "someone-else", "usage_start_time": "2026-01-02T00:00:00Z", "cost": 50.0},
    ])
    ids = ["sbx-a", "sbx-b", "sbx-c", *(f"sbx-idle-{n}" for n in range(47))]

    report = export_provider.spend(placements(*ids), JAN1, JAN4)

    assert report.requests == 1 and stats(control) == {QUERIES: 1}  # 50 projects, one query
    assert set(report.by_cloud_id) == set(ids)
    assert report.by_cloud_id["sbx-a"] == {JAN1: Decimal("10.3"), JAN2: Decimal(0), JAN3: Decimal(4)}
    assert report.by_cloud_id["sbx-b"] == {JAN1: Decimal(0), JAN2: Decimal(0), JAN3: Decimal(0)}
    assert report.by_cloud_id["sbx-c"][JAN2] == Decimal(10)
    assert report.by_cloud_id["sbx-idle-46"] == {JAN1: Decimal(0), JAN2: Decimal(0), JAN3: Decimal(0)}
    amounts = [a for daily in report.by_cloud_id.values() for a in daily.values()]
    assert all(type(a) is Decimal for a in amounts)
    assert str(report.by_cloud_id["sbx-a"][JAN1]) == "10.300000"  # no float noise (0.1 + 0.2)


def test_one_query_for_many_projects_and_many_result_pages(export_provider, control):
    control.config(bigquery_page_rows=500)
    ids = [f"sbx-{n:04d}" for n in range(1000)]
    seed(control, [{"project_id": p, "usage_start_time": f"2026-01-0{d}T12:00:00Z", "cost": 0.5}
                   for p in ids[::2] for d in (1, 2, 3)])

    report = export_provider.spend(placements(*ids), JAN1, JAN4)

    assert report.requests == 1
    assert stats(control)[QUERIES] == 1  # 1,500 result rows, 3 pages, still one query
    assert sum(sum(d.values()) for d in report.by_cloud_id.values()) == Decimal(750)
    assert report.by_cloud_id["sbx-0001"] == {JAN1: 0, JAN2: 0, JAN3: 0}


def test_no_projects_or_no_days_make_no_query(export_provider, control):
    assert export_provider.spend([], JAN1, JAN4).by_cloud_id == {}
    assert export_provider.spend(placements("sbx-a"), JAN1, JAN1).by_cloud_id == {"sbx-a": {}}
    assert stats(control) == {}


def test_a_missing_table_is_one_line_naming_the_setting(export_provider, control):
    with pytest.raises(ProviderError) as error:
        export_provider.spend(placements("sbx-a"), JAN1, JAN2)

    message = str(error.value)
    assert error.value.code == "NOT_FOUND" and not error.value.retryable
    assert "\n" not in message
    assert "Not found: Table billing-admin:billing.gcp_billing_export_v1_000000_000000_000001" in message
    assert message.endswith("check [gcp] billing_export_table (PROJECT.DATASET.TABLE of the Cloud "
                            "Billing standard usage cost export)")


def test_a_server_error_is_retried_then_the_spend_is_read(export_provider, control):
    seed(control, [{"project_id": "sbx-a", "usage_start_time": "2026-01-01T00:00:00Z", "cost": 2.0}])
    control.fault(method="POST", path_regex="/bigquery/v2/projects/.*/queries$", status=503, count=1)

    report = export_provider.spend(placements("sbx-a"), JAN1, JAN2)

    assert report.by_cloud_id == {"sbx-a": {JAN1: Decimal(2)}}
    assert report.requests == 2 and stats(control) == {QUERIES: 2}


def test_without_a_table_spend_is_unknown_and_nothing_is_asked(provider, control):
    report = provider.spend(placements("sbx-a"), JAN1, JAN1 + timedelta(days=3))

    assert isinstance(provider.cost_source, UnknownCost)
    assert report.by_cloud_id == {"sbx-a": None} and report.requests == 0
    assert stats(control) == {}


@pytest.mark.parametrize("name", ["billing.gcp_billing_export_v1_X", "a.b.c.d", "proj.data set.t",
                                  "proj.billing.t`; DROP", "Upper.billing.t"])
def test_a_malformed_table_name_fails_when_the_config_loads(name):
    with pytest.raises(ConfigError) as error:
        parse_settings({"gcp": {"billing_export_table": name}}, "sandbox.toml")

    assert "[gcp] billing_export_table" in str(error.value) and "PROJECT.DATASET.TABLE" in str(error.value)


def test_a_domain_scoped_project_is_a_valid_table_name():
    settings = parse_settings({"gcp": {"billing_export_table": "example.com:billing.exports.gcp_v1"}}, "x")

    assert settings.clouds["gcp"].billing_export_table == "example.com:billing.exports.gcp_v1"
