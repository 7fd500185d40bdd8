"""The AWX job templates the stack's hosts can run (molecule/_shared/awxjobs.py):
site (syntax), deploy and rollback (real runs that find every host on 1.0.0),
cost audit and cost report (against moto). The backup scenario proves backup,
restore and the DR drill; the monitoring scenario the report. Together they
cover every template of awx/controller.yml (test_every_template_is_proved_somewhere)."""

import os

import pytest

from awxjobs import MODE, ROOT, TEMPLATES, moto, run_template  # noqa: F401  pylint: disable=unused-import

# Which scenario proves which template.
PROVED_IN = {
    "UltraAI site": "stack", "UltraAI deploy": "stack", "UltraAI rollback": "stack",
    "UltraAI cost audit": "stack", "UltraAI cost report": "stack",
    "UltraAI backup": "backup", "UltraAI restore": "backup", "UltraAI DR drill": "backup",
    "UltraAI report": "monitoring",
}


def test_every_template_has_a_proof_mode():
    assert sorted(MODE) == sorted(TEMPLATES)


def test_every_template_is_proved_somewhere():
    assert sorted(PROVED_IN) == sorted(TEMPLATES)
    for name, scenario in PROVED_IN.items():
        if scenario == "stack":
            continue  # run by test_job_template_runs_successfully below (this file names them all)
        tests = os.path.join(ROOT, "molecule", scenario, "tests")
        texts = []
        for test_file in sorted(f for f in os.listdir(tests) if f.endswith(".py")):
            with open(os.path.join(tests, test_file), encoding="utf-8") as fh:
                texts.append(fh.read())
        assert any("run_template" in t and name in t for t in texts), "%s is not run by molecule/%s" % (name, scenario)


@pytest.mark.parametrize("name", sorted(n for n, s in PROVED_IN.items() if s == "stack"))
def test_job_template_runs_successfully(name, tmp_path, moto):  # pylint: disable=redefined-outer-name
    run_template(name, tmp_path, moto)
