"""cost_report against a real endpoint (moto): Cost Explorer results seeded
through moto's documented /moto-api/static/ce/cost-and-usage-results endpoint
come back as exactly the seeded totals per tag value; budgets seeded with their
spend give the right states; a fleet estimate equals a hand-computed figure;
CPU data put into CloudWatch makes the idle and oversize candidates."""

import datetime
import json
import os
import urllib.request
from decimal import Decimal

import boto3
import pytest

from conftest import run

PLAYBOOK = os.path.join("tests", "integration", "files", "cost_module.yml")
REGION = "eu-central-1"

# Two monthly buckets, grouped by the Project tag; "Project$" is cost without the tag.
SEED = [
    {"TimePeriod": {"Start": "2024-01-01", "End": "2024-02-01"}, "Total": {}, "Estimated": False, "Groups": [
        {"Keys": ["Project$ultraai"], "Metrics": {"UnblendedCost": {"Amount": "1234.5678", "Unit": "USD"}}},
        {"Keys": ["Project$research"], "Metrics": {"UnblendedCost": {"Amount": "99.99", "Unit": "USD"}}},
        {"Keys": ["Project$"], "Metrics": {"UnblendedCost": {"Amount": "0.01", "Unit": "USD"}}}]},
    {"TimePeriod": {"Start": "2024-02-01", "End": "2024-03-01"}, "Total": {}, "Estimated": True, "Groups": [
        {"Keys": ["Project$ultraai"], "Metrics": {"UnblendedCost": {"Amount": "1000.1", "Unit": "USD"}}},
        {"Keys": ["Project$"], "Metrics": {"UnblendedCost": {"Amount": "5.0000000001", "Unit": "USD"}}}]},
]


def _seed_ce(endpoint, results):
    body = json.dumps({"results": [{"ResultsByTime": results, "DimensionValueAttributes": []}]}).encode()
    req = urllib.request.Request(endpoint + "/moto-api/static/ce/cost-and-usage-results", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201


def _play(aws_env, endpoint, tmp_path, args, ignore_errors=False):
    out = tmp_path / "result.json"
    extra = {"moto_endpoint": endpoint, "cost_region": REGION, "cost_module": "cost_report", "cost_args": args,
             "out_file": str(out), "cost_ignore_errors": ignore_errors}
    res = run(["ansible-playbook", PLAYBOOK, "-e", json.dumps(extra)], aws_env)
    if not ignore_errors:
        assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def clients(moto_endpoint):
    kw = dict(region_name=REGION, endpoint_url=moto_endpoint, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    return dict((name, boto3.client(name, **kw)) for name in ("ec2", "cloudwatch", "budgets"))


def test_grouped_totals_match_the_seed_exactly(aws_env, moto_endpoint, tmp_path):
    _seed_ce(moto_endpoint, SEED)
    out = _play(aws_env, moto_endpoint, tmp_path, {"cost": {"start": "2024-01-01", "end": "2024-03-01",
                                                            "group_by": {"type": "tag", "key": "Project"}}})
    cost = out["cost"]
    expected = {}
    for bucket in SEED:
        for group in bucket["Groups"]:
            label = group["Keys"][0].split("$", 1)[1] or "(untagged)"
            expected[label] = expected.get(label, Decimal(0)) + Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
    got = dict((g["key"], Decimal(g["amount_exact"])) for g in cost["groups"])
    assert got == expected == {"ultraai": Decimal("2234.6678"), "research": Decimal("99.99"),
                               "(untagged)": Decimal("5.0100000001")}
    assert Decimal(cost["total"]["amount_exact"]) == sum(expected.values())
    assert [g["key"] for g in cost["groups"]] == ["ultraai", "research", "(untagged)"]  # largest first
    assert [b["estimated"] for b in cost["by_time"]] == [False, True]
    assert cost["unit"] == "USD"


def test_budgets_actual_and_forecast_against_limits(aws_env, moto_endpoint, tmp_path, clients):
    def budget(name, limit, actual, forecast):
        clients["budgets"].create_budget(AccountId="123456789012", Budget={
            "BudgetName": name, "BudgetLimit": {"Amount": limit, "Unit": "USD"}, "TimeUnit": "MONTHLY",
            "BudgetType": "COST", "CalculatedSpend": {"ActualSpend": {"Amount": actual, "Unit": "USD"},
                                                      "ForecastedSpend": {"Amount": forecast, "Unit": "USD"}}})
    budget("cost-ok", "100", "40", "80")
    budget("cost-forecast", "100", "80.5", "120")
    budget("cost-over", "50", "75", "90")
    out = _play(aws_env, moto_endpoint, tmp_path, {"budgets": {"names": ["cost-ok", "cost-forecast", "cost-over"]}})
    states = dict((b["name"], (b["state"], b["actual_percent"], b["forecast_percent"])) for b in out["budgets"])
    assert states == {"cost-ok": ("ok", 40.0, 80.0), "cost-forecast": ("forecast_over", 80.5, 120.0),
                      "cost-over": ("over", 150.0, 180.0)}
    missing = _play(aws_env, moto_endpoint, tmp_path, {"budgets": {"names": ["nope"]}}, ignore_errors=True)
    assert missing["failed"] and "budget(s) not found in account 123456789012: nope" in missing["msg"]


def test_fleet_estimate_matches_a_hand_computed_figure(aws_env, moto_endpoint, tmp_path):
    # 2 x t3.medium x 730 h x 0.0416 = 60.736; 1 x m5.large x 730 h x 0.096 = 70.08;
    # 3 x c5.large x 100 h x 0.1 (overridden) = 30; total 160.816
    out = _play(aws_env, moto_endpoint, tmp_path, {"estimate": {
        "fleet": [{"instance_type": "t3.medium", "count": 2, "hours": 730},
                  {"instance_type": "m5.large", "count": 1, "hours": 730},
                  {"instance_type": "c5.large", "count": 3, "hours": 100}],
        "prices": {"c5.large": "0.1"}}})
    est = out["estimate"]
    assert Decimal(est["total"]["amount_exact"]) == Decimal("160.816")
    assert [Decimal(line["amount_exact"]) for line in est["lines"]] == [Decimal("60.736"), Decimal("70.08"),
                                                                        Decimal("30")]


def test_idle_and_oversize_candidates_from_cloudwatch_cpu(aws_env, moto_endpoint, tmp_path, clients):
    ec2 = clients["ec2"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = {}
    for name, itype in (("idle", "m5.large"), ("oversize", "m5.xlarge"), ("busy", "t3.large"), ("nodata", "t3.small")):
        ids[name] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType=itype, TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "CostOpt", "Value": "yes"}]}])["Instances"][0]["InstanceId"]
    now = datetime.datetime.now(datetime.timezone.utc)
    for name, values in (("idle", [1, 2, 3]), ("oversize", [20, 25, 30]), ("busy", [30, 60, 90])):
        clients["cloudwatch"].put_metric_data(Namespace="AWS/EC2", MetricData=[
            {"MetricName": "CPUUtilization", "Dimensions": [{"Name": "InstanceId", "Value": ids[name]}],
             "Timestamp": now - datetime.timedelta(hours=h + 1), "Value": v} for h, v in enumerate(values)])
    out = _play(aws_env, moto_endpoint, tmp_path, {"optimization": {"tag_filters": {"CostOpt": ["yes"]}}})
    rows = dict((r["instance_id"], r) for r in out["optimization"]["instances"])
    assert rows[ids["idle"]]["verdict"] == "idle" and rows[ids["idle"]]["cpu_average"] == 2.0
    # m5.large idle for a month: 0.096 x 730 = 70.08
    assert Decimal(rows[ids["idle"]]["monthly_saving"]["amount_exact"]) == Decimal("70.080")
    assert rows[ids["oversize"]]["verdict"] == "oversize"
    assert rows[ids["oversize"]]["suggestion"] == "resize to m5.large"
    # (0.192 - 0.096) x 730 = 70.08
    assert Decimal(rows[ids["oversize"]]["monthly_saving"]["amount_exact"]) == Decimal("70.08")
    assert rows[ids["busy"]]["verdict"] == "ok" and rows[ids["busy"]]["cpu_maximum"] == 90.0
    assert rows[ids["nodata"]]["verdict"] == "no_data"
    assert out["optimization"]["idle"] == [ids["idle"]] and out["optimization"]["oversize"] == [ids["oversize"]]
