"""Monitoring end to end on mlb, mapp1, mapp2, mdb and mon: every scrape target
up, exporter ports open to mon only, journal lines shipped to mon's receiver,
and an InstanceDown alert delivered to the test webhook receiver and resolved."""

import json
import time
import uuid

import pytest
import requests

from labtest import lab_host, tcp_probe

MON = "10.77.0.30"
ADDRESSES = {"mlb": "10.77.0.90", "mapp1": "10.77.0.91", "mapp2": "10.77.0.92", "mdb": "10.77.0.93", "mon": MON}
PROMETHEUS = "http://%s:9090" % MON
ALERTMANAGER = "http://%s:9093" % MON
WEBHOOK_LOG = "/var/tmp/webhook.jsonl"
testinfra_hosts = ["mon"]  # other hosts are reached through lab_host()

# One target per exporter per host: (job, instance).
EXPECTED = {("node", name) for name in ADDRESSES} | {
    ("postgres", "mdb"), ("redis", "mdb"), ("haproxy", "mlb"), ("app", "mapp1"), ("app", "mapp2"),
    ("prometheus", "mon"), ("alertmanager", "mon"), ("blackbox-http", "https://10.77.0.90/health"),
}


def query(expr):
    res = requests.get(PROMETHEUS + "/api/v1/query", params={"query": expr}, timeout=10)
    res.raise_for_status()
    return res.json()["data"]["result"]


def wait_for(check, timeout, step=3):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def targets():
    res = requests.get(PROMETHEUS + "/api/v1/targets", params={"state": "active"}, timeout=10)
    res.raise_for_status()
    return {(t["labels"]["job"], t["labels"]["instance"]): t for t in res.json()["data"]["activeTargets"]}


def test_every_expected_target_is_up():
    def all_up():
        found = targets()
        return found if set(found) == EXPECTED and all(t["health"] == "up" for t in found.values()) else None

    found = wait_for(all_up, 90) or targets()
    assert set(found) == EXPECTED, "missing %s, unexpected %s" % (EXPECTED - set(found), set(found) - EXPECTED)
    down = {key: (t["health"], t["lastError"]) for key, t in found.items() if t["health"] != "up"}
    assert not down, down


@pytest.mark.parametrize("expr", ["pg_up", "redis_up", "probe_success",
                                  "probe_http_status_code == 200"])
def test_exporters_reach_their_services(expr):
    result = wait_for(lambda: [r for r in query(expr) if float(r["value"][1]) >= 1], 60)
    assert result, "%s is not 1 in Prometheus: %s" % (expr, query(expr))


def test_app_metrics_and_certificate_expiry_are_collected():
    assert query('sum(ultraai_http_requests_total{job="app"})'), "no request counters from the app"
    expiry = query("probe_ssl_earliest_cert_expiry")
    assert expiry and float(expiry[0]["value"][1]) > time.time(), expiry


def test_rules_are_loaded():
    res = requests.get(PROMETHEUS + "/api/v1/rules", timeout=10).json()
    names = {r["name"] for g in res["data"]["groups"] for r in g["rules"]}
    for alert in ("InstanceDown", "ApiErrorRatioHigh", "ApiLatencyP99High", "ApiEndpointErrors", "DiskWillFillIn24h",
                  "PostgresDown", "PostgresReplicationLag", "RedisMemoryHigh", "HAProxyBackendDown", "BackupStale",
                  "CertificateExpiringSoon"):
        assert alert in names


def test_retention_by_time_and_size(host):
    flags = requests.get(PROMETHEUS + "/api/v1/status/flags", timeout=10).json()["data"]
    assert flags["storage.tsdb.retention.time"] == "15d"
    assert flags["storage.tsdb.retention.size"] in ("5GB", "5GiB")  # Prometheus prints it in GiB


def test_node_exporter_reachable_from_mon_only(host):
    app1 = ADDRESSES["mapp1"]
    assert tcp_probe(host, app1, 9100) == "open"
    assert tcp_probe(lab_host(host, "mlb"), app1, 9100) != "open"
    assert tcp_probe(lab_host(host, "mapp2"), app1, 9181) != "open"
    assert tcp_probe(lab_host(host, "mapp1"), ADDRESSES["mdb"], 9187) != "open"


def test_journal_lines_from_app1_reach_the_receiver_within_60s(host):
    marker = "ultraai-monitoring-test-%s" % uuid.uuid4().hex
    lab_host(host, "mapp1").check_output("logger -t ultraai-test %s", marker)
    start = time.monotonic()

    def arrived():
        res = host.run("journalctl --directory=/var/log/journal/remote --no-pager -o cat --grep %s", marker)
        return res.rc == 0 and marker in res.stdout

    assert wait_for(arrived, 60, step=2), "the marker did not arrive on mon within 60 s"
    print("journal line arrived after %.1f s" % (time.monotonic() - start))


def webhook_lines(host):
    return host.run("cat %s", WEBHOOK_LOG).stdout.splitlines()


def webhook_payloads(host, status, skip=0):
    found = []
    for line in webhook_lines(host)[skip:]:
        payload = json.loads(line)["payload"]
        for alert in payload["alerts"]:
            if (alert["labels"].get("alertname") == "InstanceDown" and alert["labels"].get("instance") == "mapp2"
                    and alert["labels"].get("job") == "app" and alert["status"] == status):
                found.append((payload, alert))
    return found


def test_app_down_fires_instance_down_to_the_webhook_and_resolves(host):
    app2 = lab_host(host, "mapp2")
    # Only notifications sent from now on count (converge itself can make
    # targets blink while the firewall opens).
    wait_for(lambda: not query('ALERTS{alertname="InstanceDown"}'), 120, step=5)
    seen = len(webhook_lines(host))
    app2.check_output("systemctl stop ultraai.socket ultraai.service")
    try:
        fired = wait_for(lambda: webhook_payloads(host, "firing", seen), 180, step=5)
        assert fired, "no InstanceDown for mapp2 reached the webhook within 180 s"
        payload, alert = fired[0]
        assert payload["version"] == "4"
        assert payload["receiver"] == "test-webhook"
        assert payload["status"] == "firing"
        assert payload["groupLabels"] == {"alertname": "InstanceDown", "instance": "mapp2"}
        assert alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["summary"] == "app on mapp2 is down"
        assert alert["generatorURL"].startswith("http://")
    finally:
        app2.check_output("systemctl start ultraai.socket")
    resolved = wait_for(lambda: webhook_payloads(host, "resolved", seen), 120, step=5)
    assert resolved, "InstanceDown for mapp2 was not resolved at the webhook within 120 s of the restart"
    assert resolved[0][0]["receiver"] == "test-webhook"
    assert resolved[0][1]["endsAt"] > resolved[0][1]["startsAt"]
