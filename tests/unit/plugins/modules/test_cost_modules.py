"""Bad input to cost_tag and cost_report fails with one clear message before any
AWS call: the endpoint is a closed port, so a call would fail differently."""

import pytest

from ansible_collections.ultraai.platform.plugins.modules import cost_report, cost_tag

AWS = {"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:9", "access_key": "AKIDTESTING", "secret_key": "not-a-real-secret-key"}
POLICY = {"tags": {"Project": {"required": True, "default": "ultraai"}}}


@pytest.fixture
def run_aws(run):
    return lambda module, args: run(module, dict(AWS, **args))


@pytest.mark.parametrize("args,message", [
    ({"policy": {"tags": {"CostCenter": {"pattern": "(CC-"}}}}, "is not a valid regular expression"),
    ({"policy": {"tags": {"Owner": {"required": True}}, "forbidden": ["Owner"]}},
     "policy key 'Owner' is required and also forbidden"),
    ({"policy": {"tags": dict(("k%02d" % i, {}) for i in range(51))}}, "AWS allows at most 50 user tags"),
    ({"policy": POLICY, "resources": ["i-0123456789abcdef0"]}, "'i-0123456789abcdef0' is not a resource ARN"),
    ({"policy": POLICY, "tag_filters": {"Project": "ultraai"}}, "tag_filters.Project must be a list"),
    ({"policy": POLICY, "mode": "fix"}, "value of mode must be one of: audit, enforce"),
])
def test_cost_tag_bad_input(run_aws, args, message):
    out = run_aws(cost_tag, args)
    assert out["failed"] and message in out["msg"], out["msg"]
    assert "cannot reach" not in out["msg"] and "Traceback" not in out["msg"]


@pytest.mark.parametrize("args,message", [
    ({"cost": {"start": "2024-03-01", "end": "2024-02-01"}}, "cost.end (2024-02-01) is before cost.start (2024-03-01)"),
    ({"cost": {"group_by": {"type": "project", "key": "x"}}}, "value of type must be one of"),
    ({"estimate": {"fleet": [{"instance_type": "x9.huge"}]}}, "no price for instance type x9.huge"),
    ({"optimization": {"idle_below": 50, "oversize_below": 10}}, "idle_below <= oversize_below"),
    ({}, "one of the following is required: cost, budgets, estimate, optimization"),
])
def test_cost_report_bad_input(run_aws, args, message):
    out = run_aws(cost_report, args)
    assert out["failed"] and message in out["msg"], out["msg"]
    assert "cannot reach" not in out["msg"] and "Traceback" not in out["msg"]


def test_unreachable_endpoint_is_a_clear_message(run_aws, monkeypatch):
    """Control case: good input does reach for AWS, and the failure is one line."""
    from ansible_collections.ultraai.platform.plugins.module_utils import cost_calls
    monkeypatch.setattr(cost_calls, "SLEEP", lambda seconds: None)
    out = run_aws(cost_report, {"cost": {"start": "2024-01-01", "end": "2024-02-01"}, "aws_config": {
        "retries": {"max_attempts": 1}, "connect_timeout": 1}})
    assert out["failed"] and "cannot reach the AWS endpoint" in out["msg"], out["msg"]
