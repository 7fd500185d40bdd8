#!/usr/bin/python
# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
---
module: cost_report
short_description: Report AWS cost by tag or service, budget status, fleet estimates and idle instances
version_added: 0.1.0
description:
  - Builds a cost report from up to four sections; each runs when its option is given.
  - C(cost) asks Cost Explorer (C(get_cost_and_usage)) for a metric over a period, grouped by a
    cost-allocation tag or a dimension such as C(SERVICE), and returns the total per group over
    the whole period, per time bucket, and the grand total. Sums are exact (decimal arithmetic).
  - C(budgets) returns each AWS Budget's actual and forecast spend against its limit, with a
    state of C(ok), C(forecast_over) or C(over).
  - C(estimate) prices a planned fleet (instance type x count x hours) from a price table, a
    built-in table of us-east-1 on-demand Linux prices which I(estimate.prices) extends or
    overrides.
  - C(optimization) reads hourly CloudWatch C(CPUUtilization) of running instances over a look-back
    window and lists idle candidates (average below I(optimization.idle_below)) and oversize
    candidates (peak below I(optimization.oversize_below)), with the monthly saving where the
    price table knows the types.
  - The module only reads. All input is validated before any AWS call.
author: UltraAI platform team (@ultraai)
options:
  cost:
    description: The Cost Explorer section.
    type: dict
    suboptions:
      start:
        description: First day of the period (YYYY-MM-DD). Without start and end, the previous calendar month.
        type: str
      end:
        description: Day after the period (YYYY-MM-DD, exclusive, as Cost Explorer takes it). Must be after I(start).
        type: str
      granularity:
        description: Size of the time buckets.
        type: str
        choices: [DAILY, MONTHLY]
        default: MONTHLY
      metric:
        description: The cost metric.
        type: str
        choices: [UnblendedCost, BlendedCost, AmortizedCost, NetUnblendedCost, NetAmortizedCost]
        default: UnblendedCost
      group_by:
        description:
          - C(type) (C(tag), C(dimension) or C(cost_category)) and C(key).
          - "For example C({type: tag, key: Project}) or C({type: dimension, key: SERVICE})."
        type: dict
        suboptions:
          type:
            description: What to group by.
            type: str
            choices: [tag, dimension, cost_category]
            required: true
          key:
            description: The tag key, dimension name or cost category name.
            type: str
            required: true
      filter:
        description: A Cost Explorer filter expression, passed as given.
        type: dict
  budgets:
    description: The budgets section.
    type: dict
    suboptions:
      names:
        description: Budgets to report. Empty for every budget of the account.
        type: list
        elements: str
        default: []
      account_id:
        description: The account. Default the caller's (STS C(get_caller_identity)).
        type: str
  estimate:
    description: The fleet estimate section.
    type: dict
    suboptions:
      fleet:
        description: The planned fleet.
        type: list
        elements: dict
        required: true
        suboptions:
          instance_type:
            description: EC2 instance type.
            type: str
            required: true
          count:
            description: Number of instances.
            type: int
            default: 1
          hours:
            description: Hours each instance runs (730 is a month).
            type: float
            default: 730
      prices:
        description: Hourly prices in USD by instance type, added to or replacing the built-in table.
        type: dict
        default: {}
  optimization:
    description: The idle and oversize section.
    type: dict
    suboptions:
      instance_ids:
        description: Instances to look at. Empty for every running instance that matches I(tag_filters).
        type: list
        elements: str
        default: []
      tag_filters:
        description: Tag keys with values to match (an empty list matches any value).
        type: dict
        default: {}
      lookback_days:
        description: Days of CPU history to read.
        type: int
        default: 14
      idle_below:
        description: Average CPU percent under which an instance is an idle candidate.
        type: float
        default: 5
      oversize_below:
        description: Peak hourly CPU percent under which a busy-enough instance is an oversize candidate.
        type: float
        default: 40
      prices:
        description: Hourly prices in USD by instance type for the savings figures (as in I(estimate.prices)).
        type: dict
        default: {}
attributes:
  check_mode:
    support: full
    description: The module only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes.
notes:
  - Cost Explorer and Budgets are reached in C(us-east-1) unless I(endpoint_url) points elsewhere.
  - "IAM: C(ce:GetCostAndUsage), C(budgets:ViewBudget), C(sts:GetCallerIdentity), C(ec2:DescribeInstances),
    C(cloudwatch:GetMetricStatistics), each only for the sections asked for."
extends_documentation_fragment:
  - ultraai.platform.aws
"""

EXAMPLES = r"""
- name: Cost of last month by Project tag
  ultraai.platform.cost_report:
    cost:
      group_by: {type: tag, key: Project}
  register: by_project

- name: Cost by service for a quarter, daily buckets
  ultraai.platform.cost_report:
    cost:
      start: "2025-01-01"
      end: "2025-04-01"
      granularity: DAILY
      group_by: {type: dimension, key: SERVICE}

- name: Budget status
  ultraai.platform.cost_report:
    budgets:
      names: [ultraai-monthly]

- name: Estimate a fleet for a month
  ultraai.platform.cost_report:
    estimate:
      fleet:
        - {instance_type: t3.medium, count: 2, hours: 730}
        - {instance_type: m5.large, count: 1, hours: 730}
      prices:
        t3.medium: 0.0456   # eu-west-1

- name: Idle and oversize instances of the project
  ultraai.platform.cost_report:
    optimization:
      tag_filters: {Project: [ultraai]}
      lookback_days: 14
"""

RETURN = r"""
cost:
  description:
    - Totals per group over the period (C(groups), largest first, each with C(key), C(amount) and
      C(amount_exact)), per time bucket (C(by_time)), and C(total).
  returned: when cost is given
  type: dict
budgets:
  description: Each budget's C(limit), C(actual), C(forecast), percentages and C(state).
  returned: when budgets is given
  type: list
  elements: dict
estimate:
  description: C(lines) (type, count, hours, hourly price, amount) and C(total).
  returned: when estimate is given
  type: dict
optimization:
  description:
    - Per instance CPU average and peak, verdict (C(idle), C(oversize), C(ok), C(no_data)), suggestion
      and monthly saving; and the C(idle) and C(oversize) instance IDs.
  returned: when optimization is given
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ultraai.platform.plugins.module_utils.aws import (
    AWSSetupError,
    aws_argument_spec,
    client_from_params,
)
from ansible_collections.ultraai.platform.plugins.module_utils.cost_calls import AWSCallError, call
from ansible_collections.ultraai.platform.plugins.module_utils.cost_reports import (
    ReportError,
    budget_status,
    cost_and_usage,
    estimate,
    optimization,
    period,
    price_table,
)

GROUP_TYPES = {"tag": "TAG", "dimension": "DIMENSION", "cost_category": "COST_CATEGORY"}


def argument_spec():
    prices = dict(type="dict", default={})
    return dict(
        cost=dict(type="dict", options=dict(
            start=dict(type="str"),
            end=dict(type="str"),
            granularity=dict(type="str", choices=["DAILY", "MONTHLY"], default="MONTHLY"),
            metric=dict(type="str", default="UnblendedCost",
                        choices=["UnblendedCost", "BlendedCost", "AmortizedCost", "NetUnblendedCost",
                                 "NetAmortizedCost"]),
            group_by=dict(type="dict", options=dict(
                type=dict(type="str", choices=list(GROUP_TYPES), required=True),
                key=dict(type="str", required=True, no_log=False),
            )),
            filter=dict(type="dict"),
        )),
        budgets=dict(type="dict", options=dict(
            names=dict(type="list", elements="str", default=[]),
            account_id=dict(type="str"),
        )),
        estimate=dict(type="dict", options=dict(
            fleet=dict(type="list", elements="dict", required=True, options=dict(
                instance_type=dict(type="str", required=True),
                count=dict(type="int", default=1),
                hours=dict(type="float", default=730),
            )),
            prices=prices,
        )),
        optimization=dict(type="dict", options=dict(
            instance_ids=dict(type="list", elements="str", default=[]),
            tag_filters=dict(type="dict", default={}),
            lookback_days=dict(type="int", default=14),
            idle_below=dict(type="float", default=5),
            oversize_below=dict(type="float", default=40),
            prices=dict(prices),
        )),
        **aws_argument_spec()
    )


def validate(p):
    """Everything that can be checked without AWS; returns the cost period."""
    span = None
    if p["cost"]:
        span = period(p["cost"]["start"], p["cost"]["end"])
    if p["estimate"]:
        estimate(p["estimate"]["fleet"], p["estimate"]["prices"])
    if p["optimization"]:
        opt = p["optimization"]
        price_table(opt["prices"])
        if opt["lookback_days"] < 1 or opt["lookback_days"] > 455:
            raise ReportError("optimization.lookback_days must be 1 to 455 (CloudWatch keeps hourly data 455 days)")
        if not 0 <= opt["idle_below"] <= opt["oversize_below"] <= 100:
            raise ReportError("optimization needs 0 <= idle_below <= oversize_below <= 100")
        for key, values in opt["tag_filters"].items():
            if values is not None and not isinstance(values, list):
                raise ReportError("optimization.tag_filters.%s must be a list of values" % key)
    return span


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_one_of=[["cost", "budgets", "estimate", "optimization"]],
        supports_check_mode=True,
    )
    p = module.params
    try:
        span = validate(p)
    except ReportError as exc:
        module.fail_json(msg="cost_report: %s" % exc)

    global_region = None if p.get("endpoint_url") else "us-east-1"
    out = dict(changed=False)
    try:
        if p["cost"]:
            ce = client_from_params(dict(p, region=global_region or p["region"]), "ce")
            cost = p["cost"]
            group_by = None
            if cost["group_by"]:
                group_by = dict(type=GROUP_TYPES[cost["group_by"]["type"]], key=cost["group_by"]["key"])
            out["cost"] = cost_and_usage(ce, span[0], span[1], cost["granularity"], cost["metric"], group_by,
                                         cost["filter"])
        if p["budgets"]:
            account = p["budgets"]["account_id"]
            if not account:
                sts = client_from_params(p, "sts")
                account = call("find the account (sts get_caller_identity)", sts.get_caller_identity)["Account"]
            budgets = client_from_params(dict(p, region=global_region or p["region"]), "budgets")
            out["budgets"] = budget_status(budgets, account, p["budgets"]["names"])
        if p["estimate"]:
            out["estimate"] = estimate(p["estimate"]["fleet"], p["estimate"]["prices"])
        if p["optimization"]:
            opt = p["optimization"]
            out["optimization"] = optimization(
                client_from_params(p, "ec2"), client_from_params(p, "cloudwatch"), opt["instance_ids"],
                opt["tag_filters"], opt["lookback_days"], opt["idle_below"], opt["oversize_below"], opt["prices"])
    except (AWSSetupError, AWSCallError, ReportError) as exc:
        module.fail_json(msg="cost_report: %s" % exc)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
