"""docs/reference/ is generated from the code (scripts/gen_reference.py): it must
be fresh, and the check must fail when a role variable is added without
regenerating (proved on a copy of the tree)."""

import os
import shutil
import subprocess
import sys

import yaml

from conftest import ROOT

GEN = os.path.join(ROOT, "scripts", "gen_reference.py")


def gen(*args):
    return subprocess.run([sys.executable, GEN] + list(args), capture_output=True, text=True, check=False, timeout=300)


def test_reference_is_fresh():
    res = gen("--check")
    assert res.returncode == 0, res.stderr


def test_reference_documents_every_role_and_module():
    with open(os.path.join(ROOT, "docs", "reference", "README.md"), encoding="utf-8") as handle:
        index = handle.read()
    for role in os.listdir(os.path.join(ROOT, "roles")):
        if os.path.exists(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")):
            assert "(roles/%s.md)" % role in index
    for module in os.listdir(os.path.join(ROOT, "plugins", "modules")):
        if module.endswith(".py") and not module.startswith("_"):
            assert "(modules/%s.md)" % module[:-3] in index


def copy_tree(dest):
    for name in ("roles", "plugins", "meta", "scripts", os.path.join("docs", "reference")):
        shutil.copytree(os.path.join(ROOT, name), os.path.join(dest, name), symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, "galaxy.yml"), dest)


def add_role_default(tree, role, name, value, description):
    """What an engineer does when adding a variable: defaults/main.yml and the
    main entry point of meta/argument_specs.yml (the role specs test keeps them equal)."""
    with open(os.path.join(tree, "roles", role, "defaults", "main.yml"), "a", encoding="utf-8") as handle:
        handle.write("%s: %s\n" % (name, value))
    spec_file = os.path.join(tree, "roles", role, "meta", "argument_specs.yml")
    with open(spec_file, encoding="utf-8") as handle:
        specs = yaml.safe_load(handle)
    specs["argument_specs"]["main"]["options"][name] = {"type": "int", "default": value, "description": description}
    with open(spec_file, "w", encoding="utf-8") as handle:
        yaml.safe_dump(specs, handle, sort_keys=False)


def test_check_fails_when_a_role_default_is_added_without_regenerating(tmp_path):
    tree = str(tmp_path / "platform")
    copy_tree(tree)
    script = os.path.join(tree, "scripts", "gen_reference.py")
    fresh = subprocess.run([sys.executable, script, "--check", "--root", tree], capture_output=True, text=True,
                           check=False, timeout=300)
    assert fresh.returncode == 0, fresh.stderr

    add_role_default(tree, "redis", "redis_tcp_backlog", 511, "Length of the listen backlog.")
    stale = subprocess.run([sys.executable, script, "--check", "--root", tree], capture_output=True, text=True,
                           check=False, timeout=300)
    assert stale.returncode != 0
    assert "roles/redis.md" in stale.stderr

    subprocess.run([sys.executable, script, "--root", tree], check=True, timeout=300)
    with open(os.path.join(tree, "docs", "reference", "roles", "redis.md"), encoding="utf-8") as handle:
        assert "| `redis_tcp_backlog` | int | `511` | Length of the listen backlog. |" in handle.read()
    again = subprocess.run([sys.executable, script, "--check", "--root", tree], capture_output=True, text=True,
                           check=False, timeout=300)
    assert again.returncode == 0, again.stderr


def lint_changelog(tree):
    exe = os.path.join(os.path.dirname(sys.executable), "antsibull-changelog")
    return subprocess.run([exe, "lint"], cwd=tree, capture_output=True, text=True, check=False, timeout=120)


def test_changelog_fragments_lint_clean():
    res = lint_changelog(ROOT)
    assert res.returncode == 0 and not res.stdout.strip(), res.stdout + res.stderr


def test_changelog_lint_catches_a_bad_fragment(tmp_path):
    shutil.copytree(os.path.join(ROOT, "changelogs"), tmp_path / "changelogs")
    shutil.copy(os.path.join(ROOT, "galaxy.yml"), tmp_path)
    (tmp_path / "changelogs" / "fragments" / "bad.yml").write_text("new_stuff:\n  - not a section antsibull knows\n")
    res = lint_changelog(str(tmp_path))
    assert res.returncode != 0 or "bad.yml" in res.stdout, res.stdout
