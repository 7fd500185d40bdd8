"""Verify the base role on a converged lab host, from inside and from outside."""

import json
import os
import shlex
import subprocess
import time

import pytest
from labtest import reachable

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
ADMIN_KEY = os.path.join(EPHEMERAL, "admin_ed25519")
SSH_OPTS = [
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=5",
    "-o", "LogLevel=ERROR",
]


@pytest.fixture(scope="module")
def address(host):
    return host.ansible.get_variables()["ansible_host"]


def ssh(address, user, command, key=ADMIN_KEY, extra=()):
    return subprocess.run(
        ["ssh", "-i", key, "-o", "IdentitiesOnly=yes", *SSH_OPTS, *extra, "%s@%s" % (user, address), command],
        capture_output=True, text=True, timeout=30, check=False)


def sshd_effective(host):
    out = host.check_output("sshd -T")
    conf = {}
    for line in out.splitlines():
        key, dummy, value = line.partition(" ")
        conf.setdefault(key, value)
    return conf


def test_sshd_effective_config(host):
    conf = sshd_effective(host)
    assert conf["passwordauthentication"] == "no"
    assert conf["kbdinteractiveauthentication"] == "no"
    assert conf["permitemptypasswords"] == "no"
    assert conf["permitrootlogin"] == "without-password"
    assert conf["pubkeyauthentication"] == "yes"
    assert conf["authenticationmethods"] == "publickey"
    assert conf["x11forwarding"] == "no"
    assert conf["maxauthtries"] == "3"
    assert conf["ciphers"].split(",") == [
        "chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
        "aes256-ctr", "aes192-ctr", "aes128-ctr"]
    assert all(mac.endswith("-etm@openssh.com") for mac in conf["macs"].split(","))
    kex = conf["kexalgorithms"].split(",")
    assert "diffie-hellman-group14-sha1" not in kex and "diffie-hellman-group1-sha1" not in kex
    assert kex[0] == "sntrup761x25519-sha512@openssh.com"


def test_sshd_refuses_weak_cipher(address):
    res = subprocess.run(
        ["ssh", "-o", "LogLevel=INFO", "-o", "Ciphers=aes128-cbc", *SSH_OPTS, "root@%s" % address, "true"],
        capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode != 0
    assert "no matching cipher" in res.stderr


def test_nftables_input_policy_drop_with_ssh_rule(host):
    ruleset = json.loads(host.check_output("nft --json list table inet ultraai"))["nftables"]
    chains = {item["chain"]["name"]: item["chain"] for item in ruleset if "chain" in item}
    assert chains["input"]["hook"] == "input"
    assert chains["input"]["policy"] == "drop"
    rules = [item["rule"] for item in ruleset if "rule" in item and item["rule"]["chain"] == "input"]
    ssh_rules = [r for r in rules if r.get("comment") == "base: ssh"]
    assert ssh_rules, "no ssh rule in the input chain"
    text = json.dumps(ssh_rules[0]["expr"])
    assert '"dport"' in text and "22" in text and '"accept"' in text
    assert host.service("nftables").is_enabled


def listen(host, port):
    host.check_output(
        "systemd-run --unit probe-%d --collect python3 -m http.server %d" % (port, port))
    for dummy in range(50):
        if host.socket("tcp://0.0.0.0:%d" % port).is_listening:
            return
        time.sleep(0.1)
    raise AssertionError("probe on %d did not start" % port)


def test_firewall_drops_unlisted_ports_and_allows_dropins(host, address):
    listen(host, 8088)
    listen(host, 8089)
    try:
        local = host.check_output(
            "python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:8089/').status)\"")
        assert local == "200", "the probe must serve locally, or the test proves nothing"
        assert reachable(address, 8088), "the molecule-probe drop-in should open 8088 to the controller"
        assert not reachable(address, 8089), "8089 is not allowed and must be dropped"
    finally:
        host.run("systemctl stop probe-8088 probe-8089")


def test_chrony_active(host):
    chrony = host.service("chrony")
    assert chrony.is_running
    assert chrony.is_enabled
    tracking = host.run("chronyc -n tracking")
    assert tracking.rc == 0, tracking.stderr


def test_admin_logs_in_by_key_and_uses_sudo(address):
    res = ssh(address, "ops", "sudo -n id -u")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "0"


def test_admin_without_sudo_cannot_sudo(address):
    res = ssh(address, "auditor", "sudo -n true")
    assert res.returncode != 0
    assert ssh(address, "auditor", "id -un").stdout.strip() == "auditor"


def test_password_login_refused(address):
    res = subprocess.run(
        ["ssh", *SSH_OPTS, "-o", "PreferredAuthentications=password,keyboard-interactive",
         "-o", "PubkeyAuthentication=no", "ops@%s" % address, "true"],
        capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode != 0
    assert "Permission denied (publickey)" in res.stderr


def test_journald_limits(host):
    conf = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    effective = {}
    for line in conf.splitlines():
        if "=" in line and not line.startswith("#"):
            key, dummy, value = line.partition("=")
            effective[key.strip()] = value.strip()  # later files win, as in journald
    assert effective["SystemMaxUse"] == "200M"
    assert effective["MaxRetentionSec"] == "2week"
    assert effective["Storage"] == "persistent"
    assert effective["SystemKeepFree"] == "1G"
    assert host.file("/var/log/journal").is_directory
    assert host.service("systemd-journald").is_running


def test_unattended_upgrades_enabled(host):
    dump = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    assert 'APT::Periodic::Update-Package-Lists "1";' in dump
    assert "label=Debian-Security" in dump
    assert host.package("unattended-upgrades").is_installed
    assert host.service("apt-daily-upgrade.timer").is_enabled


def test_sysctl_written_and_guarded(host):
    conf = host.file("/etc/sysctl.d/60-ultraai-hardening.conf")
    assert conf.contains("net.ipv4.tcp_syncookies = 1")
    assert conf.contains("kernel.kptr_restrict = 2")


# Last in this file: it runs the scenario's converge again.
def test_admin_dropped_from_the_inventory_can_no_longer_log_in(host, address):
    """An admin the role once made (in the admin group, with a key) who is no
    longer in base_admin_users logs in until the next run of the role, and not
    after it."""
    with open(ADMIN_KEY + ".pub", encoding="utf-8") as fh:
        key = fh.read().strip()
    host.run_expect([0], "useradd -m -s /bin/bash -G ultraai-admins mallory")
    host.run_expect([0], "install -d -m 0700 -o mallory -g mallory ~mallory/.ssh && "
                    "echo %s > ~mallory/.ssh/authorized_keys && "
                    "chown mallory: ~mallory/.ssh/authorized_keys && chmod 0600 ~mallory/.ssh/authorized_keys"
                    % shlex.quote(key))
    before = ssh(address, "mallory", "id -un")
    assert before.returncode == 0 and before.stdout.strip() == "mallory", before.stderr  # the way in exists

    converge = os.path.join(os.path.dirname(os.path.dirname(__file__)), "converge.yml")
    res = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], converge],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "changed: [node1] => (item=mallory)" in res.stdout, res.stdout[-3000:]

    after = ssh(address, "mallory", "id -un")
    assert after.returncode != 0, after.stdout
    assert "Permission denied" in after.stderr, after.stderr
    assert not host.user("mallory").exists
    assert host.file("/home/mallory").is_directory  # the home directory is kept
    assert "mallory" not in host.check_output("getent group ultraai-admins").rsplit(":", 1)[1].split(",")
