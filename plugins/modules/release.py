#!/usr/bin/python
# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
---
module: release
short_description: Versioned release directories with an atomic C(current) switch
version_added: 0.1.0
description:
  - Manages C(<path>/releases/<version>) directories and the C(<path>/current)
    symlink that points at the live one, the layout the C(app) and C(frontend)
    roles and the deploy and rollback playbooks share.
  - An archive is unpacked into a temporary directory and renamed into place, so a
    release directory is never half there, even when a run is interrupted.
  - The C(current) symlink is replaced with a rename, so readers see the old or the
    new release and never a missing link. The activation order is recorded in
    C(<path>/.release-history.json), which is how C(previous) is known.
  - Older releases beyond C(keep) are pruned; the live one never is.
author: UltraAI platform team (@ultraai)
options:
  path:
    description: Base directory (holds C(releases/), C(current) and the history file).
    type: path
    required: true
  version:
    description:
      - Release version, C(MAJOR.MINOR.PATCH) with an optional suffix.
      - Required unless I(state=query).
    type: str
  state:
    description:
      - C(present) makes sure the release directory exists, unpacking I(src) if it does not.
      - C(current) does the same, then points C(current) at it and prunes.
      - C(absent) removes the release; it refuses to remove the live one.
      - C(query) changes nothing and reports the current, previous and present releases.
    type: str
    choices: [present, current, absent, query]
    default: present
  src:
    description:
      - A tar archive (optionally compressed) on the managed host to unpack into the
        release. It may hold only files and directories; members with absolute paths
        or C(..) components, links (symbolic or hard) and special files are refused
        (links that each point inside the release can still chain to a path outside).
      - Modes are forced to 0755 (directories and executables) or 0644, without set-id bits.
      - Without it, the release directory must already exist (or is created empty
        with I(state=present)).
    type: path
  subdir:
    description: Directory inside the release to unpack I(src) into.
    type: str
    default: ""
  require:
    description:
      - Paths, relative to the release directory, that must exist before C(current)
        may point at it (for example a marker written when a virtualenv was built).
    type: list
    elements: str
    default: []
  keep:
    description: How many releases to keep after a switch (the live one included).
    type: int
    default: 5
  owner:
    description: Owner of the unpacked files.
    type: str
  group:
    description: Group of the unpacked files.
    type: str
attributes:
  check_mode:
    support: full
    description: Reports what it would change without touching the host.
  diff_mode:
    support: full
    description: Shows the live release and the list of releases before and after.
"""

EXAMPLES = r"""
- name: Unpack the front-end bundle of 1.4.2 (does not go live yet)
  ultraai.platform.release:
    path: /opt/ultraai-frontend
    version: "1.4.2"
    src: /opt/ultraai-frontend/artifacts/ultraai-frontend-1.4.2.tar.gz

- name: Make 1.4.2 live once its virtualenv is complete, keep 3 releases
  ultraai.platform.release:
    path: /opt/ultraai
    version: "1.4.2"
    state: current
    require: [venv/.complete]
    keep: 3

- name: Which release is live, and which came before it?
  ultraai.platform.release:
    path: /opt/ultraai
    state: query
  register: app_releases

- name: Roll back to the previous release
  ultraai.platform.release:
    path: /opt/ultraai
    version: "{{ app_releases.previous }}"
    state: current
"""

RETURN = r"""
current:
  description: The live release after the task (null when none is).
  returned: always
  type: str
  sample: "1.4.2"
previous:
  description:
    - The release that was live before the current one (what a rollback goes back to),
      or null.
  returned: always
  type: str
  sample: "1.4.1"
switched:
  description: Whether C(current) was re-pointed by this task.
  returned: always
  type: bool
releases:
  description: Releases present after the task, sorted.
  returned: always
  type: list
  elements: str
pruned:
  description: Releases removed by pruning.
  returned: always
  type: list
  elements: str
release_path:
  description: Directory of the release named by I(version).
  returned: when version is given
  type: str
  sample: /opt/ultraai/releases/1.4.2
"""

import copy
import grp
import json
import os
import pwd
import shutil
import tarfile
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ultraai.platform.plugins.module_utils.releases import (
    HISTORY_FILE,
    ReleaseError,
    check_version,
    previous_version,
    read_history,
    record_activation,
    releases_to_prune,
)


def list_releases(releases_dir):
    if not os.path.isdir(releases_dir):
        return []
    return sorted(n for n in os.listdir(releases_dir)
                  if not n.startswith(".") and os.path.isdir(os.path.join(releases_dir, n)))


def current_target(path):
    link = os.path.join(path, "current")
    if not os.path.lexists(link):
        return None
    if not os.path.islink(link):
        raise ReleaseError("%s exists and is not a symlink; move it away before using releases" % link)
    return os.path.basename(os.path.normpath(os.readlink(link)))


def safe_members(archive, dest):
    """The archive's members, checked and with forced modes and owner. Only files
    and directories are accepted: links are refused outright, because links that
    each point inside the release can still, once extracted, chain to a path
    outside it (t -> ., q -> t, p -> q/.. and then a file p/x)."""
    dest = os.path.realpath(dest)
    for member in archive.getmembers():
        name = member.name
        target = os.path.realpath(os.path.join(dest, name))
        if os.path.isabs(name) or ".." in name.split("/") or not (target == dest or target.startswith(dest + os.sep)):
            raise ReleaseError("archive member %r would land outside the release" % name)
        if member.issym() or member.islnk():
            raise ReleaseError("archive member %r is a link; a release archive holds only files and directories" % name)
        if not (member.isfile() or member.isdir()):
            raise ReleaseError("archive member %r is a device, fifo or other special file" % name)
        member = copy.copy(member)
        # No set-id bits and no write for group or others; the owner is the
        # unpacking user's until chown_tree() applies the module's owner and group.
        member.mode = 0o755 if member.isdir() or member.mode & 0o111 else 0o644
        member.uid, member.gid, member.uname, member.gname = os.geteuid(), os.getegid(), "", ""
        yield member


def chown_tree(root, owner, group):
    uid = pwd.getpwnam(owner).pw_uid if owner else -1
    gid = grp.getgrnam(group).gr_gid if group else -1
    if uid == -1 and gid == -1:
        return
    for dirpath, dirnames, filenames in os.walk(root):
        os.lchown(dirpath, uid, gid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


def unpack(releases_dir, version, src, subdir, owner, group):
    """Unpack src into releases/<version> through a temporary directory."""
    if not os.path.isfile(src):
        raise ReleaseError("archive %s does not exist on the host" % src)
    os.makedirs(releases_dir, exist_ok=True)
    for name in os.listdir(releases_dir):  # leftovers of an interrupted run
        if name.startswith(".tmp-%s-" % version):
            shutil.rmtree(os.path.join(releases_dir, name), ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-%s-" % version, dir=releases_dir)
    try:
        dest = os.path.join(tmp, subdir) if subdir else tmp
        os.makedirs(dest, exist_ok=True)
        try:
            with tarfile.open(src) as archive:
                members = list(safe_members(archive, dest))
                archive.extractall(dest, members=members)  # nosec: members checked above
        except tarfile.TarError as exc:
            raise ReleaseError("cannot unpack %s: %s" % (src, exc))
        os.chmod(tmp, 0o755)
        chown_tree(tmp, owner, group)
        os.rename(tmp, os.path.join(releases_dir, version))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_symlink(path, version):
    link = os.path.join(path, "current")
    tmp = os.path.join(path, ".current-%d" % os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.join("releases", version), tmp)
    os.rename(tmp, link)


def write_history(path, history):
    fname = os.path.join(path, HISTORY_FILE)
    fd, tmp = tempfile.mkstemp(prefix=".history-", dir=path)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(history[-100:], indent=1))
    os.chmod(tmp, 0o644)
    os.rename(tmp, fname)


def run(module):
    p = module.params
    path, state, version = p["path"], p["state"], p["version"]
    if state != "query":
        if not version:
            raise ReleaseError("version is required with state=%s" % state)
        check_version(version)
    if p["keep"] < 1:
        raise ReleaseError("keep must be at least 1, got %d" % p["keep"])
    for req in p["require"]:
        if os.path.isabs(req) or ".." in req.split("/"):
            raise ReleaseError("require entries are paths inside the release, got %r" % req)

    releases_dir = os.path.join(path, "releases")
    history = read_history(path)
    current = current_target(path)
    releases = list_releases(releases_dir)
    before = {"current": current, "releases": list(releases)}
    result = dict(changed=False, switched=False, pruned=[], current=current,
                  previous=previous_version(history, current) if current else None)
    if version:
        result["release_path"] = os.path.join(releases_dir, version)

    if state == "query":
        result["releases"] = releases
        return result

    if state == "absent":
        if version == current:
            raise ReleaseError("release %s is live (current); switch to another release before removing it" % version)
        if version in releases:
            result["changed"] = True
            if not module.check_mode:
                shutil.rmtree(os.path.join(releases_dir, version))
            releases.remove(version)
    else:
        if version not in releases:
            result["changed"] = True
            if not module.check_mode:
                if p["src"]:
                    unpack(releases_dir, version, p["src"], p["subdir"], p["owner"], p["group"])
                else:
                    os.makedirs(os.path.join(releases_dir, version))
            releases = sorted(releases + [version])
        if state == "current" and version != current:
            release_path = os.path.join(releases_dir, version)
            if os.path.isdir(release_path) or not module.check_mode:
                missing = [r for r in p["require"] if not os.path.exists(os.path.join(release_path, r))]
                if missing:
                    raise ReleaseError("release %s is not complete (missing %s); it was not made current"
                                       % (version, ", ".join(missing)))
            result.update(changed=True, switched=True, previous=current, current=version)
            history = record_activation(history, version)
            if not module.check_mode:
                os.makedirs(path, exist_ok=True)
                atomic_symlink(path, version)
                write_history(path, history)
        if state == "current":
            # Keep the release we go back to on a rollback, unless keep=1 says otherwise.
            protect = [result["previous"]] if result["previous"] and p["keep"] > 1 else []
            doomed = releases_to_prune(releases, history, version, p["keep"], protect=protect)
            if doomed:
                result["changed"] = True
                result["pruned"] = doomed
                if not module.check_mode:
                    for old in doomed:
                        shutil.rmtree(os.path.join(releases_dir, old))
                releases = [v for v in releases if v not in doomed]

    result["releases"] = releases
    if module._diff:
        result["diff"] = {"before": before, "after": {"current": result["current"], "releases": releases}}
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            version=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "current", "absent", "query"]),
            src=dict(type="path"),
            subdir=dict(type="str", default=""),
            require=dict(type="list", elements="str", default=[]),
            keep=dict(type="int", default=5),
            owner=dict(type="str"),
            group=dict(type="str"),
        ),
        required_if=[("state", "present", ["version"]), ("state", "current", ["version"]),
                     ("state", "absent", ["version"])],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except ReleaseError as exc:
        module.fail_json(msg=str(exc))
    except (OSError, KeyError) as exc:
        module.fail_json(msg="release %s under %s failed: %s" % (module.params["version"], module.params["path"], exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
