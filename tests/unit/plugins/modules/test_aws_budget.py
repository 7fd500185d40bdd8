"""aws_budget through botocore's Stubber: every Budgets call the module makes is
stubbed with its exact parameters, so an unexpected or missing call fails the
test. These cover what moto cannot (UpdateBudget, subscribers, budget tags) and
check mode, diff and error messages."""

import functools

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.ultraai.platform.plugins.modules import aws_budget

ACCOUNT = "123456789012"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ultraai-alerts"
ARN = "arn:aws:budgets::123456789012:budget/ultraai-monthly"
ACTUAL = {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN", "Threshold": 80.0,
          "ThresholdType": "PERCENTAGE"}
FORECAST = {"NotificationType": "FORECASTED", "ComparisonOperator": "GREATER_THAN", "Threshold": 100.0,
            "ThresholdType": "PERCENTAGE"}
SNS = {"SubscriptionType": "SNS", "Address": TOPIC}
MAIL = {"SubscriptionType": "EMAIL", "Address": "finops@example.com"}

ARGS = {
    "name": "ultraai-monthly", "account_id": ACCOUNT, "region": "us-east-1",
    "limit_amount": 500, "cost_filters": {"TagKeyValue": ["user:Application$ultraai"]},
    "notifications": [
        {"notification_type": "ACTUAL", "threshold": 80, "subscribers": [{"type": "SNS", "address": TOPIC}]},
        {"notification_type": "FORECASTED", "threshold": 100,
         "subscribers": [{"type": "SNS", "address": TOPIC}, {"type": "EMAIL", "address": "finops@example.com"}]},
    ],
    "tags": {"Application": "ultraai", "CostCenter": "cc-1234"},
}

BUDGET = {"BudgetName": "ultraai-monthly", "BudgetLimit": {"Amount": "500", "Unit": "USD"}, "TimeUnit": "MONTHLY",
          "BudgetType": "COST", "CostFilters": {"TagKeyValue": ["user:Application$ultraai"]}}
EXISTING = dict(BUDGET, BudgetLimit={"Amount": "500.0", "Unit": "USD"},
                CostTypes={"IncludeTax": True}, TimePeriod={"Start": "2026-11-01T00:00:00Z"})


@pytest.fixture
def budgets(monkeypatch):
    client = boto3.client("budgets", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    stub = Stubber(client)
    monkeypatch.setattr(aws_budget, "client_from_params", lambda params, service: client)
    with stub:
        yield stub
    stub.assert_no_pending_responses()


@pytest.fixture
def budget_run(run):
    return functools.partial(run, aws_budget)


def describe(stub, budget=None):
    if budget is None:
        stub.add_client_error("describe_budget", service_error_code="NotFoundException", http_status_code=404,
                              expected_params={"AccountId": ACCOUNT, "BudgetName": "ultraai-monthly"})
    else:
        stub.add_response("describe_budget", {"Budget": budget},
                          {"AccountId": ACCOUNT, "BudgetName": "ultraai-monthly"})


def existing_state(stub, notes, subs_by_type, tags):
    describe(stub, EXISTING)
    stub.add_response("describe_notifications_for_budget", {"Notifications": notes},
                      {"AccountId": ACCOUNT, "BudgetName": "ultraai-monthly", "MaxResults": 100})
    for note in notes:
        stub.add_response("describe_subscribers_for_notification", {"Subscribers": subs_by_type[note["NotificationType"]]},
                          {"AccountId": ACCOUNT, "BudgetName": "ultraai-monthly", "Notification": note,
                           "MaxResults": 100})
    stub.add_response("list_tags_for_resource", {"ResourceTags": [{"Key": k, "Value": v} for k, v in tags.items()]},
                      {"ResourceARN": ARN})


def test_create_with_notifications_and_tags(budgets, budget_run):
    describe(budgets)
    budgets.add_response("create_budget", {}, {
        "AccountId": ACCOUNT, "Budget": BUDGET,
        "NotificationsWithSubscribers": [{"Notification": ACTUAL, "Subscribers": [SNS]},
                                         {"Notification": FORECAST, "Subscribers": [MAIL, SNS]}],
        "ResourceTags": [{"Key": "Application", "Value": "ultraai"}, {"Key": "CostCenter", "Value": "cc-1234"}]})
    out = budget_run(ARGS, diff=True)
    assert out["changed"] and out["actions"] == ["CreateBudget ultraai-monthly"]
    assert out["diff"]["before"] == {} and out["diff"]["after"]["limit_amount"] == 500.0
    assert [n["notification_type"] for n in out["budget"]["notifications"]] == ["ACTUAL", "FORECASTED"]


def test_create_in_check_mode_calls_nothing(budgets, budget_run):
    describe(budgets)
    out = budget_run(ARGS, check_mode=True, diff=True)
    assert out["changed"] and out["actions"] == ["CreateBudget ultraai-monthly"]
    assert out["diff"]["after"]["name"] == "ultraai-monthly"


def test_unchanged_budget_is_not_changed(budgets, budget_run):
    existing_state(budgets, [ACTUAL, FORECAST], {"ACTUAL": [SNS], "FORECASTED": [SNS, MAIL]},
                   {"Application": "ultraai", "CostCenter": "cc-1234", "aws:createdBy": "someone"})
    out = budget_run(ARGS, diff=True)
    assert not out["changed"] and out["actions"] == []
    assert out["diff"]["before"] == out["diff"]["after"]


def drift(stub):
    """Limit 400, an old 50% notification, a missing forecast one, an extra mail subscriber, tag drift."""
    old = dict(ACTUAL, Threshold=50.0)
    existing = dict(EXISTING, BudgetLimit={"Amount": "400", "Unit": "USD"})
    stub.add_response("describe_budget", {"Budget": existing}, {"AccountId": ACCOUNT, "BudgetName": "ultraai-monthly"})
    stub.add_response("describe_notifications_for_budget", {"Notifications": [ACTUAL, old]},
                      {"AccountId": ACCOUNT, "BudgetName": "ultraai-monthly", "MaxResults": 100})
    stub.add_response("describe_subscribers_for_notification", {"Subscribers": [SNS, MAIL]},
                      {"AccountId": ACCOUNT, "BudgetName": "ultraai-monthly", "Notification": ACTUAL, "MaxResults": 100})
    stub.add_response("describe_subscribers_for_notification", {"Subscribers": [SNS]},
                      {"AccountId": ACCOUNT, "BudgetName": "ultraai-monthly", "Notification": old, "MaxResults": 100})
    stub.add_response("list_tags_for_resource", {"ResourceTags": [
        {"Key": "Application", "Value": "old"}, {"Key": "Stale", "Value": "x"}, {"Key": "aws:createdBy", "Value": "y"}]},
        {"ResourceARN": ARN})
    return old


def test_drift_is_corrected_call_by_call(budgets, budget_run):
    old = drift(budgets)
    new_budget = dict(BUDGET, CostTypes=EXISTING["CostTypes"], TimePeriod=EXISTING["TimePeriod"])
    budgets.add_response("update_budget", {}, {"AccountId": ACCOUNT, "NewBudget": new_budget})
    budgets.add_response("delete_notification", {}, {
        "AccountId": ACCOUNT, "BudgetName": "ultraai-monthly", "Notification": old})
    budgets.add_response("delete_subscriber", {}, {"AccountId": ACCOUNT, "BudgetName": "ultraai-monthly",
                                                   "Notification": ACTUAL, "Subscriber": MAIL})
    budgets.add_response("create_notification", {}, {"AccountId": ACCOUNT, "BudgetName": "ultraai-monthly",
                                                     "Notification": FORECAST, "Subscribers": [MAIL, SNS]})
    budgets.add_response("tag_resource", {}, {"ResourceARN": ARN, "ResourceTags": [
        {"Key": "Application", "Value": "ultraai"}, {"Key": "CostCenter", "Value": "cc-1234"}]})
    budgets.add_response("untag_resource", {}, {"ResourceARN": ARN, "ResourceTagKeys": ["Stale"]})
    out = budget_run(ARGS, diff=True)
    assert out["changed"]
    assert [a.split(" ")[0] for a in out["actions"]] == [
        "UpdateBudget", "DeleteNotification", "DeleteSubscriber", "CreateNotification", "TagResource", "UntagResource"]
    assert out["diff"]["before"]["limit_amount"] == 400.0 and out["diff"]["after"]["limit_amount"] == 500.0
    assert out["diff"]["after"]["tags"] == {"Application": "ultraai", "CostCenter": "cc-1234", "aws:createdBy": "y"}


def test_drift_in_check_mode_reads_only(budgets, budget_run):
    drift(budgets)
    out = budget_run(ARGS, check_mode=True, diff=True)
    assert out["changed"] and len(out["actions"]) == 6
    assert out["diff"]["before"] != out["diff"]["after"]


def test_subscribers_and_tags_not_read_back_when_told(budgets, budget_run):
    describe(budgets, EXISTING)
    budgets.add_response("describe_notifications_for_budget", {"Notifications": [ACTUAL, FORECAST]},
                         {"AccountId": ACCOUNT, "BudgetName": "ultraai-monthly", "MaxResults": 100})
    out = budget_run(dict(ARGS, manage_subscribers=False, manage_tags=False))
    assert not out["changed"]


def test_delete_and_already_absent(budgets, budget_run):
    describe(budgets, EXISTING)
    budgets.add_response("delete_budget", {}, {"AccountId": ACCOUNT, "BudgetName": "ultraai-monthly"})
    out = budget_run({"name": "ultraai-monthly", "account_id": ACCOUNT, "state": "absent", "region": "us-east-1"})
    assert out["changed"] and out["actions"] == ["DeleteBudget ultraai-monthly"]
    describe(budgets)
    out = budget_run({"name": "ultraai-monthly", "account_id": ACCOUNT, "state": "absent", "region": "us-east-1"})
    assert not out["changed"]


def test_access_denied_is_one_clear_message(budgets, budget_run):
    budgets.add_client_error("describe_budget", service_error_code="AccessDeniedException",
                             service_message="not authorized to perform budgets:ViewBudget", http_status_code=400)
    out = budget_run(ARGS)
    assert out["failed"]
    assert "access denied (AccessDeniedException)" in out["msg"]
    assert "lack the IAM permission" in out["msg"] and "Traceback" not in out["msg"]


def test_update_refused_by_the_api_is_reported(budgets, budget_run):
    drift(budgets)
    budgets.add_client_error("update_budget", service_error_code="InvalidParameterException",
                             service_message="bad limit", http_status_code=400)
    out = budget_run(ARGS)
    assert out["failed"]
    assert out["msg"] == "aws_budget ultraai-monthly: UpdateBudget ultraai-monthly: InvalidParameterException: bad limit"


@pytest.mark.parametrize("change,message", [
    ({"limit_amount": None}, "limit_amount is required with state=present"),
    ({"limit_amount": -5}, "limit_amount must be above zero"),
    ({"notifications": [{"notification_type": "ACTUAL", "threshold": 80,
                         "subscribers": [{"type": "SNS", "address": "ultraai-alerts"}]}]},
     "an SNS subscriber's address must be a topic ARN"),
    ({"notifications": [{"notification_type": "ACTUAL", "threshold": 80,
                         "subscribers": [{"type": "EMAIL", "address": "finops"}]}]}, "'finops' is not an e-mail address"),
    ({"notifications": [{"notification_type": "ACTUAL", "threshold": 80,
                         "subscribers": [{"type": "SNS", "address": TOPIC}]}] * 2}, "notifications[1] repeats ACTUAL"),
    ({"notifications": [{"notification_type": "ACTUAL", "threshold": 80, "subscribers": []}]}, "needs 1 to 10 subscribers"),
    ({"tags": {"aws:owner": "x"}}, "keys starting with 'aws:' are reserved"),
    ({"tags": dict(("k%d" % i, "v") for i in range(51))}, "at most 50 tags per resource (got 51)"),
    ({"cost_filters": {"Service": "EC2"}}, "cost_filters.Service must be a non-empty list of strings"),
    ({"name": "a:b"}, "name must be 1-100 characters"),
    ({"time_unit": "WEEKLY"}, "time_unit"),
])
def test_bad_input_refused_before_any_call(budgets, budget_run, change, message):
    out = budget_run(dict(ARGS, **change))
    assert out["failed"] and message in out["msg"], out["msg"]
