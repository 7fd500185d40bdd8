# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release bookkeeping shared by the release and release_manifest modules.

A release directory looks like this::

    <path>/releases/<version>/...      one directory per release
    <path>/current -> releases/<v>     the live release (switched atomically)
    <path>/.release-history.json       activation order, newest last

The functions here are pure (no Ansible, no I/O beyond what their arguments
name), so the units test them directly.
"""

import hashlib
import json
import os
import re
import time

VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+([.+-][0-9A-Za-z.+-]+)?$")
HISTORY_FILE = ".release-history.json"
COMPONENTS = ("backend", "frontend")


class ReleaseError(Exception):
    """Bad input or a state the caller must not continue from."""


def check_version(version):
    if not isinstance(version, str) or not VERSION_RE.match(version):
        raise ReleaseError(
            "version %r is not a release version (expected MAJOR.MINOR.PATCH with an optional "
            "suffix, for example 1.4.2 or 1.4.2-rc1)" % (version,))
    return version


def read_history(path):
    """Return the activation history (a list of dicts, oldest first)."""
    fname = os.path.join(path, HISTORY_FILE)
    try:
        with open(fname) as f:
            data = json.load(f)
    except (IOError, OSError):
        return []
    except ValueError:
        raise ReleaseError("%s is not valid JSON; fix or remove it" % fname)
    if not isinstance(data, list):
        raise ReleaseError("%s must hold a list" % fname)
    return [e for e in data if isinstance(e, dict) and "version" in e]


def record_activation(history, version, now=None):
    """Return a new history with version activated now (appended, newest last)."""
    entry = {"version": version, "activated_at": int(now if now is not None else time.time())}
    return list(history) + [entry]


def previous_version(history, current):
    """The release that was live before `current`, or None."""
    seen_current = False
    for entry in reversed(history):
        if not seen_current:
            if entry["version"] == current:
                seen_current = True
            continue
        if entry["version"] != current:
            return entry["version"]
    return None


def releases_to_prune(releases, history, current, keep, protect=()):
    """Choose which releases to delete so that `keep` remain.

    Kept first: the current release and anything in `protect`; then the most
    recently activated ones; releases never activated count as the newest
    (they were just unpacked). Returns a sorted list of versions to delete.
    """
    if keep < 1:
        raise ReleaseError("keep must be at least 1, got %r" % (keep,))
    last_active = {}
    for idx, entry in enumerate(history):
        last_active[entry["version"]] = idx
    never = len(history) + 1
    order = sorted(releases, key=lambda v: (last_active.get(v, never), v), reverse=True)
    kept = [v for v in order if v == current or v in protect]
    for version in order:
        if len(kept) >= keep:
            break
        if version not in kept:
            kept.append(version)
    return sorted(v for v in releases if v not in kept)


def sha256_file(fname, blocksize=1 << 20):
    digest = hashlib.sha256()
    with open(fname, "rb") as f:
        for block in iter(lambda: f.read(blocksize), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(release_dir, name, version):
    """Read <release_dir>/<name>-<version>.manifest.json and check its shape."""
    check_version(version)
    fname = os.path.join(release_dir, "%s-%s.manifest.json" % (name, version))
    if not os.path.isfile(fname):
        raise ReleaseError(
            "no manifest for %s %s: %s does not exist (build the release with "
            "scripts/build_release.py --version %s)" % (name, version, fname, version))
    try:
        with open(fname) as f:
            manifest = json.load(f)
    except ValueError as exc:
        raise ReleaseError("manifest %s is not valid JSON: %s" % (fname, exc))
    if not isinstance(manifest, dict):
        raise ReleaseError("manifest %s must be a JSON object" % fname)
    for key in ("name", "version"):
        if key not in manifest:
            raise ReleaseError("manifest %s has no %r" % (fname, key))
    if manifest["name"] != name or manifest["version"] != version:
        raise ReleaseError("manifest %s describes %s %s, not %s %s"
                           % (fname, manifest["name"], manifest["version"], name, version))
    return fname, manifest


def verify_component(release_dir, manifest, component, hasher=sha256_file):
    """Check one artifact of a manifest; return (path, sha256, size)."""
    if component not in COMPONENTS:
        raise ReleaseError("unknown component %r (expected one of %s)" % (component, ", ".join(COMPONENTS)))
    entry = manifest.get(component)
    if not isinstance(entry, dict) or not entry.get("file") or not entry.get("sha256"):
        raise ReleaseError("the manifest of %s %s has no %s artifact (file and sha256)"
                           % (manifest.get("name"), manifest.get("version"), component))
    if os.path.basename(entry["file"]) != entry["file"]:
        raise ReleaseError("the manifest's %s file must be a plain file name, got %r" % (component, entry["file"]))
    fname = os.path.join(release_dir, entry["file"])
    if not os.path.isfile(fname):
        raise ReleaseError("the %s artifact %s is missing" % (component, fname))
    actual = hasher(fname)
    if actual != entry["sha256"]:
        raise ReleaseError("the %s artifact %s does not match the manifest: sha256 %s, manifest says %s"
                           % (component, fname, actual, entry["sha256"]))
    return fname, actual, os.path.getsize(fname)
