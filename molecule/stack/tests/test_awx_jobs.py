"""Every AWX job template of awx/controller.yml, run the way AWX runs it: through
ansible-runner, with a private data directory holding what the template implies
(its playbook from the project, its survey defaults as extra vars, the
inventory and its limit), against the converged stack.

AWX is not available here, so the Molecule inventory of this scenario stands in
for the template's inventory (the same groups: balancers, app, database,
cache). Templates that carry the AWS credential get what that credential and
the "UltraAI AWS endpoint" credential type inject (keys and AWS_ENDPOINT_URL),
pointed at a moto server. Templates listed in CHECK run as AWX's job_type
"check" (--check): a full run would rebuild or restore the stack other tests
share. Every job must end with status "successful".
"""

import os
import sys

import ansible_runner
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "awx"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import awxdata  # noqa: E402  pylint: disable=wrong-import-position,import-error
import moto_server  # noqa: E402  pylint: disable=wrong-import-position,import-error

DATA = awxdata.load()
TEMPLATES = {t["name"]: t for t in DATA["awx_job_templates"]}
AWS_CREDENTIAL = "UltraAI AWS"

# How each template is proved. "run": a real run (deploy and rollback with
# their survey defaults find every host on 1.0.0 and change nothing; the cost
# playbooks read and write only the moto account). "check": job_type check.
MODE = {
    "UltraAI site": "check",
    "UltraAI deploy": "run",
    "UltraAI rollback": "run",
    "UltraAI backup": "check",
    "UltraAI restore": "check",
    "UltraAI DR drill": "check",
    "UltraAI cost audit": "run",
    "UltraAI cost report": "run",
    "UltraAI report": "run",
}


def test_every_template_has_a_proof_mode():
    assert sorted(MODE) == sorted(TEMPLATES)


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    proc, endpoint = moto_server.start(log=str(tmp_path_factory.mktemp("moto") / "moto.log"))
    yield endpoint
    moto_server.stop(proc)


def job_env(template, workdir, moto_endpoint):
    env = {
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".ansible", "collections"),
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_VERBOSITY": "0",
        # Reports the playbooks write under $PWD land in the job's directory.
        "PWD": str(workdir),
    }
    if AWS_CREDENTIAL in template.get("credentials", []):
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="eu-west-1", AWS_REGION="eu-west-1", AWS_ENDPOINT_URL=moto_endpoint)
    return env


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_job_template_runs_successfully(name, tmp_path, moto):
    template = TEMPLATES[name]
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    job = awxdata.runner_job(template, inventory, check=MODE[name] == "check")
    result = ansible_runner.run(private_data_dir=str(tmp_path), envvars=job_env(template, tmp_path, moto),
                                quiet=True, timeout=600, **job)
    stdout = result.stdout.read() if result.stdout else ""
    assert result.status == "successful", "%s (%s, %s): %s rc=%s\n%s" % (
        name, template["playbook"], MODE[name], result.status, result.rc, stdout[-4000:])
