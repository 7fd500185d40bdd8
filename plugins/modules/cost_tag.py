#!/usr/bin/python
# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
---
module: cost_tag
short_description: Audit or enforce a cost tag policy on AWS resources
version_added: 0.1.0
description:
  - Compares the tags of AWS resources with a tag policy (required keys, allowed values or a
    regular expression per key, case-sensitivity, defaults, forbidden keys) and reports each
    resource's compliance and a summary.
  - In C(enforce) mode it adds missing keys that have a default, rewrites a key or value whose
    case is wrong where the rule is case-insensitive, and, when asked, replaces invalid values
    with the default and removes forbidden keys. Other tags are left as they are.
  - Resources are given by ARN, or found through the Resource Groups Tagging API with tag and
    resource-type filters.
  - A change the API refuses for one resource fails that resource only (status C(failed), with
    the API's error); the others are still changed, and the task then fails naming the failed
    resources.
  - Tags go through the tagging API in batches of up to 20 resources. A resource the API
    reports in C(FailedResourcesMap) is tagged through its own service's API where the module
    knows one (ELBv2 load balancers and target groups, Auto Scaling groups, Route 53 hosted zones
    and health checks); otherwise its error is reported.
  - Keys that start with C(aws:) are never read as policy keys, counted, added or removed. A
    change that would leave a resource with more than 50 user tags is not made and the resource
    is reported as failed.
  - With I(activate_cost_allocation_tags), the policy's keys are activated as cost-allocation
    tags in Cost Explorer, at most 20 keys per call, skipping keys already active.
  - The whole input (policy, ARNs) is validated before any AWS call.
author: UltraAI platform team (@ultraai)
options:
  policy:
    description:
      - The tag policy. C(tags) maps each tag key to its rule; a rule has C(required) (bool,
        default false), C(allowed) (list of values) or C(pattern) (a Python regular expression
        the whole value must match), C(default) (the value enforce sets when the key is
        missing) and C(case_sensitive) (default the policy's).
      - C(case_sensitive) (default true) is the default for every rule. When a rule is not
        case-sensitive, a key or value that differs from the policy's spelling only in case is
        reported as C(wrong_case_key) or C(wrong_case_value) and enforce rewrites it; when it is
        case-sensitive such a key counts as missing and such a value as invalid.
      - A resource that carries the key in two spellings (C(Environment) and C(environment)) under
        a case-insensitive rule is not compliant, since cost allocation counts two keys; enforce
        keeps the policy's spelling (and its value) and removes the other.
      - C(forbidden) lists keys that must not be present.
      - The flat form of the aws_infra role's C(aws_infra_tag_policy) is accepted as well, alone or
        with C(tags) - C(required) (list of keys), C(allowed_values) (key to list of values),
        C(patterns) (key to regular expression) and C(defaults) (key to value).
      - A policy with more than 50 keys, an invalid regular expression, a default its own rule
        refuses, a key both required (or defaulted) and forbidden, or an C(aws:) key is refused.
    type: dict
    required: true
  mode:
    description: C(audit) only reports; C(enforce) also fixes what the policy can fix.
    type: str
    choices: [audit, enforce]
    default: audit
  resources:
    description:
      - ARNs of the resources to check. When empty, resources are found with the tagging API
        in the module's region using I(tag_filters) and I(resource_type_filters).
      - An ARN with a region is read and tagged in that region.
      - Every ARN is checked before any call, and the module fails on one that is malformed
        (for example an EC2 ARN without a region, an account or a C(TYPE/ID) resource).
    type: list
    elements: str
    default: []
  tag_filters:
    description:
      - For discovery, tag keys with the values to match (an empty list matches any value),
        as the tagging API's C(TagFilters).
      - The tagging API returns only resources that have (or once had) a tag.
    type: dict
    default: {}
  resource_type_filters:
    description: For discovery, resource types such as C(ec2:instance) or C(s3), as C(ResourceTypeFilters).
    type: list
    elements: str
    default: []
  replace_invalid:
    description: In enforce mode, replace an invalid value with the key's default when the rule has one.
    type: bool
    default: false
  remove_forbidden:
    description: In enforce mode, remove forbidden keys.
    type: bool
    default: false
  activate_cost_allocation_tags:
    description:
      - Activate the policy's keys as user-defined cost-allocation tags (Cost Explorer,
        C(UpdateCostAllocationTagsStatus), at most 20 keys per call). Keys already active are
        skipped. Runs in either mode; in check mode it only reports what it would activate.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: In check mode tags are read and the changes enforce would make are reported, with their diff; nothing is written.
  diff_mode:
    support: full
    description: Returns each changed resource's user tags before and after.
notes:
  - Cost Explorer is reached in C(us-east-1) unless I(endpoint_url) points elsewhere.
  - "IAM: C(tag:GetResources), C(tag:TagResources), C(tag:UntagResources), plus the service's own
    tag calls for ELBv2, Auto Scaling and Route 53 resources, and C(ce:ListCostAllocationTags) and
    C(ce:UpdateCostAllocationTagsStatus) for activation."
extends_documentation_fragment:
  - ultraai.platform.aws
"""

EXAMPLES = r"""
- name: Audit every resource of the project
  ultraai.platform.cost_tag:
    policy:
      tags:
        Project: {required: true, allowed: [ultraai], default: ultraai}
        Environment: {required: true, allowed: [production, staging, development], case_sensitive: false}
        CostCenter: {required: true, pattern: "CC-[0-9]{4}"}
        Owner: {required: true}
      forbidden: [Temp]
    mode: audit
    tag_filters:
      Project: []
  register: audit

- name: Enforce the policy on given resources, ALB included
  ultraai.platform.cost_tag:
    policy: "{{ cost_policy }}"
    mode: enforce
    resources:
      - "{{ alb_arn }}"
      - "arn:aws:s3:::ultraai-backups"

- name: Activate the policy's keys as cost-allocation tags
  ultraai.platform.cost_tag:
    policy: "{{ cost_policy }}"
    mode: audit
    resources: ["{{ alb_arn }}"]
    activate_cost_allocation_tags: true
"""

RETURN = r"""
resources:
  description: Compliance per resource.
  returned: always
  type: list
  elements: dict
  contains:
    arn:
      description: The resource's ARN.
      type: str
    status:
      description:
        - C(compliant), C(fixed) (enforce made it compliant), C(would_fix) (check mode),
          C(non_compliant) (violations remain), C(failed) (a change could not be made).
      type: str
    compliant:
      description: Whether the resource complies after this run (in check mode, whether it would).
      type: bool
    violations:
      description: Each violation found (key, issue, value, expected, fix, actual_key).
      type: list
      elements: dict
    unfixed:
      description: Violations this run does not fix.
      type: list
      elements: dict
    add:
      description: Tags set (or that would be set) on the resource.
      type: dict
    remove:
      description: Tag keys removed (or that would be removed).
      type: list
      elements: str
    source:
      description: Where the tags were read (tagging-api, a service tagger, or not-found).
      type: str
    error:
      description: Why the change failed, or null.
      type: str
summary:
  description: Counts of resources by status, of violations by issue and by key, and the compliance percentage.
  returned: always
  type: dict
  sample: {total: 3, compliant: 1, non_compliant: 2, fixed: 0, would_fix: 0, failed: 0,
           compliance_percent: 33.3, by_issue: {missing: 2, wrong_case_value: 1}, by_key: {Project: 2, Environment: 1}}
cost_allocation_tags:
  description: What activation found and did (already_active, activated, pending in check mode, errors, calls).
  returned: when activate_cost_allocation_tags is true
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ultraai.platform.plugins.module_utils.aws import (
    AWSSetupError,
    aws_argument_spec,
)
from ansible_collections.ultraai.platform.plugins.module_utils.cost_policy import (
    ISSUES,
    PolicyError,
    evaluate,
    parse_arn,
    parse_policy,
    tag_limit_error,
)
from ansible_collections.ultraai.platform.plugins.module_utils.cost_calls import AWSCallError
from ansible_collections.ultraai.platform.plugins.module_utils.cost_tagging import (
    Clients,
    ResourceTags,
    activate_cost_allocation_tags,
)


def _tags_text(tags):
    return "".join("%s: %s\n" % (k, tags[k]) for k in sorted(tags))


def summarize(results):
    summary = dict(total=len(results), by_issue={}, by_key={})
    for status in ("compliant", "non_compliant", "fixed", "would_fix", "failed"):
        summary[status] = sum(1 for r in results if r["status"] == status)
    for issue in ISSUES:
        count = sum(1 for r in results for v in r["violations"] if v["issue"] == issue)
        if count:
            summary["by_issue"][issue] = count
    for res in results:
        for violation in res["violations"]:
            summary["by_key"][violation["key"]] = summary["by_key"].get(violation["key"], 0) + 1
    ok = sum(1 for r in results if r["compliant"])
    summary["compliance_percent"] = round(100.0 * ok / len(results), 1) if results else 100.0
    return summary


def run(module, policy, tagger):
    p = module.params
    if p["resources"]:
        found = tagger.read(p["resources"])
    else:
        found = dict((arn, (tags, "tagging-api"))
                     for arn, tags in tagger.discover(p["tag_filters"], p["resource_type_filters"]).items())
    enforce = p["mode"] == "enforce"
    results = []
    changes = {}
    for arn in sorted(found):
        tags, source = found[arn]
        ev = evaluate(policy, tags, remove_forbidden=p["remove_forbidden"], replace_invalid=p["replace_invalid"])
        res = dict(arn=arn, source=source, violations=ev["violations"], unfixed=ev["unfixed"], add={}, remove=[],
                   error=None, before=ev["before"], after=ev["before"])
        if enforce and (ev["add"] or ev["remove"]):
            res["error"] = tag_limit_error(ev["before"], ev["add"], ev["remove"])
            if res["error"] is None:
                res.update(add=ev["add"], remove=ev["remove"], after=ev["after"])
                # Remove first when adding first would pass the limit on the way.
                remove_first = len(set(ev["before"]) | set(ev["add"])) > 50
                changes[arn] = (ev["add"], ev["remove"], remove_first)
        results.append(res)
    errors = {}
    if changes and not module.check_mode:
        errors = tagger.apply(changes)
    for res in results:
        err = errors.get(res["arn"])
        if err:
            res["error"] = err
            res["after"] = res["before"]
        if res["error"]:
            res["status"], res["compliant"] = "failed", False
        elif not res["violations"]:
            res["status"], res["compliant"] = "compliant", True
        elif res["arn"] in changes and not res["unfixed"]:
            res["status"] = "would_fix" if module.check_mode else "fixed"
            res["compliant"] = True
        else:
            res["status"], res["compliant"] = "non_compliant", False
    return results, changes


def main():
    module = AnsibleModule(
        argument_spec=dict(
            policy=dict(type="dict", required=True),
            mode=dict(type="str", choices=["audit", "enforce"], default="audit"),
            resources=dict(type="list", elements="str", default=[]),
            tag_filters=dict(type="dict", default={}),
            resource_type_filters=dict(type="list", elements="str", default=[]),
            replace_invalid=dict(type="bool", default=False),
            remove_forbidden=dict(type="bool", default=False),
            activate_cost_allocation_tags=dict(type="bool", default=False),
            **aws_argument_spec()
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        policy = parse_policy(p["policy"])
        for arn in p["resources"]:
            parse_arn(arn)
        for key, values in p["tag_filters"].items():
            if values is not None and not isinstance(values, list):
                raise PolicyError("tag_filters.%s must be a list of values (empty for any value)" % key)
    except PolicyError as exc:
        module.fail_json(msg="cost_tag: %s" % exc)

    try:
        clients = Clients(p)
        tagger = ResourceTags(clients)
        results, changes = run(module, policy, tagger)
        activation = None
        if p["activate_cost_allocation_tags"]:
            ce = clients.get("ce", None if p.get("endpoint_url") else "us-east-1")
            activation = activate_cost_allocation_tags(ce, policy.keys(), module.check_mode)
    except (AWSSetupError, AWSCallError) as exc:
        module.fail_json(msg="cost_tag: %s" % exc)

    diff = [dict(before_header=r["arn"], after_header=r["arn"], before=_tags_text(r["before"]),
                 after=_tags_text(r["after"])) for r in results if r["arn"] in changes and not r["error"]]
    for res in results:
        res.pop("before")
        res.pop("after")
    changed = any(r["arn"] in changes and not r["error"] for r in results)
    out = dict(changed=changed, resources=results, summary=summarize(results))
    if activation is not None:
        out["cost_allocation_tags"] = activation
        changed = changed or bool(activation["activated"] or activation["pending"])
        out["changed"] = changed
    if module._diff and diff:
        out["diff"] = diff
    failed = [r for r in results if r["status"] == "failed"]
    if failed:
        module.fail_json(msg="cost_tag: %d resource(s) could not be changed: %s" % (
            len(failed), "; ".join("%s: %s" % (r["arn"], r["error"]) for r in failed[:5])), **out)
    if activation and activation["errors"]:
        module.fail_json(msg="cost_tag: cost-allocation tags not activated: %s" % "; ".join(
            "%s: %s %s" % (e["key"], e["code"], e["message"]) for e in activation["errors"]), **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
