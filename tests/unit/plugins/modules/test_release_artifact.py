import functools
import hashlib
import json

import pytest

from ansible_collections.ultraai.platform.plugins.modules import release_artifact


@pytest.fixture
def artifact_run(run):
    return functools.partial(run, release_artifact)


def write(tmp_path, data=b"bundle"):
    (tmp_path / "ultraai-frontend-2.0.0.tar.gz").write_bytes(data)
    (tmp_path / "ultraai-2.0.0.manifest.json").write_text(json.dumps({
        "name": "ultraai", "version": "2.0.0", "entry_point": "ultraai.main:app",
        "frontend": {"file": "ultraai-frontend-2.0.0.tar.gz", "sha256": hashlib.sha256(b"bundle").hexdigest()}}))


@pytest.mark.parametrize("check_mode", [False, True])
def test_ok(tmp_path, artifact_run, check_mode):
    write(tmp_path)
    out = artifact_run({"release_dir": str(tmp_path), "version": "2.0.0", "component": "frontend"}, check_mode)
    assert not out["changed"] and out["size"] == 6 and out["manifest"]["entry_point"] == "ultraai.main:app"


@pytest.mark.parametrize("args,data,message", [
    ({"version": "2.0.0", "component": "frontend"}, b"tampered", "does not match the manifest"),
    ({"version": "2.0.1", "component": "frontend"}, b"bundle", "no manifest for ultraai 2.0.1"),
    ({"version": "two", "component": "frontend"}, b"bundle", "not a release version"),
    ({"version": "2.0.0", "component": "backend"}, b"bundle", "has no backend artifact"),
    ({"version": "2.0.0", "component": "docs"}, b"bundle", "value of component must be one of"),
])
def test_errors(tmp_path, artifact_run, args, data, message):
    write(tmp_path, data)
    out = artifact_run(dict(args, release_dir=str(tmp_path)))
    assert out["failed"] and message in out["msg"]
