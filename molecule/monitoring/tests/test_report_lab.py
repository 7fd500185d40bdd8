"""playbooks/monitoring_report.yml against the lab's Prometheus after a short load: an HTML
report whose PNGs are non-empty, whose figures equal Prometheus queries made
here independently, and which renders its plots in headless Chromium (a
screenshot is kept under tests/output/molecule/)."""

import glob
import json
import os
import re
import subprocess
import time
import uuid

import pytest
import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

ROOT = os.environ["MOLECULE_PROJECT_DIRECTORY"]
OUT = os.path.join(ROOT, "tests", "output", "molecule", "monitoring-report")
PROMETHEUS = "http://10.77.0.30:9090"
BASE = "https://10.77.0.90"
WINDOW = "15m"


def prom(expr, at):
    res = requests.get(PROMETHEUS + "/api/v1/query", params={"query": expr, "time": "%.3f" % at}, timeout=10)
    res.raise_for_status()
    return res.json()["data"]["result"]


@pytest.fixture(scope="module")
def report():
    s = requests.Session()
    s.verify = False
    s.trust_env = False
    user = "report-%s" % uuid.uuid4().hex[:8]
    assert s.post(BASE + "/api/auth/register", json={"username": user, "password": "correct horse"},
                  timeout=10).status_code == 201
    token = s.post(BASE + "/api/auth/login", json={"username": user, "password": "correct horse"},
                   timeout=10).json()["access_token"]
    auth = {"Authorization": "Bearer %s" % token}
    for n in range(3):
        doc = s.post(BASE + "/api/documents", headers=auth, timeout=20,
                     files={"file": ("r%d.txt" % n, ("report load %d\n" % n).encode())}).json()
        assert s.post(BASE + "/api/analyze", headers=auth, timeout=20,
                      json={"document_id": doc["id"], "provider": "echo", "prompt": "sum"}).status_code == 200
    for n in range(60):
        s.get(BASE + "/api/version", timeout=10)
    time.sleep(12)  # two scrapes at the scenario's 5 s interval
    end = time.time()
    env = dict(os.environ, ULTRAAI_REPORT_DIR=OUT)
    res = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-e", "report_prometheus_url=%s" % PROMETHEUS, "-e", "report_window=%s" % WINDOW,
         "-e", "report_step=15s", "-e", "report_end=%.3f" % end, os.path.join(ROOT, "playbooks", "monitoring_report.yml")],
        env=env, capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    pages = sorted(glob.glob(os.path.join(OUT, "*", "index.html")), key=os.path.getmtime)
    assert pages, res.stdout
    outdir = os.path.dirname(pages[-1])
    with open(pages[-1], encoding="utf-8") as f:
        page = f.read()
    with open(os.path.join(outdir, "report.json"), encoding="utf-8") as f:
        data = json.load(f)
    return {"dir": outdir, "page": page, "data": data, "end": end}


def cell(page, key, label=None):
    pattern = r'data-key="%s"%s>([^<]+)<' % (re.escape(key), ' data-label="%s"' % re.escape(label) if label else "")
    found = re.search(pattern, page)
    assert found, "no figure %s %s in the report" % (key, label or "")
    return float(found.group(1))


def close(a, b):
    return abs(a - b) <= max(1e-3 * abs(b), 1e-6) or ("%.4g" % b) == ("%.4g" % a)


def test_pngs_are_non_empty(report):
    pngs = glob.glob(os.path.join(report["dir"], "*.png"))
    assert len(pngs) >= 5, pngs
    for png in pngs:
        with open(png, "rb") as f:
            head = f.read(8)
        assert head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 2000, png


def test_figures_match_independent_queries(report):
    page, end = report["page"], report["data"]["end"]
    assert abs(end - report["end"]) < 1
    w = WINDOW
    requests_total = float(prom("sum(increase(ultraai_http_requests_total[%s]))" % w, end)[0]["value"][1])
    assert requests_total >= 60
    assert close(cell(page, "requests_total"), requests_total)
    uploads = float(prom("sum(increase(ultraai_uploads_total[%s]))" % w, end)[0]["value"][1])
    assert uploads >= 2.5 and close(cell(page, "uploads_total"), uploads)
    echo = prom('sum by (provider) (increase(ultraai_analyze_total{provider="echo"}[%s]))' % w, end)
    assert close(cell(page, "analyze_by_provider", "echo"), float(echo[0]["value"][1]))
    p99 = prom("histogram_quantile(0.99, sum by (le) (rate(ultraai_http_request_duration_seconds_bucket[%s])))"
               % w, end)
    assert close(cell(page, "latency_p99_seconds"), float(p99[0]["value"][1]))
    for host in ("mapp1", "mapp2"):
        by_host = prom('sum(increase(ultraai_http_requests_total{job="app", instance="%s"}[%s]))' % (host, w), end)
        assert close(cell(page, "requests_by_host", host), float(by_host[0]["value"][1]))


def test_alert_history_matches_prometheus(report):
    """Every alert Prometheus saw firing in the window is in the history (the
    InstanceDown test of test_monitoring.py runs before this file)."""
    fired = prom('count by (alertname, instance) (count_over_time(ALERTS{alertstate="firing"}[%s]))' % WINDOW,
                 report["data"]["end"])
    assert fired, "no alert fired in the window"
    for r in fired:
        row = "<td>%s</td><td>%s</td>" % (r["metric"]["alertname"], r["metric"].get("instance", ""))
        assert row in report["page"], row
    assert "<td>InstanceDown</td><td>mapp2</td>" in report["page"]


def test_page_renders_its_plots_in_headless_chromium(report):
    page = os.path.join(report["dir"], "index.html")
    shot = os.path.join(ROOT, "tests", "output", "molecule", "monitoring-report.png")
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--virtual-time-budget=5000"]
    dom = subprocess.run(common + ["--dump-dom", "file://" + page], capture_output=True, text=True,
                         timeout=120, check=False)
    found = re.search(r'data-plots="(\d+)" data-plots-rendered="(\d+)"', dom.stdout)
    assert found, dom.stderr[-2000:]
    assert int(found.group(1)) >= 5 and found.group(1) == found.group(2), found.group(0)
    res = subprocess.run(common + ["--window-size=1200,3000", "--screenshot=%s" % shot, "file://" + page],
                         capture_output=True, text=True, timeout=120, check=False)
    assert os.path.exists(shot) and os.path.getsize(shot) > 20000, res.stderr[-2000:]
