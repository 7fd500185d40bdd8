"""Read awx/controller.yml the way the controller would use it.

Shared by tests/integration/test_awx_static.py (static checks) and
molecule/stack/tests/test_awx_jobs.py (every job template run through
ansible-runner, the engine AWX runs jobs with). Standard library, PyYAML and
python-dateutil only (all in the project venv and in the EE).
"""

import datetime
import glob
import os
import re

import yaml
from dateutil import rrule as dateutil_rrule

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DATA = os.path.join(ROOT, "awx", "controller.yml")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ROLE_REF = re.compile(r"ultraai\.platform\.([a-z_]+)")


def load(path=DATA):
    """The data file as plain YAML (Jinja strings stay as written)."""
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def survey_defaults(template):
    """The extra vars a launch with every survey question at its default gives
    (AWX leaves out a question that is not required and has no default)."""
    answers = {}
    for question in template.get("survey") or []:
        if "default" in question:
            value = question["default"]
            if question.get("type") == "multiselect":
                # AWX keeps a multiselect default as lines and passes a list.
                value = [line for line in str(value).split("\n") if line]
            answers[question["variable"]] = value
    return answers


def _load_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _names(text):
    return set(NAME.findall(str(text)))


def _roles_of(text, root):
    return {name for name in ROLE_REF.findall(text) if os.path.isdir(os.path.join(root, "roles", name))}


def _role_options(role, root):
    specs = _load_yaml(os.path.join(root, "roles", role, "meta", "argument_specs.yml"))["argument_specs"]
    return {name for entry in specs.values() for name in (entry.get("options") or {})}


def _is_input_play(play):
    tags = play.get("tags") or []
    return "always" in (tags if isinstance(tags, list) else [tags])


def _wired(group_vars_dir, role_vars):
    """Variables the inventory's group_vars feed into role variables
    (app_version: "{{ ultraai_version }}" makes ultraai_version an input)."""
    read = set()
    for path in glob.glob(os.path.join(group_vars_dir, "**", "*.yml"), recursive=True):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if text.startswith("$ANSIBLE_VAULT"):
            continue
        for key, value in (yaml.safe_load(text) or {}).items():
            if key in role_vars:
                for expr in re.findall(r"{{(.*?)}}", str(value)):
                    read |= _names(expr)
    return read


def playbook_reads(playbook, root=ROOT, group_vars_dir=None):
    """The variables a playbook reads as input, from four places:
    the argument specs of every ultraai.platform role it uses; the asserts and
    validate_argument_spec tasks of its input-check plays (its first play, and
    plays tagged always); the settings files it loads
    with vars_files (which -e overrides); and, with group_vars_dir, inventory
    variables the inventory wires into those roles' variables."""
    path = os.path.join(root, playbook)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    plays = yaml.safe_load(text) or []
    role_vars = set()
    for role in _roles_of(text, root):
        role_vars |= _role_options(role, root)
    read = set(role_vars)
    for index, play in enumerate(plays):
        for vars_file in play.get("vars_files") or []:
            candidate = os.path.join(os.path.dirname(path), vars_file)
            if "{{" not in vars_file and os.path.exists(candidate):
                read |= set(_load_yaml(candidate) or {})
        if index > 0 and not _is_input_play(play):
            continue
        for task in play.get("tasks") or []:
            if "ansible.builtin.assert" in task:
                read |= _names(task["ansible.builtin.assert"].get("that"))
            if "ansible.builtin.validate_argument_spec" in task:
                read |= set(task["ansible.builtin.validate_argument_spec"].get("argument_spec") or {})
    if group_vars_dir:
        read |= _wired(group_vars_dir, role_vars)
    return read


def reads_other_hosts(playbook, root=ROOT):
    """Whether the playbook (or a role it uses) looks at groups or other hosts'
    variables: such a playbook breaks when AWX slices the inventory."""
    path = os.path.join(root, playbook)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    sources = [text]
    for role in _roles_of(text, root):
        for task_file in glob.glob(os.path.join(root, "roles", role, "tasks", "*.yml")):
            with open(task_file, encoding="utf-8") as handle:
                sources.append(handle.read())
    return any(re.search(r"\bgroups\[|\bhostvars\b|\bansible_play_hosts|\bdelegate_to\b", s) for s in sources)


def parse_rrule(rule, now=None):
    """The next occurrence of an AWX schedule rule ("DTSTART:... RRULE:..."),
    or ValueError with the reason. AWX wants exactly one DTSTART (UTC here) and
    one RRULE, separated by a space."""
    parts = rule.split()
    if len(parts) != 2 or not parts[0].startswith("DTSTART:") or not parts[1].startswith("RRULE:"):
        raise ValueError("expected 'DTSTART:YYYYMMDDTHHMMSSZ RRULE:...', got %r" % rule)
    if not parts[0].endswith("Z"):
        raise ValueError("DTSTART must be in UTC (end with Z): %r" % parts[0])
    try:
        parsed = dateutil_rrule.rrulestr("\n".join(parts), forceset=True)
    except (ValueError, TypeError) as exc:
        raise ValueError("%s: %s" % (rule, exc)) from exc
    now = now or datetime.datetime.now(datetime.timezone.utc)
    following = parsed.after(now)
    if following is None:
        raise ValueError("%s never runs after %s" % (rule, now.isoformat()))
    return following


def runner_job(template, inventory, check=False, extra_vars=None):
    """The arguments of ansible_runner.run that a launch of the template with
    its survey defaults implies: playbook, inventory, limit, extra vars and job
    type (check mode as AWX's job_type: check)."""
    extravars = dict(template.get("extra_vars") or {})
    extravars.update(survey_defaults(template))
    extravars.update(extra_vars or {})
    job = {
        "project_dir": ROOT,
        "playbook": template["playbook"],
        "inventory": inventory,
        "extravars": extravars,
    }
    if template.get("limit"):
        job["limit"] = template["limit"]
    if check or template.get("job_type") == "check":
        job["cmdline"] = "--check"
    return job
