import socket

import pytest

from ansible_collections.ultraai.platform.plugins.modules import health_gate


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize("check_mode", [False, True])
def test_gate_passes_with_evidence(run, listener, check_mode):
    out = run(health_gate, {"checks": [{"type": "tcp", "host": "127.0.0.1", "port": listener}], "consecutive": 2,
                            "interval": 0.05, "deadline": 5}, check_mode)
    assert out["passed"] and not out["changed"]
    assert out["checks"][0]["passes"] == 2 and out["checks"][0]["latency_p50_ms"] is not None


def test_gate_failure_is_a_message_not_a_traceback(run):
    out = run(health_gate, {"checks": [{"type": "tcp", "host": "127.0.0.1", "port": 1, "name": "closed"}],
                            "consecutive": 1, "interval": 0.05, "deadline": 5, "refused_grace": 0.1})
    assert out["failed"] and not out["passed"]
    assert out["msg"].startswith("health gate failed: check 'closed': connection refused")
    assert out["checks"][0]["failures"] >= 1


@pytest.mark.parametrize("args,message", [
    ({"checks": [{"type": "smoke"}]}, "unknown type 'smoke'"),
    ({"checks": [{"type": "tcp", "host": "h", "port": 1}], "consecutive": -2}, "consecutive must be at least 1"),
    ({"checks": [{"type": "tcp", "host": "h", "port": 1}], "deadline": 1, "interval": 5}, "shorter than one interval"),
    ({"checks": [{"type": "http", "url": "not a url"}]}, "is not an http:// or https:// URL"),
    ({"checks": [{"type": "haproxy", "backend": "app", "server": "a"}]}, "haproxy needs socket"),
    ({"checks": [{"type": "haproxy", "socket": "/nonexistent/admin.sock", "backend": "app", "server": "a"}]},
     "HAProxy socket /nonexistent/admin.sock does not exist"),
    ({"checks": [{"type": "alb", "target_group_arn": "arn:nope", "target_id": "i-1"}]}, "is not a target group ARN"),
    ({"checks": [{"type": "tcp", "host": "h", "port": 1}], "consecutive": "three"}, "consecutive"),
])
def test_bad_input(run, args, message):
    out = run(health_gate, args)
    assert out["failed"] and message in out["msg"], out["msg"]
    assert "Traceback" not in out["msg"]
