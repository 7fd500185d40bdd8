"""Verify the loadbalancer role: edge1 balances HTTPS over the nginx test
backends on web1 and web2. Requests go from the controller (the lab gateway,
10.77.0.1) as a user's would; the admin socket is driven on edge1."""

import http.client
import os
import re
import socket
import ssl
import threading
import time

import pytest
import requests
import testinfra
from cryptography import x509
from labtest import reachable

# The lab certificate is self-signed: requests skip verification on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

testinfra_hosts = ["edge1"]

BALANCER = "10.77.0.60"
BACKENDS = {"web1": "10.77.0.61", "web2": "10.77.0.62"}
CONTROLLER = "10.77.0.1"
SOCKET = "/run/haproxy/admin.sock"


def backend_host(name):
    return testinfra.get_host("ansible://%s?ansible_inventory=%s" % (name, os.environ["MOLECULE_INVENTORY_FILE"]))


def get(path, scheme="https", port=None, headers=None):
    url = "%s://%s%s%s" % (scheme, BALANCER, ":%d" % port if port else "", path)
    return requests.get(url, verify=False, timeout=5, allow_redirects=False, headers=headers or {})


def raw_status(path):
    """Status of a GET whose path is sent exactly as written (requests
    would resolve dot segments before sending)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(BALANCER, 443, timeout=5, context=ctx)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def served_by(response):
    found = re.search(r"served by (\S+)<", response.text)
    return found.group(1) if found else None


def spread(count=12):
    """Which backend answered each of <count> requests (each on a new connection)."""
    answers = []
    for dummy in range(count):
        res = get("/")
        assert res.status_code == 200, res.text
        answers.append(served_by(res))
    return answers


def admin(host, command):
    return host.check_output('echo "%s" | socat stdio %s' % (command, SOCKET))


def server_states(host):
    """{server: (op_state, admin_state)} from "show servers state app"."""
    states = {}
    for line in admin(host, "show servers state app").splitlines():
        fields = line.split()
        if len(fields) > 6 and fields[1] == "app":
            states[fields[3]] = (int(fields[5]), int(fields[6]))
    return states


def wait_for_state(host, server, op_state, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server_states(host).get(server, (None,))[0] == op_state:
            return time.monotonic() - (deadline - timeout)
        time.sleep(0.5)
    raise AssertionError("%s did not reach op state %d in %ds: %s" % (server, op_state, timeout, server_states(host)))


def local_get(host, url):
    """Status and body of an HTTP GET made on the host itself."""
    res = host.run(
        "python3 -c \"import sys, urllib.request as u, urllib.error as e\n"
        "try:\n r = u.urlopen('%s', timeout=5); print(r.status); print(r.read().decode())\n"
        "except e.HTTPError as x:\n print(x.code)\"" % url)
    assert res.rc == 0, res.stderr
    status, dummy, body = res.stdout.partition("\n")
    return int(status), body


def handshake(minimum, maximum, ciphers=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = minimum
    ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection((BALANCER, 443), timeout=5) as sock:
        with ctx.wrap_socket(sock) as tls:
            return tls.version(), tls.cipher()[0], tls.selected_alpn_protocol(), tls.getpeercert(binary_form=True)


@pytest.fixture
def all_ready(host):
    """Leave every server ready and UP, whatever the test did."""
    yield
    for name in BACKENDS:
        admin(host, "set server app/%s state ready" % name)
    for name in BACKENDS:
        wait_for_state(host, name, 2)


def test_config_checks_and_files(host):
    assert host.run("haproxy -c -f /etc/haproxy/haproxy.cfg").rc == 0
    key = host.file("/etc/haproxy/ssl/frontend.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)
    # No second copy of the key: HAProxy loads frontend.key beside frontend.crt.
    assert not host.file("/etc/haproxy/ssl/frontend.pem").exists
    assert "ssl crt /etc/haproxy/ssl/frontend.crt " in host.file("/etc/haproxy/haproxy.cfg").content_string
    conf = host.file("/etc/haproxy/haproxy.cfg")
    assert (conf.user, conf.group, conf.mode) == ("root", "haproxy", 0o640)
    assert host.service("haproxy").is_enabled
    assert host.service("haproxy").is_running


def test_https_balances_over_both_backends(host):
    # Roundrobin's even spread holds while both servers are UP. Under the suite's
    # load a health check can time out twice (fall 2) and take a server out for
    # a few seconds; that is the checks working (test_stopped_backend_is_marked_down_and_traffic_goes_on),
    # not the balancing this test is about, so it starts once both are UP.
    for name in BACKENDS:
        wait_for_state(host, name, 2, timeout=30)
    answers = spread()
    assert set(answers) == set(BACKENDS), answers
    assert abs(answers.count("web1") - answers.count("web2")) <= 1, "roundrobin: %s, servers now: %s" % (
        answers, server_states(host))


def test_http_redirects_to_https():
    res = get("/some/page?q=1", scheme="http")
    assert res.status_code == 301
    assert res.headers["Location"] == "https://%s/some/page?q=1" % BALANCER


def test_security_headers_on_backend_and_haproxy_answers():
    for res in (get("/"), get("/metrics")):
        headers = res.headers
        assert headers["Strict-Transport-Security"] == "max-age=63072000"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert "Server" not in headers, headers.get("Server")


def test_forwarding_headers_cannot_be_spoofed():
    res = get("/headers", headers={"X-Forwarded-For": "192.0.2.66", "X-Forwarded-Proto": "http"})
    assert res.status_code == 200
    assert res.text.strip() == "xff=%s proto=https" % CONTROLLER


def test_tls_versions_and_ciphers():
    with pytest.raises(ssl.SSLError) as refused:
        handshake(ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_1, ciphers="DEFAULT:@SECLEVEL=0")
    # The server's alert, not the client refusing to try.
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", refused.value
    with pytest.raises(ssl.SSLError) as weak:
        handshake(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, ciphers="AES128-SHA:ECDHE-RSA-AES128-SHA:@SECLEVEL=0")
    assert weak.value.reason == "SSLV3_ALERT_HANDSHAKE_FAILURE", weak.value

    version, cipher, dummy, dummy = handshake(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2)
    assert version == "TLSv1.2"
    assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher
    version, dummy, alpn, dummy = handshake(ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3, alpn=["h2", "http/1.1"])
    assert (version, alpn) == ("TLSv1.3", "h2")


def test_self_signed_certificate_names_the_balancer():
    der = handshake(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)[3]
    cert = x509.load_der_x509_certificate(der)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["edge1"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == [BALANCER]


@pytest.mark.parametrize("path,status", [
    ("/metrics", 403),
    ("/metrics/", 403),
    ("/METRICS", 403),
    ("//metrics", 403),
    ("/%6detrics", 403),
    ("/./metrics", 400),
    ("/x/../metrics", 400),
    ("/x/%2e%2e/metrics", 400),
    ("/metricsfoo", 200),  # not below /metrics: the backend answers
])
def test_metrics_refused_on_the_public_frontend(host, path, status):
    # The backend serves /metrics itself: the refusal is the balancer's.
    assert local_get(host, "http://%s:8080/metrics" % BACKENDS["web1"])[0] == 200
    assert raw_status(path) == status


def test_prometheus_endpoint_on_the_private_address_only(host):
    status, body = local_get(host, "http://%s:8405/metrics" % BALANCER)
    assert status == 200
    assert "haproxy_process_" in body and 'haproxy_server_status{proxy="app",server="web1"' in body
    # No monitoring hosts in this scenario: the firewall keeps the port closed.
    assert not reachable(BALANCER, 8405)
    assert host.socket("tcp://%s:8405" % BALANCER).is_listening
    assert not host.socket("tcp://0.0.0.0:8405").is_listening


def test_stats_page_on_loopback_only(host):
    status, body = local_get(host, "http://127.0.0.1:8404/")
    assert status == 200 and "Statistics Report" in body
    assert host.socket("tcp://127.0.0.1:8404").is_listening
    assert not reachable(BALANCER, 8404)


def test_backends_reachable_from_the_balancer_only(host):
    for name, address in BACKENDS.items():
        status, body = local_get(host, "http://%s:8080/" % address)
        assert status == 200 and "served by %s" % name in body
        assert not reachable(address, 8080), "%s:8080 must not be reachable from the controller" % name


def test_admin_socket_lists_both_servers_up(host):
    sock = host.file(SOCKET)
    assert sock.is_socket
    assert (sock.user, sock.group, sock.mode) == ("root", "haproxy", 0o660)
    out = admin(host, "show servers state")
    assert "app 1 web1 %s 2 0" % BACKENDS["web1"] in out
    assert "app 2 web2 %s 2 0" % BACKENDS["web2"] in out
    assert server_states(host) == {"web1": (2, 0), "web2": (2, 0)}


def test_drain_sends_new_requests_elsewhere_and_ready_restores(host, all_ready):
    admin(host, "set server app/web1 state drain")
    assert server_states(host)["web1"] == (2, 8)
    assert set(spread(8)) == {"web2"}
    admin(host, "set server app/web1 state ready")
    assert server_states(host)["web1"] == (2, 0)
    assert set(spread(8)) == set(BACKENDS)


def test_stopped_backend_is_marked_down_and_traffic_goes_on(host, all_ready):
    web2 = backend_host("web2")
    web2.check_output("systemctl stop nginx")
    try:
        took = wait_for_state(host, "web2", 0, timeout=15)
        # fall 2 at inter 2s: about 4 seconds, never a long wait.
        assert took < 10, "web2 took %.1fs to be marked DOWN" % took
        assert set(spread(8)) == {"web1"}
    finally:
        web2.check_output("systemctl start nginx")
    wait_for_state(host, "web2", 2, timeout=15)
    assert set(spread(8)) == set(BACKENDS)


def test_reload_is_seamless_and_keeps_server_states(host, all_ready):
    master = host.check_output("systemctl show --property MainPID --value haproxy")
    admin(host, "set server app/web1 state drain")
    failures, answers, stop = [], [], threading.Event()

    def load():
        while not stop.is_set():
            try:
                res = get("/")
                if res.status_code == 200:
                    answers.append(served_by(res))
                else:
                    failures.append(res.status_code)
            except requests.RequestException as exc:
                failures.append(repr(exc))

    workers = [threading.Thread(target=load) for dummy in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1)
        for dummy in range(3):
            host.check_output("systemctl reload haproxy")
            time.sleep(1)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert not failures, "requests failed during reloads: %s" % failures[:5]
    assert len(answers) > 20
    # web1 stayed drained through the reloads, and the master was not restarted.
    assert set(answers) == {"web2"}, set(answers)
    assert server_states(host)["web1"] == (2, 8)
    assert host.check_output("systemctl show --property MainPID --value haproxy") == master
