"""Static checks of the AWX data file (awx/controller.yml): every job template's
playbook exists, every survey variable is one its playbook reads, every
schedule's rrule parses, sliced templates only run per-host playbooks, and every
name the file refers to is defined. Each check is also run on a deliberately
broken copy of the data, which it must catch."""

import copy
import os
import sys

import pytest
import yaml

from conftest import ROOT, run

sys.path.insert(0, os.path.join(ROOT, "awx"))
import awxdata  # noqa: E402  pylint: disable=wrong-import-position,import-error

DATA = awxdata.load()
TEMPLATES = {t["name"]: t for t in DATA["awx_job_templates"]}
GROUP_VARS = os.path.join(ROOT, "inventories", "production", "group_vars")


def missing_playbooks(data):
    return [t["name"] for t in data["awx_job_templates"] if not os.path.isfile(os.path.join(ROOT, t["playbook"]))]


def unread_survey_variables(data):
    unread = []
    for template in data["awx_job_templates"]:
        if not template.get("survey") or not os.path.isfile(os.path.join(ROOT, template["playbook"])):
            continue
        reads = awxdata.playbook_reads(template["playbook"], group_vars_dir=GROUP_VARS)
        unread += ["%s: %s" % (template["name"], q["variable"]) for q in template["survey"] if q["variable"] not in reads]
    return unread


def bad_rrules(data):
    bad = []
    for schedule in data["awx_schedules"]:
        try:
            awxdata.parse_rrule(schedule["rrule"])
        except ValueError as exc:
            bad.append("%s: %s" % (schedule["name"], exc))
    return bad


def unsafe_slices(data):
    return [t["name"] for t in data["awx_job_templates"]
            if t.get("job_slice_count", 1) > 1 and awxdata.reads_other_hosts(t["playbook"])]


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_job_template_playbook_exists(name):
    assert not missing_playbooks({"awx_job_templates": [TEMPLATES[name]]}), \
        "job template %r runs %s, which does not exist" % (name, TEMPLATES[name]["playbook"])


def test_every_survey_variable_is_read_by_its_playbook():
    assert not unread_survey_variables(DATA)


def test_every_survey_question_is_complete():
    for template in DATA["awx_job_templates"]:
        for question in template.get("survey") or []:
            assert {"variable", "question_name", "type", "required"} <= set(question), question
            assert question["type"] in ("text", "textarea", "password", "integer", "float",
                                        "multiplechoice", "multiselect"), question
            if question["type"] in ("multiplechoice", "multiselect"):
                chosen = str(question.get("default", "")).split("\n") if question["type"] == "multiselect" else \
                    [str(question.get("default", ""))]
                assert set(c for c in chosen if c) <= set(question["choices"]), question
            if question.get("required"):
                assert "default" in question, "%s: a required question needs a default for scheduled and " \
                    "workflow launches (%s)" % (template["name"], question["variable"])


def test_every_schedule_rrule_parses():
    assert not bad_rrules(DATA)


def test_every_fleet_template_sets_its_slice_count_and_slices_only_per_host_playbooks():
    assert all("job_slice_count" in t for t in DATA["awx_job_templates"])
    assert not unsafe_slices(DATA)


def test_the_release_workflow_rolls_back_on_failure_and_reports_on_success():
    flow = {n["identifier"]: n for n in DATA["awx_workflows"][0]["nodes"]}
    related = flow["deploy"]["related"]
    assert flow["deploy"]["unified_job_template"]["name"] == "UltraAI deploy"
    assert [flow[r["identifier"]]["unified_job_template"]["name"] for r in related["failure_nodes"]] == ["UltraAI rollback"]
    assert [flow[r["identifier"]]["unified_job_template"]["name"] for r in related["success_nodes"]] == ["UltraAI monitoring report"]
    assert DATA["awx_workflows"][0]["notification_templates_error"]


def workflow_rollback_overrides(data):
    """What would keep the release workflow's failure branch from going back to
    the release live before the deploy: the deploy playbook not handing on
    rollback_version (set_stats), or a rollback survey answer that AWX would
    use instead (a default, or a required question)."""
    flow = {n["identifier"]: n for n in data["awx_workflows"][0]["nodes"]}
    templates = {t["name"]: t for t in data["awx_job_templates"]}
    deploy = templates[flow["deploy"]["unified_job_template"]["name"]]
    with open(os.path.join(ROOT, deploy["playbook"]), encoding="utf-8") as handle:
        plays = yaml.safe_load(handle)
    handed_on = [t for p in plays for t in p.get("tasks") or []
                 if "rollback_version" in ((t.get("ansible.builtin.set_stats") or {}).get("data") or {})]
    problems = [] if handed_on else ["%s hands on no rollback_version" % deploy["playbook"]]
    for ref in flow["deploy"]["related"]["failure_nodes"]:
        template = templates[flow[ref["identifier"]]["unified_job_template"]["name"]]
        for question in template.get("survey") or []:
            if question["variable"] == "rollback_version" and ("default" in question or question.get("required")):
                problems.append("%s: its survey would set rollback_version" % template["name"])
    return problems


def test_the_release_workflow_rolls_back_to_the_release_live_before_the_deploy():
    assert not workflow_rollback_overrides(DATA)
    broken = copy.deepcopy(DATA)
    question = next(q for t in broken["awx_job_templates"] if t["name"] == "UltraAI rollback" for q in t["survey"])
    question.update(required=True, default="1.0.0")
    assert workflow_rollback_overrides(broken) == ["UltraAI rollback: its survey would set rollback_version"]


def test_the_schedules_cover_backup_cost_and_report():
    targets = {s["unified_job_template"] for s in DATA["awx_schedules"]}
    assert {"UltraAI backup", "UltraAI cost audit", "UltraAI cost report", "UltraAI monitoring report"} <= targets


def test_the_schedules_cover_the_dr_drill():
    targets = {s["unified_job_template"] for s in DATA["awx_schedules"]}
    assert "UltraAI DR drill" in targets


# The checks above must catch broken data: each broken copy below must fail.

def broken(change):
    data = copy.deepcopy(DATA)
    change(data)
    return data


def test_a_survey_variable_no_playbook_reads_is_caught():
    def change(data):
        deploy = next(t for t in data["awx_job_templates"] if t["name"] == "UltraAI deploy")
        deploy["survey"].append({"variable": "deploy_batchsize", "question_name": "typo", "type": "text",
                                 "required": False})
    assert unread_survey_variables(broken(change)) == ["UltraAI deploy: deploy_batchsize"]


def test_a_missing_playbook_is_caught():
    def change(data):
        data["awx_job_templates"][0]["playbook"] = "playbooks/no_such_playbook.yml"
    # Compared with the real data, so the check stands while other playbooks are still missing.
    assert set(missing_playbooks(broken(change))) - set(missing_playbooks(DATA)) == {"UltraAI site"}


@pytest.mark.parametrize("rule", [
    "DTSTART:20260101T020000Z RRULE:FREQ=DAYLY;INTERVAL=1",       # no such frequency
    "DTSTART:20260101T020000Z RRULE:FREQ=WEEKLY;BYDAY=XX",        # no such day
    "RRULE:FREQ=DAILY",                                           # no DTSTART
    "DTSTART:20260101T020000 RRULE:FREQ=DAILY",                   # not UTC
    "DTSTART:20200101T020000Z RRULE:FREQ=DAILY;COUNT=1",          # never runs again
])
def test_a_bad_rrule_is_caught(rule):
    def change(data):
        data["awx_schedules"][0]["rrule"] = rule
    assert len(bad_rrules(broken(change))) == 1


def test_a_sliced_template_over_a_playbook_that_reads_other_hosts_is_caught():
    def change(data):
        data["awx_job_templates"][0]["job_slice_count"] = 4
    assert unsafe_slices(broken(change)) == ["UltraAI site"]


def test_awx_configure_refuses_missing_controller_settings_before_contacting_anything(ansible_env):
    # The controller address points at a closed port: only the input check may run.
    res = run(["ansible-playbook", "-i", "localhost,", "playbooks/awx_configure.yml",
               "-e", "awx_controller_host=http://127.0.0.1:9"], ansible_env)
    assert res.returncode != 0
    assert "awx_configure.yml needs awx_controller_host" in res.stdout
    assert "Configure the controller" not in res.stdout


def test_awx_configure_refuses_a_dangling_reference(ansible_env, tmp_path):
    import yaml  # pylint: disable=import-outside-toplevel
    data = broken(lambda d: d["awx_schedules"].append(
        {"name": "x", "unified_job_template": "UltraAI nightly vacuum", "rrule": "DTSTART:20260101T020000Z RRULE:FREQ=DAILY"}))
    path = tmp_path / "controller.yml"
    path.write_text(yaml.safe_dump(data))
    secrets = {"awx_controller_host": "http://127.0.0.1:9", "awx_controller_token": "t",
               "awx_project_scm_url": "https://git.example.com/p.git", "awx_ee_image": "ee:1",
               "awx_notify_webhook_url": "https://hooks.example.com/x", "awx_secret_ssh_key": "k",
               "awx_secret_vault_password": "v", "awx_secret_aws_access_key": "a", "awx_secret_aws_secret_key": "s",
               "awx_data_file": str(path)}
    vars_file = tmp_path / "vars.yml"
    vars_file.write_text(yaml.safe_dump(secrets))
    res = run(["ansible-playbook", "-i", "localhost,", "playbooks/awx_configure.yml", "-e", "@%s" % vars_file],
              ansible_env)
    assert res.returncode != 0
    assert "refers to objects it does not define: schedule target UltraAI nightly vacuum" in res.stdout
    assert "Configure the controller" not in res.stdout


def test_inputs_a_playbook_validates_count_as_read():
    # cost_audit.yml checks its input with validate_argument_spec in its first play.
    reads = awxdata.playbook_reads("playbooks/cost_audit.yml")
    assert "cost_audit_mode" in reads
    assert "cost_audit_no_such_input" not in reads
