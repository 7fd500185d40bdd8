"""Streaming replica and failover, end to end on flb, fapp1, fapp2, fdb (primary), fdb2 (replica) and
fbackup (the backup repository host).

The tests run in file order: first the replica is shown to stream and a backup is taken from the
primary, then a writer posts through the
balancer while PostgreSQL on fdb is stopped and failover.yml promotes fdb2. The writer (this test)
measures the client-visible write downtime: from the first failed write to the first successful
one after it. failover.yml measures its own figure (from the outage start it is given to its first
probe write through the balancer). Both go to tests/output/molecule/failover-figures.json. Last,
backups are shown to run from the new primary into the same repository.
"""

import json
import os
import re
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

from labtest import lab_host

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY",
                         os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", "")
BALANCER = "https://10.77.0.100"
OLD_PRIMARY_ADDRESS = "10.77.0.103"
NEW_PRIMARY_ADDRESS = "10.77.0.104"
BACKUP = "/usr/local/sbin/ultraai-backup"
OUT = os.path.join(PROJECT, "tests", "output", "molecule")
testinfra_hosts = ["flb"]
HEALTH = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=10).read().decode())"
STATE = {}


def psql(h, sql, db="ultraai"):
    return h.check_output("runuser -u postgres -- psql -XAt -d %s -c %s", db, sql).strip()


def request(path, body=None, timeout=5):
    """(status, seconds) of one request through the balancer; status 0 for no answer."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BALANCER + path, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


class Writer(threading.Thread):
    """Registers a new user through the balancer every `period` seconds and records each write."""

    def __init__(self, period=0.2):
        super().__init__(daemon=True)
        self.period = period
        self.records = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            name = "fw-" + uuid.uuid4().hex[:16]
            started = time.time()
            status, dummy = request("/api/auth/register", {"username": name, "password": "pw-" + name})
            self.records.append({"t": started, "done": time.time(), "status": status, "username": name})
            self.stop.wait(max(0.0, self.period - (time.time() - started)))


def playbook(name, *extra):
    cmd = ["ansible-playbook", "-i", INVENTORY] + list(extra) + [name]
    started = time.time()
    env = dict(os.environ, ULTRAAI_RELEASE_DIR=os.environ.get("ULTRAAI_RELEASE_DIR", "/tmp/ultraai-molecule-failover/dist"))
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    return res.returncode, res.stdout + res.stderr, time.time() - started


def test_replica_streams_from_the_primary(host):
    fdb, fdb2 = lab_host(host, "fdb"), lab_host(host, "fdb2")
    rows = psql(fdb, "SELECT application_name, state FROM pg_stat_replication", db="postgres")
    assert "fdb2|streaming" in rows.splitlines(), rows
    assert psql(fdb2, "SELECT pg_is_in_recovery()", db="postgres") == "t"
    assert psql(fdb2, "SELECT active FROM pg_replication_slots", db="postgres") == "", "a replica has no slots"
    assert psql(fdb, "SELECT slot_name || ':' || active FROM pg_replication_slots", db="postgres") == "fdb2:true"
    # A row written through the API (on fdb) shows up on fdb2.
    name = "fr-" + uuid.uuid4().hex[:12]
    status, body = request("/api/auth/register", {"username": name, "password": "pw"})
    assert status == 201, body
    deadline = time.time() + 10
    while time.time() < deadline:
        if psql(fdb2, "SELECT count(*) FROM users WHERE username = '%s'" % name) == "1":
            break
        time.sleep(0.2)
    assert psql(fdb2, "SELECT count(*) FROM users WHERE username = '%s'" % name) == "1"
    # The replica refuses writes (hot standby, read-only).
    assert fdb2.run("runuser -u postgres -- psql -XAt -d ultraai -c 'CREATE TABLE nope (i int)'").rc != 0
    # Streaming goes over TLS.
    assert psql(fdb, "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_replication r USING (pid)",
                db="postgres") == "t"


def backup_sets(repo):
    """[(label, type)] of the repository's backup sets, oldest first."""
    info = json.loads(repo.check_output("%s pgbackrest --output=json info" % BACKUP))
    return [(b["label"], b["type"]) for b in info[0]["backup"]]


def backups_pull_from(repo):
    """The address pgBackRest on the repository host backs up from (pg1-host)."""
    conf = repo.check_output("cat /etc/pgbackrest/pgbackrest.conf")
    return re.findall(r"^pg1-host=(\S+)$", conf, re.M)


def archivers_let_in(host, repo):
    """Whose keys the repository's pgBackRest account takes: the database hosts' names (by their
    postgres key), "other" for any other key."""
    names = {tuple(lab_host(host, name).check_output("cat /var/lib/postgresql/.ssh/id_ed25519.pub").split()[:2]): name
             for name in ("fdb", "fdb2")}
    lines = repo.check_output("cat /var/lib/pgbackrest-home/.ssh/authorized_keys").splitlines()
    return sorted(names.get(tuple(line.split()[:2]), "other") for line in lines
                  if line.strip() and not line.startswith("#"))


def test_a_backup_from_the_primary_before_the_failover(host):
    repo = lab_host(host, "fbackup")
    assert backups_pull_from(repo) == [OLD_PRIMARY_ADDRESS]
    # site.yml ran the role on every database host: both keys, and only those.
    assert archivers_let_in(host, repo) == ["fdb", "fdb2"]
    repo.check_output("%s run pg-full" % BACKUP)
    sets = backup_sets(repo)
    assert sets and sets[-1][1] == "full", sets
    STATE["sets_before"] = sets


def test_failover_after_the_primary_stops(host):
    assert INVENTORY, "run from Molecule (MOLECULE_INVENTORY_FILE)"
    fdb = lab_host(host, "fdb")
    writer = Writer()
    writer.start()
    time.sleep(5)
    stopped = time.time()
    fdb.check_output("systemctl stop postgresql@15-main")
    time.sleep(3)
    rc, out, wall = playbook(os.path.join(PROJECT, "playbooks", "failover.yml"),
                             "-e", "failover_new_primary=fdb2", "-e", "failover_outage_started=%f" % stopped)
    ended = time.time()
    time.sleep(10)
    writer.stop.set()
    writer.join(10)
    STATE.update(records=writer.records, stopped=stopped, ended=ended, rc=rc, out=out, wall=wall)
    with open(os.path.join(OUT, "failover-playbook.log"), "w", encoding="utf-8") as fh:
        fh.write(out)
    assert rc == 0, out[-4000:]


def test_writes_failed_only_within_the_outage(host):
    records, stopped, ended = STATE["records"], STATE["stopped"], STATE["ended"]
    failed = [r for r in records if r["status"] != 201]
    ok = [r for r in records if r["status"] == 201]
    assert ok and ok[-1]["t"] > ended, "no write succeeded after the failover"
    # Failures only between the stop and the end of failover.yml; none after it.
    assert all(stopped - 1 <= r["t"] <= ended for r in failed), [r for r in failed if r["t"] > ended][:5]
    first_failed = min((r["t"] for r in failed), default=None)
    first_ok_after = min((r["done"] for r in ok if first_failed is not None and r["t"] > first_failed), default=None)
    relapses = [{"t_after_stop": round(r["t"] - stopped, 2), "took_s": round(r["done"] - r["t"], 2), "status": r["status"]}
                for r in failed if first_ok_after is not None and r["t"] > first_ok_after + 0.5]
    assert not relapses, ("a write failed after writes had resumed (status 0: no answer within 5 s)",
                          round(first_ok_after - stopped, 2), round(ended - stopped, 2), relapses[:10])
    match = re.search(r"write_downtime_s\W+([0-9.]+)", STATE["out"])
    assert match, "failover.yml printed no write downtime"
    figures = {
        "writer_period_s": 0.2,
        "writes": len(records), "writes_ok": len(ok), "writes_failed": len(failed),
        "write_downtime_writer_s": round(first_ok_after - first_failed, 2) if failed else 0.0,
        "write_downtime_playbook_s": float(match.group(1)),
        "failover_playbook_wall_s": round(STATE["wall"], 1),
        "failed_statuses": sorted({r["status"] for r in failed}),
    }
    STATE["figures"] = figures
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "failover-figures.json"), "w", encoding="utf-8") as fh:
        json.dump(figures, fh, indent=2, sort_keys=True)
    print("failover figures:", json.dumps(figures, sort_keys=True))


def test_writes_land_on_the_new_primary(host):
    fdb2 = lab_host(host, "fdb2")
    assert psql(fdb2, "SELECT pg_is_in_recovery()", db="postgres") == "f"
    ok = {r["username"] for r in STATE["records"] if r["status"] == 201}
    names = ",".join("'%s'" % n for n in sorted(ok))
    # Every acknowledged write, before the stop (streamed) and after the failover, is on fdb2.
    assert psql(fdb2, "SELECT count(*) FROM users WHERE username IN (%s)" % names) == str(len(ok))
    # fdb is down, so the writes after the failover can only have landed on fdb2.
    after = {r["username"] for r in STATE["records"] if r["status"] == 201 and r["t"] > STATE["ended"]}
    assert after, "no write was acknowledged after failover.yml ended"
    assert psql(fdb2, "SELECT count(*) FROM users WHERE username IN (%s)" % ",".join("'%s'" % n for n in after)) \
        == str(len(after))


def test_app_is_healthy_through_the_balancer(host):
    status, body = request("/health")
    assert status == 200, body
    assert json.loads(body)["status"] == "ok", body
    out = host.check_output("echo 'show stat' | socat -t 5 stdio unix-connect:/run/haproxy/admin.sock")
    states = {c[1]: c[17] for c in (row.split(",") for row in out.splitlines()) if len(c) > 17 and c[0] == "app"
              and c[1] in ("fapp1", "fapp2")}
    assert states == {"fapp1": "UP", "fapp2": "UP"}, states
    for name in ("fapp1", "fapp2"):
        # Only the database URL's host part is looked at (the file holds secrets).
        found = lab_host(host, name).run("grep -c '@%s:5432/' /etc/ultraai/ultraai.env" % NEW_PRIMARY_ADDRESS)
        assert found.stdout.strip() == "1", "%s does not point at the new primary" % name
        # The host's own health check (a fresh connection to the database and the cache).
        health = lab_host(host, name).check_output("python3 -c %s", HEALTH)
        assert json.loads(health)["status"] == "ok", health


def test_old_primary_is_fenced(host):
    fdb = lab_host(host, "fdb")
    assert fdb.check_output("systemctl is-enabled postgresql@15-main || true") == "masked"
    assert fdb.run("systemctl start postgresql@15-main").rc != 0
    assert not fdb.service("postgresql@15-main").is_running
    assert fdb.file("/etc/postgresql/15/main/ultraai-fenced").exists
    assert fdb.file("/var/lib/postgresql/15/main/standby.signal").exists
    rc, out, dummy = playbook(os.path.join(PROJECT, "molecule", "failover", "fenced_as_primary.yml"))
    assert rc != 0 and "was fenced by failover.yml" in out, out[-3000:]


def test_failover_refuses_to_run_again_on_a_primary(host):
    rc, out, dummy = playbook(os.path.join(PROJECT, "playbooks", "failover.yml"), "-e", "failover_new_primary=fdb2")
    assert rc != 0 and "is not a replica (pg_is_in_recovery is false)" in out, out[-3000:]
    assert "changed=0" in out and "changed=1" not in out, out[-3000:]


def test_backups_run_from_the_new_primary(host):
    """failover.yml re-established backups: its full backup from fdb2 is in the same repository,
    after the one taken from fdb, the repository verifies, and WAL from the new timeline arrives."""
    assert "full backup taken from fdb2 and verified" in STATE["out"], STATE["out"][-3000:]
    repo, fdb2 = lab_host(host, "fbackup"), lab_host(host, "fdb2")
    sets = backup_sets(repo)
    # Retention (2 full) may expire older sets; the one taken from fdb stays, and after it comes
    # exactly one new set: the full backup from fdb2.
    newest_before = STATE["sets_before"][-1]
    assert newest_before in sets, (newest_before, sets)
    assert [kind for dummy, kind in sets[sets.index(newest_before) + 1:]] == ["full"], sets
    assert backups_pull_from(repo) == [NEW_PRIMARY_ADDRESS]
    # The re-establish play ran the role on fbackup and fdb2 only: it must not have removed the
    # key of a database host that was not in the play (fdb stays until the inventory drops it).
    assert archivers_let_in(host, repo) == ["fdb", "fdb2"]
    # verify exits 0 either way: read its report.
    report = repo.check_output("runuser -u pgbackrest -- pgbackrest --stanza=ultraai --output=text --verbose verify")
    assert "\nstatus: ok" in "\n" + report, report
    # check: a WAL switch on fdb2 is archived into the repository.
    repo.check_output("%s pgbackrest check" % BACKUP)
    archived = psql(fdb2, "SELECT last_archived_wal FROM pg_stat_archiver", db="postgres")
    assert archived.startswith("00000002"), "the new primary archives on timeline 2, got %r" % archived
