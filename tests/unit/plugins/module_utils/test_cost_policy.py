import pytest

from ansible_collections.ultraai.platform.plugins.module_utils.cost_policy import (
    PolicyError,
    evaluate,
    parse_arn,
    parse_policy,
    tag_limit_error,
)

POLICY = {
    "case_sensitive": False,
    "tags": {
        "Project": {"required": True, "allowed": ["ultraai"], "default": "ultraai"},
        "Environment": {"required": True, "allowed": ["production", "staging"]},
        "CostCenter": {"required": True, "pattern": "CC-[0-9]{4}", "default": "CC-0000", "case_sensitive": True},
        "Owner": {"required": True},
        "Team": {"default": "platform"},
    },
    "forbidden": ["Temp"],
}
GOOD = {"Project": "ultraai", "Environment": "production", "CostCenter": "CC-1234", "Owner": "ops", "Team": "api"}


@pytest.mark.parametrize("policy,message", [
    ({"tags": {"CostCenter": {"pattern": "CC-[0-9"}}}, "policy.tags.CostCenter.pattern 'CC-[0-9' is not a valid regular expression"),
    ({"tags": {"Owner": {"required": True}}, "forbidden": ["Owner"]}, "policy key 'Owner' is required and also forbidden"),
    ({"tags": {"Owner": {"required": True}}, "forbidden": ["owner"], "case_sensitive": False},
     "policy key 'Owner' is required and also forbidden"),
    ({"tags": {"Team": {"default": "x"}}, "forbidden": ["Team"]}, "policy key 'Team' has a default and is also forbidden"),
    ({"tags": dict(("k%d" % i, {}) for i in range(51))}, "policy.tags has 51 keys; AWS allows at most 50 user tags"),
    ({"tags": {"aws:Project": {}}}, "starts with 'aws:'"),
    ({"tags": {"Env": {"allowed": ["a"], "pattern": "a"}}}, "give allowed or pattern, not both"),
    ({"tags": {"Env": {"allowed": ["a"], "default": "b"}}}, "policy.tags.Env.default 'b' is not allowed by the rule"),
    ({"tags": {"Env": {"allowed": []}}}, "allowed must be a non-empty list"),
    ({"tags": {"Env": {"requried": True}}}, "unknown field(s) requried"),
    ({"tags": {"Env": {"required": "yes"}}}, "policy.tags.Env.required must be true or false"),
    ({"tags": {}}, "policy.tags must be a non-empty dictionary"),
    ({}, "policy.tags must be a non-empty dictionary"),
    ({"tags": {"Env": {}}, "extra": 1}, "policy: unknown field(s) extra"),
    ({"tags": {"Env": {"default": "x" * 257}}}, "is 257 characters long; AWS allows at most 256"),
    ({"tags": {"Env": {}, "env": {}}, "case_sensitive": False}, "differ only in case"),
    ({"tags": {"Env": {"default": "a;b"}}}, "holds characters AWS does not allow"),
    ("not a dict", "policy must be a dictionary"),
])
def test_bad_policies_are_refused_with_a_clear_message(policy, message):
    with pytest.raises(PolicyError) as err:
        parse_policy(policy)
    assert message in str(err.value)


@pytest.mark.parametrize("arn,ok", [
    ("arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc", True),
    ("arn:aws:s3:::ultraai-backups", True),
    ("arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188", True),
    ("arn:aws-cn:ec2:cn-north-1:123456789012:volume/vol-1", True),
    ("i-0abc", False),
    ("arn:aws:ec2:eu-west-1:1234:instance/i-0abc", False),
    ("arn:azure:ec2:eu-west-1:123456789012:instance/i-0abc", False),
    ("arn:aws:ec2:eu-west-1:123456789012:", False),
    ("arn:aws:route53:::hostedzone/Z0123456789", True),
    ("arn:aws:iam::123456789012:role/ultraai-app", True),
    ("arn:aws:sns:eu-west-1:123456789012:ultraai-alerts", True),
    ("arn:aws:ec2:::nonsense", False),
    ("arn:aws:ec2:eu-west-1:123456789012:nonsense", False),
    ("arn:aws:ec2::123456789012:instance/i-0abc", False),
    ("arn:aws:iam:::role/ultraai-app", False),
])
def test_arn_formats(arn, ok):
    if ok:
        assert parse_arn(arn)[1]
    else:
        with pytest.raises(PolicyError, match="is not a resource ARN of a known form"):
            parse_arn(arn)


# (tags, options, expected (key, issue) pairs, add, remove, unfixed keys)
CASES = [
    ("compliant", GOOD, {}, [], {}, [], []),
    ("aws: keys are ignored", dict(GOOD, **{"aws:cloudformation:stack-name": "s", "AWS:x": "y"}), {}, [], {}, [], []),
    ("missing with and without default", {"Environment": "staging", "CostCenter": "CC-1111"}, {},
     [("Owner", "missing"), ("Project", "missing"), ("Team", "missing")],
     {"Project": "ultraai", "Team": "platform"}, [], ["Owner"]),
    ("wrong case of a value", dict(GOOD, Environment="Production"), {}, [("Environment", "wrong_case_value")],
     {"Environment": "production"}, [], []),
    ("wrong case of a key keeps the fixed value", dict((k, v) for k, v in GOOD.items() if k != "Project"),
     {}, [], {}, [], []),
    ("case-sensitive rule: wrong case is invalid", dict(GOOD, CostCenter="cc-1234"), {},
     [("CostCenter", "invalid_value")], {}, [], ["CostCenter"]),
    ("replace_invalid uses the default", dict(GOOD, CostCenter="cc-1234"), {"replace_invalid": True},
     [("CostCenter", "invalid_value")], {"CostCenter": "CC-0000"}, [], []),
    ("invalid value without a default stays", dict(GOOD, Environment="prod"), {"replace_invalid": True},
     [("Environment", "invalid_value")], {}, [], ["Environment"]),
    ("empty value of a required key", dict(GOOD, Owner=""), {}, [("Owner", "empty_value")], {}, [], ["Owner"]),
    ("forbidden reported", dict(GOOD, temp="1"), {}, [("Temp", "forbidden")], {}, [], ["Temp"]),
    ("forbidden removed", dict(GOOD, Temp="1"), {"remove_forbidden": True}, [("Temp", "forbidden")], {}, ["Temp"], []),
]
CASES.append(("two spellings of a key: the other one goes", dict(GOOD, environment="staging"), {},
              [("Environment", "wrong_case_key")], {}, ["environment"], []))
CASES.append(("two spellings, neither the policy's", dict([("PROJECT", "ultraai"), ("project", "ultraai")]
              + [(k, v) for k, v in GOOD.items() if k != "Project"]), {},
              [("Project", "wrong_case_key"), ("Project", "wrong_case_key")], {"Project": "ultraai"},
              ["PROJECT", "project"], []))
CASES[4] = ("wrong case of a key", dict([("project", "ULTRAAI")] + [(k, v) for k, v in GOOD.items() if k != "Project"]),
            {}, [("Project", "wrong_case_key"), ("Project", "wrong_case_value")], {"Project": "ultraai"},
            ["project"], [])


@pytest.mark.parametrize("name,tags,opts,issues,add,remove,unfixed", CASES, ids=[c[0] for c in CASES])
def test_evaluate(name, tags, opts, issues, add, remove, unfixed):
    ev = evaluate(parse_policy(POLICY), tags, **opts)
    assert sorted((v["key"], v["issue"]) for v in ev["violations"]) == sorted(issues), name
    assert ev["add"] == add
    assert ev["remove"] == remove
    assert sorted(v["key"] for v in ev["unfixed"]) == sorted(unfixed)
    assert not any(k.lower().startswith("aws:") for k in list(ev["add"]) + ev["remove"] + list(ev["after"]))


def test_case_sensitive_policy_counts_a_wrong_case_key_as_missing():
    policy = parse_policy({"tags": {"Project": {"required": True, "default": "ultraai"}}})
    ev = evaluate(policy, {"project": "ultraai"})
    assert [(v["key"], v["issue"]) for v in ev["violations"]] == [("Project", "missing")]
    assert ev["add"] == {"Project": "ultraai"} and ev["remove"] == []


def test_flat_form_of_the_aws_infra_role():
    policy = parse_policy({"required": ["Project", "CostCenter"], "allowed_values": {"Environment": ["production"]},
                           "patterns": {"CostCenter": "^cc-[0-9]{4}$"}, "defaults": {"Project": "ultraai"}})
    rules = dict((r.key, r.to_dict()) for r in policy.rules)
    assert rules["Project"]["required"] and rules["Project"]["default"] == "ultraai"
    assert rules["CostCenter"]["required"] and rules["CostCenter"]["pattern"] == "^cc-[0-9]{4}$"
    assert rules["Environment"]["allowed"] == ["production"] and not rules["Environment"]["required"]
    ev = evaluate(policy, {"CostCenter": "cc-12", "Environment": "production"})
    found = sorted((v["key"], v["issue"]) for v in ev["violations"])
    assert found == [("CostCenter", "invalid_value"), ("Project", "missing")]


@pytest.mark.parametrize("policy,message", [
    ({"required": "Project"}, "policy.required must be a list of keys"),
    ({"patterns": {"CostCenter": "("}}, "is not a valid regular expression"),
    ({"tags": {"Env": {"allowed": ["a"]}}, "allowed_values": {"Env": ["b"]}}, "conflicts with policy.tags.Env.allowed"),
])
def test_bad_flat_policies(policy, message):
    with pytest.raises(PolicyError) as err:
        parse_policy(policy)
    assert message in str(err.value)


def test_tag_limit():
    before = dict(("k%d" % i, "v") for i in range(48))
    assert tag_limit_error(before, {"a": "1", "b": "2"}, []) is None
    assert "51 user tags" in tag_limit_error(before, {"a": "1", "b": "2", "c": "3"}, [])
    assert tag_limit_error(before, {"a": "1", "b": "2", "c": "3"}, ["k1"]) is None
