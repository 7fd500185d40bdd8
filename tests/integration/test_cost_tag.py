"""cost_tag against a real endpoint (moto): audit reports exactly the seeded
violations, check-mode enforce changes nothing and shows the diff, enforce fixes
what the policy can fix and a second run changes nothing, aws: tags stay, and an
ALB is tagged although the tagging API refuses it (moto reports ELBv2 in
FailedResourcesMap, so the module falls back to elbv2 add_tags).

Resources live in eu-central-1 so other tests' resources (eu-west-1) stay out.
"""

import json
import os

import boto3
import pytest

from conftest import run

PLAYBOOK = os.path.join("tests", "integration", "files", "cost_module.yml")
REGION = "eu-central-1"
POLICY = {
    "case_sensitive": False,
    "tags": {
        "Project": {"required": True, "allowed": ["ultraai"], "default": "ultraai"},
        "Environment": {"required": True, "allowed": ["production", "staging", "development"]},
        "CostCenter": {"required": True, "pattern": "CC-[0-9]{4}", "default": "CC-0000", "case_sensitive": True},
        "Owner": {"required": True},
        "Team": {"default": "platform"},
    },
    "forbidden": ["Temp"],
}


def _tags(**kw):
    return [{"Key": k, "Value": v} for k, v in kw.items()]


@pytest.fixture(scope="module")
def world(moto_endpoint):
    kw = dict(region_name=REGION, endpoint_url=moto_endpoint, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    ec2 = boto3.client("ec2", **kw)
    elbv2 = boto3.client("elbv2", **kw)
    sns = boto3.client("sns", **kw)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def instance(tags):
        iid = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        ec2.create_tags(Resources=[iid], Tags=tags)
        return iid, "arn:aws:ec2:%s:123456789012:instance/%s" % (REGION, iid)

    # compliant but for the case of Environment's value; carries an aws: tag
    wrong_case_value = instance(_tags(**{"Project": "ultraai", "Environment": "PRODUCTION", "CostCenter": "CC-1234",
                                         "Owner": "ops", "Team": "api", "aws:cloudformation:stack-name": "ultraai"}))
    # Project missing (has a default), CostCenter invalid (default replaces it), Environment invalid (no default)
    wrong_values = instance(_tags(Environment="prod", CostCenter="cc-12", Owner="ops", Team="api"))
    # project: wrong case of the key; Temp forbidden; Team missing (default)
    wrong_case_key = instance(_tags(project="ultraai", Environment="staging", CostCenter="CC-0001", Owner="ops",
                                    Temp="yes"))
    vpc = ec2.create_vpc(CidrBlock="10.91.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock="10.91.%d.0/24" % i,
                                 AvailabilityZone="%s%s" % (REGION, az))["Subnet"]["SubnetId"]
               for i, az in ((1, "a"), (2, "b"))]
    alb = elbv2.create_load_balancer(Name="cost-alb", Subnets=subnets,
                                     Tags=_tags(Environment="production", Owner="ops"))
    alb_arn = alb["LoadBalancers"][0]["LoadBalancerArn"]
    compliant = _tags(Project="ultraai", Environment="development", CostCenter="CC-9999", Owner="ops", Team="api")
    topic = sns.create_topic(Name="cost-compliant", Tags=compliant)
    return dict(ec2=ec2, elbv2=elbv2, sns=sns, wrong_case_value=wrong_case_value, wrong_values=wrong_values,
                wrong_case_key=wrong_case_key, alb=alb_arn, topic=topic["TopicArn"])


def _arns(world):
    return [world["wrong_case_value"][1], world["wrong_values"][1], world["wrong_case_key"][1], world["alb"],
            world["topic"]]


def _play(aws_env, endpoint, tmp_path, args, *flags):
    out = tmp_path / "result.json"
    extra = {"moto_endpoint": endpoint, "cost_region": REGION, "cost_module": "cost_tag", "cost_args": args,
             "out_file": str(out)}
    res = run(["ansible-playbook", PLAYBOOK, "-e", json.dumps(extra)] + list(flags), aws_env)
    assert res.returncode == 0, res.stdout + res.stderr
    return json.loads(out.read_text()), res.stdout


def _ec2_tags(world, key):
    iid = world[key][0]
    tags = world["ec2"].describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
    return dict((t["Key"], t["Value"]) for t in tags)


def _alb_tags(world):
    desc = world["elbv2"].describe_tags(ResourceArns=[world["alb"]])["TagDescriptions"][0]["Tags"]
    return dict((t["Key"], t["Value"]) for t in desc)


def _snapshot(world):
    return {"wrong_case_value": _ec2_tags(world, "wrong_case_value"), "wrong_values": _ec2_tags(world, "wrong_values"),
            "wrong_case_key": _ec2_tags(world, "wrong_case_key"), "alb": _alb_tags(world)}


def _issues(result, arn):
    res = next(r for r in result["resources"] if r["arn"] == arn)
    return sorted((v["key"], v["issue"]) for v in res["violations"]), res


def test_audit_reports_exactly_the_violations(aws_env, moto_endpoint, tmp_path, world):
    before = _snapshot(world)
    out, dummy = _play(aws_env, moto_endpoint, tmp_path, {"policy": POLICY, "mode": "audit",
                                                          "resources": _arns(world)})
    assert out["changed"] is False
    assert _issues(out, world["wrong_case_value"][1])[0] == [("Environment", "wrong_case_value")]
    assert _issues(out, world["wrong_values"][1])[0] == [
        ("CostCenter", "invalid_value"), ("Environment", "invalid_value"), ("Project", "missing")]
    assert _issues(out, world["wrong_case_key"][1])[0] == [
        ("Project", "wrong_case_key"), ("Team", "missing"), ("Temp", "forbidden")]
    assert _issues(out, world["alb"])[0] == [("CostCenter", "missing"), ("Project", "missing"), ("Team", "missing")]
    issues, topic = _issues(out, world["topic"])
    assert issues == [] and topic["status"] == "compliant"
    assert out["summary"]["total"] == 5 and out["summary"]["compliant"] == 1
    assert out["summary"]["non_compliant"] == 4
    assert out["summary"]["by_issue"] == {"missing": 5, "invalid_value": 2, "wrong_case_key": 1,
                                          "wrong_case_value": 1, "forbidden": 1}
    assert _snapshot(world) == before


def test_enforce_in_check_mode_changes_nothing_and_shows_the_diff(aws_env, moto_endpoint, tmp_path, world):
    before = _snapshot(world)
    out, stdout = _play(aws_env, moto_endpoint, tmp_path,
                        {"policy": POLICY, "mode": "enforce", "resources": _arns(world), "replace_invalid": True},
                        "--check", "--diff")
    assert out["changed"] is True
    assert out["summary"]["would_fix"] == 2, out["summary"]
    assert _snapshot(world) == before
    # the diff shows the ALB gaining its tags and the value's case being fixed
    assert "+Project: ultraai" in stdout and "+CostCenter: CC-0000" in stdout, stdout
    assert "-Environment: PRODUCTION" in stdout and "+Environment: production" in stdout, stdout


def test_enforce_fixes_then_second_run_changes_nothing(aws_env, moto_endpoint, tmp_path, world):
    args = {"policy": POLICY, "mode": "enforce", "resources": _arns(world), "replace_invalid": True}
    out, dummy = _play(aws_env, moto_endpoint, tmp_path, args)
    assert out["changed"] is True
    by_arn = dict((r["arn"], r) for r in out["resources"])
    assert by_arn[world["wrong_case_value"][1]]["status"] == "fixed"
    assert by_arn[world["wrong_case_key"][1]]["status"] == "non_compliant"  # Temp stays: remove_forbidden is off
    assert by_arn[world["wrong_values"][1]]["status"] == "non_compliant"  # Environment=prod: no default to use
    assert by_arn[world["alb"]]["status"] == "fixed"

    assert _ec2_tags(world, "wrong_case_value") == {
        "Project": "ultraai", "Environment": "production", "CostCenter": "CC-1234", "Owner": "ops", "Team": "api",
        "aws:cloudformation:stack-name": "ultraai"}  # the aws: tag is untouched
    assert _ec2_tags(world, "wrong_values") == {
        "Project": "ultraai", "Environment": "prod", "CostCenter": "CC-0000", "Owner": "ops", "Team": "api"}
    assert _ec2_tags(world, "wrong_case_key") == {
        "Project": "ultraai", "Environment": "staging", "CostCenter": "CC-0001", "Owner": "ops", "Team": "platform",
        "Temp": "yes"}
    # The ALB, which the tagging API refuses (FailedResourcesMap), carries the policy's tags.
    assert _alb_tags(world) == {"Environment": "production", "Owner": "ops", "Project": "ultraai",
                                "CostCenter": "CC-0000", "Team": "platform"}

    again, dummy = _play(aws_env, moto_endpoint, tmp_path, args)
    assert again["changed"] is False, again
    assert again["summary"]["non_compliant"] == 2 and again["summary"]["compliant"] == 3, again["summary"]

    # remove_forbidden clears Temp; a further run has nothing left to do on that resource
    out, dummy = _play(aws_env, moto_endpoint, tmp_path, dict(args, remove_forbidden=True,
                                                              resources=[world["wrong_case_key"][1]]))
    assert out["changed"] is True and "Temp" not in _ec2_tags(world, "wrong_case_key")
    out, dummy = _play(aws_env, moto_endpoint, tmp_path, dict(args, remove_forbidden=True,
                                                              resources=[world["wrong_case_key"][1]]))
    assert out["changed"] is False and out["resources"][0]["status"] == "compliant"


def test_discovery_through_the_tagging_api(aws_env, moto_endpoint, tmp_path, world):
    out, dummy = _play(aws_env, moto_endpoint, tmp_path, {"policy": POLICY, "tag_filters": {"Owner": ["ops"]}})
    arns = set(r["arn"] for r in out["resources"])
    assert set(_arns(world)) <= arns, arns


def test_fifty_tag_limit_is_respected(aws_env, moto_endpoint, tmp_path, world):
    iid = world["ec2"].run_instances(ImageId=world["ec2"].describe_images(Owners=["amazon"])["Images"][0]["ImageId"],
                                     MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    full = [{"Key": "k%02d" % i, "Value": "v"} for i in range(49)] + [{"Key": "Owner", "Value": "ops"}]
    world["ec2"].create_tags(Resources=[iid], Tags=full + [{"Key": "aws:autoscaling:groupName", "Value": "g"}])
    arn = "arn:aws:ec2:%s:123456789012:instance/%s" % (REGION, iid)
    extra = {"moto_endpoint": moto_endpoint, "cost_region": REGION, "cost_module": "cost_tag",
             "cost_args": {"policy": POLICY, "mode": "enforce", "resources": [arn]}, "out_file": str(tmp_path / "o"),
             "cost_ignore_errors": True}
    res = run(["ansible-playbook", PLAYBOOK, "-e", json.dumps(extra)], aws_env)
    out = json.loads((tmp_path / "o").read_text())
    assert out["failed"] and "AWS allows at most 50" in out["msg"], out
    assert out["resources"][0]["status"] == "failed"
    tags = world["ec2"].describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
    assert len(tags) == 51, "the resource was changed"
    assert "Traceback" not in res.stdout + res.stderr


def _play_may_fail(aws_env, endpoint, tmp_path, args):
    extra = {"moto_endpoint": endpoint, "cost_region": REGION, "cost_module": "cost_tag", "cost_args": args,
             "out_file": str(tmp_path / "o"), "cost_ignore_errors": True}
    res = run(["ansible-playbook", PLAYBOOK, "-e", json.dumps(extra)], aws_env)
    assert "Traceback" not in res.stdout + res.stderr
    return json.loads((tmp_path / "o").read_text())


def _instance(world, tags):
    ec2 = world["ec2"]
    iid = ec2.run_instances(ImageId=ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"],
                            MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.create_tags(Resources=[iid], Tags=tags)
    return iid, "arn:aws:ec2:%s:123456789012:instance/%s" % (REGION, iid)


def _tags_of(world, iid):
    tags = world["ec2"].describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"]
    return dict((t["Key"], t["Value"]) for t in tags)


def test_a_resource_the_api_refuses_does_not_stop_the_others(aws_env, moto_endpoint, tmp_path, world):
    # Both lack only Team. The first has 49 user tags and an aws: tag: within the
    # limit as AWS counts it (aws: tags do not count), so the module sends the
    # change, but moto counts the aws: tag and refuses the whole TagResources
    # call with TagLimitExceeded. The second must still get its Team.
    base = _tags(Project="ultraai", Environment="staging", CostCenter="CC-0002", Owner="ops")
    full = _instance(world, base + [{"Key": "f%02d" % i, "Value": "v"} for i in range(45)]
                     + [{"Key": "aws:autoscaling:groupName", "Value": "g"}])
    other = _instance(world, base)
    out = _play_may_fail(aws_env, moto_endpoint, tmp_path, {"policy": POLICY, "mode": "enforce",
                                                            "resources": [full[1], other[1]]})
    by_arn = dict((r["arn"], r) for r in out["resources"])
    assert out["failed"] and "1 resource(s) could not be changed" in out["msg"], out["msg"]
    assert by_arn[other[1]]["status"] == "fixed" and _tags_of(world, other[0])["Team"] == "platform"
    assert by_arn[full[1]]["status"] == "failed" and "TagLimitExceeded" in by_arn[full[1]]["error"], by_arn[full[1]]
    assert "Team" not in _tags_of(world, full[0])
    assert out["summary"]["fixed"] == 1 and out["summary"]["failed"] == 1


def test_two_spellings_of_a_key_are_reported_and_enforce_keeps_the_policys(aws_env, moto_endpoint, tmp_path, world):
    iid, arn = _instance(world, _tags(Project="ultraai", Environment="production", environment="production",
                                      CostCenter="CC-0003", Owner="ops", Team="api"))
    out, dummy = _play(aws_env, moto_endpoint, tmp_path, {"policy": POLICY, "mode": "audit", "resources": [arn]})
    assert _issues(out, arn)[0] == [("Environment", "wrong_case_key")]
    assert out["resources"][0]["status"] == "non_compliant"
    out, dummy = _play(aws_env, moto_endpoint, tmp_path, {"policy": POLICY, "mode": "enforce", "resources": [arn]})
    assert out["resources"][0]["status"] == "fixed"
    tags = _tags_of(world, iid)
    assert tags["Environment"] == "production" and "environment" not in tags, tags


def test_a_malformed_arn_is_refused_before_any_call(aws_env, moto_endpoint, tmp_path, world):
    out = _play_may_fail(aws_env, "http://127.0.0.1:9", tmp_path,  # nothing listens: a call would fail otherwise
                         {"policy": POLICY, "mode": "enforce", "resources": ["arn:aws:ec2:::nonsense"]})
    assert out["failed"] and "'arn:aws:ec2:::nonsense' is not a resource ARN" in out["msg"], out["msg"]
    assert "resources" not in out


def test_auto_scaling_group_is_read_through_its_own_api(aws_env, moto_endpoint, tmp_path, world):
    """The tagging API's get_resources omits ASGs (in moto as the lab notes say), so
    cost_tag reads them with describe_auto_scaling_groups; a second enforce run
    therefore sees its own tags and changes nothing."""
    asg = boto3.client("autoscaling", region_name=REGION, endpoint_url=moto_endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    image = world["ec2"].describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    subnet = world["ec2"].describe_subnets()["Subnets"][0]["SubnetId"]
    asg.create_launch_configuration(LaunchConfigurationName="cost-lc", ImageId=image, InstanceType="t3.micro")
    asg.create_auto_scaling_group(AutoScalingGroupName="cost-asg", LaunchConfigurationName="cost-lc", MinSize=0,
                                  MaxSize=1, VPCZoneIdentifier=subnet,
                                  Tags=[{"Key": "Owner", "Value": "ops", "PropagateAtLaunch": True},
                                        {"Key": "Environment", "Value": "staging", "PropagateAtLaunch": True}])
    arn = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["cost-asg"])["AutoScalingGroups"][0][
        "AutoScalingGroupARN"]
    args = {"policy": POLICY, "mode": "enforce", "resources": [arn]}
    out, dummy = _play(aws_env, moto_endpoint, tmp_path, args)
    assert out["changed"] is True and out["resources"][0]["status"] == "fixed", out
    assert out["resources"][0]["source"] == "AutoScalingTagger"
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["cost-asg"])["AutoScalingGroups"][0]
    assert dict((t["Key"], t["Value"]) for t in group["Tags"]) == {
        "Owner": "ops", "Environment": "staging", "Project": "ultraai", "CostCenter": "CC-0000", "Team": "platform"}
    again, dummy = _play(aws_env, moto_endpoint, tmp_path, args)
    assert again["changed"] is False and again["resources"][0]["status"] == "compliant", again


def test_route53_hosted_zone_is_tagged_through_its_own_api(aws_env, moto_endpoint, tmp_path, world):
    """moto's tagging API refuses Route 53 (FailedResourcesMap), so cost_tag tags the
    hosted zone with change_tags_for_resource, and reads it back the same way."""
    r53 = boto3.client("route53", region_name="us-east-1", endpoint_url=moto_endpoint,
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    zone = r53.create_hosted_zone(Name="cost.example.com", CallerReference="cost-tag-test")["HostedZone"]["Id"]
    zone_id = zone.split("/")[-1]
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id,
                                 AddTags=[{"Key": "Owner", "Value": "ops"}, {"Key": "Environment", "Value": "staging"}])
    arn = "arn:aws:route53:::hostedzone/%s" % zone_id
    args = {"policy": POLICY, "mode": "enforce", "resources": [arn]}
    out, dummy = _play(aws_env, moto_endpoint, tmp_path, args)
    assert out["changed"] is True and out["resources"][0]["status"] == "fixed", out
    assert out["resources"][0]["source"] == "Route53Tagger"
    tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"]["Tags"]
    assert dict((t["Key"], t["Value"]) for t in tags) == {
        "Owner": "ops", "Environment": "staging", "Project": "ultraai", "CostCenter": "CC-0000", "Team": "platform"}
    again, dummy = _play(aws_env, moto_endpoint, tmp_path, args)
    assert again["changed"] is False and again["resources"][0]["status"] == "compliant", again
