"""Every role's meta/argument_specs.yml must equal its defaults/main.yml, every entry
point a playbook calls must have argument specs, and a role's
README must document every variable."""

import glob
import os
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT

ROLES = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta")))


def load(path):
    with open(path) as f:
        return yaml.safe_load(f) or {}


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_equal_defaults(role):
    base = os.path.join(ROOT, "roles", role)
    defaults = load(os.path.join(base, "defaults", "main.yml")) if os.path.exists(
        os.path.join(base, "defaults", "main.yml")) else {}
    specs = load(os.path.join(base, "meta", "argument_specs.yml"))["argument_specs"]
    options = specs["main"]["options"]
    assert sorted(defaults) == sorted(k for k, v in options.items() if not v.get("required")), \
        "defaults/main.yml and the main entry point of argument_specs name different variables"
    for name, value in defaults.items():
        assert options[name].get("default") == value, "default of %s differs between the files" % name
    for entry, spec in specs.items():
        for name, opt in spec.get("options", {}).items():
            assert name.startswith(role + "_"), "%s (%s) is not prefixed with %s_" % (name, entry, role)
            assert opt.get("description"), "%s (%s) has no description" % (name, entry)


@pytest.mark.parametrize("role", ROLES)
def test_readme_documents_every_variable(role):
    base = os.path.join(ROOT, "roles", role)
    with open(os.path.join(base, "README.md")) as f:
        readme = f.read()
    specs = load(os.path.join(base, "meta", "argument_specs.yml"))["argument_specs"]
    missing = [name for spec in specs.values() for name in spec.get("options", {}) if "`%s`" % name not in readme]
    assert not missing, "README.md of %s does not document %s" % (role, missing)


def test_role_readmes_are_generated_from_the_specs():
    res = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen_role_docs.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr


def role_calls(node, found):
    """Every (role, entry point) an include_role or import_role in a parsed
    playbook or task file names; a role listed under `roles:` is its main."""
    if isinstance(node, list):
        for item in node:
            role_calls(item, found)
    elif isinstance(node, dict):
        for key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role"):
            call = node.get(key)
            if isinstance(call, dict) and "name" in call:
                found.add((call["name"], call.get("tasks_from", "main")))
        roles = node.get("roles")
        for entry in roles if isinstance(roles, list) else []:
            name = entry.get("role", entry.get("name")) if isinstance(entry, dict) else entry
            found.add((name, "main"))
        for value in node.values():
            if isinstance(value, (list, dict)):
                role_calls(value, found)
    return found


PLAYBOOK_FILES = sorted(glob.glob(os.path.join(ROOT, "playbooks", "*.yml")) +
                        glob.glob(os.path.join(ROOT, "playbooks", "tasks", "*.yml")) + [os.path.join(ROOT, "site.yml")])


def test_every_entry_point_a_playbook_calls_has_argument_specs():
    calls = set()
    for path in PLAYBOOK_FILES:
        with open(path) as f:
            role_calls(yaml.safe_load(f), calls)
    assert len(calls) > 20, calls  # the walk found the playbooks' calls
    missing = []
    for name, entry in sorted(calls):
        assert name.startswith("ultraai.platform."), "%s is not called by its FQCN" % name
        role = name.split(".")[-1]
        specs = load(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"))["argument_specs"]
        if entry not in specs:
            missing.append("%s:%s" % (role, entry))
    assert not missing, "entry points playbooks call with no argument_specs: %s" % missing
