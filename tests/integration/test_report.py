"""playbooks/monitoring_report.yml on an empty Prometheus (a stand-in serving the HTTP API
with no data) says so instead of crashing; an unreachable Prometheus fails with
one clear message. The report against the lab's real Prometheus is checked in
`molecule test -s monitoring`. Also: the Grafana dashboards are valid JSON."""

import glob
import http.server
import json
import os
import threading

import pytest

from conftest import ROOT, run

PLAYBOOK = os.path.join(ROOT, "playbooks", "monitoring_report.yml")


class EmptyPrometheus(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.startswith("/api/v1/query_range"):
            data = {"resultType": "matrix", "result": []}
        elif self.path.startswith("/api/v1/query"):
            data = {"resultType": "vector", "result": []}
        elif self.path.startswith("/api/v1/status/tsdb"):
            data = {"headStats": {"numSeries": 0}}
        else:
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps({"status": "success", "data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def empty_prometheus():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EmptyPrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()


def report(ansible_env, tmp_path, url):
    env = dict(ansible_env, ULTRAAI_REPORT_DIR=str(tmp_path))
    return run(["ansible-playbook", "-i", "localhost,", "-e", "report_prometheus_url=%s" % url,
                "-e", "report_window=1h", PLAYBOOK], env)


def test_empty_prometheus_gives_a_report_that_says_so(ansible_env, tmp_path, empty_prometheus):
    res = report(ansible_env, tmp_path, empty_prometheus)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    pages = glob.glob(str(tmp_path / "*" / "index.html"))
    assert len(pages) == 1, out
    with open(pages[0], encoding="utf-8") as f:
        page = f.read()
    assert "Prometheus has no request data for this window" in page
    assert "No alert fired in this window" in page
    assert not glob.glob(str(tmp_path / "*" / "*.png"))
    with open(os.path.join(os.path.dirname(pages[0]), "report.json"), encoding="utf-8") as f:
        data = json.load(f)
    assert data["young"] is True and data["totals"]["requests_total"]["value"] is None


def test_unreachable_prometheus_fails_with_one_clear_message(ansible_env, tmp_path):
    res = report(ansible_env, tmp_path, "http://127.0.0.1:9")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "report failed: cannot query Prometheus at http://127.0.0.1:9" in out, out
    assert "Traceback" not in out


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(
    ROOT, "roles", "monitoring_server", "files", "dashboards", "*.json"))), ids=os.path.basename)
def test_dashboards_are_grafana_json(path):
    with open(path, encoding="utf-8") as f:
        board = json.load(f)
    assert board["uid"].startswith("ultraai-") and board["title"].startswith("UltraAI")
    assert board["panels"] and all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in board["panels"])
