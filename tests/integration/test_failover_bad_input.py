"""Bad input to failover.yml and to the postgresql role's replication variables is
refused with a clear message before any host is contacted (every host of the
inventories below is unreachable on purpose)."""

import json
import os

import pytest

from conftest import ROOT, run

FILES = os.path.join(ROOT, "tests", "integration", "files")
FAILOVER = os.path.join(ROOT, "playbooks", "failover.yml")

NOWHERE = "ansible_host=127.0.0.1 ansible_port=9 ansible_user=nobody ansible_connection=ssh"
INVENTORY = """
[balancers]
lb1 {h}
[app]
app1 {h}
[database]
db1 {h}
db2 {h} postgresql_replication_role=replica postgresql_replication_primary=db1
[cache]
db1
"""

ROLE_GOOD = {
    "role_under_test": "postgresql",
    "postgresql_db_password": "pg-secret-value", "postgresql_listen_address": "10.0.0.5",
    "postgresql_allowed_clients": ["10.0.0.11"],
}


def refused(res, message):
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert message in out, out
    assert "UNREACHABLE" not in out, "a host was contacted before the input was refused:\n" + out
    assert "changed=" not in out or "changed=0" in out, out


def extra_file(tmp_path, values):
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(values))
    return "@%s" % path


def inventory(tmp_path, text=INVENTORY):
    path = tmp_path / "hosts.ini"
    path.write_text(text.format(h=NOWHERE))
    return str(path)


FAILOVER_CASES = [
    ("no host to promote", {}, "failover_new_primary must name the replica to promote"),
    ("host to promote not in the inventory", {"failover_new_primary": "db9"},
     "failover_new_primary must name the replica to promote"),
    ("host to promote not a database host", {"failover_new_primary": "app1"},
     "failover_new_primary must name the replica to promote"),
    ("host to promote is the primary", {"failover_new_primary": "db1"},
     "db1 must be set as a replica (postgresql_replication_role=replica)"),
    ("old primary is the host to promote", {"failover_new_primary": "db2", "failover_old_primary": "db2"},
     "db2 must be set as a replica (postgresql_replication_role=replica)"),
    ("old primary not a database host", {"failover_new_primary": "db2", "failover_old_primary": "app1"},
     "the old primary (failover_old_primary"),
    ("outage start not a time", {"failover_new_primary": "db2", "failover_outage_started": "yesterday"},
     "failover_outage_started must be a past time in epoch seconds"),
    ("outage start in the future", {"failover_new_primary": "db2", "failover_outage_started": 32503680000},
     "failover_outage_started must be a past time in epoch seconds"),
    ("resume not a boolean", {"failover_new_primary": "db2", "failover_resume": "maybe"},
     "failover_resume and failover_write_probe"),
]


@pytest.mark.parametrize("extra,message", [c[1:] for c in FAILOVER_CASES], ids=[c[0] for c in FAILOVER_CASES])
def test_failover_refuses_bad_input_before_contact(ansible_env, tmp_path, extra, message):
    res = run(["ansible-playbook", "-i", inventory(tmp_path), "-e", extra_file(tmp_path, extra), FAILOVER],
              ansible_env)
    refused(res, message)


def test_failover_refuses_an_inventory_without_app_hosts(ansible_env, tmp_path):
    text = INVENTORY.replace("[app]\napp1 {h}\n", "[app]\n")
    res = run(["ansible-playbook", "-i", inventory(tmp_path, text), "-e", "failover_new_primary=db2", FAILOVER],
              ansible_env)
    refused(res, "the inventory needs app and")


def test_failover_with_good_input_gets_as_far_as_the_replica(ansible_env, tmp_path):
    """Control case: valid input passes the controller's checks and only then fails on the host."""
    res = run(["ansible-playbook", "-i", inventory(tmp_path), "-e", "failover_new_primary=db2",
               "-e", "postgresql_db_password=pg-secret-value", "-e", "postgresql_replication_password=repl-secret",
               FAILOVER], ansible_env)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "UNREACHABLE" in out, out


ROLE_CASES = [
    ("unknown replication role", {"postgresql_replication_role": "standby"},
     "postgresql_replication_role must be one of: primary, replica"),
    ("replica without a primary", {"postgresql_replication_role": "replica",
                                   "postgresql_replication_password": "repl-secret"},
     "is a replica (postgresql_replication_role=replica): set"),
    ("replica of itself", {"postgresql_replication_role": "replica", "postgresql_replication_primary": "target",
                           "postgresql_replication_password": "repl-secret"},
     "is a replica (postgresql_replication_role=replica): set"),
    ("replica of a host not in the inventory", {"postgresql_replication_role": "replica",
                                                "postgresql_replication_primary": "db9",
                                                "postgresql_replication_password": "repl-secret"},
     "is a replica (postgresql_replication_role=replica): set"),
    ("replica without a password", {"postgresql_replication_role": "replica",
                                    "postgresql_replication_primary": "other"},
     "is a replica (postgresql_replication_role=replica): set"),
    ("replication user is the superuser", {"postgresql_replication_user": "postgres"},
     "Replication settings are invalid"),
    ("replication user is the application user", {"postgresql_replication_user": "ultraai"},
     "Replication settings are invalid"),
    ("replication slot name with a dash", {"postgresql_replication_slot": "db-2"},
     "Replication settings are invalid"),
    ("replication client not an address", {"postgresql_replication_clients": ["db2.example.com"]},
     "Replication settings are invalid"),
]


@pytest.mark.parametrize("extra,message", [c[1:] for c in ROLE_CASES], ids=[c[0] for c in ROLE_CASES])
def test_postgresql_refuses_bad_replication_input_before_contact(ansible_env, tmp_path, extra, message):
    text = "[all]\ntarget {h}\nother {h}\n"
    res = run(["ansible-playbook", "-i", inventory(tmp_path, text), "--limit", "target",
               "-e", extra_file(tmp_path, dict(ROLE_GOOD, **extra)), os.path.join(FILES, "service_roles.yml")],
              ansible_env)
    refused(res, message)
