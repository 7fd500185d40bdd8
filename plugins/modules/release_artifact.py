#!/usr/bin/python
# Copyright: ultraai.platform developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
---
module: release_artifact
short_description: Check a release artifact against its manifest
version_added: 0.1.0
description:
  - Reads C(<name>-<version>.manifest.json) from a release directory, as written by
    the project's C(scripts/build_release.py), and checks that the artifact of one
    component (the API's wheelhouse or the front end's bundle) is present and that
    its sha256 matches the manifest.
  - Run it where the artifacts are, normally on the controller (delegated to
    localhost), before anything is copied to a host.
  - It only reads.
author: UltraAI platform team (@ultraai)
options:
  release_dir:
    description: Directory holding the manifest and the artifacts.
    type: path
    required: true
  name:
    description: Release name (the manifest's C(name)).
    type: str
    default: ultraai
  version:
    description: Release version, C(MAJOR.MINOR.PATCH) with an optional suffix.
    type: str
    required: true
  component:
    description: Which artifact of the manifest to check.
    type: str
    choices: [backend, frontend]
    required: true
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to diff.
notes:
  - The manifest also names the ASGI entry point and the migration command of the
    release; they are returned.
"""

EXAMPLES = r"""
- name: Check the API wheelhouse of release 1.4.2
  ultraai.platform.release_artifact:
    release_dir: "{{ playbook_dir }}/../dist"
    version: "1.4.2"
    component: backend
  delegate_to: localhost
  run_once: true
  register: app_artifact

- name: Check the front-end bundle of the same release
  ultraai.platform.release_artifact:
    release_dir: /srv/releases
    version: "1.4.2"
    component: frontend
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
path:
  description: Absolute path of the checked artifact.
  returned: success
  type: str
  sample: /srv/releases/ultraai-1.4.2.tar.gz
sha256:
  description: sha256 of the artifact (equal to the manifest's).
  returned: success
  type: str
size:
  description: Size of the artifact in bytes.
  returned: success
  type: int
manifest:
  description: The whole manifest.
  returned: success
  type: dict
  sample: {"name": "ultraai", "version": "1.4.2", "entry_point": "ultraai.main:app"}
manifest_path:
  description: Path of the manifest file.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ultraai.platform.plugins.module_utils.releases import (
    ReleaseError,
    load_manifest,
    verify_component,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            release_dir=dict(type="path", required=True),
            name=dict(type="str", default="ultraai"),
            version=dict(type="str", required=True),
            component=dict(type="str", required=True, choices=["backend", "frontend"]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        manifest_path, manifest = load_manifest(params["release_dir"], params["name"], params["version"])
        path, sha256, size = verify_component(params["release_dir"], manifest, params["component"])
    except ReleaseError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, path=path, sha256=sha256, size=size,
                     manifest=manifest, manifest_path=manifest_path)


if __name__ == "__main__":
    main()
