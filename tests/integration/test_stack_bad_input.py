"""Bad input to the stack is refused with a clear message before any host is contacted."""

import hashlib
import json
import os

import pytest

from conftest import ROOT, run

FILES = os.path.join(ROOT, "tests", "integration", "files")
VERSION = "9.8.7"


@pytest.fixture
def release(tmp_path):
    """A fake release directory with a valid manifest (the roles only check it)."""
    rel = tmp_path / "dist"
    rel.mkdir()
    files = {}
    for component, name in (("backend", "ultraai-%s.tar.gz" % VERSION), ("frontend", "ultraai-frontend-%s.tar.gz" % VERSION)):
        data = ("%s artifact" % component).encode()
        (rel / name).write_bytes(data)
        files[component] = {"file": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    manifest = dict(name="ultraai", version=VERSION, entry_point="ultraai.main:app",
                    migrate_command="ultraai-migrate", **files)
    (rel / ("ultraai-%s.manifest.json" % VERSION)).write_text(json.dumps(manifest))
    return rel


def base_vars(release):
    return {
        "app_version": VERSION, "frontend_version": VERSION,
        "app_release_dir": str(release), "frontend_release_dir": str(release),
        "app_database_password": "pw-db", "app_redis_password": "pw-redis",
        "app_jwt_secret": "j" * 40, "app_database_host": "10.0.0.5", "app_redis_host": "10.0.0.5",
        "frontend_allowed_sources": ["10.0.0.2"],
    }


def play(ansible_env, tmp_path, extra, inventory="unreachable.ini", playbook=os.path.join(FILES, "app_role.yml")):
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(extra))
    res = run(["ansible-playbook", "-i", os.path.join(FILES, inventory), "-e", "@%s" % extra_file, playbook],
              ansible_env)
    return res.returncode, res.stdout + res.stderr


def tamper(release):
    (release / ("ultraai-%s.tar.gz" % VERSION)).write_bytes(b"tampered")


def remove(release):
    (release / ("ultraai-%s.tar.gz" % VERSION)).unlink()


def drop_manifest(release):
    (release / ("ultraai-%s.manifest.json" % VERSION)).unlink()


CASES = [
    ("artifact sha256 does not match the manifest", tamper, {}, "does not match the manifest"),
    ("missing artifact", remove, {}, "backend artifact"),
    ("missing manifest", drop_manifest, {}, "no manifest for ultraai 9.8.7"),
    ("malformed app port", None, {"app_port": "80a"}, "app_port"),
    ("app port out of range", None, {"app_port": 70000}, "ports must be 1-65535"),
    ("malformed frontend port", None, {"frontend_port": "http"}, "frontend_port"),
    ("bad version", None, {"app_version": "latest"}, "app_version must look like 1.4.2"),
    ("short JWT secret", None, {"app_jwt_secret": "short"}, "at least 32 characters"),
    ("missing database password", None, {"app_database_password": None}, "app_database_password"),
]


@pytest.mark.parametrize("damage,extra,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_before_contact(ansible_env, tmp_path, release, damage, extra, message):
    if damage:
        damage(release)
    variables = base_vars(release)
    for key, value in extra.items():
        if value is None:
            variables.pop(key)
        else:
            variables[key] = value
    rc, out = play(ansible_env, tmp_path, variables)
    assert rc != 0, out
    assert message in out, out
    assert "UNREACHABLE" not in out, "a host was contacted before the input was refused:\n" + out
    assert "changed=0" in out


def test_good_input_gets_as_far_as_the_host(ansible_env, tmp_path, release):
    rc, out = play(ansible_env, tmp_path, base_vars(release))
    assert rc != 0 and "UNREACHABLE" in out, out


def test_inventory_without_app_hosts(ansible_env, tmp_path):
    rc, out = play(ansible_env, tmp_path, {}, inventory="no_app_hosts.ini",
                   playbook=os.path.join(ROOT, "playbooks", "site.yml"))
    assert rc != 0, out
    assert "The inventory must put hosts in the groups app, balancers, database and cache" in out
    assert "app=[]" in out
    assert "UNREACHABLE" not in out
