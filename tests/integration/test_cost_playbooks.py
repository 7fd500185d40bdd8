"""playbooks/cost_audit.yml and playbooks/cost_report.yml against moto (the
endpoint comes from AWS_ENDPOINT_URL, as on a controller), and bad input to both
refused with a clear message before any AWS call or file write: the endpoint is
then a closed port, so a call would fail with "cannot reach the AWS endpoint"."""

import json
import os
import urllib.request
from decimal import Decimal

import boto3
import pytest

from conftest import ROOT, run

AUDIT = os.path.join(ROOT, "playbooks", "cost_audit.yml")
REPORT = os.path.join(ROOT, "playbooks", "cost_report.yml")
REGION = "eu-north-1"
POLICY = {"required": ["Project", "Owner"], "allowed_values": {"Project": ["ultraai"]},
          "defaults": {"Project": "ultraai"}}


def _env(aws_env, endpoint):
    env = dict(aws_env, AWS_ENDPOINT_URL=endpoint, AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION)
    return env


def _play(env, playbook, extra, *flags):
    return run(["ansible-playbook", playbook, "-e", json.dumps(extra)] + list(flags), env)


def test_cost_audit_writes_a_report_and_enforces(aws_env, moto_endpoint, tmp_path):
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    iid = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Owner", "Value": "ops"}]}])["Instances"][0]["InstanceId"]
    env = _env(aws_env, moto_endpoint)
    extra = {"cost_audit_policy": POLICY, "cost_audit_tag_filters": {"Owner": []},
             "cost_audit_report_dir": str(tmp_path / "audit")}
    res = _play(env, AUDIT, extra)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((tmp_path / "audit" / "cost_audit.json").read_text())
    assert report["summary"]["non_compliant"] == 1 and report["summary"]["total"] == 1
    assert "| `arn:aws:ec2:%s:123456789012:instance/%s` | non_compliant | Project: missing |" % (REGION, iid) in (
        tmp_path / "audit" / "cost_audit.md").read_text()

    res = _play(env, AUDIT, dict(extra, cost_audit_mode="enforce", cost_audit_fail_on_violations=True))
    assert res.returncode == 0, res.stdout + res.stderr
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
    assert dict((t["Key"], t["Value"]) for t in tags) == {"Owner": "ops", "Project": "ultraai"}


def test_cost_report_html_with_a_plot(aws_env, moto_endpoint, tmp_path):
    seed = {"results": [{"ResultsByTime": [{"TimePeriod": {"Start": "2023-05-01", "End": "2023-06-01"}, "Total": {},
                                            "Estimated": False, "Groups": [
        {"Keys": ["Team$api"], "Metrics": {"UnblendedCost": {"Amount": "42.42", "Unit": "USD"}}},
        {"Keys": ["Team$web"], "Metrics": {"UnblendedCost": {"Amount": "7.58", "Unit": "USD"}}}]}]}]}
    req = urllib.request.Request(moto_endpoint + "/moto-api/static/ce/cost-and-usage-results",
                                 data=json.dumps(seed).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10):
        pass
    out = tmp_path / "report"
    res = _play(_env(aws_env, moto_endpoint), REPORT, {
        "cost_report_start": "2023-05-01", "cost_report_end": "2023-06-01", "cost_report_format": "html",
        "cost_report_group_by": {"type": "tag", "key": "Team"}, "cost_report_budgets": False,
        "cost_report_fleet": [{"instance_type": "t3.small", "count": 4, "hours": 100}],
        "cost_report_optimization": False, "cost_report_dir": str(out)})
    assert res.returncode == 0, res.stdout + res.stderr
    figures = json.loads((out / "cost_report.json").read_text())
    assert [(g["key"], g["amount_exact"]) for g in figures["cost"]["groups"]] == [("api", "42.42"), ("web", "7.58")]
    assert Decimal(figures["estimate"]["total"]["amount_exact"]) == Decimal("8.32")  # 4 x 100 h x 0.0208
    html = (out / "cost_report.html").read_text()
    assert '<img src="cost_by_group.png"' in html and "<td>api</td><td class=\"n\">42.42</td>" in html
    assert (out / "cost_by_group.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


BAD = [
    ("no policy", AUDIT, {}, "cost_audit_policy is empty: set it, or aws_infra_tag_policy in the inventory"),
    ("invalid regex", AUDIT, {"cost_audit_policy": {"patterns": {"CostCenter": "cc-[0-9"}}},
     "policy.tags.CostCenter.pattern 'cc-[0-9' is not a valid regular expression"),
    ("required and forbidden", AUDIT, {"cost_audit_policy": {"required": ["Owner"], "forbidden": ["Owner"]}},
     "policy key 'Owner' is required and also forbidden"),
    ("more than 50 tags", AUDIT, {"cost_audit_policy": {"required": ["k%02d" % i for i in range(51)]}},
     "policy.tags has 51 keys; AWS allows at most 50 user tags per resource"),
    ("unknown ARN format", AUDIT, {"cost_audit_policy": POLICY, "cost_audit_resources": ["ec2/i-0123"]},
     "'ec2/i-0123' is not a resource ARN of a known form"),
    ("bad mode", AUDIT, {"cost_audit_policy": POLICY, "cost_audit_mode": "fix"},
     "cost_audit_mode must be one of: audit, enforce"),
    ("end before start", REPORT, {"cost_report_start": "2024-03-01", "cost_report_end": "2024-02-01"},
     "cost.end (2024-02-01) is before cost.start (2024-03-01)"),
    ("bad format", REPORT, {"cost_report_format": "pdf"}, "cost_report_format must be one of: markdown, html"),
]


@pytest.mark.parametrize("playbook,extra,message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_refused_before_any_call(aws_env, tmp_path, playbook, extra, message):
    out_dir = tmp_path / "reports"
    extra = dict(extra, cost_audit_report_dir=str(out_dir), cost_report_dir=str(out_dir))
    # An inventory of its own: the lab inventory sets aws_infra_tag_policy, and
    # "no policy" means none from anywhere.
    res = _play(_env(aws_env, "http://127.0.0.1:9"), playbook, extra, "-i", "localhost,")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert message in out, out
    assert "cannot reach" not in out and "Traceback" not in out, out
    assert "changed=0" in out and "failed=1" in out, out
    assert not out_dir.exists(), "a report was written for bad input"
