"""The backup-and-restore flow of the issue's steps 1-8, shared by the posix
repository's tests (test_backup.py) and the S3 repository's (test_backup_s3.py).

Each step takes the flow's context: a dict with the API session, the user's
auth headers, and what earlier steps recorded (documents, prompts, the marker)."""

import os
import shutil
import subprocess
import threading
import time
import uuid

import requests
import urllib3

from labtest import lab_host

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

LB = "10.77.0.80"
BASE = "https://%s" % LB
PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.path.abspath(os.path.join(os.path.dirname(__file__), "../../..")))
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
DATA_DIR = "/var/lib/postgresql/15/main"
UPLOADS = "/var/lib/ultraai/uploads"
METRICS = "/var/lib/prometheus/node-exporter"


def psql(host, sql):
    return lab_host(host, "bdb").check_output("runuser -u postgres -- psql -d ultraai -XAtq -c %s", sql)


def playbook(name, *extra, log_name=None):
    path = name if os.path.isabs(name) else os.path.join(PROJECT, "playbooks", name)
    argv = [shutil.which("ansible-playbook") or "ansible-playbook", "-i", INVENTORY, path] + list(extra)
    start = time.monotonic()
    res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=1800)
    res.wall = time.monotonic() - start
    log_dir = os.path.join(PROJECT, "tests", "output", "molecule")
    os.makedirs(log_dir, exist_ok=True)
    log = log_name or "backup-%s" % os.path.basename(name).replace(".yml", "")
    with open(os.path.join(log_dir, "%s.log" % log), "a", encoding="utf-8") as fh:
        fh.write("$ %s\n%s\n%s\n" % (" ".join(argv), res.stdout, res.stderr))
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


def new_context(prefix):
    """A fresh API session and user: each flow checks only its own user's rows."""
    session = requests.Session()
    session.verify = False  # the lab's certificate is self-signed
    session.trust_env = False
    user = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    res = session.post(BASE + "/api/auth/register", json={"username": user, "password": "pw-backup"}, timeout=10)
    assert res.status_code == 201, (res.status_code, res.headers.get("server"), res.text[:300])
    res = session.post(BASE + "/api/auth/login", json={"username": user, "password": "pw-backup"}, timeout=10)
    assert res.status_code == 200, res.text
    return {"session": session, "user": user, "auth": {"Authorization": "Bearer %s" % res.json()["access_token"]}}


def analyze(ctx, doc_id, prompt):
    res = ctx["session"].post(BASE + "/api/analyze", headers=ctx["auth"], timeout=20,
                              json={"document_id": doc_id, "provider": "echo", "prompt": prompt})
    assert res.status_code == 200, res.text


def rows_and_uploads(ctx):
    """Step 1: documents (uploads) and analyses (rows) through the API."""
    docs = []
    for i in range(3):
        content = os.urandom(2048 * (i + 1)) + ("upload %d %s\n" % (i, uuid.uuid4())).encode()
        res = ctx["session"].post(BASE + "/api/documents", headers=ctx["auth"],
                                  files={"file": ("f%d.bin" % i, content)}, timeout=20)
        assert res.status_code == 201, res.text
        docs.append(res.json())
        analyze(ctx, docs[-1]["id"], "step1-%d" % i)
    ctx["docs"] = docs
    ctx["before"] = ["step1-%d" % i for i in range(3)]


def backup_now(host):
    """Step 2: backup.yml backs up, verifies and prunes; the freshness metrics move."""
    res = playbook("backup.yml")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "failed=0" in res.stdout
    repo, app = lab_host(host, "backup"), lab_host(host, "bapp1")
    now = time.time()
    for h, kind in ((repo, "pg-diff"), (app, "uploads")):
        assert now - 900 < metric(h, "last_success_timestamp_seconds", kind) <= now
        assert metric(h, "last_duration_seconds", kind) > 0
        assert metric(h, "last_size_bytes", kind) > 0
    return res


def rows_then_a_marker(host, ctx):
    """Step 3: more rows, then the marker time."""
    for i in range(4):
        analyze(ctx, ctx["docs"][i % 3]["id"], "before-%d" % i)
        ctx["before"].append("before-%d" % i)
    time.sleep(1.5)
    ctx["marker"] = psql(host, "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00'")
    time.sleep(1.5)


def rows_after_the_marker(host, ctx):
    """Step 4: rows (and a user) after the marker, archived."""
    for i in range(3):
        analyze(ctx, ctx["docs"][i]["id"], "after-%d" % i)
    ctx["late_user"] = "late-%s" % uuid.uuid4().hex[:8]
    assert ctx["session"].post(BASE + "/api/auth/register", json={"username": ctx["late_user"], "password": "x-pw"},
                               timeout=10).status_code == 201
    # What archive_timeout does on its own within seconds: the WAL holding these
    # commits reaches the repository (check switches the segment and waits).
    lab_host(host, "backup").check_output("/usr/local/sbin/ultraai-backup pgbackrest check")


def destroy_the_data_directory_and_the_uploads(host, ctx):
    """Step 5."""
    session = ctx["session"]
    db, app = lab_host(host, "bdb"), lab_host(host, "bapp1")
    db.check_output("rm -rf %s && systemctl kill -s SIGKILL postgresql@15-main" % DATA_DIR)
    app.check_output("rm -rf %s" % UPLOADS)
    assert not db.file(DATA_DIR).exists and not app.file(UPLOADS).exists
    for dummy in range(20):
        if session.get(BASE + "/health", timeout=10).status_code != 200:
            break
        time.sleep(1)
    assert session.get(BASE + "/health", timeout=10).status_code != 200


def restore_to_the_marker(ctx):
    """Step 6."""
    res = playbook("restore.yml", "-e", "restore_target_time='%s'" % ctx["marker"])
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert "failed=0" in res.stdout
    assert "rows_without_upload: []" in output(res), output(res)[-3000:]


def exactly_the_rows_up_to_the_marker(host, ctx):
    """Step 7: rows."""
    prompts = psql(host, "SELECT prompt FROM analyses WHERE owner = '%s' ORDER BY id" % ctx["user"]).split()
    assert prompts == ctx["before"], prompts
    assert psql(host, "SELECT count(*) FROM analyses WHERE created_at > '%s'" % ctx["marker"]) == "0"
    assert psql(host, "SELECT count(*) FROM users WHERE username = '%s'" % ctx["late_user"]) == "0"
    assert psql(host, "SELECT count(*) FROM users WHERE username = '%s'" % ctx["user"]) == "1"


def every_upload_matches_its_checksum(host, ctx):
    """Step 7: uploads."""
    app = lab_host(host, "bapp1")
    for doc in ctx["docs"]:
        assert app.check_output("sha256sum %s/%s" % (UPLOADS, doc["id"])).split()[0] == doc["sha256"]
        res = ctx["session"].get(BASE + "/api/documents/%s" % doc["id"], headers=ctx["auth"], timeout=10)
        assert res.status_code == 200 and res.json()["sha256"] == doc["sha256"], res.text
    assert app.file(UPLOADS).user == "ultraai"


def healthy_and_writing_through_the_balancer(ctx):
    """Step 8."""
    res = ctx["session"].get(BASE + "/health", timeout=10)
    assert res.status_code == 200 and res.json()["status"] == "ok", res.text
    analyze(ctx, ctx["docs"][0]["id"], "after-restore")


class Writer(threading.Thread):
    """While in a with block: one analysis through the balancer every `period`
    seconds, for the flow's user; counts the writes that worked and keeps the
    ones that did not."""

    def __init__(self, ctx, period=1.0):
        super().__init__(daemon=True)
        self.ctx, self.period = ctx, period
        self.ok, self.failed = 0, []
        self.halt = threading.Event()

    def run(self):
        session = requests.Session()
        session.verify, session.trust_env = False, False
        while not self.halt.is_set():
            started = time.time()
            try:
                res = session.post(BASE + "/api/analyze", headers=self.ctx["auth"], timeout=20,
                                   json={"document_id": self.ctx["docs"][0]["id"], "provider": "echo",
                                         "prompt": "drill-writer"})
                if res.status_code == 200:
                    self.ok += 1
                else:
                    self.failed.append((started, res.status_code, res.text[:200]))
            except requests.RequestException as exc:
                self.failed.append((started, 0, str(exc)[:200]))
            self.halt.wait(max(0.0, self.period - (time.time() - started)))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.halt.set()
        self.join(30)
