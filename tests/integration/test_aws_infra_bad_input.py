"""provision_aws.yml and teardown_aws.yml refuse bad input with a clear message
before any AWS call. AWS_ENDPOINT_URL points at the session's moto server and the
stack's name is unique to each case, so a run that got past the checks would
leave a VPC of that name behind: each case asserts there is none."""

import json
import os
import uuid

import boto3
import pytest

from conftest import ROOT, run

PROVISION = os.path.join(ROOT, "playbooks", "provision_aws.yml")
TEARDOWN = os.path.join(ROOT, "playbooks", "teardown_aws.yml")
GOOD = {
    "aws_infra_ami_id": "ami-1e749f67",
    "aws_infra_certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
    "aws_infra_backup_bucket": "ultraai-bad-input-backups",
    "aws_infra_tags": {"Application": "ultraai", "Environment": "staging", "CostCenter": "cc-1234",
                       "Owner": "ops", "Project": "ultraai"},
}


def tags(**change):
    out = dict(GOOD["aws_infra_tags"], **change)
    return dict((k, v) for k, v in out.items() if v is not None)


CASES = [
    ("stack name with capitals", {"aws_infra_name": "UltraAI_prod"}, "aws_infra_name must be 3-20"),
    ("missing policy tag", {"aws_infra_tags": tags(CostCenter=None)}, "missing: CostCenter"),
    ("tag value the policy does not allow", {"aws_infra_tags": tags(Environment="prod")},
     "Environment=prod is not one of production|staging|development"),
    ("tag value against the policy's pattern", {"aws_infra_tags": tags(CostCenter="CC1234")},
     "CostCenter=CC1234 does not match"),
    ("aws: tag key", {"aws_infra_tags": tags(**{"aws:owner": "x"})}, "no 'aws:' keys"),
    ("more tags than AWS allows", {"aws_infra_tags": dict(tags(), **dict(("K%d" % i, "v") for i in range(45)))},
     "at most 47 tags"),
    ("one availability zone", {"aws_infra_availability_zones": ["eu-west-1a"]},
     "at least 2 distinct availability"),
    ("subnet CIDR that is not one", {"aws_infra_public_subnet_cidrs": ["10.20.0.0/24", "10.20.1.0"]},
     "one public and one private"),
    ("min above max", {"aws_infra_asg_min_size": 5, "aws_infra_asg_max_size": 3}, "0 <= min <= desired <= max"),
    ("certificate that is not an ARN", {"aws_infra_certificate_arn": "my-cert"}, "an ACM or IAM certificate ARN"),
    ("no certificate", {"aws_infra_certificate_arn": None}, "missing required arguments: aws_infra_certificate_arn"),
    ("unknown database choice", {"aws_infra_database": "mysql"}, "aws_infra_database"),
    ("RDS without a password", {"aws_infra_database": "rds"}, "aws_infra_rds_password must be at least 8"),
    ("bucket name with capitals", {"aws_infra_backup_bucket": "Backups"}, "must be an S3 bucket name"),
    ("lifecycle out of order", {"aws_infra_backup_glacier_days": 40}, "lifecycle days ordered"),
    ("budget threshold type", {"aws_infra_budget_thresholds": [{"type": "WEEKLY", "percent": 80}]},
     "ACTUAL or FORECASTED"),
    ("alarm e-mail that is not one", {"aws_infra_alarm_emails": ["ops"]}, "must be addresses"),
]


def vpcs_named(endpoint, name):
    ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    return ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]


def play(aws_env, endpoint, tmp_path, playbook, extra):
    env = dict(aws_env, AWS_ENDPOINT_URL=endpoint)
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(extra))
    return run(["ansible-playbook", playbook, "-e", "@%s" % extra_file], env)


@pytest.mark.parametrize("change,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_provision_refuses_bad_input_before_any_call(aws_env, moto_endpoint, tmp_path, change, message):
    name = "bad-%s" % uuid.uuid4().hex[:8]
    extra = dict(GOOD, aws_infra_name=name)
    extra.update(change)
    extra = dict((k, v) for k, v in extra.items() if v is not None)
    res = play(aws_env, moto_endpoint, tmp_path, PROVISION, extra)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert message in out, out
    assert "changed=0" in out and "failed=1" in out, out
    assert vpcs_named(moto_endpoint, extra.get("aws_infra_name", name)) == []


def test_teardown_refuses_bad_input(aws_env, moto_endpoint, tmp_path):
    res = play(aws_env, moto_endpoint, tmp_path, TEARDOWN, {"aws_infra_name": "x", "aws_infra_backup_bucket": "b"})
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "aws_infra_name must be 3-20" in out, out
    assert "changed=0" in out and "failed=1" in out, out


def test_good_input_passes_the_checks(aws_env, moto_endpoint, tmp_path):
    """Control case: the same input, valid, gets through every check (preflight only)."""
    env = dict(aws_env, AWS_ENDPOINT_URL=moto_endpoint)
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(dict(GOOD, aws_infra_name="good-input")))
    res = run(["ansible-playbook", PROVISION, "--tags", "aws_infra_preflight", "-e", "@%s" % extra_file], env)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "changed=0" in out and "failed=0" in out, out
    assert vpcs_named(moto_endpoint, "good-input") == []
