"""Build an UltraAI release on the controller: a wheelhouse, a front-end bundle and a manifest.

    .venv/bin/python scripts/build_release.py --version 1.2.3 [--variant good] [--output dist/]
                                              [--frontend-only | --backend-only]

Writes into the output directory (default dist/ in the checkout):

    ultraai-<version>.tar.gz           wheels/*.whl: the app's wheel and every dependency's wheel
                                       for CPython 3.11 on manylinux x86_64 (the hosts' Debian 12)
    ultraai-frontend-<version>.tar.gz  the static front end, files at the archive root
    ultraai-<version>.manifest.json    name, version, variant, entry point, migration command,
                                       and the size and sha256 of both archives

and prints the path of each file it wrote. Hosts install the wheelhouse with
`pip install --no-index --find-links wheels/ ultraai==<version>`: no host needs an index.

The app comes from tests/fixtures/app (an UltraAI-shaped test service) and the front end from
tests/fixtures/frontend. Dependency wheels are the pins of tests/fixtures/app/requirements.lock,
downloaded once into $ULTRAAI_CACHE/wheelhouse (default /var/cache/ultraai-platform/wheelhouse)
and reused, so a re-run needs no network. --variant builds a deliberately bad release for testing
the deploy's health gate (see tests/fixtures/app/README.md). With --frontend-only or
--backend-only the other part of an earlier build of the same version in the output directory
stays in the manifest, if its file is unchanged.

Exit status: 0 built; 1 the build failed; 2 bad arguments (version, variant).
"""

import argparse
import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

from packaging import tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
APP_DIR = os.path.join(ROOT, "tests", "fixtures", "app")
FRONTEND_DIR = os.path.join(ROOT, "tests", "fixtures", "frontend")
RUNTIME_LOCK = os.path.join(APP_DIR, "requirements.lock")
BUILD_LOCK = os.path.join(APP_DIR, "build-requirements.lock")

NAME = "ultraai"
ENTRY_POINT = "ultraai.main:app"
MIGRATE_COMMAND = "ultraai-migrate"
VARIANTS = ("good", "crash", "unhealthy", "late-unhealthy", "slow-start", "smoke-fail")
VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+([.-][0-9A-Za-z.-]+)?$")
FRONTEND_PLACEHOLDER = "__ULTRAAI_FRONTEND_VERSION__"

# The hosts: Debian 12, CPython 3.11, x86_64, glibc 2.36.
PYTHON = "3.11"
PY_VERSION = (3, 11)
ABI = "cp311"
PLATFORMS = ["manylinux_2_%d_x86_64" % minor for minor in range(36, 16, -1)] + [
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]

# Archive members get this time stamp (and the app wheel's files too), so that
# rebuilding the same sources gives the same bytes. 1980-01-01, the zip epoch.
EPOCH = 315532800


class BuildError(Exception):
    pass


def log(message):
    print("build_release: %s" % message, file=sys.stderr, flush=True)


def usage_error(message):
    print("build_release.py: error: %s" % message, file=sys.stderr)
    sys.exit(2)


def cache_root():
    return os.path.join(os.environ.get("ULTRAAI_CACHE") or "/var/cache/ultraai-platform", "wheelhouse")


# --- locks and the wheel cache ----------------------------------------------

def read_lock(path):
    """[(canonical name, Version)] from a file of name==version lines."""
    pins = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
            if not match:
                raise BuildError("%s:%d: expected name==version, got %r" % (path, number, line))
            pins.append((canonicalize_name(match.group(1)), Version(match.group(2))))
    return pins


def target_tags():
    """Wheel tags the hosts' interpreter accepts."""
    found = set(tags.cpython_tags(python_version=PY_VERSION, abis=[ABI], platforms=PLATFORMS))
    found.update(tags.compatible_tags(python_version=PY_VERSION, interpreter=ABI, platforms=PLATFORMS))
    return found


def index_wheels(directory, accepted):
    """{(name, version): path} of the wheels in `directory` the hosts can install."""
    found = {}
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".whl"):
            continue
        try:
            name, version, _build, wheel_tags = parse_wheel_filename(entry)
        except ValueError:
            continue
        if wheel_tags & accepted:
            found.setdefault((name, version), os.path.join(directory, entry))
    return found


@contextlib.contextmanager
def locked(directory):
    """An exclusive lock on the cache, so concurrent builds do not download into it at once."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, ".lock"), "w", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def pip(*args, env=None):
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0:
        output = "\n".join(line for line in (res.stdout + res.stderr).splitlines() if "is ignored" not in line)
        raise BuildError("pip %s failed:\n%s" % (args[0], output.strip()[-4000:]))
    return res


def cached_wheels(pins, directory):
    """Paths of the pinned wheels in the cache `directory`, downloading those it lacks."""
    accepted = target_tags()
    with locked(directory):
        have = index_wheels(directory, accepted)
        missing = [pin for pin in pins if pin not in have]
        if missing:
            log("downloading %d wheel(s) into %s" % (len(missing), directory))
            staging = tempfile.mkdtemp(prefix=".download-", dir=directory)
            try:
                platform_args = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
                pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", staging,
                    "--python-version", PYTHON, "--implementation", "cp", "--abi", ABI, *platform_args,
                    *["%s==%s" % (name, version) for name, version in missing])
                for entry in os.listdir(staging):
                    os.replace(os.path.join(staging, entry), os.path.join(directory, entry))
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            have = index_wheels(directory, accepted)
        absent = ["%s==%s" % pin for pin in pins if pin not in have]
        if absent:
            raise BuildError("no wheel for CPython %s manylinux x86_64: %s" % (PYTHON, ", ".join(absent)))
        return [have[pin] for pin in pins]


# --- the app wheel ----------------------------------------------------------

def build_app_wheel(release, wheel_version, variant, build_tools, workdir):
    """Build the ultraai wheel from a copy of the fixture with the version and variant written in."""
    src = os.path.join(workdir, "src")
    shutil.copytree(APP_DIR, src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist"))
    with open(os.path.join(src, "ultraai", "_version.py"), "w", encoding="utf-8") as fh:
        fh.write('"""Written by scripts/build_release.py."""\n\n__version__ = %r\nRELEASE = %r\n'
                 % (wheel_version, release))
    with open(os.path.join(src, "ultraai", "_variant.py"), "w", encoding="utf-8") as fh:
        fh.write('"""Written by scripts/build_release.py."""\n\nVARIANT = %r\n' % variant)

    tools = os.path.join(workdir, "build-tools")
    os.mkdir(tools)
    for path in build_tools:
        shutil.copy(path, tools)
    out = os.path.join(workdir, "wheel")
    # Offline and independent of the machine's pip configuration: the build backend
    # comes only from the pinned wheels in `tools`.
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, SOURCE_DATE_EPOCH=str(EPOCH))
    pip("wheel", "--quiet", "--no-deps", "--no-index", "--find-links", tools, "--wheel-dir", out, src, env=env)
    built = [entry for entry in os.listdir(out) if entry.endswith(".whl")]
    if len(built) != 1:
        raise BuildError("expected one app wheel, pip wheel made %s" % built)
    name, version = parse_wheel_filename(built[0])[:2]
    if name != NAME or version != Version(wheel_version):
        raise BuildError("app wheel %s is not %s %s" % (built[0], NAME, wheel_version))
    return os.path.join(out, built[0])


def check_resolves(wheel_dir, wheel_version, workdir):
    """The wheelhouse alone satisfies `pip install ultraai==<version>` on the hosts' platform."""
    platform_args = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull)
    pip("install", "--quiet", "--dry-run", "--ignore-installed", "--no-index", "--find-links", wheel_dir,
        "--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp", "--abi", ABI,
        *platform_args, "--target", os.path.join(workdir, "resolve-target"),
        "%s==%s" % (NAME, wheel_version), env=env)


# --- archives and output ----------------------------------------------------

def tar_gz(members):
    """A reproducible .tar.gz of [(archive name, bytes or None for a directory)]."""
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=EPOCH, compresslevel=6) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.mtime = EPOCH
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                if data is None:
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
                else:
                    info.mode = 0o644
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def write_atomic(path, data):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def describe(path):
    with open(path, "rb") as fh:
        data = fh.read()
    return {"file": os.path.basename(path), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def backend_archive(wheels):
    members = [("wheels", None)]
    for path in sorted(wheels, key=os.path.basename):
        with open(path, "rb") as fh:
            members.append(("wheels/" + os.path.basename(path), fh.read()))
    return tar_gz(members)


def frontend_archive(release):
    members = []
    for dirpath, dirnames, filenames in os.walk(FRONTEND_DIR):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = os.path.relpath(dirpath, FRONTEND_DIR)
        if rel_dir != ".":
            members.append((rel_dir.replace(os.sep, "/"), None))
        for filename in sorted(filenames):
            if filename.startswith("."):
                continue
            name = os.path.normpath(os.path.join(rel_dir, filename)).replace(os.sep, "/")
            with open(os.path.join(dirpath, filename), "rb") as fh:
                data = fh.read()
            data = data.replace(FRONTEND_PLACEHOLDER.encode(), release.encode())
            members.append((name, data))
    names = [member[0] for member in members]
    if "index.html" not in names:
        raise BuildError("%s has no index.html" % FRONTEND_DIR)
    return tar_gz(members)


def previous_manifest(path, release):
    """The manifest an earlier build of this version left in the output directory, if any."""
    try:
        with open(path, encoding="utf-8") as fh:
            old = json.load(fh)
    except (OSError, ValueError):
        return {}
    return old if isinstance(old, dict) and old.get("version") == release else {}


def still_there(entry, out_dir):
    """An earlier manifest's archive entry, if the file is still the one it describes."""
    if not isinstance(entry, dict) or not entry.get("file"):
        return None
    path = os.path.join(out_dir, entry["file"])
    return entry if os.path.isfile(path) and describe(path) == entry else None


# --- main -------------------------------------------------------------------

def wheel_version(release):
    """The PEP 440 version of the app wheel for a release name, or None.

    A PEP 440 release name is used as it is (pip normalizes it: 1.2.3-rc.1 is 1.2.3rc1).
    Any other suffix becomes a local version label: 1.2.3-build.7f3a is 1.2.3+build.7f3a.
    """
    try:
        return str(Version(release))
    except InvalidVersion:
        pass
    base, suffix = re.match(r"^([0-9]+\.[0-9]+\.[0-9]+)[.-](.*)$", release).groups()
    try:
        return str(Version("%s+%s" % (base, suffix.replace("-", "."))))
    except InvalidVersion:
        return None


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Build an UltraAI release: wheelhouse, front end, manifest.")
    parser.add_argument("--version", required=True, help="release version, e.g. 1.2.3 or 1.2.3-rc.1")
    parser.add_argument("--variant", default="good", help="good (default) or a bad release: " + ", ".join(VARIANTS[1:]))
    parser.add_argument("--output", default=os.path.join(ROOT, "dist"), help="output directory (default: dist/)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--frontend-only", action="store_true", help="build only the front-end archive")
    only.add_argument("--backend-only", action="store_true", help="build only the wheelhouse")
    args = parser.parse_args(argv)

    if not VERSION_RE.match(args.version):
        usage_error("bad version %r: expected MAJOR.MINOR.PATCH with an optional .suffix or -suffix" % args.version)
    args.wheel_version = wheel_version(args.version)
    if args.wheel_version is None:
        usage_error("bad version %r: its suffix cannot be made into a PEP 440 version" % args.version)
    if args.variant not in VARIANTS:
        usage_error("unknown variant %r: choose one of %s" % (args.variant, ", ".join(VARIANTS)))
    return args


def build(args):
    out_dir = os.path.abspath(args.output)
    os.makedirs(out_dir, exist_ok=True)
    release = args.version
    backend_path = os.path.join(out_dir, "%s-%s.tar.gz" % (NAME, release))
    frontend_path = os.path.join(out_dir, "%s-frontend-%s.tar.gz" % (NAME, release))
    manifest_path = os.path.join(out_dir, "%s-%s.manifest.json" % (NAME, release))
    old = previous_manifest(manifest_path, release)
    written = []
    manifest = {
        "name": NAME, "version": release, "variant": args.variant, "entry_point": ENTRY_POINT,
        "migrate_command": MIGRATE_COMMAND, "python": PYTHON, "wheel_version": args.wheel_version,
        "backend": None, "frontend": None, "app_wheel": None, "wheels": [],
    }

    if not args.frontend_only:
        cache = cache_root()
        with tempfile.TemporaryDirectory(prefix="ultraai-build-") as workdir:
            deps = cached_wheels(read_lock(RUNTIME_LOCK), cache)
            build_tools = cached_wheels(read_lock(BUILD_LOCK), cache)
            log("building the %s wheel %s (variant %s)" % (NAME, args.wheel_version, args.variant))
            app_wheel = build_app_wheel(release, args.wheel_version, args.variant, build_tools, workdir)
            wheel_dir = os.path.join(workdir, "wheelhouse")
            os.mkdir(wheel_dir)
            for path in deps + [app_wheel]:
                shutil.copy(path, wheel_dir)
            check_resolves(wheel_dir, args.wheel_version, workdir)
            wheels = [os.path.join(wheel_dir, entry) for entry in sorted(os.listdir(wheel_dir))]
            write_atomic(backend_path, backend_archive(wheels))
        written.append(backend_path)
        manifest["backend"] = describe(backend_path)
        manifest["app_wheel"] = os.path.basename(app_wheel)
        manifest["wheels"] = sorted(os.path.basename(path) for path in wheels)
    else:
        manifest["backend"] = still_there(old.get("backend"), out_dir)
        if manifest["backend"]:
            for key in ("variant", "app_wheel", "wheels"):
                manifest[key] = old.get(key, manifest[key])

    if not args.backend_only:
        write_atomic(frontend_path, frontend_archive(release))
        written.append(frontend_path)
        manifest["frontend"] = describe(frontend_path)
    else:
        manifest["frontend"] = still_there(old.get("frontend"), out_dir)

    write_atomic(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
    written.append(manifest_path)
    return written


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        written = build(args)
    except (BuildError, OSError) as exc:
        print("build_release.py: error: %s" % exc, file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
