"""Bad input to the postgresql, redis and loadbalancer roles is refused before the
host is contacted (the target is unreachable on purpose)."""

import json
import os

import pytest

from conftest import ROOT, run

FILES = os.path.join(ROOT, "tests", "integration", "files")

GOOD = {
    "postgresql_db_password": "pg-secret-value", "postgresql_listen_address": "10.0.0.5",
    "postgresql_allowed_clients": ["10.0.0.11"],
    "redis_password": "redis-secret-value", "redis_bind_address": "10.0.0.5", "redis_allowed_clients": ["10.0.0.11"],
    "loadbalancer_backends": [{"name": "app1", "address": "10.0.0.11", "port": 8080}],
}

CASES = [
    ("postgresql port not a number", {"postgresql_port": "five"}, "postgresql_port"),
    ("postgresql port out of range", {"postgresql_port": 70000}, "65535"),
    ("postgresql empty password", {"postgresql_db_password": ""}, "postgresql_db_password"),
    ("postgresql client not an address", {"postgresql_allowed_clients": ["app.example.com"]}, "postgresql_allowed_clients"),
    # The two below passed the address regex the roles used before the ip_address test.
    ("postgresql client out of range", {"postgresql_allowed_clients": ["999.1.1.1"]}, "postgresql_allowed_clients"),
    ("redis client prefix too long", {"redis_allowed_clients": ["10.0.0.0/33"]}, "redis_allowed_clients"),
    ("redis unknown eviction policy", {"redis_maxmemory_policy": "random"}, "redis_maxmemory_policy"),
    ("redis empty password", {"redis_password": ""}, "redis_password"),
    ("redis port out of range", {"redis_port": 0}, "redis_port"),
    ("loadbalancer no backends", {"loadbalancer_backends": [], "loadbalancer_backend_group": "nothing"},
     "No backend servers"),
    ("loadbalancer port not a number", {"loadbalancer_https_port": "https"}, "loadbalancer_https_port"),
    ("loadbalancer unknown balance algorithm", {"loadbalancer_balance": "fastest"}, "loadbalancer_balance"),
]


# The role under test is the prefix of the first variable a case sets.
@pytest.mark.parametrize("extra,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_before_contact(ansible_env, tmp_path, extra, message):
    variables = dict(GOOD, role_under_test=next(k for k in extra).split("_")[0], **extra)
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(variables))
    res = run(["ansible-playbook", "-i", os.path.join(FILES, "unreachable.ini"), "-e", "@%s" % extra_file,
               os.path.join(FILES, "service_roles.yml")], ansible_env)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert message in out, out
    assert "UNREACHABLE" not in out, "the host was contacted before the input was refused:\n" + out
    assert "changed=0" in out


@pytest.mark.parametrize("role", ["postgresql", "redis", "loadbalancer"])
def test_good_input_gets_as_far_as_the_host(ansible_env, tmp_path, role):
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(dict(GOOD, role_under_test=role)))
    res = run(["ansible-playbook", "-i", os.path.join(FILES, "unreachable.ini"), "-e", "@%s" % extra_file,
               os.path.join(FILES, "service_roles.yml")], ansible_env)
    assert "UNREACHABLE" in res.stdout + res.stderr, res.stdout
