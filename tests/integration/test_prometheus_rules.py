"""The monitoring_server role's alert rules: `promtool check rules` on every rule
file, and `promtool test rules` on the fixtures in tests/rules/. promtool comes
from Debian's prometheus package, unpacked (not installed, so no Prometheus
service runs on the controller) under $ULTRAAI_CACHE/tools/prometheus by
scripts/bootstrap.sh; PROMTOOL overrides the path. A missing promtool fails."""

import glob
import os
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT

RULES = sorted(glob.glob(os.path.join(ROOT, "roles", "monitoring_server", "files", "rules", "*.rules.yml")))
TESTS = sorted(glob.glob(os.path.join(ROOT, "tests", "rules", "*.test.yml")))
CACHE = os.environ.get("ULTRAAI_CACHE", "/var/cache/ultraai-platform")


@pytest.fixture(scope="module")
def promtool():
    path = os.environ.get("PROMTOOL") or os.path.join(CACHE, "tools", "prometheus", "usr", "bin", "promtool")
    if not os.access(path, os.X_OK):
        path = shutil.which("promtool") or path
    assert os.access(path, os.X_OK), (
        "promtool not found at %s: run scripts/bootstrap.sh (it unpacks Debian's prometheus package "
        "there) or set PROMTOOL" % path)
    return path


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


def test_there_are_rules_and_tests():
    assert len(RULES) >= 7 and len(TESTS) >= 7


@pytest.mark.parametrize("path", RULES, ids=os.path.basename)
def test_rule_file_checks(promtool, path):
    res = run([promtool, "check", "rules", path])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


@pytest.mark.parametrize("path", TESTS, ids=os.path.basename)
def test_rule_unit_tests_pass(promtool, path):
    res = run([promtool, "test", "rules", path])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout and "FAILED" not in res.stdout


def test_every_rule_file_and_alert_is_tested():
    tested_files = set()
    tested_alerts = set()
    for path in TESTS:
        with open(path) as f:
            doc = yaml.safe_load(f)
        tested_files.update(os.path.basename(p) for p in doc["rule_files"])
        for case in doc["tests"]:
            tested_alerts.update(t["alertname"] for t in case.get("alert_rule_test", []) if t.get("exp_alerts"))
    alerts = set()
    for path in RULES:
        with open(path) as f:
            alerts.update(r["alert"] for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "alert" in r)
    assert {os.path.basename(p) for p in RULES} <= tested_files
    assert alerts - {"CostBudgetForecastExceeded"} <= tested_alerts, sorted(alerts - tested_alerts)


def test_backup_stale_fires_at_26h_and_not_at_1h(promtool, tmp_path):
    """The BackupStale fixture must be able to fail: flipping its expectations fails promtool."""
    src = os.path.join(ROOT, "tests", "rules", "backup.test.yml")
    with open(src) as f:
        doc = yaml.safe_load(f)
    fired, quiet = doc["tests"][0], doc["tests"][1]
    assert fired["alert_rule_test"][0]["eval_time"] == "26h" and fired["alert_rule_test"][0]["exp_alerts"]
    assert quiet["alert_rule_test"][0]["exp_alerts"] == []
    fired["alert_rule_test"][0]["exp_alerts"] = []
    doc["rule_files"] = [os.path.join(os.path.dirname(src), p) for p in doc["rule_files"]]
    flipped = tmp_path / "flipped.test.yml"
    flipped.write_text(yaml.safe_dump(doc))
    res = run([promtool, "test", "rules", str(flipped)])
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "BackupStale" in out, out


def test_the_documented_backup_stale_expression_is_the_rule():
    """docs/backup-and-recovery.md quotes BackupStale's expression: it must be the rule's."""
    with open(os.path.join(ROOT, "roles", "monitoring_server", "files", "rules", "backup.rules.yml")) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"] if r.get("alert") == "BackupStale"]
    with open(os.path.join(ROOT, "docs", "backup-and-recovery.md")) as f:
        blocks = f.read().split("```")[1::2]
    assert len(rules) == 1
    assert rules[0]["expr"].strip() in [b.strip() for b in blocks], "the docs quote another BackupStale expression"
