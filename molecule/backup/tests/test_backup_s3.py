"""The issue's steps 1-8 again (backupflow.py), against the S3 repository: a moto
server on the lab gateway (10.77.0.1) over HTTPS, with a certificate from a CA
made here that the lab hosts then trust (system store, so pgBackRest and restic
verify it like any other). The backup play switches every host to the bucket;
the flow then backs up, restores to a marker time and proves the rows and
uploads, all through S3. Runs after test_backup.py (file order)."""

import json
import os
import subprocess
import sys

import boto3
import pytest

from backupflow import (PROJECT, backup_now, destroy_the_data_directory_and_the_uploads,
                        every_upload_matches_its_checksum, exactly_the_rows_up_to_the_marker,
                        healthy_and_writing_through_the_balancer, lab_host, new_context, playbook,
                        restore_to_the_marker, rows_after_the_marker, rows_and_uploads, rows_then_a_marker)

sys.path.insert(0, os.path.join(PROJECT, "scripts"))
import moto_server  # noqa: E402  pylint: disable=wrong-import-position,import-error

testinfra_hosts = ["blb"]

GATEWAY = "10.77.0.1"
PORT = 9443
BUCKET = "ultraai-lab-backups"
KEYS = {"backup_s3_access_key": "testing", "backup_s3_secret_key": "testing"}
HOSTS = ["backup", "bdb", "bapp1", "bscratch"]
STATE = {}


# Every test takes the (session-scoped, parametrized) host fixture, so pytest
# keeps them in file order instead of moving the ones without it to the end.
@pytest.fixture(autouse=True)
def on_the_lab(host):
    return host


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


@pytest.fixture(scope="module")
def s3(host, tmp_path_factory):
    """moto over TLS on the gateway, its CA trusted by the lab hosts, one bucket."""
    work = tmp_path_factory.mktemp("s3")
    ca_key, ca_crt, key, csr, crt = (str(work / n) for n in ("ca.key", "ca.crt", "s3.key", "s3.csr", "s3.crt"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "2",
            "-subj", "/CN=UltraAI lab S3 test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=%s" % GATEWAY)
    ext = work / "ext.cnf"
    # IP for restic (Go matches an address against IP entries), DNS with the same text for
    # pgBackRest (it compares the host string with DNS entries).
    ext.write_text("subjectAltName=IP:%s,DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                   % (GATEWAY, GATEWAY))
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-out", crt,
            "-days", "2", "-extfile", str(ext))
    proc, endpoint = moto_server.start(host=GATEWAY, port=PORT, ssl_cert=crt, ssl_key=key,
                                       log=os.path.join(PROJECT, "tests", "output", "molecule", "backup-moto.log"))
    try:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", verify=ca_crt,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        client.create_bucket(Bucket=BUCKET)
        with open(ca_crt, encoding="ascii") as fh:
            pem = fh.read()
        for name in HOSTS:
            lab_host(host, name).check_output(
                "printf '%%s' %s > /usr/local/share/ca-certificates/ultraai-lab-s3.crt && update-ca-certificates >/dev/null",
                pem)
        yield {"client": client, "endpoint": endpoint}
    finally:
        moto_server.stop(proc)


@pytest.fixture(scope="module")
def ctx():
    return STATE.setdefault("flow", new_context("s3"))


def test_s3_switch_the_repositories_to_the_bucket(s3):
    extra = dict(KEYS, backup_s3_bucket=BUCKET, backup_s3_endpoint="%s:%d" % (GATEWAY, PORT))
    res = playbook(os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "s3.yml"), "-e", json.dumps(extra),
                   log_name="backup-s3-switch")
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert "failed=0" in res.stdout
    keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert "pgbackrest/backup/ultraai/backup.info" in keys and "restic/config" in keys, keys


def test_s3_1_rows_and_uploads(ctx):
    rows_and_uploads(ctx)


def test_s3_2_backup_playbook(host, s3):
    backup_now(host)
    keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket=BUCKET, Prefix="pgbackrest/backup/ultraai/")
            .get("Contents", [])]
    assert any(k.endswith("backup.manifest") for k in keys), keys
    snaps = [o["Key"] for o in s3["client"].list_objects_v2(Bucket=BUCKET, Prefix="restic/snapshots/")
             .get("Contents", [])]
    assert snaps, "no restic snapshot in the bucket"
    # The secrets stay out of world-readable files.
    repo = lab_host(host, "backup")
    assert repo.file("/etc/pgbackrest/conf.d/ultraai-secrets.conf").mode == 0o640
    assert "testing" not in repo.file("/etc/pgbackrest/pgbackrest.conf").content_string


def test_s3_3_rows_then_a_marker(host, ctx):
    rows_then_a_marker(host, ctx)


def test_s3_4_rows_after_the_marker(host, ctx):
    rows_after_the_marker(host, ctx)


def test_s3_5_destroy(host, ctx):
    destroy_the_data_directory_and_the_uploads(host, ctx)


def test_s3_6_restore_to_the_marker(ctx, s3):
    restore_to_the_marker(ctx)


def test_s3_7_exactly_the_rows_up_to_the_marker(host, ctx):
    exactly_the_rows_up_to_the_marker(host, ctx)


def test_s3_7_every_upload_matches(host, ctx):
    every_upload_matches_its_checksum(host, ctx)


def test_s3_8_healthy_and_writing(ctx):
    healthy_and_writing_through_the_balancer(ctx)
