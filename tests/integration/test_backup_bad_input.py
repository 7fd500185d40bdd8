"""Bad input to the backup role, backup.yml and restore.yml is refused before any
host is contacted (the target is unreachable on purpose)."""

import json
import os

import pytest

from conftest import ROOT, run

FILES = os.path.join(ROOT, "tests", "integration", "files")
PLAYBOOKS = os.path.join(ROOT, "playbooks")

# The unreachable host stands in for every group the role looks at.
GOOD = {
    "backup_encryption_passphrase": "a-long-enough-passphrase",
    "backup_repo_group": "all", "backup_database_group": "all", "backup_uploads_group": "all",
}

CASES = [
    ("unknown repository type", {"backup_repo_type": "nfs"}, "backup_repo_type must be one of posix"),
    ("full retention below 1", {"backup_pg_retention_full": 0}, "Retention must keep at least one backup"),
    ("diff retention below 1", {"backup_pg_retention_diff": -1}, "Retention must keep at least one backup"),
    ("uploads retention below 1", {"backup_uploads_keep_last": 0}, "Retention must keep at least one backup"),
    ("missing passphrase", {"backup_encryption_passphrase": None}, "backup_encryption_passphrase"),
    ("empty passphrase", {"backup_encryption_passphrase": ""}, "backup_encryption_passphrase must be set"),
    ("s3 without bucket or keys", {"backup_repo_type": "s3"}, "backup_repo_type=s3 needs backup_s3_bucket"),
    ("s3 with a bad endpoint", {"backup_repo_type": "s3", "backup_s3_bucket": "ultraai-backups",
                                "backup_s3_access_key": "k", "backup_s3_secret_key": "s",
                                "backup_s3_endpoint": "https://s3.example.com/"}, "backup_s3_endpoint (host or host:port"),
    ("primary not a database host", {"backup_pg_primary_host": "nope"}, "backup_pg_primary_host must be a host of"),
    ("archive timeout out of range", {"backup_pg_archive_timeout": 0}, "backup_pg_archive_timeout must be 1-3600"),
]


def variables(tmp_path, extra):
    values = dict(GOOD, **extra)
    values = {k: v for k, v in values.items() if v is not None}
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(values))
    return "@%s" % path


def refused(res, message):
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert message in out, out
    assert "UNREACHABLE" not in out, "the host was contacted before the input was refused:\n" + out
    assert "changed=" not in out or "changed=0" in out


@pytest.mark.parametrize("extra,message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("entry", ["role", "backup.yml", "restore.yml"])
def test_refused_before_contact(ansible_env, tmp_path, entry, extra, message):
    extra_vars = variables(tmp_path, dict(extra, role_under_test="backup"))
    book = os.path.join(FILES, "service_roles.yml") if entry == "role" else os.path.join(PLAYBOOKS, entry)
    hosts = ["-e", "backup_playbook_hosts=all", "-e", "restore_hosts=all"]
    res = run(["ansible-playbook", "-i", os.path.join(FILES, "unreachable.ini"), "-e", extra_vars] + hosts + [book],
              ansible_env)
    refused(res, message)


@pytest.mark.parametrize("target,message", [
    ("2999-01-01 00:00:00+00:00", "is in the future"),
    ("yesterday", "restore_target_time must be a date and time with its UTC offset"),
    ("2026-11-23 02:10:00", "restore_target_time must be a date and time with its UTC offset"),
])
def test_restore_target_time_refused_before_contact(ansible_env, tmp_path, target, message):
    res = run(["ansible-playbook", "-i", os.path.join(FILES, "unreachable.ini"), "-e", variables(tmp_path, {}),
               "-e", "restore_hosts=all", "-e", json.dumps({"restore_target_time": target}),
               os.path.join(PLAYBOOKS, "restore.yml")], ansible_env)
    refused(res, message)


def test_restore_refuses_two_targets(ansible_env, tmp_path):
    res = run(["ansible-playbook", "-i", os.path.join(FILES, "unreachable.ini"), "-e", variables(tmp_path, {}),
               "-e", json.dumps({"restore_target_time": "2026-01-01 00:00:00+00:00", "restore_set": "20260101-000000F"}),
               os.path.join(PLAYBOOKS, "restore.yml")], ansible_env)
    refused(res, "not both")


def test_good_input_gets_as_far_as_the_host(ansible_env, tmp_path):
    res = run(["ansible-playbook", "-i", os.path.join(FILES, "unreachable.ini"), "-e", variables(tmp_path, {}),
               "-e", "backup_playbook_hosts=all", os.path.join(PLAYBOOKS, "backup.yml")], ansible_env)
    assert "UNREACHABLE" in res.stdout + res.stderr, res.stdout
