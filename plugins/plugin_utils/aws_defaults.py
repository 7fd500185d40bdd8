# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An action plugin base that lets ``module_defaults: {group/aws: ...}`` reach the
collection's AWS-facing modules.

``group/aws`` is ansible-core's own group that extends amazon.aws's and
community.aws's; another collection cannot join it. ansible-core applies
``group/ultraai.platform.aws`` (which extends amazon.aws.aws) by itself, and this
base adds the connection options (region, endpoint_url, profile, keys, ...) from
``group/aws`` where the task sets none of an option's names.
"""

from ansible.plugins.action import ActionBase
from ansible_collections.ultraai.platform.plugins.module_utils.aws import aws_argument_spec

AWS_GROUP_KEYS = (
    "group/aws",
    "group/ansible.builtin.aws",
    "group/ansible.legacy.aws",
    "group/amazon.aws.aws",
    "group/community.aws.aws",
)


def connection_option_names():
    """{any name or alias: the set of all names of that option}."""
    names = {}
    for option, spec in aws_argument_spec().items():
        group = set([option] + list(spec.get("aliases", [])))
        for name in group:
            names[name] = group
    return names


def merge_group_aws(args, module_defaults, template):
    """args plus the connection options found under group/aws in module_defaults
    (a list of dicts, later entries winning), where args set none of an option's names."""
    names = connection_option_names()
    found = {}
    for entry in module_defaults or []:
        for key in AWS_GROUP_KEYS:
            if key in entry:
                found.update(template(entry[key]) or {})
    merged = dict(args)
    for name, value in found.items():
        group = names.get(name)
        if group and not group & set(merged):
            merged[name] = value
    return merged


class AwsDefaultsAction(ActionBase):
    """Runs the module of the same name with group/aws connection defaults merged in."""

    def run(self, tmp=None, task_vars=None):
        result = super(AwsDefaultsAction, self).run(tmp, task_vars)
        args = merge_group_aws(self._task.args, self._task.module_defaults, self._templar.template)
        result.update(self._execute_module(module_args=args, task_vars=task_vars))
        return result
