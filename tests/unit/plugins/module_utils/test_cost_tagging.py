"""The AWS paths moto cannot emulate, through botocore's Stubber: cost-allocation
tag activation in batches of 20 keys, throttling retried with backoff, AccessDenied
as one clear message; and the tagging API's FailedResourcesMap fallback."""

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.ultraai.platform.plugins.module_utils import cost_calls
from ansible_collections.ultraai.platform.plugins.module_utils.cost_calls import AWSCallError
from ansible_collections.ultraai.platform.plugins.module_utils.cost_tagging import (
    Clients,
    ResourceTags,
    activate_cost_allocation_tags,
)

ALB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
EC2 = "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc"
ASG = ("arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:11111111-2222-3333-4444-555555555555:"
       "autoScalingGroupName/web")


def client(service, region="eu-west-1"):
    return boto3.client(service, region_name=region, aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    slept = []
    monkeypatch.setattr(cost_calls, "SLEEP", slept.append)
    return slept


class FakeClients(Clients):
    """Clients that hand out pre-made (stubbed) clients by service name."""

    def __init__(self, made):
        super(FakeClients, self).__init__({"region": "eu-west-1"}, factory=lambda params, service: made[service])


def test_activation_in_batches_of_20_skipping_active_keys():
    ce = client("ce", "us-east-1")
    keys = ["Key%02d" % i for i in range(45)]
    active = ["Key00", "Key01", "Key02"]
    with Stubber(ce) as stub:
        stub.add_response("list_cost_allocation_tags", {"CostAllocationTags": [
            {"TagKey": k, "Type": "UserDefined", "Status": "Active" if k in active else "Inactive"} for k in keys]},
            {"TagKeys": sorted(keys), "Type": "UserDefined"})
        todo = [k for k in sorted(keys) if k not in active]
        for batch in (todo[0:20], todo[20:40], todo[40:]):
            stub.add_response("update_cost_allocation_tags_status", {"Errors": []},
                              {"CostAllocationTagsStatus": [{"TagKey": k, "Status": "Active"} for k in batch]})
        result = activate_cost_allocation_tags(ce, keys)
        stub.assert_no_pending_responses()
    assert result["calls"] == 3
    assert result["already_active"] == active
    assert result["activated"] == todo and len(todo) == 42
    assert result["errors"] == []


def test_activation_check_mode_only_lists():
    ce = client("ce", "us-east-1")
    with Stubber(ce) as stub:
        stub.add_response("list_cost_allocation_tags", {"CostAllocationTags": []},
                          {"TagKeys": ["Owner", "Project"], "Type": "UserDefined"})
        result = activate_cost_allocation_tags(ce, ["Project", "Owner"], check_mode=True)
        stub.assert_no_pending_responses()
    assert result["pending"] == ["Owner", "Project"] and result["calls"] == 0


def test_activation_reports_per_key_errors():
    ce = client("ce", "us-east-1")
    with Stubber(ce) as stub:
        stub.add_response("list_cost_allocation_tags", {"CostAllocationTags": []})
        stub.add_response("update_cost_allocation_tags_status", {"Errors": [
            {"TagKey": "Owner", "Code": "TagKeysNotFoundException", "Message": "tag key not found in billing data"}]})
        result = activate_cost_allocation_tags(ce, ["Project", "Owner"])
    assert result["activated"] == ["Project"]
    assert result["errors"] == [{"key": "Owner", "code": "TagKeysNotFoundException",
                                 "message": "tag key not found in billing data"}]


def test_throttling_is_retried_with_backoff(no_sleep):
    ce = client("ce", "us-east-1")
    with Stubber(ce) as stub:
        for dummy in range(2):
            stub.add_client_error("list_cost_allocation_tags", service_error_code="ThrottlingException",
                                  service_message="Rate exceeded", http_status_code=400)
        stub.add_response("list_cost_allocation_tags", {"CostAllocationTags": [
            {"TagKey": "Project", "Type": "UserDefined", "Status": "Active"}]})
        result = activate_cost_allocation_tags(ce, ["Project"])
        stub.assert_no_pending_responses()
    assert result["already_active"] == ["Project"] and result["calls"] == 0
    assert len(no_sleep) == 2 and 0 < no_sleep[0] <= no_sleep[1] * 2


def test_throttling_gives_up_with_a_clear_message(no_sleep):
    ce = client("ce", "us-east-1")
    with Stubber(ce) as stub:
        for dummy in range(cost_calls.ATTEMPTS):
            stub.add_client_error("list_cost_allocation_tags", service_error_code="LimitExceededException",
                                  service_message="You made too many calls", http_status_code=400)
        with pytest.raises(AWSCallError) as err:
            activate_cost_allocation_tags(ce, ["Project"])
    assert "LimitExceededException" in str(err.value)
    assert "still throttled after %d attempts" % cost_calls.ATTEMPTS in str(err.value)
    assert len(no_sleep) == cost_calls.ATTEMPTS - 1


def test_access_denied_is_one_clear_message(no_sleep):
    ce = client("ce", "us-east-1")
    with Stubber(ce) as stub:
        stub.add_response("list_cost_allocation_tags", {"CostAllocationTags": []})
        stub.add_client_error("update_cost_allocation_tags_status", service_error_code="AccessDeniedException",
                              service_message="User is not authorized to perform ce:UpdateCostAllocationTagsStatus",
                              http_status_code=403)
        with pytest.raises(AWSCallError) as err:
            activate_cost_allocation_tags(ce, ["Project"])
    msg = str(err.value)
    assert msg.startswith("activate cost-allocation tags (ce update_cost_allocation_tags_status): access denied")
    assert "lack the IAM permission" in msg and "\n" not in msg
    assert no_sleep == []  # access denied is not retried


def test_failed_resources_fall_back_to_the_service_api():
    tagging, elbv2 = client("resourcegroupstaggingapi"), client("elbv2")
    tags = ResourceTags(FakeClients({"resourcegroupstaggingapi": tagging, "elbv2": elbv2}))
    with Stubber(tagging) as tstub, Stubber(elbv2) as estub:
        tstub.add_response("tag_resources", {"FailedResourcesMap": {ALB: {
            "StatusCode": 400, "ErrorCode": "InvalidParameterException", "ErrorMessage": "not supported"}}},
            {"ResourceARNList": sorted([ALB, EC2]), "Tags": {"Project": "ultraai"}})
        estub.add_response("add_tags", {}, {"ResourceArns": [ALB], "Tags": [{"Key": "Project", "Value": "ultraai"}]})
        errors = tags.apply({ALB: ({"Project": "ultraai"}, [], False), EC2: ({"Project": "ultraai"}, [], False)})
        tstub.assert_no_pending_responses()
        estub.assert_no_pending_responses()
    assert errors == {ALB: None, EC2: None}


def test_failed_resource_without_a_fallback_is_reported():
    tagging = client("resourcegroupstaggingapi")
    tags = ResourceTags(FakeClients({"resourcegroupstaggingapi": tagging}))
    with Stubber(tagging) as stub:
        stub.add_response("tag_resources", {"FailedResourcesMap": {EC2: {
            "StatusCode": 500, "ErrorCode": "InternalServiceException", "ErrorMessage": "try again"}}})
        errors = tags.apply({EC2: ({"Project": "ultraai"}, [], False)})
    assert errors[EC2] == "the tagging API refused %s: InternalServiceException: try again" % EC2


def test_an_error_for_the_whole_call_is_retried_one_resource_at_a_time():
    # TagLimitExceeded for one resource fails the whole TagResources call; the
    # others still get their change, and the refused one its own error.
    tagging = client("resourcegroupstaggingapi")
    tags = ResourceTags(FakeClients({"resourcegroupstaggingapi": tagging}))
    full, other = EC2, "arn:aws:ec2:eu-west-1:123456789012:instance/i-0def"
    want = {"Tags": {"Project": "ultraai"}}
    with Stubber(tagging) as stub:
        stub.add_client_error("tag_resources", service_error_code="TagLimitExceeded", service_message="too many tags",
                              http_status_code=400, expected_params=dict(want, ResourceARNList=sorted([full, other])))
        stub.add_client_error("tag_resources", service_error_code="TagLimitExceeded", service_message="too many tags",
                              http_status_code=400, expected_params=dict(want, ResourceARNList=[full]))
        stub.add_response("tag_resources", {}, dict(want, ResourceARNList=[other]))
        errors = tags.apply({full: ({"Project": "ultraai"}, [], False), other: ({"Project": "ultraai"}, [], False)})
        stub.assert_no_pending_responses()
    assert errors[other] is None
    assert "TagLimitExceeded" in errors[full] and "too many tags" in errors[full]


def test_access_denied_for_a_batch_is_not_retried_per_resource(no_sleep):
    tagging = client("resourcegroupstaggingapi")
    tags = ResourceTags(FakeClients({"resourcegroupstaggingapi": tagging}))
    other = "arn:aws:ec2:eu-west-1:123456789012:instance/i-0def"
    with Stubber(tagging) as stub:
        stub.add_client_error("tag_resources", service_error_code="AccessDeniedException",
                              service_message="not authorized to perform tag:TagResources", http_status_code=403)
        with pytest.raises(AWSCallError) as err:
            tags.apply({EC2: ({"Project": "ultraai"}, [], False), other: ({"Project": "ultraai"}, [], False)})
        stub.assert_no_pending_responses()
    assert "access denied" in str(err.value) and no_sleep == []


def test_rename_adds_then_removes_and_batches_by_identical_tags():
    tagging = client("resourcegroupstaggingapi")
    tags = ResourceTags(FakeClients({"resourcegroupstaggingapi": tagging}))
    arns = ["arn:aws:ec2:eu-west-1:123456789012:instance/i-%04d" % i for i in range(25)]
    with Stubber(tagging) as stub:
        stub.add_response("tag_resources", {}, {"ResourceARNList": sorted(arns)[:20], "Tags": {"Project": "ultraai"}})
        stub.add_response("tag_resources", {}, {"ResourceARNList": sorted(arns)[20:], "Tags": {"Project": "ultraai"}})
        stub.add_response("untag_resources", {}, {"ResourceARNList": sorted(arns)[:20], "TagKeys": ["project"]})
        stub.add_response("untag_resources", {}, {"ResourceARNList": sorted(arns)[20:], "TagKeys": ["project"]})
        errors = tags.apply(dict((arn, ({"Project": "ultraai"}, ["project"], False)) for arn in arns))
        stub.assert_no_pending_responses()
    assert set(errors.values()) == {None}


def test_aws_keys_are_refused():
    tags = ResourceTags(FakeClients({}))
    with pytest.raises(AWSCallError, match="refusing to change aws: keys"):
        tags.apply({EC2: ({"aws:cloudformation:stack-name": "x"}, [], False)})


def test_asg_read_and_write_through_autoscaling():
    asg, tagging = client("autoscaling"), client("resourcegroupstaggingapi")
    tags = ResourceTags(FakeClients({"autoscaling": asg, "resourcegroupstaggingapi": tagging}))
    with Stubber(asg) as astub, Stubber(tagging) as tstub:
        astub.add_response("describe_auto_scaling_groups", {"AutoScalingGroups": [{
            "AutoScalingGroupName": "web", "MinSize": 1, "MaxSize": 2, "DesiredCapacity": 1, "DefaultCooldown": 300,
            "AvailabilityZones": ["eu-west-1a"], "HealthCheckType": "EC2", "CreatedTime": "2024-01-01T00:00:00Z",
            "Tags": [{"Key": "Owner", "Value": "ops", "ResourceId": "web", "ResourceType": "auto-scaling-group",
                      "PropagateAtLaunch": True}]}]}, {"AutoScalingGroupNames": ["web"]})
        assert tags.read([ASG]) == {ASG: ({"Owner": "ops"}, "AutoScalingTagger")}
        failure = {"ErrorCode": "InvalidParameterException", "ErrorMessage": "unsupported"}
        tstub.add_response("tag_resources", {"FailedResourcesMap": {ASG: failure}})
        astub.add_response("create_or_update_tags", {}, {"Tags": [{
            "ResourceId": "web", "ResourceType": "auto-scaling-group", "Key": "Project", "Value": "ultraai",
            "PropagateAtLaunch": True}]})
        assert tags.apply({ASG: ({"Project": "ultraai"}, [], False)}) == {ASG: None}
        astub.assert_no_pending_responses()
