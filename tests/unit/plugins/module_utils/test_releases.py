import hashlib
import json

import pytest

from ansible_collections.ultraai.platform.plugins.module_utils import releases as R


@pytest.mark.parametrize("version,ok", [
    ("1.0.0", True), ("10.20.30", True), ("1.4.2-rc1", True), ("1.4.2+build.7", True),
    ("1.0", False), ("v1.0.0", False), ("1.0.0/../x", False), ("", False), (None, False), (1, False),
])
def test_check_version(version, ok):
    if ok:
        assert R.check_version(version) == version
    else:
        with pytest.raises(R.ReleaseError, match="not a release version"):
            R.check_version(version)


def hist(*versions):
    return [{"version": v, "activated_at": i} for i, v in enumerate(versions)]


@pytest.mark.parametrize("history,current,expected", [
    (hist(), "1.0.0", None),
    (hist("1.0.0"), "1.0.0", None),
    (hist("1.0.0", "1.1.0"), "1.1.0", "1.0.0"),
    (hist("1.0.0", "1.1.0", "1.1.0"), "1.1.0", "1.0.0"),          # re-activation is not a step
    (hist("1.0.0", "1.1.0", "1.0.0"), "1.0.0", "1.1.0"),          # after a rollback, previous is the bad one
    (hist("1.0.0", "1.1.0", "1.2.0"), "1.1.0", "1.0.0"),          # current not newest: read from its place
])
def test_previous_version(history, current, expected):
    assert R.previous_version(history, current) == expected


@pytest.mark.parametrize("releases,history,current,keep,protect,expected", [
    (["1.0.0", "1.1.0", "1.2.0"], hist("1.0.0", "1.1.0", "1.2.0"), "1.2.0", 2, (), ["1.0.0"]),
    (["1.0.0", "1.1.0", "1.2.0"], hist("1.0.0", "1.1.0", "1.2.0"), "1.2.0", 5, (), []),
    (["1.0.0", "1.1.0", "1.2.0"], hist("1.0.0", "1.1.0", "1.2.0"), "1.2.0", 1, (), ["1.0.0", "1.1.0"]),
    # the current release is kept even when it is the oldest activation
    (["1.0.0", "1.1.0", "1.2.0"], hist("1.0.0", "1.1.0", "1.2.0"), "1.0.0", 1, (), ["1.1.0", "1.2.0"]),
    # never-activated releases count as newest; protected ones always stay
    (["1.0.0", "1.1.0", "2.0.0"], hist("1.0.0", "1.1.0"), "1.1.0", 2, ("1.0.0",), ["2.0.0"]),
    (["0.9.0", "1.0.0", "1.1.0", "2.0.0"], hist("0.9.0", "1.0.0", "1.1.0"), "1.1.0", 2, (), ["0.9.0", "1.0.0"]),
])
def test_releases_to_prune(releases, history, current, keep, protect, expected):
    assert R.releases_to_prune(releases, history, current, keep, protect) == expected


def test_releases_to_prune_rejects_keep_below_one():
    with pytest.raises(R.ReleaseError, match="keep must be at least 1"):
        R.releases_to_prune(["1.0.0"], [], "1.0.0", 0)


def test_record_and_read_history(tmp_path):
    history = R.record_activation([], "1.0.0", now=10)
    (tmp_path / R.HISTORY_FILE).write_text(json.dumps(history))
    assert R.read_history(str(tmp_path)) == [{"version": "1.0.0", "activated_at": 10}]
    (tmp_path / R.HISTORY_FILE).write_text("{broken")
    with pytest.raises(R.ReleaseError, match="not valid JSON"):
        R.read_history(str(tmp_path))
    assert R.read_history(str(tmp_path / "missing")) == []


def write_release(tmp_path, version="1.2.3", content=b"wheels", overrides=None):
    artifact = tmp_path / ("ultraai-%s.tar.gz" % version)
    artifact.write_bytes(content)
    manifest = {"name": "ultraai", "version": version,
                "backend": {"file": artifact.name, "sha256": hashlib.sha256(content).hexdigest()}}
    manifest.update(overrides or {})
    (tmp_path / ("ultraai-%s.manifest.json" % version)).write_text(json.dumps(manifest))
    return artifact, manifest


def test_manifest_and_component_ok(tmp_path):
    artifact, dummy = write_release(tmp_path)
    fname, manifest = R.load_manifest(str(tmp_path), "ultraai", "1.2.3")
    path, sha, size = R.verify_component(str(tmp_path), manifest, "backend")
    assert path == str(artifact) and size == 6 and sha == hashlib.sha256(b"wheels").hexdigest()


@pytest.mark.parametrize("case,setup,component,message", [
    ("missing manifest", lambda p: None, "backend", "no manifest for ultraai 1.2.3"),
    ("sha mismatch", lambda p: (write_release(p), (p / "ultraai-1.2.3.tar.gz").write_bytes(b"tampered")),
     "backend", "does not match the manifest"),
    ("missing artifact", lambda p: (write_release(p), (p / "ultraai-1.2.3.tar.gz").unlink()),
     "backend", "artifact .* is missing"),
    ("no such component", write_release, "frontend", "has no frontend artifact"),
    ("path in file name", lambda p: write_release(p, overrides={"backend": {"file": "../x.tar.gz", "sha256": "0" * 64}}),
     "backend", "plain file name"),
    ("wrong version inside", lambda p: write_release(p, overrides={"version": "9.9.9"}),
     "backend", "describes ultraai 9.9.9"),
    ("unknown component", write_release, "database", "unknown component"),
])
def test_manifest_errors(tmp_path, case, setup, component, message):
    setup(tmp_path)
    with pytest.raises(R.ReleaseError, match=message):
        dummy, manifest = R.load_manifest(str(tmp_path), "ultraai", "1.2.3")
        R.verify_component(str(tmp_path), manifest, component)
