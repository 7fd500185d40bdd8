"""The backup wrapper's `uploads-init` (roles/backup/files/ultraai_backup.py) with a real restic on
the controller: every app host backs up into one shared repository, so the first host creates it
and the others must find it instead of creating it again (the role runs the command one host at a
time). Two concurrent `restic init` runs both succeed and can leave a repository whose config no
host can read, which is what this replaces."""

import contextlib
import importlib.util
import io
import json
import os
import shutil
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WRAPPER = os.path.join(ROOT, "roles", "backup", "files", "ultraai_backup.py")

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is installed by scripts/bootstrap.sh")


def load_wrapper():
    spec = importlib.util.spec_from_file_location("ultraai_backup", WRAPPER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def host(tmp_path, name, repository, password):
    """One app host's view: its own config, password file and cache, the shared repository."""
    home = tmp_path / name
    home.mkdir()
    (home / "restic.pass").write_text(password + "\n", encoding="utf-8")
    config = home / "backup.json"
    config.write_text(json.dumps({"restic": {"repository": str(repository), "password_file": str(home / "restic.pass"),
                                             "cache_dir": str(home / "cache"), "host": name}}), encoding="utf-8")
    wrapper = load_wrapper()
    wrapper.CONFIG = str(config)
    return wrapper


def uploads_init(wrapper):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = wrapper.main(["uploads-init"])
    return rc, out.getvalue().strip(), err.getvalue()


def test_the_first_host_creates_and_the_others_find_it(tmp_path):
    repository = tmp_path / "repo"
    app1, app2 = (host(tmp_path, n, repository, "shared-passphrase") for n in ("app1", "app2"))
    assert uploads_init(app1)[:2] == (0, "created")
    assert uploads_init(app2)[:2] == (0, "exists")
    assert uploads_init(app1)[:2] == (0, "exists")
    # One key: nobody initialised the repository a second time.
    assert len(os.listdir(repository / "keys")) == 1
    env = dict(os.environ, RESTIC_REPOSITORY=str(repository), RESTIC_PASSWORD="shared-passphrase")
    assert subprocess.run(["restic", "cat", "config"], env=env, capture_output=True, check=False).returncode == 0


def test_a_repository_it_cannot_read_is_left_alone_with_a_clear_error(tmp_path):
    repository = tmp_path / "repo"
    assert uploads_init(host(tmp_path, "app1", repository, "shared-passphrase"))[:2] == (0, "created")
    keys = sorted(os.listdir(repository / "keys"))
    rc, out, err = uploads_init(host(tmp_path, "app2", repository, "another-passphrase"))
    assert rc == 1 and out == ""
    assert "cannot create the uploads repository %s" % repository in err, err
    assert "already exists" in err, err
    assert sorted(os.listdir(repository / "keys")) == keys
