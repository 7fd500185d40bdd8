"""AWX job templates run the way AWX runs them, for the scenarios' proof tests.

Every AWX job template of awx/controller.yml runs through ansible-runner, with a
private data directory holding what the template implies (its playbook from the
project, its survey defaults as extra vars, the inventory and its limit),
against a converged scenario. AWX is not available here, so the scenario's
Molecule inventory stands in for the template's inventory (the same groups).
Templates that carry the AWS credential get what that credential and the
"UltraAI AWS endpoint" credential type inject (keys and AWS_ENDPOINT_URL),
pointed at a moto server. Templates whose MODE is "check" run as AWX's job_type
"check" (--check). Every job must end with status "successful".

Each scenario proves the templates its hosts can run: stack (site, deploy,
rollback, cost audit, cost report), backup (backup, restore, DR drill) and
monitoring (report). A template whose inventory needs (NEEDS) are missing is
skipped with the reason.
"""

import glob
import os
import sys

import ansible_runner
import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

sys.path.insert(0, os.path.join(ROOT, "awx"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import awxdata  # noqa: E402  pylint: disable=wrong-import-position,import-error
import moto_server  # noqa: E402  pylint: disable=wrong-import-position,import-error

DATA = awxdata.load()
TEMPLATES = {t["name"]: t for t in DATA["awx_job_templates"]}
AWS_CREDENTIAL = "UltraAI AWS"

# How each template is proved. "run": a real run (deploy and rollback with
# their survey defaults find every host on 1.0.0 and change nothing; the cost
# playbooks read and write only the moto account; the DR drill restores onto
# the scratch host). "check": job_type check. "syntax": the job with
# --syntax-check, for site only: the scenarios' converge.yml is site.yml, so
# converge, idempotence and the check-mode pass have already run it in full
# (a second check-mode pass took over 10 minutes on the loaded 2-core machine).
MODE = {
    "UltraAI site": "syntax",
    "UltraAI deploy": "run",
    "UltraAI rollback": "run",
    "UltraAI backup": "check",
    "UltraAI restore": "check",
    # No check mode (it refuses one): a real drill, where the inventory has a scratch host.
    "UltraAI DR drill": "run",
    "UltraAI cost audit": "run",
    "UltraAI cost report": "run",
    "UltraAI monitoring report": "run",
}

# What a template needs from its inventory beyond the stack's tiers. When the
# job inventory lacks it, the template is not applicable to the scenario's
# hosts and is skipped with the reason.
NEEDS = {
    "UltraAI backup": {"groups": ["backup"], "vars": ["backup_encryption_passphrase"]},
    "UltraAI restore": {"groups": ["backup"], "vars": ["backup_encryption_passphrase"]},
    "UltraAI DR drill": {"groups": ["backup", "dr_drill"], "vars": ["backup_encryption_passphrase"]},
    "UltraAI monitoring report": {"groups": ["monitoring"]},
    "UltraAI cost audit": {"vars": ["aws_infra_tag_policy"]},
}


def inventory_groups(path):
    """Groups with at least one host in a YAML inventory file."""
    def walk(name, node, found):
        node = node or {}
        if node.get("hosts"):
            found.add(name)
        for child, sub in (node.get("children") or {}).items():
            if walk(child, sub, found):
                found.add(name)
        return name in found
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    found = set()
    for name, node in data.items():
        walk(name, node, found)
    return found


def inventory_vars(path):
    """Top-level variable names set by the group_vars next to the inventory."""
    names = set()
    for vars_file in glob.glob(os.path.join(os.path.dirname(path), "group_vars", "**", "*.yml"), recursive=True):
        with open(vars_file, encoding="utf-8") as handle:
            text = handle.read()
        if not text.startswith("$ANSIBLE_VAULT"):
            names |= set(yaml.safe_load(text) or {})
    return names


def not_applicable(name, inventory):
    need = NEEDS.get(name, {})
    groups = [g for g in need.get("groups", []) if g not in inventory_groups(inventory)]
    variables = [v for v in need.get("vars", []) if v not in inventory_vars(inventory)]
    if groups or variables:
        return "the inventory has no %s" % ", ".join(
            ["hosts in group %s" % g for g in groups] + ["variable %s" % v for v in variables])
    return None


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
        "ANSIBLE_NOCOLOR": "1",
        # Reports the playbooks write under $PWD land in the job's directory.
        "PWD": str(workdir),
        # Where the lab inventory finds release 1.0.0 (as the scenario's own runs do).
        "ULTRAAI_RELEASE_DIR": os.path.join(ROOT, "dist"),
    }
    if AWS_CREDENTIAL in template.get("credentials", []):
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION="eu-west-1", AWS_REGION="eu-west-1", AWS_ENDPOINT_URL=moto_endpoint)
    return env


def run_template(name, tmp_path, moto_endpoint, extra_vars=None):
    """Run one template's job; fail unless its status is successful. extra_vars
    are what a workflow passes on (the artifacts of the jobs before it); they
    win over the survey defaults, as in AWX. Returns the job's artifacts: the
    set_stats data AWX would pass to the next jobs of a workflow."""
    template = TEMPLATES[name]
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    assert os.path.isfile(os.path.join(ROOT, template["playbook"])), "%s has no playbook %s" % (name, template["playbook"])
    reason = not_applicable(name, inventory)
    if reason:
        pytest.skip("%s: not applicable to this scenario (%s)" % (name, reason))
    job = awxdata.runner_job(template, inventory, check=MODE[name] == "check", extra_vars=extra_vars)
    if MODE[name] == "syntax":
        job["cmdline"] = "--syntax-check"
    result = ansible_runner.run(private_data_dir=str(tmp_path), envvars=job_env(template, tmp_path, moto_endpoint),
                                quiet=True, timeout=900, **job)
    stdout = result.stdout.read() if result.stdout else ""
    assert result.status == "successful", "%s (%s, %s): %s rc=%s\n%s" % (
        name, template["playbook"], MODE[name], result.status, result.rc, stdout[-4000:])
    stats = [e for e in result.events if e.get("event") == "playbook_on_stats"]
    return (stats[-1].get("event_data") or {}).get("artifact_data") or {} if stats else {}
