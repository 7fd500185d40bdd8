import functools
import io
import os
import tarfile

import pytest

from ansible_collections.ultraai.platform.plugins.modules import release


def make_tar(path, files, links=(), modes=None, hardlinks=(), files_after=None):
    """files, then symbolic links, then hard links, then files_after (written
    through what came before)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in list(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = (modes or {}).get(name, 0o644)
            tar.addfile(info, io.BytesIO(data))
        for kind, pairs in ((tarfile.SYMTYPE, links), (tarfile.LNKTYPE, hardlinks)):
            for name, target in pairs:
                info = tarfile.TarInfo(name)
                info.type = kind
                info.linkname = target
                tar.addfile(info)
        for name, data in (files_after or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.fixture
def result(run):
    return functools.partial(run, release)


def test_unpack_switch_and_idempotence(tmp_path, result):
    base = tmp_path / "app"
    src = make_tar(tmp_path / "r.tgz", {"wheels/a.whl": b"x"})
    out = result({"path": str(base), "version": "1.0.0", "src": src, "state": "current"})
    assert out["changed"] and out["switched"] and out["current"] == "1.0.0" and out["previous"] is None
    assert os.readlink(str(base / "current")) == "releases/1.0.0"
    assert (base / "releases/1.0.0/wheels/a.whl").read_bytes() == b"x"
    out = result({"path": str(base), "version": "1.0.0", "src": src, "state": "current"})
    assert not out["changed"] and not out["switched"]


def test_switch_records_previous_and_prunes(tmp_path, result):
    base = tmp_path / "app"
    for version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0"):
        out = result({"path": str(base), "version": version, "state": "current", "keep": 2})
    assert out["current"] == "1.3.0" and out["previous"] == "1.2.0"
    assert out["releases"] == ["1.2.0", "1.3.0"]
    assert sorted(os.listdir(str(base / "releases"))) == ["1.2.0", "1.3.0"]
    assert result({"path": str(base), "state": "query"})["previous"] == "1.2.0"


def test_check_mode_changes_nothing_and_diffs(tmp_path, result):
    base = tmp_path / "app"
    result({"path": str(base), "version": "1.0.0", "state": "current"})
    out = result({"path": str(base), "version": "2.0.0", "state": "current"}, check_mode=True, diff=True)
    assert out["changed"] and out["current"] == "2.0.0"
    assert out["diff"]["before"]["current"] == "1.0.0" and out["diff"]["after"]["current"] == "2.0.0"
    assert os.readlink(str(base / "current")) == "releases/1.0.0"
    assert os.listdir(str(base / "releases")) == ["1.0.0"]


def test_require_blocks_incomplete_release(tmp_path, result):
    base = tmp_path / "app"
    result({"path": str(base), "version": "1.0.0", "state": "present"})
    out = result({"path": str(base), "version": "1.0.0", "state": "current", "require": ["venv/.complete"]})
    assert out["failed"] and "not complete (missing venv/.complete)" in out["msg"]
    assert not (base / "current").exists()


@pytest.mark.parametrize("case,args,message", [
    ("bad version", {"version": "latest", "state": "present"}, "not a release version"),
    ("missing version", {"state": "current"}, "missing: version"),
    ("keep below one", {"version": "1.0.0", "state": "current", "keep": 0}, "keep must be at least 1"),
    ("require outside", {"version": "1.0.0", "state": "current", "require": ["../etc"]}, "paths inside the release"),
    ("missing archive", {"version": "1.0.0", "src": "/nonexistent.tgz"}, "does not exist on the host"),
    ("unknown state", {"version": "1.0.0", "state": "latest"}, "value of state must be one of"),
])
def test_bad_input(tmp_path, result, case, args, message):
    out = result(dict(args, path=str(tmp_path / "app")))
    assert out["failed"] and message in out["msg"], out["msg"]
    assert "Traceback" not in out.get("msg", "")


@pytest.mark.parametrize("files,links,message", [
    ({"../escape": b"x"}, (), "outside the release"),
    ({"/etc/passwd": b"x"}, (), "outside the release"),
    ({}, (("evil", "/etc"),), "is a link"),
])
def test_unsafe_archives_refused_and_nothing_left(tmp_path, result, files, links, message):
    base = tmp_path / "app"
    src = make_tar(tmp_path / "bad.tgz", files, links)
    out = result({"path": str(base), "version": "1.0.0", "src": src})
    assert out["failed"] and message in out["msg"]
    assert os.listdir(str(base / "releases")) == []  # no release and no temporary directory left


def test_a_chain_of_links_that_each_look_inside_is_refused(tmp_path, result):
    # Checked one by one before extraction, every link stays inside the release:
    # t -> ".", q -> "t", p -> "q/..". Extracted, p resolves to the directory above
    # the release, and p/evil would be written there (as root, on a real host).
    base = tmp_path / "app"
    src = make_tar(tmp_path / "chain.tgz", {}, links=(("t", "."), ("q", "t"), ("p", "q/..")),
                   files_after={"p/evil": b"pwned"})
    out = result({"path": str(base), "version": "1.0.0", "src": src})
    assert out["failed"] and "is a link" in out["msg"], out["msg"]
    assert not [f for dirpath, dirs, names in os.walk(str(tmp_path)) for f in names if f == "evil"]
    assert os.listdir(str(base / "releases")) == []


def test_a_hard_link_is_refused(tmp_path, result):
    base = tmp_path / "app"
    src = make_tar(tmp_path / "hard.tgz", {"a": b"x"}, hardlinks=(("b", "a"),))
    out = result({"path": str(base), "version": "1.0.0", "src": src})
    assert out["failed"] and "is a link" in out["msg"], out["msg"]


def test_modes_are_forced(tmp_path, result):
    # A set-uid, world-writable member comes out 0755; a group-writable one 0644.
    base = tmp_path / "app"
    src = make_tar(tmp_path / "modes.tgz", {"bin/tool": b"#!/bin/sh\n", "conf": b"x"},
                   modes={"bin/tool": 0o4777, "conf": 0o666})
    assert result({"path": str(base), "version": "1.0.0", "src": src})["changed"]
    assert (base / "releases/1.0.0/bin/tool").stat().st_mode & 0o7777 == 0o755
    assert (base / "releases/1.0.0/conf").stat().st_mode & 0o7777 == 0o644


def test_absent_refuses_live_release(tmp_path, result):
    base = tmp_path / "app"
    result({"path": str(base), "version": "1.0.0", "state": "current"})
    out = result({"path": str(base), "version": "1.0.0", "state": "absent"})
    assert out["failed"] and "is live" in out["msg"]


def test_current_that_is_a_directory_is_refused(tmp_path, result):
    base = tmp_path / "app"
    (base / "current").mkdir(parents=True)
    out = result({"path": str(base), "state": "query"})
    assert out["failed"] and "is not a symlink" in out["msg"]
