"""health_gate's alb check against a real endpoint (moto), configured only through
module_defaults for group/aws. The ALB states moto cannot produce (initial,
unhealthy, draining) are unit-tested with botocore's Stubber."""

import json
import os

import boto3

from conftest import run

PLAYBOOK = os.path.join("tests", "integration", "files", "health_gate_alb.yml")


def _target(endpoint, name):
    kw = dict(region_name="eu-west-1", endpoint_url=endpoint, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    ec2 = boto3.client("ec2", **kw)
    elbv2 = boto3.client("elbv2", **kw)
    vpc = ec2.create_vpc(CidrBlock="10.90.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.90.1.0/24")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]
    tg = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8000, VpcId=vpc,
                                   HealthCheckPath="/health")["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=tg, Targets=[{"Id": instance}])
    return tg, instance


def _play(aws_env, endpoint, tg, target):
    extra = json.dumps({"moto_endpoint": endpoint, "target_group_arn": tg, "target_id": target})
    return run(["ansible-playbook", PLAYBOOK, "-e", extra], aws_env)


def test_gate_passes_on_a_healthy_target_through_group_aws_defaults(aws_env, moto_endpoint):
    tg, instance = _target(moto_endpoint, "gate-healthy")
    res = _play(aws_env, moto_endpoint, tg, instance)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "passed: true" in res.stdout, res.stdout
    assert "last_status: healthy" in res.stdout, res.stdout


def test_gate_fails_clearly_on_an_unregistered_target(aws_env, moto_endpoint):
    tg, dummy = _target(moto_endpoint, "gate-unregistered")
    res = _play(aws_env, moto_endpoint, tg, "i-0123456789abcdef0")
    assert res.returncode != 0
    assert "Target.NotRegistered" in res.stdout, res.stdout
    assert "Traceback" not in res.stdout + res.stderr
