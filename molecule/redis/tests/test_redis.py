"""Verify the redis role: the server on svc1, seen from itself, from an allowed
app host (client1) and from a host that is not allowed (client2)."""

import hashlib
import os

import pytest
import yaml

# client1 and client2 are fixtures (labtest): test arguments of the same name are them.
# pylint: disable=redefined-outer-name
from labtest import client1, client2, firewall_admits_only  # noqa: F401  pylint: disable=unused-import

SCENARIO = os.environ["MOLECULE_SCENARIO_DIRECTORY"]
with open(os.path.join(SCENARIO, "vars", "test_secrets.yml")) as f:
    PASSWORD = yaml.safe_load(f)["redis_password"]

SERVER = "10.77.0.50"
PORT = 6379

testinfra_hosts = ["svc1"]


def cli(client, *args, password=PASSWORD, address=SERVER):
    """redis-cli against the server; the password goes in the environment, not argv."""
    env = "REDISCLI_AUTH=%s " % password if password else ""
    return client.run(env + "redis-cli -h %s -p %s " + " ".join(["%s"] * len(args)), address, str(PORT), *args)


def info(host, section):
    out = cli(host, "INFO", section, address="127.0.0.1")
    assert out.rc == 0, out.stderr
    return dict(line.split(":", 1) for line in out.stdout.splitlines() if ":" in line and not line.startswith("#"))


def test_server_running_and_enabled(host):
    service = host.service("redis-server")
    assert service.is_running
    assert service.is_enabled


def test_binds_loopback_and_private_address_only(host):
    assert host.socket("tcp://127.0.0.1:%d" % PORT).is_listening
    assert host.socket("tcp://%s:%d" % (SERVER, PORT)).is_listening
    assert not host.socket("tcp://0.0.0.0:%d" % PORT).is_listening
    conf = host.file("/etc/redis/redis.conf")
    assert conf.contains("^bind 127.0.0.1 -::1 %s$" % SERVER)
    assert conf.contains("^protected-mode yes$")


def test_allowed_client_pings_with_the_password(client1):
    res = client1.run("redis-cli -h %s -p %s -a %s --no-auth-warning PING", SERVER, str(PORT), PASSWORD)
    assert res.rc == 0, res.stderr
    assert res.stdout.strip() == "PONG"


def test_allowed_client_reads_and_writes(client1):
    assert cli(client1, "SET", "molecule:probe", "42", "EX", "60").stdout.strip() == "OK"
    assert cli(client1, "GET", "molecule:probe").stdout.strip() == "42"


def test_no_password_gets_noauth(client1):
    res = cli(client1, "PING", password=None)
    assert "NOAUTH" in res.stdout + res.stderr


def test_wrong_password_refused(client1):
    res = cli(client1, "PING", password="not-the-password")
    out = res.stdout + res.stderr
    assert "WRONGPASS" in out or "invalid username-password" in out, out
    assert "PONG" not in out


@pytest.mark.parametrize("command", [["FLUSHALL"], ["FLUSHDB"], ["CONFIG", "GET", "maxmemory"], ["KEYS", "*"],
                                     ["DEBUG", "SLEEP", "0"], ["SHUTDOWN"], ["ACL", "LIST"]])
def test_dangerous_commands_denied(client1, command):
    out = cli(client1, *command)
    text = out.stdout + out.stderr
    # DEBUG is refused even before the ACL (enable-debug-command no).
    assert "NOPERM" in text or "command not allowed" in text, text


def test_firewall_admits_the_app_host_and_drops_other_hosts(client1, client2):
    firewall_admits_only(client1, client2, SERVER, PORT)


def test_memory_settings(host):
    memtotal_mb = host.ansible("setup", "gather_subset=hardware")["ansible_facts"]["ansible_memtotal_mb"]
    memory = info(host, "memory")
    assert int(memory["maxmemory"]) == memtotal_mb * 25 // 100 * 1024 * 1024
    assert memory["maxmemory_policy"] == "allkeys-lru"


def test_config_and_acl_files_are_private(host):
    for path in ("/etc/redis/redis.conf", "/etc/redis/users.acl"):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("redis", "redis", 0o640), path
    acl = host.file("/etc/redis/users.acl")
    assert acl.contains("#%s" % hashlib.sha256(PASSWORD.encode()).hexdigest())


def test_password_not_in_process_list(host, client1):
    for h in (host, client1):
        assert PASSWORD not in h.check_output("ps -eo args")


def test_password_not_in_any_file(host):
    # Not even in files only root can read: the host keeps a hash.
    res = host.run("grep -rlF -- %s /etc /var/lib/redis /var/log /run /tmp /root /var/tmp", PASSWORD)
    assert res.rc == 1, "the password is in: %s" % res.stdout
