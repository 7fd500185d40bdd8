import pytest

from ansible_collections.ultraai.platform.plugins.plugin_utils.aws_defaults import merge_group_aws


def ident(value):
    return value


@pytest.mark.parametrize("args, defaults, expected", [
    # group/aws (as ansible-core resolves it) fills what the task leaves out
    ({"checks": []}, [{"group/ansible.builtin.aws": {"region": "eu-west-1", "endpoint_url": "http://m"}}],
     {"checks": [], "region": "eu-west-1", "endpoint_url": "http://m"}),
    # the task's own value wins, under any of the option's names
    ({"aws_region": "us-east-1"}, [{"group/aws": {"region": "eu-west-1"}}], {"aws_region": "us-east-1"}),
    # later module_defaults entries win
    ({}, [{"group/amazon.aws.aws": {"region": "a"}}, {"group/aws": {"region": "b"}}], {"region": "b"}),
    # options that are not connection options are not ours to take
    ({}, [{"group/aws": {"wait": True, "profile": "p"}}], {"profile": "p"}),
    # other groups and modules are ignored
    ({}, [{"group/other.coll.grp": {"region": "x"}, "ansible.builtin.uri": {"timeout": 3}}], {}),
    ({}, None, {}),
])
def test_merge_group_aws(args, defaults, expected):
    assert merge_group_aws(args, defaults, ident) == expected


def test_merge_templates_the_values():
    out = merge_group_aws({}, [{"group/aws": "{{ x }}"}], lambda v: {"region": "templated"})
    assert out == {"region": "templated"}
