"""The AWX job templates the stack's hosts can run (molecule/_shared/awxjobs.py):
site (syntax), cost audit and cost report (against moto), and deploy and
rollback as the release workflow runs them: the deploy job (real, it finds every
host on 1.0.0), then the rollback job with the deploy's artifacts, which must
name the release that was live before the deploy. The backup scenario proves backup,
restore and the DR drill; the monitoring scenario the report. Together they
cover every template of awx/controller.yml (test_every_template_is_proved_somewhere)."""

import importlib.util
import os

import pytest
import testinfra

from awxjobs import DATA, MODE, ROOT, TEMPLATES, moto, run_template  # noqa: F401  pylint: disable=unused-import
from labtest import KEY

# Which scenario proves which template.
PROVED_IN = {
    "UltraAI site": "stack", "UltraAI deploy": "stack", "UltraAI rollback": "stack",
    "UltraAI cost audit": "stack", "UltraAI cost report": "stack",
    "UltraAI backup": "backup", "UltraAI restore": "backup", "UltraAI DR drill": "backup",
    "UltraAI monitoring report": "monitoring",
}


def test_every_template_has_a_proof_mode():
    assert sorted(MODE) == sorted(TEMPLATES)


def proved_by(scenario):
    """The templates a scenario's AWX test runs: what its run_template test is parametrized over."""
    names = []
    tests = os.path.join(ROOT, "molecule", scenario, "tests")
    for test_file in sorted(f for f in os.listdir(tests) if f.startswith("test_") and f.endswith("_awx.py")):
        spec = importlib.util.spec_from_file_location("awx_proof_%s_%s" % (scenario, test_file[:-3]),
                                                      os.path.join(tests, test_file))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        test = getattr(module, "test_job_template_runs_successfully", None)
        if test is None or "run_template" not in test.__code__.co_names:
            continue
        for mark in getattr(test, "pytestmark", []):
            if mark.name == "parametrize" and mark.args[0] == "name":
                names.extend(mark.args[1])
    return sorted(names)


def test_every_template_is_proved_somewhere():
    assert sorted(PROVED_IN) == sorted(TEMPLATES)
    for scenario in sorted(set(PROVED_IN.values()) - {"stack"}):  # stack: test_job_template_runs_successfully below
        expected = sorted(n for n, s in PROVED_IN.items() if s == scenario)
        assert proved_by(scenario) == expected, "molecule/%s does not run exactly %s" % (scenario, expected)


# Proved through the release workflow below.
WORKFLOW = ("UltraAI deploy", "UltraAI rollback")


@pytest.mark.parametrize("name", sorted(n for n, s in PROVED_IN.items() if s == "stack" and n not in WORKFLOW))
def test_job_template_runs_successfully(name, tmp_path, moto):  # pylint: disable=redefined-outer-name
    run_template(name, tmp_path, moto)


def test_release_workflow_rollback_gets_the_release_live_before_the_deploy(tmp_path, moto):
    # pylint: disable=redefined-outer-name
    """The workflow's failure branch: the rollback job runs with what the deploy
    job handed on, not with a fixed survey default."""
    flow = {n["identifier"]: n for n in DATA["awx_workflows"][0]["nodes"]}
    assert [flow[r["identifier"]]["unified_job_template"]["name"]
            for r in flow["deploy"]["related"]["failure_nodes"]] == ["UltraAI rollback"]
    (tmp_path / "deploy").mkdir()
    (tmp_path / "rollback").mkdir()
    artifacts = run_template("UltraAI deploy", tmp_path / "deploy", moto)
    assert artifacts == {"rollback_version": "1.0.0"}, artifacts
    run_template("UltraAI rollback", tmp_path / "rollback", moto, extra_vars=artifacts)
    for app in ("app1", "app2"):
        current = testinfra.get_host("ansible://%s" % app, ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"],
                                     ssh_identity_file=KEY).file("/opt/ultraai/current")
        assert current.linked_to == "/opt/ultraai/releases/1.0.0", app
