"""Every role's meta/argument_specs.yml must equal its defaults/main.yml, and its
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
