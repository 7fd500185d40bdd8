import datetime
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.ultraai.platform.plugins.module_utils import cost_calls
from ansible_collections.ultraai.platform.plugins.module_utils import cost_reports as R


@pytest.mark.parametrize("start,end,message", [
    ("2024-03-01", "2024-02-01", "cost.end (2024-02-01) is before cost.start (2024-03-01)"),
    ("2024-03-01", "2024-03-01", "the period is empty"),
    ("2024-3-1", "2024-04-01", "cost.start must be a date as YYYY-MM-DD"),
    ("2024-02-30", "2024-04-01", "is not a date"),
    ("2024-02-01", None, "give both cost.start and cost.end"),
])
def test_bad_periods(start, end, message):
    with pytest.raises(R.ReportError) as err:
        R.period(start, end)
    assert message in str(err.value)


@pytest.mark.parametrize("today,expected", [
    (datetime.date(2025, 3, 15), (datetime.date(2025, 2, 1), datetime.date(2025, 3, 1))),
    (datetime.date(2025, 1, 1), (datetime.date(2024, 12, 1), datetime.date(2025, 1, 1))),
])
def test_default_period_is_the_previous_month(today, expected):
    assert R.period(None, None, today) == expected


def test_estimate_by_hand():
    est = R.estimate([{"instance_type": "t3.medium", "count": 2, "hours": 730},
                      {"instance_type": "x9.huge", "count": 1, "hours": 10}], {"x9.huge": "1.5"})
    assert Decimal(est["total"]["amount_exact"]) == Decimal("2") * 730 * Decimal("0.0416") + 15


@pytest.mark.parametrize("fleet,prices,message", [
    ([{"instance_type": "x9.huge", "count": 1, "hours": 1}], {}, "no price for instance type x9.huge"),
    ([{"instance_type": "t3.micro", "count": -1, "hours": 1}], {}, "must not be negative"),
    ([{"instance_type": "t3.micro", "count": 1, "hours": 1}], {"t3.micro": "cheap"}, "prices.t3.micro must be a number"),
    ([], {}, "estimate.fleet is empty"),
])
def test_bad_estimates(fleet, prices, message):
    with pytest.raises(R.ReportError) as err:
        R.estimate(fleet, prices)
    assert message in str(err.value)


@pytest.mark.parametrize("avg,peak,verdict", [
    (None, None, "no_data"), (2.0, 30.0, "idle"), (20.0, 35.0, "oversize"), (20.0, 90.0, "ok")])
def test_classify(avg, peak, verdict):
    assert R.classify(avg, peak, 5, 40) == verdict


def test_smaller_type():
    table = R.price_table({})
    assert R.smaller_type("m5.xlarge", table) == "m5.large"
    assert R.smaller_type("m5.large", table) is None
    assert R.smaller_type("t3.medium", table) == "t3.small"


def test_cost_pages_are_followed_and_summed_exactly(monkeypatch):
    monkeypatch.setattr(cost_calls, "SLEEP", lambda seconds: None)
    ce = boto3.client("ce", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")

    def bucket(start, end, groups):
        return {"TimePeriod": {"Start": start, "End": end}, "Total": {}, "Estimated": False, "Groups": [
            {"Keys": [k], "Metrics": {"UnblendedCost": {"Amount": a, "Unit": "USD"}}} for k, a in groups]}

    base = {"TimePeriod": {"Start": "2024-01-01", "End": "2024-01-03"}, "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"], "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}]}
    with Stubber(ce) as stub:
        stub.add_client_error("get_cost_and_usage", service_error_code="LimitExceededException",
                              service_message="slow down", http_status_code=400)
        stub.add_response("get_cost_and_usage", {"ResultsByTime": [bucket("2024-01-01", "2024-01-02", [
            ("Amazon EC2", "0.1"), ("Amazon S3", "0.2")])], "NextPageToken": "p2"}, base)
        stub.add_response("get_cost_and_usage", {"ResultsByTime": [bucket("2024-01-02", "2024-01-03", [
            ("Amazon EC2", "0.2")])]}, dict(base, NextPageToken="p2"))
        out = R.cost_and_usage(ce, datetime.date(2024, 1, 1), datetime.date(2024, 1, 3), "DAILY", "UnblendedCost",
                               {"type": "DIMENSION", "key": "SERVICE"})
        stub.assert_no_pending_responses()
    assert [(g["key"], g["amount_exact"]) for g in out["groups"]] == [("Amazon EC2", "0.3"), ("Amazon S3", "0.2")]
    assert out["total"]["amount_exact"] == "0.5"  # not 0.30000000000000004 + 0.2
