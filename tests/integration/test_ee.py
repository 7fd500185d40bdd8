"""The execution environment (execution-environment.yml, requirements.yml,
bindep.txt): `ansible-builder create` makes a complete build context offline,
every third-party Python import of plugins/ (and of the playbooks' helper
scripts) is satisfied by the EE's Python list, and the EE's collections are the
versions the suite tests with."""

import ast
import glob
import importlib.metadata
import json
import os
import re
import shutil
import sys

import pytest
import yaml

from conftest import ROOT, run

EE = os.path.join(ROOT, "execution-environment.yml")
BIN = os.path.dirname(sys.executable)
# A proxy nobody listens on: any download attempt fails instead of going out.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def normal(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def ee_python_distributions():
    deps = load(EE)["dependencies"]["python"]
    return {normal(re.split(r"[<>=!~\[; ]", d.strip(), maxsplit=1)[0]) for d in deps}


def third_party_imports(paths):
    """Top-level module names imported by the files, less the standard library,
    Ansible itself and the collections (the EE's ansible-core and galaxy parts)."""
    names = set()
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("ansible", "ansible_collections", "__future__")}


def unsatisfied(modules, distributions):
    """Modules whose installed distribution is not in the EE list (or that no
    installed distribution provides)."""
    provided = importlib.metadata.packages_distributions()
    missing = []
    for module in sorted(modules):
        dists = {normal(d) for d in provided.get(module, [])}
        if not dists & distributions:
            missing.append("%s (from %s)" % (module, ", ".join(sorted(dists)) or "no installed distribution"))
    return missing


CONTROLLER_PY = sorted(glob.glob(os.path.join(ROOT, "plugins", "**", "*.py"), recursive=True)
                       + glob.glob(os.path.join(ROOT, "playbooks", "files", "*.py")))


def test_every_plugin_import_is_in_the_ee():
    modules = third_party_imports(CONTROLLER_PY)
    assert "boto3" in modules  # the scan sees the AWS plugins
    assert not unsatisfied(modules, ee_python_distributions())


def test_the_import_check_catches_a_missing_package(tmp_path):
    plugin = tmp_path / "new_module.py"
    plugin.write_text("import boto3\nimport yaml\nfrom jmespath import search\n")
    assert unsatisfied(third_party_imports([str(plugin)]), ee_python_distributions()) == [
        "jmespath (from jmespath)", "yaml (from pyyaml)"]


def test_ee_collections_are_the_tested_versions():
    import ansible_collections  # pylint: disable=import-outside-toplevel
    base = list(ansible_collections.__path__)[0]
    pins = load(os.path.join(ROOT, "requirements.yml"))["collections"]
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    assert set(galaxy["dependencies"]) <= {p["name"] for p in pins}, "a galaxy.yml dependency is missing from the EE"
    for pin in pins:
        manifest = os.path.join(base, *pin["name"].split("."), "MANIFEST.json")
        with open(manifest, encoding="utf-8") as handle:
            installed = json.load(handle)["collection_info"]["version"]
        assert pin["version"] == installed, "%s: EE pins %s, the suite tests %s" % (pin["name"], pin["version"], installed)


def test_ee_pins_ansible_core_and_python_packages_as_the_suite_does():
    ee = load(EE)
    with open(os.path.join(ROOT, "requirements", "constraints-py311.txt"), encoding="utf-8") as handle:
        lock = {normal(line.split("==")[0]): line.strip().split("==")[1] for line in handle if "==" in line}
    pins = [ee["dependencies"]["ansible_core"]["package_pip"], ee["dependencies"]["ansible_runner"]["package_pip"]]
    pins += ee["dependencies"]["python"]
    for pin in pins:
        name, version = pin.split("#")[0].strip().split("==")
        assert lock.get(normal(name)) == version, "%s: EE %s, suite lock %s" % (name, version, lock.get(normal(name)))


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    work = tmp_path_factory.mktemp("ee")
    for name in ("execution-environment.yml", "requirements.yml", "bindep.txt"):
        shutil.copy(os.path.join(ROOT, name), work / name)
    env = dict(os.environ)
    env.update(OFFLINE)
    env["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
    build = run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force",
                 "--output-path", str(work / "context-src"), ROOT], env)
    assert build.returncode == 0, build.stderr
    res = run([os.path.join(BIN, "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context",
               "--output-filename", "Containerfile"], env, cwd=str(work))
    assert res.returncode == 0, res.stdout + res.stderr
    return work / "context"


def test_ansible_builder_create_makes_a_complete_context_offline(context):
    containerfile = (context / "Containerfile").read_text()
    build = context / "_build"
    assert "ansible-core==2.19.14" in containerfile
    assert "ansible-runner==2.4.3" in containerfile
    assert "boto3==1.44.5" in (build / "requirements.txt").read_text()
    assert "amazon.aws" in (build / "requirements.yml").read_text()
    assert "openssh-clients" in (build / "bindep.txt").read_text()
    assert glob.glob(str(build / "collection" / "ultraai-platform-*.tar.gz"))
    for script in ("assemble", "install-from-bindep", "introspect.py", "entrypoint"):
        assert (build / "scripts" / script).exists(), script
