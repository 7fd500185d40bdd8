"""Backup, destroy, restore to a marker time on the posix repository (the
backup host): exactly the rows up to the marker and every upload come back, and
the app is healthy through the balancer. Then the faults and the DR drill.

The tests run in file order and share state: each step builds on the one before
(the issue's steps 1-8, in backupflow.py, which test_backup_s3.py runs again
against the S3 repository)."""

import json
import os
import time

import pytest

from backupflow import (DATA_DIR, METRICS, PROJECT, backup_now, destroy_the_data_directory_and_the_uploads,
                        every_upload_matches_its_checksum, exactly_the_rows_up_to_the_marker,
                        healthy_and_writing_through_the_balancer, lab_host, metric, new_context, output, playbook,
                        psql, restore_to_the_marker, rows_after_the_marker, rows_and_uploads, rows_then_a_marker,
                        Writer)

testinfra_hosts = ["blb"]  # other hosts are reached through lab_host()

STATE = {}


# Every test takes the (session-scoped, parametrized) host fixture, so pytest
# keeps them in file order instead of moving the ones without it to the end.
@pytest.fixture(autouse=True)
def on_the_lab(host):
    return host


@pytest.fixture(scope="module")
def ctx():
    return STATE.setdefault("flow", new_context("backup"))


def test_1_rows_and_uploads_through_the_api(ctx):
    rows_and_uploads(ctx)


def test_2_backup_playbook_backs_up_verifies_and_prunes(host):
    backup_now(host)
    repo = lab_host(host, "backup")
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
    # A oneshot unit is "activating" while it runs (is-active is false then too):
    # wait for the state it ends in.
    repo.check_output("for i in $(seq 1 600); do case $(systemctl show -P ActiveState ultraai-backup@pg-full.service) in "
                      "activating|active|deactivating|reloading) sleep 0.2;; *) exit 0;; esac; done; exit 1")
    assert repo.run("systemctl is-failed -q ultraai-backup@pg-full.service").rc == 0
    assert metric(repo, "last_failure_timestamp_seconds", "pg-full", "_failure") > time.time() - 300
    assert repo.check_output("cat %s/ultraai_backup_pg_diff.prom; ls %s | grep -v _failure" % (METRICS, METRICS)) \
        == "\n".join(line for line in metrics_before.splitlines() if "_failure" not in line)
    assert not repo.file("%s/ultraai_backup_pg_full.prom" % METRICS).exists
    after = json.loads(repo.check_output(info))[0]
    assert [b["label"] for b in after["backup"]] == labels_before and after["status"]["code"] == 0
    report = repo.check_output("runuser -u pgbackrest -- pgbackrest --stanza=ultraai --output=text --verbose verify")
    assert "\nstatus: ok" in "\n" + report, report  # verify exits 0 either way: read its report
    repo.check_output("systemctl reset-failed ultraai-backup@pg-full.service")
    repo.check_output("/usr/local/sbin/ultraai-backup run pg-full")
    assert metric(repo, "last_success_timestamp_seconds", "pg-full") > time.time() - 300
    assert len(json.loads(repo.check_output(info))[0]["backup"]) == len(labels_before) + 1


def test_3_rows_then_a_marker(host, ctx):
    rows_then_a_marker(host, ctx)


def test_4_rows_after_the_marker(host, ctx):
    rows_after_the_marker(host, ctx)


def test_5_destroy_the_data_directory_and_the_uploads(host, ctx):
    destroy_the_data_directory_and_the_uploads(host, ctx)


def test_6_restore_to_the_marker(ctx):
    restore_to_the_marker(ctx)


def test_7_exactly_the_rows_up_to_the_marker(host, ctx):
    exactly_the_rows_up_to_the_marker(host, ctx)


def test_7_every_upload_matches_its_checksum(host, ctx):
    every_upload_matches_its_checksum(host, ctx)


def test_8_healthy_and_writing_through_the_balancer(ctx):
    healthy_and_writing_through_the_balancer(ctx)


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


def drill_figures(res):
    """RTO and RPO from dr_drill.yml's summary."""
    text = output(res)
    figures = {}
    for name in ("rto_s", "rpo_s"):
        marker = "%s: " % name
        assert marker in text, text[-3000:]
        figures[name] = float(text.split(marker, 1)[1].split()[0].strip("'\","))
    return figures


def test_9_dr_drill_restores_onto_the_scratch_host_and_tears_it_down(host):
    scratch, db = lab_host(host, "bscratch"), lab_host(host, "bdb")
    canaries = int(psql(host, "SELECT count(*) FROM ultraai_dr_canary") if psql(
        host, "SELECT count(*) FROM pg_tables WHERE tablename = 'ultraai_dr_canary'") == "1" else 0)
    # Production has traffic: a writer posts an analysis every second through the
    # balancer while the drill runs, so the RPO it reports is the archive's lag
    # behind real writes (archive_timeout is 15 s here), not the idle time since
    # the last test wrote. The drill must not cost the writer a single request.
    with Writer(STATE["flow"]) as writer:
        res = playbook("dr_drill.yml")
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    figures = drill_figures(res)
    STATE["drill"] = figures
    assert writer.ok > 10 and not writer.failed, (writer.ok, writer.failed[:5])
    # When the RPO is out of bounds, say what the archiver was doing (its counts
    # and failures, and the server's archive and checkpoint lines: archive-push
    # writes no log file of its own on the database host) so the cause is in
    # the report, not only the figure.
    archiver = "" if 0 <= figures["rpo_s"] <= 60 else db.run(
        "runuser -u postgres -- psql -XAtq -c 'SELECT * FROM pg_stat_archiver'; "
        "grep -iE 'archiv|checkpoint' /var/log/postgresql/postgresql-15-main.log | tail -n 30").stdout
    assert figures["rto_s"] > 0 and 0 <= figures["rpo_s"] <= 60, (figures, archiver)
    text = output(res)
    # The drill compared every table's row count and the canary; its summary names them.
    assert "rows_verified" in text and "analyses" in text and "bapp1: 3" in text, text[-3000:]
    assert int(psql(host, "SELECT count(*) FROM ultraai_dr_canary")) == canaries + 1
    assert db.service("postgresql@15-main").is_running
    # Torn down: the copy's cluster is stopped and its data and uploads are gone.
    assert not scratch.service("postgresql@15-main").is_running
    assert not scratch.file(DATA_DIR).exists
    assert not scratch.file("/var/lib/ultraai-drill/uploads").exists
    prom = scratch.file("%s/ultraai_dr_drill.prom" % METRICS).content_string
    assert "ultraai_dr_last_success_timestamp_seconds" in prom and "ultraai_dr_rto_seconds" in prom, prom
    with open(os.path.join(PROJECT, "tests", "output", "molecule", "backup-figures.json"), "w", encoding="utf-8") as fh:
        json.dump(STATE.get("drill"), fh)


def test_10_dr_drill_refuses_a_corrupted_newest_backup(host):
    """Flip bytes in a file of the newest backup set: the drill stops before it
    restores anything, names the set, and exits non-zero; the repository is put
    back afterwards."""
    repo, scratch = lab_host(host, "backup"), lab_host(host, "bscratch")
    info = json.loads(repo.check_output("runuser -u pgbackrest -- pgbackrest --stanza=ultraai --output=json info"))
    newest = info[0]["backup"][-1]["label"]
    victim = repo.check_output("find /var/lib/pgbackrest/backup/ultraai/%s/pg_data -type f -size +8k | sort | head -1"
                               % newest)
    assert victim, "no file to corrupt in %s" % newest
    repo.check_output("cp -a %s /root/victim.bak && printf 'corrupted' | dd of=%s bs=1 seek=4096 conv=notrunc status=none"
                      % (victim, victim))
    try:
        res = playbook("dr_drill.yml")
    finally:
        repo.check_output("cp -a /root/victim.bak %s && rm -f /root/victim.bak" % victim)
    assert res.returncode != 0
    text = output(res)
    assert "The backup set %s does not verify" % newest in text, text[-3000:]
    assert "Nothing was restored" in text
    assert not scratch.file(DATA_DIR).exists
    # Put back, the repository verifies again (verify exits 0 either way: read its report).
    report = repo.check_output("runuser -u pgbackrest -- pgbackrest --stanza=ultraai --set=%s --output=text --verbose verify"
                               % newest)
    assert "status: ok" in report, report


def test_fault_full_repository_disk_fails_loudly_and_reports_nothing_good(host):
    """The repository's filesystem fills up during a full backup: backup.yml
    fails with the reason, the repository lists no new backup, the success
    metric does not move. The repository is put on a copy in a tmpfs with 256 KiB
    free for the run; the WAL archived meanwhile is copied back after."""
    repo = lab_host(host, "backup")
    info_cmd = "runuser -u pgbackrest -- pgbackrest --stanza=ultraai --output=json info"
    labels_before = [b["label"] for b in json.loads(repo.check_output(info_cmd))[0]["backup"]]
    success_before = repo.run("cat %s/ultraai_backup_pg_full.prom" % METRICS)  # absent is a state too
    # A tmpfs with room for a copy of the repository, then a filler file that
    # leaves 256 KiB free: less than a full backup of even this small cluster needs.
    used = int(repo.check_output("du -s --block-size=1 /var/lib/pgbackrest | cut -f1"))
    repo.check_output(
        "mkdir -p /mnt/fullrepo && mount -t tmpfs -o size=%d,mode=0750 tmpfs /mnt/fullrepo && "
        "cp -a /var/lib/pgbackrest/. /mnt/fullrepo/ && chown pgbackrest:pgbackrest /mnt/fullrepo && "
        "avail=$(df --output=avail -B1 /mnt/fullrepo | tail -1) && "
        "dd if=/dev/zero of=/mnt/fullrepo/.filler bs=64K count=$(( (avail - 262144) / 65536 )) status=none && "
        "mount --bind /mnt/fullrepo /var/lib/pgbackrest" % (2 * used + 64 * 1024 * 1024))
    try:
        res = playbook("backup.yml", "-e", "backup_now_pg_type=full")
        labels_during = [b["label"] for b in json.loads(repo.check_output(info_cmd))[0]["backup"]]
    finally:
        repo.check_output("umount /var/lib/pgbackrest && cp -an /mnt/fullrepo/archive/. /var/lib/pgbackrest/archive/ && "
                          "umount /mnt/fullrepo")
    assert res.returncode != 0
    text = output(res)
    assert "pg-full FAILED" in text or "No space left on device" in text or "[047]" in text, text[-3000:]
    assert labels_during == labels_before, "a backup that did not complete is listed: %s" % labels_during
    success_after = repo.run("cat %s/ultraai_backup_pg_full.prom" % METRICS)
    assert (success_after.rc, success_after.stdout) == (success_before.rc, success_before.stdout)
    assert metric(repo, "last_failure_timestamp_seconds", "pg-full", "_failure") > time.time() - 600
    # Space back: the next backup succeeds.
    repo.check_output("/usr/local/sbin/ultraai-backup run pg-diff")
