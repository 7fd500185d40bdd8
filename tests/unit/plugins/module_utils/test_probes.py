import http.server
import json
import socket
import threading

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.ultraai.platform.plugins.module_utils import probes as P

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/ultraai-app/0123456789abcdef"


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += max(seconds, 0.001)


def scripted(outcomes):
    """A probe that returns the next scripted result per check name (the last one repeats)."""
    seen = {}

    def probe(check):
        seq = outcomes[check["name"]]
        idx = seen.get(check["name"], 0)
        seen[check["name"]] = idx + 1
        item = seq[min(idx, len(seq) - 1)]
        if item == "ok":
            return P.ProbeResult(True, 200, 0.01)
        if item == "refused":
            return P.ProbeResult(False, error="ConnectionRefusedError", refused=True)
        return P.ProbeResult(False, 500, 0.01, error="status 500")
    return probe


GATE_CASES = [
    # name, outcomes, kwargs, passed, reason fragment
    ("passes after consecutive", {"a": ["fail", "ok", "ok", "ok"]}, {"consecutive": 3}, True, None),
    ("streak broken resets", {"a": ["ok", "ok", "fail", "ok", "ok", "ok"]}, {"consecutive": 3}, True, None),
    ("never healthy hits deadline", {"a": ["fail"]}, {"deadline": 10}, False, "deadline of 10s passed"),
    ("slow start within deadline", {"a": ["fail"] * 8 + ["ok"]}, {"deadline": 60, "consecutive": 3}, True, None),
    ("refused past grace fails fast", {"a": ["refused"]}, {"refused_grace": 5, "deadline": 120}, False,
     "connection refused for more than 5"),
    ("refused then up within grace", {"a": ["refused", "refused", "ok"]}, {"refused_grace": 10}, True, None),
    ("fails during soak", {"a": ["ok"] * 4 + ["fail"]}, {"consecutive": 3, "soak": 20}, False,
     "failed during the soak window"),
    ("holds through soak", {"a": ["ok"]}, {"consecutive": 2, "soak": 10}, True, None),
    ("every check must pass", {"a": ["ok"], "b": ["fail"]}, {"deadline": 8}, False, "check 'b' passed 0 of 3"),
]


@pytest.mark.parametrize("outcomes,kwargs,passed,reason", [c[1:] for c in GATE_CASES], ids=[c[0] for c in GATE_CASES])
def test_gate(outcomes, kwargs, passed, reason):
    clock = FakeClock()
    checks = [{"name": n, "type": "tcp"} for n in outcomes]
    opts = dict(consecutive=3, interval=2, deadline=120, soak=0, refused_grace=30)
    opts.update(kwargs)
    gate = P.Gate(checks, scripted(outcomes), clock=clock.time, sleep=clock.sleep, **opts)
    ok, why, elapsed = gate.run()
    assert ok is passed, why
    if reason:
        assert reason in why
    evidence = gate.evidence()
    assert [e["name"] for e in evidence] == list(outcomes)
    assert all(e["attempts"] >= 1 and len(e["history"]) <= P.HISTORY_KEEP for e in evidence)
    assert elapsed >= 0


BAD = [
    ("unknown type", [{"type": "ping"}], {}, "unknown type 'ping'"),
    ("negative consecutive", [{"type": "tcp", "host": "h", "port": 1}], {"consecutive": -1}, "consecutive must be at least 1"),
    ("deadline shorter than interval", [{"type": "tcp", "host": "h", "port": 1}], {"deadline": 1, "interval": 2},
     "shorter than one interval"),
    ("malformed URL", [{"type": "http", "url": "htp:/nowhere"}], {}, "is not an http:// or https:// URL"),
    ("malformed URL port", [{"type": "http", "url": "http://h:port/x"}], {}, "malformed port"),
    ("missing socket path", [{"type": "haproxy", "backend": "app", "server": "app1"}], {}, "haproxy needs socket"),
    ("bad target group ARN", [{"type": "alb", "target_group_arn": "arn:aws:s3:::bucket", "target_id": "i-1"}], {},
     "is not a target group ARN"),
    ("bad haproxy state", [{"type": "haproxy", "socket": "/s", "backend": "b", "server": "s", "state": "GREEN"}], {},
     "state 'GREEN'"),
    ("negative max_sessions", [{"type": "haproxy", "socket": "/s", "backend": "b", "server": "s", "max_sessions": -1}],
     {}, "max_sessions must be a whole number of 0 or more"),
    ("text max_sessions", [{"type": "haproxy", "socket": "/s", "backend": "b", "server": "s", "max_sessions": "0"}],
     {}, "max_sessions must be a whole number of 0 or more"),
    ("tcp port out of range", [{"type": "tcp", "host": "h", "port": 70000}], {}, "port from 1 to 65535"),
    ("bad regex", [{"type": "http", "url": "http://h/", "body_regex": "("}], {}, "not a valid regular expression"),
    ("no checks", [], {}, "at least one check"),
    ("duplicate names", [{"type": "tcp", "host": "h", "port": 1, "name": "x"},
                         {"type": "tcp", "host": "h", "port": 2, "name": "x"}], {}, "must be unique"),
]


@pytest.mark.parametrize("checks,kwargs,message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_validate_gate_rejects(checks, kwargs, message):
    opts = dict(consecutive=3, interval=2, deadline=120, soak=0, refused_grace=30)
    opts.update(kwargs)
    with pytest.raises(P.GateInputError, match=message.replace("(", r"\(")):
        P.validate_gate(checks, **opts)


@pytest.fixture(scope="module")
def server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/health":
                body, code = json.dumps({"status": "ok", "checks": {"database": "ok"}}).encode(), 200
            elif self.path == "/sick":
                body, code = b'{"status":"fail"}', 503
            else:
                body, code = b"hello world", 200
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()


HTTP = [
    ("status ok", {"path": "/health"}, True, None),
    ("json field", {"path": "/health", "json_path": "checks.database", "json_value": "ok"}, True, None),
    ("json field wrong", {"path": "/health", "json_path": "status", "json_value": "degraded"}, False, "expected 'degraded'"),
    ("json field missing", {"path": "/health", "json_path": "checks.cache"}, False, "no JSON field"),
    ("bad status", {"path": "/sick"}, False, "status 503"),
    ("status list", {"path": "/sick", "status": [200, 503]}, True, None),
    ("body regex", {"path": "/", "body_regex": "^hello"}, True, None),
    ("body regex miss", {"path": "/", "body_regex": "bye"}, False, "does not match"),
    ("latency budget", {"path": "/", "latency_ms": 0.0001}, False, "over the budget"),
]


@pytest.mark.parametrize("opts,ok,message", [c[1:] for c in HTTP], ids=[c[0] for c in HTTP])
def test_probe_http(server, opts, ok, message):
    opts = dict(opts)
    check = P.normalise_check(dict(opts, type="http", url=server + opts.pop("path")), 0)
    result = P.probe_http(check)
    assert result.ok is ok, result.error
    if message:
        assert message in result.error


def test_probe_http_refused_and_tcp():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    result = P.probe_http(P.normalise_check({"type": "http", "url": "http://127.0.0.1:%d/" % port}, 0))
    assert not result.ok and result.refused
    assert P.probe_tcp(P.normalise_check({"type": "tcp", "host": "127.0.0.1", "port": port}, 0)).refused


def test_probe_tcp_open(server):
    port = int(server.rsplit(":", 1)[1])
    assert P.probe_tcp(P.normalise_check({"type": "tcp", "host": "127.0.0.1", "port": port}, 0)).ok


STAT = ("# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status\n"
        "app,app1,0,0,0,1,,10,0,0,,0,,0,0,0,0,UP\n"
        "app,app2,0,0,0,1,,10,0,0,,0,,0,0,0,0,DRAIN\n"
        "app,app3,0,0,0,1,,10,0,0,,0,,0,0,0,0,UP 1/2\n"
        "app,app4,0,0,0,1,,10,0,0,,0,,0,0,0,0,MAINT\n"
        "app,app5,0,0,2,3,,10,0,0,,0,,0,0,0,0,DRAIN\n"
        "app,app6,0,0,0,3,,10,0,0,,0,,0,0,0,0,DOWN\n"
        "app,BACKEND,0,0,0,1,,10,0,0,,0,,0,0,0,0,UP\n")


@pytest.mark.parametrize("server_name,state,ok,message", [
    ("app1", "UP", True, None),
    ("app2", "DRAIN", True, None),
    ("app2", "UP", False, "server is DRAIN, expected UP"),
    ("app3", "UP", True, None),
    ("app4", "MAINT", True, None),
    ("app9", "UP", False, "no server app/app9"),
])
def test_probe_haproxy(server_name, state, ok, message):
    check = P.normalise_check({"type": "haproxy", "socket": "/run/haproxy/admin.sock", "backend": "app",
                               "server": server_name, "state": state}, 0)
    result = P.probe_haproxy(check, command=lambda path, cmd, timeout: STAT)
    assert result.ok is ok
    if message:
        assert message in result.error


# The deploy cycle's wait for a drained host: no sessions left, whatever its state
# (a host whose app is down during a failover or a rollback shows DOWN, not DRAIN).
@pytest.mark.parametrize("server_name,state,ok,message", [
    ("app2", "ANY", True, None),
    ("app5", "ANY", False, "server has 2 sessions, at most 0 wanted"),
    ("app6", "ANY", True, None),
    ("app6", "DRAIN", False, "server is DOWN, expected DRAIN"),
    ("app9", "ANY", False, "no server app/app9"),
])
def test_probe_haproxy_sessions(server_name, state, ok, message):
    check = P.normalise_check({"type": "haproxy", "socket": "/run/haproxy/admin.sock", "backend": "app",
                               "server": server_name, "state": state, "max_sessions": 0}, 0)
    result = P.probe_haproxy(check, command=lambda path, cmd, timeout: STAT)
    assert result.ok is ok
    if message:
        assert message in result.error


def test_probe_haproxy_socket_missing(tmp_path):
    check = P.normalise_check({"type": "haproxy", "socket": str(tmp_path / "none.sock"), "backend": "app",
                               "server": "app1"}, 0)
    result = P.probe_haproxy(check)
    assert not result.ok and "HAProxy socket" in result.error


def elbv2():
    return boto3.client("elbv2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


@pytest.mark.parametrize("state,reason,expect,ok", [
    ("initial", "Elb.RegistrationInProgress", "healthy", False),
    ("unhealthy", "Target.FailedHealthChecks", "healthy", False),
    ("draining", "Target.DeregistrationInProgress", "healthy", False),
    ("healthy", None, "healthy", True),
    ("unused", "Target.NotRegistered", "unused", True),
])
def test_probe_alb_states_moto_cannot_produce(state, reason, expect, ok):
    client = elbv2()
    health = {"State": state}
    if reason:
        health["Reason"] = reason
    with Stubber(client) as stub:
        stub.add_response("describe_target_health",
                          {"TargetHealthDescriptions": [{"Target": {"Id": "i-0abc"}, "TargetHealth": health}]},
                          {"TargetGroupArn": ARN, "Targets": [{"Id": "i-0abc"}]})
        result = P.probe_alb(P.normalise_check({"type": "alb", "target_group_arn": ARN, "target_id": "i-0abc",
                                                "state": expect}, 0), client)
    assert result.ok is ok
    assert result.status == state
    if not ok:
        assert reason in result.error


def test_probe_alb_error_is_reported_not_raised():
    client = elbv2()
    with Stubber(client) as stub:
        stub.add_client_error("describe_target_health", service_error_code="TargetGroupNotFound",
                              service_message="One or more target groups not found")
        result = P.probe_alb(P.normalise_check({"type": "alb", "target_group_arn": ARN, "target_id": "i-0abc"}, 0), client)
    assert not result.ok and "TargetGroupNotFound" in result.error
