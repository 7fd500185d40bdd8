"""Backup, destroy, restore to a marker time: exactly the rows up to the marker and
every upload come back, and the app is healthy through the balancer.

The tests run in file order and share state: each step builds on the one before
(the issue's steps 1-8)."""

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest
import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

LB = "10.77.0.80"
BASE = "https://%s" % LB
PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.path.abspath(os.path.join(os.path.dirname(__file__), "../../..")))
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
KEY = os.path.join(os.environ.get("ULTRAAI_CACHE", "/var/cache/ultraai-platform"), "lab", "id_ed25519")
DATA_DIR = "/var/lib/postgresql/15/main"
UPLOADS = "/var/lib/ultraai/uploads"
METRICS = "/var/lib/prometheus/node-exporter"
testinfra_hosts = ["blb"]  # other hosts are reached through lab_host()

STATE = {}


def lab_host(host, name):
    return host.get_host("ansible://%s" % name, ansible_inventory=host.backend.ansible_inventory,
                         ssh_identity_file=KEY)


def psql(host, sql):
    return lab_host(host, "bdb").check_output("runuser -u postgres -- psql -d ultraai -XAtq -c %s", sql)


def playbook(name, *extra):
    argv = [shutil.which("ansible-playbook") or "ansible-playbook", "-i", INVENTORY, os.path.join(PROJECT, "playbooks", name)] + list(extra)
    start = time.monotonic()
    res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=1800)
    res.wall = time.monotonic() - start
    log_dir = os.path.join(PROJECT, "tests", "output", "molecule")
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, "backup-%s.log" % name.replace(".yml", "")), "a", encoding="utf-8") as log:
        log.write("$ %s\n%s\n%s\n" % (" ".join(argv), res.stdout, res.stderr))
    return res


def output(res):
    """stdout and stderr of a run, with the callback's line wrapping undone."""
    return " ".join((res.stdout + res.stderr).split())


def metric(host, name, kind, suffix=""):
    path = "%s/ultraai_backup_%s%s.prom" % (METRICS, kind.replace("-", "_"), suffix)
    text = host.file(path).content_string
    for line in text.splitlines():
        if line.startswith("ultraai_backup_%s{" % name):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("%s has no %s: %s" % (path, name, text))


@pytest.fixture(scope="module")
def session():
    s = requests.Session()
    s.verify = False  # the lab's certificate is self-signed
    s.trust_env = False
    return s


@pytest.fixture(scope="module")
def auth(session):
    user = "backup-%s" % uuid.uuid4().hex[:8]
    STATE["user"] = user
    assert session.post(BASE + "/api/auth/register", json={"username": user, "password": "pw-backup"},
                        timeout=10).status_code == 201
    res = session.post(BASE + "/api/auth/login", json={"username": user, "password": "pw-backup"}, timeout=10)
    assert res.status_code == 200, res.text
    headers = {"Authorization": "Bearer %s" % res.json()["access_token"]}
    # Converge restarts PostgreSQL (archive_mode) under the running API; reads use up
    # idle pool connections that restart may have broken. (Not enough: the first
    # upload still got 503 in the last run; cause not established, scenario .wip.)
    for dummy in range(24):
        session.get(BASE + "/api/documents/none", headers=headers, timeout=10)
    return headers


def analyze(session, auth, doc_id, prompt):
    res = session.post(BASE + "/api/analyze", headers=auth, timeout=20,
                       json={"document_id": doc_id, "provider": "echo", "prompt": prompt})
    assert res.status_code == 200, res.text


def test_1_rows_and_uploads_through_the_api(session, auth):
    docs = []
    for i in range(3):
        content = os.urandom(2048 * (i + 1)) + ("upload %d %s\n" % (i, uuid.uuid4())).encode()
        res = session.post(BASE + "/api/documents", headers=auth, files={"file": ("f%d.bin" % i, content)}, timeout=20)
        assert res.status_code == 201, res.text
        docs.append(res.json())
        analyze(session, auth, docs[-1]["id"], "step1-%d" % i)
    STATE["docs"] = docs
    STATE["before"] = ["step1-%d" % i for i in range(3)]


def test_2_backup_playbook_backs_up_verifies_and_prunes(host):
    res = playbook("backup.yml")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "failed=0" in res.stdout
    repo, app = lab_host(host, "backup"), lab_host(host, "bapp1")
    now = time.time()
    for h, kind in ((repo, "pg-diff"), (app, "uploads")):
        assert now - 900 < metric(h, "last_success_timestamp_seconds", kind) <= now
        assert metric(h, "last_duration_seconds", kind) > 0
        assert metric(h, "last_size_bytes", kind) > 0
    info = json.loads(repo.check_output("runuser -u pgbackrest -- pgbackrest --stanza=ultraai --output=json info"))
    assert info[0]["status"]["code"] == 0 and info[0]["backup"], info
    # The repository is encrypted: no file of it is readable without the passphrase.
    assert "cipher" in repo.check_output("grep -h cipher-type /etc/pgbackrest/pgbackrest.conf")
    assert repo.run("grep -rl ultraai /var/lib/pgbackrest/backup/ultraai/backup.info").rc != 0


def test_fault_backup_killed_mid_run_leaves_the_last_good_backup(host):
    """SIGKILL the pgBackRest process of a running full backup: the job fails, the
    freshness metric does not move, the repository still verifies with its earlier
    backups intact, and the next run succeeds."""
    repo = lab_host(host, "backup")
    metrics_before = repo.check_output("cat %s/ultraai_backup_pg_diff.prom; ls %s" % (METRICS, METRICS))
    info = "runuser -u pgbackrest -- pgbackrest --stanza=ultraai --output=json info"
    labels_before = [b["label"] for b in json.loads(repo.check_output(info))[0]["backup"]]
    repo.check_output("systemctl start --no-block ultraai-backup@pg-full.service")
    killed = repo.check_output(
        "for i in $(seq 1 300); do pid=$(pgrep -o -u pgbackrest -f -- '--type=full backup'); "
        "if [ -n \"$pid\" ]; then sleep 0.3; kill -9 $pid && echo $pid && exit 0; fi; sleep 0.05; done; exit 1")
    assert killed
    repo.check_output("for i in $(seq 1 100); do systemctl is-active -q ultraai-backup@pg-full.service || exit 0; "
                      "sleep 0.2; done; exit 1")
    assert repo.run("systemctl is-failed -q ultraai-backup@pg-full.service").rc == 0
    assert metric(repo, "last_failure_timestamp_seconds", "pg-full", "_failure") > time.time() - 300
    assert repo.check_output("cat %s/ultraai_backup_pg_diff.prom; ls %s | grep -v _failure" % (METRICS, METRICS)) \
        == "\n".join(line for line in metrics_before.splitlines() if "_failure" not in line)
    assert not repo.file("%s/ultraai_backup_pg_full.prom" % METRICS).exists
    after = json.loads(repo.check_output(info))[0]
    assert [b["label"] for b in after["backup"]] == labels_before and after["status"]["code"] == 0
    repo.check_output("runuser -u pgbackrest -- pgbackrest --stanza=ultraai verify")
    repo.check_output("systemctl reset-failed ultraai-backup@pg-full.service")
    repo.check_output("/usr/local/sbin/ultraai-backup run pg-full")
    assert metric(repo, "last_success_timestamp_seconds", "pg-full") > time.time() - 300
    assert len(json.loads(repo.check_output(info))[0]["backup"]) == len(labels_before) + 1


def test_3_rows_then_a_marker(host, session, auth):
    for i in range(4):
        analyze(session, auth, STATE["docs"][i % 3]["id"], "before-%d" % i)
        STATE["before"].append("before-%d" % i)
    time.sleep(1.5)
    STATE["marker"] = psql(host, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00'")
    time.sleep(1.5)


def test_4_rows_after_the_marker(host, session, auth):
    for i in range(3):
        analyze(session, auth, STATE["docs"][i]["id"], "after-%d" % i)
    STATE["late_user"] = "late-%s" % uuid.uuid4().hex[:8]
    assert session.post(BASE + "/api/auth/register", json={"username": STATE["late_user"], "password": "x-pw"},
                        timeout=10).status_code == 201
    # What archive_timeout does on its own within seconds: the WAL holding these
    # commits reaches the repository (check switches the segment and waits).
    lab_host(host, "backup").check_output("/usr/local/sbin/ultraai-backup pgbackrest check")


def test_5_destroy_the_data_directory_and_the_uploads(host, session):
    db, app = lab_host(host, "bdb"), lab_host(host, "bapp1")
    db.check_output("rm -rf %s && systemctl kill -s SIGKILL postgresql@15-main" % DATA_DIR)
    app.check_output("rm -rf %s" % UPLOADS)
    assert not db.file(DATA_DIR).exists and not app.file(UPLOADS).exists
    for dummy in range(20):
        if session.get(BASE + "/health", timeout=10).status_code != 200:
            break
        time.sleep(1)
    assert session.get(BASE + "/health", timeout=10).status_code != 200


def test_6_restore_to_the_marker(host):
    res = playbook("restore.yml", "-e", "restore_target_time='%s'" % STATE["marker"])
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert "failed=0" in res.stdout
    assert "rows_without_upload: []" in output(res), output(res)[-3000:]


def test_7_exactly_the_rows_up_to_the_marker(host):
    prompts = psql(host, "SELECT prompt FROM analyses WHERE owner = '%s' ORDER BY id" % STATE["user"]).split()
    assert prompts == STATE["before"], prompts
    assert psql(host, "SELECT count(*) FROM analyses WHERE created_at > '%s'" % STATE["marker"]) == "0"
    assert psql(host, "SELECT count(*) FROM users WHERE username = '%s'" % STATE["late_user"]) == "0"
    assert psql(host, "SELECT count(*) FROM users WHERE username = '%s'" % STATE["user"]) == "1"


def test_7_every_upload_matches_its_checksum(host, session, auth):
    app = lab_host(host, "bapp1")
    for doc in STATE["docs"]:
        assert app.check_output("sha256sum %s/%s" % (UPLOADS, doc["id"])).split()[0] == doc["sha256"]
        res = session.get(BASE + "/api/documents/%s" % doc["id"], headers=auth, timeout=10)
        assert res.status_code == 200 and res.json()["sha256"] == doc["sha256"], res.text
    assert app.file(UPLOADS).user == "ultraai"


def test_8_healthy_and_writing_through_the_balancer(session, auth):
    res = session.get(BASE + "/health", timeout=10)
    assert res.status_code == 200 and res.json()["status"] == "ok", res.text
    analyze(session, auth, STATE["docs"][0]["id"], "after-restore")


def test_restore_refuses_a_target_before_the_oldest_backup(host):
    before = psql(host, "SELECT count(*) FROM analyses")
    res = playbook("restore.yml", "-e", "restore_target_time='2001-01-01 00:00:00+00:00'")
    assert res.returncode != 0
    assert "is before what the repository covers" in output(res), output(res)[-3000:]
    assert "Drain and stop the app" not in res.stdout
    assert psql(host, "SELECT count(*) FROM analyses") == before


def test_restore_refuses_a_target_in_the_future():
    res = playbook("restore.yml", "-e", "restore_target_time='2999-01-01 00:00:00+00:00'")
    assert res.returncode != 0
    assert "is in the future" in output(res), output(res)[-3000:]
    assert "input and read facts" not in res.stdout
