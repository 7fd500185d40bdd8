"""The harness the module tests share: run a module's main() with arguments, as
Ansible would, and return the JSON result it printed."""

import json

import pytest

from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def run(capsys):
    def run_module(module, args, check_mode=False, diff=False):
        args = dict(args)
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        return json.loads(capsys.readouterr().out)
    return run_module
