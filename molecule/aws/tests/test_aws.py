"""What provision_aws.yml made, read back with boto3 from the moto server.

Each check reads the service's own API (not the tagging API, which misses ASGs
and launch templates). Expected values come from molecule.yml's group_vars and
the role's defaults.
"""

import json
import os

import boto3
import pytest

NAME = "ultraai-test"
POLICY_TAGS = {"Application": "ultraai", "Environment": "staging", "CostCenter": "cc-1234",
               "Owner": "platform-team", "Project": "ultraai-cloud"}
APP_PORT = 8000
BUCKET = "ultraai-test-backups"
CERT = "arn:aws:iam::123456789012:server-certificate/ultraai-test"


def client(service, region="eu-west-1"):
    return boto3.client(service, region_name=region, endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def tags(tag_list):
    return dict((t["Key"], t["Value"]) for t in tag_list or [])


def carries_policy(found):
    return all(found.get(k) == v for k, v in POLICY_TAGS.items())


@pytest.fixture(scope="module")
def ec2():
    return client("ec2")


@pytest.fixture(scope="module")
def vpc(ec2):
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [NAME]}])["Vpcs"]
    assert len(vpcs) == 1, vpcs
    return vpcs[0]


@pytest.fixture(scope="module")
def subnets(ec2, vpc):
    return ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]


@pytest.fixture(scope="module")
def groups(ec2, vpc):
    found = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["SecurityGroups"]
    return dict((g["GroupName"], g) for g in found)


@pytest.fixture(scope="module")
def alb():
    return client("elbv2").describe_load_balancers(Names=[NAME + "-alb"])["LoadBalancers"][0]


@pytest.fixture(scope="module")
def target_group():
    return client("elbv2").describe_target_groups(Names=[NAME + "-app"])["TargetGroups"][0]


@pytest.fixture(scope="module")
def asg():
    found = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[NAME + "-app"])
    return found["AutoScalingGroups"][0]


def test_network_spans_two_zones_with_public_and_private_subnets(ec2, vpc, subnets):
    assert vpc["CidrBlock"] == "10.20.0.0/16"
    by_tier = {}
    for subnet in subnets:
        by_tier.setdefault(tags(subnet["Tags"])["Tier"], []).append(subnet)
    assert sorted(s["AvailabilityZone"] for s in by_tier["public"]) == ["eu-west-1a", "eu-west-1b"]
    assert sorted(s["AvailabilityZone"] for s in by_tier["private"]) == ["eu-west-1a", "eu-west-1b"]
    assert all(s["MapPublicIpOnLaunch"] for s in by_tier["public"])
    assert not any(s["MapPublicIpOnLaunch"] for s in by_tier["private"])
    igws = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]
    assert len(igws) == 1
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["RouteTables"]
    named = dict((tags(t.get("Tags")).get("Name"), t) for t in tables)
    public_routes = [r for r in named[NAME + "-public"]["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    assert [r.get("GatewayId") for r in public_routes] == [igws[0]["InternetGatewayId"]]
    assert not [r for r in named[NAME + "-private"]["Routes"] if r.get("GatewayId", "").startswith("igw-")]
    public_ids = {s["SubnetId"] for s in by_tier["public"]}
    assert {a["SubnetId"] for a in named[NAME + "-public"]["Associations"] if a.get("SubnetId")} == public_ids


def rules(group):
    """Ingress as a set of (port, source) pairs, source a CIDR or a group name."""
    out = set()
    for perm in group["IpPermissions"]:
        for port in range(perm["FromPort"], perm["ToPort"] + 1):
            for rng in perm.get("IpRanges", []):
                out.add((port, rng["CidrIp"]))
            for pair in perm.get("UserIdGroupPairs", []):
                out.add((port, pair["GroupId"]))
    return out


def test_security_groups_are_chained(groups):
    alb_sg, app_sg, data_sg = groups[NAME + "-alb"], groups[NAME + "-app"], groups[NAME + "-data"]
    assert rules(alb_sg) == {(443, "0.0.0.0/0"), (80, "0.0.0.0/0")}
    assert rules(app_sg) == {(APP_PORT, alb_sg["GroupId"])}
    assert rules(data_sg) == {(5432, app_sg["GroupId"]), (6379, app_sg["GroupId"])}


def test_instance_role_is_least_privilege():
    iam = client("iam")
    role = iam.get_role(RoleName=NAME + "-app")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "ec2.amazonaws.com"}]
    assert iam.list_attached_role_policies(RoleName=NAME + "-app")["AttachedPolicies"] == []
    names = iam.list_role_policies(RoleName=NAME + "-app")["PolicyNames"]
    assert names == [NAME + "-backups-and-metrics"]
    doc = iam.get_role_policy(RoleName=NAME + "-app", PolicyName=names[0])["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    actions = set()
    for statement in doc["Statement"]:
        assert statement["Effect"] == "Allow"
        acts = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        actions.update(acts)
        assert not any(a.endswith("*") for a in acts), acts
        if any(a.startswith("s3:") for a in acts):
            res = statement["Resource"]
            assert res in ("arn:aws:s3:::%s" % BUCKET, "arn:aws:s3:::%s/backups/*" % BUCKET), res
            if res == "arn:aws:s3:::%s" % BUCKET:
                assert statement["Condition"]["StringLike"]["s3:prefix"] == ["backups/*"]
    assert {a.split(":")[0] for a in actions} == {"s3", "cloudwatch", "logs"}
    assert "s3:DeleteObject" not in actions and "s3:DeleteBucket" not in actions
    profile = iam.get_instance_profile(InstanceProfileName=NAME + "-app")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [NAME + "-app"]


def test_launch_template_and_auto_scaling(ec2, groups, subnets, asg, target_group):
    version = ec2.describe_launch_template_versions(LaunchTemplateName=NAME + "-app")["LaunchTemplateVersions"]
    assert len(version) == 1, "a re-run made a new launch template version"
    data = version[0]["LaunchTemplateData"]
    assert data["ImageId"] == "ami-1e749f67" and data["InstanceType"] == "t3.small"
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["IamInstanceProfile"]["Arn"].endswith(":instance-profile/%s-app" % NAME)
    assert data["SecurityGroupIds"] == [groups[NAME + "-app"]["GroupId"]]
    specs = dict((s["ResourceType"], tags(s["Tags"])) for s in data["TagSpecifications"])
    assert carries_policy(specs["instance"]) and specs["instance"]["Role"] == "app"
    assert carries_policy(specs["volume"])
    assert (asg["MinSize"], asg["DesiredCapacity"], asg["MaxSize"]) == (2, 2, 6)
    private = {s["SubnetId"] for s in subnets if tags(s["Tags"])["Tier"] == "private"}
    assert set(asg["VPCZoneIdentifier"].split(",")) == private
    assert asg["TargetGroupARNs"] == [target_group["TargetGroupArn"]]
    assert asg["HealthCheckType"] == "ELB"
    assert asg["LaunchTemplate"]["LaunchTemplateName"] == NAME + "-app"
    assert all(t["PropagateAtLaunch"] for t in asg["Tags"])
    policies = client("autoscaling").describe_policies(AutoScalingGroupName=NAME + "-app")["ScalingPolicies"]
    assert len(policies) == 1
    policy = policies[0]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    config = policy["TargetTrackingConfiguration"]
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == "ASGAverageCPUUtilization"
    assert float(config["TargetValue"]) == 50.0


def test_alb_health_check_https_and_redirect(alb, target_group, groups, subnets):
    assert alb["Scheme"] == "internet-facing"
    public = {s["SubnetId"] for s in subnets if tags(s["Tags"])["Tier"] == "public"}
    assert {z["SubnetId"] for z in alb["AvailabilityZones"]} == public
    assert alb["SecurityGroups"] == [groups[NAME + "-alb"]["GroupId"]]
    assert target_group["HealthCheckPath"] == "/health"
    assert target_group["HealthCheckProtocol"] == "HTTP"
    assert target_group["Port"] == APP_PORT
    assert target_group["Matcher"]["HttpCode"] == "200"
    listeners = client("elbv2").describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
    by_port = dict((li["Port"], li) for li in listeners)
    assert sorted(by_port) == [80, 443]
    https = by_port[443]
    assert https["Protocol"] == "HTTPS"
    assert [c["CertificateArn"] for c in https["Certificates"]] == [CERT]
    assert https["DefaultActions"][0]["Type"] == "forward"
    assert https["DefaultActions"][0]["TargetGroupArn"] == target_group["TargetGroupArn"]
    redirect = by_port[80]["DefaultActions"][0]
    assert redirect["Type"] == "redirect"
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["Port"] == "443"
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"


def test_backup_bucket_is_versioned_encrypted_private_with_lifecycle():
    s3 = client("s3")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    enc = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert enc[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                     "RestrictPublicBuckets": True}
    rules_ = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert len(rules_) == 1
    rule = rules_[0]
    assert rule["Status"] == "Enabled"
    prefix = rule.get("Filter", {}).get("Prefix", rule.get("Prefix"))
    assert prefix == "backups/"
    assert sorted((t["Days"], t["StorageClass"]) for t in rule["Transitions"]) == [
        (30, "STANDARD_IA"), (90, "GLACIER")]
    assert rule["Expiration"]["Days"] == 365
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_alarms_go_to_the_topic(alb, target_group):
    topic = [t["TopicArn"] for t in client("sns").list_topics()["Topics"] if t["TopicArn"].endswith(":" + NAME + "-alerts")]
    assert len(topic) == 1
    subs = client("sns").list_subscriptions_by_topic(TopicArn=topic[0])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", "ops@example.com")]
    alarms = dict((a["AlarmName"], a) for a in client("cloudwatch").describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"])
    lb_dim = alb["LoadBalancerArn"].split(":loadbalancer/")[1]
    tg_dim = target_group["TargetGroupArn"].split(":")[-1]
    expected = {
        NAME + "-alb-target-5xx": ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", {"LoadBalancer": lb_dim}),
        NAME + "-alb-elb-5xx": ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", {"LoadBalancer": lb_dim}),
        NAME + "-unhealthy-hosts": ("AWS/ApplicationELB", "UnHealthyHostCount",
                                    {"LoadBalancer": lb_dim, "TargetGroup": tg_dim}),
        NAME + "-app-cpu-high": ("AWS/EC2", "CPUUtilization", {"AutoScalingGroupName": NAME + "-app"}),
    }
    assert sorted(alarms) == sorted(expected)
    for name, (namespace, metric, dims) in expected.items():
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
        assert dict((d["Name"], d["Value"]) for d in alarm["Dimensions"]) == dims
        assert alarm["AlarmActions"] == topic and alarm["OKActions"] == topic


def test_budget_has_actual_and_forecast_notifications():
    budgets = client("budgets", "us-east-1")
    budget = budgets.describe_budget(AccountId="123456789012", BudgetName=NAME + "-monthly")["Budget"]
    assert float(budget["BudgetLimit"]["Amount"]) == 500.0 and budget["BudgetLimit"]["Unit"] == "USD"
    assert budget["TimeUnit"] == "MONTHLY" and budget["BudgetType"] == "COST"
    assert budget["CostFilters"] == {"TagKeyValue": ["user:Application$ultraai"]}
    notes = budgets.describe_notifications_for_budget(AccountId="123456789012", BudgetName=NAME + "-monthly")
    found = sorted((n["NotificationType"], n["ComparisonOperator"], float(n["Threshold"]), n["ThresholdType"])
                   for n in notes["Notifications"])
    assert found == [("ACTUAL", "GREATER_THAN", 80.0, "PERCENTAGE"), ("FORECASTED", "GREATER_THAN", 100.0, "PERCENTAGE")]


def running_instances(ec2, vpc):
    return [i for r in ec2.describe_instances(Filters=[
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"] for i in r["Instances"]]


def volumes_of(ec2, instances, launched_by_asg):
    """Root volumes of the data hosts (ec2_instance), or of the ASG's hosts (launch template)."""
    ids = [m["Ebs"]["VolumeId"] for i in instances for m in i.get("BlockDeviceMappings", [])
           if ("aws:autoscaling:groupName" in tags(i.get("Tags")) or tags(i.get("Tags")).get("Role") == "app")
           == launched_by_asg]
    return ec2.describe_volumes(VolumeIds=ids)["Volumes"] if ids else []


def taggable_resources(ec2, vpc):
    """Every resource the role created that carries tags, read per service: (kind, id, tags)."""
    vpc_filter = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
    out = [("vpc", vpc["VpcId"], tags(vpc.get("Tags")))]
    out += [("subnet", s["SubnetId"], tags(s.get("Tags"))) for s in ec2.describe_subnets(Filters=vpc_filter)["Subnets"]]
    out += [("internet-gateway", g["InternetGatewayId"], tags(g.get("Tags"))) for g in ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])["InternetGateways"]]
    out += [("route-table", t["RouteTableId"], tags(t.get("Tags")))
            for t in ec2.describe_route_tables(Filters=vpc_filter)["RouteTables"]
            if not any(a.get("Main") for a in t.get("Associations", []))]  # the main table is AWS's own
    out += [("security-group", g["GroupId"], tags(g.get("Tags")))
            for g in ec2.describe_security_groups(Filters=vpc_filter)["SecurityGroups"] if g["GroupName"] != "default"]
    instances = running_instances(ec2, vpc)
    out += [("instance", i["InstanceId"], tags(i.get("Tags"))) for i in instances]
    out += [("volume", v["VolumeId"], tags(v.get("Tags"))) for v in volumes_of(ec2, instances, launched_by_asg=False)]
    # DescribeTags is EC2's own tag read; moto keeps CreateTags on a launch template
    # there and not in DescribeLaunchTemplates (AWS shows them in both).
    for template in ec2.describe_launch_templates(LaunchTemplateNames=[NAME + "-app"])["LaunchTemplates"]:
        found = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [template["LaunchTemplateId"]]}])["Tags"]
        out.append(("launch-template", template["LaunchTemplateName"], tags(found)))
    asg = client("autoscaling")
    out += [("autoscaling-group", g["AutoScalingGroupName"], dict((t["Key"], t["Value"]) for t in g["Tags"]))
            for g in asg.describe_auto_scaling_groups(AutoScalingGroupNames=[NAME + "-app"])["AutoScalingGroups"]]
    elb = client("elbv2")
    arns = [lb["LoadBalancerArn"] for lb in elb.describe_load_balancers(Names=[NAME + "-alb"])["LoadBalancers"]]
    arns += [tg["TargetGroupArn"] for tg in elb.describe_target_groups(Names=[NAME + "-app"])["TargetGroups"]]
    out += [("elbv2", d["ResourceArn"], tags(d["Tags"])) for d in elb.describe_tags(ResourceArns=arns)["TagDescriptions"]]
    iam = client("iam")
    out.append(("iam-role", NAME + "-app", tags(iam.list_role_tags(RoleName=NAME + "-app")["Tags"])))
    # GetInstanceProfile returns the tags too (moto lacks ListInstanceProfileTags).
    out.append(("instance-profile", NAME + "-app",
                tags(iam.get_instance_profile(InstanceProfileName=NAME + "-app")["InstanceProfile"].get("Tags"))))
    out.append(("s3-bucket", BUCKET, tags(client("s3").get_bucket_tagging(Bucket=BUCKET)["TagSet"])))
    sns = client("sns")
    topic = [t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(":" + NAME + "-alerts")][0]
    out.append(("sns-topic", topic, tags(sns.list_tags_for_resource(ResourceArn=topic)["Tags"])))
    # Alarms: amazon.aws.cloudwatch_metric_alarm cannot tag; the role tags them with cost_tag.
    cloudwatch = client("cloudwatch")
    out += [("alarm", a["AlarmName"], tags(cloudwatch.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"]))
            for a in cloudwatch.describe_alarms(AlarmNamePrefix=NAME)["MetricAlarms"]]
    return out


def test_every_created_resource_carries_the_policy_tags(ec2, vpc):
    found = taggable_resources(ec2, vpc)
    kinds = {kind for kind, _id, _tags in found}
    assert kinds == {"vpc", "subnet", "internet-gateway", "route-table", "security-group", "instance", "volume",
                     "launch-template", "autoscaling-group", "elbv2", "iam-role", "instance-profile", "s3-bucket",
                     "sns-topic", "alarm"}
    counts = dict((kind, sum(1 for k, _i, _t in found if k == kind)) for kind in kinds)
    # 4 subnets, 2 route tables, 3 groups, 2 ASG hosts + db1 + cache1, their 2 root volumes
    # (the ASG hosts' volumes: see test_asg_volumes_carry_the_policy_tags), ALB + target group, 4 alarms.
    assert (counts["subnet"], counts["route-table"], counts["security-group"], counts["instance"], counts["volume"],
            counts["elbv2"], counts["alarm"]) == (4, 2, 3, 4, 2, 2, 4), counts
    untagged = [(kind, rid, t) for kind, rid, t in found if not carries_policy(t)]
    assert not untagged, untagged
    roles = sorted(t.get("Role") for kind, _i, t in found if kind == "instance")
    assert roles == ["app", "app", "cache", "database"]


@pytest.mark.xfail(strict=True, reason=(
    "moto gap: an auto-scaling group's launches do not apply the launch template's volume tag "
    "specification (AWS does; test_launch_template_and_auto_scaling checks that the template carries it). "
    "Strict: this fails the scenario once moto applies it, so the exclusion above cannot outlive the gap"))
def test_asg_volumes_carry_the_policy_tags(ec2, vpc):
    volumes = volumes_of(ec2, running_instances(ec2, vpc), launched_by_asg=True)
    assert len(volumes) == 2
    assert all(carries_policy(tags(v.get("Tags"))) for v in volumes)
