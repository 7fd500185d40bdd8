#!/usr/bin/python
# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
---
module: aws_budget
short_description: Create, update or delete an AWS Budget with actual and forecast notifications
description:
  - Makes one AWS Budget (AWS Budgets API) match the task, that is its limit, period, cost
    filters, notifications (actual or forecasted spend against a threshold) with their
    subscribers (e-mail addresses or SNS topics), and its tags.
  - Idempotent. A budget whose limit, period or filters differ is updated in place
    (C(UpdateBudget)); notifications are compared by type, operator, threshold and
    threshold type, created or deleted to match, and their subscribers added or removed.
  - Check mode reports what would change without changing anything, and C(--diff) shows
    the budget before and after.
version_added: 1.0.0
author: UltraAI platform team (@ultraai)
options:
  name:
    description: Name of the budget (unique in the account).
    type: str
    required: true
  state:
    description: C(present) makes the budget match; C(absent) deletes it (and its notifications).
    type: str
    choices: [present, absent]
    default: present
  account_id:
    description: Account that owns the budget. Defaults to the caller's account (STS C(GetCallerIdentity)).
    type: str
  limit_amount:
    description: The budget's limit, in O(limit_unit). Required with O(state=present).
    type: float
  limit_unit:
    description: Unit of the limit (a currency such as C(USD) for cost budgets).
    type: str
    default: USD
  time_unit:
    description: Period the limit applies to.
    type: str
    choices: [DAILY, MONTHLY, QUARTERLY, ANNUALLY]
    default: MONTHLY
  budget_type:
    description: What the budget tracks.
    type: str
    choices: [COST, USAGE, RI_UTILIZATION, RI_COVERAGE, SAVINGS_PLANS_UTILIZATION, SAVINGS_PLANS_COVERAGE]
    default: COST
  cost_filters:
    description:
      - Cost Explorer filters of the budget, each a filter name and a list of values, such as
        C(TagKeyValue) with C(user:Application$ultraai), or C(Service) with
        C(Amazon Elastic Compute Cloud - Compute). Empty tracks the whole account.
    type: dict
    default: {}
  notifications:
    description: The budget's notifications. Each needs at least one subscriber; at most 10 per subscriber list.
    type: list
    elements: dict
    default: []
    suboptions:
      notification_type:
        description: C(ACTUAL) spend so far, or C(FORECASTED) spend at the end of the period.
        type: str
        choices: [ACTUAL, FORECASTED]
        required: true
      comparison_operator:
        description: How spend compares with the threshold.
        type: str
        choices: [GREATER_THAN, LESS_THAN, EQUAL_TO]
        default: GREATER_THAN
      threshold:
        description: The threshold, a percentage of the limit or an absolute amount (O(notifications[].threshold_type)).
        type: float
        required: true
      threshold_type:
        description: Whether O(notifications[].threshold) is a percentage of the limit or an amount.
        type: str
        choices: [PERCENTAGE, ABSOLUTE_VALUE]
        default: PERCENTAGE
      subscribers:
        description: Who is told.
        type: list
        elements: dict
        required: true
        suboptions:
          type:
            description: C(EMAIL) or C(SNS) (a topic whose policy lets C(budgets.amazonaws.com) publish).
            type: str
            choices: [EMAIL, SNS]
            required: true
          address:
            description: The e-mail address or the topic ARN.
            type: str
            required: true
  purge_notifications:
    description: Delete notifications of the budget that the task does not list.
    type: bool
    default: true
  manage_subscribers:
    description:
      - Read the subscribers of existing notifications back and add or remove them to match.
      - V(false) sets subscribers only when a notification is created, for endpoints that cannot
        list them (moto does not implement C(DescribeSubscribersForNotification)).
    type: bool
    default: true
  tags:
    description: Tags of the budget, set at creation (C(ResourceTags)).
    type: dict
  manage_tags:
    description:
      - Read the tags of an existing budget back and add or remove them to match O(tags) (keys
        starting with C(aws:) are never touched).
      - V(false) sets tags only at creation, for endpoints without the Budgets tagging calls
        (moto does not implement C(ListTagsForResource) for budgets).
    type: bool
    default: true
extends_documentation_fragment:
  - ultraai.platform.aws
attributes:
  check_mode:
    support: full
    description: Reports the change it would make and makes none.
  diff_mode:
    support: full
    description: Shows the budget (limit, period, filters, notifications, tags) before and after.
  platform:
    support: full
    platforms: aws
    description: Talks to the AWS Budgets API (and STS for the account) from the host that runs it.
notes:
  - Budgets is a global service; the region only picks the endpoint.
  - Throttled calls are retried with backoff (botocore standard retry mode).
"""

EXAMPLES = r"""
- name: A monthly cost budget for the stack, told at 80% actual and 100% forecast
  ultraai.platform.aws_budget:
    name: ultraai-monthly
    limit_amount: 500
    time_unit: MONTHLY
    cost_filters:
      TagKeyValue: ["user:Application$ultraai"]
    notifications:
      - notification_type: ACTUAL
        threshold: 80
        subscribers:
          - type: SNS
            address: arn:aws:sns:eu-west-1:123456789012:ultraai-alerts
      - notification_type: FORECASTED
        threshold: 100
        subscribers:
          - type: EMAIL
            address: finops@example.com
    tags:
      Application: ultraai
      CostCenter: cc-1234

- name: Remove the budget
  ultraai.platform.aws_budget:
    name: ultraai-monthly
    state: absent
"""

RETURN = r"""
budget:
  description: The budget as it is after the task (empty when absent).
  returned: always
  type: dict
  sample:
    name: ultraai-monthly
    limit_amount: 500.0
    limit_unit: USD
    time_unit: MONTHLY
    budget_type: COST
    cost_filters: {TagKeyValue: ["user:Application$ultraai"]}
    notifications:
      - notification_type: ACTUAL
        comparison_operator: GREATER_THAN
        threshold: 80.0
        threshold_type: PERCENTAGE
actions:
  description: The API calls the task made (or would make in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["CreateBudget ultraai-monthly"]
"""

from decimal import Decimal, InvalidOperation

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ultraai.platform.plugins.module_utils.aws import (
    AWSSetupError,
    aws_argument_spec,
    aws_error_types,
    client_from_params,
    error_message,
)

SUBSCRIBER_SPEC = dict(
    type=dict(type="str", required=True, choices=["EMAIL", "SNS"]),
    address=dict(type="str", required=True),
)

NOTIFICATION_SPEC = dict(
    notification_type=dict(type="str", required=True, choices=["ACTUAL", "FORECASTED"]),
    comparison_operator=dict(type="str", default="GREATER_THAN", choices=["GREATER_THAN", "LESS_THAN", "EQUAL_TO"]),
    threshold=dict(type="float", required=True),
    threshold_type=dict(type="str", default="PERCENTAGE", choices=["PERCENTAGE", "ABSOLUTE_VALUE"]),
    subscribers=dict(type="list", elements="dict", required=True, options=SUBSCRIBER_SPEC),
)


def argument_spec():
    spec = aws_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        account_id=dict(type="str"),
        limit_amount=dict(type="float"),
        limit_unit=dict(type="str", default="USD"),
        time_unit=dict(type="str", default="MONTHLY", choices=["DAILY", "MONTHLY", "QUARTERLY", "ANNUALLY"]),
        budget_type=dict(type="str", default="COST", choices=[
            "COST", "USAGE", "RI_UTILIZATION", "RI_COVERAGE", "SAVINGS_PLANS_UTILIZATION", "SAVINGS_PLANS_COVERAGE"]),
        cost_filters=dict(type="dict", default={}),
        notifications=dict(type="list", elements="dict", default=[], options=NOTIFICATION_SPEC),
        purge_notifications=dict(type="bool", default=True),
        manage_subscribers=dict(type="bool", default=True),
        tags=dict(type="dict"),
        manage_tags=dict(type="bool", default=True),
    )
    return spec


class BudgetError(Exception):
    """A failure with a message for the user."""


def amount(value):
    """A budget amount as a plain number (AWS returns strings such as '500.0')."""
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        raise BudgetError("not a number: %r" % (value,))


def amount_text(value):
    text = ("%.10f" % float(value)).rstrip("0").rstrip(".")
    return text or "0"


def validate(params):
    """Input problems, as one message, before any call."""
    problems = []
    name = params["name"]
    if not name or len(name) > 100 or ":" in name or "\\" in name:
        problems.append("name must be 1-100 characters without ':' or '\\' (got %r)" % name)
    if params["state"] == "present":
        if params["limit_amount"] is None:
            problems.append("limit_amount is required with state=present")
        elif params["limit_amount"] <= 0:
            problems.append("limit_amount must be above zero (got %s)" % params["limit_amount"])
        for key, values in (params["cost_filters"] or {}).items():
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                problems.append("cost_filters.%s must be a non-empty list of strings" % key)
        seen = set()
        for index, note in enumerate(params["notifications"]):
            key = notification_key(note)
            if key in seen:
                problems.append("notifications[%d] repeats %s" % (index, describe(key)))
            seen.add(key)
            if note["threshold"] <= 0:
                problems.append("notifications[%d].threshold must be above zero" % index)
            if note["threshold_type"] == "PERCENTAGE" and note["threshold"] > 1000000000:
                problems.append("notifications[%d].threshold is too large" % index)
            subs = note["subscribers"]
            if not subs or len(subs) > 10:
                problems.append("notifications[%d] needs 1 to 10 subscribers (got %d)" % (index, len(subs)))
            for sub in subs:
                if sub["type"] == "SNS" and not sub["address"].startswith("arn:"):
                    problems.append("notifications[%d]: an SNS subscriber's address must be a topic ARN (got %r)"
                                    % (index, sub["address"]))
                if sub["type"] == "EMAIL" and "@" not in sub["address"]:
                    problems.append("notifications[%d]: %r is not an e-mail address" % (index, sub["address"]))
        for key in (params["tags"] or {}):
            if key.lower().startswith("aws:"):
                problems.append("tags: keys starting with 'aws:' are reserved by AWS (%s)" % key)
        if len(params["tags"] or {}) > 50:
            problems.append("tags: at most 50 tags per resource (got %d)" % len(params["tags"]))
    if problems:
        raise BudgetError("; ".join(problems))


def notification_key(note):
    """What identifies a notification in the Budgets API."""
    return (note["notification_type"], note["comparison_operator"], amount(note["threshold"]), note["threshold_type"])


def describe(key):
    return "%s %s %s %s" % (key[0], key[1], amount_text(key[2]), "%" if key[3] == "PERCENTAGE" else "(absolute)")


def api_notification(key):
    return {"NotificationType": key[0], "ComparisonOperator": key[1], "Threshold": key[2], "ThresholdType": key[3]}


def api_subscriber(sub):
    return {"SubscriptionType": sub["type"], "Address": sub["address"]}


def from_api_notification(note):
    return (note["NotificationType"], note["ComparisonOperator"], amount(note["Threshold"]),
            note.get("ThresholdType", "PERCENTAGE"))


class Budget(object):
    """Reads and writes one budget; every write goes through ``self.call`` so
    check mode records it and makes no request."""

    def __init__(self, client, account_id, name, check_mode):
        self.client = client
        self.account_id = account_id
        self.name = name
        self.check_mode = check_mode
        self.actions = []

    def call(self, action, label, **kwargs):
        self.actions.append("%s %s" % (action, label))
        if self.check_mode:
            return None
        method = getattr(self.client, _snake(action))
        try:
            return method(AccountId=self.account_id, **kwargs)
        except aws_error_types() as exc:
            raise BudgetError(error_message(exc, "%s %s" % (action, label)))

    def read(self, action, **kwargs):
        try:
            return getattr(self.client, _snake(action))(AccountId=self.account_id, **kwargs)
        except aws_error_types() as exc:
            raise BudgetError(error_message(exc, "%s %s" % (action, self.name)))

    def get(self):
        try:
            return self.client.describe_budget(AccountId=self.account_id, BudgetName=self.name)["Budget"]
        except aws_error_types() as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code == "NotFoundException":
                return None
            raise BudgetError(error_message(exc, "DescribeBudget %s" % self.name))

    def read_all(self, action, key, **kwargs):
        """Every item under key of a paged Describe call (NextToken)."""
        found = []
        kwargs = dict(kwargs, BudgetName=self.name, MaxResults=100)
        while True:
            page = self.read(action, **kwargs)
            found.extend(page.get(key, []))
            kwargs["NextToken"] = page.get("NextToken")
            if not kwargs["NextToken"]:
                return found

    def notifications(self):
        return self.read_all("DescribeNotificationsForBudget", "Notifications")

    def subscribers(self, key):
        return self.read_all("DescribeSubscribersForNotification", "Subscribers", Notification=api_notification(key))

    def arn(self):
        return "arn:aws:budgets::%s:budget/%s" % (self.account_id, self.name)

    def tags(self):
        try:
            reply = self.client.list_tags_for_resource(ResourceARN=self.arn())
        except aws_error_types() as exc:
            raise BudgetError(error_message(exc, "ListTagsForResource %s" % self.name))
        return dict((t["Key"], t["Value"]) for t in reply.get("ResourceTags", []))

    def tag_call(self, action, **kwargs):
        self.actions.append("%s %s" % (action, self.name))
        if self.check_mode:
            return
        try:
            getattr(self.client, _snake(action))(ResourceARN=self.arn(), **kwargs)
        except aws_error_types() as exc:
            raise BudgetError(error_message(exc, "%s %s" % (action, self.name)))


def _snake(action):
    out = ""
    for char in action:
        out += ("_" + char.lower()) if char.isupper() and out else char.lower()
    return out


def wanted_budget(params):
    budget = {
        "BudgetName": params["name"],
        "BudgetLimit": {"Amount": amount_text(params["limit_amount"]), "Unit": params["limit_unit"]},
        "TimeUnit": params["time_unit"],
        "BudgetType": params["budget_type"],
    }
    if params["cost_filters"]:
        budget["CostFilters"] = dict((k, list(v)) for k, v in params["cost_filters"].items())
    return budget


def budget_view(budget, notes, tags):
    """The comparable, user-facing shape of a budget (for diff and return)."""
    if budget is None:
        return {}
    limit = budget.get("BudgetLimit") or {}
    view = {
        "name": budget["BudgetName"],
        "limit_amount": amount(limit.get("Amount", 0)),
        "limit_unit": limit.get("Unit"),
        "time_unit": budget.get("TimeUnit"),
        "budget_type": budget.get("BudgetType"),
        "cost_filters": dict((k, sorted(v)) for k, v in (budget.get("CostFilters") or {}).items()),
        "notifications": [
            {"notification_type": k[0], "comparison_operator": k[1], "threshold": k[2], "threshold_type": k[3],
             "subscribers": subs}
            for k, subs in sorted(notes.items())
        ],
    }
    if tags is not None:
        view["tags"] = tags
    return view


def sub_list(subs):
    return sorted(({"type": s["type"], "address": s["address"]} for s in subs or []),
                  key=lambda sub: (sub["type"], sub["address"]))


def run(module, client, account_id):
    params = module.params
    budget = Budget(client, account_id, params["name"], module.check_mode)
    current = budget.get()

    if params["state"] == "absent":
        if current is None:
            return False, {}, {}, budget.actions
        budget.call("DeleteBudget", params["name"], BudgetName=params["name"])
        return True, budget_view(current, {}, None), {}, budget.actions

    want = wanted_budget(params)
    want_notes = dict((notification_key(n), sub_list(n["subscribers"])) for n in params["notifications"])
    want_tags = dict(params["tags"] or {})

    if current is None:
        kwargs = {"Budget": want, "NotificationsWithSubscribers": [
            {"Notification": api_notification(k), "Subscribers": [api_subscriber(s) for s in subs]}
            for k, subs in sorted(want_notes.items())]}
        if want_tags:
            kwargs["ResourceTags"] = [{"Key": k, "Value": v} for k, v in sorted(want_tags.items())]
        budget.call("CreateBudget", params["name"], **kwargs)
        after = budget_view(want, want_notes, want_tags if params["tags"] is not None else None)
        return True, {}, after, budget.actions

    # The budget exists: compare its definition, notifications, subscribers and tags.
    have_notes = {}
    for note in budget.notifications():
        key = from_api_notification(note)
        subs = None
        if params["manage_subscribers"]:
            subs = sub_list({"type": s["SubscriptionType"], "address": s["Address"]} for s in budget.subscribers(key))
        have_notes[key] = subs
    have_tags = budget.tags() if (params["manage_tags"] and params["tags"] is not None) else None
    # Subscribers that were not read back (manage_subscribers=false) show as wanted.
    have_filled = dict((k, v if v is not None else want_notes.get(k, [])) for k, v in have_notes.items())
    before = budget_view(current, have_filled, have_tags)

    current_def = budget_view(current, {}, None)
    want_def = budget_view(want, {}, None)
    if current_def != want_def:
        new = dict(want)
        for keep in ("CostTypes", "TimePeriod", "PlannedBudgetLimits", "AutoAdjustData"):
            if keep in current and keep not in new:
                new[keep] = current[keep]
        budget.call("UpdateBudget", params["name"], NewBudget=new)

    for key in sorted(set(have_notes) - set(want_notes)):
        if params["purge_notifications"]:
            budget.call("DeleteNotification", "%s: %s" % (params["name"], describe(key)),
                        BudgetName=params["name"], Notification=api_notification(key))
    for key, subs in sorted(want_notes.items()):
        label = "%s: %s" % (params["name"], describe(key))
        if key not in have_notes:
            budget.call("CreateNotification", label, BudgetName=params["name"], Notification=api_notification(key),
                        Subscribers=[api_subscriber(s) for s in subs])
            continue
        if have_notes[key] is None:
            continue
        for sub in have_notes[key]:
            if sub not in subs:
                budget.call("DeleteSubscriber", "%s %s" % (label, sub["address"]), BudgetName=params["name"],
                            Notification=api_notification(key), Subscriber=api_subscriber(sub))
        for sub in subs:
            if sub not in have_notes[key]:
                budget.call("CreateSubscriber", "%s %s" % (label, sub["address"]), BudgetName=params["name"],
                            Notification=api_notification(key), Subscriber=api_subscriber(sub))

    after_tags = None
    if have_tags is not None:
        user_have = dict((k, v) for k, v in have_tags.items() if not k.lower().startswith("aws:"))
        add = dict((k, v) for k, v in want_tags.items() if user_have.get(k) != v)
        drop = sorted(k for k in user_have if k not in want_tags)
        if add:
            budget.tag_call("TagResource", ResourceTags=[{"Key": k, "Value": v} for k, v in sorted(add.items())])
        if drop:
            budget.tag_call("UntagResource", ResourceTagKeys=drop)
        after_tags = dict((k, v) for k, v in have_tags.items() if k.lower().startswith("aws:"))
        after_tags.update(want_tags)

    if params["purge_notifications"]:
        after_notes = want_notes
    else:
        after_notes = dict(have_filled)
        after_notes.update(want_notes)
    after = budget_view(want, after_notes, after_tags)
    return bool(budget.actions), before, after, budget.actions


def account_of(module):
    if module.params["account_id"]:
        return module.params["account_id"]
    sts = client_from_params(module.params, "sts")
    try:
        return sts.get_caller_identity()["Account"]
    except aws_error_types() as exc:
        raise BudgetError(error_message(exc, "GetCallerIdentity (to find the account; or set account_id)"))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        validate(module.params)
        client = client_from_params(module.params, "budgets")
        account_id = account_of(module)
        changed, before, after, actions = run(module, client, account_id)
    except (BudgetError, AWSSetupError) as exc:
        module.fail_json(msg="aws_budget %s: %s" % (module.params["name"], exc))
    result = {"changed": changed, "budget": after, "actions": actions}
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
