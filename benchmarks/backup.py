"""Backup and restore figures for a generated dataset: backup throughput, the
automation's restore overhead, and the recovery point that archive_timeout gives.

    .venv/bin/python benchmarks/backup.py --inventory INVENTORY [--scale 70] [--db-host bdb]
                                          [--repo-host backup] [--app-host bapp1] [--rpo-seconds 60] [--keep]

Needs the backup scenario's hosts converged (`molecule converge -s backup`, then
point --inventory at its inventory file; the posix repository). Steps, all on
the same hosts in the same run:

1. pgbench -i at --scale (70 is about 1 GB) into a database `pgbench`.
2. A full backup (`ultraai-backup run pg-full` on the repository host): wall time,
   the cluster's size, throughput, and the bytes the repository grew by. Then an
   uploads backup on --app-host, which restore.yml needs to cover its restore point.
3. RPO under a steady write load (one small transaction every 0.2 s) for
   --rpo-seconds: every second, the age of the newest archived WAL
   (now() - pg_stat_archiver.last_archived_time), which is what a lost primary
   would lose at that moment; prints the maximum, the mean and archive_timeout.
4. The data directory is deleted, then playbooks/restore.yml restores the
   latest state: its wall time from the controller.
5. The data directory is deleted again, then a bare restore of the same backup
   set on the database host (`pgbackrest restore`, start, wait for recovery to
   end): wall time.
   The ratio restore.yml / bare is the automation's overhead.

Unless --keep, the pgbench database is dropped at the end. Prints one line per
figure and a JSON document; asserts nothing.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Lab:
    """Shell commands on lab hosts through ansible (become), timed on the host."""

    def __init__(self, inventory):
        self.inventory = inventory
        self.ansible = shutil.which("ansible") or "ansible"

    def sh(self, host, command, timeout=3600):
        res = subprocess.run([self.ansible, host, "-i", self.inventory, "-b", "-o", "-m", "ansible.builtin.shell",
                              "-a", "set -o pipefail; " + command + " executable=/bin/bash"],
                             capture_output=True, text=True, check=False, timeout=timeout)
        if res.returncode != 0:
            raise SystemExit("on %s: %s\n%s%s" % (host, command, res.stdout[-3000:], res.stderr[-2000:]))
        # -o (one line): "host | CHANGED | rc=0 | (stdout) ... (stderr) ..."
        if "(stdout)" not in res.stdout:
            return ""
        out = res.stdout.split("(stdout)", 1)[1].split(" (stderr)", 1)[0]
        return out.strip().replace("\\n", "\n")

    def timed(self, host, command):
        """Run command on host; seconds it took there."""
        out = self.sh(host, "start=$(date +%s%N); " + command + " >/dev/null; echo $(( $(date +%s%N) - start ))")
        return int(out.splitlines()[-1]) / 1e9

    def sql(self, host, sql, db="postgres"):
        return self.sh(host, "cd /tmp && runuser -u postgres -- psql -XAtq -d %s -c \"%s\"" % (db, sql))


def rpo_under_load(lab, db_host, seconds):
    """Ages of the newest archived WAL, sampled every second under a light write load."""
    stop = threading.Event()

    def writer():
        lab.sql(db_host, "CREATE TABLE IF NOT EXISTS bench_rpo (at timestamptz DEFAULT now())", "pgbench")
        script = ("for i in $(seq 1 %d); do runuser -u postgres -- psql -XAtq -d pgbench "
                  "-c 'INSERT INTO bench_rpo DEFAULT VALUES' >/dev/null; sleep 0.2; done" % int(seconds * 5))
        lab.sh(db_host, script, timeout=seconds * 10 + 120)
        stop.set()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    time.sleep(3)
    sampler = ("for i in $(seq 1 %d); do runuser -u postgres -- psql -XAtq -c \"SELECT coalesce(extract(epoch FROM "
               "now() - last_archived_time), -1) FROM pg_stat_archiver\"; sleep 1; done" % int(seconds))
    ages = [float(x) for x in lab.sh(db_host, sampler, timeout=seconds * 4 + 120).split() if float(x) >= 0]
    thread.join(timeout=seconds * 10 + 120)
    return ages


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inventory", required=True)
    parser.add_argument("--scale", type=int, default=70)
    parser.add_argument("--db-host", default="bdb")
    parser.add_argument("--repo-host", default="backup")
    parser.add_argument("--app-host", default="bapp1")
    parser.add_argument("--rpo-seconds", type=int, default=60)
    parser.add_argument("--keep", action="store_true", help="keep the pgbench database")
    args = parser.parse_args()
    lab = Lab(args.inventory)
    figures = {"scale": args.scale}

    lab.sql(args.db_host, "DROP DATABASE IF EXISTS pgbench")
    lab.sql(args.db_host, "CREATE DATABASE pgbench")
    figures["pgbench_init_s"] = lab.timed(args.db_host, "runuser -u postgres -- pgbench -i -q -s %d pgbench 2>&1"
                                          % args.scale)
    figures["dataset_bytes"] = int(lab.sql(args.db_host, "SELECT pg_database_size('pgbench')"))
    figures["cluster_bytes"] = int(lab.sql(args.db_host, "SELECT sum(pg_database_size(datname)) FROM pg_database"))
    print("dataset: pgbench scale %d, %.0f MB (cluster %.0f MB), generated in %.1f s"
          % (args.scale, figures["dataset_bytes"] / 1e6, figures["cluster_bytes"] / 1e6, figures["pgbench_init_s"]))

    figures["full_backup_s"] = lab.timed(args.repo_host, "/usr/local/sbin/ultraai-backup run pg-full")
    # The new set's own size in the repository (du would also count what retention expired).
    info = json.loads(lab.sh(args.repo_host, "/usr/local/sbin/ultraai-backup pgbackrest --output=json info"))
    figures["repo_growth_bytes"] = info[0]["backup"][-1]["info"]["repository"]["delta"]
    figures["backup_mb_per_s"] = round(figures["cluster_bytes"] / 1e6 / figures["full_backup_s"], 1)
    print("full backup: %.1f s, %.1f MB/s of cluster, %.0f MB in the repository (compressed, encrypted)"
          % (figures["full_backup_s"], figures["backup_mb_per_s"], figures["repo_growth_bytes"] / 1e6))

    # restore.yml restores the database and the uploads together and refuses a
    # restore point no uploads snapshot covers: take one (fresh hosts have none).
    figures["uploads_backup_s"] = lab.timed(args.app_host, "/usr/local/sbin/ultraai-backup run uploads")

    figures["archive_timeout_s"] = lab.sql(args.db_host, "SHOW archive_timeout")
    ages = rpo_under_load(lab, args.db_host, args.rpo_seconds)
    figures["rpo_max_s"] = round(max(ages), 1) if ages else None
    figures["rpo_mean_s"] = round(sum(ages) / len(ages), 1) if ages else None
    print("RPO under a light write load: age of the newest archived WAL max %s s, mean %s s (archive_timeout %s)"
          % (figures["rpo_max_s"], figures["rpo_mean_s"], figures["archive_timeout_s"]))

    # Both restores start from the same loss: the data directory is gone.
    lose = "systemctl kill -s SIGKILL postgresql@15-main; rm -rf /var/lib/postgresql/15/main"
    lab.sh(args.db_host, lose)
    start = time.monotonic()
    res = subprocess.run([shutil.which("ansible-playbook") or "ansible-playbook", "-i", args.inventory,
                          os.path.join(PROJECT, "playbooks", "restore.yml")], capture_output=True, text=True,
                         check=False)
    figures["restore_playbook_s"] = round(time.monotonic() - start, 1)
    if res.returncode != 0:
        sys.exit("restore.yml failed:\n%s" % res.stdout[-4000:])
    print("restore.yml to the latest state: %.1f s wall" % figures["restore_playbook_s"])

    bare = ("systemctl stop postgresql@15-main; rm -rf /var/lib/postgresql/15/main && "
            "install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/15/main && "
            "runuser -u postgres -- pgbackrest --stanza=ultraai --log-level-console=warn restore && "
            "systemctl start postgresql@15-main && "
            "until [ \"$(runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()' 2>/dev/null)\" = f ]; "
            "do sleep 0.5; done")
    figures["bare_restore_s"] = round(lab.timed(args.db_host, bare), 1)
    figures["restore_overhead_ratio"] = round(figures["restore_playbook_s"] / figures["bare_restore_s"], 2)
    print("bare pgbackrest restore of the same set: %.1f s; restore.yml / bare = %.2f"
          % (figures["bare_restore_s"], figures["restore_overhead_ratio"]))

    if not args.keep:
        lab.sql(args.db_host, "DROP DATABASE IF EXISTS pgbench")
    print(json.dumps(figures, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
