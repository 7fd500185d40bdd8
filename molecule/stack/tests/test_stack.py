"""The whole stack, proved through the balancer over HTTPS and from inside the lab."""

import socket
import uuid

import pytest
import requests
import urllib3

from labtest import lab_host

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

LB = "10.77.0.10"
APP1 = "10.77.0.11"
DB = "10.77.0.20"
BASE = "https://%s" % LB
testinfra_hosts = ["lb"]  # other hosts are reached through lab_host()


@pytest.fixture(scope="module")
def session():
    s = requests.Session()
    s.verify = False  # the lab's certificate is self-signed
    s.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides verify=False
    return s


@pytest.fixture(scope="module")
def token(session):
    user = "user-%s" % uuid.uuid4().hex[:8]
    res = session.post(BASE + "/api/auth/register", json={"username": user, "password": "correct horse"}, timeout=10)
    assert res.status_code == 201, res.text
    res = session.post(BASE + "/api/auth/login", json={"username": user, "password": "correct horse"}, timeout=10)
    assert res.status_code == 200, res.text
    return res.json()["access_token"]


def test_health_through_the_balancer(session):
    res = session.get(BASE + "/health", timeout=10)
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "cache": "ok"}


def test_front_end_through_the_balancer(session):
    res = session.get(BASE + "/", timeout=10)
    assert res.status_code == 200
    assert "UltraAI" in res.text


def test_http_redirects_to_https():
    res = requests.get("http://%s/health" % LB, allow_redirects=False, timeout=10)
    assert res.status_code in (301, 302, 308)
    assert res.headers["Location"].startswith("https://")


def test_both_app_hosts_serve(session):
    served = {session.get(BASE + "/api/version", timeout=10).headers.get("X-Served-By") for dummy in range(12)}
    assert {"app1", "app2"} <= served, served


def test_login_upload_analyze_and_row_in_postgresql(session, token, host):
    auth = {"Authorization": "Bearer %s" % token}
    content = ("UltraAI stack test %s\n" % uuid.uuid4()).encode()
    res = session.post(BASE + "/api/documents", headers=auth, files={"file": ("notes.txt", content)}, timeout=20)
    assert res.status_code == 201, res.text
    doc = res.json()
    res = session.post(BASE + "/api/analyze", headers=auth, timeout=20,
                       json={"document_id": doc["id"], "provider": "echo", "prompt": "summarise"})
    assert res.status_code == 200, res.text
    assert res.json()["provider"] == "echo"
    assert content.decode().strip()[:20] in res.json()["result"]
    assert session.post(BASE + "/api/documents", files={"file": ("x.txt", b"x")}, timeout=10).status_code == 401

    db = lab_host(host, "db")
    row = db.check_output(
        "runuser -u postgres -- psql -d ultraai -tAc \"SELECT sha256 || ' ' || size FROM documents WHERE id = '%s'\""
        % doc["id"])
    assert row == "%s %d" % (doc["sha256"], len(content))


def tcp_from(host, address, port):
    return host.run("timeout 3 bash -c '</dev/tcp/%s/%d'" % (address, port)).rc == 0


@pytest.mark.parametrize("port", [5432, 6379])
def test_database_and_cache_closed_to_the_balancer(host, port):
    assert not tcp_from(host, DB, port)


@pytest.mark.parametrize("port", [5432, 6379])
def test_database_and_cache_open_to_app_hosts(host, port):
    assert tcp_from(lab_host(host, "app1"), DB, port)


def test_app_port_only_from_balancers(host):
    assert tcp_from(host, APP1, 8080), "the balancer must reach the app port"
    for port in (8080, 8000):
        try:
            with socket.create_connection((APP1, port), timeout=3):
                reachable = True
        except OSError:
            reachable = False
        assert not reachable, "the controller must not reach port %d on app1" % port


def test_app_service_hardened_and_secrets_private(host):
    host = lab_host(host, "app1")
    env = host.file("/etc/ultraai/ultraai.env")
    assert env.mode == 0o600 and env.user == "root"
    props = host.check_output("systemctl show ultraai.service -p NoNewPrivileges -p ProtectSystem -p PrivateTmp -p User")
    assert "NoNewPrivileges=yes" in props and "ProtectSystem=strict" in props and "PrivateTmp=yes" in props
    assert "User=ultraai" in props
    assert host.socket("tcp://127.0.0.1:8000").is_listening
    current = host.file("/opt/ultraai/current")
    assert current.is_symlink and current.linked_to == "/opt/ultraai/releases/1.0.0"
