"""Run one backup job and record it for monitoring (ultraai.platform.backup).

    ultraai-backup run pg-full|pg-diff|pg-incr|uploads
    ultraai-backup pgbackrest ARGS...   pgbackrest as the repository user, with the stanza
    ultraai-backup restic ARGS...       restic with the uploads repository and password
    ultraai-backup uploads-init         create the uploads repository unless it exists
                                        (prints "created" or "exists"); the app hosts share
                                        one repository, so the role runs it one host at a time
    ultraai-backup uploads-snapshot [EPOCH]
                                        the newest uploads snapshot of this host taken at or
                                        before EPOCH (default: the newest), as JSON
    ultraai-backup uploads-restore ID   restore that snapshot's uploads next to the live
                                        directory, prove every file against the snapshot's
                                        manifest, then swap it in (the old one is kept)
    ultraai-backup drill-uploads HOST EPOCH
                                        (DR drill host) restore HOST's newest uploads snapshot
                                        taken at or before EPOCH into the drill directory and
                                        prove every file against its manifest, as JSON
    ultraai-backup drill-metrics RTO RPO
                                        (DR drill host) record a successful drill

Settings come from /etc/ultraai-backup/backup.json (written by the role). After
a successful run, the node-exporter textfile ultraai_backup_<kind>.prom gets the
time of the success, the run's duration and the bytes it added to the
repository. A failed or killed run leaves that file as it was and writes
ultraai_backup_<kind>_failure.prom instead, so the freshness metric only ever
moves on success.
"""

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CONFIG = "/etc/ultraai-backup/backup.json"
PG_TYPES = {"pg-full": "full", "pg-diff": "diff", "pg-incr": "incr"}


class JobError(Exception):
    """A job step failed: exit code and the message for stderr."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def load():
    with open(CONFIG, encoding="utf-8") as fh:
        return json.load(fh)


def pgbackrest_argv(cfg, args):
    pg = cfg["pgbackrest"]
    return ["runuser", "-u", pg["user"], "--", "pgbackrest", "--stanza=%s" % pg["stanza"]] + list(args)


def restic_env(cfg):
    rc = cfg["restic"]
    env = dict(os.environ, RESTIC_REPOSITORY=rc["repository"], RESTIC_PASSWORD_FILE=rc["password_file"],
               RESTIC_CACHE_DIR=rc["cache_dir"])
    env.update(rc.get("env", {}))
    return env


def restic_argv(cfg, args):
    rc = cfg["restic"]
    argv = ["runuser", "-u", rc["user"], "--", "restic"] if rc.get("user") else ["restic"]
    if rc.get("sftp_command"):
        argv += ["-o", "sftp.command=%s" % rc["sftp_command"]]
    return argv + list(rc.get("options", [])) + list(args)


def atomic_write(path, text, mode=0o644):
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_metrics(cfg, kind, values, family="backup"):
    """values: metric suffix -> number; one file per kind (and one per kind's failures)."""
    lines = []
    for name, (help_text, value) in sorted(values.items()):
        metric = "ultraai_%s_%s" % (family, name)
        lines.append("# HELP %s %s" % (metric, help_text))
        lines.append("# TYPE %s gauge" % metric)
        lines.append('%s{kind="%s"} %s' % (metric, kind, value))
    suffix = "" if "last_success_timestamp_seconds" in values else "_failure"
    atomic_write(os.path.join(cfg["metrics_dir"], "ultraai_%s_%s%s.prom" % (family, kind.replace("-", "_"), suffix)),
                 "\n".join(lines) + "\n")


def manifest(upload_dir, path):
    """sha256 and relative path of every file under upload_dir, in sha256sum's format."""
    entries = []
    for root, dirs, files in os.walk(upload_dir):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            digest = hashlib.sha256()
            with open(full, "rb") as fh:
                for chunk in iter(lambda: fh.read(1024 * 1024), b""):
                    digest.update(chunk)
            entries.append("%s  %s" % (digest.hexdigest(), os.path.relpath(full, upload_dir)))
    atomic_write(path, "\n".join(entries) + ("\n" if entries else ""), mode=0o600)
    return len(entries)


def run_pg(cfg, kind):
    res = subprocess.run(pgbackrest_argv(cfg, ["--type=%s" % PG_TYPES[kind], "backup"]), check=False)
    if res.returncode != 0:
        return res.returncode, None
    info = subprocess.run(pgbackrest_argv(cfg, ["--output=json", "info"]), check=False,
                          capture_output=True, text=True)
    if info.returncode != 0:
        sys.stderr.write(info.stderr)
        return info.returncode, None
    backups = json.loads(info.stdout)[0]["backup"]
    return 0, backups[-1]["info"]["repository"]["delta"]


def run_uploads(cfg):
    rc = cfg["restic"]
    count = manifest(rc["upload_dir"], rc["manifest"])
    print("manifest: %d files in %s" % (count, rc["upload_dir"]))
    res = subprocess.run(restic_argv(cfg, ["backup", "--json", "--host", rc["host"], "--tag", "uploads",
                                           rc["upload_dir"], rc["manifest"]]),
                         env=restic_env(cfg), check=False, capture_output=True, text=True)
    sys.stderr.write(res.stderr)
    summary = {}
    for line in res.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("message_type") == "summary":
            summary = message
    if res.returncode != 0 or not summary.get("snapshot_id"):
        return res.returncode or 1, None
    print("snapshot %s: %d files, %d bytes added"
          % (summary["snapshot_id"], summary.get("total_files_processed", 0), summary.get("data_added", 0)))
    return 0, summary.get("data_added", 0)


def uploads_init(cfg):
    """Create the uploads repository unless a readable one is there already."""
    env = restic_env(cfg)
    found = subprocess.run(restic_argv(cfg, ["cat", "config"]), env=env, capture_output=True, text=True, check=False)
    if found.returncode == 0:
        print("exists")
        return 0
    made = subprocess.run(restic_argv(cfg, ["init"]), env=env, capture_output=True, text=True, check=False)
    if made.returncode != 0:
        raise JobError(1, "ultraai-backup: cannot create the uploads repository %s: %s\n(reading it first said: %s)\n"
                       % (cfg["restic"]["repository"], made.stderr.strip(), found.stderr.strip()))
    print("created")
    return 0


def restic_time(text):
    """restic's RFC 3339 time (nanoseconds, any offset) as epoch seconds."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not match:
        raise ValueError("unexpected restic time %r" % text)
    offset = "+00:00" if match.group(3) == "Z" else match.group(3)
    stamp = datetime.datetime.fromisoformat(match.group(1) + offset).timestamp()
    return stamp + float("0" + (match.group(2) or ".0"))


def find_snapshot(cfg, host, before):
    """(snapshot, count) of host's newest uploads snapshot at or before `before` (None: the newest)."""
    res = subprocess.run(restic_argv(cfg, ["snapshots", "--json", "--host", host, "--tag", "uploads"]),
                         env=restic_env(cfg), check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise JobError(res.returncode, res.stderr)
    snaps = sorted(json.loads(res.stdout) or [], key=lambda s: restic_time(s["time"]))
    eligible = [s for s in snaps if before is None or restic_time(s["time"]) <= before]
    if not eligible:
        raise JobError(3, "ultraai-backup: no uploads snapshot of %s at or before %s (snapshots: %s)\n"
                       % (host, "now" if before is None else before, ", ".join(s["time"] for s in snaps) or "none"))
    return eligible[-1], len(snaps)


def uploads_snapshot(cfg, before):
    snap, count = find_snapshot(cfg, cfg["restic"]["host"], before)
    print(json.dumps({"id": snap["id"], "short_id": snap.get("short_id", snap["id"][:8]), "time": snap["time"],
                      "epoch": restic_time(snap["time"]), "count": count}))
    return 0


def check_manifest(upload_dir, manifest_path):
    """(checked, problems) for every manifest line against the files under upload_dir."""
    problems, checked = [], 0
    with open(manifest_path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            digest, name = line.rstrip("\n").split("  ", 1)
            full = os.path.join(upload_dir, name)
            actual = hashlib.sha256()
            try:
                with open(full, "rb") as data:
                    for chunk in iter(lambda: data.read(1024 * 1024), b""):
                        actual.update(chunk)
            except OSError as exc:
                problems.append("%s: %s" % (name, exc.strerror))
                continue
            checked += 1
            if actual.hexdigest() != digest:
                problems.append("%s: sha256 %s, manifest %s" % (name, actual.hexdigest(), digest))
    return checked, problems


def restore_verified(cfg, snapshot, staging):
    """Restore the snapshot's uploads and manifest under staging and prove every file
    against the manifest: (directory holding the uploads, files checked)."""
    rc = cfg["restic"]
    upload_dir = rc["upload_dir"].rstrip("/")
    shutil.rmtree(staging, ignore_errors=True)
    res = subprocess.run(restic_argv(cfg, ["restore", snapshot, "--target", staging, "--include", upload_dir,
                                           "--include", rc["manifest"]]),
                         env=restic_env(cfg), check=False, capture_output=True, text=True)
    if res.returncode != 0:
        raise JobError(res.returncode, res.stderr)
    restored = staging + upload_dir
    manifest_copy = staging + rc["manifest"]
    if not os.path.isfile(manifest_copy):
        raise JobError(4, "ultraai-backup: snapshot %s has no manifest %s\n" % (snapshot, rc["manifest"]))
    if not os.path.isdir(restored):
        # An empty upload directory: restic keeps the directory itself only when it has files.
        os.makedirs(restored, mode=0o750)
    checked, problems = check_manifest(restored, manifest_copy)
    if problems:
        raise JobError(5, "ultraai-backup: snapshot %s does not match its manifest: %s\n"
                       % (snapshot, "; ".join(problems[:20])))
    return restored, checked


def uploads_restore(cfg, snapshot):
    upload_dir = cfg["restic"]["upload_dir"].rstrip("/")
    staging = upload_dir + ".restoring"
    restored, checked = restore_verified(cfg, snapshot, staging)
    previous = upload_dir + ".pre-restore"
    if os.path.lexists(upload_dir):
        shutil.rmtree(previous, ignore_errors=True)
        os.rename(upload_dir, previous)
    os.rename(restored, upload_dir)
    shutil.rmtree(staging, ignore_errors=True)
    print(json.dumps({"snapshot": snapshot, "files": checked, "verified": checked, "previous": previous}))
    return 0


def drill_uploads(cfg, host, before):
    """Restore host's uploads as of `before` into the drill directory (it runs as the
    drill's unprivileged user) and prove them against the manifest."""
    snap, dummy = find_snapshot(cfg, host, before)
    staging = os.path.join(cfg["drill"]["dir"], "uploads", host)
    restored, checked = restore_verified(cfg, snap["id"], staging)
    print(json.dumps({"host": host, "snapshot": snap["id"], "time": snap["time"], "epoch": restic_time(snap["time"]),
                      "files": checked, "verified": checked, "path": restored}))
    return 0


def drill_metrics(cfg, rto, rpo):
    write_metrics(cfg, "drill", {
        "last_success_timestamp_seconds": ("Time of the last successful disaster-recovery drill.",
                                           "%.3f" % time.time()),
        "rto_seconds": ("Wall time of the last successful drill (recovery time).", "%.3f" % rto),
        "rpo_seconds": ("Recovery point of the last successful drill: age of the newest archived WAL "
                        "at its reference point.", "%.3f" % rpo),
    }, family="dr")
    return 0


def run(cfg, kind):
    start = time.time()
    if kind in PG_TYPES and "pgbackrest" in cfg:
        code, size = run_pg(cfg, kind)
    elif kind == "uploads" and "restic" in cfg:
        code, size = run_uploads(cfg)
    else:
        sys.stderr.write("ultraai-backup: this host has no backup job '%s' (configured: %s)\n"
                         % (kind, ", ".join(sorted(k for k in ("pgbackrest", "restic") if k in cfg))))
        return 2
    end = time.time()
    if code == 0:
        write_metrics(cfg, kind, {
            "last_success_timestamp_seconds": ("Time of the last successful backup run.", "%.3f" % end),
            "last_duration_seconds": ("Wall time of the last successful backup run.", "%.3f" % (end - start)),
            "last_size_bytes": ("Bytes the last successful backup added to the repository.", int(size or 0)),
        })
        print("ultraai-backup: %s succeeded in %.1f s" % (kind, end - start))
        return 0
    write_metrics(cfg, kind, {
        "last_failure_timestamp_seconds": ("Time of the last failed backup run.", "%.3f" % end),
        "last_failure_exit_code": ("Exit code of the last failed backup run (negative: killed by that signal).",
                                   code),
    })
    sys.stderr.write("ultraai-backup: %s FAILED (exit %s) after %.1f s; the last good backup is unchanged\n"
                     % (kind, code, end - start))
    return 1


COMMANDS = {"run": 1, "pgbackrest": 1, "restic": 1, "uploads-init": 0, "uploads-snapshot": 0, "uploads-restore": 1,
            "drill-uploads": 2, "drill-metrics": 2}


def main(argv):
    if not argv or argv[0] not in COMMANDS or len(argv) - 1 < COMMANDS[argv[0]]:
        sys.stderr.write(__doc__)
        return 2
    cfg = load()
    try:
        return dispatch(cfg, argv)
    except JobError as exc:
        sys.stderr.write(exc.message)
        return exc.code


def dispatch(cfg, argv):
    if argv[0] == "run":
        return run(cfg, argv[1])
    if argv[0].startswith(("uploads-", "drill-uploads")) and "restic" not in cfg:
        sys.stderr.write("ultraai-backup: restic is not configured on this host\n")
        return 2
    if argv[0].startswith("drill-") and "drill" not in cfg:
        sys.stderr.write("ultraai-backup: this host is not a DR drill host\n")
        return 2
    if argv[0] == "uploads-init":
        return uploads_init(cfg)
    if argv[0] == "uploads-snapshot":
        return uploads_snapshot(cfg, float(argv[1]) if len(argv) > 1 else None)
    if argv[0] == "uploads-restore":
        return uploads_restore(cfg, argv[1])
    if argv[0] == "drill-uploads":
        return drill_uploads(cfg, argv[1], float(argv[2]))
    if argv[0] == "drill-metrics":
        return drill_metrics(cfg, float(argv[1]), float(argv[2]))
    section = argv[0]
    if section not in cfg:
        sys.stderr.write("ultraai-backup: %s is not configured on this host\n" % section)
        return 2
    if section == "pgbackrest":
        return subprocess.run(pgbackrest_argv(cfg, argv[1:]), check=False).returncode
    return subprocess.run(restic_argv(cfg, argv[1:]), env=restic_env(cfg), check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
