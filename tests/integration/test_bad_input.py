"""Bad input to the base role is refused with a clear message before any change.

The target host is unreachable on purpose: a run that got as far as touching
the host would fail as UNREACHABLE instead of with the expected message.
"""

import json
import os

import pytest

from conftest import ROOT, run

FILES = os.path.join(ROOT, "tests", "integration", "files")
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly0000000000000000000000 test"

CASES = [
    ("admin user without a key",
     "base_role.yml", {"base_admin_users": [{"name": "ops"}]},
     "missing required arguments: ssh_keys"),
    ("admin user with an empty key list",
     "base_role.yml", {"base_admin_users": [{"name": "ops", "ssh_keys": []}]},
     "ssh_keys must hold at least one OpenSSH public key"),
    ("admin user with a malformed key",
     "base_role.yml", {"base_admin_users": [{"name": "ops", "ssh_keys": ["hunter2"]}]},
     "ssh_keys must hold at least one OpenSSH public key"),
    ("root as an admin user",
     "base_role.yml", {"base_admin_users": [{"name": "root", "ssh_keys": [KEY]}]},
     "base_admin_users entry 'root' is invalid"),
    ("firewall port that is not a number",
     "base_role.yml", {"base_firewall_allow": [{"name": "web", "ports": ["http"]}]},
     "unable to convert to int"),
    ("firewall port out of range",
     "base_role.yml", {"base_firewall_allow": [{"name": "web", "ports": [70000]}]},
     "ports numbers from 1 to 65535"),
    ("firewall source that is not an address",
     "base_role.yml", {"base_firewall_allow": [{"name": "web", "ports": [80], "sources": ["example.com"]}]},
     "sources IP addresses or CIDRs"),
    ("ssh port that is not a number",
     "base_role.yml", {"base_ssh_port": "twenty-two"},
     "base_ssh_port"),
    ("unknown PermitRootLogin value",
     "base_role.yml", {"base_ssh_permit_root_login": "yes"},
     "base_ssh_permit_root_login must be one of: prohibit-password, no"),
    ("unknown variable type for a list",
     "base_role.yml", {"base_chrony_pools": {"not": "a list"}},
     "base_chrony_pools"),
    ("firewall_allow entry point without ports",
     "base_firewall_allow.yml", {"base_firewall_rule": {"name": "web"}},
     "missing required arguments: ports"),
    ("firewall_allow entry point with a bad port",
     "base_firewall_allow.yml", {"base_firewall_rule": {"name": "web", "ports": [0]}},
     "ports numbers from 1 to 65535"),
]


@pytest.mark.parametrize("playbook,extra,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_refused_before_contact(ansible_env, tmp_path, playbook, extra, message):
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(extra))
    res = run(["ansible-playbook", "-i", os.path.join(FILES, "unreachable.ini"),
               "-e", "@%s" % extra_file, os.path.join(FILES, playbook)], ansible_env)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert message in out, out
    assert "UNREACHABLE" not in out, "the host was contacted before the input was refused:\n" + out
    assert "changed=0" in out and "failed=1" in out, out


def test_good_input_gets_as_far_as_the_host(ansible_env, tmp_path):
    """Control case: valid input passes validation and only then fails on the host."""
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps({
        "base_admin_users": [{"name": "ops", "ssh_keys": [KEY]}],
        "base_firewall_allow": [{"name": "web", "ports": [80, 443], "sources": ["10.0.0.0/8", "fd00::/8"]}],
    }))
    res = run(["ansible-playbook", "-i", os.path.join(FILES, "unreachable.ini"),
               "-e", "@%s" % extra_file, os.path.join(FILES, "base_role.yml")], ansible_env)
    assert "UNREACHABLE" in res.stdout + res.stderr
