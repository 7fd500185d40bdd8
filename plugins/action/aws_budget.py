# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""aws_budget runs as its module, with module_defaults for group/aws applied to
its AWS connection options (see plugin_utils/aws_defaults.py)."""

from ansible_collections.ultraai.platform.plugins.plugin_utils.aws_defaults import AwsDefaultsAction


class ActionModule(AwsDefaultsAction):
    pass
