"""Bad input to playbooks/monitoring.yml is refused with a clear message before
any host is contacted (the inventory's hosts are unreachable on purpose: a run
that got as far as a host would fail as UNREACHABLE instead)."""

import json
import os

import pytest

from conftest import ROOT, run

PLAYBOOK = os.path.join(ROOT, "playbooks", "monitoring.yml")
INVENTORY = """\
[monitoring]
mon ansible_host=192.0.2.30
[app]
app1 ansible_host=192.0.2.11
[all:vars]
ansible_connection=ssh
ansible_ssh_common_args=-o ConnectTimeout=2 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
"""

CASES = [
    ("unknown alert receiver type",
     {"monitoring_server_alert_receivers": [{"name": "ops", "type": "pager", "url": "http://x/"}]},
     "type one of webhook, email"),
    ("webhook receiver without a url",
     {"monitoring_server_alert_receivers": [{"name": "ops", "type": "webhook"}]},
     "A webhook receiver needs url"),
    ("email receiver without an SMTP server",
     {"monitoring_server_alert_receivers": [{"name": "ops", "type": "email", "to": "ops@example.com"}]},
     "email receivers need monitoring_server_smtp_smarthost"),
    ("scrape interval above the evaluation interval",
     {"monitoring_server_scrape_interval": "1m", "monitoring_server_evaluation_interval": "30s"},
     "must be a Prometheus duration above zero and not above monitoring_server_evaluation_interval"),
    ("retention time of 0",
     {"monitoring_server_retention_time": "0"},
     "Retention must be above zero"),
    ("retention time of 0d",
     {"monitoring_server_retention_time": "0d"},
     "Retention must be above zero"),
    ("retention size of 0",
     {"monitoring_server_retention_size": "0GB"},
     "Retention must be above zero"),
    ("log retention of 0",
     {"monitoring_server_journal_retention": "0d"},
     "Retention must be above zero"),
    ("exporter port clash",
     {"monitoring_agent_redis_exporter_port": 9100},
     "must be different numbers from 1 to 65535"),
]


def play(ansible_env, tmp_path, extra):
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(INVENTORY)
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(json.dumps(extra))
    res = run(["ansible-playbook", "-i", str(inventory), "-e", "@%s" % extra_file, PLAYBOOK], ansible_env)
    return res, res.stdout + res.stderr


@pytest.mark.parametrize("extra,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_refused_before_contact(ansible_env, tmp_path, extra, message):
    res, out = play(ansible_env, tmp_path, extra)
    assert res.returncode != 0, out
    assert message in " ".join(out.split()), out
    assert "UNREACHABLE" not in out, "a host was contacted before the input was refused:\n" + out
    assert "changed=" in out and "changed=1" not in out, out


def test_good_input_gets_as_far_as_the_host(ansible_env, tmp_path):
    """Control case: valid input passes the checks and only then fails on the (unreachable) host."""
    res, out = play(ansible_env, tmp_path, {
        "monitoring_server_alert_receivers": [
            {"name": "ops-hook", "type": "webhook", "url": "https://hooks.example.com/alerts"},
            {"name": "ops-mail", "type": "email", "to": "ops@example.com"}],
        "monitoring_server_smtp_smarthost": "smtp.example.com:587",
        "monitoring_server_smtp_from": "alerts@example.com",
        "monitoring_server_scrape_interval": "15s",
        "monitoring_server_evaluation_interval": "30s",
        "monitoring_agent_allowed_sources": ["192.0.2.30"],
    })
    assert res.returncode != 0
    assert "UNREACHABLE" in out, out
