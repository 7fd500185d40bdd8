"""scripts/build_release.py: the release artifacts, their offline install on a host-like
Python, and the test app's behaviour with its database and cache unreachable."""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile

import pytest

from conftest import ROOT

BUILDER = os.path.join(ROOT, "scripts", "build_release.py")
VERSION = "7.8.9"
HOST_PYTHON = "/usr/bin/python3"  # what the Debian 12 hosts have
LEAK = "pw-must-not-leak"


def clean_env(**extra):
    """The caller's environment without pip or app settings, so nothing outside the wheelhouse is used."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "ULTRAAI_", "PROMETHEUS_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    if "ULTRAAI_CACHE" in os.environ:  # the builder's wheel cache
        env["ULTRAAI_CACHE"] = os.environ["ULTRAAI_CACHE"]
    env.update(extra)
    return env


def build(*args):
    return subprocess.run([sys.executable, BUILDER, *args], capture_output=True, text=True, env=clean_env(),
                          timeout=600, check=False)


def extract(tar, dest, names=None):
    """Extract plain files and directories with safe relative names (Python 3.11.2 has no tarfile filters)."""
    members = [m for m in tar.getmembers() if names is None or m.name in names]
    for member in members:
        assert member.isfile() or member.isdir(), member.name
        assert not os.path.isabs(member.name) and ".." not in member.name.split("/"), member.name
    tar.extractall(dest, members=members)  # nosec: names checked above


def sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    res = build("--version", VERSION, "--output", str(out))
    assert res.returncode == 0, res.stderr
    manifest_path = out / ("ultraai-%s.manifest.json" % VERSION)
    return {"dir": out, "stdout": res.stdout, "manifest": json.loads(manifest_path.read_text())}


@pytest.fixture(scope="module")
def host_venv(release, tmp_path_factory):
    """A fresh venv of the hosts' Python with the release installed from its wheelhouse only."""
    base = tmp_path_factory.mktemp("host")
    with tarfile.open(release["dir"] / release["manifest"]["backend"]["file"]) as tar:
        extract(tar, base / "release")
    venv = base / "venv"
    subprocess.run([HOST_PYTHON, "-m", "venv", str(venv)], check=True, timeout=120)
    res = subprocess.run([str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "--no-index",
                          "--find-links", str(base / "release" / "wheels"), "ultraai==%s" % VERSION],
                         capture_output=True, text=True, env=clean_env(), timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return venv


def test_manifest_describes_the_artifacts(release):
    out, manifest = release["dir"], release["manifest"]
    backend = "ultraai-%s.tar.gz" % VERSION
    frontend = "ultraai-frontend-%s.tar.gz" % VERSION
    assert {k: manifest[k] for k in ("name", "version", "variant", "entry_point", "migrate_command", "python")} == {
        "name": "ultraai", "version": VERSION, "variant": "good", "entry_point": "ultraai.main:app",
        "migrate_command": "ultraai-migrate", "python": "3.11"}
    assert manifest["wheel_version"] == VERSION
    for key, name in (("backend", backend), ("frontend", frontend)):
        entry = manifest[key]
        assert entry["file"] == name
        assert entry["sha256"] == sha256(out / name)
        assert entry["size"] == (out / name).stat().st_size
    assert release["stdout"].split() == [str(out / backend), str(out / frontend),
                                         str(out / ("ultraai-%s.manifest.json" % VERSION))]
    assert sorted(p.name for p in out.iterdir()) == sorted([backend, frontend, "ultraai-%s.manifest.json" % VERSION])

    with tarfile.open(out / backend) as tar:
        names = tar.getnames()
    assert all(n == "wheels" or n.startswith("wheels/") for n in names), names
    wheels = sorted(n[len("wheels/"):] for n in names if n.startswith("wheels/"))
    assert wheels == manifest["wheels"]
    assert manifest["app_wheel"] == "ultraai-%s-py3-none-any.whl" % VERSION and manifest["app_wheel"] in wheels
    assert all(w.endswith(".whl") for w in wheels), "sdists in the wheelhouse"
    for w in wheels:  # pure, or built for CPython 3.11 on manylinux x86_64
        tags = w[:-4].split("-")[-3:]
        assert tags[2] == "any" or (tags[0] == "cp311" and "manylinux" in tags[2] and "x86_64" in tags[2]), w
    for dep in ("fastapi", "uvicorn", "gunicorn", "psycopg_binary", "redis", "pyjwt", "python_multipart",
                "prometheus_client"):
        assert any(w.startswith(dep + "-") for w in wheels), dep


def test_frontend_bundle(release):
    with tarfile.open(release["dir"] / release["manifest"]["frontend"]["file"]) as tar:
        files = sorted(m.name for m in tar.getmembers() if m.isfile())
        index = tar.extractfile("index.html").read().decode()
    assert files == ["assets/app.css", "assets/app.js", "index.html"]
    assert '<meta name="ultraai-frontend-version" content="%s">' % VERSION in index
    assert "__ULTRAAI" not in index and "UltraAI" in index


def test_rebuild_is_identical_and_a_partial_build_keeps_the_other_part(release, tmp_path):
    out = tmp_path / "dist"
    shutil.copytree(release["dir"], out)
    res = build("--version", VERSION, "--output", str(out), "--frontend-only")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(out / ("ultraai-frontend-%s.tar.gz" % VERSION)),
                                  str(out / ("ultraai-%s.manifest.json" % VERSION))]
    assert json.loads((out / ("ultraai-%s.manifest.json" % VERSION)).read_text()) == release["manifest"]


def test_installs_offline_and_runs_without_a_database(host_venv):
    bin_dir = host_venv / "bin"
    env = clean_env()
    res = subprocess.run([str(bin_dir / "python"), "-m", "pip", "check"], capture_output=True, text=True, env=env,
                         check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([str(bin_dir / "python"), "-c", "import ultraai.main as m; print(m.VERSION, m.VARIANT)"],
                         capture_output=True, text=True, env=env, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [VERSION, "good"]
    assert (bin_dir / "gunicorn").exists()

    res = subprocess.run([str(bin_dir / "ultraai-migrate"), "--help"], capture_output=True, text=True, env=env,
                         check=False)
    assert res.returncode == 0 and "advisory" not in res.stderr and "usage: ultraai-migrate" in res.stdout
    res = subprocess.run([str(bin_dir / "ultraai-migrate"), "--list"], capture_output=True, text=True, env=env,
                         check=False)
    assert res.returncode == 0 and res.stdout.startswith("1 "), res.stdout + res.stderr
    res = subprocess.run([str(bin_dir / "ultraai-migrate")], capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 2 and "ULTRAAI_DATABASE_URL" in res.stderr
    res = subprocess.run([str(bin_dir / "ultraai-migrate")], capture_output=True, text=True, timeout=60, check=False,
                         env=clean_env(ULTRAAI_DATABASE_URL="postgresql://ultraai:%s@127.0.0.1:%d/x" % (LEAK, closed_port())))
    assert res.returncode == 1 and "migration failed" in res.stderr, res.stderr
    assert LEAK not in res.stderr and res.stdout == ""


def closed_port():
    """A local TCP port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def test_service_reports_unreachable_backends(host_venv, tmp_path):
    """The hosts' command line (gunicorn, uvicorn workers, multiprocess metrics) with no PostgreSQL or Redis."""
    port = closed_port()
    prom = tmp_path / "prom"
    prom.mkdir()
    env = clean_env(
        ULTRAAI_DATABASE_URL="postgresql://ultraai:%s@127.0.0.1:%d/ultraai?sslmode=disable" % (LEAK, closed_port()),
        ULTRAAI_REDIS_URL="redis://:%s@127.0.0.1:%d/0" % (LEAK, closed_port()),
        ULTRAAI_JWT_SECRET=LEAK * 3, ULTRAAI_OPENAI_API_KEY=LEAK, ULTRAAI_UPLOAD_DIR=str(tmp_path / "uploads"),
        PROMETHEUS_MULTIPROC_DIR=str(prom))
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [str(host_venv / "bin" / "gunicorn"), "-k", "uvicorn.workers.UvicornWorker", "-w", "2",
             "-c", "python:ultraai.gunicorn_conf", "--no-control-socket", "-b", "127.0.0.1:%d" % port,
             "ultraai.main:app"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    base = "http://127.0.0.1:%d" % port
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                status = get(base + "/api/version", timeout=2)[0]
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer:\n" + log_path.read_text()
                time.sleep(0.2)
        assert status == 200

        started = time.monotonic()
        status, headers, body = get(base + "/health")
        assert time.monotonic() - started < 5
        assert status == 503, body
        health = json.loads(body)
        assert health["status"] == "fail" and health["version"] == VERSION
        assert set(health["checks"]) == {"database", "cache"}
        assert health["checks"]["database"] != "ok" and health["checks"]["cache"] != "ok"
        assert LEAK not in body
        assert headers["X-Served-By"] == socket.gethostname() == health["host"]
        assert headers["X-Release"] == VERSION

        status, headers, body = get(base + "/api/version")
        assert status == 200 and json.loads(body)["version"] == VERSION and headers["X-Served-By"]

        status, headers, body = get(base + "/metrics")
        assert status == 200 and headers["X-Served-By"]
        assert 'ultraai_http_requests_total{endpoint="/health",method="GET",status="503"} 1.0' in body
        assert 'ultraai_http_errors_total{endpoint="/health"} 1.0' in body
        assert 'ultraai_build_info{variant="good",version="%s"} 1.0' % VERSION in body
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert LEAK not in log_path.read_text()


def test_variant_build_records_the_variant(release, host_venv, tmp_path):
    res = build("--version", "7.8.10-build.5", "--variant", "crash", "--backend-only", "--output", str(tmp_path))
    assert res.returncode == 0, res.stderr
    manifest = json.loads((tmp_path / "ultraai-7.8.10-build.5.manifest.json").read_text())
    assert manifest["variant"] == "crash" and manifest["version"] == "7.8.10-build.5"
    assert manifest["wheel_version"] == "7.8.10+build.5" and manifest["frontend"] is None
    assert manifest["wheels"] != release["manifest"]["wheels"]
    with tarfile.open(tmp_path / "ultraai-7.8.10-build.5.tar.gz") as tar:
        extract(tar, tmp_path, ["wheels/" + manifest["app_wheel"]])
    app_wheel = tmp_path / "wheels" / manifest["app_wheel"]
    with zipfile.ZipFile(app_wheel) as whl:
        assert "VARIANT = 'crash'" in whl.read("ultraai/_variant.py").decode()
    # The wheel's code, first on sys.path, over the good release's dependencies: it refuses to start.
    res = subprocess.run([str(host_venv / "bin" / "python"), "-c", "import ultraai.main"], capture_output=True,
                         text=True, env=clean_env(PYTHONPATH=str(app_wheel)), timeout=60, check=False)
    assert res.returncode != 0 and "'crash' variant" in res.stderr, res.stderr


@pytest.mark.parametrize("args", [
    ["--version", "1.2"],
    ["--version", "v1.2.3"],
    ["--version", "1.2.3-"],
    ["--version", "1.2.3 "],
    ["--version", "1.2.3-rc..1"],
    ["--version", "1.2.3", "--variant", "broken"],
])
def test_refuses_bad_version_or_variant(args, tmp_path):
    out = tmp_path / "dist"
    res = build(*args, "--output", str(out))
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("build_release.py: error: ")
    assert not out.exists()
