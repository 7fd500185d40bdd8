"""The collection builds, installs offline into an empty path, and documents its roles."""

import tarfile

from conftest import ROOT, run


def test_build_install_offline_and_doc(ansible_env, tmp_path):
    env = dict(ansible_env)
    env.pop("ANSIBLE_CONFIG")  # no checkout settings: as a user of the artifact
    res = run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), ROOT], env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    artifact = tmp_path / "ultraai-platform-0.1.0.tar.gz"
    assert artifact.exists()
    with tarfile.open(artifact) as tar:
        names = tar.getnames()
    assert "roles/base/meta/argument_specs.yml" in names
    assert "playbooks/site.yml" in names
    leaked = [n for n in names if n.split("/")[0] in ("molecule", "tests", "lab", "scripts", ".ci", "requirements")]
    assert not leaked, "build_ignore lets these into the artifact: %s" % leaked[:5]

    dest = tmp_path / "collections"
    dest.mkdir()
    env["ANSIBLE_COLLECTIONS_PATH"] = str(dest)
    res = run(["ansible-galaxy", "collection", "install", "--offline", "-p", str(dest), str(artifact)], env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (dest / "ansible_collections" / "ultraai" / "platform" / "MANIFEST.json").exists()

    res = run(["ansible-doc", "-t", "role", "ultraai.platform.base"], env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert str(dest) in res.stdout, "ansible-doc read the role from somewhere else"
    out = res.stdout.replace("*", "")  # ansible-doc marks names up as *bold* without a tty
    for text in ("ENTRY POINT: main", "ENTRY POINT: firewall_allow", "base_admin_users", "base_firewall_allow"):
        assert text in out
